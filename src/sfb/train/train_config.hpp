#pragma once
// The [train] section of a config (SPEC §6): base loss, SF regularizer, optimizer, LR schedule,
// adversary and checkpointing. Defaults are SPEC §6's fine-tuning defaults (paper 000 App. A.1:
// λ = 1, lr 1e-5, 20 epochs, global batch 128); the recipes in configs/train-*.toml set the rest.

#include <torch/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "core/config.hpp"

namespace sfb::train {

/// Everything `sfbench train` reads from the [train] section. Plain values; validate() checks the
/// combinations the schema's per-key checks cannot.
struct TrainConfig {
  int64_t epochs = 20;  ///< epochs in total (a resumed run continues up to this many)
  /// Global minibatch over all ranks; split evenly (must be divisible by the number of ranks).
  int64_t batch_size = 128;
  std::string loss = "standard";    ///< standard | fgsm-at | pgd-at | mart
  double sf_lambda = 1.0;           ///< λ of L = L_base + λ·SF_batch (0 = no regularizer), >= 0
  std::string sf_target = "logit";  ///< logit | logprob | prob | pred-logit (SPEC §2)
  std::string sf_inputs = "clean";  ///< clean | adv: inputs whose features the SF term uses
  double fgsm_weight = 0.5;  ///< α of paper 003 Eq. 1: α·CE(x) + (1 − α)·CE(x'), in [0, 1]
  double mart_beta = 6.0;    ///< λ_m of MART (SPEC §6)
  // Adversary (linf only): x' from `attack_steps` signed-gradient steps of size `step_size` on the
  // CE loss, projected to the ε-ball and [0, 1]. fgsm-at always takes one step.
  double eps = 8.0 / 255;          ///< ε (pixel scale [0, 1])
  double step_size = 2.0 / 255;    ///< α of PGD (fgsm-at: its single step, default = eps)
  int64_t attack_steps = 10;       ///< PGD steps of pgd-at and mart
  bool random_start = true;        ///< uniform start in the ε-ball (pgd-at, mart; fgsm-at: false)
  std::string fgsm_step = "eps";   ///< fgsm-at step: "eps" (x + ε·sign g) or "step_size"
  bool fgsm_random_start = false;  ///< fgsm-at: random start (Wong et al.'s "fast" FGSM)
  // Optimizer.
  std::string optimizer = "sgd";  ///< sgd | adam
  double lr = 1e-5;               ///< initial (peak) learning rate
  double momentum = 0.9;          ///< sgd
  bool nesterov = false;          ///< sgd
  double weight_decay = 0.0;      ///< L2 coupled into the gradient (both optimizers)
  double adam_beta1 = 0.9, adam_beta2 = 0.999, adam_eps = 1e-8;
  // Learning-rate schedule, evaluated at every step.
  std::string schedule = "constant";  ///< constant | step | cosine | piecewise
  int64_t step_epochs = 30;           ///< step: multiply by gamma every step_epochs epochs
  double gamma = 0.1;                 ///< step / piecewise: decay factor
  std::vector<int64_t> milestones;    ///< piecewise: epochs at which lr is multiplied by gamma
  double lr_min = 0.0;                ///< cosine: final learning rate
  // Run control.
  std::string dtype = "float32";  ///< float32 | float64 training precision
  std::string checkpoint;         ///< checkpoint file ("" = next to --out as <out stem>.ckpt)
  bool resume = false;            ///< continue from `checkpoint` when it exists
  /// Config keys that may differ from the checkpoint's when resuming, beyond those that never
  /// change the training (train/resume_config.hpp); "*" allows every difference.
  std::vector<std::string> resume_allow;
  int64_t checkpoint_every = 1;  ///< epochs between checkpoints (the last epoch always writes)

  /// Registers the keys train.* in `schema` (strings with choices, numbers with ranges, so a bad
  /// loss/optimizer/schedule name or λ < 0 is a ConfigError naming the key).
  void register_keys(ConfigSchema& schema);
};

/// Checks what per-key validation cannot: batch_size divisible by `world_size`, milestones
/// ascending, step_size > 0 for adversarial losses. Throws ConfigError naming the key.
void validate(const TrainConfig& cfg, int world_size);

/// kFloat32 or kFloat64 from cfg.dtype.
torch::ScalarType train_dtype(const TrainConfig& cfg);

}  // namespace sfb::train
