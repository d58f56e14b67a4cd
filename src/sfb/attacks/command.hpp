#pragma once
#include <torch/types.h>

#include <functional>
#include <string>
#include <vector>

#include "attacks/driver.hpp"
#include "pipeline/stage.hpp"

namespace sfb::attacks {

/// The clean predictions of this rank's shard that an earlier stage of the run computed.
using CleanSource = std::function<CleanPass()>;

/// `sfbench attack`, and the attacks of `sfbench eval`, as a pipeline stage: the clean pass over
/// the shard (or the clean predictions of the stage before it), the attack stages with their
/// checkpoints (run_attacks()), write_run(), the removal of the checkpoint once the results file is
/// complete, and the attack table. Its timing record is "attacks".
class AttackCommandStage : public pipeline::Stage {
 public:
  /// Casts `model` to `dtype` and puts it in eval mode. `device`: the model's. `split` is printed.
  /// `clean`: the clean predictions of an earlier stage (eval: the SF pass, which writes
  /// /samples); without one the stage runs its own clean pass and writes /samples.
  /// `neuron_order`: the order of the penultimate neurons for the activation differences (eval
  /// with sf.layer = features); empty: no activation differences.
  AttackCommandStage(AttackRunOptions o, models::Classifier& model, torch::ScalarType dtype,
                     const torch::Device& device, std::string split, CleanSource clean = {},
                     std::function<torch::Tensor()> neuron_order = {});
  std::string name() const override { return "attacks"; }
  void run_shard(const data::Dataset& ds, const Range& shard, bool progress) override;
  void reduce(comm::Communicator& comm) override;
  void run_collective(Context& ctx, const data::Dataset& ds, models::Classifier& model,
                      const Range& shard) override;
  void write(io::ResultsFile& rf) override;
  std::vector<pipeline::NamedTiming> timings(const pipeline::StageCost& cost) override;
  void after_finish(Context& ctx, const std::string& out) override;
  void print(const data::Dataset& ds, models::Classifier& model, double seconds) const override;

 private:
  AttackRunOptions o_;
  models::Classifier& model_;
  torch::ScalarType dtype_;
  torch::Device device_;
  std::string split_;
  CleanSource source_;
  std::function<torch::Tensor()> neuron_order_;
  Range shard_;
  CleanPass clean_;
  torch::Tensor order_;
  AttackRun run_;
};

}  // namespace sfb::attacks
