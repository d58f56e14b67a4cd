#pragma once
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "pipeline/stage.hpp"
#include "train/train_config.hpp"
#include "train/trainer.hpp"

namespace sfb::train {

/// `sfbench train` as a pipeline stage: the Trainer over all ranks (resumed from its checkpoint
/// when asked), the epochs in run_collective(), write_train(), the "train" timing record and the
/// report (final loss terms, accuracy, weights_sha256). A preempted run has exit_code()
/// kPreemptedExitCode and writes no results.
class TrainCommandStage : public pipeline::Stage {
 public:
  /// Builds the Trainer on `model` (ConfigError unless it is a NativeModel or a TorchScriptModel)
  /// and, with cfg.resume, resumes from `checkpoint` when it exists. `stop_at_step` > 0: stop like
  /// a preempted job after that many steps (the resume tests). Collective.
  TrainCommandStage(Context& ctx, models::Classifier& model, const data::Dataset& ds,
                    const TrainConfig& cfg, uint64_t seed, std::string config_toml,
                    std::filesystem::path checkpoint, int64_t stop_at_step = 0);
  std::string name() const override { return "train"; }
  void prepare(Context& ctx, const data::Dataset& ds, const Range& shard) override;
  void run_shard(const data::Dataset& ds, const Range& shard, bool progress) override;
  void reduce(comm::Communicator& comm) override;
  void run_collective(Context& ctx, const data::Dataset& ds, models::Classifier& model,
                      const Range& shard) override;
  int exit_code() const override;
  void write(io::ResultsFile& rf) override;
  std::vector<pipeline::NamedTiming> timings(const pipeline::StageCost& cost) override;
  void print(const data::Dataset& ds, models::Classifier& model, double seconds) const override;

 private:
  models::Classifier* model_ = nullptr;
  TrainConfig cfg_;
  std::filesystem::path checkpoint_;
  std::unique_ptr<Trainer> trainer_;
  bool resumed_ = false;
  RunStatus status_ = RunStatus::kFinished;
  std::string sha_;
  comm::Traffic traffic_;  // this rank's collectives during the epochs
};

}  // namespace sfb::train
