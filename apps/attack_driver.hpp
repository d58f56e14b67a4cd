#pragma once
#include <memory>
#include <vector>

#include "app.hpp"
#include "attacks/attack_stage.hpp"

namespace sfb::app {

/// What the attack stages of `attack` and `eval` produced.
struct AttackRun {
  std::unique_ptr<attacks::AttackRunner> runner;
  std::vector<attacks::GroupSummary> summaries;  ///< one per group, then "worst_case"
  double seconds = 0;                            ///< wall time, max over ranks
  int64_t resumed_stages = 0;                    ///< stages taken from a checkpoint
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

/// This rank's clean predictions over its shard in batches: index, label, pred [n_local] int64 CPU.
/// DataError naming the global sample index for NaN/inf logits or labels outside the classes.
struct CleanPass {
  torch::Tensor index, label, pred;
};
CleanPass clean_pass(models::Classifier& model, const data::Dataset& ds, const Range& shard,
                     int64_t batch_size, torch::ScalarType dtype, const torch::Device& device);

/// Plans the attacks of inv.attack, checks forward determinism, resumes from <out>.checkpoint.h5
/// when it matches, runs every remaining stage (checkpointing after each when --out is given) and
/// reduces. `clean_correct`: [n_local] bool. Collective; errors on any rank are agreed.
AttackRun run_attacks(Context& ctx, Invocation& inv, const data::Dataset& ds,
                      models::Classifier& model, const Range& shard, const torch::Tensor& clean_correct,
                      torch::ScalarType dtype, bool activation_diff);

/// Removes <out>.checkpoint.h5 and its summary after the final results are in place (rank 0).
void remove_checkpoint(Context& ctx, const Invocation& inv);

/// Rank 0's table of clean/adversarial accuracy, ΔAcc and flags per attack.
void print_attack_table(const Invocation& inv, const data::Dataset& ds, models::Classifier& model,
                        const AttackRun& run);

}  // namespace sfb::app
