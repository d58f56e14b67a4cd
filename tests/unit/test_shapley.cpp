// Neuron Taylor Shapley values (SPEC §2): exact subset enumeration against the Taylor value, the
// linear-head closed form against autograd, inner layers, the bootstrap draws and bad input.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>

#include "core/error.hpp"
#include "data/module_classifier.hpp"
#include "models/zoo.hpp"
#include "shapley/accumulator.hpp"
#include "shapley/bootstrap.hpp"
#include "shapley/exact.hpp"
#include "shapley/taylor.hpp"

namespace sfb::shapley {
namespace {

/// A small classifier with k = 8 features (ReLU of a fixed projection of the image) and either a
/// linear head or a two-layer MLP head, in float64.
class TinyGame : public test::ModuleClassifier {
 public:
  explicit TinyGame(bool linear_head) : ModuleClassifier("tiny-game"), linear_(linear_head) {
    torch::manual_seed(7);
    proj_ = register_parameter("proj", torch::randn({3 * 4 * 4, kK}, torch::kFloat64) * 0.3);
    fc_ = register_module("fc", torch::nn::Linear(kK, kC));
    hidden_ = register_module("hidden", torch::nn::Linear(kK, kK));
    torch::nn::Module::to(torch::kFloat64);
  }
  torch::Tensor features(const torch::Tensor& x) override {
    return torch::relu(x.flatten(1).mm(proj_) - 0.05);
  }
  torch::Tensor head(const torch::Tensor& a) override {
    return linear_ ? fc_->forward(a) : fc_->forward(torch::tanh(hidden_->forward(a)));
  }
  int64_t num_features() const override { return kK; }
  int64_t num_classes() const override { return kC; }
  std::optional<std::pair<torch::Tensor, torch::Tensor>> linear_head() override {
    if (!linear_) return std::nullopt;
    return std::make_pair(fc_->weight, fc_->bias);
  }

  static constexpr int64_t kK = 8, kC = 4;

