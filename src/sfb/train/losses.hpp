#pragma once
// Base losses of SPEC §6 and the adversary that produces x' for them.
//
//  standard  CE(g(x), y)
//  fgsm-at   α·CE(g(x), y) + (1 − α)·CE(g(x'), y), x' = clip(x + ε·sign ∇x CE)   (paper 003 Eq. 1)
//  pgd-at    CE(g(x'), y), x' from PGD-k on CE with a uniform random start         (Madry 2018)
//  mart      BCE(g(x'), y) + λ_m · KL(p(x) ‖ p(x')) · (1 − p_y(x))                 (Wang 2019)
//            BCE = CE + (−log(1 − max_{j≠y} p_j(x'))); both terms differentiated through p(x)
//            and p(x') as in the MART reference code. Logs are clamped at 1e-12.
// Every loss is the mean over the rank's local batch of a per-sample term, so averaging the ranks'
// gradients gives the gradient of the mean over the global batch.

#include <torch/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "models/classifier.hpp"
#include "train/train_config.hpp"

namespace sfb::train {

/// The base loss of a run.
enum class BaseLoss { kStandard, kFgsmAt, kPgdAt, kMart };

/// Parses "standard" | "fgsm-at" | "pgd-at" | "mart"; ConfigError naming key train.loss otherwise.
BaseLoss parse_base_loss(const std::string& name);
/// True for the losses that need adversarial examples.
bool is_adversarial(BaseLoss l);

/// Names of the per-step loss terms that base loss `l` reports, in log order (e.g. mart:
/// {"bce_adv", "kl_robust"}). The trainer appends "sf" and "total".
std::vector<std::string> loss_term_names(BaseLoss l);

/// MART's two per-sample terms. logits_nat, logits_adv: [B, C]; y: [B] int64 ->
/// bce [B] = CE(z', y) − log(1 − max_{j≠y} p_j(z')) and kl [B] = KL(p(z) ‖ p(z')) · (1 − p_y(z)).
struct MartTerms {
  torch::Tensor bce;
  torch::Tensor kl;
};
MartTerms mart_terms(const torch::Tensor& logits_nat, const torch::Tensor& logits_adv,
                     const torch::Tensor& y);

/// How the trainer's adversary perturbs a batch (linf only).
struct AdversaryOptions {
  double eps = 8.0 / 255;
  double step_size = 2.0 / 255;
  int64_t steps = 10;
  bool random_start = true;
  uint64_t seed = 0;  ///< key of the random start (with epoch and global sample index)
};

/// Adversary options for base loss `l` from the config (fgsm-at: one step of ε or step_size).
AdversaryOptions adversary_options(const TrainConfig& cfg, BaseLoss l, uint64_t seed);

/// Adversarial examples for training: unlike attacks::run_pgd, every sample is perturbed
/// (misclassified ones too) and nothing stops early. x: [B, C, H, W] in [0, 1], the model's dtype
/// and device; y: [B] int64; index: [B] int64 CPU global sample indices. The random start of
/// sample i in `epoch` is drawn from CounterRng(derive_seed(seed, {stream, i, epoch})), so any
/// rank count produces the same x'. Returns x' detached. Puts the model in eval mode while
/// attacking (BatchNorm uses running statistics, as the MART and TRADES reference code does) and
/// restores train mode afterwards; leaves parameter gradients untouched. Not collective.
torch::Tensor adversarial_examples(models::Classifier& model, const torch::Tensor& x,
                                   const torch::Tensor& y, const torch::Tensor& index,
                                   int64_t epoch, const AdversaryOptions& opts);

}  // namespace sfb::train
