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
/// APGD (apgd.cpp): "apgd-ce" (CE loss), "apgd-dlr" (DLR loss), "apgd-t" (targeted DLR over
/// min(o.targets, C − 1) target classes). Read o.norm, eps, steps, restarts, rho, seed (and targets
/// for apgd-t); ConfigError for eps ≤ 0, steps < 1, restarts < 1, rho outside (0, 1], targets < 1.
std::unique_ptr<Attack> make_apgd_ce(const AttackOptions& o);
/// "apgd-dlr": APGD on the untargeted DLR loss (C ≥ 3).
std::unique_ptr<Attack> make_apgd_dlr(const AttackOptions& o);
/// "apgd-t": APGD on the targeted DLR loss, targets = the top non-true clean logits (C ≥ 4).
std::unique_ptr<Attack> make_apgd_t(const AttackOptions& o);
/// fab.cpp: targeted FAB ("fab-t"); reads norm, eps, steps, restarts, targets, seed.
std::unique_ptr<Attack> make_fab_t(const AttackOptions& opts);
/// square.cpp: Square Attack ("square", AutoAttack's schedule in raw iterations); reads norm, eps,
/// queries, p_init, restarts, seed.
std::unique_ptr<Attack> make_square(const AttackOptions& opts);
/// square.cpp: Square Attack with the schedule rescaled to the query budget ("square-rescaled").
std::unique_ptr<Attack> make_square_rescaled(const AttackOptions& opts);
}  // namespace sfb::attacks::detail
