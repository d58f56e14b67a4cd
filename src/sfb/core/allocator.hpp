#pragma once
#include <cstddef>
#include <string>

namespace sfb {

/// glibc malloc settings sfbench applies at start-up (Context::configure), because LibTorch's CPU
/// allocator takes every tensor straight from malloc. By default glibc serves a request above its
/// mmap threshold (at most 32 MiB) with a fresh mmap and unmaps it on free, and trims the heap top
/// when 128 KiB are free: a batch of activations (a cnn-small conv output at batch 256 is 32 MiB)
/// then costs a round of page faults and zeroing on every forward pass. With a 1 GiB mmap
/// threshold and trim threshold, freed activation buffers stay in the heap and the next batch
/// reuses them (2–2.5× the features-forward throughput of cnn-small at batch 256 on a 2-core VM;
/// bench/results/README.md). The price: the process keeps its peak heap until it exits (RSS does
/// not shrink after a large batch), the usual trade of a caching allocator.
struct AllocatorSettings {
  std::size_t mmap_threshold = std::size_t{1} << 30;  ///< bytes; above it, mmap
  std::size_t trim_threshold = std::size_t{1} << 30;  ///< bytes of free heap top before trimming
};

/// Applies `s` through mallopt and returns a description ("glibc mallopt: mmap_threshold=...,
/// trim_threshold=..."). Environment: SFB_MALLOC=default leaves glibc's defaults (and glibc's own
/// MALLOC_* tunables) alone and returns "glibc defaults (SFB_MALLOC=default)". Throws Error if
/// mallopt refuses a value.
std::string tune_allocator(const AllocatorSettings& s = {});

}  // namespace sfb
