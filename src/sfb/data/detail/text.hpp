#pragma once
#include <cstdint>
#include <istream>
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

/// Calls `fn(line_number, text)` for every line of `in` that is not blank or a `#` comment, with
/// `text` trimmed; line numbers start at 1 and count every line (for error messages).
template <class Fn>
void for_each_content_line(std::istream& in, Fn&& fn) {
  std::string line;
  int64_t line_no = 0;
  while (std::getline(in, line)) {
    ++line_no;
    const std::string t = trim(line);
    if (t.empty() || t[0] == '#') continue;
    fn(line_no, t);
  }
}

}  // namespace sfb::data::detail
