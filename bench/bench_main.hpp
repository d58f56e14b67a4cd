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

/// Runs `work` once on every rank, reports its time (max over ranks) as the iteration's manual time
/// and returns it. Collective; use with UseManualTime().
template <typename Work>
double time_iteration(benchmark::State& state, Work&& work) {
  Stopwatch sw;
  work();
  const double t = max_over_ranks(sw.seconds());
  state.SetIterationTime(t);
  return t;
}

}  // namespace sfb::bench
