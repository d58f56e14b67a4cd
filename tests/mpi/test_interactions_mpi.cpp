// Interactions across ranks (SPEC §4 "Distributed"): under mpirun with 1 and 3 ranks, the
// distributed stage (balanced shards, batches of 2 images, blocks of 24 masked images) must give
// what one process gives with every image in one batch and blocks of 64: every per-order mean,
// standard error and count, and the attack's totals, to relative 1e-9 in float64. Randomness is
// keyed by global image index, so neither the rank count nor the batching changes the samples.
#include <gtest/gtest.h>
#include <mpi.h>
#include <torch/torch.h>

#include <cmath>

#include "comm/mpi/mpi_communicator.hpp"
#include "core/partition.hpp"
#include "data/synthetic_shapes.hpp"
#include "interactions/stage.hpp"
#include "models/zoo.hpp"
#include "mpi/mpi_env.hpp"

namespace sfb::test {
namespace {

constexpr int64_t kN = 7;

interactions::InteractionStatistics run(comm::Communicator& comm, const Range& shard,
                                        int64_t batch) {
  data::SyntheticShapesOptions so;
  so.n = kN;
  so.seed = 5;
  const data::SyntheticShapes ds(so);
  models::ModelOptions mo;
  mo.seed = 9;
  auto model = models::make_zoo_model("cnn-small", mo);
  interactions::InteractionsConfig c;
  c.grid = 4;
  c.orders = {0.0, 0.5, 1.0};
  c.pairs = 3;
  c.contexts = 2;
  c.dtype = "float64";
  c.shapley = true;
  c.baseline = "pixel-mean";
  c.adv_max_steps = 5;
  c.adv_utility = 0.05;
  c.adv_tolerance = 0.01;
  const auto rc = interactions::resolve_config(c, ds.image_shape());
  interactions::InteractionsStage stage(*model, rc, ds.image_shape(), 77, torch::kCPU, batch);
  stage.compute_baseline(ds, shard, comm);
  stage.run_shard(ds, shard, false);
  return stage.reduce(comm);
}

double rel(const torch::Tensor& a, const torch::Tensor& b) {
  const torch::Tensor fa = torch::nan_to_num(a, 0.0), fb = torch::nan_to_num(b, 0.0);
  return ((fa - fb).norm() / fb.norm().clamp_min(1e-300)).item<double>();
}

TEST(InteractionsMpi, RankCountDoesNotChangeTheEstimatesInFloat64) {
  auto& ctx = sfb::test::ctx();
  comm::MpiCommunicator self(MPI_COMM_SELF);
  const auto d = run(ctx.comm(), balanced_range(kN, ctx.size(), ctx.rank()), 2);
  const auto r = run(self, Range{0, kN}, 64);
  EXPECT_EQ(d.n, kN);
  EXPECT_EQ(d.n, r.n);
  EXPECT_TRUE(torch::equal(d.count, r.count));
  EXPECT_TRUE(torch::equal(torch::isnan(d.mean), torch::isnan(r.mean)));
  EXPECT_LT(rel(d.mean, r.mean), 1e-9);
  EXPECT_LT(rel(d.stderr_, r.stderr_), 1e-9);
  EXPECT_EQ(d.masked_forwards, r.masked_forwards);
  EXPECT_EQ(d.adv_reached, r.adv_reached);
  EXPECT_EQ(d.adv_flipped, r.adv_flipped);
  EXPECT_NEAR(d.adv_utility_mean, r.adv_utility_mean, 1e-9 * std::abs(r.adv_utility_mean));
  // Every row was computed for every image (shapley and adversarial on).
  EXPECT_EQ(d.count[interactions::kINor][0].item<int64_t>(), kN);
  EXPECT_EQ(d.count[interactions::kDeltaPhi][0].item<int64_t>(), kN);
  EXPECT_GT(d.stderr_[interactions::kINor][1].item<double>(), 0.0);
}

}  // namespace
}  // namespace sfb::test
