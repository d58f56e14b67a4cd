#pragma once
#include <torch/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "attribution/agreement.hpp"
#include "attribution/config.hpp"
#include "attribution/method.hpp"
#include "comm/communicator.hpp"
#include "core/device.hpp"
#include "core/partition.hpp"
#include "data/dataset.hpp"
#include "models/classifier.hpp"

namespace sfb::attribution {

/// Dataset-level results of one method (SPEC §5; papers 002 Tables 6–7, 003 Fig. 4). Means are
/// over all evaluated images; standard errors are the sample SD / sqrt(count).
struct MethodStatistics {
  std::string method;
  double gini = 0, gini_stderr = 0;                    ///< global Gini
  double gini_regional = 0, gini_regional_stderr = 0;  ///< regional Gini (r×r regions)
  torch::Tensor gini_by_class;           ///< [C] float64 mean Gini per label (NaN: no image)
  torch::Tensor gini_regional_by_class;  ///< [C] float64
  torch::Tensor count_by_class;          ///< [C] int64 images per label
  /// SNR in dB by confidence group (low, intermediate, high) over images with a finite SNR:
  /// [3] float64 mean and stderr, [3] int64 count; undefined without masks.
  torch::Tensor snr_db_by_group, snr_db_stderr_by_group, snr_count_by_group;
  double snr_db = 0, snr_db_stderr = 0;  ///< over all groups (NaN without masks)
  /// Inductive noise (paper 002 §3.2.1): error rates over the correctly classified images, one per
  /// AttributionConfig::top_pixels value (empty when attribution.noise is off).
  std::vector<Rate> noise1, noise2;
  /// Inductive occlusion (Algorithm 1): one error rate per AttributionConfig::occlusion_colors.
  std::vector<Rate> occlusion;
};

/// Spearman agreement of two methods' maps of the same images (paper 003).
struct PairAgreement {
  std::string a, b;  ///< method names (a before b in AttributionConfig::methods)
  MeanCi spearman;   ///< over images where both maps are non-constant
};

/// Everything the stage reduces across ranks.
struct AttributionStatistics {
  int64_t n = 0;                          ///< images evaluated
  int64_t correct = 0;                    ///< of which correctly classified
  bool masks = false;                     ///< SNR computed
  std::vector<MethodStatistics> methods;  ///< in AttributionConfig::methods order
  /// Random-pixel controls of the inductive noise at the same pixel counts (method-independent).
  std::vector<Rate> random_noise1, random_noise2;
  std::vector<PairAgreement> agreement;  ///< every pair of methods (attribution.agreement)
};

/// One rank's attribution stage (SPEC §5). Per batch: predictions and confidences, then for every
/// method the map of t(x, y) = z_y (ground-truth logit), reduced over channels, its global and
/// regional Gini, — when the batch has masks — its foreground SNR, and the inductive attacks on
/// the correctly classified images: Noise-I/II on the T pixels of largest |map| (and once per
/// batch the random-pixel controls, with the same noise draws), and Algorithm 1's occlusion per
/// colour ranked by the regional sums of |map|. With several methods, the Spearman correlation of
/// every pair of maps. Maps of the images in saved_map_indices() are kept. Randomness is keyed by
/// the global image index, so results do not depend on ranks or batch sizes. Per-image values are
/// kept for the results file; sums are float64. Only reduce() is collective.
class AttributionStage {
 public:
  /// Casts `model` to cfg.dtype and puts it in eval mode. `cfg` must be resolved
  /// (resolve_config). `num_classes`: C of the per-class summaries. `with_masks`: every batch
  /// carries foreground masks (Dataset::has_masks(); the same on every rank) and SNR is computed.
  /// `n_images`, `image_shape`: size of the dataset (for saved_map_indices()) and its {C, H, W}.
  AttributionStage(models::Classifier& model, const AttributionConfig& cfg, int64_t num_classes,
                   bool with_masks, uint64_t seed, const torch::Device& device, int64_t batch_size,
                   int64_t n_images, const std::vector<int64_t>& image_shape);
  /// Every method's channel-reduced map of `batch` ([B, H, W] each, in cfg.methods order, on the
  /// stage's device, stage dtype); what add() computes, without recording anything.
  std::vector<torch::Tensor> maps(const data::Batch& batch);
  /// Checks on the first image of `batch` that the layers the methods use (attribution.layer for
  /// the Grad-CAMs, attribution.ig_layer for layer-wise IG) exist and are convolutional feature
  /// maps; ConfigError naming the key otherwise. Call before creating the results file.
  void check_layers(const data::Batch& batch);
  /// Processes one batch as Dataset::get returns it; batches in ascending global index order.
  void add(const data::Batch& batch);
  /// Walks `shard` of `ds` in batches of the stage's batch size; rank 0 shows progress.
  void run_shard(const data::Dataset& ds, const Range& shard, bool show_progress);
  /// The dataset-level statistics. Collective: one all-reduce of float64 sums.
  AttributionStatistics reduce(comm::Communicator& comm) const;

