// comm::ReductionBuffer under mpirun: named slots of every shape come back as the sum over ranks,
// in one all-reduce, with the shapes they were added with; misuse is an error.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "comm/reduction_buffer.hpp"
#include "core/error.hpp"
#include "mpi/mpi_env.hpp"

namespace sfb::test {
namespace {

TEST(ReductionBuffer, SlotsAreSummedOverRanksWithTheirShapes) {
  auto& comm = ctx().comm();
  const double r = ctx().rank();
  const double w = ctx().size();
  const double rank_sum = w * (w - 1) / 2;  // Σ r over ranks
  comm::ReductionBuffer buf;
  buf.add("count", 1.0);
  buf.add("rank", r);
  buf.add("matrix", torch::arange(6, torch::kInt64).reshape({2, 3}) * (ctx().rank() + 1));
  buf.add("floats", torch::full({4}, 0.25f) + static_cast<float>(r));
  buf.add("empty", torch::zeros({0}, torch::kFloat64));
  EXPECT_EQ(buf.numel(), 1 + 1 + 6 + 4);
  const comm::Traffic before = ctx().traffic();
  buf.allreduce(comm);
  EXPECT_EQ((ctx().traffic() - before).collectives, 1) << "one all-reduce for all slots";
  EXPECT_EQ(buf.scalar("count"), w);
  EXPECT_EQ(buf.scalar("rank"), rank_sum);
  const torch::Tensor m = buf.get("matrix");
  EXPECT_EQ(m.sizes(), (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(m.scalar_type(), torch::kFloat64);
  EXPECT_TRUE(
      torch::equal(m, torch::arange(6, torch::kFloat64).reshape({2, 3}) * (w * (w + 1) / 2)));
  EXPECT_TRUE(
      torch::allclose(buf.get("floats"), torch::full({4}, 0.25 * w + rank_sum, torch::kFloat64)));
  EXPECT_EQ(buf.get("empty").numel(), 0);
}

TEST(ReductionBuffer, MisuseIsAnError) {
  comm::ReductionBuffer buf;
  buf.add("a", 1.0);
  EXPECT_THROW(buf.add("a", 2.0), Error);
  EXPECT_THROW(buf.get("b"), Error);
  buf.add("v", torch::ones({2}));
  EXPECT_THROW(buf.scalar("v"), Error);
  buf.allreduce(ctx().comm());
  EXPECT_THROW(buf.add("late", 1.0), Error);
  EXPECT_THROW(buf.allreduce(ctx().comm()), Error);
}

}  // namespace
}  // namespace sfb::test
