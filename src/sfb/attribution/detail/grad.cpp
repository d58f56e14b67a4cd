// Shared machinery of the attribution methods: chunked input gradients, keyed random draws,
// Grad-CAM and the guided-activation scope.
#include "attribution/detail/grad.hpp"

#include <ATen/CPUGeneratorImpl.h>

#include <algorithm>
#include <utility>
#include <vector>

#include "core/device.hpp"
#include "core/error.hpp"

namespace sfb::attribution::detail {
namespace {

uint64_t splitmix(uint64_t z) {
  z += 0x9E3779B97F4A7C15ULL;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

template <typename Draw>
torch::Tensor keyed(const torch::Tensor& keys, uint64_t seed, uint64_t stream,
                    torch::IntArrayRef per, const torch::Tensor& like, Draw draw) {
  const torch::Tensor k = keys.to(torch::kCPU, torch::kInt64).contiguous();
  std::vector<torch::Tensor> rows;
  rows.reserve(static_cast<size_t>(k.numel()));
  const auto* kp = k.data_ptr<int64_t>();
  for (int64_t i = 0; i < k.numel(); ++i) {
    const uint64_t s = splitmix(splitmix(splitmix(seed) ^ stream) ^ static_cast<uint64_t>(kp[i]));
    auto gen = at::make_generator<at::CPUGeneratorImpl>(s);
    rows.push_back(draw(per, gen));
  }
  return to_device(torch::stack(rows), like.device(), like.scalar_type());
}

}  // namespace

torch::Tensor input_grad(models::Classifier& model, const torch::Tensor& x, const torch::Tensor& y,
                         int64_t chunk) {
  torch::AutoGradMode grad_on(true);
  std::vector<torch::Tensor> out;
  for (int64_t s = 0; s < x.size(0); s += chunk) {
    const int64_t e = std::min(x.size(0), s + chunk);
    torch::Tensor xi = x.slice(0, s, e).detach().requires_grad_(true);
    const torch::Tensor logits = model.forward(xi);
    const torch::Tensor t = logits.gather(1, y.slice(0, s, e).view({-1, 1})).sum();
    out.push_back(torch::autograd::grad({t}, {xi})[0].detach());
  }
  return out.empty() ? torch::zeros_like(x) : torch::cat(out);
}

torch::Tensor sample_sum(models::Classifier& model, const torch::Tensor& y, int64_t per_image,
                         int64_t chunk,
                         const std::function<std::pair<torch::Tensor, torch::Tensor>(
                             const torch::Tensor&, const torch::Tensor&)>& make,
                         bool abs_grad) {
  const int64_t b = y.size(0);
  const int64_t rows = b * per_image;
  torch::Tensor sum;
  for (int64_t s = 0; s < rows; s += chunk) {
    const int64_t e = std::min(rows, s + chunk);
    const torch::Tensor r = torch::arange(s, e, y.options().dtype(torch::kInt64));
    const torch::Tensor img = r.div(per_image, "floor");
    const torch::Tensor smp = r.remainder(per_image);
    auto [points, weights] = make(img, smp);
    torch::Tensor g = input_grad(model, points, y.index_select(0, img), chunk);
    if (abs_grad) g = g.abs();
    if (weights.defined()) g = g * weights;
    if (!sum.defined()) {
      std::vector<int64_t> shape = g.sizes().vec();
      shape[0] = b;
      sum = torch::zeros(shape, g.options());
    }
    sum.index_add_(0, img, g);
  }
  return sum;
}

torch::Tensor keyed_normal(const torch::Tensor& keys, uint64_t seed, uint64_t stream,
                           torch::IntArrayRef per, const torch::Tensor& like) {
  return keyed(keys, seed, stream, per, like, [](torch::IntArrayRef p, at::Generator& g) {
    return torch::randn(p, g, torch::kFloat64);
  });
}

torch::Tensor keyed_uniform(const torch::Tensor& keys, uint64_t seed, uint64_t stream,
                            torch::IntArrayRef per, const torch::Tensor& like) {
  return keyed(keys, seed, stream, per, like, [](torch::IntArrayRef p, at::Generator& g) {
    return torch::rand(p, g, torch::kFloat64);
  });
}

std::string resolve_layer(const models::Classifier& model, const std::string& layer,
                          const std::string& key) {
  if (!layer.empty()) return layer;
  const auto names = model.layer_names();
  if (names.size() < 2) {
    throw ConfigError("model " + model.name() + " has no layer before 'features'; set " + key);
  }
  return names[names.size() - 2];
}

std::string default_feature_map(models::Classifier& model, const torch::Tensor& x1,
                                const std::string& key) {
  std::vector<std::string> names = model.layer_names();
  names.erase(std::remove(names.begin(), names.end(), "features"), names.end());
  std::vector<torch::Tensor> taps;
  if (!names.empty()) {
    torch::NoGradGuard no_grad;
    model.forward_tapped(x1, names, taps);
  }
  for (size_t i = names.size(); i-- > 0;) {
    const torch::Tensor& a = taps.at(i);
    if (a.dim() == 4 && a.size(2) * a.size(3) > 1) return names[i];
  }
  throw ConfigError("model " + model.name() +
                    " has no layer with a spatial feature map [B, K, h, w] (h*w > 1) before "
                    "'features'; set " +
                    key);
}

void check_feature_map_layer(models::Classifier& model, const torch::Tensor& x1,
                             const std::string& layer, const std::string& key) {
  const std::string name = resolve_layer(model, layer, key);
  std::vector<torch::Tensor> taps;
  torch::NoGradGuard no_grad;
  try {
    model.forward_tapped(x1, {name}, taps);
  } catch (const ConfigError& e) {
    throw ConfigError(key + " = '" + name + "': " + e.what());
  }
  if (taps.at(0).dim() != 4) {
    throw ConfigError(key + " = '" + name +
                      "' is not a convolutional feature map [B, K, h, w] (its "
                      "output is " +
                      c10::str(taps.at(0).sizes()) + ")");
  }
}

torch::Tensor grad_cam(models::Classifier& model, const torch::Tensor& x, const torch::Tensor& y,
                       const std::string& layer, int64_t chunk) {
  const std::string name = resolve_layer(model, layer, "attribution.layer");
  torch::AutoGradMode grad_on(true);
  std::vector<torch::Tensor> out;
  for (int64_t s = 0; s < x.size(0); s += chunk) {
    const int64_t e = std::min(x.size(0), s + chunk);
    std::vector<torch::Tensor> taps;
    const torch::Tensor logits = model.forward_tapped(x.slice(0, s, e).detach(), {name}, taps);
    const torch::Tensor& a = taps.at(0);
    if (a.dim() != 4) {
      throw ConfigError("grad-cam: layer '" + name + "' of " + model.name() +
                        " is not a [B, K, h, w] feature map; set attribution.layer");
    }
    const torch::Tensor t = logits.gather(1, y.slice(0, s, e).view({-1, 1})).sum();
    const torch::Tensor g = torch::autograd::grad({t}, {a})[0];
    const torch::Tensor w = g.mean({2, 3}, /*keepdim=*/true);
    const torch::Tensor cam = torch::relu((w * a).sum(1, /*keepdim=*/true)).detach();
    out.push_back(torch::nn::functional::interpolate(
        cam, torch::nn::functional::InterpolateFuncOptions()
                 .size(std::vector<int64_t>{x.size(2), x.size(3)})
                 .mode(torch::kBilinear)
                 .align_corners(false)));
  }
  if (out.empty()) return torch::zeros({0, 1, x.size(2), x.size(3)}, x.options());
  return torch::cat(out).to(x.scalar_type());
}

GuidedScope::GuidedScope(models::Classifier& model, std::string restore)
    : model_(model), restore_(std::move(restore)) {
  model_.set_activation("guided-relu");
}

GuidedScope::~GuidedScope() {
  try {
    model_.set_activation(restore_);
  } catch (...) {  // a destructor must not throw; validate() checked the spec beforehand
  }
}

void validate(const MethodOptions& o) {
  if (o.steps <= 0) {
    throw ConfigError("attribution.steps must be > 0 (got " + std::to_string(o.steps) + ")");
  }
  if (o.samples <= 0) {
    throw ConfigError("attribution.samples must be > 0 (got " + std::to_string(o.samples) + ")");
  }
  if (o.internal_batch <= 0) {
    throw ConfigError("attribution.internal_batch must be > 0 (got " +
                      std::to_string(o.internal_batch) + ")");
  }
  if (!(o.noise_std >= 0.0)) throw ConfigError("attribution.noise_std must be >= 0");
  if (!(o.shap_noise_std >= 0.0)) throw ConfigError("attribution.shap_noise_std must be >= 0");
  if (o.baseline != "zeros" && o.baseline != "normal") {
    throw ConfigError("attribution.baseline must be 'zeros' or 'normal' (got '" + o.baseline +
                      "')");
  }
}

}  // namespace sfb::attribution::detail
