#include "train/train_checkpoint.hpp"

#include <ATen/CPUGeneratorImpl.h>

#include <mutex>
#include <nlohmann/json.hpp>

#include "core/error.hpp"
#include "core/hash.hpp"
#include "models/checkpoint.hpp"
#include "models/native_model.hpp"
#include "models/torchscript.hpp"

namespace sfb::train {
namespace {

constexpr int64_t kStateVersion = 1;
const char* const kStateKey = "train_state";

DataError bad_file(const std::filesystem::path& file, const std::string& why) {
  return DataError("checkpoint " + file.string() + ": " + why);
}

torch::Tensor to_tensor(const std::vector<double>& v) {
  return torch::tensor(v, torch::kFloat64).reshape({static_cast<int64_t>(v.size())});
}

const char* const kTsState = "sfbench/train_state";
const char* const kTsConfig = "sfbench/config.toml";
const char* const kTsEpoch = "sfbench/epoch";

ConfigError not_trainable(const models::Classifier& model) {
  return ConfigError("model " + model.name() +
                     " cannot be trained: sfbench trains native models (zoo:NAME[@FILE], "
                     "checkpoint:FILE) and TorchScript models (torchscript:FILE)");
}

std::vector<double> to_vector(const torch::Tensor& t) {
  const torch::Tensor c = t.cpu().to(torch::kFloat64).contiguous();
  return std::vector<double>(c.data_ptr<double>(), c.data_ptr<double>() + c.numel());
}

nlohmann::json resume_to_json(const ResumeRecord& r) {
  nlohmann::json changed = nlohmann::json::array();
  for (const auto& d : r.changed) {
    changed.push_back({{"key", d.key}, {"checkpoint", d.checkpoint}, {"now", d.now}});
  }
  return {{"checkpoint", r.checkpoint},
          {"checkpoint_config_sha256", r.checkpoint_config_sha256},
          {"checkpoint_config_toml", r.checkpoint_config_toml},
          {"config_sha256", r.config_sha256},
          {"epochs_done", r.epochs_done},
          {"step_in_epoch", r.step_in_epoch},
          {"global_step", r.global_step},
          {"changed", changed}};
}

std::vector<ResumeRecord> resumes_from_json(const std::string& text) {
  std::vector<ResumeRecord> out;
  for (const auto& j : nlohmann::json::parse(text)) {
    ResumeRecord r;
    r.checkpoint = j.at("checkpoint").get<std::string>();
    r.checkpoint_config_sha256 = j.at("checkpoint_config_sha256").get<std::string>();
    r.checkpoint_config_toml = j.at("checkpoint_config_toml").get<std::string>();
    r.config_sha256 = j.at("config_sha256").get<std::string>();
    r.epochs_done = j.at("epochs_done").get<int64_t>();
    r.step_in_epoch = j.at("step_in_epoch").get<int64_t>();
    r.global_step = j.at("global_step").get<int64_t>();
    for (const auto& d : j.at("changed")) {
      r.changed.push_back({d.at("key").get<std::string>(), d.at("checkpoint").get<std::string>(),
                           d.at("now").get<std::string>()});
    }
    out.push_back(std::move(r));
  }
  return out;
}

}  // namespace

std::string resumes_json(const std::vector<ResumeRecord>& records) {
  nlohmann::json a = nlohmann::json::array();
  for (const auto& r : records) a.push_back(resume_to_json(r));
  return a.dump();
}

void save_train_checkpoint(const std::filesystem::path& file, models::Classifier& model,
                           torch::optim::Optimizer& opt, const TrainState& state,
                           const std::string& config_toml) {
  torch::serialize::OutputArchive st;
  st.write("version", c10::IValue(kStateVersion));
  st.write("loss", c10::IValue(state.loss));
  st.write("epochs_done", c10::IValue(state.epochs_done));
  st.write("step_in_epoch", c10::IValue(state.step_in_epoch));
  st.write("global_step", c10::IValue(state.global_step));
  st.write("partial", to_tensor(state.partial));
  st.write("resumes", c10::IValue(resumes_json(state.resumes)));
  // History as columns: epoch, accuracy, adv_accuracy, lr, seconds, images_per_s, terms...
  const int64_t e = static_cast<int64_t>(state.history.size());
  const int64_t t = e > 0 ? static_cast<int64_t>(state.history.front().terms.size()) : 0;
  torch::Tensor hist = torch::zeros({e, 6 + t}, torch::kFloat64);
  for (int64_t i = 0; i < e; ++i) {
    const EpochLog& l = state.history[i];
    std::vector<double> row = {
        static_cast<double>(l.epoch), l.accuracy, l.adv_accuracy, l.lr, l.seconds, l.images_per_s};
    row.insert(row.end(), l.terms.begin(), l.terms.end());
    hist[i].copy_(to_tensor(row));
  }
  st.write("history", hist);
  {
    at::Generator gen = at::detail::getDefaultCPUGenerator();
    std::lock_guard<std::mutex> lock(gen.mutex());
    st.write("cpu_rng", gen.get_state());
  }
  torch::serialize::OutputArchive optim;
  opt.save(optim);
  st.write("optimizer", optim);
  if (auto* native = dynamic_cast<models::NativeModel*>(&model)) {
    models::save_checkpoint(file, *native, config_toml, state.epochs_done, kStateKey, &st);
  } else if (auto* ts = dynamic_cast<models::TorchScriptModel*>(&model)) {
    std::string bytes;
    st.save_to([&bytes](const void* data, size_t n) {
      bytes.append(static_cast<const char*>(data), n);
      return n;
    });
    ts->save(file, {{kTsState, bytes},
                    {kTsConfig, config_toml},
                    {kTsEpoch, std::to_string(state.epochs_done)}});
  } else {
    throw not_trainable(model);
  }
}

TrainState load_train_checkpoint(const std::filesystem::path& file, models::Classifier& model,
                                 torch::optim::Optimizer& opt, const std::string& loss,
                                 const torch::Device& device,
                                 const CheckpointConfigCheck& check_config) {
  // Weights first: checks the file and the architecture (DataError naming both).
  torch::serialize::InputArchive st;
  bool has_state = false;
  std::string config_toml;
  if (auto* native = dynamic_cast<models::NativeModel*>(&model)) {
    models::load_weights(*native, file);
    torch::serialize::InputArchive archive;
    archive.load_from(file.string(), device);
    has_state = archive.try_read(kStateKey, st);
    c10::IValue config;
    if (archive.try_read("config_toml", config) && config.isString()) {
      config_toml = config.toStringRef();
    }
  } else if (auto* ts = dynamic_cast<models::TorchScriptModel*>(&model)) {
    std::unordered_map<std::string, std::string> extra = {{kTsState, ""}, {kTsConfig, ""}};
    ts->load_state(file, extra);
    if (extra.count(kTsConfig) != 0) config_toml = extra.at(kTsConfig);
    if (extra.count(kTsState) != 0) {
      const std::string& bytes = extra.at(kTsState);
      try {
        st.load_from(bytes.data(), bytes.size(), device);
      } catch (const c10::Error& e) {
        throw bad_file(file, std::string("malformed train_state: ") + e.what_without_backtrace());
      }
      has_state = true;
    }
  } else {
    throw not_trainable(model);
  }
  if (!has_state) {
    throw bad_file(file,
                   "has no training state (a model file, not a checkpoint written by "
                   "`sfbench train`); pass it as --model to fine-tune it");
  }
  if (check_config) check_config(config_toml);
  TrainState s;
  try {
    auto value = [&](const char* key) {
      c10::IValue v;
      if (!st.try_read(key, v))
        throw bad_file(file, std::string("train_state lacks '") + key + "'");
      return v;
    };
    if (value("version").toInt() != kStateVersion) {
      throw bad_file(file, "train_state version is not supported by this build");
    }
    s.loss = value("loss").toStringRef();
    if (s.loss != loss) {
      throw bad_file(file, "was written by a '" + s.loss + "' run, this run trains '" + loss +
                               "' (use another train.checkpoint)");
    }
    s.epochs_done = value("epochs_done").toInt();
    s.step_in_epoch = value("step_in_epoch").toInt();
    s.global_step = value("global_step").toInt();
    torch::Tensor partial, hist, rng;
    if (!st.try_read("partial", partial) || !st.try_read("history", hist) ||
        !st.try_read("cpu_rng", rng)) {
      throw bad_file(file, "train_state lacks partial/history/cpu_rng");
    }
    s.partial = to_vector(partial);
    c10::IValue resumes;
    if (st.try_read("resumes", resumes)) {  // absent in checkpoints of earlier versions
      try {
        s.resumes = resumes_from_json(resumes.toStringRef());
      } catch (const nlohmann::json::exception& e) {
        throw bad_file(file, std::string("malformed train_state 'resumes': ") + e.what());
      }
    }
    for (int64_t i = 0; i < hist.size(0); ++i) {
      const std::vector<double> row = to_vector(hist[i]);
      EpochLog l;
      l.epoch = static_cast<int64_t>(row[0]);
      l.accuracy = row[1];
      l.adv_accuracy = row[2];
      l.lr = row[3];
      l.seconds = row[4];
      l.images_per_s = row[5];
      l.terms.assign(row.begin() + 6, row.end());
      s.history.push_back(std::move(l));
    }
    torch::serialize::InputArchive optim;
    if (!st.try_read("optimizer", optim)) throw bad_file(file, "train_state lacks 'optimizer'");
    opt.load(optim);
    at::Generator gen = at::detail::getDefaultCPUGenerator();
    std::lock_guard<std::mutex> lock(gen.mutex());
    gen.set_state(rng.cpu());
  } catch (const c10::Error& e) {
    throw bad_file(file, std::string("malformed train_state: ") + e.what_without_backtrace());
  }
  return s;
}

}  // namespace sfb::train

