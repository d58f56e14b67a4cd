#pragma once
#include <torch/torch.h>

#include <cstdint>
#include <functional>
#include <string>
#include <utility>

#include "attribution/method.hpp"
#include "models/classifier.hpp"

namespace sfb::attribution::detail {

/// The keyed-RNG stream of the N(0,1) baseline that integrated gradients and layer integrated
/// gradients draw (baseline = "gaussian"), shared so both methods draw the same baseline.
inline constexpr uint64_t kBaselineStream = 1;

/// ∇x z_y for many rows, in chunks of `chunk` rows. x: [N, C, H, W] float; y: [N] int64 on x's
/// device -> [N, C, H, W] gradients (detached).
torch::Tensor input_grad(models::Classifier& model, const torch::Tensor& x, const torch::Tensor& y,
                         int64_t chunk);

/// Σ_s w(i, s) · ∇x z_y(p(i, s)) over `per_image` samples s of every image i < B, computed in
/// chunks of `chunk` rows. make(img, smp) gets [n] int64 image and sample indices (on y's device)
/// and returns the points p [n, C, H, W] and the weights w [n, C, H, W] (undefined = 1); with
/// `abs_grad` the gradient's absolute value is used. y: [B] int64 -> [B, C, H, W] (detached).
torch::Tensor sample_sum(models::Classifier& model, const torch::Tensor& y, int64_t per_image,
                         int64_t chunk,
                         const std::function<std::pair<torch::Tensor, torch::Tensor>(
                             const torch::Tensor&, const torch::Tensor&)>& make,
                         bool abs_grad);

/// Standard normal noise for each image, drawn from a CPU generator seeded with (seed, stream,
/// keys[i]) so that the draw does not depend on which rank or batch holds the image.
/// keys: [B] int64 -> [B, per...] in `like`'s dtype and device, where `per` is the sample shape.
torch::Tensor keyed_normal(const torch::Tensor& keys, uint64_t seed, uint64_t stream,
                           torch::IntArrayRef per, const torch::Tensor& like);

/// Same, uniform on [0, 1).
torch::Tensor keyed_uniform(const torch::Tensor& keys, uint64_t seed, uint64_t stream,
                            torch::IntArrayRef per, const torch::Tensor& like);

/// Grad-CAM (Selvaraju et al.): ReLU(Σ_k mean_hw(∂z_y/∂A_k) A_k) for the activations A of
/// `layer` (empty = the last layer before "features"), upsampled bilinearly to x's H×W.
/// x: [B, C, H, W], y: [B] -> [B, 1, H, W] (detached), processed in chunks of `chunk` images.
torch::Tensor grad_cam(models::Classifier& model, const torch::Tensor& x, const torch::Tensor& y,
                       const std::string& layer, int64_t chunk);

/// `layer`, or when it is empty the model's last layer before "features" (the last
/// convolutional block). Throws ConfigError naming `key` for a model without such a layer.
std::string resolve_layer(const models::Classifier& model, const std::string& layer,
                          const std::string& key);

/// The layer Grad-CAM and layer-wise IG use when none is configured: the last of the model's
/// layers before "features" whose output for the probe x1 [1, C, H, W] is a spatial feature map
/// [1, K, h, w] with h·w > 1 (a global pool's [1, K, 1, 1] output, on which every Grad-CAM is
/// constant, is skipped). Throws ConfigError naming `key` when the model has no such layer.
std::string default_feature_map(models::Classifier& model, const torch::Tensor& x1,
                                const std::string& key);

/// Checks on one image `x1` [1, C, H, W] that `layer` (resolved as above) exists and is a
/// convolutional feature map [1, K, h, w]; ConfigError naming `key` otherwise. Used before a run
/// creates its results file.
void check_feature_map_layer(models::Classifier& model, const torch::Tensor& x1,
                             const std::string& layer, const std::string& key);

/// Switches the model to "guided-relu" for its lifetime, then back to `restore`.
class GuidedScope {
 public:
  GuidedScope(models::Classifier& model, std::string restore);
  ~GuidedScope();
  GuidedScope(const GuidedScope&) = delete;
  GuidedScope& operator=(const GuidedScope&) = delete;

 private:
  models::Classifier& model_;
  std::string restore_;
};

/// Checks the options every method shares; throws ConfigError naming the key.
void validate(const MethodOptions& o);

}  // namespace sfb::attribution::detail
