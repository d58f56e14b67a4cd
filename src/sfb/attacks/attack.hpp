#pragma once
#include <torch/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "models/classifier.hpp"

namespace sfb::attacks {

/// Threat model norm (SPEC §3).
enum class Norm { kLinf, kL2 };
/// "linf" | "l2"; ConfigError otherwise.
Norm parse_norm(const std::string& name);
std::string norm_name(Norm n);

/// Options of one attack. Every attack reads the fields it needs and ignores the rest; the
/// defaults are SPEC §3's (PGD: 10 steps, α = 2/255; APGD: 100 iterations, ρ = 0.75; Square:
/// 5000 queries, p_init = 0.8; FAB-T/APGD-T: 9 targets, capped at C − 1).
struct AttackOptions {
  Norm norm = Norm::kLinf;
  double eps = 8.0 / 255;        ///< radius of the threat model, pixel scale [0, 1]
  double step_size = 2.0 / 255;  ///< PGD step α (linf); for l2 callers pass ε/4
  int64_t steps = 10;            ///< iterations (PGD, APGD, FAB, CW optimizer steps)
  int64_t restarts = 1;          ///< random restarts
  std::string loss = "ce";       ///< PGD: ce | cw; APGD: ce | dlr
  bool random_start = true;      ///< PGD: start uniformly inside the ball
  int64_t targets = 9;           ///< APGD-T, FAB-T: target classes (capped at C − 1)
  int64_t queries = 5000;        ///< Square: queries per sample
  double p_init = 0.8;           ///< Square: initial fraction of pixels changed
  double rho = 0.75;             ///< APGD: checkpoint success fraction
  int64_t binary_steps = 9;      ///< CW-L2: binary search steps on c
  double initial_const = 1e-3;   ///< CW-L2: first c
  double learning_rate = 1e-2;   ///< CW-L2: Adam step size
  double confidence = 0.0;       ///< CW-L2: margin κ
  uint64_t seed = 0;             ///< keyed with (stream, global sample index, restart)
  /// APGD-T, FAB-T: the most (target, sample) rows one pass may put through the model, where
  /// several targets run in one batch (the caller's batch size, its memory bound); 0 or less
  /// than the rows given: the rows given.
  int64_t max_rows = 0;
};

/// One attack's result on a batch (tensors on the input's device).
struct AttackOutput {
  torch::Tensor x_adv;  ///< [B, C, H, W] in [0, 1]; inside the ε-ball of x for bounded attacks
  torch::Tensor
      robust;          ///< [B] bool: model(x_adv) still predicts y (false when x is misclassified)
  torch::Tensor norm;  ///< [B] float32: ‖x_adv − x‖ in the attack's norm (CW-L2: L2)
  torch::Tensor zero_grad;  ///< [B] bool: the loss gradient at the attack's start was exactly zero
  torch::Tensor nonfinite;  ///< [B] bool: a logit became NaN or infinite during the attack
};

/// The number of rows set in a [B] bool flag of AttackOutput (0 for an undefined tensor). Reads
/// the value, so on a device it waits: for tests and reports, not for batch loops.
int64_t count_rows(const torch::Tensor& flags);

/// An adversarial attack (HOUSE_STYLE: one file per attack, registered by name in registry.cpp).
/// Attacks are batched and run on the device of their inputs; they compute input gradients only
/// (never weight gradients). All randomness of sample i comes from streams keyed by (seed, the
/// attack's stream id, i's global index, restart), so results do not depend on how samples are
/// split into batches or ranks.
/// Host waits: every output, the flags included, stays on the device, and no attack waits for the
/// device inside its step or query loop. The first run (restart, target class) attacks the whole
/// batch, masked to the samples classified correctly when clean; each later run waits once to
/// drop the samples already fooled. Early exits that do not change results (CW-L2's abort, Square's
/// pruning of fooled samples) poll the device without waiting (HostPoll).
class Attack {
 public:
  virtual ~Attack() = default;
  /// The registry name ("pgd", "apgd-ce", ...).
  virtual std::string name() const = 0;
  /// x: [B, C, H, W] in [0, 1], the model's dtype and device; y: [B] int64 (same device);
  /// index: [B] int64 global sample indices (CPU). The model must be in eval mode.
  virtual AttackOutput run(models::Classifier& model, const torch::Tensor& x,
                           const torch::Tensor& y, const torch::Tensor& index) = 0;
};

/// Builds the attack registered as `name`; ConfigError listing attack_names() otherwise.
std::unique_ptr<Attack> make_attack(const std::string& name, const AttackOptions& opts);
/// Every registered name, in registry order.
std::vector<std::string> attack_names();

}  // namespace sfb::attacks
