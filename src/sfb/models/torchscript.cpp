#include "models/torchscript.hpp"

#include <ATen/CPUGeneratorImpl.h>

#include <algorithm>
#include <system_error>

#include "core/error.hpp"
#include "core/hash.hpp"

namespace sfb::models {
namespace {

constexpr uint64_t kProbeSeed = 20240601;

}  // namespace

TorchScriptModel::TorchScriptModel(const std::filesystem::path& file,
                                   const std::vector<int64_t>& image_shape, std::string spec)
    : spec_(std::move(spec)), file_(file.string()) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(file, ec)) {
    throw DataError("torchscript model " + file_ + ": no such file");
  }
  try {
    module_ = torch::jit::load(file_, torch::Device(torch::kCPU));
  } catch (const c10::Error& e) {
    throw DataError("torchscript model " + file_ +
                    ": cannot load (not a TorchScript archive?): " + e.what_without_backtrace());
  }
  std::vector<std::string> missing;
  for (const char* m : {"forward", "features", "head"}) {
    if (!module_.find_method(m)) missing.emplace_back(m);
  }
  if (!missing.empty()) {
    std::string list;
    for (const auto& m : missing) list += (list.empty() ? "" : ", ") + m;
    throw DataError("torchscript model " + file_ + ": missing method(s) " + list +
                    "; it needs forward, features and head (scripts/export_torchscript.py "
                    "wraps a PyTorch model that way)");
  }
  if (image_shape.size() != 3) {
    throw ConfigError("torchscript model " + file_ + ": image_shape must be {C, H, W}");
  }
  sha256_ = sha256_file(file);
  module_.eval();

  auto gen = at::make_generator<at::CPUGeneratorImpl>(kProbeSeed);
  const torch::Tensor x = torch::rand({2, image_shape[0], image_shape[1], image_shape[2]}, gen);
  torch::NoGradGuard no_grad;
  torch::Tensor a, z, ref;
  try {
    a = features(x);
    z = head(a);
    ref = forward(x);
  } catch (const c10::Error& e) {
    throw DataError("torchscript model " + file_ + ": probe batch of shape " + c10::str(x.sizes()) +
                    " failed: " + e.what_without_backtrace());
  }
  if (a.dim() != 2 || a.size(0) != 2) {
    throw DataError("torchscript model " + file_ + ": features() must return [B, k], got " +
                    c10::str(a.sizes()));
  }
  if (z.dim() != 2 || z.size(0) != 2 || !z.sizes().equals(ref.sizes())) {
    throw DataError("torchscript model " + file_ +
                    ": head() and forward() must return [B, C], got " + c10::str(z.sizes()) +
                    " and " + c10::str(ref.sizes()));
  }
  const double diff = (z - ref).abs().max().item<double>();
  const double scale = std::max(1.0, ref.abs().max().item<double>());
  if (!(diff <= kTorchScriptTolerance * scale)) {
    throw DataError("torchscript model " + file_ +
                    ": head(features(x)) differs from forward(x) by " + std::to_string(diff) +
                    " (allowed " + std::to_string(kTorchScriptTolerance * scale) +
                    "); features must be the input of the final linear layer");
  }
  num_features_ = a.size(1);
  num_classes_ = z.size(1);
}

torch::Tensor TorchScriptModel::call(const char* method, const torch::Tensor& x) {
  return module_.get_method(method)({x}).toTensor();
}

torch::Tensor TorchScriptModel::features(const torch::Tensor& x) { return call("features", x); }

torch::Tensor TorchScriptModel::head(const torch::Tensor& a) { return call("head", a); }

torch::Tensor TorchScriptModel::forward(const torch::Tensor& x) { return call("forward", x); }

std::vector<torch::Tensor> TorchScriptModel::parameters() {
  std::vector<torch::Tensor> out;
  for (const auto& p : module_.parameters()) out.push_back(p);
  return out;
}

torch::Tensor TorchScriptModel::forward_tapped(const torch::Tensor& x,
                                               const std::vector<std::string>& names,
                                               std::vector<torch::Tensor>& taps) {
  for (const auto& n : names) {
    if (n != "features") {
      throw ConfigError("torchscript model " + file_ + ": unknown layer '" + n +
                        "'; valid layers: features");
    }
  }
  const torch::Tensor a = features(x);
  taps.assign(names.size(), a);
  return head(a);
}

torch::Tensor TorchScriptModel::forward_replaced(const torch::Tensor& x, const std::string& name,
                                                 const torch::Tensor& value) {
  if (name != "features") {
    throw ConfigError("torchscript model " + file_ + ": unknown layer '" + name +
                      "'; valid layers: features");
  }
  if (value.dim() != 2 || value.size(0) != x.size(0) || value.size(1) != num_features_) {
    throw ConfigError("torchscript model " + file_ +
                      ": replacement for layer 'features' must be [" + std::to_string(x.size(0)) +
                      ", " + std::to_string(num_features_) + "], got " + c10::str(value.sizes()));
  }
  return head(value);
}

void TorchScriptModel::set_activation(const std::string& kind) {
  throw ConfigError("torchscript model " + file_ + ": cannot switch the activation to '" + kind +
                    "' (its nonlinearities are compiled in; use a native zoo model)");
}

}  // namespace sfb::models
