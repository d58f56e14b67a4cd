// Attacks across ranks (SPEC §3): per-sample randomness is keyed by global sample index, so the
// distributed runner (balanced shards, batches of 5, later stages re-batched over the survivors)
// gives the same per-sample robust flags and norms as one process attacking every sample in one
// batch. Float64 model, so batch composition cannot change a gradient's sign.
#include <gtest/gtest.h>
#include <mpi.h>
#include <torch/torch.h>

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

struct Outcome {
  std::vector<torch::Tensor> robust, norm;  // per group, [rows]
  std::vector<attacks::GroupSummary> summary;
};

Outcome run(comm::Communicator& comm, const Range& shard, int64_t batch) {
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
  cfg.list = {"fgsm", "pgd:steps=4", "apgd-ce:steps=8", "square:queries=40"};
  auto groups = attacks::plan_attacks(cfg, ds.image_shape(), 10, 77);
  attacks::AttackRunner runner(*model, groups, shard, torch::ones({shard.count}, torch::kBool),
                               torch::kFloat64, torch::kCPU, true);
  for (int64_t s = 0; s < runner.num_stages(); ++s) runner.run_stage(s, ds, batch, false);
  Outcome o;
  for (const auto& l : runner.local()) {
    o.robust.push_back(l.robust);
    o.norm.push_back(l.norm);
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

}  // namespace
}  // namespace sfb::test
