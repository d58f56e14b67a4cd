#pragma once
#include <torch/torch.h>

#include <cstdint>

namespace sfb::attribution {

/// Gini index of each row (paper 002, Eq. 4; SPEC §5): on the sorted absolute values
/// φ_1 ≤ … ≤ φ_n, Gini = (1/n)(n + 1 − 2 Σ_i (n + 1 − i) φ_i / Σ_i φ_i). 0 = perfectly equal,
/// (n − 1)/n = all mass on one entry. A row of zeros has Gini 0 (nothing is unequal).
/// v: [N, n] float (any device), n ≥ 1 -> [N] float64 on v's device.
/// Check values: Gini([0,0,0,1,1]) = 0.6, Gini([0,0,0,1,1000]) ≈ 0.7996.
torch::Tensor gini(const torch::Tensor& v);

/// Global Gini of each map over its pixels. map: [N, H, W] (channels already reduced) -> [N]
/// float64.
torch::Tensor gini_global(const torch::Tensor& map);

/// Sums of |a| over the non-overlapping r×r regions of each map, row-major.
/// map: [N, H, W] -> [N, (H/r)·(W/r)] float64. Throws ConfigError (key attribution.region) unless
/// r > 0 divides H and W.
torch::Tensor region_sums(const torch::Tensor& map, int64_t r);

/// Regional Gini (SPEC §5): Gini of region_sums(map, r). map: [N, H, W] -> [N] float64. r = 4 for
/// 32×32 images and 16 for 224×224 in papers 002/003 (default_region()).
torch::Tensor gini_regional(const torch::Tensor& map, int64_t r);

/// The paper's region size for an image side: 16 for sides ≥ 224, else 4 (when it divides the
/// side, else 1).
int64_t default_region(int64_t side);

}  // namespace sfb::attribution
