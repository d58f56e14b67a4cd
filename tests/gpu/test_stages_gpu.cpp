// The stages on CUDA equal the stages on the CPU at float32 (TF32 off): SF, the gradient attacks,
// multi-order interactions and training steps run once on the CPU and once on the rank's GPU from
// the same weights, data and keyed randomness (drawn on the CPU and copied to the device), and
// must agree up to float32 rounding.
//
// What may legitimately differ, and how the comparisons allow for it (nothing else is allowed):
// - cuDNN/cuBLAS sum in other orders (and may use Winograd or FFT convolutions) than the CPU: every
//   real number differs by a few float32 ulps of the magnitudes summed, so values are compared
//   with a tolerance relative to the largest magnitude of their row (kRtol), not element-wise
//   relative (an element near zero is the difference of large terms).
// - A decision taken on such a number flips when it is within rounding of its threshold: an argmax
//   between nearly equal logits, the sign of a near-zero input gradient (a linf step moves that
//   pixel by ±α), a ReLU whose input is within rounding of 0. So predictions and robust flags must
//   be equal wherever the deciding margin is clear (> kClearMargin); a linf attack's x_adv must be
//   bit-equal except on a small fraction of pixels (kMaxFlippedPixels); and the loss margins of
//   the adversarial examples (both evaluated by the same CPU model) must agree within kMarginTol.
//   A broken device path (wrong gradient, device-dependent random start, a stale copy) changes
//   most pixels and margins and fails.
#include <gtest/gtest.h>
#include <mpi.h>
#include <torch/torch.h>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "attacks/attack.hpp"
#include "comm/mpi/mpi_communicator.hpp"
#include "core/partition.hpp"
#include "data/sampler.hpp"
#include "data/synthetic_shapes.hpp"
#include "data/train_fixtures.hpp"
#include "gpu/gpu_env.hpp"
#include "interactions/stage.hpp"
#include "models/zoo.hpp"
#include "mpi/mpi_env.hpp"
#include "shapley/sf_stage.hpp"
#include "train/trainer.hpp"

namespace sfb::test {
namespace {

// float32 rounding accumulated through a small CNN is ~1e-6 of the magnitudes involved; 1e-4
// leaves two orders of magnitude for another summation order or convolution algorithm.
constexpr double kRtol = 1e-4;
// A decision (argmax, robust or not) is expected to agree when its margin in logits exceeds this.
constexpr double kClearMargin = 1e-3;
// linf attacks: fraction of pixels allowed to differ (flipped gradient signs, see the file
// comment).
constexpr double kMaxFlippedPixels = 2e-3;
// Margins z_y − max_{j≠y} z_j of the adversarial examples: |Δ| ≤ kMarginTol·(1 + |margin|).
constexpr double kMarginTol = 1e-2;

constexpr uint64_t kSeed = 2024;

data::SyntheticShapes shapes(int64_t n, uint64_t seed) {
  data::SyntheticShapesOptions o;
  o.n = n;
  o.seed = seed;
  return data::SyntheticShapes(o);
}

/// zoo:cnn-small (convolutions, BatchNorm, ReLU) with seeded weights on `dev` in `dt`.
std::shared_ptr<models::NativeModel> cnn(uint64_t seed, const torch::Device& dev,
                                         torch::ScalarType dt) {
  models::ModelOptions mo;
  mo.seed = seed;
  auto m = models::make_zoo_model("cnn-small", mo);
  m->to_dtype(dt);
  m->to(dev);
  return m;
}

std::vector<int64_t> iota(int64_t n) {
  std::vector<int64_t> v(static_cast<std::size_t>(n));
  for (int64_t i = 0; i < n; ++i) v[static_cast<std::size_t>(i)] = i;
  return v;
}

/// max over rows of max_j |a − b| / (kRtol·max_j |b| + atol), a and b [n, ...] (any device, moved
/// to the CPU as float64): ≤ 1 means every row agrees to kRtol of its largest magnitude.
double row_error(const torch::Tensor& a, const torch::Tensor& b, double atol) {
  const torch::Tensor fa = a.to(torch::kCPU, torch::kFloat64).reshape({a.size(0), -1});
  const torch::Tensor fb = b.to(torch::kCPU, torch::kFloat64).reshape({b.size(0), -1});
  if (fa.numel() == 0) return 0.0;
  const torch::Tensor scale = fb.abs().amax(1) * kRtol + atol;
  return ((fa - fb).abs().amax(1) / scale).max().item<double>();
}

/// z_y − max_{j≠y} z_j ([B] float64, CPU) of logits [B, C] and labels y [B].
torch::Tensor margin(const torch::Tensor& logits, const torch::Tensor& y) {
  const torch::Tensor z = logits.to(torch::kCPU, torch::kFloat64);
  const torch::Tensor yc = y.to(torch::kCPU).unsqueeze(1);
  const torch::Tensor zy = z.gather(1, yc).squeeze(1);
  const torch::Tensor other = z.scatter(1, yc, -std::numeric_limits<double>::infinity()).amax(1);
  return zy - other;
}

/// Gap between the two largest logits of each row ([B] float64, CPU): how clear the argmax is.
torch::Tensor top2_gap(const torch::Tensor& logits) {
  const torch::Tensor top = std::get<0>(logits.to(torch::kCPU, torch::kFloat64).topk(2, 1));
  return top.select(1, 0) - top.select(1, 1);
}

class StagesGpu : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!every_rank_has_gpu()) GTEST_SKIP() << kNoGpu;
    strict_fp32();
    gpu_ = rank_gpu();
  }
  torch::Device gpu_{torch::kCPU};
};

