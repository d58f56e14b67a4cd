#include "models/native_model.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <unordered_map>

#include "core/error.hpp"
#include "core/hash.hpp"

namespace sfb::models {

ModelOptions cifar10_options() { return ModelOptions{}; }

ModelOptions cifar100_options() {
  ModelOptions o;
  o.num_classes = 100;
  o.mean = kCifar100Mean;
  o.std = kCifar100Std;
  return o;
}

ModelOptions imagenet_options() {
  ModelOptions o;
  o.num_classes = 1000;
  o.image_shape = {3, 224, 224};
  o.mean = kImageNetMean;
  o.std = kImageNetStd;
  return o;
}

void validate(const ModelOptions& o) {
  if (o.num_classes < 1) {
    throw ConfigError("model options: num_classes must be >= 1, got " +
                      std::to_string(o.num_classes));
  }
  if (o.image_shape.size() != 3 || o.image_shape[0] < 1 || o.image_shape[1] < 1 ||
      o.image_shape[2] < 1) {
    throw ConfigError("model options: image_shape must be 3 positive values {C, H, W}");
  }
  const auto channels = static_cast<std::size_t>(o.image_shape[0]);
  if (o.mean.size() != channels || o.std.size() != channels) {
    throw ConfigError("model options: mean and std need one value per channel (" +
                      std::to_string(channels) + "), got " + std::to_string(o.mean.size()) +
                      " and " + std::to_string(o.std.size()));
  }
  for (std::size_t c = 0; c < channels; ++c) {
    if (!std::isfinite(o.mean[c]) || !std::isfinite(o.std[c]) || o.std[c] <= 0.0) {
      throw ConfigError("model options: channel " + std::to_string(c) +
                        " needs a finite mean and a std > 0");
    }
  }
}

NativeModel::NativeModel(std::string arch, const ModelOptions& o,
                         std::vector<std::string> layer_names)
    : arch_(std::move(arch)),
      name_("zoo:" + arch_),
      options_(o),
      layer_names_(std::move(layer_names)),
      activation_(std::make_shared<Activation>(o.activation)) {
  validate(o);
  layer_names_.push_back("features");
  const int64_t c = o.image_shape[0];
  mean_ = register_buffer("mean", torch::tensor(o.mean, torch::kFloat32).view({1, c, 1, 1}));
  std_ = register_buffer("std", torch::tensor(o.std, torch::kFloat32).view({1, c, 1, 1}));
}

void NativeModel::make_head(int64_t num_features) {
  num_features_ = num_features;
  fc_ = register_module("fc", torch::nn::Linear(num_features, options_.num_classes));
}

void NativeModel::set_normalization(const std::vector<double>& mean,
                                    const std::vector<double>& std) {
  ModelOptions o = options_;
  o.mean = mean;
  o.std = std;
  validate(o);
  torch::NoGradGuard no_grad;
  const int64_t c = mean_.size(1);
  mean_.copy_(torch::tensor(mean, torch::kFloat64).view({1, c, 1, 1}));
  std_.copy_(torch::tensor(std, torch::kFloat64).view({1, c, 1, 1}));
  options_.mean = mean;
  options_.std = std;
}

torch::Tensor NativeModel::normalize(const torch::Tensor& x) const {
  if (x.dim() != 4 || x.size(1) != mean_.size(1)) {
    throw ConfigError("model " + name_ + ": input must be [B, " + std::to_string(mean_.size(1)) +
                      ", H, W], got " + c10::str(x.sizes()));
  }
  return (x - mean_) / std_;
}

torch::Tensor NativeModel::features(const torch::Tensor& x) {
  return body(normalize(x), [](const std::string&, const torch::Tensor& out) { return out; });
}

torch::Tensor NativeModel::head(const torch::Tensor& a) { return fc_->forward(a); }

torch::Tensor NativeModel::forward(const torch::Tensor& x) { return head(features(x)); }

std::vector<torch::Tensor> NativeModel::parameters() { return torch::nn::Module::parameters(); }

void NativeModel::train(bool on) { torch::nn::Module::train(on); }

void NativeModel::to(const torch::Device& device) {
  // Module::to moves every parameter and buffer in place (set_data), so mean_/std_ stay valid.
  torch::nn::Module::to(device);
}

void NativeModel::to_dtype(torch::ScalarType dtype) {
  if (dtype != torch::kFloat32 && dtype != torch::kFloat64) {
    throw ConfigError("model " + name_ + ": dtype must be float32 or float64");
  }
  torch::nn::Module::to(dtype);
}

torch::Tensor NativeModel::forward_tapped(const torch::Tensor& x,
                                          const std::vector<std::string>& names,
                                          std::vector<torch::Tensor>& taps) {
  for (const auto& n : names) check_layer(n);
  std::unordered_map<std::string, torch::Tensor> outputs;
  auto keep = [&](const std::string& name, const torch::Tensor& out) {
    outputs[name] = out;
    return out;
  };
  const torch::Tensor a = body(normalize(x), keep);
  outputs["features"] = a;
  taps.clear();
  for (const auto& n : names) taps.push_back(outputs.at(n));
  return head(a);
}

void NativeModel::check_layer(const std::string& name) const {
  if (std::find(layer_names_.begin(), layer_names_.end(), name) != layer_names_.end()) return;
  std::string valid;
  for (const auto& l : layer_names_) valid += (valid.empty() ? "" : ", ") + l;
  throw ConfigError("model " + name_ + ": unknown layer '" + name + "'; valid layers: " + valid);
}

torch::Tensor NativeModel::forward_replaced(const torch::Tensor& x, const std::string& name,
                                            const torch::Tensor& value) {
  check_layer(name);
  auto shape_error = [&](torch::IntArrayRef expected) {
    return ConfigError("model " + name_ + ": replacement for layer '" + name + "' must be " +
                       c10::str(expected) + ", got " + c10::str(value.sizes()));
  };
  if (name == "features") {
    if (value.dim() != 2 || value.size(0) != x.size(0) || value.size(1) != num_features_) {
      throw shape_error({x.size(0), num_features_});
    }
    return head(value);
  }
  bool replaced = false;
  auto swap = [&](const std::string& layer, const torch::Tensor& out) {
    if (layer != name) return out;
    if (!value.sizes().equals(out.sizes())) throw shape_error(out.sizes());
    replaced = true;
    return value;
  };
  const torch::Tensor a = body(normalize(x), swap);
  SFB_ASSERT(replaced, "model " + name_ + ": body() did not pass layer '" + name + "' to tap");
  return head(a);
}

void NativeModel::set_activation(const std::string& kind) {
  activation_->set(kind);
  options_.activation = activation_->spec();
}

std::string NativeModel::fingerprint() const {
  if (!weights_sha256_.empty()) return weights_sha256_;
  std::string bytes;
  auto append = [&bytes](const std::string& name, const torch::Tensor& t) {
    const torch::Tensor c = t.detach().to(torch::kCPU).contiguous();
    bytes +=
        name + "|" + c10::str(c.sizes()) + "|" + std::string(c10::toString(c.scalar_type())) + "|";
    bytes.append(static_cast<const char*>(c.data_ptr()), c.nbytes());
  };
  for (const auto& p : named_parameters()) append(p.key(), p.value());
  for (const auto& b : named_buffers()) append(b.key(), b.value());
  return sha256_hex(bytes);
}

void NativeModel::init_weights() {
  torch::NoGradGuard no_grad;
  for (auto& m : modules(/*include_self=*/false)) {
    if (auto* conv = m->as<torch::nn::Conv2d>()) {
      torch::nn::init::kaiming_normal_(conv->weight, 0.0, torch::kFanOut, torch::kReLU);
      if (conv->bias.defined()) conv->bias.zero_();
    } else if (auto* bn = m->as<torch::nn::BatchNorm2d>()) {
      bn->weight.fill_(1.0);
      bn->bias.zero_();
    } else if (auto* lin = m->as<torch::nn::Linear>()) {
      if (lin->bias.defined()) lin->bias.zero_();
    }
  }
}

torch::nn::Conv2d conv3x3(int64_t in, int64_t out, int64_t stride) {
  return torch::nn::Conv2d(
      torch::nn::Conv2dOptions(in, out, 3).stride(stride).padding(1).bias(false));
}

torch::nn::Conv2d conv1x1(int64_t in, int64_t out, int64_t stride) {
  return torch::nn::Conv2d(torch::nn::Conv2dOptions(in, out, 1).stride(stride).bias(false));
}

}  // namespace sfb::models
