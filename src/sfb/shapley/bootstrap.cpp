#include "shapley/bootstrap.hpp"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "core/counter_rng.hpp"
#include "core/error.hpp"
#include "core/rng.hpp"

namespace sfb::shapley {

int64_t poisson_weight(uint64_t seed, int64_t global_index, int64_t replicate) {
  CounterRng rng(derive_seed(seed, {kBootstrapStream, static_cast<uint64_t>(global_index),
                                    static_cast<uint64_t>(replicate)}));
  // Knuth: the number of uniforms whose running product stays above e^-1. Mean draws: 2.
  const double limit = std::exp(-1.0);
  int64_t k = 0;
  double p = rng.uniform();
  while (p > limit) {
    ++k;
    p *= rng.uniform();
  }
  return k;
}

torch::Tensor bootstrap_weights(uint64_t seed, const torch::Tensor& index, int64_t replicates) {
  SFB_ASSERT(index.dim() == 1 && index.scalar_type() == torch::kInt64 && index.is_cpu(),
             "bootstrap_weights: index must be a 1-D int64 CPU tensor");
  const int64_t n = index.size(0);
  torch::Tensor w = torch::empty({replicates, n}, torch::kFloat64);
  auto wa = w.accessor<double, 2>();
  auto ia = index.accessor<int64_t, 1>();
  for (int64_t b = 0; b < replicates; ++b) {
    for (int64_t j = 0; j < n; ++j) wa[b][j] = static_cast<double>(poisson_weight(seed, ia[j], b));
  }
  return w;
}

double percentile_of_finite(const torch::Tensor& values, double q) {
  SFB_ASSERT(q >= 0.0 && q <= 1.0, "quantile: q must be in [0, 1]");
  const torch::Tensor v = values.to(torch::kCPU, torch::kFloat64).contiguous();
  std::vector<double> x;
  const double* p = v.data_ptr<double>();
  for (int64_t i = 0; i < v.numel(); ++i) {
    if (std::isfinite(p[i])) x.push_back(p[i]);
  }
  if (x.empty()) return std::numeric_limits<double>::quiet_NaN();
  std::sort(x.begin(), x.end());
  const double pos = q * static_cast<double>(x.size() - 1);
  const auto lo = static_cast<std::size_t>(std::floor(pos));
  const std::size_t hi = std::min(lo + 1, x.size() - 1);
  return x[lo] + (pos - static_cast<double>(lo)) * (x[hi] - x[lo]);
}

}  // namespace sfb::shapley
