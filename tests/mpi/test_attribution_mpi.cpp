// Attribution across ranks (SPEC §5): under mpirun with 1 and 2 ranks, the distributed stage
// (balanced shards, batches of 5) gives what one process gives on every sample in one batch:
// per-image Gini, regional Gini and SNR on this rank's rows, and the reduced means, standard
// errors, per-class and per-confidence-group summaries to relative 1e-9 in float64 (the random
// draws of SmoothGrad are keyed by the global image index).
#include <gtest/gtest.h>
#include <mpi.h>
#include <torch/torch.h>

#include <cmath>

#include "attribution/stage.hpp"
#include "comm/mpi/mpi_communicator.hpp"
#include "core/partition.hpp"
#include "data/synthetic_shapes.hpp"
#include "models/zoo.hpp"
#include "mpi/mpi_env.hpp"

namespace sfb::test {
namespace {

constexpr int64_t kN = 13;

struct StageRun {
  std::unique_ptr<attribution::AttributionStage> stage;
  attribution::AttributionStatistics stats;
};

StageRun run(comm::Communicator& comm, const Range& shard, int64_t batch, int64_t n = kN) {
  data::SyntheticShapesOptions o;
  o.n = n;
  o.seed = 5;
  const data::SyntheticShapes ds(o);
  models::ModelOptions mo;
  mo.seed = 9;
  static std::vector<std::shared_ptr<models::NativeModel>> keep;  // the stage holds a reference
  keep.push_back(models::make_zoo_model("cnn-small", mo));
  attribution::AttributionConfig cfg;
  cfg.methods = {"saliency", "integrated-gradients", "smoothgrad", "grad-cam"};
  cfg.steps = 4;
  cfg.samples = 3;
  cfg.dtype = "float64";
  cfg.top_pixels = {50, 200};
  cfg.occlusion_colors = {"grey", "white"};
  cfg.occlusion_count = 3;
  cfg.occlusion_radius = 2;
  cfg.map_indices = {n - 1, 2, n / 2 - 1, n / 2 + 1};  // on both ranks' shards; unsorted on purpose
  cfg = attribution::resolve_config(cfg, ds.image_shape(), ds.size());
  StageRun r;
  r.stage = std::make_unique<attribution::AttributionStage>(*keep.back(), cfg, ds.num_classes(),
                                                            ds.has_masks(), 77, torch::kCPU, batch,
                                                            ds.size(), ds.image_shape());
  r.stage->run_shard(ds, shard, false);
  r.stats = r.stage->reduce(comm);
  return r;
}

double rel(const torch::Tensor& a, const torch::Tensor& b) {
  const torch::Tensor fa = torch::nan_to_num(a, 0.0), fb = torch::nan_to_num(b, 0.0);
  return ((fa - fb).norm() / fb.norm().clamp_min(1e-300)).item<double>();
}
double rel(double a, double b) { return std::abs(a - b) / std::max(std::abs(b), 1e-300); }

TEST(AttributionMpi, RankCountDoesNotChangeGiniOrSnr) {
  auto& ctx = sfb::test::ctx();
  comm::MpiCommunicator self(MPI_COMM_SELF);
  const Range shard = balanced_range(kN, ctx.size(), ctx.rank());
  const StageRun dist = run(ctx.comm(), shard, 5);
  const StageRun single = run(self, Range{0, kN}, kN);
  EXPECT_EQ(dist.stats.n, kN);
  EXPECT_EQ(dist.stats.correct, single.stats.correct);
  ASSERT_TRUE(dist.stats.masks);
  ASSERT_EQ(dist.stats.methods.size(), 4u);
  for (size_t m = 0; m < 4; ++m) {
    const auto& d = dist.stats.methods[m];
    const auto& s = single.stats.methods[m];
    SCOPED_TRACE(d.method);
    EXPECT_LT(rel(d.gini, s.gini), 1e-9);
    EXPECT_LT(rel(d.gini_stderr, s.gini_stderr), 1e-9);
    EXPECT_LT(rel(d.gini_regional, s.gini_regional), 1e-9);
    EXPECT_LT(rel(d.gini_by_class, s.gini_by_class), 1e-9);
    EXPECT_TRUE(torch::equal(d.count_by_class, s.count_by_class));
    EXPECT_LT(rel(d.snr_db_by_group, s.snr_db_by_group), 1e-9);
    EXPECT_TRUE(torch::equal(d.snr_count_by_group, s.snr_count_by_group));
    EXPECT_LT(rel(d.snr_db, s.snr_db), 1e-9);
    EXPECT_GT(d.gini, 0.0);
    EXPECT_LT(d.gini, 1.0);
    // this rank's per-image rows equal the single process's rows of the same samples
    const auto rows = [&](const torch::Tensor& t) { return t.narrow(0, shard.begin, shard.count); };
    EXPECT_LT(rel(dist.stage->gini(m), rows(single.stage->gini(m))), 1e-9);
    EXPECT_LT(rel(dist.stage->gini_regional(m), rows(single.stage->gini_regional(m))), 1e-9);
    EXPECT_LT(rel(dist.stage->snr_db(m), rows(single.stage->snr_db(m))), 1e-9);
  }
  EXPECT_TRUE(
      torch::equal(dist.stage->index(), single.stage->index().narrow(0, shard.begin, shard.count)));
}

// The inductive attacks, the method-pair agreement and the saved maps do not depend on the rank
// count either: the same error rates (flip counts), per-image flags, Spearman means and maps.
TEST(AttributionMpi, RankCountDoesNotChangeAttacksAgreementOrMaps) {
  auto& ctx = sfb::test::ctx();
  comm::MpiCommunicator self(MPI_COMM_SELF);
  constexpr int64_t kAttacked = 48;  // enough images that the random model gets some right
  const Range shard = balanced_range(kAttacked, ctx.size(), ctx.rank());
  const StageRun dist = run(ctx.comm(), shard, 7, kAttacked);
  const StageRun single = run(self, Range{0, kAttacked}, kAttacked, kAttacked);
  const auto rows = [&](const torch::Tensor& t) { return t.narrow(0, shard.begin, shard.count); };
  ASSERT_GT(single.stats.correct, 0);
  ASSERT_EQ(dist.stats.random_noise1.size(), 2u);
  for (size_t t = 0; t < 2; ++t) {
    EXPECT_EQ(dist.stats.random_noise1[t].k, single.stats.random_noise1[t].k);
    EXPECT_EQ(dist.stats.random_noise2[t].k, single.stats.random_noise2[t].k);
    EXPECT_EQ(dist.stats.random_noise1[t].n, single.stats.correct);
  }
  EXPECT_TRUE(
      torch::equal(dist.stage->random_noise1_flip(), rows(single.stage->random_noise1_flip())));
  int64_t any_flip = 0;
  for (size_t m = 0; m < 4; ++m) {
    const auto& d = dist.stats.methods[m];
    const auto& s = single.stats.methods[m];
    SCOPED_TRACE(d.method);
    ASSERT_EQ(d.noise1.size(), 2u);
    ASSERT_EQ(d.occlusion.size(), 2u);
    for (size_t t = 0; t < 2; ++t) {
      EXPECT_EQ(d.noise1[t].k, s.noise1[t].k);
      EXPECT_EQ(d.noise2[t].k, s.noise2[t].k);
      any_flip += s.noise2[t].k;
    }
    for (size_t k = 0; k < 2; ++k) {
      EXPECT_EQ(d.occlusion[k].k, s.occlusion[k].k);
      EXPECT_TRUE(torch::equal(dist.stage->occlusion_count(m, k),
                               rows(single.stage->occlusion_count(m, k))));
    }
    EXPECT_TRUE(torch::equal(dist.stage->noise2_flip(m), rows(single.stage->noise2_flip(m))));
  }
  EXPECT_GT(any_flip, 0) << "no Noise-II flip at all: the attack check would be vacuous";
  ASSERT_EQ(dist.stats.agreement.size(), 6u);  // 4 methods -> 6 pairs
  for (size_t p = 0; p < 6; ++p) {
    EXPECT_EQ(dist.stats.agreement[p].spearman.count, single.stats.agreement[p].spearman.count);
    EXPECT_LT(rel(dist.stats.agreement[p].spearman.mean, single.stats.agreement[p].spearman.mean),
              1e-9);
  }
  // the saved maps: each rank holds those of its shard, in ascending index order
  const torch::Tensor want = single.stage->map_index();
  ASSERT_TRUE(torch::equal(
      want, torch::tensor({int64_t{2}, kAttacked / 2 - 1, kAttacked / 2 + 1, kAttacked - 1})));
  EXPECT_EQ(dist.stage->map_offset(), want.lt(shard.begin).sum().item<int64_t>());
  const torch::Tensor mine = dist.stage->map_index();
  const torch::Tensor sel = want.ge(shard.begin) & want.lt(shard.end());
  EXPECT_TRUE(torch::equal(mine, want.masked_select(sel)));
  for (size_t m = 0; m < 4; ++m) {
    const torch::Tensor pos = sel.nonzero().flatten();
    EXPECT_TRUE(torch::allclose(dist.stage->saved_maps(m),
                                single.stage->saved_maps(m).index_select(0, pos), 1e-6, 0.0));
  }
}

}  // namespace
}  // namespace sfb::test
