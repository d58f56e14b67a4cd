#pragma once
#include <torch/torch.h>

#include <cstdint>
#include <string>
#include <vector>

#include "models/classifier.hpp"

namespace sfb::attribution {

/// The mask of the top-T pixels of each map (SPEC §5 "inductive noise"): M = map ≥ the threshold
/// that keeps the T largest values (ties at the threshold are all kept). map: [N, H, W] (pass
/// |map| to rank by magnitude) -> [N, 1, H, W] bool on map's device. Throws ConfigError (key
/// attribution.top_pixels) unless 0 < T ≤ H·W.
torch::Tensor top_pixel_mask(const torch::Tensor& map, int64_t top);

/// T pixels per image chosen uniformly without replacement from a generator keyed by (seed,
/// keys[i]): the random control at the same pixel count. keys: [N] int64 -> [N, 1, H, W] bool.
torch::Tensor random_pixel_mask(const torch::Tensor& keys, uint64_t seed, int64_t h, int64_t w,
                                int64_t top, const torch::Device& device);

/// Noise-I (paper 002 Eq. 5): clamp(x + M·σ, 0, 1); Noise-II: clamp((1 − M)·x + M·σ, 0, 1).
/// x: [N, C, H, W]; mask: [N, 1, H, W] bool; sigma: [N, C, H, W] standard normal draws.
torch::Tensor noise_one(const torch::Tensor& x, const torch::Tensor& mask,
                        const torch::Tensor& sigma);
torch::Tensor noise_two(const torch::Tensor& x, const torch::Tensor& mask,
                        const torch::Tensor& sigma);

/// The occlusion colours of Algorithm 1 and their pixel values: black 0, grey 0.5, white 1.
std::vector<std::string> occlusion_colors();
/// The value of `color`; throws ConfigError (key attribution.occlusion_colors) for another name.
double occlusion_value(const std::string& color);

/// Options of the inductive occlusion attack (paper 002 Algorithm 1).
struct OcclusionOptions {
  int64_t max_count = 10;       ///< N: the top-n regions occluded, n = 1..N
  int64_t max_radius = 4;       ///< R: patch radius r = 1..R
  int64_t region = 4;           ///< side of the attribution regions that are ranked
  double color = 0.0;           ///< patch value (occlusion_value())
  int64_t internal_batch = 64;  ///< candidate images per forward
};

/// Result of the occlusion attack per image.
struct OcclusionResult {
  // All on the device of the images attacked.
  torch::Tensor flipped;  ///< [N] bool: some (n, r) misclassified the image
  torch::Tensor count;    ///< [N] int64: n of the first misclassifying candidate (0: none)
  torch::Tensor radius;   ///< [N] int64: r of the first misclassifying candidate (0: none)
};

/// Algorithm 1: regions (o.region × o.region, ranked by their sum of |map|, ties by index) are
/// occluded in order n = 1..N (outer), r = 1..R (inner) with a square patch of Chebyshev radius
/// r (side 2r − 1) centred on each of the top-n regions' centre pixels, filled with o.color; the
/// first candidate whose prediction differs from y ends the search. All N·R candidates are
/// evaluated in chunks (same result as stopping early). x: [B, C, H, W] on the model's device;
/// y: [B] int64; map: [B, H, W] -> per-image result (CPU). Throws ConfigError for N, R, region
/// or internal batch ≤ 0, or a region that does not divide H and W.
OcclusionResult occlusion_attack(models::Classifier& model, const torch::Tensor& x,
                                 const torch::Tensor& y, const torch::Tensor& map,
                                 const OcclusionOptions& o);

/// The occlusion mask of the top-n regions with radius r for each image: order: [B, R_count]
/// int64 region indices sorted by rank; -> [B, 1, H, W] bool. `region` divides H and W.
torch::Tensor occlusion_mask(const torch::Tensor& order, int64_t n, int64_t r, int64_t region,
                             int64_t h, int64_t w);

}  // namespace sfb::attribution
