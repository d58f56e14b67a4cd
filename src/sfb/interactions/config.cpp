#include "interactions/config.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "core/error.hpp"

namespace sfb::interactions {

void InteractionsConfig::register_keys(ConfigSchema& s) {
  s.add_int("interactions.grid", &grid, "G: players = G×G patches (0 = 8 up to 64 px, else 16)", 0,
            64);
  s.add("interactions.orders", &orders, "order ratios r in [0, 1]: m = floor(r (n_p - 2))");
  s.add("interactions.order_values", &order_values,
        "explicit orders m in [0, n_p - 2], or n_p - 1 with shapley (overrides orders)");
  s.add("interactions.preset", &preset, "P and K unless set: quick (16, 32) | reference (200, 100)",
        {"quick", "reference"});
  s.add("interactions.pairs", &pairs, "P: pairs per image (default: the preset's)");
  s.add("interactions.contexts", &contexts,
        "K: contexts per (pair, order) (default: the preset's)");
  s.add("interactions.pair_sampling", &pair_sampling, "how pairs are drawn",
        {"neighbour", "uniform"});
  s.add("interactions.baseline", &baseline, "value of a masked patch",
        {"channel-mean", "pixel-mean"});
  s.add("interactions.adversarial", &adversarial, "also evaluate utility-controlled PGD examples");
  s.add_float("interactions.adv_eps", &adv_eps, "linf radius of the PGD ball", 0.0, 1.0);
  s.add_float("interactions.adv_step", &adv_step, "initial PGD step (halved on overshoot)", 1e-9,
              1.0);
  s.add_int("interactions.adv_max_steps", &adv_max_steps, "PGD steps per sample at most", 1,
            100000);
  s.add_float("interactions.adv_utility", &adv_utility, "target utility z_y(x) - z_y(x_adv)", 1e-6,
              1e6);
  s.add_float("interactions.adv_tolerance", &adv_tolerance, "accepted |utility - target|", 1e-9,
              1e6);
  s.add("interactions.shapley", &shapley, "also sample multi-order Shapley values phi^(m)");
  s.add("interactions.exact", &exact, "enumerate all subsets (n_p <= 16) instead of sampling");
  s.add("interactions.save_per_image", &save_per_image, "write /interactions/per_image/* [n, M]");
  s.add("interactions.dtype", &dtype, "precision of the model evaluation", {"float32", "float64"});
}

ResolvedConfig resolve_config(const InteractionsConfig& cfg, const std::vector<int64_t>& shape) {
  if (shape.size() != 3) throw ConfigError("interactions: images must be {C, H, W}");
  const int64_t h = shape[1], w = shape[2];
  ResolvedConfig r;
  r.cfg = cfg;
  auto& c = r.cfg;
  if (c.grid == 0) c.grid = std::max(h, w) <= 64 ? 8 : 16;
  if (c.grid < 1 || c.grid > std::min(h, w)) {
    throw ConfigError(fmt::format(
        "interactions.grid = {}: a {}×{} grid of patches does not fit the {}×{} image (1 <= G <= "
        "{})",
        c.grid, c.grid, c.grid, h, w, std::min(h, w)));
  }
  r.num_players = c.grid * c.grid;
  const int64_t n = r.num_players;
  if (n < 2) throw ConfigError("interactions.grid = 1: interactions need at least 2 players");
  const bool quick = c.preset == "quick";
  if (c.preset != "quick" && c.preset != "reference") {
    throw ConfigError("interactions.preset = '" + c.preset + "' is not one of quick|reference");
  }
  if (c.pairs == kFromPreset) c.pairs = quick ? 16 : 200;
  if (c.contexts == kFromPreset) c.contexts = quick ? 32 : 100;
  if (c.pairs <= 0)
    throw ConfigError(fmt::format("interactions.pairs = {}: P must be >= 1", c.pairs));
  if (c.contexts <= 0) {
    throw ConfigError(fmt::format("interactions.contexts = {}: K must be >= 1", c.contexts));
  }
  std::vector<int64_t> m;
  if (!c.order_values.empty()) {
    for (const int64_t v : c.order_values) {
      if (v == n - 1 && !c.shapley) {
        throw ConfigError(fmt::format(
            "interactions.order_values: order {} = n_p - 1 has no pair interactions, only the "
            "Shapley value phi^(n_p - 1); order n_p - 1 needs interactions.shapley = true",
            v));
      }
      if (v < 0 || v > n - 1) {
        throw ConfigError(fmt::format(
            "interactions.order_values: order {} is outside [0, n_p - 2] = [0, {}] ([0, n_p - 1] "
            "with interactions.shapley; {} players)",
            v, n - 2, n));
      }
      m.push_back(v);
    }
  } else {
    for (const double ratio : c.orders) {
      if (!(ratio >= 0.0 && ratio <= 1.0)) {
        throw ConfigError(fmt::format(
            "interactions.orders: ratio {} gives an order outside [0, n_p - 2] = [0, {}]; ratios "
            "must lie in [0, 1]",
            ratio, n - 2));
      }
      m.push_back(static_cast<int64_t>(std::floor(ratio * static_cast<double>(n - 2) + 1e-9)));
    }
  }
  if (m.empty()) throw ConfigError("interactions.orders: the list of orders is empty");
  std::sort(m.begin(), m.end());
  m.erase(std::unique(m.begin(), m.end()), m.end());
  r.orders = m;
  if (c.exact && n > kMaxExactPlayers) {
    throw ConfigError(fmt::format(
        "interactions.exact = true needs n_p <= {} players (2^n_p subsets); grid {} has {}",
        kMaxExactPlayers, c.grid, n));
  }
  if (c.pair_sampling != "neighbour" && c.pair_sampling != "uniform") {
    throw ConfigError("interactions.pair_sampling = '" + c.pair_sampling +
                      "' is not one of neighbour|uniform");
  }
  if (c.baseline != "channel-mean" && c.baseline != "pixel-mean") {
    throw ConfigError("interactions.baseline = '" + c.baseline +
                      "' is not one of channel-mean|pixel-mean");
  }
  return r;
}

}  // namespace sfb::interactions
