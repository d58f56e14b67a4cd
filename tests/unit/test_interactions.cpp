// Multi-order interactions (SPEC §4, paper 001): exact identities of the enumerated game (the
// efficiency property of §3 and Eq. 5) on a random game and on a small CNN in float64, closed
// forms of simple games, the sampler, the utility-controlled PGD, the sampled estimator against
// exact enumeration (within 3 standard errors; D jackknifed at K = 4), 16-player enumeration,
// grids that do not divide the image, bad configurations, and the SVG figures (values read back
// exactly, long model specs wrapped with the full title as tooltip, old figures still recognised).
#include <gtest/gtest.h>
#include <torch/torch.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>

#include "core/device.hpp"
#include "core/error.hpp"
#include "data/module_classifier.hpp"
#include "interactions/adversarial.hpp"
#include "interactions/config.hpp"
#include "interactions/exact.hpp"
#include "interactions/stage.hpp"
#include "interactions/writer.hpp"
#include "models/zoo.hpp"

namespace sfb::interactions {
namespace {

/// A one-process Communicator: every collective is the identity.
class SelfComm final : public comm::Communicator {
 public:
  std::string name() const override { return "self"; }
  int rank() const override { return 0; }
  int size() const override { return 1; }
  torch::Device device() const override { return torch::kCPU; }
  void allreduce(torch::Tensor&, comm::ReduceOp) override {}
  void broadcast(torch::Tensor&, int) override {}
  torch::Tensor allgather(const torch::Tensor& t) override { return t.unsqueeze(0); }
  void barrier() override {}
  void synchronize() override {}
};

/// A CNN small enough for thousands of masked forwards per image: 3×8×8 -> conv 3→6 (3×3) ReLU
/// -> conv 6→8 (3×3, stride 2) ReLU -> global average -> Linear 8→10; float64, eval mode.
class TinyCnn : public test::ModuleClassifier {
 public:
  TinyCnn() : ModuleClassifier("tiny-cnn") {
    torch::manual_seed(11);
    c1_ = register_module("c1", torch::nn::Conv2d(torch::nn::Conv2dOptions(3, 6, 3).padding(1)));
    c2_ = register_module(
        "c2", torch::nn::Conv2d(torch::nn::Conv2dOptions(6, 8, 3).stride(2).padding(1)));
    fc_ = register_module("fc", torch::nn::Linear(8, 10));
  }
  torch::Tensor features(const torch::Tensor& x) override {
    return torch::relu(c2_->forward(torch::relu(c1_->forward(x)))).mean({2, 3});
  }
  torch::Tensor head(const torch::Tensor& a) override { return fc_->forward(a); }
  int64_t num_features() const override { return 8; }
  int64_t num_classes() const override { return 10; }

