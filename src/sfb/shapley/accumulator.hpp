#pragma once
#include <torch/types.h>

#include <cstdint>

#include "comm/communicator.hpp"

namespace sfb::shapley {

/// The dataset-level SF statistics of SPEC §2 (all float64, on the CPU).
struct SfStatistics {
  int64_t n = 0;                 ///< samples evaluated (all ranks)
  int64_t k = 0;                 ///< neurons
  int64_t correct = 0;           ///< clean samples classified correctly
  double accuracy = 0;           ///< correct / n
  torch::Tensor global_shapley;  ///< C [k]: C_i = (1/n) Σ_x c_i(x)
  torch::Tensor sorted;          ///< C sorted descending [k] (paper 000 Fig. 6)
  torch::Tensor per_class;       ///< [num_classes, k]: C over the samples of each label; NaN rows
                                 ///< for classes without samples
  torch::Tensor class_count;     ///< [num_classes] int64 samples per label
  torch::Tensor per_class_sf;    ///< [num_classes] SF of each per_class row; NaN when empty
  double sf = 0;                 ///< SF(g): population standard deviation of C (Eq. 13)
  torch::Tensor bootstrap_sf;    ///< [R] SF of each Poisson bootstrap replicate (NaN: zero weight)
  double ci_level = 0.95;        ///< coverage of [ci_low, ci_high]
  double ci_low = 0, ci_high = 0;  ///< percentile interval of bootstrap_sf (NaN when R = 0)
  double bootstrap_se = 0;  ///< standard deviation of the finite bootstrap_sf (NaN when R < 2)
  /// mean(bootstrap_sf) − sf. SF is biased upward by sampling noise in C (noise adds variance
  /// across neurons), and resampling adds that noise again, so for small n or nearly equal C_i the
  /// percentile interval can sit above sf; a bias comparable to sf − ci_low says so.
  double bootstrap_bias = 0;
};

/// SF of each row of `c`: [..., k] -> [...], the population standard deviation over the last axis
/// (Eq. 13: sqrt((1/k) Σ_i (C_i − m)²)). float64 in, float64 out.
torch::Tensor sf_of(const torch::Tensor& c);

/// Running float64 sums of one rank's samples for SF (DESIGN.md "Accumulator"): Σ c, per-class
/// Σ c and counts, the Poisson-bootstrap weighted sums Σ w_b(x) c(x) and Σ w_b(x), and the number
/// of correct predictions. The sums live on the device of the values added; reduce() combines all
/// ranks with one all-reduce, so N ranks give what one rank with every sample gives (up to float64
/// rounding), and the bootstrap weights depend only on (seed, global index, replicate).
class SfAccumulator {
 public:
  /// k neurons, `num_classes` labels, `replicates` bootstrap replicates (0 disables the CI),
  /// `ci_level` in (0, 1), `seed` of the bootstrap stream; sums on `device`.
  SfAccumulator(int64_t k, int64_t num_classes, int64_t replicates, double ci_level, uint64_t seed,
                const torch::Device& device);

  /// c: [B, k] any float dtype on the accumulator's device; labels: [B] int64 in [0, num_classes)
  /// on the same device; index: [B] int64 global sample indices (any device); correct: [B] bool.
  void add(const torch::Tensor& c, const torch::Tensor& labels, const torch::Tensor& index,
           const torch::Tensor& correct);
  /// Samples added on this rank.
  int64_t count() const { return count_; }
  /// All-reduces every sum through `comm` (one collective of k·(C+R+1) + C + R + 2 doubles; every
  /// rank calls it) and returns the statistics, identical on every rank.
  SfStatistics reduce(comm::Communicator& comm) const;

 private:
  int64_t k_, classes_, replicates_;
  double ci_level_;
  uint64_t seed_;
  torch::Tensor sum_;          // [k]
  torch::Tensor class_sum_;    // [C, k]
  torch::Tensor class_count_;  // [C]
  torch::Tensor boot_sum_;     // [R, k]
  torch::Tensor boot_weight_;  // [R]
  int64_t count_ = 0;
  torch::Tensor correct_;  // [] float64 on the device: counted without a host wait per batch
};

}  // namespace sfb::shapley
