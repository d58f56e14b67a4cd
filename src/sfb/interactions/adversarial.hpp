#pragma once
#include <torch/types.h>

#include <cstdint>

#include "models/classifier.hpp"

namespace sfb::interactions {

/// The utility-controlled linf PGD of SPEC §4 (paper 001 §4.1 and its reference code).
struct UtilityPgdOptions {
  double eps = 32.0 / 255;  ///< linf radius
  double step = 2.0 / 255;  ///< initial step α
  int64_t max_steps = 100;  ///< steps per sample at most
  double target = 8.0;      ///< attacking utility to reach: z_y(x) − z_y(x')
  double tolerance = 0.5;   ///< a sample stops once |utility − target| ≤ tolerance
};

/// Adversarial examples and how far each got.
struct UtilityPgdResult {
  torch::Tensor x_adv;    ///< [B, C, H, W] like x, in the ε-ball around x and in [0, 1]
  torch::Tensor utility;  ///< [B] float64 on x's device: z_y(x) − z_y(x_adv)
  torch::Tensor reached;  ///< [B] bool on x's device: |utility − target| ≤ tolerance
  torch::Tensor steps;    ///< [B] int64 on x's device: gradient steps taken (accepted or not)
};

/// Per sample: x' ← Π(x' − α·sign(∇ z_y(x'))) from x' = x (no random start, so the result depends
/// only on the sample). A step that would push the utility above target + tolerance is rejected
/// and that sample's α halved; a sample stops once its utility is within the tolerance, or after
/// max_steps steps. Only samples still running are evaluated (2 forwards + 1 backward per step;
/// on a GPU a sample that just stopped may be evaluated a few more steps, masked, because the host
/// learns which samples stopped without waiting for the device). The host never waits.
/// x: [B, C, H, W] in [0, 1] in the model's dtype and device; y: [B] int64 on that device.
/// Input gradients only; the model's parameters get no gradient. Not collective.
UtilityPgdResult utility_pgd(models::Classifier& model, const torch::Tensor& x,
                             const torch::Tensor& y, const UtilityPgdOptions& o);

}  // namespace sfb::interactions
