#pragma once
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "attacks/attack_stage.hpp"
#include "attacks/plan.hpp"
#include "comm/context.hpp"
#include "io/results_file.hpp"

namespace sfb::attacks {

/// How run_attacks() runs: the plan, seed and batch size, and where it checkpoints.
struct AttackRunOptions {
  AttackConfig config;       ///< [attack]
  uint64_t seed = 0;         ///< seeds the attacks' random streams
  int64_t batch_size = 256;  ///< samples per batch on each rank
  /// The results file; its checkpoint <out stem>.checkpoint.h5 is written after every stage and
  /// resumed from when it matches (config.resume). Empty: no checkpoints.
  std::string out;
  /// The command's resolved config: with the data and model fingerprints and the dtype, the key a
  /// checkpoint must match.
  std::string config_toml;
  /// The checkpoint file's run record.
  std::function<io::RunInfo()> checkpoint_info;
};

/// What the attack stages of `attack` and `eval` produced.
struct AttackRun {
  std::unique_ptr<AttackRunner> runner;
  std::vector<GroupSummary> summaries;  ///< one per group, then "worst_case"
  double seconds = 0;                   ///< wall time, max over ranks
  int64_t resumed_stages = 0;           ///< stages taken from a checkpoint
  comm::Traffic traffic;  ///< this rank's collectives during the attack stages and their reduction
  /// Per stage run here (not resumed): "<label> [<attack>]", samples attacked, and forward and
  /// backward passes of the model per attacked sample, summed over ranks.
  struct StageCost {
    std::string name;
    int64_t samples = 0;
    double passes_per_sample = 0;           ///< forward passes (each gradient step includes one)
    double backward_passes_per_sample = 0;  ///< backward passes reaching the input
  };
  std::vector<StageCost> costs;
};

/// This rank's clean predictions over its shard (data::for_each_batch, one batch read ahead):
/// index, label, pred [n_local] int64 CPU. DataError naming the global sample index for NaN/inf
/// logits or labels outside the classes.
struct CleanPass {
  torch::Tensor index, label, pred;
};
CleanPass clean_pass(models::Classifier& model, const data::Dataset& ds, const Range& shard,
                     int64_t batch_size, torch::ScalarType dtype, const torch::Device& device);

/// Plans the attacks of o.config, checks forward determinism, resumes from <out>.checkpoint.h5
/// when it matches, runs every remaining stage (checkpointing after each when o.out is given) and
/// reduces. `clean_correct`: [n_local] bool. Collective; errors on any rank are agreed.
AttackRun run_attacks(Context& ctx, const AttackRunOptions& o, const data::Dataset& ds,
                      models::Classifier& model, const Range& shard,
                      const torch::Tensor& clean_correct, torch::ScalarType dtype,
                      bool activation_diff);

/// Removes <out>.checkpoint.h5 and its summary after the final results are in place (rank 0;
/// nothing when `out` is empty).
void remove_checkpoint(Context& ctx, const std::string& out);

/// Writes a finished run's results: write_attacks() (`offset`: the shard's first global index;
/// `c_order` as there) and metrics.attack_stage_cost per stage in the summary. Collective.
void write_run(io::ResultsFile& rf, const AttackRun& run, int64_t offset,
               const torch::Tensor& c_order);

/// The "attacks" timing record of a finished run: the attack stages' wall and device seconds, the
/// samples of the first group as items, their traffic.
io::StageTiming attack_timing(const AttackRun& run);

/// Rank 0's table of clean/adversarial accuracy, ΔAcc and flags per attack, the stage time and
/// the cost per stage.
void print_attack_table(const std::string& split, const data::Dataset& ds,
                        models::Classifier& model, const AttackRun& run);

}  // namespace sfb::attacks
