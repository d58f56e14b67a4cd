#include "app.hpp"

#include "attacks/checkpoint.hpp"
#include "attribution/command.hpp"
#include "attribution/montage.hpp"
#include "core/hash.hpp"
#include "core/log.hpp"
#include "core/rng.hpp"
#include "interactions/writer.hpp"

namespace sfb::app {

CLI::Option* add_flag_for_key(CLI::App* sub, Invocation& inv, const std::string& name,
                              const std::string& key, const std::string& help) {
  return sub->add_option_function<std::string>(
      name, [&inv, key](const std::string& v) { inv.flags[key] = v; },
      help + " (config key '" + key + "')");
}

void register_sections(Invocation& inv, ConfigSchema& schema, unsigned sections) {
  inv.common.register_keys(schema);
  if (sections & kInputs) inv.inputs.register_keys(schema);
  if (sections & kCommbench) inv.commbench.register_keys(schema);
  if (sections & kPack) inv.pack.register_keys(schema);
  if (sections & (kSf | kSfDtype)) inv.sf.register_keys(schema);
  if ((sections & kSfDtype) && !(sections & kSf)) {
    schema.remove_if(
        [](const std::string& key) { return key.rfind("sf.", 0) == 0 && key != "sf.dtype"; });
  }
  if (sections & kAttack) inv.attack.register_keys(schema);
  if (sections & kInteractions) inv.interactions.register_keys(schema);
  if (sections & kAttribution) inv.attribution.register_keys(schema);
  if (sections & kTrain) inv.train.register_keys(schema);
}

void resolve(Context& ctx, Invocation& inv, const std::string& command, unsigned sections) {
  Invocation every;  // binds the keys of all commands, to check a config file's other sections
  ConfigSchema all;
  register_sections(every, all, kAllSections);
  register_sections(inv, inv.schema, sections);
  inv.schema.set_scope("sfbench " + command, &all);
  ctx.agree([&] {
    if (!inv.config_file.empty()) inv.schema.load_file(inv.config_file);
    for (const auto& kv : inv.overrides) inv.schema.apply_override(kv);
    for (const auto& [key, value] : inv.flags) inv.schema.set(key, value, "flag for " + key);
    log::init(ctx.rank(), inv.common.log_level, inv.common.log_all_ranks);
  });
  ContextOptions opts;
  opts.device = inv.common.device;
  opts.comm = inv.common.comm;
  opts.threads = inv.common.threads;
  opts.precision = inv.common.precision;
  opts.channels_last = inv.common.channels_last;
  ctx.configure(opts);
  seed_everything(static_cast<uint64_t>(inv.common.seed));
}

io::RunInfo run_info(const Invocation& inv, const std::string& subcommand) {
  io::RunInfo info;
  info.command = inv.command_line;
  info.subcommand = subcommand;
  info.config_toml = inv.schema.to_toml();
  info.config_sha256 = sha256_hex(info.config_toml);
  info.seed = inv.common.seed;
  return info;
}

std::vector<io::Companion> companions(const Invocation& inv, const std::string& subcommand) {
  std::vector<io::Companion> c;
  if (inv.common.out.empty()) return c;
  const std::filesystem::path out = inv.common.out;
  if (subcommand == "attack" || subcommand == "eval") {
    const auto cp = attacks::checkpoint_path(out);
    c.push_back({cp, "attack checkpoint", io::is_results_file});
    c.push_back({io::summary_path(cp), "attack checkpoint summary", io::is_summary_file});
  } else if (subcommand == "attribution" && inv.attribution.montage != 0) {
    c.push_back({attribution::montage_path(out.string()), "attribution montage (PNG)",
                 attribution::is_sfbench_montage});
  } else if (subcommand == "interactions") {
    for (const auto& p : interactions::plot_paths(out)) {
      c.push_back({p, "interactions figure (SVG)", interactions::is_sfbench_plot});
    }
  }
  return c;
}

pipeline::CommandSpec command_spec(const Invocation& inv, const std::string& subcommand) {
  pipeline::CommandSpec spec;
  spec.command = subcommand;
  spec.inputs = inv.inputs;
  spec.seed = static_cast<uint64_t>(inv.common.seed);
  spec.out = inv.common.out;
  spec.run_info = [&inv, subcommand] { return run_info(inv, subcommand); };
  spec.companions = [&inv, subcommand] { return companions(inv, subcommand); };
  return spec;
}

}  // namespace sfb::app
