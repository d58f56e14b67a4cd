#include "core/partition.hpp"

#include <string>

#include "core/error.hpp"

namespace sfb {

Range balanced_range(int64_t n, int world, int rank) {
  if (n < 0 || world < 1 || rank < 0 || rank >= world) {
    throw Error("balanced_range: invalid arguments n=" + std::to_string(n) +
                " world=" + std::to_string(world) + " rank=" + std::to_string(rank));
  }
  const int64_t base = n / world;
  const int64_t extra = n % world;
  Range r;
  r.count = base + (rank < extra ? 1 : 0);
  r.begin = rank * base + (rank < extra ? rank : extra);
  return r;
}

}  // namespace sfb
