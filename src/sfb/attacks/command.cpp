#include "attacks/command.hpp"

#include <utility>

#include "models/classifier.hpp"

namespace sfb::attacks {

AttackCommandStage::AttackCommandStage(AttackRunOptions o, models::Classifier& model,
                                       torch::ScalarType dtype, const torch::Device& device,
                                       std::string split, CleanSource clean,
                                       std::function<torch::Tensor()> neuron_order)
    : o_(std::move(o)),
      model_(models::for_evaluation(model, dtype)),
      dtype_(dtype),
      device_(device),
      split_(std::move(split)),
      source_(std::move(clean)),
      neuron_order_(std::move(neuron_order)) {}

void AttackCommandStage::run_shard(const data::Dataset& ds, const Range& shard, bool /*progress*/) {
  shard_ = shard;
  if (!source_) clean_ = clean_pass(model_, ds, shard, o_.batch_size, dtype_, device_);
}

void AttackCommandStage::reduce(comm::Communicator& /*comm*/) {
  // The clean predictions stay per rank (/samples); the attack stages reduce in run_collective.
}

void AttackCommandStage::run_collective(Context& ctx, const data::Dataset& ds,
                                        models::Classifier& /*model*/, const Range& shard) {
  if (source_) ctx.agree([&] { clean_ = source_(); });
  if (neuron_order_) order_ = neuron_order_();
  run_ = run_attacks(ctx, o_, ds, model_, shard, clean_.pred.eq(clean_.label), dtype_,
                     order_.defined());
}

void AttackCommandStage::write(io::ResultsFile& rf) {
  if (!source_) rf.write_samples(shard_.begin, clean_.index, clean_.label, clean_.pred);
  write_run(rf, run_, shard_.begin, order_);
}

std::vector<pipeline::NamedTiming> AttackCommandStage::timings(
    const pipeline::StageCost& /*cost*/) {
  // The attack stages' own time and traffic; the clean pass before them is not part of it.
  return {{name(), attack_timing(run_)}};
}

void AttackCommandStage::after_finish(Context& ctx, const std::string& out) {
  remove_checkpoint(ctx, out);
}

void AttackCommandStage::print(const data::Dataset& ds, models::Classifier& model,
                               double /*seconds*/) const {
  print_attack_table(split_, ds, model, run_);
}

}  // namespace sfb::attacks
