// `sfbench eval`: SF robustness (SPEC §2) and accuracy under attack (SPEC §3) in one run: one
// clean pass feeds both, plus the activation difference of paper 000 Fig. 2.
#include <fmt/format.h>
#include <torch/torch.h>

#include "app.hpp"
#include "attacks/driver.hpp"
#include "core/partition.hpp"
#include "core/timer.hpp"

namespace sfb::app {
namespace {

int run_eval(Context& ctx, Invocation& inv) {
  resolve(ctx, inv, "eval", kInputs | kAttack | kSf);
  pipeline::OpenedInputs opened = pipeline::open_inputs(ctx, "eval", inv.inputs, inv.common.out,
                                                        static_cast<uint64_t>(inv.common.seed));
  const auto& ds = opened.ds;
  const auto& model = opened.model;
  const auto seed = static_cast<uint64_t>(inv.common.seed);
  std::unique_ptr<shapley::SfStage> stage;
  ctx.agree([&] {
    stage =
        std::make_unique<shapley::SfStage>(*model, inv.sf, ds->image_shape(), seed, ctx.device());
  });
  const Range shard = balanced_range(ds->size(), ctx.size(), ctx.rank());
  const comm::Traffic before = ctx.traffic();
  Stopwatch sw;
  ctx.agree([&] { stage->run_shard(*ds, shard, inv.common.batch_size, ctx.rank() == 0); });
  const shapley::SfStatistics s = stage->reduce(ctx.comm());
  const comm::Traffic sf_traffic = ctx.traffic() - before;
  const double sf_seconds =
      comm::allreduce_scalar(ctx.host_comm(), sw.seconds(), comm::ReduceOp::kMax);
  // Activation differences need the penultimate layer's neurons, which is what C ranks by default.
  const bool act = inv.sf.layer == "features";
  const torch::Tensor c_order = act ? std::get<1>(s.global_shapley.sort(0, true)) : torch::Tensor();
  attacks::AttackRun run =
      attacks::run_attacks(ctx, attack_options(inv), *ds, *model, shard,
                           stage->preds().eq(stage->labels()), shapley::sf_dtype(inv.sf), act);
  if (!inv.common.out.empty()) {
    io::ResultsFile rf(ctx, inv.common.out, run_info(inv, "eval"));
    pipeline::record_inputs(rf, inv.inputs, ds.get(), model.get());
    shapley::write_sf(rf, *stage, s, inv.inputs.split);
    rf.record_stage("sf", {sf_seconds, static_cast<double>(s.n), "images", stage->device_seconds(),
                           sf_traffic});
    attacks::write_run(rf, run, shard.begin, c_order);
    rf.finish();
    attacks::remove_checkpoint(ctx, inv.common.out);
  }
  if (ctx.rank() == 0) {
    fmt::print(
        "# sfbench eval: SF {:.6g} [{:.6g}, {:.6g}] (k = {}, n = {}, split {}), clean accuracy "
        "{:.4f}\n",
        s.sf, s.ci_low, s.ci_high, s.k, s.n, inv.inputs.split, s.accuracy);
    attacks::print_attack_table(inv.inputs.split, *ds, *model, run);
  }
  return 0;
}

}  // namespace

Command register_eval(CLI::App& app, Invocation& inv) {
  auto* sub = app.add_subcommand(
      "eval", "SF robustness and attacks in one run, with activation differences");
  add_attack_flags(sub, inv);
  add_flag_for_key(sub, inv, "--layer", "sf.layer", "probed layer (default: features)");
  add_flag_for_key(sub, inv, "--target", "sf.target", "logit|logprob|prob|pred-logit");
  add_flag_for_key(sub, inv, "--bootstrap", "sf.bootstrap", "bootstrap replicates (0 = no CI)");
  add_flag_for_key(sub, inv, "--dtype", "sf.dtype", "float32|float64 model evaluation");
  return {sub, run_eval};
}

}  // namespace sfb::app
