#pragma once
#include <torch/types.h>

#include "attacks/attack.hpp"

namespace sfb::attacks {

/// Accuracy at ε of a minimal-perturbation attack ("cw-l2"): [B] bool, true where the sample is
/// robust at radius eps, i.e. out.norm > eps. This relies on cw-l2's norm convention: the L2 norm
/// of the smallest adversarial found, +inf when none was found, and 0 for samples misclassified
/// when clean (x_adv = x), so a misclassified sample is never robust. Same device as out.norm.
/// For bounded attacks (fgsm, pgd, ...) use out.robust instead.
torch::Tensor robust_at(const AttackOutput& out, double eps);

}  // namespace sfb::attacks
