#pragma once
// The data-parallel trainer of `sfbench train` (SPEC §6).
//
// Replicas: parameters (and buffers) are broadcast from rank 0 at start; BatchNorm buffers are
// broadcast from rank 0 before every step (DDP's broadcast_buffers), while batch statistics in
// train mode stay local to each rank, as in DDP without SyncBatchNorm. So N ranks equal one rank
// on the same global batch exactly only for models without BatchNorm (the MPI test uses one).
//
// Epochs: data::TrainSampler shuffles [0, n) per epoch with derive_seed(seed, {epoch}); step s
// takes the global minibatch perm[s·G, (s+1)·G), split evenly (rank r: its B = G/N contiguous
// slice); the last n mod G samples of each epoch's permutation are dropped, for every rank count.
//
// A step: (1) x' for adversarial losses (losses.hpp; eval mode while attacking), (2) forward in
// train mode, base loss = mean over the local batch, SF_batch through SfRegularizer (global),
// total = base + λ·SF; (3) one all-reduce of the loss terms: a NaN/inf on any rank stops every
// rank with the epoch, step and each term named (before any update or checkpoint, so the last
// good checkpoint stays intact); (4) backward with bucketed gradient averaging (GradReducer);
// (5) optimizer step at the scheduled learning rate.
//
// Preemption: SIGTERM and SIGUSR1 (Slurm's --signal=B:USR1@300) set a flag; at each step boundary
// the ranks all-reduce it, and when any rank saw it, rank 0 writes a checkpoint (mid-epoch
// included) and run() returns kPreempted; `sfbench train` then exits with kPreemptedExitCode.

#include <torch/torch.h>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "comm/communicator.hpp"
#include "core/device.hpp"
#include "data/dataset.hpp"
#include "models/classifier.hpp"
#include "train/grad_reducer.hpp"
#include "train/losses.hpp"
#include "train/sf_regularizer.hpp"
#include "train/train_checkpoint.hpp"
#include "train/train_config.hpp"

namespace sfb::train {

/// Exit code of `sfbench train` after a checkpoint on SIGTERM/SIGUSR1 (EX_TEMPFAIL: requeue and
/// rerun with --resume).
inline constexpr int kPreemptedExitCode = 75;

/// Installs SIGTERM and SIGUSR1 handlers that only set the stop flag (async-signal-safe).
void install_stop_handlers();
/// True once a stop signal arrived (this process only; the trainer agrees across ranks).
bool stop_requested();
/// Clears the stop flag (tests, and the start of a run).
void clear_stop_request();

/// How run() ended.
enum class RunStatus { kFinished, kPreempted };

/// One data-parallel training run of `model` on `ds`. The model must be on `device` in the
/// config's dtype; every rank constructs it with the same arguments.
class Trainer {
 public:
  /// Builds optimizer, regularizer and gradient reducer, broadcasts parameters and buffers from
  /// rank 0. Throws ConfigError for invalid config (validate()) or a dataset smaller than one
  /// global batch. `control`: a communicator on host tensors for the per-step stop agreement
  /// (Context::host_comm(); default: `comm`, which on a GPU costs a wait for the device per
  /// step). Collective.
  Trainer(models::Classifier& model, const data::Dataset& ds, const TrainConfig& cfg,
          comm::Communicator& comm, uint64_t seed, const torch::Device& device,
          std::string config_toml, comm::Communicator* control = nullptr);

  /// Restores weights, optimizer and progress from `file` when it exists (every rank reads it);
  /// returns false when there is no such file. With a config_toml (as `sfbench train` gives),
  /// first checks cfg.resume_allow and then the checkpoint's stored configuration against it
  /// (check_resume_config(): ConfigError naming every refused key with both values, or saying
  /// that the checkpoint stores none), and appends a ResumeRecord to state().resumes.
  /// ConfigError when the checkpoint has more epochs done than cfg.epochs; DataError as
  /// load_train_checkpoint(). Not collective by itself, but every rank must make the same call.
  bool resume(const std::filesystem::path& file);

  /// Trains until cfg.epochs epochs are done, writing a checkpoint to `checkpoint` (when not
  /// empty) every cfg.checkpoint_every epochs, at the end, and on a stop signal. Rank 0 prints a
  /// progress line per epoch when `show_progress`. Collective. Throws AgreedError (exit code 3)
  /// on a non-finite loss, naming epoch, step and every term.
  RunStatus run(const std::filesystem::path& checkpoint, bool show_progress);

  /// One optimizer step on this rank's part of a global batch (tests drive it directly).
  /// images: [B, C, H, W] float32 in [0, 1] (CPU or device); labels, index: [B] int64 (index CPU).
  /// `epoch` (0-based) keys the adversary's random start. Returns the loss terms averaged over
  /// ranks, in term_names() order. Collective.
  std::vector<double> step(const data::Batch& local, int64_t epoch);

  /// Names of the logged loss terms: the base loss's terms, then "sf" and "total".
  const std::vector<std::string>& term_names() const { return term_names_; }
  /// Per-epoch log of every completed epoch (restored ones included).
  const std::vector<EpochLog>& history() const { return state_.history; }
  /// The run's progress.
  const TrainState& state() const { return state_; }
  /// Steps per epoch: floor(n / global batch).
  int64_t steps_per_epoch() const { return steps_per_epoch_; }
  /// Test hook: before global step `step`, rank 0 raises SIGUSR1 on itself (the signal path of a
  /// preemption, deterministically). -1 disables. `sfbench train` sets it from the environment
  /// variable SFB_TRAIN_STOP_AT_STEP.
  void set_stop_at_step(int64_t step) { stop_at_step_ = step; }
  /// Seconds of device work in the steps run() took in this process (DeviceClock). Waits for the
  /// device.
  double device_seconds() { return clock_.seconds(); }

 private:
  struct StepStats {
    std::vector<double> terms;
    double correct = 0, adv_correct = 0;
  };
  StepStats train_step(const data::Batch& local, int64_t epoch);
  void checkpoint_now(const std::filesystem::path& file);
  bool agree_stop();

  models::Classifier& model_;
  const data::Dataset& ds_;
  TrainConfig cfg_;
  comm::Communicator& comm_;
  comm::Communicator& control_;
  uint64_t seed_;
  torch::Device device_;
  torch::ScalarType dtype_;
  std::string config_toml_;
  BaseLoss loss_;
  AdversaryOptions adv_;
  std::unique_ptr<torch::optim::Optimizer> opt_;
  std::unique_ptr<SfRegularizer> sf_;
  std::unique_ptr<GradReducer> reducer_;
  std::vector<torch::Tensor> params_, buffers_;
  std::vector<std::string> term_names_;
  int64_t steps_per_epoch_ = 0;
  int64_t stop_at_step_ = -1;
  DeviceClock clock_;  // on device_
  std::filesystem::path ckpt_path_;
  TrainState state_;
};

}  // namespace sfb::train
