#include "pipeline/stage.hpp"

#include <fmt/format.h>

#include <iostream>

#include "core/error.hpp"
#include "core/timer.hpp"

namespace sfb::pipeline {

void Stage::prepare(Context& /*ctx*/, const data::Dataset& /*ds*/, const Range& /*shard*/) {}

void Stage::write_companions(Context& /*ctx*/, const data::Dataset& /*ds*/,
                             models::Classifier& /*model*/, const std::string& /*out*/) {}

void Stage::run_collective(Context& /*ctx*/, const data::Dataset& /*ds*/,
                           models::Classifier& /*model*/, const Range& /*shard*/) {}

std::vector<NamedTiming> Stage::timings(const StageCost& cost) {
  return {{name(), {cost.seconds, items(), unit(), device_seconds(), cost.traffic}}};
}

void Stage::after_finish(Context& /*ctx*/, const std::string& /*out*/) {}

std::vector<std::filesystem::path> Stage::write_figures(const std::string& /*out*/,
                                                        const std::string& /*what*/) const {
  return {};
}

void require_inputs(Context& ctx, const std::string& command, const InputConfig& in,
                    const std::string& out, const std::vector<io::Companion>& companions) {
  ctx.agree([&] {
    if (in.data.empty()) {
      throw ConfigError("sfbench " + command + " needs a dataset: --data SPEC (key 'data')");
    }
    if (in.model.empty()) {
      throw ConfigError("sfbench " + command + " needs a model: --model SPEC (key 'model')");
    }
  });
  if (!out.empty()) io::claim_output(ctx, out, companions);
}

void check_fit(Context& ctx, const data::Dataset& ds, const InputConfig& in,
               const models::Classifier& model) {
  ctx.agree([&] {
    if (ds.size() == 0) {
      throw DataError(fmt::format("dataset {} has no samples (split {}{})", ds.spec(), in.split,
                                  in.subset.empty() ? "" : ", subset '" + in.subset + "'"));
    }
    if (ds.num_classes() > model.num_classes()) {
      throw DataError(fmt::format("dataset {} has {} classes but model {} outputs {}", ds.spec(),
                                  ds.num_classes(), model.name(), model.num_classes()));
    }
  });
}

int run_command(Context& ctx, const CommandSpec& spec, const StagesFactory& build,
                const DatasetWrapper& wrap) {
  const InputConfig& in = spec.inputs;
  require_inputs(ctx, spec.command, in, "");
  if (spec.check) ctx.agree(spec.check);
  std::vector<io::Companion> companions;
  if (spec.companions) ctx.agree([&] { companions = spec.companions(); });
  if (!spec.out.empty() || !companions.empty()) io::claim_output(ctx, spec.out, companions);
  std::shared_ptr<const data::Dataset> ds = open_dataset(ctx, in, spec.seed);
  const Range shard = balanced_range(ds->size(), ctx.size(), ctx.rank());
  if (wrap) ctx.agree([&] { ds = wrap(ds, shard); });
  auto model = open_model(ctx, in, model_options_for(*ds, in, spec.seed));
  check_fit(ctx, *ds, in, *model);
  std::vector<std::unique_ptr<Stage>> stages;
  ctx.agree([&] { stages = build(*ds, *model); });
  std::vector<StageCost> costs;
  for (auto& stage : stages) {
    const comm::Traffic before = ctx.traffic();
    Stopwatch sw;
    stage->prepare(ctx, *ds, shard);
    ctx.agree([&] { stage->run_shard(*ds, shard, ctx.rank() == 0); });
    stage->reduce(ctx.comm());
    stage->run_collective(ctx, *ds, *model, shard);
    StageCost cost;
    cost.traffic = ctx.traffic() - before;
    cost.seconds = comm::allreduce_scalar(ctx.host_comm(), sw.seconds(), comm::ReduceOp::kMax);
    costs.push_back(cost);
    if (const int code = stage->exit_code(); code != 0) return code;
  }
  if (!spec.out.empty()) {
    // Created only now, with every number in memory: a failed run leaves no results file.
    io::ResultsFile rf(ctx, spec.out, spec.run_info());
    record_inputs(rf, in, ds.get(), model.get());
    for (std::size_t i = 0; i < stages.size(); ++i) {
      stages[i]->write(rf);
      for (const auto& t : stages[i]->timings(costs[i])) rf.record_stage(t.name, t.timing);
      stages[i]->write_companions(ctx, *ds, *model, spec.out);
    }
    rf.finish();
    for (auto& stage : stages) stage->after_finish(ctx, spec.out);
    if (ctx.rank() == 0) {
      for (const auto& stage : stages) {
        for (const auto& p : stage->write_figures(spec.out, model->name() + " on " + ds->spec())) {
          std::cout << "# plot " << p.string() << "\n";
        }
      }
    }
  }
  if (ctx.rank() == 0) {
    for (std::size_t i = 0; i < stages.size(); ++i) stages[i]->print(*ds, *model, costs[i].seconds);
  }
  return 0;
}

int run_command(Context& ctx, const CommandSpec& spec, const StageFactory& build,
                const DatasetWrapper& wrap) {
  return run_command(ctx, spec,
                     StagesFactory([&](const data::Dataset& ds, models::Classifier& model) {
                       std::vector<std::unique_ptr<Stage>> v;
                       v.push_back(build(ds, model));
                       return v;
                     }),
                     wrap);
}

}  // namespace sfb::pipeline
