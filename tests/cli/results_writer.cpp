// Helper for the crash test: writes a small results file and either finishes it or dies first.
//   results_writer OUT MARKER complete   -> finishes; /marker holds MARKER
//   results_writer OUT MARKER crash      -> writes everything, then rank 0 is SIGKILLed before
//   finish()
#include <signal.h>
#include <torch/torch.h>
#include <unistd.h>

#include <cstdio>
#include <string>

#include "comm/context.hpp"
#include "core/hash.hpp"
#include "core/partition.hpp"
#include "io/results_file.hpp"

int main(int argc, char** argv) {
  sfb::Context ctx(&argc, &argv);
  if (argc != 4) {
    std::fprintf(stderr, "usage: %s OUT MARKER complete|crash\n", argv[0]);
    return 2;
  }
  sfb::ContextOptions o;
  o.device = "cpu";
  o.comm = "mpi";
  ctx.configure(o);
  const std::string mode = argv[3];
  const int64_t marker = std::stoll(argv[2]);
  sfb::io::RunInfo info;
  info.command = "results_writer";
  info.subcommand = "test";
  info.config_toml = "marker = " + std::to_string(marker) + "\n";
  info.config_sha256 = sfb::sha256_hex(info.config_toml);
  sfb::io::ResultsFile rf(ctx, argv[1], info);
  const auto r = sfb::balanced_range(1000, ctx.size(), ctx.rank());
  rf.write_per_sample("/samples/index", r.begin, torch::arange(r.begin, r.end(), torch::kInt64));
  rf.write_global("/marker", torch::tensor({marker}, torch::kInt64));
  ctx.host_comm().barrier();
  if (mode == "crash") {
    if (ctx.rank() == 0) kill(getpid(), SIGKILL);
    ctx.host_comm().barrier();  // the others wait here until mpirun takes the job down
  }
  rf.finish();
  return 0;
}
