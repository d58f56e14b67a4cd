// `sfbench interactions`: multi-order interactions between image patches (SPEC §4, paper 001).
#include <fmt/format.h>

#include <cmath>
#include <iostream>

#include "app.hpp"
#include "core/error.hpp"
#include "core/partition.hpp"
#include "core/timer.hpp"
#include "interactions/writer.hpp"

namespace sfb::app {
namespace {

std::string num(double v) { return std::isfinite(v) ? fmt::format("{:.4g}", v) : "nan"; }

void print_table(const interactions::InteractionsStage& stage,
                 const interactions::InteractionStatistics& s, const std::string& what,
                 double seconds) {
  using interactions::Row;
  const auto& c = stage.config().cfg;
  const bool adv = c.adversarial;
  std::cout << fmt::format("# sfbench interactions: {}, {}×{} grid (n_p = {}), {}, P = {}, K = {}, "
                           "{} pairs, {} baseline, n = {}\n",
                           what, c.grid, c.grid, s.num_players, c.exact ? "exact" : "sampled",
                           c.pairs, c.contexts, c.pair_sampling, c.baseline, s.n);
  std::cout << fmt::format("#{:>6} {:>7} {:>21} {:>9}{}\n", "m", "m/n", "I_nor ± SE", "D_nor",
                           adv ? fmt::format(" {:>21} {:>9} {:>21}", "I_adv ± SE", "D_adv", "dJ ± SE")
                               : "");
  const torch::Tensor dj = s.J(interactions::kDeltaI), dj_se = s.J_stderr(interactions::kDeltaI);
  for (size_t q = 0; q < s.orders.size(); ++q) {
    const auto i = static_cast<int64_t>(q);
    auto pm = [&](Row r) {
      return fmt::format("{} ± {}", num(s.mean[r][i].item<double>()), num(s.stderr_[r][i].item<double>()));
    };
    std::cout << fmt::format(" {:>6} {:>7.3f} {:>21} {:>9}", s.orders[q],
                             static_cast<double>(s.orders[q]) / s.num_players, pm(interactions::kINor),
                             num(s.mean[interactions::kDNor][i].item<double>()));
    if (adv) {
      std::cout << fmt::format(" {:>21} {:>9} {:>21}", pm(interactions::kIAdv),
                               num(s.mean[interactions::kDAdv][i].item<double>()),
                               fmt::format("{} ± {}", num(dj[i].item<double>()), num(dj_se[i].item<double>())));
    }
    std::cout << "\n";
  }
  if (adv) {
    std::cout << fmt::format("# adversarial: mean utility {} (target {} ± {}), reached {}/{}, "
                             "misclassified {}/{}\n",
                             num(s.adv_utility_mean), c.adv_utility, c.adv_tolerance, s.adv_reached,
                             s.n, s.adv_flipped, s.n);
  }
  std::cout << fmt::format("# {} masked forwards in {:.1f} s ({:.1f}/s); SE = SD over images / sqrt(n)\n",
                           s.masked_forwards, seconds,
                           seconds > 0 ? static_cast<double>(s.masked_forwards) / seconds : 0.0);
}

}  // namespace

Command register_interactions(CLI::App& app, Invocation& inv) {
  auto* sub = app.add_subcommand("interactions", "multi-order interactions I(m), dJ(m), D(m) (paper 001)");
  add_flag_for_key(sub, inv, "--grid", "interactions.grid", "G: G×G patches (0 = auto)");
  add_flag_for_key(sub, inv, "--pairs", "interactions.pairs", "P: pairs per image");
  add_flag_for_key(sub, inv, "--contexts", "interactions.contexts", "K: contexts per (pair, order)");
  add_flag_for_key(sub, inv, "--preset", "interactions.preset", "quick|reference");
  add_flag_for_key(sub, inv, "--pair-sampling", "interactions.pair_sampling", "neighbour|uniform");
  add_flag_for_key(sub, inv, "--baseline", "interactions.baseline", "channel-mean|pixel-mean");
  add_flag_for_key(sub, inv, "--dtype", "interactions.dtype", "float32|float64 model evaluation");
  sub->add_flag_callback("--no-adversarial", [&inv] { inv.flags["interactions.adversarial"] = "false"; },
                         "normal inputs only (config key 'interactions.adversarial')");
  sub->add_flag_callback("--exact", [&inv] { inv.flags["interactions.exact"] = "true"; },
                         "enumerate all subsets, n_p <= 10 (config key 'interactions.exact')");
  sub->add_flag_callback("--shapley", [&inv] { inv.flags["interactions.shapley"] = "true"; },
                         "also multi-order Shapley values (config key 'interactions.shapley')");
  sub->add_flag_callback("--save-per-image", [&inv] { inv.flags["interactions.save_per_image"] = "true"; },
                         "write /interactions/per_image/* (config key 'interactions.save_per_image')");
  return {sub, [](Context& ctx, Invocation& inv2) {
            resolve(ctx, inv2);
            const auto& in = inv2.inputs;
            ctx.agree([&] {
              if (in.data.empty()) throw ConfigError("sfbench interactions needs a dataset: --data SPEC (key 'data')");
              if (in.model.empty()) throw ConfigError("sfbench interactions needs a model: --model SPEC (key 'model')");
              if (!inv2.common.out.empty()) io::check_output_path(inv2.common.out);
            });
            const auto seed = static_cast<uint64_t>(inv2.common.seed);
            auto ds = open_dataset(ctx, in, seed);
            interactions::ResolvedConfig rc;
            ctx.agree([&] {
              rc = interactions::resolve_config(inv2.interactions, ds->image_shape());
              if (ds->size() == 0) throw DataError("dataset " + ds->spec() + " has no samples");
            });
            inv2.interactions = rc.cfg;  // the resolved grid, P and K go into the echoed config
            auto model = open_model(ctx, in, model_options_for(*ds, in, seed));
            std::unique_ptr<interactions::InteractionsStage> stage;
            ctx.agree([&] {
              if (ds->num_classes() > model->num_classes()) {
                throw DataError(fmt::format("dataset {} has {} classes but model {} outputs {}", ds->spec(),
                                            ds->num_classes(), model->name(), model->num_classes()));
              }
              stage = std::make_unique<interactions::InteractionsStage>(
                  *model, rc, ds->image_shape(), seed, ctx.device(), inv2.common.batch_size);
            });
            std::unique_ptr<io::ResultsFile> rf;
            if (!inv2.common.out.empty()) rf = std::make_unique<io::ResultsFile>(ctx, inv2.common.out, run_info(inv2, "interactions"));
            const Range shard = balanced_range(ds->size(), ctx.size(), ctx.rank());
            const comm::Traffic before = ctx.traffic();
            Stopwatch sw;
            stage->compute_baseline(*ds, shard, ctx.comm());  // collective
            ctx.agree([&] { stage->run_shard(*ds, shard, ctx.rank() == 0); });
            const interactions::InteractionStatistics s = stage->reduce(ctx.comm());
            const comm::Traffic traffic = ctx.traffic() - before;
            const double seconds = comm::allreduce_scalar(ctx.host_comm(), sw.seconds(), comm::ReduceOp::kMax);
            const std::string what = model->name() + " on " + ds->spec();
            if (rf) {
              record_inputs(*rf, in, ds.get(), model.get());
              interactions::write_interactions(*rf, *stage, s, seconds);
              rf->record_traffic("interactions", traffic);
              rf->record_device_seconds("interactions", stage->device_seconds());
              rf->finish();
              if (ctx.rank() == 0) {
                for (const auto& p : interactions::write_plots(s, inv2.common.out, what)) {
                  std::cout << "# plot " << p.string() << "\n";
                }
              }
            }
            if (ctx.rank() == 0) print_table(*stage, s, what, seconds);
            return 0;
          }};
}

}  // namespace sfb::app
