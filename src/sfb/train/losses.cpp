#include "train/losses.hpp"

#include <torch/torch.h>

#include "attacks/common.hpp"
#include "core/device.hpp"
#include "core/error.hpp"
#include "core/rng.hpp"

namespace sfb::train {
namespace {

/// Random stream of the training adversary's start (distinct from the attacks' streams).
constexpr uint64_t kStreamTrainAdversary = 0x7472610001ULL;
constexpr double kLogFloor = 1e-12;

}  // namespace

BaseLoss parse_base_loss(const std::string& name) {
  if (name == "standard") return BaseLoss::kStandard;
  if (name == "fgsm-at") return BaseLoss::kFgsmAt;
  if (name == "pgd-at") return BaseLoss::kPgdAt;
  if (name == "mart") return BaseLoss::kMart;
  throw ConfigError("train.loss: unknown base loss '" + name +
                    "'; valid: standard, fgsm-at, pgd-at, mart");
}

bool is_adversarial(BaseLoss l) { return l != BaseLoss::kStandard; }

std::vector<std::string> loss_term_names(BaseLoss l) {
  switch (l) {
    case BaseLoss::kStandard:
      return {"ce"};
    case BaseLoss::kFgsmAt:
      return {"ce_clean", "ce_adv"};
    case BaseLoss::kPgdAt:
      return {"ce_adv"};
    case BaseLoss::kMart:
      return {"bce_adv", "kl_robust"};
  }
  return {};
}

MartTerms mart_terms(const torch::Tensor& logits_nat, const torch::Tensor& logits_adv,
                     const torch::Tensor& y) {
  const torch::Tensor yc = y.unsqueeze(1);
  const torch::Tensor p_adv = torch::softmax(logits_adv, 1);
  const torch::Tensor p_nat = torch::softmax(logits_nat, 1);
  // max_{j≠y} p_j(x'): mask the true class out with -1 (probabilities are >= 0).
  const torch::Tensor others = p_adv.scatter(1, yc, -1.0);
  const torch::Tensor p_wrong = std::get<0>(others.max(1));
  MartTerms t;
  t.bce =
      torch::nn::functional::cross_entropy(
          logits_adv, y, torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kNone)) -
      torch::log((1.0 - p_wrong).clamp_min(kLogFloor));
  const torch::Tensor kl =
      (p_nat * (torch::log(p_nat.clamp_min(kLogFloor)) - torch::log(p_adv.clamp_min(kLogFloor))))
          .sum(1);
  t.kl = kl * (1.0 - p_nat.gather(1, yc).squeeze(1));
  return t;
}

AdversaryOptions adversary_options(const TrainConfig& cfg, BaseLoss l, uint64_t seed) {
  AdversaryOptions o;
  o.eps = cfg.eps;
  o.seed = seed;
  if (l == BaseLoss::kFgsmAt) {
    o.steps = 1;
    o.step_size = cfg.fgsm_step == "eps" ? cfg.eps : cfg.step_size;
    o.random_start = cfg.fgsm_random_start;
  } else {
    o.steps = cfg.attack_steps;
    o.step_size = cfg.step_size;
    o.random_start = cfg.random_start;
  }
  return o;
}

torch::Tensor adversarial_examples(models::Classifier& model, const torch::Tensor& x,
                                   const torch::Tensor& y, const torch::Tensor& index,
                                   int64_t epoch, const AdversaryOptions& o) {
  model.train(false);
  torch::Tensor xa = x.detach();
  if (o.random_start && o.eps > 0) {
    const auto shape = x.sizes().slice(1);
    const torch::Tensor u =
        attacks::keyed_uniform(derive_seed(o.seed, {static_cast<uint64_t>(epoch)}),
                               kStreamTrainAdversary, index, 0, shape);
    xa = (x + (2.0 * to_device(u, x.device(), x.scalar_type()) - 1.0) * o.eps).clamp(0.0, 1.0);
  }
  for (int64_t s = 0; s < o.steps && o.eps > 0; ++s) {
    const attacks::LossGrad lg = attacks::loss_and_grad(model, xa, y, attacks::ce_loss);
    torch::NoGradGuard no_grad;
    xa = attacks::project(xa + o.step_size * lg.grad.sign(), x, attacks::Norm::kLinf, o.eps);
  }
  model.train(true);
  return xa.detach();
}

}  // namespace sfb::train
