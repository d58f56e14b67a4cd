#include "shapley/taylor.hpp"

#include <fmt/format.h>
#include <torch/torch.h>

#include <algorithm>

#include "core/error.hpp"

namespace sfb::shapley {
namespace {

/// Rows of `t` ([B, ...]) holding a NaN or infinity: [B] bool on t's device.
torch::Tensor nonfinite_rows(const torch::Tensor& t) {
  return torch::logical_not(torch::isfinite(t)).reshape({t.size(0), -1}).any(1);
}

/// Throws DataError naming the global index of the first row of `t` ([B, ...]) that holds a NaN
/// or infinity; `what` says which quantity it was.
void check_finite(const torch::Tensor& t, const torch::Tensor& index, const std::string& what,
                  const std::string& layer) {
  const torch::Tensor bad = nonfinite_rows(t).to(torch::kCPU);
  if (!bad.any().item<bool>()) return;
  const int64_t row = bad.nonzero().index({0, 0}).item<int64_t>();
  const int64_t global = index.to(torch::kCPU).index({row}).item<int64_t>();
  throw DataError(
      fmt::format("sample {}: {} at layer '{}' is NaN or infinite", global, what, layer));
}

}  // namespace

torch::Tensor sum_over_space(const torch::Tensor& prod) {
  if (prod.dim() == 2) return prod;
  std::vector<int64_t> dims;
  for (int64_t d = 2; d < prod.dim(); ++d) dims.push_back(d);
  return prod.sum(dims);
}

ShapleyProbe::ShapleyProbe(models::Classifier& model, const ProbeOptions& opts,
                           const std::vector<int64_t>& image_shape, torch::ScalarType dtype,
                           const torch::Device& device)
    : model_(model), opts_(opts) {
  const auto names = model.layer_names();
  if (std::find(names.begin(), names.end(), opts.layer) == names.end()) {
    std::string valid;
    for (const auto& n : names) valid += (valid.empty() ? "" : ", ") + n;
    throw ConfigError(fmt::format("sf.layer: model {} has no layer '{}'; valid layers: {}",
                                  model.name(), opts.layer, valid));
  }
  if (opts.layer == "features") {
    k_ = model.num_features();
    fast_ = opts.fast_path && is_linear_in_logits(opts.target) && model.linear_head().has_value();
  } else {
    torch::NoGradGuard no_grad;
    std::vector<int64_t> shape{1};
    shape.insert(shape.end(), image_shape.begin(), image_shape.end());
    std::vector<torch::Tensor> taps;
    model.forward_tapped(torch::zeros(shape, torch::TensorOptions().dtype(dtype).device(device)),
                         {opts.layer}, taps);
    SFB_ASSERT(taps.size() == 1 && taps[0].dim() >= 2, "tapped layer output must be [B, k, ...]");
    k_ = taps[0].size(1);
  }
}

ProbeOutput ShapleyProbe::compute(const torch::Tensor& images, const torch::Tensor& labels,
                                  const torch::Tensor& index, const torch::Tensor& host_labels) {
  const int64_t classes = model_.num_classes();
  if (labels.numel() > 0) {
    const torch::Tensor lab = host_labels.defined() ? host_labels : labels.to(torch::kCPU);
    const torch::Tensor out = (lab < 0).logical_or(lab >= classes);
    if (out.any().item<bool>()) {
      const int64_t row = out.nonzero().index({0, 0}).item<int64_t>();
      throw DataError(fmt::format("sample {}: label {} is outside the model's classes [0, {})",
                                  index.to(torch::kCPU).index({row}).item<int64_t>(),
                                  lab.index({row}).item<int64_t>(), classes));
    }
  }
  torch::Tensor act;
  ProbeOutput out = opts_.layer == "features" ? compute_features(images, labels, act)
                                              : compute_tapped(images, labels, act);
  // One wait for the device: are the activations, the logits and the Shapley values finite? Only
  // when not are they checked one by one (in that order) to name the sample and the quantity.
  if (out.logits.size(0) > 0 && nonfinite_rows(act)
                                    .logical_or(nonfinite_rows(out.logits))
                                    .logical_or(nonfinite_rows(out.c))
                                    .any()
                                    .item<bool>()) {
    check_finite(act, index, "the activation", opts_.layer);
    check_finite(out.logits, index, "the logits", opts_.layer);
    check_finite(out.c, index, "a Shapley value a·∂t/∂a", opts_.layer);
  }
  return out;
}

ProbeOutput ShapleyProbe::compute_features(const torch::Tensor& images, const torch::Tensor& labels,
                                           torch::Tensor& act) {
  torch::Tensor a;
  {
    torch::NoGradGuard no_grad;
    a = model_.features(images);
  }
  act = a;
  ProbeOutput out;
  if (fast_) {
    torch::NoGradGuard no_grad;
    const auto [w, b] = *model_.linear_head();
    out.logits = torch::addmm(b, a, w.t());
    const torch::Tensor cls = target_class(out.logits, labels, opts_.target);
    out.c = a * w.index_select(0, cls);
    return out;
  }
  torch::AutoGradMode grad_on(true);
  torch::Tensor leaf = a.detach().requires_grad_(true);
  const torch::Tensor logits = model_.head(leaf);
  const torch::Tensor t = target_value(logits, labels, opts_.target);
  const torch::Tensor g = torch::autograd::grad({t.sum()}, {leaf})[0];
  out.logits = logits.detach();
  out.c = a * g;
  return out;
}

ProbeOutput ShapleyProbe::compute_tapped(const torch::Tensor& images, const torch::Tensor& labels,
                                         torch::Tensor& act) {
  torch::AutoGradMode grad_on(true);
  // The input requires grad so the graph is recorded even when the parameters are frozen; only
  // the gradient with respect to the tapped layer is asked for, so nothing else is computed.
  const torch::Tensor x = images.detach().requires_grad_(true);
  std::vector<torch::Tensor> taps;
  const torch::Tensor logits = model_.forward_tapped(x, {opts_.layer}, taps);
  act = taps[0].detach();
  const torch::Tensor t = target_value(logits, labels, opts_.target);
  const torch::Tensor g = torch::autograd::grad({t.sum()}, {taps[0]})[0];
  ProbeOutput out;
  out.logits = logits.detach();
  out.c = sum_over_space(taps[0].detach() * g);
  return out;
}

}  // namespace sfb::shapley
