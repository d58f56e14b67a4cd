#pragma once
#include <memory>

#include "attacks/attack.hpp"

// Factory of each attack file, collected by registry.cpp. One line per attack file.
namespace sfb::attacks::detail {
/// fab.cpp: targeted FAB ("fab-t"); reads norm, eps, steps, restarts, targets, seed.
std::unique_ptr<Attack> make_fab_t(const AttackOptions& opts);
/// square.cpp: Square Attack ("square"); reads norm, eps, queries, p_init, restarts, seed.
std::unique_ptr<Attack> make_square(const AttackOptions& opts);
}  // namespace sfb::attacks::detail