 private:
  torch::nn::Conv2d c1_{nullptr}, c2_{nullptr};
  torch::nn::Linear fc_{nullptr};
};

std::shared_ptr<models::Classifier> tiny_cnn() {
  auto m = std::make_shared<TinyCnn>();
  m->train(false);
  m->to_dtype(torch::kFloat64);
  return m;
}

/// A batch of n uniform 3×8×8 images with random labels and global indices 0..n−1.
data::Batch tiny_batch(int64_t n, uint64_t seed) {
  torch::manual_seed(seed);
  data::Batch batch;
  batch.images = torch::rand({n, 3, 8, 8});
  batch.labels = torch::randint(0, 10, {n}, torch::kInt64);
  batch.index = torch::arange(n, torch::kInt64);
  return batch;
}

std::shared_ptr<models::Classifier> small_cnn() {
  models::ModelOptions o;
  o.image_shape = {3, 12, 12};
  o.seed = 3;
  auto m = models::make_zoo_model("cnn-small", o);
  m->train(false);
  m->to_dtype(torch::kFloat64);
  return m;
}

/// v(S) of the model on image x for all 2^9 subsets of a 3×3 grid (baseline 0.5), float64.
std::vector<double> model_game(models::Classifier& model, const torch::Tensor& x, int64_t label) {
  const PlayerGrid grid(3, 12, 12);
  const torch::Tensor s = torch::arange(512, torch::kInt64).unsqueeze(1);
  const torch::Tensor members = s.bitwise_right_shift(torch::arange(9).unsqueeze(0)).bitwise_and(1);
  const torch::Tensor base = torch::full({3, 12, 12}, 0.5, torch::kFloat64);
  const torch::Tensor v =
      log_probs(model, grid.compose(x, base, members.to(torch::kBool)), torch::tensor({label}));
  return {v.data_ptr<double>(), v.data_ptr<double>() + 512};
}

void expect_identities(const std::vector<double>& v, int64_t n) {
  const ExactGame g = exact_game(v, n);
  const double vn = v.back(), v0 = v.front();
  // Efficiency (paper 001 §3): v(N) = v(∅) + Σ_i φ^(0)(i) + Σ_{i≠j} Σ_m J^(m)_ij.
  double rhs = v0;
  for (int64_t i = 0; i < n; ++i) {
    rhs += g.phi(i, 0);
    for (int64_t j = 0; j < n; ++j) {
      for (int64_t m = 0; i != j && m <= n - 2; ++m) rhs += g.J(i, j, m);
    }
  }
  EXPECT_NEAR(vn, rhs, 1e-9 * std::max(1.0, std::abs(vn)));
  // Eq. 5: v(N) − v(∅) = (1/n) Σ_i Σ_m φ^(m)(i), φ^(m)(i) = E_{j≠i} Σ_{k<m} I^(k)_ij + φ^(0)(i).
  double total = 0;
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t m = 0; m <= n - 1; ++m) {
      total += g.phi(i, m) / static_cast<double>(n);
      double e = 0;
      for (int64_t j = 0; j < n; ++j) {
        for (int64_t k = 0; j != i && k < m; ++k) e += g.I(i, j, k) / static_cast<double>(n - 1);
      }
      EXPECT_NEAR(g.phi(i, m), e + g.phi(i, 0), 1e-9) << "i=" << i << " m=" << m;
    }
  }
  EXPECT_NEAR(vn - v0, total, 1e-9 * std::max(1.0, std::abs(vn - v0)));
}

TEST(InteractionsExact, IdentitiesHoldForARandomGame) {
  torch::manual_seed(1);
  const torch::Tensor t = torch::randn({64}, torch::kFloat64);
  expect_identities({t.data_ptr<double>(), t.data_ptr<double>() + 64}, 6);
}

TEST(InteractionsExact, IdentitiesHoldForASmallCnnInFloat64) {
  auto model = small_cnn();
  torch::manual_seed(2);
  const auto v = model_game(*model, torch::rand({3, 12, 12}, torch::kFloat64), 4);
  EXPECT_GT(std::abs(v.back() - v.front()), 1e-6);  // masking changes the output
  expect_identities(v, 9);
}

TEST(InteractionsExact, PairwiseGameHasConstantInteractions) {
  // v(S) = Σ_{i<j ∈ S} a_ij + Σ_{i ∈ S} b_i: I^(m)_ij = a_ij at every order, φ^(m)(i) = b_i +
  // m·mean.
  const int64_t n = 5;
  std::vector<double> a(n * n), v(32, 0.0);
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t j = i + 1; j < n; ++j) a[i * n + j] = a[j * n + i] = 0.1 * (i + 1) - 0.07 * j;
  }
  for (int s = 0; s < 32; ++s) {
    for (int64_t i = 0; i < n; ++i) {
      if (!(s >> i & 1)) continue;
      v[s] += 0.3 * i;
      for (int64_t j = i + 1; j < n; ++j) v[s] += (s >> j & 1) ? a[i * n + j] : 0.0;
    }
  }
  const ExactGame g = exact_game(v, n);
  for (int64_t m = 0; m <= n - 2; ++m) {
    EXPECT_NEAR(g.I(1, 3, m), a[1 * n + 3], 1e-12);
    EXPECT_NEAR(g.abs_dv(1, 3, m), std::abs(a[1 * n + 3]), 1e-12);
  }
}

