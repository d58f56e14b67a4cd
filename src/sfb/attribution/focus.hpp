#pragma once
#include <torch/torch.h>

#include <cstdint>

namespace sfb::attribution {

/// Number of prediction-confidence groups (paper 003 Fig. 4): low p < 0.5, intermediate
/// 0.5 ≤ p < 0.9, high p ≥ 0.9, where p is the softmax probability of the predicted class.
constexpr int64_t kNumGroups = 3;

/// The confidence group of each image: p: [N] float (any device) -> [N] int64 in {0, 1, 2}.
torch::Tensor confidence_group(const torch::Tensor& p);

/// Foreground signal-to-noise ratio (SPEC §5): SNR_dB = 10·log10(mean |A| on the foreground /
/// mean |A| on the background). map: [N, H, W] (channels reduced); mask: [N, H, W] or
/// [N, 1, H, W], nonzero = foreground -> [N] float64 on map's device (+inf for a background of
/// zeros, −inf for a foreground of zeros, NaN for an all-zero map). Throws DataError naming the
/// mask size (and, for an empty foreground or background, the row) when the masks do not fit.
torch::Tensor snr_db(const torch::Tensor& map, const torch::Tensor& mask);

}  // namespace sfb::attribution