// ---------------------------------------------------------------------------------------------
// SF (SPEC §2): per-sample Shapley values c(x), predictions, and the dataset statistics.

struct SfRun {
  shapley::SfStatistics stats;
  torch::Tensor per_sample, preds;
};

SfRun run_sf(const torch::Device& dev, const std::string& target, bool fast_path) {
  constexpr int64_t kN = 48;
  const auto ds = shapes(kN, 5);
  auto model = cnn(9, dev, torch::kFloat32);
  shapley::SfConfig cfg;
  cfg.dtype = "float32";
  cfg.target = target;
  cfg.fast_path = fast_path;
  cfg.bootstrap = 64;
  cfg.save_per_sample = true;
  shapley::SfStage stage(*model, cfg, ds.image_shape(), kSeed, dev);
  stage.run_shard(ds, Range{0, kN}, 16, false);
  comm::MpiCommunicator self(MPI_COMM_SELF);
  return {stage.reduce(self), stage.per_sample(), stage.preds()};
}

void expect_sf_equal(const SfRun& g, const SfRun& c) {
  // Clean argmax: equal wherever the CPU model's top-2 gap is clear.
  const auto ds = shapes(48, 5);
  torch::Tensor gap;
  {
    torch::NoGradGuard ng;
    auto ref = cnn(9, torch::kCPU, torch::kFloat32);
    ref->train(false);
    gap = top2_gap(ref->forward(ds.get(iota(48)).images));
  }
  const torch::Tensor clear = gap > kClearMargin;
  const int64_t unclear = (~clear).sum().item<int64_t>();
  EXPECT_TRUE(torch::equal(g.preds.masked_select(clear), c.preds.masked_select(clear)));
  EXPECT_LE(std::abs(g.stats.correct - c.stats.correct), unclear);
  EXPECT_LT(unclear, 5) << "too few clear predictions to compare";
  // Per-sample c(x): each row to kRtol of its largest |c_i|.
  ASSERT_EQ(g.per_sample.sizes(), c.per_sample.sizes());
  EXPECT_LE(row_error(g.per_sample, c.per_sample, 1e-12), 1.0);
  // C, per-class C, SF and the bootstrap (its Poisson weights are drawn on the CPU by global index,
  // so both runs resample identically).
  EXPECT_EQ(g.stats.n, c.stats.n);
  EXPECT_LE(
      row_error(g.stats.global_shapley.unsqueeze(0), c.stats.global_shapley.unsqueeze(0), 1e-12),
      1.0);
  EXPECT_TRUE(torch::equal(g.stats.class_count, c.stats.class_count));
  EXPECT_TRUE(torch::equal(torch::isnan(g.stats.per_class), torch::isnan(c.stats.per_class)));
  EXPECT_LE(row_error(torch::nan_to_num(g.stats.per_class, 0.0),
                      torch::nan_to_num(c.stats.per_class, 0.0), 1e-12),
            1.0);
  EXPECT_NEAR(g.stats.sf, c.stats.sf, kRtol * c.stats.sf);
  EXPECT_NEAR(g.stats.ci_low, c.stats.ci_low, kRtol * c.stats.ci_low);
  EXPECT_NEAR(g.stats.ci_high, c.stats.ci_high, kRtol * c.stats.ci_high);
  EXPECT_LE(row_error(g.stats.bootstrap_sf.unsqueeze(0), c.stats.bootstrap_sf.unsqueeze(0), 1e-12),
            1.0);
  EXPECT_GT(c.stats.sf, 0.0);
}

