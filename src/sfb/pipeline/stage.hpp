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

/// One analysis of a command over the dataset (SF, interactions, attribution): a pass over each
/// rank's shard keeping running sums, one collective reduction, its results and a report.
/// run_command() drives it; a stage holds no command-line state.
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
  /// Writes the statistics (the runner records the stage's timing). Collective.
  virtual void write(io::ResultsFile& rf) = 0;
  /// The work the pass did, all ranks together, for the timing record: images, masked forwards.
  virtual double items() const = 0;
  /// What items() counts ("images", "masked forwards").
  virtual std::string unit() const = 0;
  /// Files that are part of the results and must exist before the results file is complete (a
  /// montage next to `out`). Collective; default none.
  virtual void write_companions(Context& ctx, const data::Dataset& ds, models::Classifier& model,
                                const std::string& out);
  /// Figures written after the results file is complete, on rank 0; returns their paths. `what`
  /// names the model and dataset. Default none.
  virtual std::vector<std::filesystem::path> write_figures(const std::string& out,
                                                           const std::string& what) const;
  /// Rank 0's console report; `seconds`: wall time of prepare, pass and reduction, max over ranks.
  virtual void print(const data::Dataset& ds, models::Classifier& model, double seconds) const = 0;
  /// This rank's device time of the pass (DeviceClock).
  virtual double device_seconds() = 0;
};

/// What run_command() needs besides the stage.
struct CommandSpec {
  std::string command;  ///< "sf": errors read "sfbench sf needs a dataset ..."
  InputConfig inputs;
  uint64_t seed = 0;
  std::string out;  ///< results file (.h5); empty = none
  /// The results file's run record, asked for after the stage is built (a stage may resolve
  /// configuration values that the echoed config must show).
  std::function<io::RunInfo()> run_info;
};

/// Builds the stage for the opened dataset and model. Called inside an agreed section: a bad
/// configuration on any rank becomes an AgreedError, before any file is written.
using StageFactory =
    std::function<std::unique_ptr<Stage>(const data::Dataset& ds, models::Classifier& model)>;
/// Replaces the opened dataset before it is checked (user masks); `shard` is this rank's. Called
/// inside an agreed section.
using DatasetWrapper = std::function<std::shared_ptr<const data::Dataset>(
    std::shared_ptr<const data::Dataset> ds, const Range& shard)>;

/// The skeleton of every single-stage command, written once: require_inputs(), the dataset
/// (wrapped by `wrap` when given), check_fit() against the model, the stage, the results file, the
/// timed pass, record_inputs(), the stage's results, its timing record (ResultsFile::record_stage:
/// wall and device seconds, items and their rate, traffic) and companions, finish(), figures, and
/// the report on rank 0. Collective; an error on any rank is
/// agreed (exit 2 for bad input) and leaves no complete-looking results file. Returns exit code 0.
int run_command(Context& ctx, const CommandSpec& spec, const StageFactory& build,
                const DatasetWrapper& wrap = {});

/// --data and --model are given and the results path `out` (when not empty) is writable:
/// ConfigError / IoError naming the key or path otherwise. Collective.
void require_inputs(Context& ctx, const std::string& command, const InputConfig& in,
                    const std::string& out);

/// The dataset has samples and no more classes than the model outputs: DataError naming both
/// otherwise. Collective.
void check_fit(Context& ctx, const data::Dataset& ds, const InputConfig& in,
               const models::Classifier& model);

/// The dataset and model of a command that drives its own loop (attack, eval).
struct OpenedInputs {
  std::shared_ptr<data::Dataset> ds;
  std::shared_ptr<models::Classifier> model;
};

/// require_inputs(), open_dataset(), open_model() and check_fit() in that order. Collective.
OpenedInputs open_inputs(Context& ctx, const std::string& command, const InputConfig& in,
                         const std::string& out, uint64_t seed);

}  // namespace sfb::pipeline
