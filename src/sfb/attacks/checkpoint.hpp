#pragma once
#include <cstdint>
#include <filesystem>
#include <string>

#include "attacks/attack_stage.hpp"
#include "comm/context.hpp"
#include "io/results_file.hpp"

namespace sfb::attacks {

/// Where an attack run keeps its progress: results.h5 -> results.checkpoint.h5.
std::filesystem::path checkpoint_path(const std::filesystem::path& out);

/// Writes the runner's state after its latest finished stage to `file` (an sfbench results file of
/// subcommand "attack-checkpoint", replaced atomically): per group the per-sample robust flags and
/// norms over all n samples, and the counters and activation-difference sums summed over ranks;
/// attributes stages_done and `key`. Collective.
void write_checkpoint(Context& ctx, const std::filesystem::path& file, const AttackRunner& runner,
                      int64_t n, const std::string& key, const io::RunInfo& info);

/// When `file` exists, is complete and carries the same `key` and n, loads it into `runner`
/// (this rank's rows; the summed counters go to rank 0 so a later reduce() counts them once) and
/// returns the stages it had finished; otherwise returns 0 and leaves the runner alone. Every rank
/// reads the file itself; the decision is agreed. Collective.
int64_t load_checkpoint(Context& ctx, const std::filesystem::path& file, AttackRunner& runner,
                        int64_t n, const Range& shard, const std::string& key);

}  // namespace sfb::attacks
