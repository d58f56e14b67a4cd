#pragma once
#include <torch/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "attribution/config.hpp"
#include "attribution/method.hpp"
#include "comm/communicator.hpp"
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
};

/// Everything the stage reduces across ranks.
struct AttributionStatistics {
  int64_t n = 0;                          ///< images evaluated
  int64_t correct = 0;                    ///< of which correctly classified
  bool masks = false;                     ///< SNR computed
  std::vector<MethodStatistics> methods;  ///< in AttributionConfig::methods order
};

/// One rank's attribution stage (SPEC §5). Per batch: predictions and confidences, then for every
/// method the map of t(x, y) = z_y (ground-truth logit), reduced over channels, its global and
/// regional Gini and — when the batch has masks — its foreground SNR. Randomness is keyed by the
/// global image index, so results do not depend on ranks or batch sizes. Per-image values are
/// kept for the results file; sums are float64. Only reduce() is collective.
class AttributionStage {
 public:
  /// Casts `model` to cfg.dtype and puts it in eval mode. `cfg` must be resolved
  /// (resolve_config). `num_classes`: C of the per-class summaries. `with_masks`: every batch
  /// carries foreground masks (Dataset::has_masks(); the same on every rank) and SNR is computed.
  AttributionStage(models::Classifier& model, const AttributionConfig& cfg, int64_t num_classes,
                   bool with_masks, uint64_t seed, const torch::Device& device, int64_t batch_size);
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
  /// True when SNR is computed (the constructor's `with_masks`).
  bool has_masks() const { return with_masks_; }
  /// Seconds spent in add() on this rank.
  double seconds() const { return seconds_; }

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
  bool with_masks_;
  double seconds_ = 0;
};

}  // namespace sfb::attribution
