#pragma once
#include <memory>

#include "attacks/attack.hpp"

// Factory of each attack file, collected by registry.cpp. One line per attack file.
namespace sfb::attacks::detail {
}  // namespace sfb::attacks::detail
