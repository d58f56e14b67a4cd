// Shared Google Benchmark main for every sfbench benchmark binary: MPI-aware (one Context, manual
// times combined as the max over ranks, output from rank 0 only) with a context block holding the
// commit, versions, world size, Slurm job id and devices.
//
// Every rank runs the same benchmarks with the same iteration counts: Google Benchmark picks the
// counts from the reported (manual) times, which max_over_ranks() makes identical on all ranks.
#include "bench_main.hpp"

#include <cstdlib>
#include <memory>
#include <string>

#include "comm/communicator.hpp"
#include "core/device.hpp"
#include "core/log.hpp"
#include "core/provenance.hpp"
#include "io/h5_node.hpp"

namespace sfb::bench {
namespace {

std::unique_ptr<Context> g_ctx;

// Swallows output on ranks > 0.
class NullReporter : public benchmark::BenchmarkReporter {
 public:
  bool ReportContext(const Context&) override { return true; }
  void ReportRuns(const std::vector<Run>&) override {}
};

}  // namespace

Context& ctx() { return *g_ctx; }

void sync_device() { sfb::synchronize(g_ctx->device()); }

double max_over_ranks(double seconds) {
  return comm::allreduce_scalar(g_ctx->host_comm(), seconds, comm::ReduceOp::kMax);
}

}  // namespace sfb::bench

int main(int argc, char** argv) {
  using sfb::bench::g_ctx;
  g_ctx = std::make_unique<sfb::Context>(&argc, &argv);
  bool file_output = false;  // Google Benchmark refuses a file reporter without --benchmark_out
  for (int i = 1; i < argc; ++i)
    file_output |= std::string(argv[i]).rfind("--benchmark_out=", 0) == 0;
  sfb::log::init(g_ctx->rank(), "warn", false);  // keep stage logs out of the tables
  sfb::ContextOptions opts;  // device and communicator: auto (NCCL on GPUs, MPI on CPUs)
  // SFB_BENCH_THREADS=T: T intra-op threads per rank (e.g. 1 for weak-scaling runs, where every
  // rank must get the same resources); default: node cores / ranks on the node.
  if (const char* t = std::getenv("SFB_BENCH_THREADS")) opts.threads = std::atoll(t);
  // SFB_BENCH_DEVICE=auto|cpu|cuda and SFB_BENCH_PRECISION=fp32|tf32|bf16: the Context's device
  // (the GPU configurations of bench_gpu.hpp run on it) and model arithmetic (Context applies it
  // process-wide: bf16 = autocast on that device). Defaults: auto, fp32.
  if (const char* d = std::getenv("SFB_BENCH_DEVICE")) opts.device = d;
  if (const char* p = std::getenv("SFB_BENCH_PRECISION")) opts.precision = p;
  g_ctx->configure(opts);
  benchmark::Initialize(&argc, argv);
  const auto& p = g_ctx->provenance();
  benchmark::AddCustomContext("sfbench_version", p.sfbench_version);
  benchmark::AddCustomContext("git_commit", p.git_commit);
  benchmark::AddCustomContext("git_dirty", p.git_dirty ? "true" : "false");
  benchmark::AddCustomContext("libtorch", p.libtorch);
  benchmark::AddCustomContext("mpi", p.mpi);
  benchmark::AddCustomContext("cuda", p.cuda);
  benchmark::AddCustomContext("nccl", p.nccl);
  benchmark::AddCustomContext("hdf5", sfb::io::H5Node::library_version());
  benchmark::AddCustomContext("world_size", std::to_string(g_ctx->size()));
  benchmark::AddCustomContext("communicator", g_ctx->comm().name());
  benchmark::AddCustomContext("slurm_job_id", p.slurm_job_id);
  benchmark::AddCustomContext("cpu_model", p.cpu_model);
  benchmark::AddCustomContext("allocator", p.allocator);
  std::string devices;
  for (const auto& d : p.devices) devices += (devices.empty() ? "" : "; ") + d;
  benchmark::AddCustomContext("devices", devices);
  benchmark::AddCustomContext("device", g_ctx->device().str());
  benchmark::AddCustomContext("precision", p.precision);
  if (g_ctx->rank() == 0) {
    benchmark::RunSpecifiedBenchmarks();
  } else {
    sfb::bench::NullReporter display, file;
    benchmark::RunSpecifiedBenchmarks(&display, file_output ? &file : nullptr);
  }
  benchmark::Shutdown();
  g_ctx.reset();
  return 0;
}
