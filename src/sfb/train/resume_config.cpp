#include "train/resume_config.hpp"

#include <fmt/format.h>
#include <toml++/toml.h>

#include <algorithm>
#include <map>
#include <set>
#include <sstream>
#include <type_traits>

#include "core/error.hpp"

namespace sfb::train {
namespace {

/// Keys whose value never changes what training computes (see the header).
const std::set<std::string>& run_control_keys() {
  static const std::set<std::string> keys = {"out",
                                             "log_level",
                                             "log_all_ranks",
                                             "threads",
                                             "device",
                                             "comm",
                                             "channels_last",
                                             "batch_size",
                                             "imagenet.decode_threads",
                                             "train.checkpoint",
                                             "train.checkpoint_every",
                                             "train.resume",
                                             "train.resume_allow"};
  return keys;
}

const char* const kAbsent = "(absent)";

std::string resume_value_text(const toml::node& node) {
  std::ostringstream os;
  node.visit([&os](const auto& v) {
    using T = std::decay_t<decltype(v)>;
    if constexpr (std::is_same_v<T, toml::value<double>>) {
      os << fmt::format("{}", v.get());  // shortest round-trip form: 0.02, not 0.0200000...
    } else {
      os << v;
    }
  });
  return os.str();
}

void flatten_table(const toml::table& t, const std::string& prefix,
                   std::vector<std::pair<std::string, std::string>>& out) {
  for (const auto& [k, v] : t) {
    const std::string key = prefix + std::string(k.str());
    if (const auto* sub = v.as_table()) {
      flatten_table(*sub, key + ".", out);
    } else {
      out.emplace_back(key, resume_value_text(v));
    }
  }
}

std::string join_keys(const std::vector<ConfigDifference>& d) {
  std::string s;
  for (const auto& x : d) s += (s.empty() ? "" : ",") + x.key;
  return s;
}

}  // namespace

std::vector<std::pair<std::string, std::string>> flatten_config(const std::string& toml_text,
                                                                const std::string& origin) {
  toml::table t;
  try {
    t = toml::parse(toml_text, origin);
  } catch (const toml::parse_error& e) {
    throw ConfigError(origin +
                      ": the stored configuration is not TOML: " + std::string(e.description()));
  }
  std::vector<std::pair<std::string, std::string>> out;
  flatten_table(t, "", out);
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<ConfigDifference> config_differences(const std::string& checkpoint_toml,
                                                 const std::string& now_toml) {
  std::map<std::string, std::pair<std::string, std::string>> both;
  for (auto& [k, v] : flatten_config(checkpoint_toml, "the checkpoint's configuration")) {
    both[k] = {v, kAbsent};
  }
  for (auto& [k, v] : flatten_config(now_toml, "this run's configuration")) {
    auto it = both.find(k);
    if (it == both.end()) {
      both[k] = {kAbsent, v};
    } else {
      it->second.second = v;
    }
  }
  std::vector<ConfigDifference> out;
  for (auto& [k, v] : both) {
    if (v.first != v.second) out.push_back({k, v.first, v.second});
  }
  return out;
}

bool may_differ_on_resume(const std::string& key, const TrainConfig& now) {
  if (key == "train.epochs") return now.schedule != "cosine";
  return run_control_keys().count(key) != 0;
}

void check_resume_allow(const TrainConfig& cfg, const std::string& now_toml) {
  if (cfg.resume_allow.empty()) return;
  std::set<std::string> keys;
  for (auto& kv : flatten_config(now_toml, "this run's configuration")) keys.insert(kv.first);
  for (const auto& k : cfg.resume_allow) {
    if (k != "*" && keys.count(k) == 0) {
      throw ConfigError("train.resume_allow: '" + k +
                        "' is not a config key of this run (dotted, as in 'train.lr', 'seed'; "
                        "\"*\" allows every key)");
    }
  }
}

std::vector<ConfigDifference> check_resume_config(const std::string& file,
                                                  const std::string& checkpoint_toml,
                                                  const std::string& now_toml,
                                                  const TrainConfig& cfg) {
  const auto& allow = cfg.resume_allow;
  const bool allow_all = std::find(allow.begin(), allow.end(), "*") != allow.end();
  if (checkpoint_toml.empty()) {
    if (allow_all) return {};
    throw ConfigError(
        "checkpoint " + file +
        " stores no training configuration (written by an earlier sfbench), so --resume cannot "
        "check that this run trains as the one that wrote it; resume it anyway with "
        "--resume-allow '*' (config key 'train.resume_allow'), or start a new run");
  }
  std::vector<ConfigDifference> all;
  try {
    all = config_differences(checkpoint_toml, now_toml);
  } catch (const ConfigError& e) {
    throw DataError("checkpoint " + file + ": " + e.what());
  }
  std::vector<ConfigDifference> refused;
  for (const auto& d : all) {
    const bool allowed = allow_all || may_differ_on_resume(d.key, cfg) ||
                         std::find(allow.begin(), allow.end(), d.key) != allow.end();
    if (!allowed) refused.push_back(d);
  }
  if (!refused.empty()) {
    std::string list;
    for (const auto& d : refused) {
      list += fmt::format("{}{} = {} (checkpoint) vs {} (now)", list.empty() ? "" : "; ", d.key,
                          d.checkpoint, d.now);
    }
    throw ConfigError(fmt::format(
        "--resume: checkpoint {} was written under another training configuration: {}. Resuming "
        "would mix two trainings; start a new run (another --out or --checkpoint), or let these "
        "keys differ with --resume-allow {} (config key 'train.resume_allow')",
        file, list, join_keys(refused)));
  }
  return all;
}

}  // namespace sfb::train
