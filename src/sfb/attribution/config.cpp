#include "attribution/config.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "attribution/gini.hpp"
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
  s.add("attribution.layer", &layer, "Grad-CAM layer (empty = last block before features)");
  s.add("attribution.ig_layer", &ig_layer,
        "layer-wise integrated gradients layer (empty = last block before features)");
  s.add("attribution.region", &region, "r of the regional Gini (0 = 16 from 224 px, else 4)");
  s.add("attribution.masks", &masks, "foreground masks: empty (the dataset's) | png:DIR | h5:FILE");
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

AttributionConfig resolve_config(const AttributionConfig& cfg, const std::vector<int64_t>& shape) {
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
  return c;
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
