// Gini index of attribution maps, global and regional (paper 002 Eq. 4, SPEC §5).
#include "attribution/gini.hpp"

#include <string>

#include "core/error.hpp"

namespace sfb::attribution {

torch::Tensor gini(const torch::Tensor& v) {
  if (v.dim() != 2 || v.size(1) < 1) {
    throw ConfigError("gini: expected [N, n] values with n >= 1");
  }
  const int64_t n = v.size(1);
  const torch::Tensor phi = std::get<0>(v.to(torch::kFloat64).abs().sort(1));
  // weights n + 1 − i for i = 1..n: n, n−1, …, 1
  const torch::Tensor w = torch::arange(n, 0, -1, phi.options());
  const torch::Tensor total = phi.sum(1);
  const torch::Tensor weighted = (phi * w).sum(1);
  const double nd = static_cast<double>(n);
  const torch::Tensor g = (nd + 1.0 - 2.0 * weighted / total) / nd;
  return torch::where(total > 0, g, torch::zeros_like(g));
}

torch::Tensor gini_global(const torch::Tensor& map) {
  if (map.dim() != 3) throw ConfigError("gini: expected [N, H, W] maps");
  return gini(map.flatten(1));
}

torch::Tensor region_sums(const torch::Tensor& map, int64_t r) {
  if (map.dim() != 3) throw ConfigError("gini: expected [N, H, W] maps");
  const int64_t h = map.size(1), w = map.size(2);
  if (r <= 0 || h % r != 0 || w % r != 0) {
    throw ConfigError("attribution.region = " + std::to_string(r) + " must be > 0 and divide the " +
                      std::to_string(h) + "x" + std::to_string(w) + " image");
  }
  return map.to(torch::kFloat64)
      .abs()
      .reshape({map.size(0), h / r, r, w / r, r})
      .sum({2, 4})
      .flatten(1);
}

torch::Tensor gini_regional(const torch::Tensor& map, int64_t r) {
  return gini(region_sums(map, r));
}

int64_t default_region(int64_t side) {
  if (side >= 224 && side % 16 == 0) return 16;
  return side % 4 == 0 ? 4 : 1;
}

}  // namespace sfb::attribution
