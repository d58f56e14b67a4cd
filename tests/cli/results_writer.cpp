// Helper for the crash and output-safety tests: writes a small results file and either finishes
// it, dies first, or holds it open until told to finish.
//   results_writer OUT MARKER complete     -> finishes; /marker holds MARKER
//   results_writer OUT MARKER crash        -> writes everything, then rank 0 is SIGKILLed before
//   finish()
//   results_writer OUT MARKER hold DIR     -> writes everything, creates DIR/ready (rank 0's pid),
//   waits until DIR/release exists, then finishes: a run holding OUT's lock as long as a test needs
#include <signal.h>
#include <torch/torch.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

#include "comm/context.hpp"
#include "core/hash.hpp"
#include "core/partition.hpp"
#include "io/results_file.hpp"

int main(int argc, char** argv) {
  sfb::Context ctx(&argc, &argv);
  const std::string mode = argc >= 4 ? argv[3] : "";
  if (!(argc == 4 && (mode == "complete" || mode == "crash")) && !(argc == 5 && mode == "hold")) {
    std::fprintf(stderr, "usage: %s OUT MARKER complete|crash|hold DIR\n", argv[0]);
    return 2;
  }
  sfb::ContextOptions o;
  o.device = "cpu";
  o.comm = "mpi";
  ctx.configure(o);
  const int64_t marker = std::stoll(argv[2]);
  sfb::io::RunInfo info;
  info.command = "results_writer";
  info.subcommand = "test";
  info.config_toml = "marker = " + std::to_string(marker) + "\n";
  info.config_sha256 = sfb::sha256_hex(info.config_toml);
  try {
    sfb::io::ResultsFile rf(ctx, argv[1], info);
    const auto r = sfb::balanced_range(1000, ctx.size(), ctx.rank());
    rf.write_per_sample("/samples/index", r.begin, torch::arange(r.begin, r.end(), torch::kInt64));
    rf.write_global("/marker", torch::tensor({marker}, torch::kInt64));
    ctx.host_comm().barrier();
    if (mode == "crash") {
      if (ctx.rank() == 0) kill(getpid(), SIGKILL);
      ctx.host_comm().barrier();  // the others wait here until mpirun takes the job down
    }
    if (mode == "hold") {
      const std::filesystem::path dir = argv[4];
      if (ctx.rank() == 0) {
        std::ofstream(dir / "ready") << getpid() << "\n";
        while (!std::filesystem::exists(dir / "release")) {
          std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
      }
      ctx.host_comm().barrier();
    }
    rf.finish();
  } catch (const sfb::Error& e) {
    if (ctx.rank() == 0) std::fprintf(stderr, "error: %s\n", e.what());
    return static_cast<int>(e.exit_code());
  }
  return 0;
}
