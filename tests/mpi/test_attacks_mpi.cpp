// Attacks across ranks (SPEC §3): per-sample randomness is keyed by global sample index, so the
// distributed runner (balanced shards, batches of 5, later stages re-batched over the survivors)
// gives the same per-sample robust flags and norms as one process attacking every sample in one
// batch. Float64 model, so batch composition cannot change a gradient's sign.
#include <gtest/gtest.h>
#include <mpi.h>
#include <torch/torch.h>

#include <cmath>

#include "attacks/attack_stage.hpp"
#include "comm/mpi/mpi_communicator.hpp"
#include "core/partition.hpp"
#include "data/relabelled.hpp"
#include "data/synthetic_shapes.hpp"
#include "models/zoo.hpp"
#include "mpi/mpi_env.hpp"

namespace sfb::test {
namespace {

constexpr int64_t kN = 29;

const std::vector<std::string> kDefaultList = {"fgsm", "pgd:steps=4", "apgd-ce:steps=8",
                                               "square:queries=40"};

struct Outcome {
  std::vector<torch::Tensor> robust, norm, broken_by;  // per group, [rows]
  std::vector<attacks::GroupSummary> summary;
};

Outcome run(comm::Communicator& comm, const Range& shard, int64_t batch,
            const std::vector<std::string>& list = kDefaultList) {
  data::SyntheticShapesOptions so;
  so.n = kN;
  so.seed = 3;
  data::SyntheticShapes base(so);
  models::ModelOptions mo;
  mo.seed = 4;
  auto model = models::make_zoo_model("cnn-small", mo);
  model->train(false);
  model->to_dtype(torch::kFloat64);
  std::vector<int64_t> all(kN);
  for (int64_t i = 0; i < kN; ++i) all[i] = i;
  torch::Tensor labels;
  {
    torch::NoGradGuard ng;
    labels = model->forward(base.get(all).images.to(torch::kFloat64)).argmax(1);
  }
  Relabelled ds(base, labels);
  attacks::AttackConfig cfg;
  cfg.eps = 2.0 / 255;
  cfg.list = list;
  auto groups = attacks::plan_attacks(cfg, ds.image_shape(), 10, 77);
  attacks::AttackRunner runner(*model, groups, shard, torch::ones({shard.count}, torch::kBool),
                               torch::kFloat64, torch::kCPU, true);
  for (int64_t s = 0; s < runner.num_stages(); ++s) runner.run_stage(s, ds, batch, false);
  Outcome o;
  for (const auto& l : runner.local()) {
    o.robust.push_back(l.robust);
    o.norm.push_back(l.norm);
    o.broken_by.push_back(l.broken_by);
  }
  o.summary = runner.reduce(comm, kN, false);
  return o;
}

TEST(AttacksMpi, RankCountDoesNotChangeRobustFlags) {
  auto& ctx = sfb::test::ctx();
  comm::MpiCommunicator self(MPI_COMM_SELF);
  const Range mine = balanced_range(kN, ctx.size(), ctx.rank());
  const Outcome dist = run(ctx.comm(), mine, 5);
  const Outcome single = run(self, Range{0, kN}, kN);
  ASSERT_EQ(dist.summary.size(), single.summary.size());
  for (std::size_t g = 0; g < dist.robust.size(); ++g) {
    SCOPED_TRACE(dist.summary[g].label);
    EXPECT_TRUE(torch::equal(dist.robust[g], single.robust[g].narrow(0, mine.begin, mine.count)));
    EXPECT_TRUE(torch::allclose(dist.norm[g], single.norm[g].narrow(0, mine.begin, mine.count),
                                1e-6, 1e-9));
    EXPECT_EQ(dist.summary[g].robust, single.summary[g].robust);
    EXPECT_NEAR(dist.summary[g].adv_acc, single.summary[g].adv_acc, 1e-15);
    EXPECT_TRUE(torch::allclose(dist.summary[g].act_diff, single.summary[g].act_diff, 1e-9, 1e-12));
    // The comparison is not vacuous for any attack: each broke some samples and left others, so
    // equal flags mean equal decisions per sample (all-true or all-false flags would agree anyway).
    EXPECT_GT(single.summary[g].robust, 0) << "every sample broken";
    EXPECT_LT(single.summary[g].robust, kN) << "no sample broken";
  }
  EXPECT_EQ(dist.summary.back().robust, single.summary.back().robust);
}

TEST(AttacksMpi, StageAccuraciesAndMinimalNormsFollowThePerSampleResults) {
  // AutoAttack's robust accuracy after each stage (as the reference prints it) and CW-L2's
  // accuracy at eps from its minimal norms, with their median and mean: every rank count gives
  // one process's numbers, and they agree with the per-sample flags, stages and norms.
  auto& ctx = sfb::test::ctx();
  comm::MpiCommunicator self(MPI_COMM_SELF);
  const Range mine = balanced_range(kN, ctx.size(), ctx.rank());
  const double eps = 0.3;
  const std::vector<std::string> list = {
      "autoattack:version=fast:steps=4",
      "cw-l2:steps=20:binary_steps=3:initial_const=1:eps=" + std::to_string(eps)};
  const Outcome dist = run(ctx.comm(), mine, 5, list);
  const Outcome single = run(self, Range{0, kN}, kN, list);

  const auto& aa = single.summary[0];
  ASSERT_GE(aa.stage_names.size(), 2u);
  ASSERT_EQ(aa.stage_adv_acc.size(), aa.stage_names.size());
  EXPECT_EQ(aa.stage_adv_acc.back(), aa.adv_acc);
  EXPECT_LT(aa.stage_adv_acc.front(), aa.clean_acc) << "the first stage broke nothing";
  for (std::size_t s = 1; s < aa.stage_adv_acc.size(); ++s) {
    EXPECT_LE(aa.stage_adv_acc[s], aa.stage_adv_acc[s - 1]) << aa.stage_names[s];
  }
  EXPECT_EQ(dist.summary[0].stage_adv_acc, aa.stage_adv_acc);
  // A sample is robust exactly when no stage broke it; broken ones name a stage of the chain.
  EXPECT_TRUE(torch::equal(single.robust[0], single.broken_by[0].eq(0)));
  EXPECT_LE(single.broken_by[0].max().item<int64_t>(), static_cast<int64_t>(aa.stage_names.size()));

  const auto& cw = single.summary[1];
  ASSERT_TRUE(cw.minimal_norm);
  const torch::Tensor norms = single.norm[1].to(torch::kFloat64);
  EXPECT_EQ(cw.robust, norms.gt(eps).sum().item<int64_t>());
  EXPECT_GT(cw.robust, 0) << "every sample broken at eps";
  EXPECT_LT(cw.robust, kN) << "no sample broken at eps";
  EXPECT_TRUE(torch::equal(single.robust[1], norms.gt(eps)));
  const torch::Tensor sorted = std::get<0>(norms.sort());
  ASSERT_TRUE(std::isfinite(cw.median_norm)) << "fewer than half the samples have an adversarial";
  EXPECT_DOUBLE_EQ(cw.median_norm, sorted[kN / 2].item<double>());  // kN is odd
  const torch::Tensor finite = norms.index({norms.isfinite()});
  EXPECT_EQ(cw.norm_found, finite.numel());
  EXPECT_NEAR(cw.mean_norm, finite.mean().item<double>(), 1e-12);
  EXPECT_EQ(dist.summary[1].median_norm, cw.median_norm);
  EXPECT_NEAR(dist.summary[1].mean_norm, cw.mean_norm, 1e-12);
  // The worst case counts CW-L2 at eps, not "never fooled".
  EXPECT_LE(single.summary.back().robust, cw.robust);
}

TEST(AttacksMpi, SquareAloneRaisesNoWhiteBoxFlag) {
  // With no white-box attack in the run there is nothing for Square to be compared against.
  auto& ctx = sfb::test::ctx();
  const Range mine = balanced_range(kN, ctx.size(), ctx.rank());
  const Outcome o = run(ctx.comm(), mine, 5, {"square:queries=40"});
  ASSERT_LT(o.summary[0].robust, kN);  // Square broke some samples
  for (const auto& f : o.summary[0].flags) {
    EXPECT_EQ(f.find("white-box"), std::string::npos) << f;
  }
}

}  // namespace
}  // namespace sfb::test