TEST(InteractionsSampler, PairsAndContextsFollowTheirDefinitions) {
  const PlayerGrid grid(4, 16, 16);
  EXPECT_EQ(grid.neighbours(0), (std::vector<int64_t>{1, 4, 5}));
  EXPECT_EQ(grid.neighbours(5).size(), 8U);
  const auto pairs = sample_pairs(7, 11, 200, grid, PairSampling::kNeighbour);
  for (const auto& [i, j] : pairs) {
    const auto& nb = grid.neighbours(i);
    EXPECT_NE(std::find(nb.begin(), nb.end(), j), nb.end());
  }
  EXPECT_EQ(pairs, sample_pairs(7, 11, 200, grid, PairSampling::kNeighbour));  // keyed
  EXPECT_NE(pairs, sample_pairs(7, 12, 200, grid, PairSampling::kNeighbour));
  double total = 0;
  for (const double w : pair_weights(grid, PairSampling::kNeighbour)) total += w;
  EXPECT_NEAR(total, 1.0, 1e-12);
  std::vector<uint8_t> row(16);
  std::vector<int> hits(16, 0);
  for (int k = 0; k < 2000; ++k) {
    sample_context(7, kStreamContexts, 3, 0, 5, k, 16, 2, 9, row.data());
    int size = 0;
    for (int q = 0; q < 16; ++q) size += row[q], hits[q] += row[q];
    EXPECT_EQ(size, 5);
    EXPECT_EQ(row[2] + row[9], 0);
  }
  for (int q = 0; q < 16; ++q) {  // uniform over the 14 others: 2000·5/14 ≈ 714 each
    if (q != 2 && q != 9) {
      EXPECT_NEAR(hits[q], 714.3, 120) << q;
    }
  }
}

/// Six random images and labels, and options a random small CNN can reach.
struct UtilityPgdCase {
  torch::Tensor x, y;
  UtilityPgdOptions o;
  UtilityPgdCase() {
    torch::manual_seed(4);
    x = torch::rand({6, 3, 12, 12}, torch::kFloat64);
    y = torch::randint(0, 10, {6}, torch::kInt64);
    o.target = 0.05;  // a random CNN's logits move little: a small target it can reach
    o.tolerance = 0.01;
    o.max_steps = 200;
  }
};

TEST(InteractionsAdversarial, UtilityControlledPgdStopsNearTheTarget) {
  auto model = small_cnn();
  const UtilityPgdCase t;
  const torch::Tensor &x = t.x, &y = t.y;
  const UtilityPgdOptions& o = t.o;
  const UtilityPgdResult r = utility_pgd(*model, x, y, o);
  EXPECT_LE((r.x_adv - x).abs().max().item<double>(), o.eps + 1e-12);
  EXPECT_GE(r.x_adv.min().item<double>(), 0.0);
  EXPECT_LE(r.x_adv.max().item<double>(), 1.0);
  const torch::Tensor z0 = model->forward(x).gather(1, y.unsqueeze(1)).squeeze(1).detach();
  const torch::Tensor z1 = model->forward(r.x_adv).gather(1, y.unsqueeze(1)).squeeze(1).detach();
  EXPECT_TRUE(torch::allclose(z0 - z1, r.utility, 1e-9, 1e-12));
  EXPECT_TRUE((r.utility <= o.target + o.tolerance + 1e-12).all().item<bool>());
  EXPECT_TRUE(r.reached.all().item<bool>()) << r.utility;
  EXPECT_TRUE(((r.utility - o.target).abs() <= o.tolerance).all().item<bool>());
}

// The host prunes the stopped samples from the rows it steps with copies it polls without
// waiting; on a GPU they may land several steps late, and the samples stopped in between are
// masked. The results must be the same however late the copy lands: 0 (exact, as on the CPU), 3
// polls late, and never.
TEST(InteractionsAdversarial, UtilityPgdPruningLateChangesNothing) {
  auto model = small_cnn();
  const UtilityPgdCase t;
  const UtilityPgdOptions& o = t.o;
  const auto run = [&](int lag) {
    HostPoll::set_test_lag(lag);
    UtilityPgdResult r = utility_pgd(*model, t.x, t.y, o);
    HostPoll::set_test_lag(0);
    return r;
  };
  const UtilityPgdResult now = run(0), late = run(3), never = run(1000000);
  for (const UtilityPgdResult* r : {&late, &never}) {
    EXPECT_TRUE(torch::equal(r->x_adv, now.x_adv));
    EXPECT_TRUE(torch::equal(r->utility, now.utility));
    EXPECT_TRUE(torch::equal(r->reached, now.reached));
    EXPECT_TRUE(torch::equal(r->steps, now.steps));
  }
  // Not vacuous: the samples stopped at different steps, all before the limit.
  EXPECT_GT(now.steps.max().item<int64_t>(), now.steps.min().item<int64_t>());
  EXPECT_LT(now.steps.max().item<int64_t>(), o.max_steps);
}

