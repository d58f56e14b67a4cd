// The Communicator suite (tests/mpi/communicator_suite.hpp) on CUDA tensors: NCCL with one rank per
// GPU, and the MPI backend with CUDA tensors staged through the host (which works with two ranks on
// one GPU). Plus: staged MPI equals MPI on CPU tensors, and NCCL equals MPI (HOUSE_STYLE: a test
// checks that backends agree). Without a GPU on every rank every test skips.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>

#include "build_config.hpp"
#include "comm/mpi/mpi_communicator.hpp"
#include "gpu/gpu_env.hpp"
#include "mpi/communicator_suite.hpp"
#include "mpi/mpi_env.hpp"
#if SFB_WITH_NCCL
#include "comm/nccl/nccl_communicator.hpp"
#endif

namespace sfb::test {
namespace {

/// MpiCommunicator on CUDA tensors of the rank's GPU (staged through the host).
struct MpiStagedBackend {
  static constexpr const char* kName = "mpi";
  static std::unique_ptr<comm::Communicator> make(std::string* skip) {
    if (!every_rank_has_gpu()) {
      *skip = kNoGpu;
      return nullptr;
    }
    return std::make_unique<comm::MpiCommunicator>(ctx().mpi_comm());
  }
  static torch::Device device(const comm::Communicator&) { return rank_gpu(); }
};

#if SFB_WITH_NCCL
/// NcclCommunicator on the rank's own GPU (device = local rank).
struct NcclBackend {
  static constexpr const char* kName = "nccl";
  static std::unique_ptr<comm::Communicator> make(std::string* skip) {
    if (!every_rank_has_gpu()) {
      *skip = kNoGpu;
      return nullptr;
    }
    // Decided collectively: every rank needs its own GPU (NCCL refuses two ranks on one), or
    // every rank skips.
    int ok = torch::cuda::device_count() >= static_cast<int64_t>(ctx().local_size()) ? 1 : 0;
    ok = static_cast<int>(comm::allreduce_scalar(ctx().host_comm(), ok, comm::ReduceOp::kMin));
    if (!ok) {
      *skip = "NCCL needs one GPU per rank on this node";
      return nullptr;
    }
    return std::make_unique<comm::NcclCommunicator>(ctx().mpi_comm(), ctx().local_rank());
  }
  static torch::Device device(const comm::Communicator& c) { return c.device(); }
};
using CudaBackends = ::testing::Types<MpiStagedBackend, NcclBackend>;
#else
using CudaBackends = ::testing::Types<MpiStagedBackend>;
#endif
INSTANTIATE_TYPED_TEST_SUITE_P(Cuda, CommunicatorSuite, CudaBackends);

// MPI with CUDA tensors is staged through the host: every collective gives, bit for bit, what it
// gives on the same values in CPU tensors, and the results stay on the GPU.
TEST(MpiStaging, CudaTensorsMatchCpuResults) {
  if (!every_rank_has_gpu()) GTEST_SKIP() << kNoGpu;
  const torch::Device gpu = rank_gpu();
  comm::MpiCommunicator mpi(ctx().mpi_comm());
  // Non-integer values, so a wrong summation (or a missing copy back) shows.
  const auto base = torch::TensorOptions().dtype(torch::kFloat64);
  auto cpu =
      rank_values(4096, ctx().rank(), base).mul(0.1).add(std::sqrt(2.0) * (ctx().rank() + 1));
  auto dev = cpu.to(gpu);
  mpi.allreduce_sum(cpu);
  mpi.allreduce_sum(dev);
  ASSERT_EQ(dev.device(), gpu);
  EXPECT_TRUE(torch::equal(cpu, dev.cpu()));

  auto bc = rank_values(300, ctx().rank(), base.dtype(torch::kFloat32));
  auto bg = bc.to(gpu);
  const int root = ctx().size() - 1;
  mpi.broadcast(bc, root);
  mpi.broadcast(bg, root);
  ASSERT_EQ(bg.device(), gpu);
  EXPECT_TRUE(torch::equal(bc, bg.cpu()));

  const auto gc = mpi.allgather(rank_values(10, ctx().rank(), base.dtype(torch::kInt64)));
  const auto gg = mpi.allgather(rank_values(10, ctx().rank(), base.dtype(torch::kInt64)).to(gpu));
  ASSERT_EQ(gg.device(), gpu);
  EXPECT_TRUE(torch::equal(gc, gg.cpu()));
}

#if SFB_WITH_NCCL
// Backends agree: the same collectives through NCCL and through MPI give the same values (sums of
// float64 to 1e-12 relative: NCCL may add in another order; exact for broadcast and allgather).
TEST(BackendsAgree, NcclEqualsMpi) {
  if (!every_rank_has_gpu()) GTEST_SKIP() << kNoGpu;
  std::string skip;
  auto nccl = NcclBackend::make(&skip);
  if (!nccl) GTEST_SKIP() << skip;
  comm::MpiCommunicator mpi(ctx().mpi_comm());
  auto gen = at::detail::createCPUGenerator(1234 + static_cast<uint64_t>(ctx().rank()));
  const auto x = torch::rand({100000}, gen, torch::TensorOptions().dtype(torch::kFloat64));
  auto a = x.clone();
  auto b = x.to(nccl->device());
  mpi.allreduce_sum(a);
  nccl->allreduce_sum(b);
  EXPECT_TRUE(torch::allclose(a, b.cpu(), 1e-12, 0));
  if (ctx().size() > 1) {
    EXPECT_FALSE(torch::allclose(a, x, 1e-3, 0));  // the sum changed x
  }

  auto ma = x.clone();
  auto mb = x.to(nccl->device());
  mpi.allreduce(ma, comm::ReduceOp::kMax);
  nccl->allreduce(mb, comm::ReduceOp::kMax);
  EXPECT_TRUE(torch::equal(ma, mb.cpu()));

  auto ba = x.clone();
  auto bb = x.to(nccl->device());
  mpi.broadcast(ba, ctx().size() - 1);
  nccl->broadcast(bb, ctx().size() - 1);
  EXPECT_TRUE(torch::equal(ba, bb.cpu()));

  const auto ga = mpi.allgather(x.narrow(0, 0, 1000).contiguous());
  const auto gb = nccl->allgather(x.narrow(0, 0, 1000).to(nccl->device()));
  EXPECT_TRUE(torch::equal(ga, gb.cpu()));
}
#endif

}  // namespace
}  // namespace sfb::test
