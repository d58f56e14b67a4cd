#include "train/results.hpp"

#include <torch/torch.h>

#include <nlohmann/json.hpp>

namespace sfb::train {

void write_train(io::ResultsFile& rf, const Trainer& t, const TrainConfig& c,
                 const std::filesystem::path& ckpt, const std::string& sha, bool resumed) {
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
    rf.write_global("/train/epoch/" + t.term_names()[i],
                    column([&](const auto& l) { return l.terms[i]; }));
    if (!h.empty()) last[t.term_names()[i]] = h.back().terms[i];
  }
  rf.write_global("/train/epoch/accuracy", column([](const auto& l) { return l.accuracy; }));
  rf.write_global("/train/epoch/adv_accuracy",
                  column([](const auto& l) { return l.adv_accuracy; }));
  rf.write_global("/train/epoch/lr", column([](const auto& l) { return l.lr; }));
  rf.write_global("/train/epoch/seconds", column([](const auto& l) { return l.seconds; }));
  rf.write_global("/train/epoch/images_per_s",
                  column([](const auto& l) { return l.images_per_s; }));
  rf.record_metrics("/train", {"train"},
                    {{"loss", c.loss},
                     {"sf_lambda", c.sf_lambda},
                     {"epochs", c.epochs},
                     {"checkpoint", ckpt.string()},
                     {"weights_sha256", sha}});
  rf.set_attr("/train", "optimizer", c.optimizer);
  rf.set_attr("/train", "schedule", c.schedule);
  rf.set_attr("/train", "batch_size", c.batch_size);
  rf.set_attr("/train", "steps_per_epoch", t.steps_per_epoch());
  // Every configuration the run was resumed under, and what this process resumed from.
  const auto& resumes = t.state().resumes;
  rf.set_attr("/train", "resumes", resumes_json(resumes));
  auto& s = rf.summary();
  s["train"]["resumes"] = nlohmann::json::parse(resumes_json(resumes));
  if (resumed && !resumes.empty()) {
    const ResumeRecord& r = resumes.back();
    rf.set_attr("/train", "resumed_from", r.checkpoint);
    rf.set_attr("/train", "resumed_from_config_sha256", r.checkpoint_config_sha256);
    s["train"]["resumed_from"] = {{"checkpoint", r.checkpoint},
                                  {"config_sha256", r.checkpoint_config_sha256},
                                  {"epochs_done", r.epochs_done},
                                  {"step_in_epoch", r.step_in_epoch},
                                  {"global_step", r.global_step}};
  }
  s["train"]["final_terms"] = last;
  if (!h.empty()) s["train"]["final_accuracy"] = h.back().accuracy;
}

io::StageTiming train_timing(Trainer& t, const TrainConfig& c, const comm::Traffic& traffic) {
  double seconds = 0;
  for (const auto& l : t.history()) seconds += l.seconds;
  const double images = static_cast<double>(t.history().size()) *
                        static_cast<double>(t.steps_per_epoch() * c.batch_size);
  return {seconds, images, "images", t.device_seconds(), traffic};
}

}  // namespace sfb::train