/// Sampled and exact runs of the stage on the same 8 images; returns both statistics.
std::pair<InteractionStatistics, InteractionStatistics> sampled_and_exact(const std::string& how) {
  auto model = tiny_cnn();
  const data::Batch batch = tiny_batch(8, 5);
  InteractionsConfig c;
  c.grid = 3;
  c.order_values = {0, 2, 4, 7};
  c.pairs = 8;
  c.contexts = 12;
  c.pair_sampling = how;
  c.adversarial = false;
  c.shapley = true;
  c.dtype = "float64";
  SelfComm self;
  std::vector<InteractionStatistics> out;
  for (const bool exact : {false, true}) {
    c.exact = exact;
    InteractionsStage stage(*model, resolve_config(c, {3, 8, 8}), {3, 8, 8}, 9, torch::kCPU, 64);
    stage.set_baseline(torch::full({3, 8, 8}, 0.5));
    stage.add(batch);
    out.push_back(stage.reduce(self));
    // Sampled: 4 per interaction context and 2 per Shapley context (8 pairs × 4 orders × 12
    // contexts), plus v(N) and v(∅), per image.
    EXPECT_EQ(stage.masked_forwards(), exact ? 8 * 512 : 8 * (8 * 4 * 12 * 6 + 2));
  }
  return {out[0], out[1]};
}

TEST(InteractionsStage, SampledEstimateLiesWithinThreeStandardErrorsOfExact) {
  for (const char* how : {"uniform", "neighbour"}) {
    SCOPED_TRACE(how);
    const auto [s, e] = sampled_and_exact(how);
    EXPECT_EQ(s.n, 8);
    for (const Row r : {kINor, kDNor, kPhiNor}) {
      for (int64_t q = 0; q < 4; ++q) {
        const double est = s.mean[r][q].item<double>(), exact = e.mean[r][q].item<double>();
        const double se = s.stderr_[r][q].item<double>();
        // Orders 0 and n_p − 2 have one context per pair: D is exactly 1 there, SE 0.
        if (r == kDNor && (s.orders[q] == 0 || s.orders[q] == 7)) {
          EXPECT_EQ(est, 1.0);
          EXPECT_EQ(exact, 1.0);
          continue;
        }
        EXPECT_GT(se, 0.0);
        EXPECT_LE(std::abs(est - exact), 3 * se) << row_names()[r] << " order " << s.orders[q];
      }
    }
    // The exact D is a ratio in [0, 1] (the jackknifed per-pair values need not be).
    EXPECT_TRUE((e.mean[kDNor] >= 0).all().item<bool>() && (e.mean[kDNor] <= 1).all().item<bool>());
    // v(N) and v(∅) are the same values in both modes.
    EXPECT_TRUE(torch::allclose(s.scalar_mean, e.scalar_mean, 1e-12, 1e-12, true));
    EXPECT_EQ(s.count[kIAdv].sum().item<int64_t>(), 0);  // no attack: no adversarial rows
  }
}

TEST(InteractionsConfig, BadInputNamesTheKey) {
  InteractionsConfig c;
  auto expect_error = [&](const InteractionsConfig& cfg, const std::string& text) {
    try {
      resolve_config(cfg, {3, 32, 32});
      ADD_FAILURE() << "no error for " << text;
    } catch (const ConfigError& e) {
      EXPECT_NE(std::string(e.what()).find(text), std::string::npos) << e.what();
    }
  };
  const ResolvedConfig r = resolve_config(c, {3, 32, 32});
  EXPECT_EQ(r.cfg.grid, 8);
  EXPECT_EQ(r.cfg.pairs, 200);
  EXPECT_EQ(r.cfg.contexts, 100);
  EXPECT_EQ(r.orders.front(), 0);
  EXPECT_EQ(r.orders.back(), 62);
  EXPECT_EQ(r.orders[1], 3);  // floor(0.05 · 62)
  c.preset = "quick";
  EXPECT_EQ(resolve_config(c, {3, 32, 32}).cfg.pairs, 16);
  EXPECT_EQ(resolve_config(c, {3, 224, 224}).cfg.grid, 16);
  InteractionsConfig b = c;
  b.grid = 5;  // does not divide 32: patches of 6 and 7 pixels
  EXPECT_EQ(resolve_config(b, {3, 32, 32}).num_players, 25);
  b.grid = 33;
  expect_error(b, "interactions.grid = 33: a 33×33 grid of patches does not fit the 32×32 image");
  b = c, b.order_values = {63};
  expect_error(b, "order n_p - 1 needs interactions.shapley = true");
  b.shapley = true;  // φ^(n_p − 1) is defined
  EXPECT_EQ(resolve_config(b, {3, 32, 32}).orders, std::vector<int64_t>{63});
  b.order_values = {64};
  expect_error(b, "order 64 is outside [0, n_p - 2] = [0, 62]");
  b = c, b.orders = {1.2};
  expect_error(b, "interactions.orders: ratio 1.2");
  b = c, b.pairs = 0;
  expect_error(b, "interactions.pairs = 0");
  b = c, b.contexts = -3;
  expect_error(b, "interactions.contexts = -3");
  b = c, b.exact = true;
  expect_error(b, "needs n_p <= 16 players");
  b.grid = 4;  // 16 players: the most exact mode enumerates
  EXPECT_EQ(resolve_config(b, {3, 32, 32}).num_players, 16);
  b.grid = 5;
  expect_error(b, "grid 5 has 25");
}

