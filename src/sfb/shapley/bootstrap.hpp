#pragma once
#include <torch/types.h>

#include <cstdint>

namespace sfb::shapley {

/// Key that separates the bootstrap's random stream from every other use of the run seed.
inline constexpr uint64_t kBootstrapStream = 0x5346424f4f54ULL;  // "SFBOOT"

/// A Poisson(1) draw from the counter-based stream keyed by (seed, kBootstrapStream, global sample
/// index, replicate) (SPEC §2): Knuth's product-of-uniforms method on CounterRng doubles. The value
/// depends only on these keys, never on which rank holds the sample or on batch boundaries.
int64_t poisson_weight(uint64_t seed, int64_t global_index, int64_t replicate);

/// Weights of `replicates` Poisson bootstrap replicates for the samples `index` ([B] int64, CPU):
/// [replicates, B] float64 on CPU, w[b][j] = poisson_weight(seed, index[j], b).
torch::Tensor bootstrap_weights(uint64_t seed, const torch::Tensor& index, int64_t replicates);

/// The q-quantile (q in [0, 1]) of the finite values of `values` (1-D, any float dtype) with linear
/// interpolation between order statistics (NumPy's default "linear" method). NaN when there are
/// no finite values.
double percentile_of_finite(const torch::Tensor& values, double q);

}  // namespace sfb::shapley
