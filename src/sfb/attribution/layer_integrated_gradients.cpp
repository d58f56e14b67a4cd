// Layer-wise integrated gradients (paper 003, Fig. 5): integrated gradients of a hidden layer's
// activations, with the network downstream of the layer evaluated on the interpolated activations.
// The method's map is the layer attribution summed over channels (sign kept), upsampled to the
// image like Grad-CAM.
#include "attribution/layer_integrated_gradients.hpp"

#include <algorithm>
#include <string>
#include <vector>

#include "attribution/detail/factories.hpp"
#include "attribution/detail/grad.hpp"
#include "core/error.hpp"

namespace sfb::attribution {
namespace {

/// A_L(x) for every image, in chunks of `chunk` images: [B, ...] (detached).
torch::Tensor layer_output(models::Classifier& model, const torch::Tensor& x,
                           const std::string& layer, int64_t chunk) {
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> out;
  for (int64_t s = 0; s < x.size(0); s += chunk) {
    std::vector<torch::Tensor> taps;
    model.forward_tapped(x.slice(0, s, std::min(x.size(0), s + chunk)), {layer}, taps);
    out.push_back(taps.at(0).detach());
  }
  return torch::cat(out);
}

}  // namespace

torch::Tensor layer_integrated_gradients(models::Classifier& model, const torch::Tensor& x,
                                         const torch::Tensor& y, const torch::Tensor& keys,
                                         const MethodOptions& o) {
  detail::validate(o);
  const std::string layer = detail::resolve_layer(model, o.ig_layer, "attribution.ig_layer");
  const torch::Tensor xd = x.detach();
  if (xd.size(0) == 0) {
    std::vector<torch::Tensor> taps;
    torch::NoGradGuard no_grad;
    model.forward_tapped(xd, {layer}, taps);  // checks the name; gives the shape
    return torch::zeros_like(taps.at(0));
  }
  const torch::Tensor base =
      o.baseline == "normal"
          ? detail::keyed_normal(keys, o.seed, detail::kBaselineStream, xd.sizes().slice(1), xd)
          : torch::zeros_like(xd);
  const torch::Tensor a_x = layer_output(model, xd, layer, o.internal_batch);
  const torch::Tensor a_b = layer_output(model, base, layer, o.internal_batch);
  const torch::Tensor delta = a_x - a_b;
  const int64_t b = xd.size(0);
  const int64_t rows = b * o.steps;
  const double m = static_cast<double>(o.steps);
  std::vector<int64_t> alpha_shape(static_cast<size_t>(a_x.dim()), 1);
  alpha_shape[0] = -1;

  torch::AutoGradMode grad_on(true);
  torch::Tensor sum = torch::zeros_like(a_x);
  for (int64_t s = 0; s < rows; s += o.internal_batch) {
    const int64_t e = std::min(rows, s + o.internal_batch);
    const torch::Tensor r = torch::arange(s, e, y.options().dtype(torch::kInt64));
    const torch::Tensor img = r.div(o.steps, "floor");
    const torch::Tensor alpha =
        ((r.remainder(o.steps).to(a_x.scalar_type()) + 0.5) / m).view(alpha_shape);
    const torch::Tensor a_k =
        (a_b.index_select(0, img) + alpha * delta.index_select(0, img)).requires_grad_(true);
    const torch::Tensor logits = model.forward_replaced(xd.index_select(0, img), layer, a_k);
    const torch::Tensor t = logits.gather(1, y.index_select(0, img).view({-1, 1})).sum();
    sum.index_add_(0, img, torch::autograd::grad({t}, {a_k})[0].detach());
  }
  return (delta * sum / m).to(xd.scalar_type());
}

namespace detail {
namespace {

class LayerIntegratedGradients : public Method {
 public:
  explicit LayerIntegratedGradients(const MethodOptions& o) : o_(o) {}
  std::string name() const override { return "layer-integrated-gradients"; }
  torch::Tensor attribute(models::Classifier& model, const torch::Tensor& x, const torch::Tensor& y,
                          const torch::Tensor& keys) override {
    const torch::Tensor a = layer_integrated_gradients(model, x, y, keys, o_);
    if (a.dim() != 4) {
      throw ConfigError("layer-integrated-gradients: layer '" +
                        detail::resolve_layer(model, o_.ig_layer, "attribution.ig_layer") +
                        "' of " + model.name() +
                        " is not a [B, K, h, w] feature map, so it has no image-shaped map; set "
                        "attribution.ig_layer to a convolutional layer");
    }
    if (a.size(0) == 0) return torch::zeros({0, 1, x.size(2), x.size(3)}, x.options());
    return torch::nn::functional::interpolate(a.sum(1, /*keepdim=*/true),
                                              torch::nn::functional::InterpolateFuncOptions()
                                                  .size(std::vector<int64_t>{x.size(2), x.size(3)})
                                                  .mode(torch::kBilinear)
                                                  .align_corners(false))
        .to(x.scalar_type());
  }

 private:
  MethodOptions o_;
};

}  // namespace

std::unique_ptr<Method> make_layer_integrated_gradients(const MethodOptions& o) {
  return std::make_unique<LayerIntegratedGradients>(o);
}

}  // namespace detail
}  // namespace sfb::attribution
