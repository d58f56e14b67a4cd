#pragma once
#include <cstdint>

namespace sfb {

/// A half-open range [begin, begin + count) of global sample indices.
struct Range {
  int64_t begin = 0;
  int64_t count = 0;
  int64_t end() const { return begin + count; }
};

/// The contiguous, balanced share of [0, n) owned by `rank` of `world` ranks: the first n % world
/// ranks get one extra element. Shares cover [0, n) exactly once, in rank order; ranks beyond n get
/// empty ranges. Throws sfb::Error for n < 0, world < 1 or rank outside [0, world).
Range balanced_range(int64_t n, int world, int rank);

}  // namespace sfb
