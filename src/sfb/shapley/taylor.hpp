#pragma once
#include <torch/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "models/classifier.hpp"
#include "shapley/target.hpp"

namespace sfb::shapley {

/// How per-sample Taylor Shapley values are taken.
struct ProbeOptions {
  std::string layer =
      "features";  ///< a name of Classifier::layer_names(); "features" = penultimate
  Target target = Target::kLogit;
  /// Use the closed form c = a ⊙ W[class] when the layer is "features", the head is linear
  /// (Classifier::linear_head()) and the target is linear in the logits; false forces autograd.
  bool fast_path = true;
};

/// What ShapleyProbe::compute returns for one batch (tensors detached, on the model's device).
struct ProbeOutput {
  torch::Tensor c;       ///< [B, k] per-sample Taylor Shapley values c_i(x), the model's dtype
  torch::Tensor logits;  ///< [B, C] clean logits
};

/// Per-sample Taylor Shapley values of the neurons of one layer (SPEC §2, paper 000 Eq. 11):
/// c_i(x) = a_i(x) · ∂t/∂a_i(x). For a convolutional layer the channels are the neurons and the
/// products are summed over the spatial positions. The model must be in eval mode (samples of a
/// batch must not interact, so one backward of Σ_x t(x) gives every sample's gradient).
///
/// Cost: for "features" the network runs forward once without a graph and only the head is
/// differentiated (or nothing, on the fast path); for an inner layer one forward with a graph and
/// one backward from the logits to that layer (no weight gradients are computed).
class ShapleyProbe {
 public:
  /// Checks the layer name (ConfigError listing Classifier::layer_names()) and finds k with one
  /// probe forward of a zero image of `image_shape` ({C, H, W}) in `dtype` on `device`.
  ShapleyProbe(models::Classifier& model, const ProbeOptions& opts,
               const std::vector<int64_t>& image_shape, torch::ScalarType dtype,
               const torch::Device& device);

  /// images: [B, C, H, W] in [0, 1], the model's dtype and device; labels: [B] int64 on the same
  /// device; index: [B] int64 (CPU) global sample indices, used only to name a sample in errors.
  /// Throws DataError naming the first global sample index whose activations, logits or Shapley
  /// values are NaN or infinite, and DataError for a label outside [0, num_classes()).
  /// `host_labels`: the same labels on the host, when the caller has them; the label check then
  /// runs on them before anything is queued (else on a copy of `labels`, a wait for the device).
  /// The finiteness checks wait for the device once per call.
  ProbeOutput compute(const torch::Tensor& images, const torch::Tensor& labels,
                      const torch::Tensor& index, const torch::Tensor& host_labels = {});

  /// k: neurons of the probed layer.
  int64_t num_neurons() const { return k_; }
  /// True when compute() uses the linear-head closed form.
  bool uses_fast_path() const { return fast_; }
  const ProbeOptions& options() const { return opts_; }

 private:
  // Both set `act` to the probed layer's activations (checked for finiteness by compute()).
  ProbeOutput compute_features(const torch::Tensor& images, const torch::Tensor& labels,
                               torch::Tensor& act);
  ProbeOutput compute_tapped(const torch::Tensor& images, const torch::Tensor& labels,
                             torch::Tensor& act);

  models::Classifier& model_;
  ProbeOptions opts_;
  int64_t k_ = 0;
  bool fast_ = false;
};

/// Sums neuron products over the spatial axes: a·g [B, k, ...] -> [B, k] (identity for 2-D).
torch::Tensor sum_over_space(const torch::Tensor& prod);

}  // namespace sfb::shapley
