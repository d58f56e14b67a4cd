#include "app.hpp"

#include "core/hash.hpp"
#include "core/log.hpp"
#include "core/rng.hpp"

namespace sfb::app {

CLI::Option* add_flag_for_key(CLI::App* sub, Invocation& inv, const std::string& name,
                              const std::string& key, const std::string& help) {
  return sub->add_option_function<std::string>(
      name, [&inv, key](const std::string& v) { inv.flags[key] = v; },
      help + " (config key '" + key + "')");
}

void resolve(Context& ctx, Invocation& inv) {
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

}  // namespace sfb::app