namespace sfb::train {

std::vector<std::pair<std::string, torch::Tensor>> named_buffers(models::Classifier& model) {
  std::vector<std::pair<std::string, torch::Tensor>> out;
  if (auto* native = dynamic_cast<models::NativeModel*>(&model)) {
    for (const auto& b : native->named_buffers()) out.emplace_back(b.key(), b.value());
  } else if (auto* ts = dynamic_cast<models::TorchScriptModel*>(&model)) {
    out = ts->named_buffers();
  } else {
    throw not_trainable(model);
  }
  return out;
}

std::vector<std::pair<std::string, torch::Tensor>> named_state(models::Classifier& model) {
  std::vector<std::pair<std::string, torch::Tensor>> out;
  if (auto* native = dynamic_cast<models::NativeModel*>(&model)) {
    for (const auto& p : native->named_parameters()) out.emplace_back(p.key(), p.value());
  } else if (auto* ts = dynamic_cast<models::TorchScriptModel*>(&model)) {
    out = ts->named_parameters();
  } else {
    throw not_trainable(model);
  }
  for (auto& b : named_buffers(model)) out.push_back(std::move(b));
  return out;
}

std::string weights_sha256(models::Classifier& model) {
  std::string bytes;
  auto add = [&](const std::string& name, const torch::Tensor& t) {
    const torch::Tensor c = t.detach().cpu().contiguous();
    bytes +=
        name + "|" + std::string(c10::toString(c.scalar_type())) + "|" + c10::str(c.sizes()) + "|";
    bytes.append(static_cast<const char*>(c.data_ptr()), c.numel() * c.element_size());
  };
  for (const auto& [name, t] : named_state(model)) add(name, t);
  return sha256_hex(bytes);
}

}  // namespace sfb::train
