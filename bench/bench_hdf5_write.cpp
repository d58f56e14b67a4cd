// Writing a per-sample float32 [n, 512] array through ResultsFile (parallel HDF5: create the file,
// root attributes and provenance, the collective hyperslab write, finish with rename and JSON)
// against the reference: the same bytes written with MPI_File_write_at_all at each rank's offset.
#include <mpi.h>
#include <torch/torch.h>
#include <unistd.h>

#include <filesystem>

#include "bench_main.hpp"
#include "comm/communicator.hpp"
#include "core/hash.hpp"
#include "core/partition.hpp"
#include "core/timer.hpp"
#include "io/results_file.hpp"

namespace {
namespace fs = std::filesystem;
constexpr int64_t kFeatures = 512;

fs::path bench_dir() {
  auto& ctx = sfb::bench::ctx();
  std::string d;
  if (ctx.rank() == 0) {
    d = (fs::temp_directory_path() / ("sfb_bench_h5_" + std::to_string(getpid()))).string();
    fs::create_directories(d);
  }
  return sfb::comm::broadcast_string(ctx.host_comm(), d, 0);
}

void BM_ResultsFileWrite(benchmark::State& state) {
  auto& ctx = sfb::bench::ctx();
  const int64_t n = state.range(0);
  const auto r = sfb::balanced_range(n, ctx.size(), ctx.rank());
  auto data = torch::rand({r.count, kFeatures}, torch::kFloat32);
  const fs::path dir = bench_dir();
  sfb::io::RunInfo info;
  info.command = "bench_hdf5_write";
  info.subcommand = "bench";
  info.config_sha256 = sfb::sha256_hex("");
  for (auto _ : state) {
    sfb::Stopwatch sw;
    sfb::io::ResultsFile rf(ctx, dir / "w.h5", info);
    rf.write_per_sample("/sf/per_sample", r.begin, data);
    rf.finish();
    state.SetIterationTime(sfb::bench::max_over_ranks(sw.seconds()));
  }
  state.SetBytesProcessed(state.iterations() * n * kFeatures * 4);
  ctx.host_comm().barrier();
  if (ctx.rank() == 0) fs::remove_all(dir);
}

void BM_RawMpiIoWrite(benchmark::State& state) {
  auto& ctx = sfb::bench::ctx();
  const int64_t n = state.range(0);
  const auto r = sfb::balanced_range(n, ctx.size(), ctx.rank());
  auto data = torch::rand({r.count, kFeatures}, torch::kFloat32);
  const fs::path dir = bench_dir();
  const std::string path = (dir / "raw.bin").string();
  for (auto _ : state) {
    sfb::Stopwatch sw;
    MPI_File fh;
    MPI_File_open(ctx.mpi_comm(), path.c_str(), MPI_MODE_CREATE | MPI_MODE_WRONLY, MPI_INFO_NULL,
                  &fh);
    MPI_File_set_size(fh, 0);
    MPI_File_write_at_all(fh, static_cast<MPI_Offset>(r.begin * kFeatures * 4), data.data_ptr(),
                          static_cast<int>(r.count * kFeatures), MPI_FLOAT, MPI_STATUS_IGNORE);
    MPI_File_close(&fh);
    state.SetIterationTime(sfb::bench::max_over_ranks(sw.seconds()));
  }
  state.SetBytesProcessed(state.iterations() * n * kFeatures * 4);
  ctx.host_comm().barrier();
  if (ctx.rank() == 0) fs::remove_all(dir);
}

BENCHMARK(BM_ResultsFileWrite)
    ->Arg(1000)
    ->Arg(50000)
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK(BM_RawMpiIoWrite)->Arg(1000)->Arg(50000)->UseManualTime()->Unit(benchmark::kMillisecond);

}  // namespace
