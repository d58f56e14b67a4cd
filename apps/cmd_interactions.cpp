// `sfbench interactions`: multi-order interactions between image patches (SPEC §4, paper 001).
#include "app.hpp"
#include "interactions/command.hpp"

namespace sfb::app {

Command register_interactions(CLI::App& app, Invocation& inv) {
  auto* sub =
      app.add_subcommand("interactions", "multi-order interactions I(m), dJ(m), D(m) (paper 001)");
  add_flag_for_key(sub, inv, "--grid", "interactions.grid", "G: G×G patches (0 = auto)");
  add_flag_for_key(sub, inv, "--pairs", "interactions.pairs", "P: pairs per image");
  add_flag_for_key(sub, inv, "--contexts", "interactions.contexts",
                   "K: contexts per (pair, order)");
  add_flag_for_key(sub, inv, "--preset", "interactions.preset", "quick|reference");
  add_flag_for_key(sub, inv, "--pair-sampling", "interactions.pair_sampling", "neighbour|uniform");
  add_flag_for_key(sub, inv, "--baseline", "interactions.baseline", "channel-mean|pixel-mean");
  add_flag_for_key(sub, inv, "--dtype", "interactions.dtype", "float32|float64 model evaluation");
  sub->add_flag_callback(
      "--no-adversarial", [&inv] { inv.flags["interactions.adversarial"] = "false"; },
      "normal inputs only (config key 'interactions.adversarial')");
  sub->add_flag_callback(
      "--exact", [&inv] { inv.flags["interactions.exact"] = "true"; },
      "enumerate all subsets, n_p <= 16 (config key 'interactions.exact')");
  sub->add_flag_callback(
      "--shapley", [&inv] { inv.flags["interactions.shapley"] = "true"; },
      "also multi-order Shapley values (config key 'interactions.shapley')");
  sub->add_flag_callback(
      "--save-per-image", [&inv] { inv.flags["interactions.save_per_image"] = "true"; },
      "write /interactions/per_image/* (config key 'interactions.save_per_image')");
  return {sub, [](Context& ctx, Invocation& inv2) {
            resolve(ctx, inv2, "interactions", kInputs | kInteractions);
            return pipeline::run_command(
                ctx, command_spec(inv2, "interactions"),
                [&](const data::Dataset& ds, models::Classifier& model) {
                  const auto rc = interactions::resolve_config(inv2.interactions, ds.image_shape());
                  inv2.interactions = rc.cfg;  // the resolved grid, P and K are echoed
                  return std::make_unique<interactions::InteractionsCommandStage>(
                      model, rc, ds.image_shape(), static_cast<uint64_t>(inv2.common.seed),
                      ctx.device(), inv2.common.batch_size);
                });
          }};
}

}  // namespace sfb::app
