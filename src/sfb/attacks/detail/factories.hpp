#pragma once
#include <memory>

#include "attacks/attack.hpp"

// Factory of each attack file, collected by registry.cpp. One line per attack file.
namespace sfb::attacks::detail {
/// fgsm.cpp: "fgsm".
std::unique_ptr<Attack> make_fgsm(const AttackOptions& opts);
/// pgd.cpp: "pgd" (linf/l2, loss ce|cw).
std::unique_ptr<Attack> make_pgd(const AttackOptions& opts);
/// pgd.cpp: "cw-linf" (PGD with the CW margin loss, linf only).
std::unique_ptr<Attack> make_cw_linf(const AttackOptions& opts);
/// cw_l2.cpp: "cw-l2" (Carlini–Wagner L2, minimal perturbation).
std::unique_ptr<Attack> make_cw_l2(const AttackOptions& opts);
}  // namespace sfb::attacks::detail