TEST_F(StagesGpu, SfLogitFastPathEqualsCpu) {
  const SfRun c = run_sf(torch::kCPU, "logit", true);
  const SfRun g = run_sf(gpu_, "logit", true);
  expect_sf_equal(g, c);
}

TEST_F(StagesGpu, SfProbThroughAutogradEqualsCpu) {
  const SfRun c = run_sf(torch::kCPU, "prob", false);
  const SfRun g = run_sf(gpu_, "prob", false);
  expect_sf_equal(g, c);
}

// ---------------------------------------------------------------------------------------------
// Attacks (SPEC §3) with deterministic control flow: FGSM, PGD (linf and l2, keyed random start)
// and cw-linf. APGD and Square are left out: their step-size schedule and accept/reject tests
// compare losses, so one float32 tie changes the whole trajectory of a sample.

struct AttackCase {
  const char* name;
  attacks::Norm norm;
  double eps;
  int64_t steps;
};

struct AttackSetup {
  torch::Tensor x, y, index;  // samples whose clean prediction is clear, labelled with it (CPU)
};

/// Samples of synthetic-shapes that zoo:cnn-small (seed 4) classifies with a clear margin,
/// labelled with its prediction, so every one is attacked on both devices.
AttackSetup attack_setup() {
  constexpr int64_t kN = 40;
  const auto ds = shapes(kN, 3);
  const data::Batch b = ds.get(iota(kN));
  torch::NoGradGuard ng;
  auto ref = cnn(4, torch::kCPU, torch::kFloat32);
  ref->train(false);
  const torch::Tensor logits = ref->forward(b.images);
  const torch::Tensor keep = (top2_gap(logits) > kClearMargin).nonzero().squeeze(1);
  return {b.images.index_select(0, keep), logits.argmax(1).index_select(0, keep),
          b.index.index_select(0, keep)};
}

attacks::AttackOutput run_attack(const AttackCase& a, const torch::Device& dev,
                                 const AttackSetup& s) {
  auto model = cnn(4, dev, torch::kFloat32);
  model->train(false);
  attacks::AttackOptions o;
  o.norm = a.norm;
  o.eps = a.eps;
  o.step_size = a.eps / 4;  // FGSM ignores it (its step is ε)
  o.steps = a.steps;
  o.seed = 77;
  auto attack = attacks::make_attack(a.name, o);
  attacks::AttackOutput out = attack->run(*model, s.x.to(dev), s.y.to(dev), s.index);
  out.x_adv = out.x_adv.to(torch::kCPU);
  out.robust = out.robust.to(torch::kCPU);
  out.norm = out.norm.to(torch::kCPU);
  return out;
}

