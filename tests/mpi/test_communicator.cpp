// Every Communicator test is written once and instantiated for every backend built (Kokkos style).
// The NCCL backend needs one GPU per rank; without that its instances skip.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "build_config.hpp"
#include "comm/mpi/mpi_communicator.hpp"
#include "mpi/mpi_env.hpp"
#if SFB_WITH_NCCL
#include "comm/cuda/cuda_device.hpp"
#include "comm/nccl/nccl_communicator.hpp"
#endif

namespace sfb::test {
namespace {

struct MpiBackend {
  static constexpr const char* kName = "mpi";
  static std::unique_ptr<comm::Communicator> make(std::string* skip) {
    (void)skip;
    return std::make_unique<comm::MpiCommunicator>(ctx().mpi_comm());
  }
};

#if SFB_WITH_NCCL
struct NcclBackend {
  static constexpr const char* kName = "nccl";
  static std::unique_ptr<comm::Communicator> make(std::string* skip) {
    // Decided collectively: every rank needs its own GPU, or every rank skips.
    int ok = comm::cuda::device_count() >= ctx().local_size() ? 1 : 0;
    ok = static_cast<int>(comm::allreduce_scalar(ctx().host_comm(), ok, comm::ReduceOp::kMin));
    if (!ok) {
      *skip = "NCCL needs one GPU per rank on this node";
      return nullptr;
    }
    return std::make_unique<comm::NcclCommunicator>(ctx().mpi_comm(), ctx().local_rank());
  }
};
using Backends = ::testing::Types<MpiBackend, NcclBackend>;
#else
using Backends = ::testing::Types<MpiBackend>;
#endif

template <class B>
class CommunicatorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string skip;
    comm_ = B::make(&skip);
    if (!comm_) GTEST_SKIP() << skip;
  }
  torch::TensorOptions opts(torch::ScalarType st) const {
    return torch::TensorOptions().dtype(st).device(comm_->device());
  }
  std::unique_ptr<comm::Communicator> comm_;
};
TYPED_TEST_SUITE(CommunicatorTest, Backends);

// Number of elements where a and b differ (non-template, so typed tests need no `template`).
int64_t mismatches(const torch::Tensor& a, const torch::Tensor& b) {
  return a.ne(b).sum().item<int64_t>();
}

const torch::ScalarType kTypes[] = {torch::kFloat32, torch::kFloat64, torch::kInt64};

// Element i of rank r: (i mod 7) + 3 r - 1, small integers so every reduction is exact.
torch::Tensor rank_values(int64_t n, int r, torch::TensorOptions o) {
  return torch::arange(n, o.dtype(torch::kInt64)).remainder(7).add(3 * r - 1).to(o.dtype());
}

TYPED_TEST(CommunicatorTest, RankAndSizeMatchContext) {
  EXPECT_EQ(this->comm_->rank(), ctx().rank());
  EXPECT_EQ(this->comm_->size(), ctx().size());
  EXPECT_EQ(this->comm_->name(), TypeParam::kName);
}

TYPED_TEST(CommunicatorTest, AllreduceSumMaxMinEveryElement) {
  const int n = this->comm_->size();
  for (auto st : kTypes) {
    for (int64_t len : {int64_t{0}, int64_t{1}, int64_t{7}, int64_t{1000}, int64_t{1} << 18}) {
      const auto o = this->opts(st);
      auto idx = torch::arange(len, o.dtype(torch::kInt64)).remainder(7);
      // sum_r (i%7 + 3r - 1) = n (i%7 - 1) + 3 n (n-1)/2
      auto want_sum = idx.mul(n).sub(n).add(3 * n * (n - 1) / 2).to(st);
      auto want_max = idx.add(3 * (n - 1) - 1).to(st);
      auto want_min = idx.sub(1).to(st);
      auto s = rank_values(len, this->comm_->rank(), o);
      this->comm_->allreduce_sum(s);
      auto mx = rank_values(len, this->comm_->rank(), o);
      this->comm_->allreduce(mx, comm::ReduceOp::kMax);
      auto mn = rank_values(len, this->comm_->rank(), o);
      this->comm_->allreduce(mn, comm::ReduceOp::kMin);
      EXPECT_EQ(mismatches(s, want_sum), 0) << c10::toString(st) << " len " << len;
      EXPECT_EQ(mismatches(mx, want_max), 0) << c10::toString(st) << " len " << len;
      EXPECT_EQ(mismatches(mn, want_min), 0) << c10::toString(st) << " len " << len;
      EXPECT_EQ(s.scalar_type(), st);
      EXPECT_EQ(s.numel(), len);
    }
  }
}

TYPED_TEST(CommunicatorTest, AllreduceMultiDimensionalKeepsShape) {
  auto t = torch::full({3, 4, 5}, this->comm_->rank() + 1, this->opts(torch::kFloat64));
  this->comm_->allreduce_sum(t);
  const int n = this->comm_->size();
  EXPECT_EQ(t.sizes(), (std::vector<int64_t>{3, 4, 5}));
  EXPECT_EQ(mismatches(t, torch::full_like(t, n * (n + 1) / 2.0)), 0);
}

