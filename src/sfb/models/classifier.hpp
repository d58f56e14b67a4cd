#pragma once
#include <torch/torch.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/error.hpp"

namespace sfb::models {

/// An image classifier split as g = head ∘ features (SPEC §1). Inputs are images in [0, 1]: the
/// normalization (mean/std) lives inside, so attacks and masks work in pixel space.
class Classifier {
 public:
  virtual ~Classifier() = default;
  /// x: [B, C, H, W] float32 in [0, 1] on the model's device -> [B, k] penultimate activations
  /// (after global pooling).
  virtual torch::Tensor features(const torch::Tensor& x) = 0;
  /// a: [B, k] -> logits [B, num_classes()].
  virtual torch::Tensor head(const torch::Tensor& a) = 0;
  /// x -> logits; equals head(features(x)).
  virtual torch::Tensor forward(const torch::Tensor& x) { return head(features(x)); }
  /// k, the width of features().
  virtual int64_t num_features() const = 0;
  /// C, the number of classes.
  virtual int64_t num_classes() const = 0;
  /// The spec string it was built from ("zoo:wrn-28-10", "torchscript:m.pt", ...).
  virtual std::string name() const = 0;
  /// Architecture name ("wrn-28-10", "torchscript").
  virtual std::string arch() const = 0;
  /// The trainable parameters (empty for frozen imports).
  virtual std::vector<torch::Tensor> parameters() = 0;
  /// Switches train/eval mode (BatchNorm, dropout).
  virtual void train(bool on) = 0;
  /// Moves the model to `device`.
  virtual void to(const torch::Device& device) = 0;
  /// Casts every floating-point parameter and buffer to `dtype` (kFloat32 or kFloat64); inputs
  /// must then be passed in that dtype. Used for float64 reference evaluations.
  virtual void to_dtype(torch::ScalarType dtype) = 0;
  /// When head(a) is exactly the affine map a·Wᵀ + b, the pair (W [C, k], b [C]) as they are used
  /// (same device and dtype; part of the model, not copies); std::nullopt otherwise. Lets metrics
  /// use closed forms (SPEC §2's linear-head fast path).
  virtual std::optional<std::pair<torch::Tensor, torch::Tensor>> linear_head() {
    return std::nullopt;
  }
  /// Names of the layers whose outputs can be tapped, in forward order; the last is "features".
  virtual std::vector<std::string> layer_names() const = 0;
  /// forward(x) that also returns the outputs of the layers named in `names` (in that order) in
  /// `taps`, as tensors of the autograd graph (gradients of the logits with respect to them can be
  /// taken). Throws ConfigError listing layer_names() for an unknown name.
  virtual torch::Tensor forward_tapped(const torch::Tensor& x,
                                       const std::vector<std::string>& names,
                                       std::vector<torch::Tensor>& taps) = 0;
  /// The logits of x with the output of layer `name` (one of layer_names(), "features" included)
  /// replaced by `value`, which must have the shape that layer's output has for x; everything
  /// downstream of the layer is computed from `value`, so gradients of the logits with respect to
  /// `value` can be taken. x: [B, C, H, W] in [0, 1] -> [B, num_classes()]. Throws ConfigError
  /// listing layer_names() for an unknown name and naming both shapes for a wrong shape. This
  /// default handles "features" only (head(value)); models with hidden layers override it.
  virtual torch::Tensor forward_replaced(const torch::Tensor& x, const std::string& name,
                                         const torch::Tensor& value);
  /// Replaces the nonlinearity of every activation layer ("relu", "guided-relu", "softplus").
  /// Throws ConfigError for a model whose activations cannot be swapped (e.g. TorchScript).
  virtual void set_activation(const std::string& kind) = 0;
  /// SHA-256 of the weights file it was loaded from, or of its serialized parameters.
  virtual std::string fingerprint() const = 0;
};

inline torch::Tensor Classifier::forward_replaced(const torch::Tensor& x, const std::string& name,
                                                  const torch::Tensor& value) {
  if (name != "features") {
    std::string valid;
    for (const auto& l : layer_names()) valid += (valid.empty() ? "" : ", ") + l;
    throw ConfigError("model " + this->name() + ": unknown layer '" + name +
                      "'; valid layers: " + valid);
  }
  if (value.dim() != 2 || value.size(0) != x.size(0) || value.size(1) != num_features()) {
    throw ConfigError("model " + this->name() + ": replacement for layer 'features' must be [" +
                      std::to_string(x.size(0)) + ", " + std::to_string(num_features()) +
                      "], got " + c10::str(value.sizes()));
  }
  return head(value);
}

/// Puts `model` in eval mode with parameters and buffers of `dtype` and returns it: what every
/// evaluation stage does to the model first.
inline Classifier& for_evaluation(Classifier& model, torch::ScalarType dtype) {
  model.train(false);
  model.to_dtype(dtype);
  return model;
}

}  // namespace sfb::models
