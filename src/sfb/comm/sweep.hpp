#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "comm/communicator.hpp"
#include "core/config.hpp"

namespace sfb::comm {

/// Options of the all-reduce sweep (`sfbench commbench`, config section [commbench]); the
/// meanings follow nccl-tests' all_reduce_perf.
struct SweepOptions {
  int64_t min_bytes = 8;                   ///< first message size (-b)
  int64_t max_bytes = int64_t{256} << 20;  ///< last message size (-e)
  int64_t step_factor = 2;                 ///< size multiplier between rows (-f)
  int64_t iters = 20;                      ///< timed iterations per size (-n)
  int64_t warmup_iters = 5;                ///< untimed iterations per size (-w)
  std::string dtype = "float32";           ///< float32 | float64 | int64 (-d)
  std::string op = "sum";                  ///< sum | max | min (-o)
  std::string average = "max";             ///< how per-rank times combine: min | avg | max (-a)
  bool check = true;                       ///< verify every reduced element (#wrong column) (-c)
  /// Registers the keys as commbench.<name> in `schema`.
  void register_keys(ConfigSchema& schema);
};

/// One row of the sweep table.
struct SweepRow {
  int64_t bytes = 0;      ///< message size in bytes
  int64_t count = 0;      ///< elements
  double time_us = 0;     ///< per-iteration time, combined over ranks by `average`
  double algbw_gbps = 0;  ///< bytes / time, GB/s (1e9 bytes)
  double busbw_gbps = 0;  ///< algbw * 2 (n - 1) / n: the per-link traffic of a ring all-reduce
  int64_t wrong = 0;  ///< reduced elements (summed over ranks) that differ from the expected value
};

/// Runs the sweep: for each size, one checked all-reduce of a rank-dependent pattern whose exact
/// result is known (small integers, exact in every dtype), `warmup_iters` untimed and `iters` timed
/// in-place all-reduces of buffers on `device` (the rank's device: a CUDA tensor through the MPI
/// communicator is staged through the host), timed on the host after comm.synchronize() and a
/// wait for `device`. `on_row` is called on every rank as each row completes. Collective; throws
/// ConfigError for bad options.
std::vector<SweepRow> run_allreduce_sweep(Communicator& comm, Communicator& host_comm,
                                          const SweepOptions& opts, const torch::Device& device,
                                          const std::function<void(const SweepRow&)>& on_row);

/// Bus bandwidth factor of a ring all-reduce over n ranks: 2 (n - 1) / n (0 for one rank).
double allreduce_bus_factor(int n);

}  // namespace sfb::comm
