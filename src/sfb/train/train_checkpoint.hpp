#pragma once
// Train-state checkpoints. For a native model a training checkpoint is an ordinary sfbench model
// checkpoint (models/checkpoint.hpp: arch, options, weights, config, epoch), so
// `--model checkpoint:FILE` loads it in sf/attack/eval, plus one extra entry "train_state". For a
// TorchScript model it is a TorchScript file (`--model torchscript:FILE`, Python's
// torch.jit.load) whose extra files "sfbench/train_state", "sfbench/config.toml" and
// "sfbench/epoch" hold the same. "train_state" holds what resuming needs:
// the optimizer state (torch::optim::Optimizer::save), completed epochs, the step inside the
// current epoch, the global step, the per-epoch log so far, the running sums of the unfinished
// epoch, LibTorch's default CPU generator state and the run's resumptions so far. Every other
// random draw of training is keyed by (seed, epoch, step or sample index), so (epoch, step) is the
// RNG state. Written atomically (a NewFile of core/output_file.hpp: an
// exclusive temporary <file>.<tag>.partial, then rename) by rank 0 only; read by every rank.
// The configuration of the run that writes it is stored with it (model checkpoint's config_toml,
// "sfbench/config.toml"), so that --resume can refuse a changed one (train/resume_config.hpp).

#include <torch/torch.h>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "models/classifier.hpp"
#include "train/resume_config.hpp"

namespace sfb::train {

/// One epoch's log line (also the rows of /train/epoch/*).
struct EpochLog {
  int64_t epoch = 0;          ///< 1-based epoch number
  std::vector<double> terms;  ///< mean over the epoch's steps of each loss term (term_names order)
  double accuracy = 0;        ///< clean training accuracy over the epoch's samples
  double adv_accuracy = 0;    ///< accuracy on x' (NaN for standard training)
  double lr = 0;              ///< learning rate of the epoch's last step
  double seconds = 0;         ///< wall time of the epoch (max over ranks)
  double images_per_s = 0;    ///< global samples per second
};

/// One resumption of a run: where it went on, from which checkpoint, and how the configuration it
/// went on under differed from the one stored in the checkpoint (only keys allowed to differ).
struct ResumeRecord {
  std::string checkpoint;                ///< the file resumed from
  std::string checkpoint_config_sha256;  ///< SHA-256 of its stored configuration ("" = none stored)
  std::string checkpoint_config_toml;    ///< that configuration ("" = none stored)
  std::string config_sha256;             ///< SHA-256 of the configuration the run went on under
  int64_t epochs_done = 0;               ///< progress at the resumption
  int64_t step_in_epoch = 0;
  int64_t global_step = 0;
  std::vector<ConfigDifference> changed;  ///< keys that differed (checkpoint vs now)
};

/// Where a run stands; saved in the checkpoint.
struct TrainState {
  int64_t epochs_done = 0;        ///< completed epochs
  int64_t step_in_epoch = 0;      ///< steps done in epoch epochs_done + 1 (0 at an epoch boundary)
  int64_t global_step = 0;        ///< optimizer steps done in total
  std::vector<EpochLog> history;  ///< one per completed epoch
  /// Running sums of the unfinished epoch: [terms..., correct, adv_correct, samples, seconds].
  std::vector<double> partial;
  std::string loss;  ///< base loss name the state belongs to (checked on resume)
  /// Every resumption of the run so far, oldest first (checkpoints of earlier versions: none).
  std::vector<ResumeRecord> resumes;
};

/// `records` as a JSON array (the results' record of resumptions); "[]" when empty.
std::string resumes_json(const std::vector<ResumeRecord>& records);

/// Writes `model`, `config_toml`, `opt`'s state and `state` to `file` atomically. `model` is a
/// NativeModel or a TorchScriptModel (ConfigError otherwise). Throws IoError naming the file. Not
/// collective (rank 0 calls it).
void save_train_checkpoint(const std::filesystem::path& file, models::Classifier& model,
                           torch::optim::Optimizer& opt, const TrainState& state,
                           const std::string& config_toml);

/// Called by load_train_checkpoint() with the configuration stored in the checkpoint ("" when it
/// stores none) before the train state is read; throws to refuse the checkpoint.
using CheckpointConfigCheck = std::function<void(const std::string& config_toml)>;

/// Loads weights into `model` (its architecture must match: DataError naming both otherwise; a
/// TorchScript model needs a TorchScript checkpoint with equal parameter names and shapes),
/// calls `check_config` (when set) with the stored configuration, then loads the optimizer state
/// into `opt` and returns the train state. DataError (exit code 2) naming the file for a missing,
/// corrupt or truncated file, one without train state, or a state written for another base loss
/// than `loss`. Not collective (every rank reads). Optimizer state tensors are mapped to `device`.
TrainState load_train_checkpoint(const std::filesystem::path& file, models::Classifier& model,
                                 torch::optim::Optimizer& opt, const std::string& loss,
                                 const torch::Device& device,
                                 const CheckpointConfigCheck& check_config = nullptr);

}  // namespace sfb::train

namespace sfb::train {

/// SHA-256 over every parameter and buffer of `model` (names, dtypes, shapes and bytes in
/// registration order, taken on the CPU): equal weights give equal digests. Not collective.
std::string weights_sha256(models::Classifier& model);

/// Every parameter, then every buffer, of a NativeModel or TorchScriptModel with its name, in
/// registration order (ConfigError naming the model for another Classifier).
std::vector<std::pair<std::string, torch::Tensor>> named_state(models::Classifier& model);
/// The buffers of named_state() alone (BatchNorm statistics), in registration order.
std::vector<std::pair<std::string, torch::Tensor>> named_buffers(models::Classifier& model);

}  // namespace sfb::train
