#pragma once
#include <torch/types.h>

#include <cstdint>
#include <memory>
#include <string>

#include "attacks/attack.hpp"
#include "attacks/common.hpp"

// The projected-gradient engine shared by fgsm.cpp and pgd.cpp (FGSM is one PGD step of size ε
// from x without a random start). Internal to the attacks module.
namespace sfb::attacks::detail {

/// What one PGD run does; validated by the factories (positive steps/restarts, eps >= 0).
struct PgdConfig {
  Norm norm = Norm::kLinf;
  double eps = 8.0 / 255;        ///< radius of the ball around x
  double step_size = 2.0 / 255;  ///< α: linf step α·sign(g); l2 step α·g/‖g‖₂
  int64_t steps = 10;            ///< gradient steps per restart
  int64_t restarts = 1;          ///< restarts; each runs only on samples not yet fooled
  bool random_start = true;      ///< start uniformly inside the ball (keyed by kStreamPgd)
  bool cw_loss = false;          ///< maximize the CW margin instead of the cross-entropy
  uint64_t seed = 0;             ///< key of the random start
};

/// Runs PGD on a batch (see pgd.cpp for the exact rules). x: [B, C, H, W] in [0, 1] in the
/// model's dtype/device; y: [B] int64 on that device; index: [B] int64 CPU global indices.
AttackOutput run_pgd(models::Classifier& model, const torch::Tensor& x, const torch::Tensor& y,
                     const torch::Tensor& index, const PgdConfig& cfg);

/// An Attack named `name` that runs run_pgd with `cfg` (the factories of fgsm.cpp and pgd.cpp).
std::unique_ptr<Attack> make_pgd_attack(std::string name, const PgdConfig& cfg);

/// Rows of `logits` ([B, C]) with a NaN or infinite entry: [B] bool.
torch::Tensor nonfinite_rows(const torch::Tensor& logits);

/// Samples whose gradient g ([B, ...]) is exactly zero everywhere: [B] bool.
torch::Tensor zero_rows(const torch::Tensor& g);

/// g with NaN/inf entries replaced by 0, so a broken gradient moves nothing (the sample is still
/// counted in AttackOutput::nonfinite through its logits).
torch::Tensor finite_or_zero(const torch::Tensor& g);

/// Validates the options shared by the gradient attacks; ConfigError naming attack and field.
void check_common(const char* attack, const AttackOptions& o);

}  // namespace sfb::attacks::detail
