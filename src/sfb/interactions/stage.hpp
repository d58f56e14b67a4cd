#pragma once
#include <torch/types.h>

#include <cstdint>
#include <vector>

#include "comm/communicator.hpp"
#include "core/device.hpp"
#include "core/partition.hpp"
#include "data/dataset.hpp"
#include "interactions/accumulator.hpp"
#include "interactions/adversarial.hpp"
#include "interactions/config.hpp"
#include "interactions/players.hpp"
#include "interactions/sampler.hpp"
#include "models/classifier.hpp"

namespace sfb::interactions {

/// Multi-order interactions of one value function on one image (SPEC §4): per order, estimates
/// over pairs for each of Q target classes.
/// Orders m = n_p − 1 (φ only) have NaN in I and D.
struct GameEstimates {
  torch::Tensor I;  ///< [M, Q] float64: E_pairs E_S Δv
  /// [M, Q] float64: E_pairs of |E_S Δv| / E_S |Δv| (Eq. 4); sampled: the jackknife over the K
  /// contexts of each pair (disentanglement()); exact: the ratio over all subsets. NaN: no pair
  /// with Δv ≠ 0.
  torch::Tensor D;
  torch::Tensor phi;      ///< [M, Q] float64: E_i φ^(m)(i), or undefined without cfg.shapley
  torch::Tensor v_full;   ///< [Q] float64: v(N), the unmasked image
  torch::Tensor v_empty;  ///< [Q] float64: v(∅), every patch masked
};

/// The per-pair disentanglement |E_S Δv| / E_S |Δv| from K sampled contexts, with the small-K
/// bias of the plain ratio of means removed by the jackknife: K·R − (K − 1)·mean_k R₋ₖ, where R is
/// the ratio over all K contexts and R₋ₖ the ratio without context k. dv: [G, K, Q] float64 (G
/// groups, e.g. pair × order) -> [G, Q]. K = 1, or a group where some leave-one-out ratio is 0/0
/// (all other Δv zero), gives the plain ratio R; a group whose Δv are all zero gives NaN. The
/// jackknife value may leave [0, 1] by sampling noise (it is not clamped, so it stays unbiased to
/// first order).
torch::Tensor disentanglement(const torch::Tensor& dv);

/// One rank's interactions stage (DESIGN.md data flow "interactions"). Per image: clean logits,
/// optionally the utility-controlled PGD example, then for the clean and the adversarial image
/// the sampled (or, with cfg.exact, enumerated) estimates of every order, which go into an
/// InteractionAccumulator. Masked images are built and evaluated in blocks of at most
/// `batch_size` images, so memory does not grow with P·K. All randomness is keyed by (seed,
/// global image index, pair, order, context): results do not depend on ranks or batch sizes.
/// Only compute_baseline() and reduce() are collective.
class InteractionsStage {
 public:
  /// Casts `model` to cfg.dtype and puts it in eval mode. `image_shape`: {C, H, W}.
  InteractionsStage(models::Classifier& model, const ResolvedConfig& rc,
                    const std::vector<int64_t>& image_shape, uint64_t seed,
                    const torch::Device& device, int64_t batch_size);

  /// The baseline of masked patches from the evaluated images (all ranks' shards, float64 sums,
  /// one all-reduce): the per-channel mean (channel-mean) or the per-pixel mean image
  /// (pixel-mean). Collective.
  void compute_baseline(const data::Dataset& ds, const Range& shard, comm::Communicator& comm);
  /// Sets the baseline directly: [C, H, W] in [0, 1] (tests).
  void set_baseline(const torch::Tensor& baseline);
  /// The baseline in use: [C, H, W] (model dtype, device).
  const torch::Tensor& baseline() const { return baseline_; }

  /// Estimates for image x ([C, H, W], any device/dtype) with global index `index` and target
  /// classes `classes` ([Q] int64): sampled, or exact with cfg.exact. Not collective.
  GameEstimates estimate(const torch::Tensor& x, int64_t index, const torch::Tensor& classes);

  /// Processes one batch as Dataset::get returns it; batches in ascending global index order.
  void add(const data::Batch& batch);
  /// Walks `shard` of `ds` in batches of the stage's batch size; rank 0 shows progress.
  void run_shard(const data::Dataset& ds, const Range& shard, bool show_progress);
  /// The dataset-level statistics (collective: one all-reduce).
  InteractionStatistics reduce(comm::Communicator& comm) const { return acc_.reduce(comm); }

  const ResolvedConfig& config() const { return rc_; }
  /// This rank's per-image columns in shard order (CPU): index, label, pred (clean), adv_pred
  /// (−1 without the attack) [n_local] int64; utility [n_local] float64 (NaN without the attack).
  torch::Tensor index() const;
  torch::Tensor labels() const;
  torch::Tensor preds() const;
  torch::Tensor adv_preds() const;
  torch::Tensor utility() const;
  /// Per-image values [n_local, kNumRows, M] float64 (only with save_per_image; else undefined).
  torch::Tensor per_image() const;
  /// Per-image scalars [n_local, kNumScalars] float64 (only with save_per_image; else undefined).
  torch::Tensor per_image_scalars() const;
  /// Masked images this rank has put through the model.
  int64_t masked_forwards() const { return forwards_; }
  /// Seconds of device work in add() on this rank (DeviceClock). Waits for the device.
  double device_seconds() { return clock_.seconds(); }

 private:
  GameEstimates sampled(const torch::Tensor& x, int64_t index, const torch::Tensor& classes);
  GameEstimates exact(const torch::Tensor& x, const torch::Tensor& classes);
  torch::Tensor evaluate(const torch::Tensor& x, const torch::Tensor& members,
                         const torch::Tensor& classes);

  models::Classifier& model_;
  ResolvedConfig rc_;
  torch::ScalarType dtype_;
  torch::Device device_;
  uint64_t seed_;
  int64_t batch_size_;
  PlayerGrid grid_;
  PairSampling sampling_;
  std::vector<double> pair_weights_;
  UtilityPgdOptions pgd_;
  torch::Tensor baseline_;
  InteractionAccumulator acc_;
  std::vector<torch::Tensor> index_, labels_, preds_, adv_preds_, utility_, per_image_,
      per_image_scalars_;
  int64_t forwards_ = 0;
  DeviceClock clock_;
};

}  // namespace sfb::interactions
