#pragma once
#include <benchmark/benchmark.h>

#include "comm/context.hpp"

namespace sfb::bench {

/// The process-wide Context of a benchmark binary (created and configured by bench_main.cpp).
Context& ctx();

/// Seconds combined over ranks the way the benchmark reports them: the maximum (the slowest rank
/// decides how long a collective step takes). Collective; use with UseManualTime().
double max_over_ranks(double seconds);

}  // namespace sfb::bench
