#include "train/command.hpp"

#include <fmt/format.h>

#include <iostream>
#include <utility>

#include "core/error.hpp"
#include "train/results.hpp"
#include "train/train_checkpoint.hpp"

namespace sfb::train {

TrainCommandStage::TrainCommandStage(Context& ctx, models::Classifier& model,
                                     const data::Dataset& ds, const TrainConfig& cfg, uint64_t seed,
                                     std::string config_toml, std::filesystem::path checkpoint,
                                     int64_t stop_at_step)
    : model_(&model), cfg_(cfg), checkpoint_(std::move(checkpoint)) {
  named_state(model);  // ConfigError for a model sfbench cannot train, before any work
  trainer_ = std::make_unique<Trainer>(model, ds, cfg_, ctx.comm(), seed, ctx.device(),
                                       std::move(config_toml), &ctx.host_comm());
  if (cfg_.resume) resumed_ = trainer_->resume(checkpoint_);
  if (stop_at_step > 0) trainer_->set_stop_at_step(stop_at_step);
}

void TrainCommandStage::prepare(Context& ctx, const data::Dataset& /*ds*/, const Range& /*shard*/) {
  if (ctx.rank() == 0 && resumed_) {
    std::cerr << fmt::format("[train] resumed from {}: {} epochs done, step {} of the next\n",
                             checkpoint_.string(), trainer_->state().epochs_done,
                             trainer_->state().step_in_epoch);
  }
}

void TrainCommandStage::run_shard(const data::Dataset& /*ds*/, const Range& /*shard*/,
                                  bool /*progress*/) {
  // Training walks the global minibatches of every epoch in run_collective.
}

void TrainCommandStage::reduce(comm::Communicator& /*comm*/) {
  // Gradients are averaged at every step; the epochs' sums in the Trainer's history are global.
}

void TrainCommandStage::run_collective(Context& ctx, const data::Dataset& /*ds*/,
                                       models::Classifier& /*model*/, const Range& /*shard*/) {
  const comm::Traffic before = ctx.traffic();
  status_ = trainer_->run(checkpoint_, ctx.rank() == 0);
  traffic_ = ctx.traffic() - before;
  if (status_ == RunStatus::kFinished) sha_ = weights_sha256(*model_);
}

int TrainCommandStage::exit_code() const {
  return status_ == RunStatus::kPreempted ? kPreemptedExitCode : 0;
}

void TrainCommandStage::write(io::ResultsFile& rf) {
  write_train(rf, *trainer_, cfg_, checkpoint_, sha_, resumed_);
}

std::vector<pipeline::NamedTiming> TrainCommandStage::timings(const pipeline::StageCost& /*cost*/) {
  return {{name(), train_timing(*trainer_, cfg_, traffic_)}};
}

void TrainCommandStage::print(const data::Dataset& ds, models::Classifier& model,
                              double /*seconds*/) const {
  const auto& h = trainer_->history();
  std::cout << fmt::format("# sfbench train: {} on {}, loss {}, λ = {}, {} epochs, checkpoint {}\n",
                           model.name(), ds.spec(), cfg_.loss, cfg_.sf_lambda, h.size(),
                           checkpoint_.string());
  if (!h.empty()) {
    std::cout << fmt::format("# final epoch: total {:.6g}, sf {:.6g}, accuracy {:.4f}\n",
                             h.back().terms.back(), h.back().terms[h.back().terms.size() - 2],
                             h.back().accuracy);
  }
  std::cout << "# weights_sha256 " << sha_ << "\n";
  std::cout << "# evaluate it with --model "
            << (model.arch() == "torchscript" ? "torchscript:" : "checkpoint:")
            << checkpoint_.string() << "\n";
}

}  // namespace sfb::train
