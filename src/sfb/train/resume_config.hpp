#pragma once
// `--resume` against a changed configuration. A checkpoint stores the resolved configuration of the
// run that wrote it (config_toml); a run that resumes from it compares that with its own and
// refuses (ConfigError, exit 2) every difference in a key that changes the training trajectory,
// naming each key with both values. The keys that may always differ are those after which the
// resumed run still equals an uninterrupted run under the new configuration (up to floating-point
// rounding): output paths and run control, logging, threads, device, communicator, memory format,
// the evaluation batch size (top-level `batch_size`; training uses train.batch_size), and
// `train.epochs` except under the cosine schedule, whose length it is. `train.resume_allow` names
// further keys the user lets differ ("*": any, and a checkpoint without a stored configuration).

#include <string>
#include <vector>

#include "train/train_config.hpp"

namespace sfb::train {

/// One key whose value differs between two configurations; values are TOML text ("(absent)" when
/// one configuration lacks the key).
struct ConfigDifference {
  std::string key;         ///< dotted config key, e.g. "train.lr" or "seed"
  std::string checkpoint;  ///< value in the checkpoint's configuration
  std::string now;         ///< value in this run's configuration
};

/// The dotted keys of a resolved configuration (ConfigSchema::to_toml() text) with each value as
/// TOML text (floats in their shortest round-trip form), sorted by key. ConfigError naming
/// `origin` for text that is not TOML.
std::vector<std::pair<std::string, std::string>> flatten_config(const std::string& toml_text,
                                                                const std::string& origin);

/// Every key whose value differs between `checkpoint_toml` and `now_toml` (both resolved configs),
/// sorted by key. ConfigError for text that is not TOML.
std::vector<ConfigDifference> config_differences(const std::string& checkpoint_toml,
                                                 const std::string& now_toml);

/// True when `key` may differ on resume without --resume-allow (the list in the file comment);
/// `now` is this run's [train] section (train.epochs may differ unless the schedule is cosine).
bool may_differ_on_resume(const std::string& key, const TrainConfig& now);

/// Checks cfg.resume_allow against the keys of `now_toml`: each must be one of them or "*"
/// (ConfigError naming the unknown key otherwise). Not collective.
void check_resume_allow(const TrainConfig& cfg, const std::string& now_toml);

/// The differences between the configuration stored in checkpoint `file` (`checkpoint_toml`;
/// empty = none stored, as in checkpoints of earlier sfbench versions) and `now_toml` that
/// neither may_differ_on_resume() nor cfg.resume_allow lets through: throws one ConfigError naming
/// `file` and every such key with both values, or saying that the checkpoint stores no
/// configuration. Returns all differences (the allowed ones) otherwise. Not collective.
std::vector<ConfigDifference> check_resume_config(const std::string& file,
                                                  const std::string& checkpoint_toml,
                                                  const std::string& now_toml,
                                                  const TrainConfig& cfg);

}  // namespace sfb::train
