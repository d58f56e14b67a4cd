#pragma once
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "core/config.hpp"

namespace sfb::interactions {

/// `pairs` / `contexts` value meaning "take it from the preset".
constexpr int64_t kFromPreset = std::numeric_limits<int64_t>::min();
/// The most players exact mode enumerates: 2^16 = 65,536 masked images per image and class set.
constexpr int64_t kMaxExactPlayers = 16;

/// Options of the interactions stage (config section [interactions]; SPEC §4 defaults).
struct InteractionsConfig {
  int64_t grid = 0;  ///< G: players are a G×G grid of patches; 0 = auto (8 for
                     ///< images ≤ 64 px, 16 above)
  std::vector<double> orders = {0.0, 0.05, 0.1,  0.2, 0.3,  0.4, 0.5, 0.6,
                                0.7, 0.8,  0.85, 0.9, 0.95, 1.0};  ///< ratios r: m = ⌊r(n_p − 2)⌋
  std::vector<int64_t> order_values;  ///< explicit orders m (used instead of `orders` if set);
                                      ///< m = n_p − 1 (φ only: I, D, J are NaN) needs shapley
  std::string preset = "reference";   ///< quick (P = 16, K = 32) | reference (P = 200, K = 100)
  int64_t pairs = kFromPreset;        ///< P: pairs (i, j) per image
  int64_t contexts = kFromPreset;     ///< K: contexts S per (pair, order)
  std::string pair_sampling = "neighbour";  ///< neighbour (i and one of its 8 neighbours) | uniform
  std::string baseline = "channel-mean";    ///< channel-mean | pixel-mean (over evaluated images)
  bool adversarial = true;                  ///< also evaluate utility-controlled PGD examples
  double adv_eps = 32.0 / 255;              ///< linf radius of the PGD ball
  double adv_step = 2.0 / 255;              ///< initial step α (halved per sample on overshoot)
  int64_t adv_max_steps = 100;              ///< step budget per sample
  double adv_utility = 8.0;                 ///< target attacking utility z_y(x) − z_y(x')
  double adv_tolerance = 0.5;               ///< stop once |utility − target| ≤ tolerance
  bool shapley = false;                     ///< also sample multi-order Shapley values φ^(m)
  bool exact = false;           ///< enumerate all 2^n_p subsets (n_p ≤ kMaxExactPlayers) instead
  bool save_per_image = false;  ///< write /interactions/per_image/* [n, M]
  std::string dtype = "float32";  ///< float32 | float64 model evaluation
  /// Registers the keys interactions.* in `schema`.
  void register_keys(ConfigSchema& schema);
};

/// The configuration with the preset, the grid and the orders resolved for one image shape.
struct ResolvedConfig {
  InteractionsConfig cfg;       ///< pairs/contexts/grid filled in
  int64_t num_players = 0;      ///< n_p = G²
  std::vector<int64_t> orders;  ///< distinct orders m, ascending: in [0, n_p − 2], or n_p − 1
                                ///< with cfg.shapley (φ^(n_p−1) only)
};

/// Resolves `cfg` for images of shape {C, H, W}. Throws ConfigError naming the key for a grid
/// outside [2, min(H, W)] (a G that does not divide a side gives patches of ⌊L/G⌋ and ⌈L/G⌉
/// pixels), an order outside [0, n_p − 2] ([0, n_p − 1] with shapley; a ratio outside [0, 1]),
/// P or K ≤ 0, exact mode with n_p > kMaxExactPlayers, an unknown preset/sampling/baseline, and
/// PGD parameters out of range. Not collective.
ResolvedConfig resolve_config(const InteractionsConfig& cfg,
                              const std::vector<int64_t>& image_shape);

}  // namespace sfb::interactions
