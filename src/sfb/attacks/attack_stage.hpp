#pragma once
#include <torch/types.h>

#include <cstdint>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "attacks/plan.hpp"
#include "comm/communicator.hpp"
#include "core/device.hpp"
#include "core/partition.hpp"
#include "data/dataset.hpp"
#include "io/results_file.hpp"
#include "models/classifier.hpp"

namespace sfb::attacks {

/// One rank's per-sample results of one attack group, in shard order (CPU).
struct GroupLocal {
  torch::Tensor robust;  ///< [n_local] bool: survived every stage (false when clean is wrong)
  torch::Tensor norm;    ///< [n_local] float32: ‖x_adv − x‖ of the breaking (or last) stage
  /// [n_local] uint8: 1 + the index (within the group) of the stage that broke the sample, 0 when
  /// none did (AutoAttack's robust accuracy after each stage comes from it).
  torch::Tensor broken_by;
  int64_t zero_grad = 0, nonfinite = 0;
  int64_t black_box_breaks =
      0;                   ///< samples a black-box stage broke after every white-box one failed
  torch::Tensor act_diff;  ///< [k] float64 Σ |a(x_adv) − a(x)| over attacked samples
  int64_t act_count = 0;
  int64_t stages_done = 0;
};

/// The global numbers of one attack group (identical on every rank after reduce()).
struct GroupSummary {
  std::string label, spec;
  int64_t n = 0, clean_correct = 0, robust = 0;
  double clean_acc = 0, adv_acc = 0, accuracy_drop = 0;  ///< ΔAcc = 1 − adv/clean (SPEC §3)
  int64_t zero_grad = 0, nonfinite = 0, black_box_breaks = 0;
  torch::Tensor act_diff;  ///< [k] mean |a(x_adv) − a(x)| per neuron (undefined without features)
  std::vector<std::string> flags;        ///< sanity flags (SPEC §3), empty when all is well
  std::vector<std::string> stage_names;  ///< the group's stages in run order
  /// Robust accuracy (over n) after each stage, as the reference AutoAttack prints it; the last
  /// equals adv_acc.
  std::vector<double> stage_adv_acc;
  /// CW-L2 (a minimal-norm attack; adv_acc is the accuracy at eps from the norms): the median
  /// and mean minimal L2 over the clean-correct samples, and how many of them have an
  /// adversarial. The median counts the samples without one as +inf; the mean is over those
  /// with one (NaN when none). Both NaN for other attacks.
  bool minimal_norm = false;
  double median_norm = std::numeric_limits<double>::quiet_NaN();
  double mean_norm = std::numeric_limits<double>::quiet_NaN();
  int64_t norm_found = 0;
};

/// Runs a plan of attack groups over one rank's shard, stage by stage (every stage of every group
/// walks the shard before the next starts), so a run can checkpoint after each stage and a chained
/// stage (AutoAttack) only loads the samples still robust. Local except where noted.
class AttackRunner {
 public:
  /// `clean_correct`: [n_local] bool, this rank's clean correctness in shard order. With
  /// `activation_diff`, the mean |features(x_adv) − features(x)| per neuron is accumulated.
  AttackRunner(models::Classifier& model, std::vector<AttackGroup> groups, const Range& shard,
               torch::Tensor clean_correct, torch::ScalarType dtype, const torch::Device& device,
               bool activation_diff);

  /// Total stages over all groups (the checkpoint granularity), in run order.
  int64_t num_stages() const;
  /// Runs stage `s` (in [0, num_stages())) over the shard in batches of `batch_size`; not
  /// collective, may throw on one rank (wrap in Context::agree()).
  void run_stage(int64_t s, const data::Dataset& ds, int64_t batch_size, bool show_progress);
  /// Marks stages [0, done) as finished with the given per-sample state (resume).
  void restore(int64_t done, const std::vector<GroupLocal>& state);
  /// Stages finished so far.
  int64_t stages_done() const { return done_; }
  const std::vector<AttackGroup>& groups() const { return groups_; }
  const std::vector<GroupLocal>& local() const { return local_; }
  /// Per stage (run order): model rows evaluated (forward, features or tapped forward; every
  /// gradient step includes one) and samples attacked, on this rank.
  const std::vector<int64_t>& stage_rows() const { return stage_rows_; }
  /// Per stage: input rows through backward passes of the model (gradients w.r.t. the input).
  const std::vector<int64_t>& stage_backward_rows() const { return stage_backward_rows_; }
  const std::vector<int64_t>& stage_samples() const { return stage_samples_; }
  /// (group, stage within group) of stage s.
  std::pair<int64_t, int64_t> stage_at(int64_t s) const {
    return order_[static_cast<std::size_t>(s)];
  }
  /// Worst case over groups: [n_local] bool robust under every attack.
  torch::Tensor worst_case() const;
  /// Seconds of device work in run_stage() on this rank, over every stage run (DeviceClock).
  double device_seconds() { return clock_.seconds(); }
  /// Sums every group's counters over ranks (one all-reduce; collective) and derives accuracies,
  /// ΔAcc and sanity flags: one summary per group, then one labelled "worst_case" (robust under
  /// every group). `nondeterministic`: the forward-pass determinism check failed on some
  /// rank (agreed by the caller).
  std::vector<GroupSummary> reduce(comm::Communicator& comm, int64_t n,
                                   bool nondeterministic) const;

 private:
  models::Classifier& model_;
  std::vector<AttackGroup> groups_;
  Range shard_;
  torch::Tensor clean_correct_;
  torch::ScalarType dtype_;
  torch::Device device_;
  bool act_diff_;
  int64_t k_ = 0;
  std::vector<GroupLocal> local_;
  std::vector<std::pair<int64_t, int64_t>> order_;  // stage s -> (group, stage in group)
  int64_t done_ = 0;
  std::vector<int64_t> stage_rows_, stage_backward_rows_, stage_samples_;
  DeviceClock clock_;
};

/// True when two forward passes of the model on `x` give bitwise-identical logits.
bool forward_is_deterministic(models::Classifier& model, const torch::Tensor& x);

/// Writes /attacks/<label>/{robust, norm, activation_diff} with their attributes, the worst case
/// /attacks/worst_case/robust, and metrics.attacks in the summary. `offset`: the shard's first
/// global index. `c_order`: neuron ids ordered by descending global Shapley value C (or undefined
/// for identity order). Collective.
void write_attacks(io::ResultsFile& rf, const AttackRunner& runner,
                   const std::vector<GroupSummary>& summaries, int64_t offset,
                   const torch::Tensor& c_order);

}  // namespace sfb::attacks
