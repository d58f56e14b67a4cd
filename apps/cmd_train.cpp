// `sfbench train`: data-parallel (adversarial) training and SF-regularized fine-tuning (SPEC §6).
#include <fmt/format.h>

#include <cstdlib>
#include <iostream>

#include "app.hpp"
#include "core/error.hpp"
#include "train/trainer.hpp"

namespace sfb::app {
namespace {

/// The checkpoint file: train.checkpoint, else --out with the extension .ckpt.
std::filesystem::path checkpoint_path(const Invocation& inv) {
  if (!inv.train.checkpoint.empty()) return inv.train.checkpoint;
  std::filesystem::path p = inv.common.out;
  return p.replace_extension(".ckpt");
}

void write_results(io::ResultsFile& rf, const train::Trainer& t, const train::TrainConfig& c,
                   const std::filesystem::path& ckpt, const std::string& sha) {
  const auto& h = t.history();
  const auto column = [&](const auto& get) {
    std::vector<double> v;
    for (const auto& l : h) v.push_back(get(l));
    return torch::tensor(v, torch::kFloat64).reshape({static_cast<int64_t>(v.size())});
  };
  std::vector<int64_t> epochs;
  for (const auto& l : h) epochs.push_back(l.epoch);
  rf.write_global("/train/epoch/epoch",
                  torch::tensor(epochs, torch::kInt64).reshape({static_cast<int64_t>(h.size())}));
  nlohmann::json last;
  for (std::size_t i = 0; i < t.term_names().size(); ++i) {
    rf.write_global("/train/epoch/" + t.term_names()[i], column([&](const auto& l) { return l.terms[i]; }));
    if (!h.empty()) last[t.term_names()[i]] = h.back().terms[i];
  }
  rf.write_global("/train/epoch/accuracy", column([](const auto& l) { return l.accuracy; }));
  rf.write_global("/train/epoch/adv_accuracy", column([](const auto& l) { return l.adv_accuracy; }));
  rf.write_global("/train/epoch/lr", column([](const auto& l) { return l.lr; }));
  rf.write_global("/train/epoch/seconds", column([](const auto& l) { return l.seconds; }));
  rf.write_global("/train/epoch/images_per_s", column([](const auto& l) { return l.images_per_s; }));
  rf.set_attr("/train", "loss", c.loss);
  rf.set_attr("/train", "optimizer", c.optimizer);
  rf.set_attr("/train", "schedule", c.schedule);
  rf.set_attr("/train", "sf_lambda", c.sf_lambda);
  rf.set_attr("/train", "epochs", c.epochs);
  rf.set_attr("/train", "batch_size", c.batch_size);
  rf.set_attr("/train", "steps_per_epoch", t.steps_per_epoch());
  rf.set_attr("/train", "checkpoint", ckpt.string());
  rf.set_attr("/train", "weights_sha256", sha);
  auto& s = rf.summary();
  s["train"] = {{"loss", c.loss}, {"sf_lambda", c.sf_lambda}, {"epochs", c.epochs},
                {"checkpoint", ckpt.string()}, {"weights_sha256", sha}, {"final_terms", last}};
  if (!h.empty()) {
    s["train"]["final_accuracy"] = h.back().accuracy;
    double seconds = 0;
    for (const auto& l : h) seconds += l.seconds;
    const double images = static_cast<double>(h.size() * t.steps_per_epoch() * c.batch_size);
    s["timing"]["train"] = {{"seconds", seconds}, {"items_per_s", seconds > 0 ? images / seconds : 0.0}};
  }
}

}  // namespace

Command register_train(CLI::App& app, Invocation& inv) {
  auto* sub = app.add_subcommand("train", "data-parallel (adversarial) training with the SF regularizer");
  add_flag_for_key(sub, inv, "--epochs", "train.epochs", "epochs in total");
  add_flag_for_key(sub, inv, "--loss", "train.loss", "standard|fgsm-at|pgd-at|mart");
  add_flag_for_key(sub, inv, "--sf-lambda", "train.sf_lambda", "λ of the SF regularizer (0 = off)");
  add_flag_for_key(sub, inv, "--lr", "train.lr", "initial learning rate");
  add_flag_for_key(sub, inv, "--checkpoint", "train.checkpoint", "checkpoint file (default: --out with .ckpt)");
  sub->add_flag_callback("--resume", [&inv] { inv.flags["train.resume"] = "true"; },
                         "continue from the checkpoint when it exists (config key 'train.resume')");
  return {sub, [](Context& ctx, Invocation& inv2) {
            // For training, --batch-size is the global minibatch (train.batch_size).
            if (auto it = inv2.flags.find("batch_size"); it != inv2.flags.end()) {
              inv2.flags["train.batch_size"] = it->second;
              inv2.flags.erase(it);
            }
            resolve(ctx, inv2);
            const auto& in = inv2.inputs;
            const auto& tc = inv2.train;
            ctx.agree([&] {
              if (in.data.empty()) throw ConfigError("sfbench train needs a dataset: --data SPEC (key 'data')");
              if (in.model.empty()) throw ConfigError("sfbench train needs a model: --model SPEC (key 'model')");
              if (inv2.common.out.empty() && tc.checkpoint.empty()) {
                throw ConfigError("sfbench train needs --out FILE.h5 or --checkpoint FILE (key 'train.checkpoint')");
              }
              if (!inv2.common.out.empty()) io::check_output_path(inv2.common.out);
              train::validate(tc, ctx.size());
            });
            const auto seed = static_cast<uint64_t>(inv2.common.seed);
            auto ds = open_dataset(ctx, in, seed);
            auto model = open_model(ctx, in, model_options_for(*ds, in, seed));
            auto native = std::dynamic_pointer_cast<models::NativeModel>(model);
            const std::filesystem::path ckpt = checkpoint_path(inv2);
            std::unique_ptr<train::Trainer> trainer;
            bool resumed = false;
            ctx.agree([&] {
              if (!native) throw ConfigError("sfbench train needs a native model (zoo:NAME[@FILE] or checkpoint:FILE), not " + model->name());
              if (ds->num_classes() > model->num_classes()) {
                throw DataError(fmt::format("dataset {} has {} classes but model {} outputs {}", ds->spec(),
                                            ds->num_classes(), model->name(), model->num_classes()));
              }
              trainer = std::make_unique<train::Trainer>(*native, *ds, tc, ctx.comm(), seed, ctx.device(),
                                                         inv2.schema.to_toml(), &ctx.host_comm());
              if (tc.resume) resumed = trainer->resume(ckpt);
            });
            if (const char* at = std::getenv("SFB_TRAIN_STOP_AT_STEP")) trainer->set_stop_at_step(std::atoll(at));
            if (ctx.rank() == 0 && resumed) {
              std::cerr << fmt::format("[train] resumed from {}: {} epochs done, step {} of the next\n",
                                       ckpt.string(), trainer->state().epochs_done, trainer->state().step_in_epoch);
            }
            const comm::Traffic before = ctx.traffic();
            if (trainer->run(ckpt, ctx.rank() == 0) == train::RunStatus::kPreempted) {
              return train::kPreemptedExitCode;
            }
            const std::string sha = train::weights_sha256(*native);
            if (!inv2.common.out.empty()) {
              io::ResultsFile rf(ctx, inv2.common.out, run_info(inv2, "train"));
              record_inputs(rf, in, ds.get(), model.get());
              write_results(rf, *trainer, tc, ckpt, sha);
              rf.record_traffic("train", ctx.traffic() - before);
              rf.record_device_seconds("train", trainer->device_seconds());
              rf.finish();
            }
            if (ctx.rank() == 0) {
              const auto& h = trainer->history();
              std::cout << fmt::format("# sfbench train: {} on {}, loss {}, λ = {}, {} epochs, checkpoint {}\n",
                                       model->name(), ds->spec(), tc.loss, tc.sf_lambda, h.size(), ckpt.string());
              if (!h.empty()) {
                std::cout << fmt::format("# final epoch: total {:.6g}, sf {:.6g}, accuracy {:.4f}\n",
                                         h.back().terms.back(), h.back().terms[h.back().terms.size() - 2],
                                         h.back().accuracy);
              }
              std::cout << "# weights_sha256 " << sha << "\n";
            }
            return 0;
          }};
}

}  // namespace sfb::app
