// `sfbench attack` and `sfbench eval`: accuracy under attack (SPEC §3), alone or after the SF
// stage (SPEC §2) in the same run, with the activation difference of paper 000 Fig. 2.
#include <fmt/format.h>
#include <torch/torch.h>

#include "app.hpp"
#include "attack_driver.hpp"
#include "core/error.hpp"
#include "core/partition.hpp"
#include "core/timer.hpp"

namespace sfb::app {
namespace {

void add_attack_flags(CLI::App* sub, Invocation& inv) {
  sub->add_option_function<std::string>(
      "--attacks", [&inv](const std::string& v) {
        std::string list = "[";
        std::size_t start = 0;
        while (start <= v.size()) {
          const auto comma = v.find(',', start);
          const std::string item = v.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
          list += (list.size() > 1 ? ", \"" : "\"") + item + "\"";
          if (comma == std::string::npos) break;
          start = comma + 1;
        }
        inv.flags["attack.list"] = list + "]";
      },
      "comma-separated attack specs, e.g. fgsm,pgd:steps=20,autoattack (config key 'attack.list')");
  add_flag_for_key(sub, inv, "--norm", "attack.norm", "linf|l2");
  sub->add_option_function<std::string>(
      "--eps", [&inv](const std::string& v) {
        // "8/255" is how radii are written; the config key takes the decimal value.
        const auto slash = v.find('/');
        inv.flags["attack.eps"] = slash == std::string::npos ? v
            : fmt::format("{:.17g}", std::stod(v.substr(0, slash)) / std::stod(v.substr(slash + 1)));
      },
      "radius, e.g. 8/255 or 0.5 (config key 'attack.eps'; default: SPEC §3's for the norm and image size)");
  sub->add_flag_callback("--no-resume", [&inv] { inv.flags["attack.resume"] = "false"; },
                         "start over even when <out>.checkpoint.h5 matches (config key 'attack.resume')");
}

/// The per-stage cost as summary entries metrics.attack_stage_cost[name] = {samples,
/// passes_per_sample, backward_passes_per_sample}.
void record_costs(io::ResultsFile& rf, const AttackRun& run) {
  for (const auto& c : run.costs) {
    rf.summary()["metrics"]["attack_stage_cost"][c.name] = {{"samples", c.samples},
                                                            {"passes_per_sample", c.passes_per_sample},
                                                            {"backward_passes_per_sample",
                                                             c.backward_passes_per_sample}};
  }
}

/// Opens the inputs on every rank with the checks both commands share.
void open_inputs(Context& ctx, Invocation& inv, std::unique_ptr<data::Dataset>& ds,
                 std::shared_ptr<models::Classifier>& model, const char* cmd) {
  const auto& in = inv.inputs;
  ctx.agree([&] {
    if (in.data.empty()) throw ConfigError(fmt::format("sfbench {} needs a dataset: --data SPEC (key 'data')", cmd));
    if (in.model.empty()) throw ConfigError(fmt::format("sfbench {} needs a model: --model SPEC (key 'model')", cmd));
    if (!inv.common.out.empty()) io::check_output_path(inv.common.out);
  });
  const auto seed = static_cast<uint64_t>(inv.common.seed);
  ds = open_dataset(ctx, in, seed);
  model = open_model(ctx, in, model_options_for(*ds, in, seed));
  ctx.agree([&] {
    if (ds->size() == 0) throw DataError("dataset " + ds->spec() + " has no samples (split " + in.split + ")");
    if (ds->num_classes() > model->num_classes()) {
      throw DataError(fmt::format("dataset {} has {} classes but model {} outputs {}", ds->spec(),
                                  ds->num_classes(), model->name(), model->num_classes()));
    }
  });
}

int run_attack(Context& ctx, Invocation& inv) {
  resolve(ctx, inv);
  std::unique_ptr<data::Dataset> ds;
  std::shared_ptr<models::Classifier> model;
  open_inputs(ctx, inv, ds, model, "attack");
  const torch::ScalarType dtype = shapley::sf_dtype(inv.sf);
  ctx.agree([&] {
    model->train(false);
    model->to_dtype(dtype);
  });
  const Range shard = balanced_range(ds->size(), ctx.size(), ctx.rank());
  CleanPass clean;
  ctx.agree([&] { clean = clean_pass(*model, *ds, shard, inv.common.batch_size, dtype, ctx.device()); });
  AttackRun run = run_attacks(ctx, inv, *ds, *model, shard, clean.pred.eq(clean.label), dtype, false);
  if (!inv.common.out.empty()) {
    io::ResultsFile rf(ctx, inv.common.out, run_info(inv, "attack"));
    record_inputs(rf, inv.inputs, ds.get(), model.get());
    rf.write_samples(shard.begin, clean.index, clean.label, clean.pred);
    attacks::write_attacks(rf, *run.runner, run.summaries, shard.begin, torch::Tensor(), run.seconds);
    rf.record_traffic("attacks", run.traffic);
    rf.record_device_seconds("attacks", run.runner->device_seconds());
    record_costs(rf, run);
    rf.finish();
    remove_checkpoint(ctx, inv);
  }
  if (ctx.rank() == 0) print_attack_table(inv, *ds, *model, run);
  return 0;
}

int run_eval(Context& ctx, Invocation& inv) {
  resolve(ctx, inv);
  std::unique_ptr<data::Dataset> ds;
  std::shared_ptr<models::Classifier> model;
  open_inputs(ctx, inv, ds, model, "eval");
  const auto seed = static_cast<uint64_t>(inv.common.seed);
  std::unique_ptr<shapley::SfStage> stage;
  ctx.agree([&] { stage = std::make_unique<shapley::SfStage>(*model, inv.sf, ds->image_shape(), seed, ctx.device()); });
  const Range shard = balanced_range(ds->size(), ctx.size(), ctx.rank());
  const comm::Traffic before = ctx.traffic();
  Stopwatch sw;
  ctx.agree([&] { stage->run_shard(*ds, shard, inv.common.batch_size, ctx.rank() == 0); });
  const shapley::SfStatistics s = stage->reduce(ctx.comm());
  const comm::Traffic sf_traffic = ctx.traffic() - before;
  const double sf_seconds = comm::allreduce_scalar(ctx.host_comm(), sw.seconds(), comm::ReduceOp::kMax);
  // Activation differences need the penultimate layer's neurons, which is what C ranks by default.
  const bool act = inv.sf.layer == "features";
  const torch::Tensor c_order = act ? std::get<1>(s.global_shapley.sort(0, true)) : torch::Tensor();
  AttackRun run = run_attacks(ctx, inv, *ds, *model, shard, stage->preds().eq(stage->labels()),
                              shapley::sf_dtype(inv.sf), act);
  if (!inv.common.out.empty()) {
    io::ResultsFile rf(ctx, inv.common.out, run_info(inv, "eval"));
    record_inputs(rf, inv.inputs, ds.get(), model.get());
    shapley::write_sf(rf, *stage, s, inv.inputs.split, sf_seconds);
    attacks::write_attacks(rf, *run.runner, run.summaries, shard.begin, c_order, run.seconds);
    rf.record_traffic("sf", sf_traffic);
    rf.record_device_seconds("sf", stage->device_seconds());
    rf.record_traffic("attacks", run.traffic);
    rf.record_device_seconds("attacks", run.runner->device_seconds());
    record_costs(rf, run);
    rf.finish();
    remove_checkpoint(ctx, inv);
  }
  if (ctx.rank() == 0) {
    fmt::print("# sfbench eval: SF {:.6g} [{:.6g}, {:.6g}] (k = {}, n = {}, split {}), clean accuracy {:.4f}\n",
               s.sf, s.ci_low, s.ci_high, s.k, s.n, inv.inputs.split, s.accuracy);
    print_attack_table(inv, *ds, *model, run);
  }
  return 0;
}

}  // namespace

Command register_attack(CLI::App& app, Invocation& inv) {
  auto* sub = app.add_subcommand("attack", "accuracy under attacks (FGSM, PGD, CW, APGD, FAB, Square, AutoAttack)");
  add_attack_flags(sub, inv);
  add_flag_for_key(sub, inv, "--dtype", "sf.dtype", "float32|float64 model evaluation");
  return {sub, run_attack};
}

Command register_eval(CLI::App& app, Invocation& inv) {
  auto* sub = app.add_subcommand("eval", "SF robustness and attacks in one run, with activation differences");
  add_attack_flags(sub, inv);
  add_flag_for_key(sub, inv, "--layer", "sf.layer", "probed layer (default: features)");
  add_flag_for_key(sub, inv, "--target", "sf.target", "logit|logprob|prob|pred-logit");
  add_flag_for_key(sub, inv, "--bootstrap", "sf.bootstrap", "bootstrap replicates (0 = no CI)");
  add_flag_for_key(sub, inv, "--dtype", "sf.dtype", "float32|float64 model evaluation");
  return {sub, run_eval};
}

}  // namespace sfb::app