  const AttributionConfig& config() const { return cfg_; }
  /// This rank's per-image columns in shard order (CPU): index, label, pred [n_local] int64;
  /// confidence (softmax probability of the prediction) [n_local] float64.
  torch::Tensor index() const;
  torch::Tensor labels() const;
  torch::Tensor preds() const;
  torch::Tensor confidence() const;
  /// Per-image values of method `m` (position in cfg.methods), [n_local] float64: global Gini,
  /// regional Gini, SNR in dB (undefined without masks).
  torch::Tensor gini(size_t m) const;
  torch::Tensor gini_regional(size_t m) const;
  torch::Tensor snr_db(size_t m) const;
  /// Inductive noise flags of method m, [n_local, T] uint8: 1 where the correctly classified image
  /// is misclassified after the attack (0 otherwise, and for misclassified clean images).
  torch::Tensor noise1_flip(size_t m) const;
  torch::Tensor noise2_flip(size_t m) const;
  /// The random-pixel controls, [n_local, T] uint8.
  torch::Tensor random_noise1_flip() const;
  torch::Tensor random_noise2_flip() const;
  /// Occlusion of method m with colour k (position in cfg.occlusion_colors): flags [n_local]
  /// uint8, and the count n and radius r of the first misclassifying patch set [n_local] int64
  /// (0 = none or not attacked).
  torch::Tensor occlusion_flip(size_t m, size_t k) const;
  torch::Tensor occlusion_count(size_t m, size_t k) const;
  torch::Tensor occlusion_radius(size_t m, size_t k) const;
  /// The method pairs (i < j) of the agreement, and the per-image Spearman ρ of pair p [n_local]
  /// float64 (NaN where a map is constant).
  const std::vector<std::pair<size_t, size_t>>& pairs() const { return pairs_; }
  torch::Tensor spearman(size_t p) const;
  /// The saved maps on this rank: their global indices [k_local] int64 (ascending) and method m's
  /// maps [k_local, H, W] float32.
  torch::Tensor map_index() const;
  torch::Tensor saved_maps(size_t m) const;
  /// Row of this rank's first saved map among all ranks' saved maps (0 when it has none).
  int64_t map_offset() const;
  /// Number of maps saved over all ranks (saved_map_indices().size()).
  int64_t saved_map_count() const { return static_cast<int64_t>(save_.size()); }
  /// Columns of the noise flags: the number of top-pixel counts (0 with attribution.noise off).
  int64_t top_count() const {
    return cfg_.noise ? static_cast<int64_t>(cfg_.top_pixels.size()) : 0;
  }
  /// True when SNR is computed (the constructor's `with_masks`).
  bool has_masks() const { return with_masks_; }
  /// Seconds of device work in add() on this rank (DeviceClock). Waits for the device.
  double device_seconds() { return clock_.seconds(); }

 private:
  models::Classifier& model_;
  AttributionConfig cfg_;
  int64_t num_classes_;
  torch::ScalarType dtype_;
  torch::Device device_;
  int64_t batch_size_;
  std::vector<std::unique_ptr<Method>> methods_;
  std::vector<torch::Tensor> index_, labels_, preds_, conf_;
  std::vector<std::vector<torch::Tensor>> gini_, regional_, snr_;
  std::vector<std::vector<torch::Tensor>> noise1_, noise2_;  // [method][batch] -> [b, T] uint8
  std::vector<torch::Tensor> rnoise1_, rnoise2_;
  // [method][colour][batch] -> [b]
  std::vector<std::vector<std::vector<torch::Tensor>>> occl_flip_, occl_count_, occl_radius_;
  std::vector<std::pair<size_t, size_t>> pairs_;
  std::vector<std::vector<torch::Tensor>> rho_;  // [pair][batch]
  std::vector<int64_t> save_;                    // saved_map_indices()
  std::vector<int64_t> image_shape_;
  std::vector<torch::Tensor> map_index_;
  std::vector<std::vector<torch::Tensor>> saved_;  // [method][batch]
  uint64_t seed_;
  bool with_masks_;
  DeviceClock clock_;
  mutable bool pending_ = false;  // host copies started by add() and not yet awaited
  /// Waits for the host copies add() started (no-op when none is pending).
  void settle() const;
};

}  // namespace sfb::attribution