TYPED_TEST(CommunicatorTest, BroadcastFromEveryRoot) {
  for (auto st : kTypes) {
    for (int root = 0; root < this->comm_->size(); ++root) {
      auto t = rank_values(513, this->comm_->rank(), this->opts(st));
      this->comm_->broadcast(t, root);
      auto want = rank_values(513, root, this->opts(st));
      EXPECT_EQ(mismatches(t, want), 0) << "root " << root << " " << c10::toString(st);
    }
  }
}

TYPED_TEST(CommunicatorTest, AllgatherStacksInRankOrder) {
  for (auto st : kTypes) {
    auto t = rank_values(6, this->comm_->rank(), this->opts(st)).reshape({2, 3});
    auto all = this->comm_->allgather(t);
    ASSERT_EQ(all.sizes(), (std::vector<int64_t>{this->comm_->size(), 2, 3}));
    for (int r = 0; r < this->comm_->size(); ++r) {
      auto want = rank_values(6, r, this->opts(st)).reshape({2, 3});
      EXPECT_EQ(mismatches(all[r], want), 0) << "rank " << r;
    }
  }
}

TYPED_TEST(CommunicatorTest, AllgatherRejectsMismatchedSizesOnEveryRank) {
  auto t = torch::zeros({this->comm_->rank() == 0 ? 3 : 4}, this->opts(torch::kFloat32));
  if (this->comm_->size() == 1) GTEST_SKIP() << "needs two ranks";
  EXPECT_THROW(this->comm_->allgather(t), CommError);
}

TYPED_TEST(CommunicatorTest, RejectsNonContiguousAndUnsupportedTensors) {
  auto t = torch::zeros({4, 4}, this->opts(torch::kFloat32)).t();
  EXPECT_THROW(this->comm_->allreduce_sum(t), CommError);
  auto h = torch::zeros({4}, this->opts(torch::kComplexFloat));
  EXPECT_THROW(this->comm_->allreduce_sum(h), CommError);
}

TYPED_TEST(CommunicatorTest, BarrierAndScalarHelpers) {
  this->comm_->barrier();
  const double s = comm::allreduce_scalar(*this->comm_, this->comm_->rank() + 0.5, comm::ReduceOp::kSum);
  const int n = this->comm_->size();
  EXPECT_DOUBLE_EQ(s, n * (n - 1) / 2.0 + 0.5 * n);
  const auto strings = comm::allgather_strings(*this->comm_, std::string(this->comm_->rank() + 1, 'x'));
  ASSERT_EQ(static_cast<int>(strings.size()), n);
  for (int r = 0; r < n; ++r) EXPECT_EQ(strings[r], std::string(r + 1, 'x'));
  EXPECT_EQ(comm::broadcast_string(*this->comm_, this->comm_->rank() == n - 1 ? "last" : "?", n - 1),
            "last");
}

TYPED_TEST(CommunicatorTest, TrafficCountsThePayloadOfEveryCollective) {
  auto& c = *this->comm_;
  const comm::Traffic before = c.traffic();
  auto a = torch::ones({10}, this->opts(torch::kFloat64));   // 80 bytes
  c.allreduce_sum(a);
  auto b = torch::zeros({3, 4}, this->opts(torch::kInt64));  // 96 bytes
  c.broadcast(b, 0);
  auto g = torch::ones({5}, this->opts(torch::kFloat32));    // 20 bytes + 32-byte shape check
  (void)c.allgather(g);
  c.barrier();  // not counted
  auto bad = torch::zeros({4, 4}, this->opts(torch::kFloat32)).t();
  EXPECT_THROW(c.allreduce_sum(bad), CommError);  // refused before communicating: not counted
  const comm::Traffic after = c.traffic();
  EXPECT_EQ(after.bytes - before.bytes, 80 + 96 + 20 + 32);
  EXPECT_EQ(after.collectives - before.collectives, 4);
}

// MPI with CUDA tensors is staged through the host; it must give the same values.
TEST(MpiStaging, CudaTensorsMatchCpuResults) {
  int gpus = torch::cuda::is_available() ? 1 : 0;
  gpus = static_cast<int>(comm::allreduce_scalar(ctx().host_comm(), gpus, comm::ReduceOp::kMin));
  if (!gpus) GTEST_SKIP() << "no GPU on some rank";
  comm::MpiCommunicator mpi(ctx().mpi_comm());
  auto cpu = rank_values(4096, ctx().rank(), torch::TensorOptions().dtype(torch::kFloat64));
  auto gpu = cpu.to(torch::kCUDA);
  mpi.allreduce_sum(cpu);
  mpi.allreduce_sum(gpu);
  EXPECT_TRUE(gpu.is_cuda());
  EXPECT_TRUE(torch::equal(cpu, gpu.cpu()));
}

#if SFB_WITH_NCCL
// Backends agree: the same reduction through NCCL and through MPI gives identical values.
TEST(BackendsAgree, NcclEqualsMpi) {
  std::string skip;
  auto nccl = NcclBackend::make(&skip);
  if (!nccl) GTEST_SKIP() << skip;
  comm::MpiCommunicator mpi(ctx().mpi_comm());
  auto x = torch::rand({100000}, torch::TensorOptions().dtype(torch::kFloat64)).mul(ctx().rank() + 1);
  auto a = x.clone();
  auto b = x.to(nccl->device());
  mpi.allreduce_sum(a);
  nccl->allreduce_sum(b);
  EXPECT_TRUE(torch::allclose(a, b.cpu(), 1e-12, 0));
}
#endif

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
