#include "data/sampler.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <numeric>
#include <utility>

#include "core/counter_rng.hpp"
#include "core/error.hpp"
#include "core/rng.hpp"

namespace sfb::data {
namespace {

void check_args(const char* who, int64_t n, int world, int rank, int64_t batch_size) {
  if (n < 0 || batch_size < 1 || world < 1 || rank < 0 || rank >= world) {
    throw ConfigError(fmt::format("{}: invalid arguments n={} world={} rank={} batch_size={}", who,
                                  n, world, rank, batch_size));
  }
}

}  // namespace

ShardSampler::ShardSampler(int64_t n, int world, int rank, int64_t batch_size)
    : batch_size_(batch_size) {
  check_args("ShardSampler", n, world, rank, batch_size);
  shard_ = balanced_range(n, world, rank);
}

int64_t ShardSampler::num_batches() const { return (shard_.count + batch_size_ - 1) / batch_size_; }

std::vector<int64_t> ShardSampler::batch(int64_t b) const {
  if (b < 0 || b >= num_batches()) {
    throw ConfigError(fmt::format("ShardSampler: batch {} outside [0, {})", b, num_batches()));
  }
  const int64_t begin = shard_.begin + b * batch_size_;
  const int64_t end = std::min(begin + batch_size_, shard_.end());
  std::vector<int64_t> out(static_cast<size_t>(end - begin));
  std::iota(out.begin(), out.end(), begin);
  return out;
}

TrainSampler::TrainSampler(int64_t n, int world, int rank, int64_t batch_size, uint64_t seed)
    : n_(n), world_(world), rank_(rank), batch_size_(batch_size), seed_(seed) {
  check_args("TrainSampler", n, world, rank, batch_size);
}

int64_t TrainSampler::steps_per_epoch() const { return n_ / (world_ * batch_size_); }

int64_t TrainSampler::dropped_per_epoch() const { return n_ % (world_ * batch_size_); }

std::vector<int64_t> TrainSampler::permutation(int64_t epoch) const {
  std::vector<int64_t> perm(static_cast<size_t>(n_));
  std::iota(perm.begin(), perm.end(), 0);
  CounterRng rng(derive_seed(seed_, {static_cast<uint64_t>(epoch)}));
  for (int64_t i = n_ - 1; i > 0; --i) {
    const auto j = static_cast<size_t>(rng.below(static_cast<uint64_t>(i + 1)));
    std::swap(perm[static_cast<size_t>(i)], perm[j]);
  }
  return perm;
}

std::vector<int64_t> TrainSampler::batch(int64_t epoch, int64_t step) const {
  if (step < 0 || step >= steps_per_epoch()) {
    throw ConfigError(
        fmt::format("TrainSampler: step {} outside [0, {})", step, steps_per_epoch()));
  }
  const auto perm = permutation(epoch);
  const int64_t begin = (step * world_ + rank_) * batch_size_;
  return std::vector<int64_t>(perm.begin() + begin, perm.begin() + begin + batch_size_);
}

std::vector<std::vector<int64_t>> TrainSampler::epoch_batches(int64_t epoch) const {
  const auto perm = permutation(epoch);
  std::vector<std::vector<int64_t>> out;
  out.reserve(static_cast<size_t>(steps_per_epoch()));
  for (int64_t s = 0; s < steps_per_epoch(); ++s) {
    const int64_t begin = (s * world_ + rank_) * batch_size_;
    out.emplace_back(perm.begin() + begin, perm.begin() + begin + batch_size_);
  }
  return out;
}

}  // namespace sfb::data
