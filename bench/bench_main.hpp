#pragma once
#include <benchmark/benchmark.h>

#include "comm/context.hpp"
#include "core/timer.hpp"

namespace sfb::bench {

/// The process-wide Context of a benchmark binary (created and configured by bench_main.cpp).
Context& ctx();

/// Seconds combined over ranks the way the benchmark reports them: the maximum (the slowest rank
/// decides how long a collective step takes). Collective; use with UseManualTime().
double max_over_ranks(double seconds);

/// Blocks the host until the work queued on the Context's device has finished: on CUDA, every
/// stream of the device (sfb::synchronize); a no-op on the CPU. Not collective.
void sync_device();

/// Runs `work` once on every rank, reports its time (max over ranks) as the iteration's manual time
/// and returns it. On CUDA the clock starts after the device finished earlier work and stops after
/// it finished `work`'s (kernels are asynchronous). Collective; use with UseManualTime().
template <typename Work>
double time_iteration(benchmark::State& state, Work&& work) {
  sync_device();
  Stopwatch sw;
  work();
  sync_device();
  const double t = max_over_ranks(sw.seconds());
  state.SetIterationTime(t);
  return t;
}

}  // namespace sfb::bench
