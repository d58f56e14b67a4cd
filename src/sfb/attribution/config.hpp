#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "attribution/method.hpp"
#include "core/config.hpp"
#include "data/masks.hpp"

namespace sfb::attribution {

/// Options of the attribution stage (config section [attribution]; SPEC §5 defaults).
struct AttributionConfig {
  std::vector<std::string> methods = {"saliency", "input-x-gradient", "integrated-gradients"};
  int64_t steps = 20;              ///< integrated gradients: Riemann steps
  std::string baseline = "zeros";  ///< integrated gradients: zeros | normal
  int64_t samples = 20;            ///< SmoothGrad / GradientShap samples
  double noise_std = 0.15;         ///< SmoothGrad σ (pixel units)
  double shap_noise_std = 0.0;     ///< GradientShap input noise σ
  int64_t internal_batch = 64;     ///< rows per forward/backward inside a method
  std::string layer;               ///< Grad-CAM layer (empty = last spatial map)
  std::string ig_layer;            ///< layer-wise IG layer (empty: as `layer`)
  int64_t region = 0;              ///< r of the regional Gini (0 = default_region())
  std::string dtype = "float32";   ///< float32 | float64 model evaluation
  /// Foreground masks for the SNR: empty = the dataset's own (synthetic-shapes); "png:DIR"
  /// (`<index>.png`, or the image's relative path for imagenet-folder) or "h5:FILE" (/masks).
  std::string masks;
  // Inductive attacks (paper 002 §3.2; SPEC §5), run on the correctly classified images only.
  bool noise = true;  ///< Noise-I and Noise-II on the top-T pixels, with random-pixel controls
  /// T values (pixels whose |attribution| is among the T largest); empty = one value, the paper's
  /// ImageNet threshold 5000 of 224·224 scaled to the image (102 for 32×32).
  std::vector<int64_t> top_pixels;
  /// Occlusion colours of Algorithm 1 (black, grey, white); empty = no occlusion attack.
  std::vector<std::string> occlusion_colors = {"black", "grey", "white"};
  int64_t occlusion_count = 10;  ///< N: the top-n regions occluded, n = 1..N
  /// R: patch radius r = 1..R; 0 = the paper's setting for the image size (4 below 224 px as on
  /// CIFAR-10, 20 from 224 px as in its second ImageNet group).
  int64_t occlusion_radius = 0;
  /// Spearman rank correlation between every pair of methods' maps of the same image (paper 003).
  bool agreement = true;
  /// Attribution maps saved to the results file: the first `maps` dataset indices, or the listed
  /// `map_indices` when that list is not empty. `sfbench compare` correlates two models' saved
  /// maps (the model×model Spearman matrix per method).
  int64_t maps = 64;
  std::vector<int64_t> map_indices;
  /// Images in the PNG heat-map montage written next to the results file (<out stem>.montage.png;
  /// the first saved map indices); 0 = none; -1 = min(8, saved maps).
  int64_t montage = -1;
  /// Registers the keys attribution.* in `schema`.
  void register_keys(ConfigSchema& schema);
  /// The MethodOptions these settings give (seed of the random draws: `seed`).
  MethodOptions method_options(uint64_t seed) const;
};

/// Resolves `cfg` for `n_images` images of shape {C, H, W}: fills the region size, the top-pixel
/// counts and the occlusion radius, sorts the map indices, and checks every key. Throws
/// ConfigError naming the key for an unknown or repeated method, steps/samples/internal batch ≤
/// 0, a region that does not divide H and W, an unknown baseline, dtype or occlusion colour, a
/// top-pixel count outside [1, H·W], an occlusion count or radius < 1 (radius < 0 before
/// resolution), maps < 0, a map index outside [0, n_images) or listed twice, montage < 0 or
/// larger than the saved maps. Not collective.
AttributionConfig resolve_config(const AttributionConfig& cfg,
                                 const std::vector<int64_t>& image_shape, int64_t n_images);

/// The global dataset indices whose maps are saved (sorted): map_indices, or 0..min(maps, n)−1.
std::vector<int64_t> saved_map_indices(const AttributionConfig& cfg, int64_t n_images);

/// The mask source of a non-empty `attribution.masks` spec; `imagenet_folder`: the dataset is an
/// imagenet-folder (PNG masks named after the images). Throws ConfigError naming the key for a
/// spec without the png:/h5: prefix or with an empty path.
data::MaskSource mask_source(const std::string& spec, bool imagenet_folder);

}  // namespace sfb::attribution
