#pragma once
#include <cstdint>
#include <initializer_list>

namespace sfb {

/// Seeds LibTorch's default CPU (and, when present, CUDA) generators with `seed`. Call once per
/// process before any random operation; every rank passes the same seed.
void seed_everything(uint64_t seed);

/// A 64-bit seed derived from `seed` and a list of keys (e.g. {global sample index, stream id})
/// by repeated SplitMix64 mixing. Equal inputs give equal outputs on every rank and platform, so
/// per-sample randomness keyed by global index does not depend on how samples are sharded.
uint64_t derive_seed(uint64_t seed, std::initializer_list<uint64_t> keys);

}  // namespace sfb
