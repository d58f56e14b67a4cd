#include "core/rng.hpp"

#include <torch/torch.h>

namespace sfb {
namespace {
// SplitMix64 finalizer (Steele, Lea, Flood 2014): a bijective 64-bit mixer.
uint64_t mix64(uint64_t z) {
  z += 0x9E3779B97F4A7C15ULL;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}
}  // namespace

void seed_everything(uint64_t seed) { torch::manual_seed(seed); }

uint64_t derive_seed(uint64_t seed, std::initializer_list<uint64_t> keys) {
  uint64_t h = mix64(seed);
  // Absorb each key into the running state; h is already mixed, so (seed, key) pairs are not
  // interchangeable (mixing both sides before the XOR would make the result symmetric in them).
  for (uint64_t k : keys) h = mix64(h ^ k);
  return h;
}

}  // namespace sfb