TEST_F(StagesGpu, GradientAttacksEqualCpu) {
  const AttackSetup s = attack_setup();
  ASSERT_GE(s.x.size(0), 20) << "too few clearly classified samples";
  auto ref = cnn(4, torch::kCPU, torch::kFloat32);
  ref->train(false);
  const AttackCase cases[] = {{"fgsm", attacks::Norm::kLinf, 2.0 / 255, 1},
                              {"pgd", attacks::Norm::kLinf, 2.0 / 255, 5},
                              {"pgd", attacks::Norm::kL2, 0.1, 5},
                              {"cw-linf", attacks::Norm::kLinf, 2.0 / 255, 5}};
  for (const auto& a : cases) {
    SCOPED_TRACE(std::string(a.name) + " " + attacks::norm_name(a.norm));
    const attacks::AttackOutput c = run_attack(a, torch::kCPU, s);
    const attacks::AttackOutput g = run_attack(a, gpu_, s);
    ASSERT_EQ(g.x_adv.sizes(), c.x_adv.sizes());
    // The perturbed images.
    const torch::Tensor diff = (g.x_adv - c.x_adv).abs();
    if (a.norm == attacks::Norm::kLinf) {
      const double moved = diff.gt(1e-6).to(torch::kFloat64).mean().item<double>();
      EXPECT_LE(moved, kMaxFlippedPixels) << "fraction of pixels where x_adv differs";
    } else {
      // l2 steps scale the gradient, so x_adv moves continuously with it: ‖Δ‖₂ per sample small
      // against ε.
      const torch::Tensor d2 = (g.x_adv - c.x_adv).reshape({s.x.size(0), -1}).norm(2, 1);
      EXPECT_LE(d2.max().item<double>(), 2e-2 * a.eps);  // float32 vs float64 on the CPU: 1e-3 ε
    }
    EXPECT_LE(diff.max().item<double>(), 2 * a.eps + 1e-6);
    EXPECT_TRUE(torch::allclose(g.norm, c.norm, 1e-3, 1e-6));
    // Margins of both adversarial examples under the same CPU model.
    torch::Tensor mc, mg;
    {
      torch::NoGradGuard ng;
      mc = margin(ref->forward(c.x_adv), s.y);
      mg = margin(ref->forward(g.x_adv), s.y);
    }
    const double worst = ((mg - mc).abs() / (mc.abs() + 1.0)).max().item<double>();
    EXPECT_LE(worst, kMarginTol) << "largest margin difference of the adversarial examples";
    // Robust flags: equal wherever both margins are clearly on one side of 0.
    const torch::Tensor clear = (mc.abs() > kClearMargin) & (mg.abs() > kClearMargin);
    EXPECT_TRUE(torch::equal(g.robust.masked_select(clear), c.robust.masked_select(clear)));
    EXPECT_TRUE(torch::equal(g.zero_grad.cpu(), c.zero_grad.cpu()));
    EXPECT_EQ(attacks::count_rows(g.nonfinite), 0);
  }
  // Not vacuous: the strongest linf attack broke some samples and left others.
  const attacks::AttackOutput c = run_attack(cases[1], torch::kCPU, s);
  const int64_t robust = c.robust.sum().item<int64_t>();
  EXPECT_GT(robust, 0);
  EXPECT_LT(robust, s.x.size(0));
}

// ---------------------------------------------------------------------------------------------
// Interactions (SPEC §4): per-image I, D and φ of the clean games (the utility-controlled PGD
// example is left out: its accept/halve decisions compare utilities, see the attacks above).

torch::Tensor run_interactions(const torch::Device& dev) {
  constexpr int64_t kN = 4;
  const auto ds = shapes(kN, 5);
  auto model = cnn(9, dev, torch::kFloat32);
  interactions::InteractionsConfig c;
  c.grid = 4;
  c.orders = {0.0, 0.5, 1.0};
  c.pairs = 4;
  c.contexts = 8;
  c.dtype = "float32";
  c.shapley = true;
  c.adversarial = false;
  c.baseline = "pixel-mean";
  c.save_per_image = true;
  const auto rc = interactions::resolve_config(c, ds.image_shape());
  interactions::InteractionsStage stage(*model, rc, ds.image_shape(), 77, dev, 64);
  comm::MpiCommunicator self(MPI_COMM_SELF);
  stage.compute_baseline(ds, Range{0, kN}, self);
  stage.run_shard(ds, Range{0, kN}, false);
  return stage.per_image();  // [n, kNumRows, M] float64 CPU
}

TEST_F(StagesGpu, InteractionsEqualCpu) {
  const torch::Tensor c = run_interactions(torch::kCPU);
  const torch::Tensor g = run_interactions(gpu_);
  ASSERT_EQ(g.sizes(), c.sizes());
  // Δv = v(S∪{i,j}) − v(S∪{i}) − v(S∪{j}) + v(S) cancels four log-probabilities of magnitude
  // ~log C ≈ 2.3, so its float32 error is absolute: a few ulps of 2.3, ~1e-6. I and φ are compared
  // with an absolute 1e-5 (float32 against float64 on the CPU differ by ~3e-8 here).
  const double atol = 1e-5;
  for (const auto row : {interactions::kINor, interactions::kPhiNor}) {
    SCOPED_TRACE(interactions::row_names()[static_cast<std::size_t>(row)]);
    const torch::Tensor a = g.select(1, row), b = c.select(1, row);
    EXPECT_TRUE(torch::isfinite(b).all().item<bool>());
    EXPECT_LE((a - b).abs().max().item<double>(), atol);
    EXPECT_GT(b.abs().max().item<double>(), 10 * atol);  // not vacuous: interactions are not ~0
  }
  // D = E|E_S Δv| / E|Δv| is a ratio of such sums, in [0, 1]: its error is that of Δv over the
  // mean |Δv| (float32 against float64 on the CPU: ~2e-5), compared to 2e-3.
  const torch::Tensor dg = g.select(1, interactions::kDNor), dc = c.select(1, interactions::kDNor);
  EXPECT_TRUE(torch::equal(torch::isnan(dg), torch::isnan(dc)));
  EXPECT_LE((torch::nan_to_num(dg, 0.0) - torch::nan_to_num(dc, 0.0)).abs().max().item<double>(),
            2e-3);
}