TEST(InteractionsPlayers, GridsThatDoNotDivideTheImageUseFloorBands) {
  // 3 bands on 32 pixels: [0, 10), [10, 21), [21, 32); on 7 pixels: [0, 2), [2, 4), [4, 7).
  const PlayerGrid grid(3, 32, 7);
  const torch::Tensor pp = grid.pixel_player().view({32, 7});
  const std::vector<int64_t> row_band_start = {0, 10, 21}, col_band_start = {0, 2, 4};
  for (int64_t r = 0; r < 32; ++r) {
    for (int64_t c = 0; c < 7; ++c) {
      const int64_t g = r >= 21 ? 2 : r >= 10 ? 1 : 0, h = c >= 4 ? 2 : c >= 2 ? 1 : 0;
      ASSERT_EQ(pp[r][c].item<int64_t>(), g * 3 + h) << r << "," << c;
    }
  }
  for (int64_t g = 0; g < 3; ++g) {
    EXPECT_EQ(PlayerGrid::band_start(g, 3, 32), row_band_start[g]);
    EXPECT_EQ(PlayerGrid::band_start(g, 3, 7), col_band_start[g]);
  }
  // Every band is ⌊L/G⌋ or ⌈L/G⌉ wide for every (G, L) with G <= L.
  for (int64_t len = 1; len <= 40; ++len) {
    for (int64_t gr = 1; gr <= len; ++gr) {
      for (int64_t g = 0; g < gr; ++g) {
        const int64_t w =
            PlayerGrid::band_start(g + 1, gr, len) - PlayerGrid::band_start(g, gr, len);
        ASSERT_TRUE(w == len / gr || w == (len + gr - 1) / gr) << len << " " << gr << " " << g;
        for (int64_t r = PlayerGrid::band_start(g, gr, len);
             r < PlayerGrid::band_start(g + 1, gr, len); ++r) {
          ASSERT_EQ(PlayerGrid::band_of(r, gr, len), g) << len << " " << gr << " " << r;
        }
      }
    }
  }
}

TEST(InteractionsStage, DisentanglementIsTheJackknifedRatioByHand) {
  // One group, K = 3, Δv = (1, -0.5, 2): R = |2.5| / 3.5; leave-one-out ratios
  // |1.5|/2.5, |3|/3, |0.5|/1.5; jackknife 3R − 2·mean(R₋ₖ).
  const torch::Tensor dv = torch::tensor({1.0, -0.5, 2.0}, torch::kFloat64).view({1, 3, 1});
  const double r = 2.5 / 3.5, loo = (1.5 / 2.5 + 1.0 + 0.5 / 1.5) / 3;
  EXPECT_NEAR(disentanglement(dv).item<double>(), 3 * r - 2 * loo, 1e-15);
  // K = 1: the plain ratio (1 here).
  EXPECT_DOUBLE_EQ(disentanglement(dv.narrow(1, 0, 1)).item<double>(), 1.0);
  // A 0/0 leave-one-out ratio (one nonzero Δv) keeps the plain ratio; all-zero Δv gives NaN.
  const torch::Tensor one = torch::tensor({0.0, -0.7, 0.0}, torch::kFloat64).view({1, 3, 1});
  EXPECT_DOUBLE_EQ(disentanglement(one).item<double>(), 1.0);
  EXPECT_TRUE(std::isnan(disentanglement(torch::zeros({1, 4, 1}, torch::kFloat64)).item<double>()));
  // Groups and classes are independent: [2, 3, 2].
  const torch::Tensor two = torch::stack({torch::cat({dv, one}, 2), torch::cat({one, dv}, 2)});
  const torch::Tensor d = disentanglement(two.view({2, 3, 2}));
  EXPECT_NEAR(d[0][0].item<double>(), 3 * r - 2 * loo, 1e-15);
  EXPECT_DOUBLE_EQ(d[0][1].item<double>(), 1.0);
  EXPECT_DOUBLE_EQ(d[1][0].item<double>(), 1.0);
  EXPECT_NEAR(d[1][1].item<double>(), 3 * r - 2 * loo, 1e-15);
}

