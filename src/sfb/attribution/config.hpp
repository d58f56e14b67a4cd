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
  std::string layer;               ///< Grad-CAM layer (empty = last block before "features")
  std::string ig_layer;            ///< layer-wise IG layer (empty = last block before "features")
  int64_t region = 0;              ///< r of the regional Gini (0 = default_region())
  std::string dtype = "float32";   ///< float32 | float64 model evaluation
  /// Foreground masks for the SNR: empty = the dataset's own (synthetic-shapes); "png:DIR"
  /// (`<index>.png`, or the image's relative path for imagenet-folder) or "h5:FILE" (/masks).
  std::string masks;
  /// Registers the keys attribution.* in `schema`.
  void register_keys(ConfigSchema& schema);
  /// The MethodOptions these settings give (seed of the random draws: `seed`).
  MethodOptions method_options(uint64_t seed) const;
};

/// Resolves `cfg` for images of shape {C, H, W}: fills the region size and checks every key.
/// Throws ConfigError naming the key for an unknown or repeated method, steps/samples/internal
/// batch ≤ 0, a region that does not divide H and W, an unknown baseline or dtype. Not collective.
AttributionConfig resolve_config(const AttributionConfig& cfg,
                                 const std::vector<int64_t>& image_shape);

/// The mask source of a non-empty `attribution.masks` spec; `imagenet_folder`: the dataset is an
/// imagenet-folder (PNG masks named after the images). Throws ConfigError naming the key for a
/// spec without the png:/h5: prefix or with an empty path.
data::MaskSource mask_source(const std::string& spec, bool imagenet_folder);

}  // namespace sfb::attribution
