// `sfbench train`: data-parallel (adversarial) training and SF-regularized fine-tuning (SPEC §6).
#include <cstdlib>
#include <nlohmann/json.hpp>

#include "app.hpp"
#include "core/error.hpp"
#include "models/checkpoint.hpp"
#include "train/command.hpp"

namespace sfb::app {
namespace {

/// The checkpoint file: train.checkpoint, else --out with the extension .ckpt.
std::filesystem::path checkpoint_path(const Invocation& inv) {
  if (!inv.train.checkpoint.empty()) return inv.train.checkpoint;
  std::filesystem::path p = inv.common.out;
  return p.replace_extension(".ckpt");
}

}  // namespace

Command register_train(CLI::App& app, Invocation& inv) {
  auto* sub =
      app.add_subcommand("train", "data-parallel (adversarial) training with the SF regularizer");
  add_flag_for_key(sub, inv, "--epochs", "train.epochs", "epochs in total");
  add_flag_for_key(sub, inv, "--loss", "train.loss", "standard|fgsm-at|pgd-at|mart");
  add_flag_for_key(sub, inv, "--sf-lambda", "train.sf_lambda", "λ of the SF regularizer (0 = off)");
  add_flag_for_key(sub, inv, "--lr", "train.lr", "initial learning rate");
  add_flag_for_key(sub, inv, "--checkpoint", "train.checkpoint",
                   "checkpoint file (default: --out with .ckpt)");
  sub->add_flag_callback(
      "--resume", [&inv] { inv.flags["train.resume"] = "true"; },
      "continue from the checkpoint when it exists (config key 'train.resume'); refused when a "
      "key that changes the training differs from the checkpoint's configuration");
  sub->add_option_function<std::vector<std::string>>(
         "--resume-allow",
         [&inv](const std::vector<std::string>& keys) {
           inv.flags["train.resume_allow"] = nlohmann::json(keys).dump();
         },
         "comma-separated config keys that may differ from the checkpoint's on --resume, e.g. "
         "train.lr,seed; '*' = any (config key 'train.resume_allow')")
      ->delimiter(',');
  return {
      sub, [](Context& ctx, Invocation& inv2) {
        // For training, --batch-size is the global minibatch (train.batch_size).
        if (auto it = inv2.flags.find("batch_size"); it != inv2.flags.end()) {
          inv2.flags["train.batch_size"] = it->second;
          inv2.flags.erase(it);
        }
        resolve(ctx, inv2, "train", kInputs | kTrain);
        const auto& tc = inv2.train;
        pipeline::CommandSpec spec = command_spec(inv2, "train");
        spec.check = [&] {
          if (inv2.common.out.empty() && tc.checkpoint.empty()) {
            throw ConfigError(
                "sfbench train needs --out FILE.h5 or --checkpoint FILE (key "
                "'train.checkpoint')");
          }
          train::validate(tc, ctx.size());
        };
        // Only an earlier checkpoint of sfbench is replaced. With --resume an existing one is
        // an input, and loading it says what is wrong with it.
        spec.companions = [&inv2] {
          std::function<bool(const std::filesystem::path&)> ours = models::is_sfbench_checkpoint;
          if (inv2.train.resume) ours = [](const std::filesystem::path&) { return true; };
          return std::vector<io::Companion>{{checkpoint_path(inv2), "training checkpoint", ours}};
        };
        const char* stop = std::getenv("SFB_TRAIN_STOP_AT_STEP");
        return pipeline::run_command(
            ctx, spec, [&](const data::Dataset& ds, models::Classifier& model) {
              return std::make_unique<train::TrainCommandStage>(
                  ctx, model, ds, tc, static_cast<uint64_t>(inv2.common.seed),
                  inv2.schema.to_toml(), checkpoint_path(inv2),
                  stop != nullptr ? std::atoll(stop) : 0);
            });
      }};
}

}  // namespace sfb::app
