// SF across ranks (SPEC §2 "Distributed"): run under mpirun with 1, 2 and 3 ranks, the distributed
// stage (balanced shards, batches of 7) must give what one process gives on every sample in one
// batch: C, sorted C, per-class C, SF, accuracy and the bootstrap CI to relative 1e-9 in float64.
// Since every rank count is compared with the same single-process result, 1, 2 and 3 ranks agree
// with each other. A float32 run agrees only up to float32 rounding (batch composition changes
// the kernels' summation order), which the second test bounds.
#include <gtest/gtest.h>
#include <mpi.h>
#include <torch/torch.h>

#include <cmath>

#include "comm/mpi/mpi_communicator.hpp"
#include "core/partition.hpp"
#include "data/synthetic_shapes.hpp"
#include "models/zoo.hpp"
#include "mpi/mpi_env.hpp"
#include "shapley/sf_stage.hpp"

namespace sfb::test {
namespace {

constexpr int64_t kN = 53;
constexpr uint64_t kSeed = 2024;

data::SyntheticShapes dataset() {
  data::SyntheticShapesOptions o;
  o.n = kN;
  o.seed = 5;
  return data::SyntheticShapes(o);
}

/// SF statistics of zoo:cnn-small over `shard` in batches of `batch`, reduced through `comm`.
shapley::SfStatistics run(comm::Communicator& comm, const Range& shard, int64_t batch,
                          const std::string& dtype, const std::string& target) {
  const auto ds = dataset();
  models::ModelOptions mo;
  mo.seed = 9;
  auto model = models::make_zoo_model("cnn-small", mo);
  shapley::SfConfig cfg;
  cfg.dtype = dtype;
  cfg.target = target;
  cfg.bootstrap = 64;
  shapley::SfStage stage(*model, cfg, ds.image_shape(), kSeed, torch::kCPU);
  stage.run_shard(ds, shard, batch, false);
  return stage.reduce(comm);
}

double rel(const torch::Tensor& a, const torch::Tensor& b) {
  const torch::Tensor fa = torch::nan_to_num(a, 0.0), fb = torch::nan_to_num(b, 0.0);
  return ((fa - fb).norm() / fb.norm().clamp_min(1e-300)).item<double>();
}
double rel(double a, double b) { return std::abs(a - b) / std::max(std::abs(b), 1e-300); }

void expect_same(const shapley::SfStatistics& d, const shapley::SfStatistics& r, double tol) {
  EXPECT_EQ(d.n, kN);
  EXPECT_EQ(d.n, r.n);
  EXPECT_EQ(d.correct, r.correct);
  EXPECT_LT(rel(d.global_shapley, r.global_shapley), tol);
  EXPECT_LT(rel(d.sorted, r.sorted), tol);
  EXPECT_LT(rel(d.per_class, r.per_class), tol);
  EXPECT_TRUE(torch::equal(torch::isnan(d.per_class), torch::isnan(r.per_class)));
  EXPECT_TRUE(torch::equal(d.class_count, r.class_count));
  EXPECT_LT(rel(d.sf, r.sf), tol);
  EXPECT_LT(rel(d.ci_low, r.ci_low), tol);
  EXPECT_LT(rel(d.ci_high, r.ci_high), tol);
  EXPECT_LT(rel(d.bootstrap_sf, r.bootstrap_sf), tol);
  EXPECT_LT(rel(d.bootstrap_bias, r.bootstrap_bias), tol);
  EXPECT_GT(d.ci_high, d.ci_low);
}

TEST(SfMpi, RankCountDoesNotChangeCSfOrCiInFloat64) {
  auto& ctx = sfb::test::ctx();
  comm::MpiCommunicator self(MPI_COMM_SELF);
  for (const char* target : {"logit", "prob"}) {
    const auto dist =
        run(ctx.comm(), balanced_range(kN, ctx.size(), ctx.rank()), 7, "float64", target);
    const auto single = run(self, Range{0, kN}, kN, "float64", target);
    SCOPED_TRACE(target);
    expect_same(dist, single, 1e-9);
    EXPECT_GT(dist.sf, 0.0);
  }
}

TEST(SfMpi, Float32AgreesUpToFloat32Rounding) {
  auto& ctx = sfb::test::ctx();
  comm::MpiCommunicator self(MPI_COMM_SELF);
  const auto dist =
      run(ctx.comm(), balanced_range(kN, ctx.size(), ctx.rank()), 7, "float32", "logit");
  const auto single = run(self, Range{0, kN}, kN, "float32", "logit");
  expect_same(dist, single, 1e-5);
}

}  // namespace
}  // namespace sfb::test
