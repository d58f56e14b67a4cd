#pragma once
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "attacks/attack.hpp"
#include "core/config.hpp"

namespace sfb::attacks {

/// Config section [attack] of `sfbench attack` and `sfbench eval`.
struct AttackConfig {
  /// Attack specs "name[:key=value[:key=value...]]", e.g. "pgd:steps=20:loss=cw", "autoattack",
  /// "autoattack:version=fast". Keys: eps, norm, steps, restarts, step_size, loss, random_start,
  /// targets, queries, p_init, rho, binary_steps, initial_const, learning_rate, confidence,
  /// version (autoattack only).
  std::vector<std::string> list = {"fgsm", "pgd", "cw-linf"};
  std::string norm = "linf";  ///< default threat model of every attack in the list
  double eps = -1;     ///< default radius; < 0 = SPEC §3's (8/255 ≤ 64 px, 4/255 larger; l2 0.5)
  bool resume = true;  ///< continue an interrupted run from <out>.checkpoint.h5
  /// Registers the keys attack.* in `schema`.
  void register_keys(ConfigSchema& schema);
};

/// One stage: a registered attack with its options.
struct StagePlan {
  std::string attack;  ///< registry name
  AttackOptions opts;
};

/// One reported attack: /attacks/<label>. AutoAttack is a chain of stages, each run only on the
/// samples still robust after the previous ones; every other attack is one stage.
struct AttackGroup {
  std::string label;  ///< results name (the spec with ':' -> '_' and '=' -> '-')
  std::string spec;   ///< as given
  std::vector<StagePlan> stages;
  Norm norm = Norm::kLinf;
  double eps = 0;
};

/// SPEC §3's default ε for a threat model and image shape {C, H, W}.
double default_eps(Norm norm, const std::vector<int64_t>& image_shape);

/// The options SPEC §3 gives the attack `name` under `norm` and `eps` (PGD 10 steps α 2/255 or
/// ε/4; cw-linf 30 steps α 0.8/255 with the CW loss; APGD 100 iterations ρ 0.75; APGD-T/FAB-T
/// 9 targets; Square 5000 queries p_init 0.8; CW-L2 9 binary steps × up to 1000 Adam steps).
AttackOptions spec_defaults(const std::string& name, Norm norm, double eps);

/// Parses cfg.list into groups with SPEC defaults, key overrides and fixed per-stage seeds
/// derive_seed(seed, {hash of label, stage}). `num_classes` caps targets at C − 1; AutoAttack
/// drops its DLR-targeted and FAB-T stages for C < 4 (they need 4 classes; logged in the plan's
/// notes). ConfigError naming the spec and key for anything that does not parse.
std::vector<AttackGroup> plan_attacks(const AttackConfig& cfg,
                                      const std::vector<int64_t>& image_shape, int64_t num_classes,
                                      uint64_t seed, std::vector<std::string>* notes = nullptr);

/// True for attacks that use no gradients (Square).
bool is_black_box(const std::string& attack);
/// True for attacks that minimise the norm without a bound (CW-L2): a sample is robust at ε when
/// its minimal adversarial is farther than ε (robust_at), and the report adds the norms' median.
bool is_minimal_norm(const std::string& attack);

}  // namespace sfb::attacks
