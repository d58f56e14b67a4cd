// All-reduce through sfbench's Communicator against the raw MPI_Allreduce on the same buffer
// (the reference). On GPUs the Communicator is NCCL and the reference stays MPI on host memory.
// Counters: algbw and busbw in GB/s as in nccl-tests; time is the max over ranks.
#include <mpi.h>
#include <torch/torch.h>

#include "bench_main.hpp"
#include "comm/sweep.hpp"
#include "core/timer.hpp"

namespace {

void set_counters(benchmark::State& state, int64_t bytes) {
  const int n = sfb::bench::ctx().size();
  state.SetBytesProcessed(state.iterations() * bytes);
  state.counters["algbw_GBps"] = benchmark::Counter(static_cast<double>(bytes) * 1e-9,
                                                    benchmark::Counter::kIsIterationInvariantRate);
  state.counters["busbw_GBps"] =
      benchmark::Counter(static_cast<double>(bytes) * 1e-9 * sfb::comm::allreduce_bus_factor(n),
                         benchmark::Counter::kIsIterationInvariantRate);
  state.counters["ranks"] = n;
}

void BM_AllreduceCommunicator(benchmark::State& state) {
  auto& comm = sfb::bench::ctx().comm();
  const int64_t bytes = state.range(0);
  auto buf = torch::zeros({bytes / 4},
                          torch::TensorOptions().dtype(torch::kFloat32).device(comm.device()));
  for (auto _ : state) {
    sfb::Stopwatch sw;
    comm.allreduce_sum(buf);
    comm.synchronize();
    state.SetIterationTime(sfb::bench::max_over_ranks(sw.seconds()));
  }
  set_counters(state, bytes);
}

void BM_AllreduceRawMpi(benchmark::State& state) {
  const int64_t bytes = state.range(0);
  auto buf = torch::zeros({bytes / 4}, torch::kFloat32);
  const MPI_Comm comm = sfb::bench::ctx().mpi_comm();
  for (auto _ : state) {
    sfb::Stopwatch sw;
    MPI_Allreduce(MPI_IN_PLACE, buf.data_ptr(), static_cast<int>(buf.numel()), MPI_FLOAT, MPI_SUM,
                  comm);
    state.SetIterationTime(sfb::bench::max_over_ranks(sw.seconds()));
  }
  set_counters(state, bytes);
}

BENCHMARK(BM_AllreduceCommunicator)
    ->RangeMultiplier(16)
    ->Range(1 << 10, 64 << 20)
    ->UseManualTime()
    ->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_AllreduceRawMpi)
    ->RangeMultiplier(16)
    ->Range(1 << 10, 64 << 20)
    ->UseManualTime()
    ->Unit(benchmark::kMicrosecond);

}  // namespace
