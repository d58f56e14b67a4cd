// The Communicator suite (tests/mpi/communicator_suite.hpp) on CPU tensors through the MPI backend,
// and the agreement helper of the Context. The suite's CUDA instances (NCCL, MPI with tensors
// staged through the host) and the backends-agree test are in tests/gpu/test_communicator_gpu.cpp.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "comm/mpi/mpi_communicator.hpp"
#include "mpi/communicator_suite.hpp"
#include "mpi/mpi_env.hpp"

namespace sfb::test {
namespace {

struct MpiBackend {
  static constexpr const char* kName = "mpi";
  static std::unique_ptr<comm::Communicator> make(std::string* skip) {
    (void)skip;
    return std::make_unique<comm::MpiCommunicator>(ctx().mpi_comm());
  }
  static torch::Device device(const comm::Communicator& c) { return c.device(); }
};
INSTANTIATE_TYPED_TEST_SUITE_P(Cpu, CommunicatorSuite, ::testing::Types<MpiBackend>);

TEST(Agree, ErrorOnOneRankReachesEveryRankWithItsCode) {
  const int victim = ctx().size() - 1;
  try {
    ctx().agree([&] {
      if (ctx().rank() == victim) throw DataError("sample 17 of shard " + std::to_string(victim));
    });
    FAIL() << "agree() returned although rank " << victim << " threw";
  } catch (const AgreedError& e) {
    EXPECT_EQ(e.origin_rank(), victim);
    EXPECT_EQ(e.exit_code(), ExitCode::kBadInput);
    EXPECT_EQ(std::string(e.what()), "sample 17 of shard " + std::to_string(victim));
  }
  EXPECT_NO_THROW(ctx().agree([] {}));
}

TEST(Agree, LowestFailingRankWins) {
  try {
    ctx().agree([&] { throw ConfigError("rank " + std::to_string(ctx().rank())); });
    FAIL() << "no error";
  } catch (const AgreedError& e) {
    EXPECT_EQ(e.origin_rank(), 0);
    EXPECT_EQ(std::string(e.what()), "rank 0");
  }
}

}  // namespace
}  // namespace sfb::test
