#pragma once
#include <CLI/CLI.hpp>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "attacks/driver.hpp"
#include "attacks/plan.hpp"
#include "attribution/config.hpp"
#include "comm/context.hpp"
#include "comm/sweep.hpp"
#include "core/config.hpp"
#include "data/imagenet_h5.hpp"
#include "interactions/config.hpp"
#include "io/results_file.hpp"
#include "pipeline/inputs.hpp"
#include "pipeline/stage.hpp"
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
  pipeline::InputConfig inputs;                   ///< data, model, split, subset, [imagenet]
  data::PackConfig pack;                          ///< [pack] section of pack-imagenet
  shapley::SfConfig sf;                           ///< [sf] section (sf, eval)
  attacks::AttackConfig attack;                   ///< [attack] section (attack, eval)
  interactions::InteractionsConfig interactions;  ///< [interactions] section
  attribution::AttributionConfig attribution;     ///< [attribution] section
  train::TrainConfig train;                       ///< [train] section (train)
  ConfigSchema schema;             ///< binds the keys of the running command's sections (resolve())
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

/// The config sections a command reads besides the top-level keys of CommonConfig. A command's
/// resolved config (config_toml, config_sha256, checkpoint keys) holds exactly these.
enum Sections : unsigned {
  kNoSections = 0,
  kInputs = 1u << 0,        ///< data, model, split, subset, [imagenet]
  kCommbench = 1u << 1,     ///< [commbench]
  kPack = 1u << 2,          ///< [pack]
  kSf = 1u << 3,            ///< [sf]
  kSfDtype = 1u << 4,       ///< sf.dtype alone (attack)
  kAttack = 1u << 5,        ///< [attack]
  kInteractions = 1u << 6,  ///< [interactions]
  kAttribution = 1u << 7,   ///< [attribution]
  kTrain = 1u << 8,         ///< [train]
  kAllSections = (1u << 9) - 1,
};

/// Binds the top-level keys and the keys of `sections` of `inv` in `schema`.
void register_sections(Invocation& inv, ConfigSchema& schema, unsigned sections);

/// Fills the config of `command` ("sf", ...) from the file, --set and flags, reading only the keys
/// of `sections`: a config file's sections of other commands are checked and ignored, a --set or
/// flag for them is refused. Configures logging and the context. Collective; bad input becomes an
/// AgreedError with exit code 2.
void resolve(Context& ctx, Invocation& inv, const std::string& command, unsigned sections);

/// RunInfo for a results file of `subcommand` from the resolved invocation.
io::RunInfo run_info(const Invocation& inv, const std::string& subcommand);

/// The files `subcommand` writes next to --out besides the results file and its summary, with how
/// to recognize sfbench's own: the attack checkpoint and its summary (attack, eval), the montage
/// (attribution), the figures (interactions). Empty without --out.
std::vector<io::Companion> companions(const Invocation& inv, const std::string& subcommand);

/// The pipeline's description of a single-stage command `subcommand` of the resolved invocation:
/// its inputs, seed, results path, companions() and run record (read when the results file opens).
pipeline::CommandSpec command_spec(const Invocation& inv, const std::string& subcommand);

/// The flags of `attack` and `eval`: --attacks, --norm, --eps, --no-resume.
void add_attack_flags(CLI::App* sub, Invocation& inv);
/// The attack options of the resolved invocation (checkpoints next to --out).
attacks::AttackRunOptions attack_options(Invocation& inv);

Command register_info(CLI::App& app, Invocation& inv);
Command register_validate(CLI::App& app, Invocation& inv);
Command register_commbench(CLI::App& app, Invocation& inv);
Command register_pack_imagenet(CLI::App& app, Invocation& inv);
Command register_sf(CLI::App& app, Invocation& inv);
Command register_attack(CLI::App& app, Invocation& inv);
Command register_eval(CLI::App& app, Invocation& inv);
Command register_compare(CLI::App& app, Invocation& inv);
Command register_report(CLI::App& app, Invocation& inv);
Command register_interactions(CLI::App& app, Invocation& inv);
Command register_attribution(CLI::App& app, Invocation& inv);
Command register_train(CLI::App& app, Invocation& inv);

}  // namespace sfb::app
