#pragma once
#include <torch/torch.h>

#include "attribution/method.hpp"
#include "models/classifier.hpp"

namespace sfb::attribution {

/// Layer-wise integrated gradients (paper 003, Fig. 5) of the hidden layer L = o.ig_layer (empty =
/// the last layer before "features"): with activations a_x = A_L(x), a_b = A_L(b) for the baseline
/// b that integrated gradients uses (o.baseline: zeros, or N(0,1) keyed by (o.seed, keys[i])),
/// (a_x − a_b) ⊙ (1/m) Σ_k ∂z_y/∂a_k at a_k = a_b + α_k (a_x − a_b), α_k = (k − ½)/m, m = o.steps,
/// where z_y is computed with L's output replaced by a_k (Classifier::forward_replaced). Its sum
/// approaches z_y(x) − z_y(b) as m grows (completeness). Rows (images × steps) are processed in
/// chunks of o.internal_batch.
/// x: [B, C, H, W] float32/float64 in [0, 1] on the model's device; y: [B] int64; keys: [B] int64
/// -> the layer's output shape for x ([B, K, h, w] for a block, [B, k] for "features"), detached,
/// in x's dtype. Throws ConfigError for bad options, an unknown layer (listing the valid ones) or
/// a model without a layer before "features" when o.ig_layer is empty. Not collective.
torch::Tensor layer_integrated_gradients(models::Classifier& model, const torch::Tensor& x,
                                         const torch::Tensor& y, const torch::Tensor& keys,
                                         const MethodOptions& o);

}  // namespace sfb::attribution
