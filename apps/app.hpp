#pragma once
#include <CLI/CLI.hpp>

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "comm/context.hpp"
#include "comm/sweep.hpp"
#include "core/config.hpp"
#include "data/imagenet_h5.hpp"
#include "inputs.hpp"
#include "io/results_file.hpp"
#include "attacks/plan.hpp"
#include "attribution/config.hpp"
#include "interactions/config.hpp"
#include "shapley/sf_stage.hpp"
#include "train/train_config.hpp"

namespace sfb::app {

/// Everything the command line and the config file set, shared by all subcommands.
struct Invocation {
  std::string command_line;            ///< argv joined by spaces
  std::string config_file;             ///< --config
  std::vector<std::string> overrides;  ///< --set key=value, in order
  /// Dedicated flags (--seed 3) recorded as key -> text; applied after --set.
  std::map<std::string, std::string> flags;
  CommonConfig common;
  comm::SweepOptions commbench;
  InputConfig inputs;     ///< data, model, split, subset, [imagenet]
  data::PackConfig pack;  ///< [pack] section of pack-imagenet
  shapley::SfConfig sf;   ///< [sf] section (sf, eval)
  attacks::AttackConfig attack;  ///< [attack] section (attack, eval)
  interactions::InteractionsConfig interactions;  ///< [interactions] section
  attribution::AttributionConfig attribution;     ///< [attribution] section
  train::TrainConfig train;      ///< [train] section (train)
  ConfigSchema schema;  ///< binds every key above
  std::vector<std::string> files;  ///< positional files (validate)
};

/// A subcommand: registers its CLI options, then runs when selected.
struct Command {
  CLI::App* sub = nullptr;
  std::function<int(Context&, Invocation&)> run;
};

/// Adds `--name` to `sub`, storing its text for config key `key` (applied after --set).
CLI::Option* add_flag_for_key(CLI::App* sub, Invocation& inv, const std::string& name,
                              const std::string& key, const std::string& help);

/// Fills the config from the file, --set and flags; configures logging and the context. Collective;
/// bad input becomes an AgreedError with exit code 2.
void resolve(Context& ctx, Invocation& inv);

/// RunInfo for a results file of `subcommand` from the resolved invocation.
io::RunInfo run_info(const Invocation& inv, const std::string& subcommand);

Command register_info(CLI::App& app, Invocation& inv);
Command register_validate(CLI::App& app, Invocation& inv);
Command register_commbench(CLI::App& app, Invocation& inv);
Command register_pack_imagenet(CLI::App& app, Invocation& inv);
Command register_sf(CLI::App& app, Invocation& inv);
Command register_attack(CLI::App& app, Invocation& inv);
Command register_eval(CLI::App& app, Invocation& inv);
Command register_compare(CLI::App& app, Invocation& inv);
Command register_interactions(CLI::App& app, Invocation& inv);
Command register_attribution(CLI::App& app, Invocation& inv);
Command register_train(CLI::App& app, Invocation& inv);

}  // namespace sfb::app