// ---------------------------------------------------------------------------------------------
// Training (SPEC §6): three optimizer steps of the trainer (cnn-small: convolutions, BatchNorm in
// train mode) on the GPU reach the CPU's weights and loss terms.

struct TrainRun {
  std::vector<torch::Tensor> start, end;   // parameters (CPU)
  std::vector<std::vector<double>> terms;  // per step
};

TrainRun run_train(const torch::Device& dev, const std::string& loss, double lambda) {
  constexpr int64_t kN = 32;
  const auto ds = shapes(kN, 3);
  auto model = cnn(21, torch::kCPU, torch::kFloat32);
  TrainRun r;
  for (const auto& p : model->parameters()) r.start.push_back(p.detach().clone());
  train::TrainConfig c;
  c.loss = loss;
  c.sf_lambda = lambda;
  c.batch_size = 16;
  c.dtype = "float32";
  c.optimizer = "sgd";
  c.lr = 0.05;
  c.momentum = 0.9;
  c.weight_decay = 5e-4;
  c.attack_steps = 2;
  c.eps = 4.0 / 255;
  c.step_size = 2.0 / 255;
  c.epochs = 1;
  SelfComm self;
  train::Trainer t(*model, ds, c, self, kSeed, dev, "");
  const data::TrainSampler sampler(kN, 1, 0, 16, kSeed);
  const std::pair<int64_t, int64_t> steps[] = {{0, 0}, {0, 1}, {1, 0}};
  for (const auto& [epoch, s] : steps)
    r.terms.push_back(t.step(ds.get(sampler.batch(epoch, s)), epoch));
  for (const auto& p : model->parameters()) r.end.push_back(p.detach().to(torch::kCPU).clone());
  return r;
}

void expect_train_equal(const TrainRun& g, const TrainRun& c, double update_rtol) {
  ASSERT_EQ(g.end.size(), c.end.size());
  // Each parameter tensor: the difference against the size of its update over the three steps.
  double moved = 0;
  for (std::size_t i = 0; i < c.end.size(); ++i) {
    const double update = (c.end[i] - c.start[i]).abs().max().item<double>();
    const double diff = (g.end[i] - c.end[i]).abs().max().item<double>();
    const double ulps = 1e-6 * c.end[i].abs().max().item<double>();  // ~16 float32 ulps of p
    moved = std::max(moved, update);
    EXPECT_LE(diff, update_rtol * update + ulps) << "parameter " << i;
  }
  EXPECT_GT(moved, 1e-3);  // the steps changed the weights
  ASSERT_EQ(g.terms.size(), c.terms.size());
  for (std::size_t s = 0; s < c.terms.size(); ++s) {
    ASSERT_EQ(g.terms[s].size(), c.terms[s].size());
    for (std::size_t k = 0; k < c.terms[s].size(); ++k) {
      EXPECT_NEAR(g.terms[s][k], c.terms[s][k], update_rtol * (1.0 + std::abs(c.terms[s][k])))
          << "step " << s << " term " << k;
    }
  }
}

TEST_F(StagesGpu, StandardTrainingWithSfRegularizerEqualsCpu) {
  // Smooth in every input: only rounding differs, so the updates agree to 1e-3 of their size.
  const TrainRun c = run_train(torch::kCPU, "standard", 1.0);
  const TrainRun g = run_train(gpu_, "standard", 1.0);
  expect_train_equal(g, c, 1e-3);
}

TEST_F(StagesGpu, PgdAdversarialTrainingEqualsCpu) {
  // The adversary's sign steps may flip on a near-zero gradient pixel (file comment), which moves
  // the update by a little more than rounding: 1e-2 of its size.
  const TrainRun c = run_train(torch::kCPU, "pgd-at", 0.0);
  const TrainRun g = run_train(gpu_, "pgd-at", 0.0);
  expect_train_equal(g, c, 1e-2);
}

}  // namespace
}  // namespace sfb::test
