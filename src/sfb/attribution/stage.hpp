#pragma once
#include <torch/types.h>

#include <cstdint>
#include <map>
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

namespace sfb::comm {
class ReductionBuffer;
}  // namespace sfb::comm

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
  /// maps, and that the model can switch to guided ReLUs when a guided method runs; ConfigError
  /// naming the key or the model otherwise. Call before creating the results file.
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
  /// Per-image results on the host, by name (stage.cpp names them): each column is declared once
  /// with its dtype and the shape it reads as before any part, and gets one part per batch (the
  /// batch's images, or a subset of them, along dim 0).
  class Columns {
   public:
    /// Declares column `name`: read as `dtype`, and of shape `empty_shape` while it has no part.
    void declare(const std::string& name, torch::ScalarType dtype,
                 std::vector<int64_t> empty_shape = {0});
    /// Appends `part` (any device) to column `name`: its copy to the host as the column's dtype
    /// is started (to_host_async), not awaited.
    void append(const std::string& name, const torch::Tensor& part);
    /// Every part of column `name` in order, concatenated (cat_or_empty); complete once the
    /// copies have landed (settle()). std::out_of_range for a column not declared.
    torch::Tensor read(const std::string& name) const;

   private:
    struct Column {
      torch::ScalarType dtype;
      std::vector<int64_t> empty_shape;
      std::vector<torch::Tensor> parts;
    };
    std::map<std::string, Column> columns_;
  };
  /// One batch as add()'s analyses see it: its inputs on the device, and the correctly classified
  /// images the inductive attacks run on (stage.cpp).
  struct BatchState;

  // Each analysis is one section of stage.cpp: record_*() per batch (called by add(), in its
  // order), *_sums() adding its float64 sums to reduce()'s buffer and *_statistics() reading them
  // back after the all-reduce (called by reduce(), method by method, in the buffer's order; the
  // image and correct counts are reduce()'s own, the saved maps are not reduced).
  /// The predictions: the inputs on the device, predictions and confidences (recorded), and the
  /// correctly classified images. The host waits for the device here.
  BatchState record_predictions(const data::Batch& batch);
  /// Global and regional Gini, and with masks the foreground SNR, of method m's `map`.
  void record_scores(const BatchState& bs, size_t m, const torch::Tensor& map);
  void score_sums(comm::ReductionBuffer& buf, size_t m, const torch::Tensor& lab,
                  const torch::Tensor& grp) const;
  void score_statistics(const comm::ReductionBuffer& buf, size_t m, MethodStatistics& s) const;
  /// Inductive noise: the batch's noise draws σ, keyed by image, and the random-pixel controls
  /// with them (returns σ); method m's attacks on the top pixels of `mag` (|map| of the correctly
  /// classified images) with the same σ. record_noise_flips() records the Noise-I/II flags of
  /// either under a key prefix (the controls' or method m's), which noise_sums() and
  /// noise_statistics() take.
  torch::Tensor record_noise_controls(const BatchState& bs);
  void record_noise(const BatchState& bs, size_t m, const torch::Tensor& mag,
                    const torch::Tensor& sigma);
  void record_noise_flips(const BatchState& bs, const std::string& key,
                          const std::vector<torch::Tensor>& masks, const torch::Tensor& sigma);
  void noise_sums(comm::ReductionBuffer& buf, const std::string& key) const;
  void noise_statistics(const comm::ReductionBuffer& buf, const std::string& key, int64_t correct,
                        std::vector<Rate>& noise1, std::vector<Rate>& noise2) const;
  /// Occlusion (Algorithm 1) of method m per colour, ranked by the regional sums of `mag`.
  void record_occlusion(const BatchState& bs, size_t m, const torch::Tensor& mag);
  void occlusion_sums(comm::ReductionBuffer& buf, size_t m) const;
  void occlusion_statistics(const comm::ReductionBuffer& buf, size_t m, int64_t correct,
                            MethodStatistics& s) const;
  /// Spearman agreement of every pair of the batch's `maps`.
  void record_agreement(const std::vector<torch::Tensor>& maps);
  void agreement_sums(comm::ReductionBuffer& buf) const;
  void agreement_statistics(const comm::ReductionBuffer& buf, AttributionStatistics& out) const;
  /// The maps of the batch's images in saved_map_indices().
  void record_saved_maps(const BatchState& bs, const std::vector<torch::Tensor>& maps);

  /// Waits for the host copies add() started (no-op when none is pending).
  void settle() const;
  /// Column `name` after settle().
  torch::Tensor column(const std::string& name) const;

  models::Classifier& model_;
  AttributionConfig cfg_;
  int64_t num_classes_;
  torch::ScalarType dtype_;
  torch::Device device_;
  int64_t batch_size_;
  std::vector<std::unique_ptr<Method>> methods_;
  std::vector<std::pair<size_t, size_t>> pairs_;
  std::vector<int64_t> save_;  // saved_map_indices()
  uint64_t seed_;
  std::string guided_restore_;  ///< the activation the guided methods restore
  bool with_masks_;
  Columns cols_;
  DeviceClock clock_;
  mutable bool pending_ = false;  // host copies started by add() and not yet awaited
};

}  // namespace sfb::attribution
