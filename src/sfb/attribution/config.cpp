#include "attribution/config.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "attribution/gini.hpp"
#include "attribution/inductive.hpp"
#include "core/error.hpp"

namespace sfb::attribution {

void AttributionConfig::register_keys(ConfigSchema& s) {
  s.add("attribution.methods", &methods, "attribution methods (saliency, input-x-gradient, ...)");
  s.add("attribution.steps", &steps, "integrated gradients: Riemann steps (> 0)");
  s.add("attribution.baseline", &baseline, "integrated gradients baseline", {"zeros", "normal"});
  s.add("attribution.samples", &samples, "SmoothGrad / GradientShap samples per image (> 0)");
  s.add_float("attribution.noise_std", &noise_std, "SmoothGrad noise sigma (pixels)", 0.0, 10.0);
  s.add_float("attribution.shap_noise_std", &shap_noise_std, "GradientShap input noise sigma", 0.0,
              10.0);
  s.add("attribution.internal_batch", &internal_batch, "rows per forward/backward in a method");
  s.add("attribution.layer", &layer,
        "Grad-CAM layer (empty = the last spatial feature map before features)");
  s.add("attribution.ig_layer", &ig_layer,
        "layer-wise integrated gradients layer (empty = the last spatial feature map)");
  s.add("attribution.region", &region, "r of the regional Gini (0 = 16 from 224 px, else 4)");
  s.add("attribution.masks", &masks, "foreground masks: empty (the dataset's) | png:DIR | h5:FILE");
  s.add("attribution.noise", &noise, "inductive Noise-I/II attacks with random-pixel controls");
  s.add("attribution.top_pixels", &top_pixels,
        "inductive noise: pixel counts T ([] = 5000/224² of the image)");
  s.add("attribution.occlusion_colors", &occlusion_colors,
        "inductive occlusion colours: black, grey, white ([] = no occlusion attack)");
  s.add("attribution.occlusion_count", &occlusion_count, "inductive occlusion: max count N (>= 1)");
  s.add("attribution.occlusion_radius", &occlusion_radius,
        "inductive occlusion: max radius R (0 = 4 below 224 px, else 20)");
  s.add("attribution.agreement", &agreement, "Spearman agreement between every pair of methods");
  s.add("attribution.maps", &maps, "maps saved for the first N images (0 = none)");
  s.add("attribution.map_indices", &map_indices, "maps saved for these indices (overrides maps)");
  s.add("attribution.montage", &montage,
        "images in the PNG heat-map montage (0 = none, -1 = up to 8)");
  s.add("attribution.dtype", &dtype, "precision of the model evaluation", {"float32", "float64"});
}

MethodOptions AttributionConfig::method_options(uint64_t seed) const {
  MethodOptions o;
  o.steps = steps;
  o.baseline = baseline;
  o.samples = samples;
  o.noise_std = noise_std;
  o.shap_noise_std = shap_noise_std;
  o.internal_batch = internal_batch;
  o.layer = layer;
  o.ig_layer = ig_layer;
  o.seed = seed;
  return o;
}

AttributionConfig resolve_config(const AttributionConfig& cfg, const std::vector<int64_t>& shape,
                                 int64_t n_images) {
  if (shape.size() != 3) throw ConfigError("attribution: images must be {C, H, W}");
  AttributionConfig c = cfg;
  if (c.methods.empty()) throw ConfigError("attribution.methods: the list of methods is empty");
  std::vector<std::string> seen;
  for (const auto& m : c.methods) {
    if (std::find(seen.begin(), seen.end(), m) != seen.end()) {
      throw ConfigError("attribution.methods: '" + m + "' is listed twice");
    }
    seen.push_back(m);
    make_method(m, c.method_options(0));  // unknown name or bad option -> ConfigError
  }
  if (c.region == 0) c.region = default_region(std::min(shape[1], shape[2]));
  if (c.region < 0 || shape[1] % c.region != 0 || shape[2] % c.region != 0) {
    throw ConfigError(fmt::format("attribution.region = {} does not divide the {}x{} image",
                                  c.region, shape[1], shape[2]));
  }
  if (c.dtype != "float32" && c.dtype != "float64") {
    throw ConfigError("attribution.dtype = '" + c.dtype + "' is not one of float32|float64");
  }
  const int64_t pixels = shape[1] * shape[2];
  if (c.top_pixels.empty()) {
    c.top_pixels = {
        std::max<int64_t>(1, std::llround(5000.0 * static_cast<double>(pixels) / (224.0 * 224.0)))};
  }
  for (const int64_t t : c.top_pixels) {
    if (t < 1 || t > pixels) {
      throw ConfigError(
          fmt::format("attribution.top_pixels: {} is outside [1, {}] (pixels of a "
                      "{}x{} image)",
                      t, pixels, shape[1], shape[2]));
    }
  }
  for (size_t i = 0; i < c.occlusion_colors.size(); ++i) {
    occlusion_value(c.occlusion_colors[i]);  // unknown colour -> ConfigError
    if (std::count(c.occlusion_colors.begin(), c.occlusion_colors.end(), c.occlusion_colors[i]) >
        1) {
      throw ConfigError("attribution.occlusion_colors: '" + c.occlusion_colors[i] +
                        "' is listed twice");
    }
  }
  if (c.occlusion_count < 1) {
    throw ConfigError("attribution.occlusion_count = " + std::to_string(c.occlusion_count) +
                      " must be >= 1");
  }
  if (c.occlusion_radius < 0) {
    throw ConfigError("attribution.occlusion_radius = " + std::to_string(c.occlusion_radius) +
                      " must be >= 0 (0 = the paper's default)");
  }
  if (c.occlusion_radius == 0) c.occlusion_radius = std::min(shape[1], shape[2]) < 224 ? 4 : 20;
  if (c.maps < 0) throw ConfigError("attribution.maps = " + std::to_string(c.maps) + " is < 0");
  std::sort(c.map_indices.begin(), c.map_indices.end());
  for (size_t i = 0; i < c.map_indices.size(); ++i) {
    if (c.map_indices[i] < 0 || c.map_indices[i] >= n_images) {
      throw ConfigError(fmt::format("attribution.map_indices: {} is outside the {} images [0, {})",
                                    c.map_indices[i], n_images, n_images));
    }
    if (i > 0 && c.map_indices[i] == c.map_indices[i - 1]) {
      throw ConfigError(
          fmt::format("attribution.map_indices: {} is listed twice", c.map_indices[i]));
    }
  }
  const auto saved = static_cast<int64_t>(saved_map_indices(c, n_images).size());
  if (c.montage == -1) c.montage = std::min<int64_t>(8, saved);
  if (c.montage < 0 || c.montage > saved) {
    throw ConfigError(
        fmt::format("attribution.montage = {} must be in [0, {}] (the images whose "
                    "maps are saved: attribution.maps / map_indices)",
                    c.montage, saved));
  }
  return c;
}

std::vector<int64_t> saved_map_indices(const AttributionConfig& cfg, int64_t n_images) {
  if (!cfg.map_indices.empty()) {
    std::vector<int64_t> v = cfg.map_indices;
    std::sort(v.begin(), v.end());
    return v;
  }
  std::vector<int64_t> v;
  for (int64_t i = 0; i < std::min(cfg.maps, n_images); ++i) v.push_back(i);
  return v;
}

data::MaskSource mask_source(const std::string& spec, bool imagenet_folder) {
  data::MaskSource src;
  const auto colon = spec.find(':');
  const std::string kind = colon == std::string::npos ? "" : spec.substr(0, colon);
  const std::string path = colon == std::string::npos ? "" : spec.substr(colon + 1);
  if ((kind != "png" && kind != "h5") || path.empty()) {
    throw ConfigError("attribution.masks = '" + spec + "' is not png:DIR or h5:FILE");
  }
  src.kind = kind == "png" ? data::MaskSource::Kind::kPngFolder : data::MaskSource::Kind::kHdf5;
  src.path = path;
  src.by_index = !imagenet_folder;
  return src;
}

}  // namespace sfb::attribution
