#include "core/log.hpp"

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include "core/error.hpp"

namespace sfb::log {
namespace {
std::shared_ptr<spdlog::logger> logger() {
  auto l = spdlog::get("sfb");
  if (!l) {
    l = spdlog::stderr_color_mt("sfb");
    l->set_pattern("[%H:%M:%S] [%^%l%$] %v");
  }
  return l;
}
}  // namespace

void init(int rank, const std::string& level, bool all_ranks) {
  auto lvl = spdlog::level::from_str(level);
  if (lvl == spdlog::level::off && level != "off") {
    throw ConfigError("unknown log level '" + level + "'");
  }
  auto l = logger();
  l->set_pattern("[%H:%M:%S] [rank " + std::to_string(rank) + "] [%^%l%$] %v");
  if (rank != 0 && !all_ranks && lvl < spdlog::level::warn) lvl = spdlog::level::warn;
  l->set_level(lvl);
  l->flush_on(spdlog::level::info);
}

void debug(const std::string& msg) { logger()->debug(msg); }
void info(const std::string& msg) { logger()->info(msg); }
void warn(const std::string& msg) { logger()->warn(msg); }
void error(const std::string& msg) { logger()->error(msg); }

}  // namespace sfb::log
