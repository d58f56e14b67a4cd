// `sfbench sf`: SF robustness (SPEC §2) of one model on one dataset split.
#include <fmt/format.h>

#include <cmath>
#include <iostream>

#include "app.hpp"
#include "core/error.hpp"
#include "core/partition.hpp"
#include "core/timer.hpp"

namespace sfb::app {
namespace {

std::string fmt_sig(double v) { return std::isfinite(v) ? fmt::format("{:.6g}", v) : "nan"; }

void print_table(const Invocation& inv, const data::Dataset& ds, models::Classifier& model,
                 const shapley::SfStage& stage, const shapley::SfStatistics& s, double seconds) {
  const auto& c = inv.sf;
  std::cout << fmt::format("# sfbench sf: {} on {} (split {}), layer {} (k = {}), target {}, {}{}\n",
                           model.name(), ds.spec(), inv.inputs.split, c.layer, s.k, c.target, c.dtype,
                           stage.uses_fast_path() ? ", linear-head closed form" : ", autograd");
  std::cout << fmt::format("#{:>13} {:>29} {:>10} {:>10} {:>6} {:>10}\n", "SF",
                           fmt::format("{:g}% CI ({} boot)", 100 * s.ci_level, c.bootstrap),
                           "clean_acc", "n", "k", "images/s");
  std::cout << fmt::format(" {:>13} {:>29} {:>10.4f} {:>10} {:>6} {:>10.1f}\n", fmt_sig(s.sf),
                           fmt::format("[{}, {}]", fmt_sig(s.ci_low), fmt_sig(s.ci_high)), s.accuracy,
                           s.n, s.k, seconds > 0 ? static_cast<double>(s.n) / seconds : 0.0);
  const int64_t shown = std::min<int64_t>(5, s.k);
  std::string top, bottom;
  for (int64_t i = 0; i < shown; ++i) {
    top += " " + fmt_sig(s.sorted[i].item<double>());
    bottom += " " + fmt_sig(s.sorted[s.k - shown + i].item<double>());
  }
  std::cout << fmt::format("# C sorted: largest{} ... smallest{}\n", top, bottom);
}

}  // namespace

Command register_sf(CLI::App& app, Invocation& inv) {
  auto* sub = app.add_subcommand("sf", "SF robustness: spread of neuron Shapley values, with a bootstrap CI");
  add_flag_for_key(sub, inv, "--layer", "sf.layer", "probed layer (default: features = penultimate)");
  add_flag_for_key(sub, inv, "--target", "sf.target", "logit|logprob|prob|pred-logit");
  add_flag_for_key(sub, inv, "--bootstrap", "sf.bootstrap", "bootstrap replicates (0 = no CI)");
  add_flag_for_key(sub, inv, "--dtype", "sf.dtype", "float32|float64 model evaluation");
  sub->add_flag_callback("--save-per-sample", [&inv] { inv.flags["sf.save_per_sample"] = "true"; },
                         "write /sf/per_sample [n, k] (config key 'sf.save_per_sample')");
  return {sub, [](Context& ctx, Invocation& inv2) {
            resolve(ctx, inv2);
            const auto& in = inv2.inputs;
            ctx.agree([&] {
              if (in.data.empty()) throw ConfigError("sfbench sf needs a dataset: --data SPEC (key 'data')");
              if (in.model.empty()) throw ConfigError("sfbench sf needs a model: --model SPEC (key 'model')");
              if (!inv2.common.out.empty()) io::check_output_path(inv2.common.out);
            });
            const auto seed = static_cast<uint64_t>(inv2.common.seed);
            auto ds = open_dataset(ctx, in, seed);
            auto model = open_model(ctx, in, model_options_for(*ds, in, seed));
            std::unique_ptr<shapley::SfStage> stage;
            ctx.agree([&] {
              if (ds->size() == 0) {
                throw DataError(fmt::format("dataset {} has no samples (split {}{})", ds->spec(), in.split,
                                            in.subset.empty() ? "" : ", subset '" + in.subset + "'"));
              }
              if (ds->num_classes() > model->num_classes()) {
                throw DataError(fmt::format("dataset {} has {} classes but model {} outputs {}", ds->spec(),
                                            ds->num_classes(), model->name(), model->num_classes()));
              }
              stage = std::make_unique<shapley::SfStage>(*model, inv2.sf, ds->image_shape(), seed, ctx.device());
            });
            std::unique_ptr<io::ResultsFile> rf;
            if (!inv2.common.out.empty()) rf = std::make_unique<io::ResultsFile>(ctx, inv2.common.out, run_info(inv2, "sf"));
            const Range shard = balanced_range(ds->size(), ctx.size(), ctx.rank());
            const comm::Traffic before = ctx.traffic();
            Stopwatch sw;
            ctx.agree([&] { stage->run_shard(*ds, shard, inv2.common.batch_size, ctx.rank() == 0); });
            const shapley::SfStatistics s = stage->reduce(ctx.comm());
            const comm::Traffic traffic = ctx.traffic() - before;
            const double seconds = comm::allreduce_scalar(ctx.host_comm(), sw.seconds(), comm::ReduceOp::kMax);
            if (rf) {
              record_inputs(*rf, in, ds.get(), model.get());
              shapley::write_sf(*rf, *stage, s, in.split, seconds);
              rf->record_traffic("sf", traffic);
              rf->record_device_seconds("sf", stage->device_seconds());
              rf->finish();
            }
            if (ctx.rank() == 0) print_table(inv2, *ds, *model, *stage, s, seconds);
            return 0;
          }};
}

}  // namespace sfb::app
