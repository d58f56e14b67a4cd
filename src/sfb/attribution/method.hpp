#pragma once
#include <torch/torch.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "models/classifier.hpp"

namespace sfb::attribution {

/// Options shared by every attribution method (SPEC §5); each method reads the fields it needs.
/// The target is the ground-truth logit t(x, y) = z_y (SPEC §2's default `logit`).
struct MethodOptions {
  /// Integrated gradients: number of Riemann steps (midpoint rule, α_k = (k − ½)/steps). > 0.
  int64_t steps = 20;
  /// Integrated gradients baseline: "zeros" or "normal" (N(0,1) per image, keyed by image index).
  std::string baseline = "zeros";
  /// SmoothGrad and GradientShap: number of noisy samples per image. > 0.
  int64_t samples = 20;
  /// SmoothGrad: standard deviation of the Gaussian input noise, in pixel units ([0, 1] images).
  double noise_std = 0.15;
  /// GradientShap: standard deviation of the noise added to the input (Captum's `stdevs`; 0 =
  /// none).
  double shap_noise_std = 0.0;
  /// Rows (images × steps or samples) per forward/backward pass, so that many steps never exhaust
  /// memory. > 0.
  int64_t internal_batch = 64;
  /// Grad-CAM layer (one of the model's layer_names()); empty = the last block before "features"
  /// (the last convolutional block).
  std::string layer;
  /// Layer-wise integrated gradients: the hidden layer whose activations are attributed (one of
  /// the model's layer_names(); empty = the last layer before "features").
  std::string ig_layer;
  /// The activation the guided methods restore after switching the model to "guided-relu".
  std::string activation = "relu";
  /// Seed of the random baselines and noise; the draw for an image depends on (seed, its key) only.
  uint64_t seed = 0;
};

/// An attribution method: a map of the same shape as the input that explains t(x, y).
class Method {
 public:
  virtual ~Method() = default;
  /// The registered name ("saliency", "integrated-gradients", ...).
  virtual std::string name() const = 0;
  /// x: [B, C, H, W] float32/float64 in [0, 1] on the model's device; y: [B] int64 labels;
  /// keys: [B] int64 (any device) that key each image's random draws (use the global dataset index
  /// so that results do not depend on sharding) -> [B, C, H, W] attributions in x's dtype on x's
  /// device (class-activation methods give [B, 1, H, W], upsampled to H×W). Not collective. The
  /// model should be in eval mode; guided methods switch its activation and restore
  /// MethodOptions::activation afterwards.
  virtual torch::Tensor attribute(models::Classifier& model, const torch::Tensor& x,
                                  const torch::Tensor& y, const torch::Tensor& keys) = 0;
};

/// Builds the method registered as `name` (see method_names()). Throws ConfigError naming the
/// method and listing the valid names for an unknown one, and naming the option for a bad value
/// (steps ≤ 0, samples ≤ 0, internal_batch ≤ 0, noise < 0, unknown baseline).
std::unique_ptr<Method> make_method(const std::string& name, const MethodOptions& opts);

/// The registered method names, in documentation order.
std::vector<std::string> method_names();

/// Sums a map over channels (SPEC §5's channel reduction): [B, C, H, W] -> [B, H, W].
torch::Tensor reduce_channels(const torch::Tensor& a);

}  // namespace sfb::attribution
