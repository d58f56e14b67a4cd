// gtest main for tests under mpirun: one sfb::Context for the process, test output from rank 0
// only, and a verdict agreed by all ranks (a failure on any rank fails every rank's exit code).
#include <gtest/gtest.h>

#include <memory>

#include "comm/context.hpp"
#include "core/log.hpp"
#include "mpi/mpi_env.hpp"

namespace sfb::test {
namespace {
std::unique_ptr<Context> g_ctx;
}
Context& ctx() { return *g_ctx; }
}  // namespace sfb::test

int main(int argc, char** argv) {
  sfb::test::g_ctx = std::make_unique<sfb::Context>(&argc, &argv);
  auto& ctx = *sfb::test::g_ctx;
  sfb::log::init(ctx.rank(), "warn", false);
  sfb::ContextOptions opts;
  opts.device = "cpu";
  opts.comm = "mpi";
  opts.threads = 1;
  ctx.configure(opts);
  ::testing::InitGoogleTest(&argc, argv);
  auto& listeners = ::testing::UnitTest::GetInstance()->listeners();
  if (ctx.rank() != 0) delete listeners.Release(listeners.default_result_printer());
  int failed = RUN_ALL_TESTS() != 0 ? 1 : 0;
  failed = static_cast<int>(
      sfb::comm::allreduce_scalar(ctx.host_comm(), failed, sfb::comm::ReduceOp::kMax));
  if (ctx.rank() == 0) {
    std::printf("[mpi] %d ranks: %s\n", ctx.size(),
                failed ? "FAILED on some rank" : "all ranks passed");
  }
  sfb::test::g_ctx.reset();
  return failed;
}
