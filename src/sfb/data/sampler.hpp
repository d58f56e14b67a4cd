#pragma once
#include <cstdint>
#include <vector>

#include "core/partition.hpp"

namespace sfb::data {

/// Evaluation sampler: rank r of W owns the contiguous, balanced shard balanced_range(n, W, r) of
/// the global indices [0, n) (the first n % W ranks hold one more sample) and walks it in order,
/// in batches of `batch_size`; the last batch of a shard may be shorter. Over all ranks every index
/// appears exactly once: nothing is padded, dropped or duplicated. Ranks may run different numbers
/// of batches (at most one apart), so per-batch collectives must not be issued in the batch loop.
class ShardSampler {
 public:
  /// Throws ConfigError for n < 0, batch_size < 1, world < 1 or rank outside [0, world).
  ShardSampler(int64_t n, int world, int rank, int64_t batch_size);

  /// This rank's shard of global indices.
  Range shard() const { return shard_; }
  /// ceil(shard().count / batch_size); 0 for an empty shard.
  int64_t num_batches() const;
  /// The global indices of batch b in [0, num_batches()), ascending (throws ConfigError otherwise).
  std::vector<int64_t> batch(int64_t b) const;
  /// Global batch size argument.
  int64_t batch_size() const { return batch_size_; }

 private:
  Range shard_;
  int64_t batch_size_;
};

/// Training sampler: each epoch shuffles [0, n) with a permutation drawn from
/// derive_seed(seed, {epoch}), identical on every rank (all ranks pass the same seed). Step s of
/// an epoch uses the global minibatch perm[s*W*B, (s+1)*W*B) of W*B samples (W ranks, B =
/// per-rank batch size), of which rank r takes the contiguous slice perm[(s*W + r)*B, +B). So
/// W ranks at step s see exactly the samples one rank with batch W*B would see.
///
/// Remainder rule: every epoch has steps_per_epoch() = floor(n / (W*B)) steps, the same on every
/// rank, every step has exactly B samples per rank, and the last n mod (W*B) entries of each
/// epoch's permutation are skipped (a different random set each epoch). When n < W*B an epoch has
/// no steps.
class TrainSampler {
 public:
  /// Throws ConfigError for n < 0, batch_size < 1, world < 1 or rank outside [0, world).
  TrainSampler(int64_t n, int world, int rank, int64_t batch_size, uint64_t seed);

  /// floor(n / (world * batch_size)), the same on every rank.
  int64_t steps_per_epoch() const;
  /// Samples skipped per epoch: n mod (world * batch_size).
  int64_t dropped_per_epoch() const;
  /// The epoch's permutation of [0, n) (Fisher-Yates driven by derive_seed(seed, {epoch})).
  std::vector<int64_t> permutation(int64_t epoch) const;
  /// This rank's batch_size global indices for `step` in [0, steps_per_epoch()) of `epoch`
  /// (throws ConfigError otherwise). Recomputes the permutation; use epoch_batches() in loops.
  std::vector<int64_t> batch(int64_t epoch, int64_t step) const;
  /// This rank's batches for every step of `epoch`: [steps_per_epoch()][batch_size].
  std::vector<std::vector<int64_t>> epoch_batches(int64_t epoch) const;

 private:
  int64_t n_;
  int world_, rank_;
  int64_t batch_size_;
  uint64_t seed_;
};

}  // namespace sfb::data
