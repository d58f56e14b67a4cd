#pragma once
// The Communicator tests, written once (Kokkos style) as the typed-parameterized suite
// CommunicatorSuite and instantiated per backend and tensor device: tests/mpi/test_communicator.cpp
// (MPI, CPU tensors) and tests/gpu/test_communicator_gpu.cpp (NCCL on each rank's GPU; MPI with
// CUDA tensors staged through the host). Include it in one translation unit per binary.
//
// A backend type B provides:
//   static constexpr const char* kName;  // the name() the communicator must report
//   static std::unique_ptr<comm::Communicator> make(std::string* skip);
//       // the communicator, or nullptr and the reason in *skip; decided collectively (every rank
//       // returns nullptr or none does), since the tests that follow call collectives
//   static torch::Device device(const comm::Communicator& c);  // where the test tensors live
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <memory>
#include <string>
#include <vector>

#include "comm/communicator.hpp"
#include "core/error.hpp"
#include "mpi/mpi_env.hpp"

namespace sfb::test {
namespace {

template <class B>
class CommunicatorSuite : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string skip;
    comm_ = B::make(&skip);
    if (!comm_) GTEST_SKIP() << skip;
    device_ = B::device(*comm_);
  }
  torch::TensorOptions opts(torch::ScalarType st) const {
    return torch::TensorOptions().dtype(st).device(device_);
  }
  std::unique_ptr<comm::Communicator> comm_;
  torch::Device device_{torch::kCPU};
};
TYPED_TEST_SUITE_P(CommunicatorSuite);

// Number of elements where a and b differ (non-template, so typed tests need no `template`).
int64_t mismatches(const torch::Tensor& a, const torch::Tensor& b) {
  return a.ne(b).sum().item<int64_t>();
}

const torch::ScalarType kTypes[] = {torch::kFloat32, torch::kFloat64, torch::kInt64};

// Element i of rank r: (i mod 7) + 3 r - 1, small integers so every reduction is exact.
torch::Tensor rank_values(int64_t n, int r, torch::TensorOptions o) {
  return torch::arange(n, o.dtype(torch::kInt64)).remainder(7).add(3 * r - 1).to(o.dtype());
}

TYPED_TEST_P(CommunicatorSuite, RankAndSizeMatchContext) {
  EXPECT_EQ(this->comm_->rank(), ctx().rank());
  EXPECT_EQ(this->comm_->size(), ctx().size());
  EXPECT_EQ(this->comm_->name(), TypeParam::kName);
}

TYPED_TEST_P(CommunicatorSuite, AllreduceSumMaxMinEveryElement) {
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
      EXPECT_EQ(s.device(), this->device_);  // in place: a staged tensor is copied back
    }
  }
}

TYPED_TEST_P(CommunicatorSuite, AllreduceMultiDimensionalKeepsShape) {
  auto t = torch::full({3, 4, 5}, this->comm_->rank() + 1, this->opts(torch::kFloat64));
  this->comm_->allreduce_sum(t);
  const int n = this->comm_->size();
  EXPECT_EQ(t.sizes(), (std::vector<int64_t>{3, 4, 5}));
  EXPECT_EQ(t.device(), this->device_);
  EXPECT_EQ(mismatches(t, torch::full_like(t, n * (n + 1) / 2.0)), 0);
}

TYPED_TEST_P(CommunicatorSuite, BroadcastFromEveryRoot) {
  for (auto st : kTypes) {
    for (int root = 0; root < this->comm_->size(); ++root) {
      auto t = rank_values(513, this->comm_->rank(), this->opts(st));
      this->comm_->broadcast(t, root);
      auto want = rank_values(513, root, this->opts(st));
      EXPECT_EQ(t.device(), this->device_);
      EXPECT_EQ(mismatches(t, want), 0) << "root " << root << " " << c10::toString(st);
    }
  }
}

