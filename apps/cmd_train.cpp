// `sfbench train`: data-parallel (adversarial) training and SF-regularized fine-tuning (SPEC §6).
#include <fmt/format.h>

#include <cstdlib>
#include <iostream>

#include "app.hpp"
#include "core/error.hpp"
#include "train/results.hpp"

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
      "continue from the checkpoint when it exists (config key 'train.resume')");
  return {
      sub, [](Context& ctx, Invocation& inv2) {
        // For training, --batch-size is the global minibatch (train.batch_size).
        if (auto it = inv2.flags.find("batch_size"); it != inv2.flags.end()) {
          inv2.flags["train.batch_size"] = it->second;
          inv2.flags.erase(it);
        }
        resolve(ctx, inv2, "train", kInputs | kTrain);
        const auto& in = inv2.inputs;
        const auto& tc = inv2.train;
        pipeline::require_inputs(ctx, "train", in, inv2.common.out);
        ctx.agree([&] {
          if (inv2.common.out.empty() && tc.checkpoint.empty()) {
            throw ConfigError(
                "sfbench train needs --out FILE.h5 or --checkpoint FILE (key 'train.checkpoint')");
          }
          train::validate(tc, ctx.size());
        });
        const auto seed = static_cast<uint64_t>(inv2.common.seed);
        auto ds = pipeline::open_dataset(ctx, in, seed);
        auto model = pipeline::open_model(ctx, in, pipeline::model_options_for(*ds, in, seed));
        pipeline::check_fit(ctx, *ds, in, *model);
        auto native = std::dynamic_pointer_cast<models::NativeModel>(model);
        const std::filesystem::path ckpt = checkpoint_path(inv2);
        std::unique_ptr<train::Trainer> trainer;
        bool resumed = false;
        ctx.agree([&] {
          if (!native)
            throw ConfigError(
                "sfbench train needs a native model (zoo:NAME[@FILE] or checkpoint:FILE), not " +
                model->name());
          trainer =
              std::make_unique<train::Trainer>(*native, *ds, tc, ctx.comm(), seed, ctx.device(),
                                               inv2.schema.to_toml(), &ctx.host_comm());
          if (tc.resume) resumed = trainer->resume(ckpt);
        });
        if (const char* at = std::getenv("SFB_TRAIN_STOP_AT_STEP"))
          trainer->set_stop_at_step(std::atoll(at));
        if (ctx.rank() == 0 && resumed) {
          std::cerr << fmt::format("[train] resumed from {}: {} epochs done, step {} of the next\n",
                                   ckpt.string(), trainer->state().epochs_done,
                                   trainer->state().step_in_epoch);
        }
        const comm::Traffic before = ctx.traffic();
        if (trainer->run(ckpt, ctx.rank() == 0) == train::RunStatus::kPreempted) {
          return train::kPreemptedExitCode;
        }
        const std::string sha = train::weights_sha256(*native);
        if (!inv2.common.out.empty()) {
          io::ResultsFile rf(ctx, inv2.common.out, run_info(inv2, "train"));
          pipeline::record_inputs(rf, in, ds.get(), model.get());
          train::write_train(rf, *trainer, tc, ckpt, sha);
          rf.record_stage("train", train::train_timing(*trainer, tc, ctx.traffic() - before));
          rf.finish();
        }
        if (ctx.rank() == 0) {
          const auto& h = trainer->history();
          std::cout << fmt::format(
              "# sfbench train: {} on {}, loss {}, λ = {}, {} epochs, checkpoint {}\n",
              model->name(), ds->spec(), tc.loss, tc.sf_lambda, h.size(), ckpt.string());
          if (!h.empty()) {
            std::cout << fmt::format("# final epoch: total {:.6g}, sf {:.6g}, accuracy {:.4f}\n",
                                     h.back().terms.back(),
                                     h.back().terms[h.back().terms.size() - 2], h.back().accuracy);
          }
          std::cout << "# weights_sha256 " << sha << "\n";
        }
        return 0;
      }};
}

}  // namespace sfb::app
