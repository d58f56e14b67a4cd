// `sfbench attack` and `sfbench eval`: accuracy under attack (SPEC §3), alone or after the SF
// stage (SPEC §2) in the same run, with the activation difference of paper 000 Fig. 2.
#include <fmt/format.h>
#include <torch/torch.h>

#include "app.hpp"
#include "attacks/command.hpp"

namespace sfb::app {

void add_attack_flags(CLI::App* sub, Invocation& inv) {
  sub->add_option_function<std::string>(
      "--attacks",
      [&inv](const std::string& v) {
        std::string list = "[";
        std::size_t start = 0;
        while (start <= v.size()) {
          const auto comma = v.find(',', start);
          const std::string item =
              v.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
          list += (list.size() > 1 ? ", \"" : "\"") + item + "\"";
          if (comma == std::string::npos) break;
          start = comma + 1;
        }
        inv.flags["attack.list"] = list + "]";
      },
      "comma-separated attack specs, e.g. fgsm,pgd:steps=20,autoattack (config key 'attack.list')");
  add_flag_for_key(sub, inv, "--norm", "attack.norm", "linf|l2");
  sub->add_option_function<std::string>(
      "--eps",
      [&inv](const std::string& v) {
        // "8/255" is how radii are written; the config key takes the decimal value.
        const auto slash = v.find('/');
        inv.flags["attack.eps"] = slash == std::string::npos
                                      ? v
                                      : fmt::format("{:.17g}", std::stod(v.substr(0, slash)) /
                                                                   std::stod(v.substr(slash + 1)));
      },
      "radius, e.g. 8/255 or 0.5 (config key 'attack.eps'; default: SPEC §3's for the norm and "
      "image size)");
  sub->add_flag_callback(
      "--no-resume", [&inv] { inv.flags["attack.resume"] = "false"; },
      "start over even when <out>.checkpoint.h5 matches (config key 'attack.resume')");
}

attacks::AttackRunOptions attack_options(Invocation& inv) {
  attacks::AttackRunOptions o;
  o.config = inv.attack;
  o.seed = static_cast<uint64_t>(inv.common.seed);
  o.batch_size = inv.common.batch_size;
  o.out = inv.common.out;
  o.config_toml = inv.schema.to_toml();
  o.checkpoint_info = [&inv] { return run_info(inv, "attack-checkpoint"); };
  return o;
}

namespace {

int run_attack(Context& ctx, Invocation& inv) {
  resolve(ctx, inv, "attack", kInputs | kAttack | kSfDtype);
  return pipeline::run_command(
      ctx, command_spec(inv, "attack"), [&](const data::Dataset&, models::Classifier& model) {
        return std::make_unique<attacks::AttackCommandStage>(
            attack_options(inv), model, shapley::sf_dtype(inv.sf), ctx.device(), inv.inputs.split);
      });
}

}  // namespace

Command register_attack(CLI::App& app, Invocation& inv) {
  auto* sub = app.add_subcommand(
      "attack", "accuracy under attacks (FGSM, PGD, CW, APGD, FAB, Square, AutoAttack)");
  add_attack_flags(sub, inv);
  add_flag_for_key(sub, inv, "--dtype", "sf.dtype", "float32|float64 model evaluation");
  return {sub, run_attack};
}

}  // namespace sfb::app
