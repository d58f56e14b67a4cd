#pragma once
#include <string>

namespace sfb::data::detail {

/// `s` without leading and trailing spaces, tabs, carriage returns and newlines (for the line-based
/// label and index files).
inline std::string trim(const std::string& s) {
  const auto b = s.find_first_not_of(" \t\r\n");
  if (b == std::string::npos) return "";
  const auto e = s.find_last_not_of(" \t\r\n");
  return s.substr(b, e - b + 1);
}

}  // namespace sfb::data::detail
