#pragma once
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

namespace sfb {

/// The precision of a model evaluation named by a config key's value: kFloat64 for "float64",
/// kFloat32 otherwise (the keys' choices are float32|float64, checked by ConfigSchema).
inline torch::ScalarType eval_dtype(const std::string& name) {
  return name == "float64" ? torch::kFloat64 : torch::kFloat32;
}

/// A per-row vector v [B] reshaped to [B, 1, 1, ...] with the rank of `like` ([B, ...]), so it
/// broadcasts against `like` row by row.
inline torch::Tensor per_row(const torch::Tensor& v, const torch::Tensor& like) {
  std::vector<int64_t> shape(static_cast<std::size_t>(like.dim()), 1);
  shape[0] = v.size(0);
  return v.reshape(shape);
}

/// torch::cat(parts), or an empty tensor of dtype `st` and shape `empty_shape` when there are no
/// parts (a rank whose shard is empty).
inline torch::Tensor cat_or_empty(const std::vector<torch::Tensor>& parts, torch::ScalarType st,
                                  const std::vector<int64_t>& empty_shape = {0}) {
  return parts.empty() ? torch::empty(empty_shape, st) : torch::cat(parts);
}

/// Standard error of a mean from running sums over n values, Σv = `sum` and Σv² = `sum_sq`: the
/// sample SD (n − 1 in the denominator) divided by √n; NaN for n < 2. Negative variances from
/// rounding are clamped to 0.
inline double stderr_from_sums(double sum, double sum_sq, double n) {
  if (n < 2) return std::numeric_limits<double>::quiet_NaN();
  const double var = std::max(0.0, (sum_sq - sum * sum / n) / (n - 1));
  return std::sqrt(var / n);
}

}  // namespace sfb
