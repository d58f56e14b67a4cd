#pragma once
#include <cstdint>

namespace sfb {

/// A small, fast pseudo-random stream (SplitMix64) whose output depends only on its 64-bit start
/// state, so every rank and platform draws identical numbers from identical keys. Seed it with
/// sfb::derive_seed(seed, {...}); not for cryptographic use.
class CounterRng {
 public:
  /// A stream starting from `state` (typically a derive_seed output).
  explicit CounterRng(uint64_t state) : state_(state) {}

  /// The next 64 uniformly distributed bits.
  uint64_t next() {
    uint64_t z = (state_ += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
  }

  /// A double uniform in [0, 1) with 53 random bits.
  double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }

  /// A double uniform in [lo, hi).
  double uniform(double lo, double hi) { return lo + (hi - lo) * uniform(); }

  /// A float uniform in [0, 1) with 24 random bits (cheap per-pixel noise).
  float uniform_float() { return static_cast<float>(next() >> 40) * 0x1.0p-24f; }

  /// An integer uniform in [0, n) for n >= 1, without modulo bias (rejection sampling).
  uint64_t below(uint64_t n) {
    const uint64_t limit = ~uint64_t{0} - (~uint64_t{0} % n);
    uint64_t x = next();
    while (x >= limit) x = next();
    return x % n;
  }

 private:
  uint64_t state_;
};

}  // namespace sfb
