#include "pipeline/stage.hpp"

#include <fmt/format.h>

#include <iostream>

#include "core/error.hpp"
#include "core/timer.hpp"

namespace sfb::pipeline {

void Stage::prepare(Context& /*ctx*/, const data::Dataset& /*ds*/, const Range& /*shard*/) {}

void Stage::write_companions(Context& /*ctx*/, const data::Dataset& /*ds*/,
                             models::Classifier& /*model*/, const std::string& /*out*/) {}

std::vector<std::filesystem::path> Stage::write_figures(const std::string& /*out*/,
                                                        const std::string& /*what*/) const {
  return {};
}

void require_inputs(Context& ctx, const std::string& command, const InputConfig& in,
                    const std::string& out) {
  ctx.agree([&] {
    if (in.data.empty()) {
      throw ConfigError("sfbench " + command + " needs a dataset: --data SPEC (key 'data')");
    }
    if (in.model.empty()) {
      throw ConfigError("sfbench " + command + " needs a model: --model SPEC (key 'model')");
    }
    if (!out.empty()) io::check_output_path(out);
  });
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

OpenedInputs open_inputs(Context& ctx, const std::string& command, const InputConfig& in,
                         const std::string& out, uint64_t seed) {
  require_inputs(ctx, command, in, out);
  OpenedInputs o;
  o.ds = open_dataset(ctx, in, seed);
  o.model = open_model(ctx, in, model_options_for(*o.ds, in, seed));
  check_fit(ctx, *o.ds, in, *o.model);
  return o;
}

int run_command(Context& ctx, const CommandSpec& spec, const StageFactory& build,
                const DatasetWrapper& wrap) {
  const InputConfig& in = spec.inputs;
  require_inputs(ctx, spec.command, in, spec.out);
  std::shared_ptr<const data::Dataset> ds = open_dataset(ctx, in, spec.seed);
  const Range shard = balanced_range(ds->size(), ctx.size(), ctx.rank());
  if (wrap) ctx.agree([&] { ds = wrap(ds, shard); });
  auto model = open_model(ctx, in, model_options_for(*ds, in, spec.seed));
  check_fit(ctx, *ds, in, *model);
  std::unique_ptr<Stage> stage;
  ctx.agree([&] { stage = build(*ds, *model); });
  std::unique_ptr<io::ResultsFile> rf;
  if (!spec.out.empty()) rf = std::make_unique<io::ResultsFile>(ctx, spec.out, spec.run_info());
  const comm::Traffic before = ctx.traffic();
  Stopwatch sw;
  stage->prepare(ctx, *ds, shard);
  ctx.agree([&] { stage->run_shard(*ds, shard, ctx.rank() == 0); });
  stage->reduce(ctx.comm());
  const comm::Traffic traffic = ctx.traffic() - before;
  const double seconds =
      comm::allreduce_scalar(ctx.host_comm(), sw.seconds(), comm::ReduceOp::kMax);
  if (rf) {
    record_inputs(*rf, in, ds.get(), model.get());
    stage->write(*rf);
    rf->record_stage(stage->name(),
                     {seconds, stage->items(), stage->unit(), stage->device_seconds(), traffic});
    stage->write_companions(ctx, *ds, *model, spec.out);
    rf->finish();
    if (ctx.rank() == 0) {
      for (const auto& p : stage->write_figures(spec.out, model->name() + " on " + ds->spec())) {
        std::cout << "# plot " << p.string() << "\n";
      }
    }
  }
  if (ctx.rank() == 0) stage->print(*ds, *model, seconds);
  return 0;
}

}  // namespace sfb::pipeline
