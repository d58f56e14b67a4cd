#pragma once
#include <string>

namespace sfb::log {

/// Configures the process-wide logger: messages go to stderr as "[hh:mm:ss] [rank r] [level] text".
/// Rank 0 logs at `level`; other ranks log warnings and errors only unless `all_ranks` is set.
/// Throws ConfigError for an unknown level name. Call after the rank is known; safe to call again.
void init(int rank, const std::string& level, bool all_ranks);

/// Logs one message at the given level (format with fmt::format at the call site).
void debug(const std::string& msg);
void info(const std::string& msg);
void warn(const std::string& msg);
void error(const std::string& msg);

}  // namespace sfb::log
