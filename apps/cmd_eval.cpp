// `sfbench eval`: SF robustness (SPEC §2) and accuracy under attack (SPEC §3) in one run: one
// clean pass feeds both, plus the activation difference of paper 000 Fig. 2.
#include <fmt/format.h>
#include <torch/torch.h>

#include "app.hpp"
#include "attacks/command.hpp"
#include "shapley/sf_command.hpp"

namespace sfb::app {
namespace {

int run_eval(Context& ctx, Invocation& inv) {
  resolve(ctx, inv, "eval", kInputs | kAttack | kSf);
  return pipeline::run_command(
      ctx, command_spec(inv, "eval"),
      pipeline::StagesFactory([&](const data::Dataset& ds, models::Classifier& model) {
        auto sf = std::make_unique<shapley::SfCommandStage>(
            model, inv.sf, ds.image_shape(), static_cast<uint64_t>(inv.common.seed), ctx.device(),
            inv.common.batch_size, inv.inputs.split, "eval");
        const shapley::SfCommandStage* s = sf.get();
        // The attacks start from the SF pass's clean predictions. Activation differences need the
        // penultimate layer's neurons, which is what C ranks by default.
        attacks::CleanSource clean = [s] {
          return attacks::CleanPass{s->sf().index(), s->sf().labels(), s->sf().preds()};
        };
        std::function<torch::Tensor()> order;
        if (inv.sf.layer == "features") {
          order = [s] { return std::get<1>(s->statistics().global_shapley.sort(0, true)); };
        }
        std::vector<std::unique_ptr<pipeline::Stage>> stages;
        stages.push_back(std::move(sf));
        stages.push_back(std::make_unique<attacks::AttackCommandStage>(
            attack_options(inv), model, shapley::sf_dtype(inv.sf), ctx.device(), inv.inputs.split,
            clean, order));
        return stages;
      }));
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
