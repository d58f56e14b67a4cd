// `sfbench sf`: SF robustness (SPEC §2) of one model on one dataset split.
#include "app.hpp"
#include "shapley/sf_command.hpp"

namespace sfb::app {

Command register_sf(CLI::App& app, Invocation& inv) {
  auto* sub = app.add_subcommand(
      "sf", "SF robustness: spread of neuron Shapley values, with a bootstrap CI");
  add_flag_for_key(sub, inv, "--layer", "sf.layer",
                   "probed layer (default: features = penultimate)");
  add_flag_for_key(sub, inv, "--target", "sf.target", "logit|logprob|prob|pred-logit");
  add_flag_for_key(sub, inv, "--bootstrap", "sf.bootstrap", "bootstrap replicates (0 = no CI)");
  add_flag_for_key(sub, inv, "--dtype", "sf.dtype", "float32|float64 model evaluation");
  sub->add_flag_callback(
      "--save-per-sample", [&inv] { inv.flags["sf.save_per_sample"] = "true"; },
      "write /sf/per_sample [n, k] (config key 'sf.save_per_sample')");
  return {sub, [](Context& ctx, Invocation& inv2) {
            resolve(ctx, inv2, "sf", kInputs | kSf);
            return pipeline::run_command(
                ctx, command_spec(inv2, "sf"),
                [&](const data::Dataset& ds, models::Classifier& model) {
                  return std::make_unique<shapley::SfCommandStage>(
                      model, inv2.sf, ds.image_shape(), static_cast<uint64_t>(inv2.common.seed),
                      ctx.device(), inv2.common.batch_size, inv2.inputs.split);
                });
          }};
}

}  // namespace sfb::app