/// Per-image D_nor of a sampled (P pairs, K = 4 contexts) and an exact run on the same images:
/// [n, M] each.
std::pair<torch::Tensor, torch::Tensor> per_image_d(int64_t n_images, int64_t pairs,
                                                    int64_t contexts) {
  auto model = tiny_cnn();
  const data::Batch batch = tiny_batch(n_images, 6);
  InteractionsConfig c;
  c.grid = 3;                           // on 8×8: bands of 2, 3, 3 pixels
  c.order_values = {1, 2, 3, 4, 5, 6};  // 0 and n_p − 2 have one context: D = 1 exactly
  c.pairs = pairs;
  c.contexts = contexts;
  c.pair_sampling = "uniform";
  c.adversarial = false;
  c.save_per_image = true;
  c.dtype = "float64";
  std::vector<torch::Tensor> out;
  for (const bool exact : {false, true}) {
    c.exact = exact;
    InteractionsStage stage(*model, resolve_config(c, {3, 8, 8}), {3, 8, 8}, 17, torch::kCPU, 256);
    stage.set_baseline(torch::full({3, 8, 8}, 0.5));
    stage.add(batch);
    out.push_back(stage.per_image().select(1, kDNor));
  }
  return {out[0], out[1]};
}

// The plain ratio of means over K contexts is biased upward at small K (issue 21: 7.5–11.6 SE
// off at K = 4); the jackknife must agree with the enumeration: the paired z of the per-image
// differences |z| < 3 per order (the sampled and exact values of one image share the image, so
// the pairing removes the image-to-image spread), and the sampled mean within 3 of its reported
// standard errors. Replacing the jackknife by the plain ratio fails this test (z of 3.4 to 8.0).
TEST(InteractionsStage, SampledDisentanglementAtFourContextsMatchesTheEnumeration) {
  const auto [sampled, exact] = per_image_d(16, 64, 4);
  for (int64_t q = 0; q < sampled.size(1); ++q) {
    const torch::Tensor d = sampled.select(1, q) - exact.select(1, q);
    const double n = static_cast<double>(d.size(0));
    const double z = d.mean().item<double>() / (d.std().item<double>() / std::sqrt(n));
    EXPECT_LT(std::abs(z), 3.0) << "order index " << q << ": sampled "
                                << sampled.select(1, q).mean().item<double>() << " exact "
                                << exact.select(1, q).mean().item<double>();
    const double se = sampled.select(1, q).std().item<double>() / std::sqrt(n);
    EXPECT_LE(std::abs(sampled.select(1, q).mean().item<double>() -
                       exact.select(1, q).mean().item<double>()),
              3 * se);
  }
}

