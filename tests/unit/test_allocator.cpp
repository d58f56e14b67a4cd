// core/allocator: the mallopt settings take effect (a large block comes from the heap, not from a
// fresh mapping), SFB_MALLOC=default leaves glibc alone, and a bad SFB_MALLOC is a config error.
#include <gtest/gtest.h>
#include <malloc.h>

#include <cstdlib>
#include <cstring>

#include "core/allocator.hpp"
#include "core/error.hpp"

namespace sfb {
namespace {

constexpr std::size_t kBlock = std::size_t{48} << 20;  // above glibc's largest default threshold

/// Bytes glibc holds in mmapped blocks while a kBlock allocation is live.
std::size_t mapped_while_allocated() {
  void* p = std::malloc(kBlock);
  EXPECT_NE(p, nullptr);
  std::memset(p, 1, 4096);
  const std::size_t mapped = mallinfo2().hblkhd;
  std::free(p);
  return mapped;
}

// One test, in order: mallopt settings are process-wide and cannot be undone.
TEST(Allocator, DefaultThenTuned) {
  ::setenv("SFB_MALLOC", "bogus", 1);
  EXPECT_THROW(tune_allocator(), ConfigError);

  ::setenv("SFB_MALLOC", "default", 1);
  EXPECT_EQ(tune_allocator(), "glibc defaults (SFB_MALLOC=default)");
  const std::size_t before = mallinfo2().hblkhd;
  EXPECT_GE(mapped_while_allocated(), before + kBlock) << "glibc's default mmaps a 48 MiB block";

  ::unsetenv("SFB_MALLOC");
  const std::string desc = tune_allocator();
  EXPECT_NE(desc.find("mmap_threshold=1073741824"), std::string::npos) << desc;
  const std::size_t base = mallinfo2().hblkhd;
  EXPECT_LT(mapped_while_allocated(), base + kBlock) << "tuned: the block comes from the heap";
  // Freed, it stays in the heap (trim threshold) and serves the next request of the same size.
  const std::size_t heap = mallinfo2().arena;
  EXPECT_GE(heap, kBlock);
  mapped_while_allocated();
  EXPECT_EQ(mallinfo2().arena, heap);
}

}  // namespace
}  // namespace sfb
