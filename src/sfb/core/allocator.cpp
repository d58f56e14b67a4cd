#include "core/allocator.hpp"

#include <malloc.h>

#include <cstdlib>

#include "core/error.hpp"

namespace sfb {

std::string tune_allocator(const AllocatorSettings& s) {
  const char* env = std::getenv("SFB_MALLOC");
  const std::string mode = env ? env : "";
  if (mode == "default") return "glibc defaults (SFB_MALLOC=default)";
  if (!mode.empty() && mode != "tuned") {
    throw ConfigError("SFB_MALLOC must be 'tuned' or 'default', got '" + mode + "'");
  }
  if (mallopt(M_MMAP_THRESHOLD, static_cast<int>(s.mmap_threshold)) != 1) {
    throw Error("mallopt(M_MMAP_THRESHOLD, " + std::to_string(s.mmap_threshold) + ") failed");
  }
  if (mallopt(M_TRIM_THRESHOLD, static_cast<int>(s.trim_threshold)) != 1) {
    throw Error("mallopt(M_TRIM_THRESHOLD, " + std::to_string(s.trim_threshold) + ") failed");
  }
  return "glibc mallopt: mmap_threshold=" + std::to_string(s.mmap_threshold) +
         ", trim_threshold=" + std::to_string(s.trim_threshold);
}

}  // namespace sfb