// 16 players (a 4×4 grid: 65,536 subsets per image) with every order 0..15, φ^(15) included:
// the identities on the stage's own statistics. Efficiency (paper 001 §3), with uniform pairs
// and J averaged over ordered pairs: n(n−1)·Σ_{m≤n−2} J^(m) = v(N) − v(∅) − n·φ^(0); Eq. 5:
// Σ_{m≤n−1} φ^(m) = v(N) − v(∅). Both hold per image, hence for the means over images.
TEST(InteractionsStage, ExactSixteenPlayersSatisfyTheIdentitiesOnTheStatistics) {
  auto model = tiny_cnn();
  const data::Batch batch = tiny_batch(2, 8);
  InteractionsConfig c;
  c.grid = 4;
  for (int64_t m = 0; m < 16; ++m) c.order_values.push_back(m);
  c.pair_sampling = "uniform";
  c.adversarial = false;
  c.shapley = true;
  c.exact = true;
  c.dtype = "float64";
  InteractionsStage stage(*model, resolve_config(c, {3, 8, 8}), {3, 8, 8}, 1, torch::kCPU, 4096);
  stage.set_baseline(torch::full({3, 8, 8}, 0.5));
  stage.add(batch);
  EXPECT_EQ(stage.masked_forwards(), 2 * 65536);
  SelfComm self;
  const InteractionStatistics s = stage.reduce(self);
  const double n = 16;
  const double gain =
      s.scalar_mean[kVFullNor].item<double>() - s.scalar_mean[kVEmpty].item<double>();
  EXPECT_GT(std::abs(gain), 1e-6);  // masking changes the output: the identities are not 0 = 0
  const torch::Tensor j = s.J(kINor);
  EXPECT_NEAR(n * (n - 1) * j.narrow(0, 0, 15).sum().item<double>(),
              gain - n * s.mean[kPhiNor][0].item<double>(), 1e-9);
  EXPECT_NEAR(s.mean[kPhiNor].sum().item<double>(), gain, 1e-9);
  // Order 15 = n − 1 has no pairs.
  EXPECT_TRUE(std::isnan(s.mean[kINor][15].item<double>()));
  EXPECT_TRUE(std::isnan(s.mean[kDNor][15].item<double>()));
  EXPECT_TRUE(std::isfinite(s.mean[kPhiNor][15].item<double>()));
  EXPECT_EQ(s.scalar_count[kVFullNor].item<int64_t>(), 2);
  EXPECT_EQ(s.scalar_count[kVFullAdv].item<int64_t>(), 0);  // no attack
}

/// Statistics of orders {0, 2, 7} of 9 players with known values: I and D normal (D missing at
/// order 7), and with `adv` the adversarial rows and ΔI.
InteractionStatistics plot_statistics(bool adv) {
  InteractionStatistics s;
  s.orders = {0, 2, 7};
  s.num_players = 9;
  s.mean = torch::full({kNumRows, 3}, NAN, torch::kFloat64);
  s.stderr_ = torch::full({kNumRows, 3}, NAN, torch::kFloat64);
  s.count = torch::zeros({kNumRows, 3}, torch::kInt64);
  auto fill = [&](Row r, std::vector<double> v, std::vector<double> se) {
    s.mean[r] = torch::tensor(v, torch::kFloat64);
    s.stderr_[r] = torch::tensor(se, torch::kFloat64);
    s.count[r] = torch::full({3}, 5, torch::kInt64);
  };
  fill(kINor, {0.1, 1.0 / 3.0, -0.25}, {0.01, 0.02, 0.03});
  fill(kDNor, {0.5, 0.7, NAN}, {0.05, 0.06, NAN});
  if (adv) {
    fill(kIAdv, {0.2, 0.1, 1e-3}, {0.01, 0.01, 0.01});
    fill(kDAdv, {0.4, 0.3, 0.2}, {0.02, 0.02, 0.02});
    fill(kDeltaI, {-0.1, 2.0 / 9.0, -0.251}, {0.01, 0.01, 0.01});
  }
  return s;
}

std::string read_text(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream os;
  os << in.rdbuf();
  return os.str();
}

/// data-x, data-y and data-err of the points of series `label` in an SVG of io::svg.
std::vector<std::array<double, 3>> points(const std::string& svg, const std::string& label) {
  std::vector<std::array<double, 3>> out;
  const std::regex point("<g class=\"sfb-point\" data-series=\"" + label +
                         "\" data-x=\"([^\"]+)\" data-y=\"([^\"]+)\"[^>]* data-err=\"([^\"]+)\"");
  for (auto it = std::sregex_iterator(svg.begin(), svg.end(), point); it != std::sregex_iterator();
       ++it) {
    out.push_back({std::stod((*it)[1]), std::stod((*it)[2]), std::stod((*it)[3])});
  }
  return out;
}

class InteractionsPlot : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("sfb_interactions_plot_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::filesystem::path dir_;
};