 private:
  bool linear_;
  torch::Tensor proj_;
  torch::nn::Linear fc_{nullptr}, hidden_{nullptr};
};

struct Sample {
  torch::Tensor images, labels, index;
};

Sample samples(int64_t b, torch::ScalarType dtype = torch::kFloat64) {
  torch::manual_seed(11);
  return {torch::rand({b, 3, 4, 4}, dtype), torch::randint(0, TinyGame::kC, {b}, torch::kInt64),
          torch::arange(100, 100 + b, torch::kInt64)};
}

/// Taylor values of TinyGame through the probe, [B, k].
torch::Tensor taylor(TinyGame& m, Target t, bool fast, const Sample& s) {
  ProbeOptions o;
  o.target = t;
  o.fast_path = fast;
  ShapleyProbe probe(m, o, {3, 4, 4}, torch::kFloat64, torch::kCPU);
  return probe.compute(s.images, s.labels, s.index).c;
}

TEST(ExactShapley, EqualsTaylorForLinearHeadAndLogit) {
  auto m = std::make_shared<TinyGame>(true);
  const Sample s = samples(5);
  for (Target t : {Target::kLogit, Target::kPredLogit}) {
    const torch::Tensor c = taylor(*m, t, /*fast=*/false, s);
    for (int64_t j = 0; j < 5; ++j) {
      const torch::Tensor a = m->features(s.images.narrow(0, j, 1))[0].detach();
      const torch::Tensor phi = exact_neuron_shapley(*m, a, s.labels[j].item<int64_t>(), t);
      EXPECT_TRUE(torch::allclose(phi, c[j], 1e-12, 1e-12)) << target_name(t) << " sample " << j;
      // The game is not trivial: some neurons matter.
      EXPECT_GT(phi.abs().max().item<double>(), 1e-3);
    }
  }
}

TEST(ExactShapley, DiffersFromTaylorForProbAndForNonlinearHead) {
  const Sample s = samples(4);
  auto lin = std::make_shared<TinyGame>(true);
  auto mlp = std::make_shared<TinyGame>(false);
  for (auto [model, target] :
       {std::make_pair(lin, Target::kProb), std::make_pair(mlp, Target::kLogit)}) {
    const torch::Tensor c = taylor(*model, target, false, s);
    double worst = 0;
    for (int64_t j = 0; j < 4; ++j) {
      const torch::Tensor a = model->features(s.images.narrow(0, j, 1))[0].detach();
      const torch::Tensor phi =
          exact_neuron_shapley(*model, a, s.labels[j].item<int64_t>(), target);
      worst = std::max(worst, (phi - c[j]).abs().max().item<double>());
      // Efficiency holds for the exact values: Σ φ = v(N) − v(∅).
      const auto y = s.labels.narrow(0, j, 1);
      torch::NoGradGuard ng;
      const double full = target_value(model->head(a.unsqueeze(0)), y, target).item<double>();
      const double empty =
          target_value(model->head(torch::zeros_like(a).unsqueeze(0)), y, target).item<double>();
      EXPECT_NEAR(phi.sum().item<double>(), full - empty, 1e-12);
    }
    EXPECT_GT(worst, 1e-4) << "Taylor equals exact Shapley where it should not ("
                           << target_name(target) << ")";
  }
}

TEST(ExactShapley, EnumeratesAKnownGame) {
  // Glove game on 3 players: v(S) = 1 when S holds player 0 and one of {1, 2}. φ = (2/3, 1/6, 1/6).
  const torch::Tensor phi = exact_shapley(3, [](const torch::Tensor& m) {
    return (m.select(1, 0) * torch::clamp(m.select(1, 1) + m.select(1, 2), 0, 1));
  });
  EXPECT_TRUE(torch::allclose(phi, torch::tensor({2.0 / 3, 1.0 / 6, 1.0 / 6}, torch::kFloat64)));
  EXPECT_THROW(exact_shapley(kMaxExactPlayers + 1, [](const torch::Tensor& m) { return m.sum(1); }),
               ConfigError);
}

TEST(TaylorShapley, ClosedFormEqualsAutogradOnNativeModel) {
  models::ModelOptions o;
  auto model = models::make_cnn_small(o);
  model->train(false);
  model->to_dtype(torch::kFloat64);
  torch::manual_seed(3);
  const torch::Tensor x = torch::rand({6, 3, 32, 32}, torch::kFloat64);
  const torch::Tensor y = torch::randint(0, 10, {6}, torch::kInt64);
  const torch::Tensor idx = torch::arange(6, torch::kInt64);
  for (Target t : {Target::kLogit, Target::kPredLogit}) {
    ProbeOptions fast, slow;
    fast.target = slow.target = t;
    slow.fast_path = false;
    ShapleyProbe pf(*model, fast, {3, 32, 32}, torch::kFloat64, torch::kCPU);
    ShapleyProbe ps(*model, slow, {3, 32, 32}, torch::kFloat64, torch::kCPU);
    ASSERT_TRUE(pf.uses_fast_path());
    ASSERT_FALSE(ps.uses_fast_path());
    const ProbeOutput a = pf.compute(x, y, idx), b = ps.compute(x, y, idx);
    EXPECT_TRUE(torch::allclose(a.c, b.c, 1e-12, 1e-14)) << target_name(t);
    EXPECT_TRUE(torch::allclose(a.logits, b.logits, 1e-12, 1e-14));
    EXPECT_GT(a.c.abs().max().item<double>(), 0.0);
  }
  // A nonlinear target never takes the closed form.
  ProbeOptions p;
  p.target = Target::kLogProb;
  EXPECT_FALSE(ShapleyProbe(*model, p, {3, 32, 32}, torch::kFloat64, torch::kCPU).uses_fast_path());
}

TEST(TaylorShapley, InnerLayerOfGlobalPoolEqualsFeatures) {
  // cnn-small's features are the spatial mean of block3, so Σ_hw a·∂t/∂a at block3 equals a·∂t/∂a
  // at the features for every channel: an independent check of the tapped (full backward) path.
  auto model = models::make_cnn_small(models::ModelOptions{});
  model->train(false);
  model->to_dtype(torch::kFloat64);
  torch::manual_seed(4);
  const torch::Tensor x = torch::rand({3, 3, 32, 32}, torch::kFloat64);
  const torch::Tensor y = torch::tensor({1, 5, 9}, torch::kInt64);
  const torch::Tensor idx = torch::arange(3, torch::kInt64);
  ProbeOptions f, inner;
  f.target = inner.target = Target::kProb;
  inner.layer = "block3";
  ShapleyProbe pf(*model, f, {3, 32, 32}, torch::kFloat64, torch::kCPU);
  ShapleyProbe pi(*model, inner, {3, 32, 32}, torch::kFloat64, torch::kCPU);
  EXPECT_EQ(pi.num_neurons(), 128);
  EXPECT_TRUE(torch::allclose(pi.compute(x, y, idx).c, pf.compute(x, y, idx).c, 1e-10, 1e-13));
  // block2 has 64 channels and is not a rescaling of the features.
  inner.layer = "block2";
  EXPECT_EQ(ShapleyProbe(*model, inner, {3, 32, 32}, torch::kFloat64, torch::kCPU).num_neurons(),
            64);
}

TEST(TaylorShapley, BadInputNamesTheSampleOrLayer) {
  auto model = models::make_cnn_small(models::ModelOptions{});
  model->train(false);
  ProbeOptions o;
  o.layer = "block9";
  try {
    ShapleyProbe p(*model, o, {3, 32, 32}, torch::kFloat32, torch::kCPU);
    FAIL() << "unknown layer accepted";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("block9"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("block1, block2, block3, features"), std::string::npos)
        << e.what();
  }
  o.layer = "features";
  ShapleyProbe p(*model, o, {3, 32, 32}, torch::kFloat32, torch::kCPU);
  torch::Tensor x = torch::rand({4, 3, 32, 32});
  const torch::Tensor idx = torch::arange(40, 44, torch::kInt64);
  try {
    p.compute(x, torch::tensor({0, 1, 10, 2}, torch::kInt64), idx);
    FAIL() << "label 10 of a 10-class model accepted";
  } catch (const DataError& e) {
    EXPECT_NE(std::string(e.what()).find("sample 42: label 10"), std::string::npos) << e.what();
  }
  x[3][1][5][5] = std::nan("");
  for (const char* layer : {"features", "block2"}) {
    o.layer = layer;
    ShapleyProbe q(*model, o, {3, 32, 32}, torch::kFloat32, torch::kCPU);
    try {
      q.compute(x, torch::tensor({0, 1, 2, 3}, torch::kInt64), idx);
      FAIL() << "NaN activation accepted at " << layer;
    } catch (const DataError& e) {
      EXPECT_NE(std::string(e.what()).find("sample 43: the activation at layer"), std::string::npos)
          << e.what();
    }
  }
}

TEST(Bootstrap, PoissonWeightsAreKeyedAndHaveUnitMeanAndVariance) {
  EXPECT_EQ(poisson_weight(5, 123, 7), poisson_weight(5, 123, 7));
  const torch::Tensor idx = torch::arange(0, 20000, torch::kInt64);
  const torch::Tensor w = bootstrap_weights(9, idx, 3);
  EXPECT_NEAR(w.mean().item<double>(), 1.0, 0.02);
  EXPECT_NEAR(w.var().item<double>(), 1.0, 0.03);
  // P(w = 0) = e^-1.
  EXPECT_NEAR(w.eq(0).to(torch::kFloat64).mean().item<double>(), std::exp(-1.0), 0.01);
  // Keyed by global index, not position: a shuffled request gives the shuffled weights.
  const torch::Tensor perm = torch::randperm(20000, torch::kInt64);
  EXPECT_TRUE(torch::equal(bootstrap_weights(9, idx.index({perm}), 3),
                           w.index({torch::indexing::Slice(), perm})));
  // Replicates and seeds give different streams.
  EXPECT_FALSE(torch::equal(w[0], w[1]));
  EXPECT_FALSE(torch::equal(bootstrap_weights(10, idx, 1)[0], w[0]));
}

TEST(Bootstrap, PercentileInterpolatesLinearlyOverFiniteValues) {
  const auto v = torch::tensor({4.0, 1.0, std::nan(""), 3.0, 2.0}, torch::kFloat64);
  EXPECT_DOUBLE_EQ(percentile_of_finite(v, 0.0), 1.0);
  EXPECT_DOUBLE_EQ(percentile_of_finite(v, 0.25), 1.75);
  EXPECT_DOUBLE_EQ(percentile_of_finite(v, 0.5), 2.5);
  EXPECT_DOUBLE_EQ(percentile_of_finite(v, 1.0), 4.0);
  EXPECT_TRUE(std::isnan(percentile_of_finite(torch::full({2}, std::nan("")), 0.5)));
}

TEST(SfOf, IsThePopulationStandardDeviation) {
  const auto c = torch::tensor({{1.0, 2.0, 3.0, 6.0}, {5.0, 5.0, 5.0, 5.0}}, torch::kFloat64);
  const torch::Tensor sf = sf_of(c);
  EXPECT_DOUBLE_EQ(sf[0].item<double>(), std::sqrt((4.0 + 1.0 + 0.0 + 9.0) / 4.0));
  EXPECT_DOUBLE_EQ(sf[1].item<double>(), 0.0);
}

}  // namespace
}  // namespace sfb::shapley
