#pragma once
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "comm/context.hpp"
#include "core/partition.hpp"
#include "data/dataset.hpp"
#include "io/results_file.hpp"
#include "models/classifier.hpp"
#include "pipeline/inputs.hpp"

namespace sfb::pipeline {

/// The wall time and traffic of one stage of a run (run_command): from prepare() to the end of
/// run_collective().
struct StageCost {
  double seconds = 0;     ///< wall seconds, max over ranks
  comm::Traffic traffic;  ///< this rank's collectives
};

/// One timing record of a stage, stored under /timing/<name> (ResultsFile::record_stage).
struct NamedTiming {
  std::string name;
  io::StageTiming timing;
};

/// One analysis of a command over the dataset (SF, attacks, interactions, attribution, training):
/// a pass over each rank's shard keeping running sums, one collective reduction, optional
/// collective work after it, its results and a report. run_command() drives it; a stage holds no
/// command-line state.
class Stage {
 public:
  virtual ~Stage() = default;
  /// The stage's key under /timing and /traffic of the results ("sf", "interactions", ...).
  virtual std::string name() const = 0;
  /// Collective work before the shard pass (a baseline over all ranks); default none.
  virtual void prepare(Context& ctx, const data::Dataset& ds, const Range& shard);
  /// This rank's pass over `shard`; `progress`: show a progress line. The runner agrees its errors
  /// across ranks.
  virtual void run_shard(const data::Dataset& ds, const Range& shard, bool progress) = 0;
  /// Reduces the shard sums over `comm` into the statistics. Collective.
  virtual void reduce(comm::Communicator& comm) = 0;
  /// Collective work after the reduction that agrees its own errors (the attack stages over the
  /// shard's correctly classified samples, the training epochs); default none.
  virtual void run_collective(Context& ctx, const data::Dataset& ds, models::Classifier& model,
                              const Range& shard);
  /// Non-zero when the stage stopped before it had results (a preempted training): run_command()
  /// then writes nothing and returns this exit code. Default 0.
  virtual int exit_code() const { return 0; }
  /// Writes the statistics (the runner records the stage's timing). Collective.
  virtual void write(io::ResultsFile& rf) = 0;
  /// The stage's timing records. `cost`: the stage's wall time and traffic. Default: one record
  /// under name() with items(), unit() and device_seconds().
  virtual std::vector<NamedTiming> timings(const StageCost& cost);
  /// The work the pass did, all ranks together, for the timing record: images, masked forwards.
  virtual double items() const { return 0; }
  /// What items() counts ("images", "masked forwards").
  virtual std::string unit() const { return "items"; }
  /// Files that are part of the results and must exist before the results file is complete (a
  /// montage next to `out`). Collective; default none.
  virtual void write_companions(Context& ctx, const data::Dataset& ds, models::Classifier& model,
                                const std::string& out);
  /// Cleans up after the results file `out` is complete (removes the attack checkpoint).
  /// Collective; default none.
  virtual void after_finish(Context& ctx, const std::string& out);
  /// Figures written after the results file is complete, on rank 0; returns their paths. `what`
  /// names the model and dataset. Default none.
  virtual std::vector<std::filesystem::path> write_figures(const std::string& out,
                                                           const std::string& what) const;
  /// Rank 0's console report; `seconds`: the stage's wall time (StageCost::seconds).
  virtual void print(const data::Dataset& ds, models::Classifier& model, double seconds) const = 0;
  /// This rank's device time of the pass (DeviceClock); default 0.
  virtual double device_seconds() { return 0; }
};

/// What run_command() needs besides the stage.
struct CommandSpec {
  std::string command;  ///< "sf": errors read "sfbench sf needs a dataset ..."
  InputConfig inputs;
  uint64_t seed = 0;
  std::string out;  ///< results file (.h5); empty = none
  /// The results file's run record, asked for after the stages are built (a stage may resolve
  /// configuration values that the echoed config must show).
  std::function<io::RunInfo()> run_info;
  /// Checks of the command's own configuration (train: --out or a checkpoint), run after
  /// require_inputs() and before the inputs are opened; their errors are agreed. Optional.
  std::function<void()> check;
  /// Files the command writes next to `out` besides the results file and its summary (an attack
  /// checkpoint, a training checkpoint, figures): claimed with `out` before any work
  /// (io::claim_output), so someone else's file there is refused. Resolved after `check`.
  std::function<std::vector<io::Companion>()> companions;
};

/// Builds the stage for the opened dataset and model. Called inside an agreed section: a bad
/// configuration on any rank becomes an AgreedError, before any file is written.
using StageFactory =
    std::function<std::unique_ptr<Stage>(const data::Dataset& ds, models::Classifier& model)>;
/// Builds the stages of a command that runs several in order (eval: SF, then the attacks).
using StagesFactory = std::function<std::vector<std::unique_ptr<Stage>>(const data::Dataset& ds,
                                                                        models::Classifier& model)>;
/// Replaces the opened dataset before it is checked (user masks); `shard` is this rank's. Called
/// inside an agreed section.
using DatasetWrapper = std::function<std::shared_ptr<const data::Dataset>(
    std::shared_ptr<const data::Dataset> ds, const Range& shard)>;

/// The skeleton of every command that analyses a dataset, written once: require_inputs(), the
/// command's check, the dataset (wrapped by `wrap` when given), check_fit() against the model, the
/// stages, then per stage in order the timed pass (prepare, run_shard, reduce, run_collective).
/// Only when every stage has its results is the results file created: record_inputs(), each
/// stage's results, its timing records (ResultsFile::record_stage: wall and device seconds, items
/// and their rate, traffic) and companions, finish(), the stages' clean-up and figures, and the
/// report on rank 0. Collective; an error on any rank is agreed (exit 2 for bad input) and leaves
/// no results file behind. Returns 0, or a stage's exit_code().
int run_command(Context& ctx, const CommandSpec& spec, const StagesFactory& build,
                const DatasetWrapper& wrap = {});
/// run_command() for a command of one stage.
int run_command(Context& ctx, const CommandSpec& spec, const StageFactory& build,
                const DatasetWrapper& wrap = {});

/// --data and --model are given and the results path `out` (when not empty) is writable and
/// claimed for this run (io::claim_output with `companions`: the run's lock, no foreign file
/// replaced): ConfigError / IoError naming the key or path otherwise. Collective.
void require_inputs(Context& ctx, const std::string& command, const InputConfig& in,
                    const std::string& out, const std::vector<io::Companion>& companions = {});

/// The dataset has samples and no more classes than the model outputs: DataError naming both
/// otherwise. Collective.
void check_fit(Context& ctx, const data::Dataset& ds, const InputConfig& in,
               const models::Classifier& model);

}  // namespace sfb::pipeline