TYPED_TEST_P(CommunicatorSuite, AllgatherStacksInRankOrder) {
  for (auto st : kTypes) {
    auto t = rank_values(6, this->comm_->rank(), this->opts(st)).reshape({2, 3});
    auto all = this->comm_->allgather(t);
    ASSERT_EQ(all.sizes(), (std::vector<int64_t>{this->comm_->size(), 2, 3}));
    EXPECT_EQ(all.device(), this->device_);  // on the argument's device (Communicator contract)
    EXPECT_EQ(all.scalar_type(), st);
    for (int r = 0; r < this->comm_->size(); ++r) {
      auto want = rank_values(6, r, this->opts(st)).reshape({2, 3});
      EXPECT_EQ(mismatches(all[r], want), 0) << "rank " << r;
    }
  }
}

TYPED_TEST_P(CommunicatorSuite, AllgatherRejectsMismatchedSizesOnEveryRank) {
  auto t = torch::zeros({this->comm_->rank() == 0 ? 3 : 4}, this->opts(torch::kFloat32));
  if (this->comm_->size() == 1) GTEST_SKIP() << "needs two ranks";
  EXPECT_THROW(this->comm_->allgather(t), CommError);
}

TYPED_TEST_P(CommunicatorSuite, RejectsNonContiguousAndUnsupportedTensors) {
  auto t = torch::zeros({4, 4}, this->opts(torch::kFloat32)).t();
  EXPECT_THROW(this->comm_->allreduce_sum(t), CommError);
  EXPECT_THROW(this->comm_->broadcast(t, 0), CommError);
  EXPECT_THROW((void)this->comm_->allgather(t), CommError);
  auto h = torch::zeros({4}, this->opts(torch::kComplexFloat));
  EXPECT_THROW(this->comm_->allreduce_sum(h), CommError);
}

TYPED_TEST_P(CommunicatorSuite, BarrierAndScalarHelpers) {
  this->comm_->barrier();
  const double s =
      comm::allreduce_scalar(*this->comm_, this->comm_->rank() + 0.5, comm::ReduceOp::kSum);
  const int n = this->comm_->size();
  EXPECT_DOUBLE_EQ(s, n * (n - 1) / 2.0 + 0.5 * n);
  const auto strings =
      comm::allgather_strings(*this->comm_, std::string(this->comm_->rank() + 1, 'x'));
  ASSERT_EQ(static_cast<int>(strings.size()), n);
  for (int r = 0; r < n; ++r) EXPECT_EQ(strings[r], std::string(r + 1, 'x'));
  EXPECT_EQ(
      comm::broadcast_string(*this->comm_, this->comm_->rank() == n - 1 ? "last" : "?", n - 1),
      "last");
}

TYPED_TEST_P(CommunicatorSuite, TrafficCountsThePayloadOfEveryCollective) {
  auto& c = *this->comm_;
  const comm::Traffic before = c.traffic();
  auto a = torch::ones({10}, this->opts(torch::kFloat64));  // 80 bytes
  c.allreduce_sum(a);
  auto b = torch::zeros({3, 4}, this->opts(torch::kInt64));  // 96 bytes
  c.broadcast(b, 0);
  auto g = torch::ones({5}, this->opts(torch::kFloat32));  // 20 bytes + 32-byte shape check
  (void)c.allgather(g);
  c.barrier();  // not counted
  auto bad = torch::zeros({4, 4}, this->opts(torch::kFloat32)).t();
  EXPECT_THROW(c.allreduce_sum(bad), CommError);  // refused before communicating: not counted
  c.synchronize();
  const comm::Traffic after = c.traffic();
  // The tensor's bytes, wherever it lives: a staged CUDA tensor counts once, not per copy.
  EXPECT_EQ(after.bytes - before.bytes, 80 + 96 + 20 + 32);
  EXPECT_EQ(after.collectives - before.collectives, 4);
}

REGISTER_TYPED_TEST_SUITE_P(CommunicatorSuite, RankAndSizeMatchContext,
                            AllreduceSumMaxMinEveryElement, AllreduceMultiDimensionalKeepsShape,
                            BroadcastFromEveryRoot, AllgatherStacksInRankOrder,
                            AllgatherRejectsMismatchedSizesOnEveryRank,
                            RejectsNonContiguousAndUnsupportedTensors, BarrierAndScalarHelpers,
                            TrafficCountsThePayloadOfEveryCollective);

}  // namespace
}  // namespace sfb::test