TEST_F(InteractionsPlot, FiguresCarryTheStatisticsExactly) {
  const InteractionStatistics s = plot_statistics(true);
  const auto written = write_plots(s, dir_ / "r.h5", "zoo:tiny on synthetic-shapes");
  ASSERT_EQ(written, plot_paths(dir_ / "r.h5"));
  for (const auto& p : written) EXPECT_TRUE(is_sfbench_plot(p)) << p;
  const std::vector<double> x = {0.0, 2.0 / 9.0, 7.0 / 9.0};
  auto check = [&](const std::filesystem::path& file, const std::string& label, Row row,
                   const torch::Tensor& v, const torch::Tensor& se) {
    SCOPED_TRACE(file.filename().string() + " " + label);
    const auto got = points(read_text(file), label);
    std::vector<std::array<double, 3>> want;
    for (int64_t i = 0; i < 3; ++i) {
      if (std::isfinite(v[i].item<double>())) {
        want.push_back({x[i], v[i].item<double>(), se[i].item<double>()});
      }
    }
    EXPECT_EQ(got, want) << row_names()[row];
  };
  check(written[0], "normal", kINor, s.mean[kINor], s.stderr_[kINor]);
  check(written[0], "adversarial", kIAdv, s.mean[kIAdv], s.stderr_[kIAdv]);
  check(written[1], "dJ", kDeltaI, s.J(kDeltaI), s.J_stderr(kDeltaI));
  check(written[2], "normal", kDNor, s.mean[kDNor], s.stderr_[kDNor]);  // order 7 has no D
  check(written[2], "adversarial", kDAdv, s.mean[kDAdv], s.stderr_[kDAdv]);
  // Without the attack: I and D only, one series each.
  const std::filesystem::path out2 = dir_ / "clean.h5";
  const auto clean = write_plots(plot_statistics(false), out2, "x");
  ASSERT_EQ(clean.size(), 2U);
  EXPECT_EQ(points(read_text(clean[0]), "adversarial").size(), 0U);
  EXPECT_EQ(points(read_text(clean[0]), "normal").size(), 3U);
}

TEST_F(InteractionsPlot, LongModelSpecWrapsAndTheFullTitleIsTheTooltip) {
  std::string spec = "torchscript:";
  while (spec.size() < 190) spec += "/very/long/path";
  spec += "/model.pt";  // about 200 characters, no spaces
  const auto written = write_plots(plot_statistics(false), dir_ / "r.h5", spec);
  const std::string svg = read_text(written[0]);
  // The full title is the first child of <svg>, and is_sfbench_plot() finds it there.
  const std::string full = "<title>Multi-order interaction I(m): " + spec + "</title>";
  EXPECT_EQ(svg.find(full), svg.find('>') + 1);
  EXPECT_TRUE(is_sfbench_plot(written[0]));
  // The visible title: two lines, each within the 640 px chart, the first broken after a '/'.
  std::vector<std::string> lines;
  const std::regex line("<text class=\"sfb-title\"[^>]*>([^<]*)</text>");
  for (auto it = std::sregex_iterator(svg.begin(), svg.end(), line); it != std::sregex_iterator();
       ++it) {
    lines.push_back((*it)[1]);
  }
  ASSERT_EQ(lines.size(), 2U);
  EXPECT_EQ(lines[0].back(), '/');
  for (const auto& l : lines) EXPECT_LT(l.size(), 75U) << l;
  EXPECT_EQ(("Multi-order interaction I(m): " + spec).rfind(lines[0], 0), 0U);
}

TEST_F(InteractionsPlot, OldAndForeignFiguresAreToldApart) {
  auto write = [&](const std::string& name, const std::string& text) {
    std::ofstream(dir_ / name, std::ios::binary) << text;
    return dir_ / name;
  };
  // A figure of sfbench before io::svg: the title in the first <text> element.
  EXPECT_TRUE(is_sfbench_plot(write(
      "old.svg",
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"640\" height=\"420\" viewBox=\"0 0 640 "
      "420\" font-family=\"sans-serif\" font-size=\"12\">\n<rect width=\"100%\" height=\"100%\" "
      "fill=\"white\"/>\n<text x=\"329\" y=\"24\" text-anchor=\"middle\" font-size=\"15\">"
      "Disentanglement D(m): zoo:tiny</text>\n</svg>\n")));
  EXPECT_FALSE(is_sfbench_plot(write(
      "other.svg", "<svg xmlns=\"http://www.w3.org/2000/svg\"><title>My plot</title></svg>\n")));
  EXPECT_FALSE(is_sfbench_plot(write("text.svg", "Disentanglement D(m): not an svg\n")));
  EXPECT_FALSE(is_sfbench_plot(dir_ / "missing.svg"));
}

}  // namespace
}  // namespace sfb::interactions
