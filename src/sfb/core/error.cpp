#include "core/error.hpp"

namespace sfb::detail {

void assert_fail(const char* cond, const std::string& msg, const char* file, int line) {
  throw Error(std::string("internal invariant violated: ") + cond + " (" + msg + ") at " + file +
              ":" + std::to_string(line));
}

}  // namespace sfb::detail
