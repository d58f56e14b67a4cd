#pragma once
#include <torch/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "comm/communicator.hpp"
#include "core/config.hpp"
#include "core/device.hpp"
#include "core/partition.hpp"
#include "data/dataset.hpp"
#include "io/results_file.hpp"
#include "models/classifier.hpp"
#include "shapley/accumulator.hpp"
#include "shapley/taylor.hpp"

namespace sfb::shapley {

/// Options of the SF stage (config section [sf]; SPEC §2 defaults).
struct SfConfig {
  std::string layer = "features";  ///< probed layer; "features" = penultimate (paper 000)
  std::string target = "logit";    ///< logit | logprob | prob | pred-logit
  int64_t bootstrap = 200;         ///< Poisson bootstrap replicates B (0 = no CI)
  double ci_level = 0.95;          ///< coverage of the percentile interval
  bool save_per_sample = false;    ///< write /sf/per_sample [n, k] float32
  std::string dtype = "float32";   ///< float32 | float64: precision of the model evaluation
  bool fast_path = true;           ///< closed form for a linear head (false = always autograd)
  /// Registers the keys sf.* in `schema`.
  void register_keys(ConfigSchema& schema);
};

/// float32 or float64, from SfConfig::dtype.
torch::ScalarType sf_dtype(const SfConfig& cfg);

/// One rank's pass of the SF stage over its shard (DESIGN.md data flow: "clean pass"): per batch,
/// the probe's c(x) go into an SfAccumulator and the predictions into per-sample columns. Nothing
/// here is collective except reduce(); the shard loop may throw on one rank only (wrap it in
/// Context::agree()).
class SfStage {
 public:
  /// Casts `model` to cfg.dtype, puts it in eval mode and builds the probe (ConfigError for an
  /// unknown layer or target). `device` is the model's device; `seed` keys the bootstrap.
  SfStage(models::Classifier& model, const SfConfig& cfg, const std::vector<int64_t>& image_shape,
          uint64_t seed, const torch::Device& device);

  /// Processes one batch as Dataset::get returns it (CPU); returns the probe's output (on the
  /// device) so a combined pass (sfbench eval) can reuse the clean logits. Batches must come in
  /// ascending global index order within the rank's shard.
  ProbeOutput add(const data::Batch& batch);
  /// Walks `shard` of `ds` in batches of `batch_size`, loading the next batch on a second thread
  /// while the current one is computed; rank 0 (show_progress) prints a progress line.
  void run_shard(const data::Dataset& ds, const Range& shard, int64_t batch_size,
                 bool show_progress);
  /// The global statistics (collective: one all-reduce through `comm`).
  SfStatistics reduce(comm::Communicator& comm) const { return acc_.reduce(comm); }

  int64_t num_neurons() const { return probe_.num_neurons(); }
  bool uses_fast_path() const { return probe_.uses_fast_path(); }
  const SfConfig& config() const { return cfg_; }
  /// This rank's per-sample columns, in shard order: [n_local] int64 (CPU).
  torch::Tensor index() const;
  torch::Tensor labels() const;
  torch::Tensor preds() const;
  /// [n_local, k] float32 CPU per-sample c (only with save_per_sample; else undefined).
  torch::Tensor per_sample() const;
  /// Seconds of device work in add() on this rank (DeviceClock: CUDA events on a GPU). Waits for
  /// the device.
  double device_seconds() { return clock_.seconds(); }

 private:
  SfConfig cfg_;
  torch::ScalarType dtype_;
  torch::Device device_;
  ShapleyProbe probe_;
  SfAccumulator acc_;
  std::vector<torch::Tensor> index_, labels_;
  HostRows preds_{torch::kInt64}, per_sample_{torch::kFloat32};
  DeviceClock clock_;
};

/// Writes the per-sample columns /samples/{index,label,pred,correct} (rows = global index) and the
/// /sf results of DESIGN.md's contract: global_shapley [k], sorted [k], per_class [C, k],
/// per_class_sf [C], class_count [C], bootstrap_sf [R], value (scalar, with attributes ci_low,
/// ci_high, ci_level, bootstrap, bootstrap_se, bootstrap_bias, target, layer, split, n, k, dtype,
/// fast_path, accuracy), per_sample [n, k] with save_per_sample; and metrics.sf in the summary.
/// The stage's timing is ResultsFile::record_stage("sf", ...). Collective.
void write_sf(io::ResultsFile& rf, const SfStage& stage, const SfStatistics& s,
              const std::string& split);

}  // namespace sfb::shapley
