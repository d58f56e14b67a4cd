// Attribution methods and Gini (SPEC §5): IG completeness with an error that shrinks with the
// steps, saliency of a linear model = |W_y|, guided backprop on a hand-derived ReLU net, Grad-CAM
// identities, layer-wise IG (completeness, (a_x − a_b) ⊙ W_y on the features, TorchScript
// limits), internal-batch and key invariance, Gini check values, bad input.
#include <gtest/gtest.h>
#include <torch/torch.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "attribution/agreement.hpp"
#include "attribution/config.hpp"
#include "attribution/focus.hpp"
#include "attribution/gini.hpp"
#include "attribution/inductive.hpp"
#include "attribution/layer_integrated_gradients.hpp"
#include "attribution/method.hpp"
#include "core/error.hpp"
#include "models/activation.hpp"
#include "models/torchscript.hpp"
#include "models/zoo.hpp"

namespace sfb::attribution {
namespace {

/// z = W2 · act(W1 · flatten(x)) (mlp) or z = W · flatten(x) (linear), float64, with a swappable
/// activation. Features are act(W1 x) (or flatten(x) for the linear model).
class TinyNet : public torch::nn::Module, public models::Classifier {
 public:
  TinyNet(torch::Tensor w1, torch::Tensor w2, torch::Tensor bias = {})
      : w1_(std::move(w1)),
        w2_(std::move(w2)),
        bias_(std::move(bias)),
        act_(std::make_shared<models::Activation>()) {}
  torch::Tensor features(const torch::Tensor& x) override {
    const torch::Tensor f = x.flatten(1);
    return w1_.defined() ? (*act_)(f.mm(w1_.t())) : f;
  }
  torch::Tensor head(const torch::Tensor& a) override {
    return bias_.defined() ? a.mm(w2_.t()) + bias_ : a.mm(w2_.t());
  }
  int64_t num_features() const override { return w2_.size(1); }
  int64_t num_classes() const override { return w2_.size(0); }
  std::string name() const override { return "tiny-net"; }
  std::string arch() const override { return "tiny-net"; }
  std::vector<torch::Tensor> parameters() override { return {}; }
  void train(bool) override {}
  void to(const torch::Device&) override {}
  void to_dtype(torch::ScalarType) override {}
  std::vector<std::string> layer_names() const override { return {"features"}; }
  torch::Tensor forward_tapped(const torch::Tensor& x, const std::vector<std::string>& names,
                               std::vector<torch::Tensor>& taps) override {
    const torch::Tensor a = features(x);
    taps.assign(names.size(), a);
    return head(a);
  }
  void set_activation(const std::string& kind) override { act_->set(kind); }
  std::string fingerprint() const override { return "0"; }
  std::string activation() const { return act_->spec(); }

 private:
  torch::Tensor w1_, w2_, bias_;
  models::ActivationPtr act_;
};

torch::Tensor keys_for(int64_t b) { return torch::arange(b, torch::kInt64); }

/// A smooth (Softplus) cnn-small in float64, eval mode, and a few images and labels.
struct SmoothCnn {
  SmoothCnn() {
    models::ModelOptions o;
    o.activation = "softplus";
    o.seed = 3;
    model = models::make_zoo_model("cnn-small", o);
    model->train(false);
    model->to_dtype(torch::kFloat64);
    torch::manual_seed(11);
    x = torch::rand({3, 3, 32, 32}, torch::kFloat64);
    y = torch::tensor({0, 4, 7}, torch::kInt64);
  }
  std::shared_ptr<models::NativeModel> model;
  torch::Tensor x, y;
};

/// max_i |Σ IG_i − (t(x_i) − t(0))| / max_i |t(x_i) − t(0)| for a zero baseline.
double completeness_error(SmoothCnn& s, int64_t steps) {
  MethodOptions o;
  o.steps = steps;
  o.internal_batch = 16;
  const torch::Tensor a =
      make_method("integrated-gradients", o)->attribute(*s.model, s.x, s.y, keys_for(3));
  torch::NoGradGuard ng;
  const torch::Tensor tx = s.model->forward(s.x).gather(1, s.y.view({-1, 1})).squeeze(1);
  const torch::Tensor tb =
      s.model->forward(torch::zeros_like(s.x)).gather(1, s.y.view({-1, 1})).squeeze(1);
  const torch::Tensor err = (a.sum({1, 2, 3}) - (tx - tb)).abs().max();
  return err.item<double>() / (tx - tb).abs().max().item<double>();
}

TEST(Attribution, IntegratedGradientsCompletenessErrorShrinksWithSteps) {
  SmoothCnn s;
  const double e2 = completeness_error(s, 2);
  const double e8 = completeness_error(s, 8);
  const double e64 = completeness_error(s, 64);
  EXPECT_LT(e8, e2);
  EXPECT_LT(e64, e8);
  EXPECT_LT(e64, 1e-3);
}

TEST(Attribution, IntegratedGradientsNormalBaselineIsKeyedAndComplete) {
  SmoothCnn s;
  MethodOptions o;
  o.steps = 64;
  o.baseline = "normal";
  o.seed = 9;
  auto ig = make_method("integrated-gradients", o);
  const torch::Tensor a = ig->attribute(*s.model, s.x, s.y, keys_for(3));
  // image 1 alone, with the same key, gets the same baseline and attribution
  const torch::Tensor a1 = ig->attribute(*s.model, s.x.slice(0, 1, 2), s.y.slice(0, 1, 2),
                                         torch::tensor({1}, torch::kInt64));
  EXPECT_TRUE(torch::allclose(a.slice(0, 1, 2), a1, 1e-10, 1e-12));
  // completeness for the (keyed, internal) normal baseline: Σa approaches a dense 256-step IG of
  // the same baseline (both approximate t(x) − t(b)) as the steps grow
  auto total = [&](int64_t steps) {
    MethodOptions p = o;
    p.steps = steps;
    return make_method("integrated-gradients", p)
        ->attribute(*s.model, s.x, s.y, keys_for(3))
        .sum({1, 2, 3});
  };
  const torch::Tensor dense = total(256);
  const double e4 = (total(4) - dense).abs().max().item<double>();
  const double e64 = (a.sum({1, 2, 3}) - dense).abs().max().item<double>();
  EXPECT_LT(e64, e4);
  EXPECT_LT(e64, 1e-2 * dense.abs().max().item<double>());
}

TEST(Attribution, InternalBatchDoesNotChangeResults) {
  SmoothCnn s;
  for (const std::string m : {"integrated-gradients", "smoothgrad", "gradient-shap", "grad-cam"}) {
    MethodOptions big, small;
    big.steps = small.steps = 6;
    big.samples = small.samples = 5;
    big.shap_noise_std = small.shap_noise_std = 0.1;
    big.internal_batch = 64;
    small.internal_batch = 1;
    const torch::Tensor a = make_method(m, big)->attribute(*s.model, s.x, s.y, keys_for(3));
    const torch::Tensor b = make_method(m, small)->attribute(*s.model, s.x, s.y, keys_for(3));
    EXPECT_TRUE(torch::allclose(a, b, 1e-9, 1e-12)) << m;
  }
}

TEST(Attribution, SaliencyOfLinearModelIsAbsWeightRow) {
  torch::manual_seed(2);
  const torch::Tensor w = torch::randn({4, 3 * 5 * 5}, torch::kFloat64);
  TinyNet net(torch::Tensor(), w);
  const torch::Tensor x = torch::rand({2, 3, 5, 5}, torch::kFloat64);
  const torch::Tensor y = torch::tensor({3, 1}, torch::kInt64);
  const torch::Tensor a = make_method("saliency", {})->attribute(net, x, y, keys_for(2));
  EXPECT_TRUE(torch::allclose(a, w.index_select(0, y).abs().view({2, 3, 5, 5})));
  // input×gradient of a linear model is x ⊙ W_y, and its sum is z_y(x) − z_y(0)
  const torch::Tensor ixg = make_method("input-x-gradient", {})->attribute(net, x, y, keys_for(2));
  EXPECT_TRUE(torch::allclose(ixg, x * w.index_select(0, y).view({2, 3, 5, 5})));
  // IG of a linear model is exact with any step count
  MethodOptions o;
  o.steps = 1;
  const torch::Tensor ig =
      make_method("integrated-gradients", o)->attribute(net, x, y, keys_for(2));
  EXPECT_TRUE(torch::allclose(ig, ixg));
}

TEST(Attribution, GuidedBackpropMatchesHandDerivedReluNet) {
  // h = W1 x = (x0 − x1, 2 x0 + x1, −x0 − x1); z_0 = h1⁺ − h2⁺ + 2 h3⁺.
  // At x = (1, 0.5): h = (0.5, 2.5, −1.5). Plain gradient: W1ᵀ (1, −1, 0) = (−1, −2).
  // Guided: the upstream gradient (1, −1, 2) is kept where h > 0 and it is > 0: (1, 0, 0),
  // so the map is W1ᵀ (1, 0, 0) = (1, −1).
  const torch::Tensor w1 =
      torch::tensor({1.0, -1.0, 2.0, 1.0, -1.0, -1.0}, torch::kFloat64).view({3, 2});
  const torch::Tensor w2 = torch::tensor({1.0, -1.0, 2.0}, torch::kFloat64).view({1, 3});
  TinyNet net(w1, w2);
  const torch::Tensor x = torch::tensor({1.0, 0.5}, torch::kFloat64).view({1, 2, 1, 1});
  const torch::Tensor y = torch::tensor({0}, torch::kInt64);
  const torch::Tensor g = make_method("guided-backprop", {})->attribute(net, x, y, keys_for(1));
  EXPECT_TRUE(torch::allclose(g.flatten(), torch::tensor({1.0, -1.0}, torch::kFloat64)));
  EXPECT_EQ(net.activation(), "relu");  // restored
  const torch::Tensor plain =
      make_method("input-x-gradient", {})->attribute(net, x, y, keys_for(1));
  EXPECT_TRUE(torch::allclose(plain.flatten(), torch::tensor({-1.0, -1.0}, torch::kFloat64)));
}

TEST(Attribution, GradCamShapesAndGuidedGradCamProduct) {
  models::ModelOptions mo;
  mo.seed = 1;
  auto model = models::make_zoo_model("cnn-small", mo);
  model->train(false);
  torch::manual_seed(4);
  const torch::Tensor x = torch::rand({2, 3, 32, 32});
  const torch::Tensor y = torch::tensor({2, 5}, torch::kInt64);
  const torch::Tensor cam = make_method("grad-cam", {})->attribute(*model, x, y, keys_for(2));
  ASSERT_EQ(cam.sizes(), (std::vector<int64_t>{2, 1, 32, 32}));
  EXPECT_GE(cam.min().item<double>(), 0.0);
  const torch::Tensor gb = make_method("guided-backprop", {})->attribute(*model, x, y, keys_for(2));
  const torch::Tensor ggc =
      make_method("guided-grad-cam", {})->attribute(*model, x, y, keys_for(2));
  EXPECT_TRUE(torch::allclose(ggc, gb * cam, 1e-5, 1e-7));
  // the model's activation is back to ReLU: saliency equals |plain gradient| again
  const torch::Tensor sal = make_method("saliency", {})->attribute(*model, x, y, keys_for(2));
  const torch::Tensor ixg =
      make_method("input-x-gradient", {})->attribute(*model, x, y, keys_for(2));
  EXPECT_TRUE(torch::allclose(sal * x, ixg.abs(), 1e-5, 1e-7));
  EXPECT_EQ(reduce_channels(ixg).sizes(), (std::vector<int64_t>{2, 32, 32}));
}

TEST(Gini, CheckValuesOfSpec) {
  const torch::Tensor v =
      torch::tensor({0.0, 0.0, 0.0, 1.0, 1.0, 0.0, 0.0, 0.0, 1.0, 1000.0}).view({2, 5});
  const torch::Tensor g = gini(v);
  EXPECT_NEAR(g[0].item<double>(), 0.6, 1e-12);
  EXPECT_NEAR(g[1].item<double>(), (6.0 - 2.0 * 1002.0 / 1001.0) / 5.0, 1e-12);
  EXPECT_NEAR(g[1].item<double>(), 0.799, 1e-3);
  // order and sign do not matter; equal values give 0; all-zero is 0; one spike is (n − 1)/n
  const torch::Tensor w = torch::tensor({1.0, 0.0, -1.0, 0.0, 0.0, 2.0, 2.0, 2.0, 2.0, 2.0,
                                         0.0, 0.0, 0.0,  0.0, 0.0, 0.0, 0.0, 3.0, 0.0, 0.0})
                              .view({4, 5});
  const torch::Tensor h = gini(w);
  EXPECT_NEAR(h[0].item<double>(), 0.6, 1e-12);
  EXPECT_NEAR(h[1].item<double>(), 0.0, 1e-12);
  EXPECT_NEAR(h[2].item<double>(), 0.0, 1e-12);
  EXPECT_NEAR(h[3].item<double>(), 0.8, 1e-12);
}

TEST(Gini, RegionalOverHandComputedRegions) {
  // 4×4 map, r = 2: region sums of |a| are (4, 0, 0, 8) -> sorted (0, 0, 4, 8):
  // Gini = (1/4)(5 − 2 (2·4 + 1·8)/12) = (5 − 8/3)/4 = 7/12.
  const torch::Tensor m = torch::tensor({1.0, 1.0, 0.0, 0.0, 1.0, -1.0, 0.0, 0.0,  //
                                         0.0, 0.0, 2.0, 2.0, 0.0, 0.0, 2.0, -2.0})
                              .view({1, 4, 4});
  const torch::Tensor s = region_sums(m, 2);
  EXPECT_TRUE(
      torch::allclose(s, torch::tensor({4.0, 0.0, 0.0, 8.0}, torch::kFloat64).view({1, 4})));
  EXPECT_NEAR(gini_regional(m, 2).item<double>(), 7.0 / 12.0, 1e-12);
  EXPECT_NEAR(gini_regional(m, 1).item<double>(), gini_global(m).item<double>(), 1e-12);
  EXPECT_EQ(default_region(32), 4);
  EXPECT_EQ(default_region(224), 16);
}

TEST(Focus, SnrAndConfidenceGroupsByHand) {
  // 2×2 maps, foreground = the first row. Map 0: |A| fg mean 10, bg mean 1 -> 10 dB.
  // Map 1: fg mean 1, bg mean 100 -> −20 dB.
  const torch::Tensor map =
      torch::tensor({10.0, -10.0, 1.0, 1.0, 1.0, 1.0, 100.0, -100.0}).view({2, 2, 2});
  const torch::Tensor mask =
      torch::tensor({1.0, 1.0, 0.0, 0.0, 1.0, 1.0, 0.0, 0.0}).view({2, 1, 2, 2});
  const torch::Tensor snr = snr_db(map, mask);
  EXPECT_NEAR(snr[0].item<double>(), 10.0, 1e-12);
  EXPECT_NEAR(snr[1].item<double>(), -20.0, 1e-12);
  const torch::Tensor g = confidence_group(torch::tensor({0.1, 0.5, 0.89, 0.9, 1.0}));
  EXPECT_TRUE(torch::equal(g, torch::tensor({0, 1, 1, 2, 2}, torch::kInt64)));
  EXPECT_THROW(snr_db(map, torch::ones({2, 1, 3, 3})), DataError);   // wrong size
  EXPECT_THROW(snr_db(map, torch::zeros({2, 1, 2, 2})), DataError);  // empty foreground
  EXPECT_THROW(snr_db(map, torch::ones({2, 2, 2})), DataError);      // no background
}

TEST(Inductive, TopAndRandomPixelMasks) {
  const torch::Tensor map = torch::tensor({0.1, 0.9, 0.3, 0.9, 0.0, 0.2}).view({1, 2, 3});
  const torch::Tensor m = top_pixel_mask(map, 2);
  EXPECT_TRUE(torch::equal(m.flatten(), torch::tensor({false, true, false, true, false, false})));
  // a tie at the threshold keeps every tied pixel
  EXPECT_EQ(top_pixel_mask(map, 1).sum().item<int64_t>(), 2);
  const torch::Tensor r = random_pixel_mask(torch::tensor({4, 5}), 3, 8, 8, 10, torch::kCPU);
  EXPECT_EQ(r.sizes(), (std::vector<int64_t>{2, 1, 8, 8}));
  EXPECT_EQ(r[0].sum().item<int64_t>(), 10);
  EXPECT_EQ(r[1].sum().item<int64_t>(), 10);
  const torch::Tensor r5 = random_pixel_mask(torch::tensor({5}), 3, 8, 8, 10, torch::kCPU);
  EXPECT_TRUE(torch::equal(r5[0], r[1]));  // keyed by the image, not its position
  EXPECT_FALSE(torch::equal(r[0], r[1]));
  EXPECT_THROW(top_pixel_mask(map, 7), ConfigError);
  EXPECT_THROW(top_pixel_mask(map, 0), ConfigError);
}

TEST(Inductive, NoiseOneAndTwoByHand) {
  const torch::Tensor x = torch::full({1, 1, 1, 3}, 0.5, torch::kFloat64);
  const torch::Tensor mask = torch::tensor({true, false, true}).view({1, 1, 1, 3});
  const torch::Tensor sigma = torch::tensor({0.2, 0.3, 0.9}, torch::kFloat64).view({1, 1, 1, 3});
  EXPECT_TRUE(torch::allclose(noise_one(x, mask, sigma).flatten(),
                              torch::tensor({0.7, 0.5, 1.0}, torch::kFloat64)));
  EXPECT_TRUE(torch::allclose(noise_two(x, mask, sigma).flatten(),
                              torch::tensor({0.2, 0.5, 0.9}, torch::kFloat64)));
}

TEST(Inductive, OcclusionMaskAndAlgorithmOneOnASumModel) {
  // 8×8 image, 4×4 regions (2×2 of them); region 3 (bottom right) ranks first.
  const torch::Tensor order = torch::tensor({3, 0, 1, 2}, torch::kInt64).view({1, 4});
  const torch::Tensor m1 = occlusion_mask(order, 1, 1, 4, 8, 8);
  EXPECT_EQ(m1.sum().item<int64_t>(), 1);
  EXPECT_TRUE(m1[0][0][6][6].item<bool>());
  EXPECT_EQ(occlusion_mask(order, 1, 2, 4, 8, 8).sum().item<int64_t>(), 9);
  EXPECT_EQ(occlusion_mask(order, 2, 2, 4, 8, 8).sum().item<int64_t>(), 18);
  // z_0 = Σ pixels, z_1 = 60: an all-ones image is class 0 (64 > 60) until > 4 pixels are black.
  // n = 1: r = 1 occludes 1 pixel (63), r = 2 occludes 9 (55 < 60) -> first flip at (1, 2).
  const torch::Tensor w =
      torch::cat({torch::ones({1, 64}), torch::zeros({1, 64})}).to(torch::kFloat64);
  TinyNet net(torch::Tensor(), w, torch::tensor({0.0, 60.0}, torch::kFloat64));
  const torch::Tensor x = torch::ones({1, 1, 8, 8}, torch::kFloat64);
  torch::Tensor map = torch::zeros({1, 8, 8}, torch::kFloat64);
  map[0][5][5] = 1.0;  // region 3
  OcclusionOptions o;
  o.max_count = 2;
  o.max_radius = 3;
  o.internal_batch = 4;
  const OcclusionResult black = occlusion_attack(net, x, torch::tensor({0}), map, o);
  EXPECT_TRUE(black.flipped[0].item<bool>());
  EXPECT_EQ(black.count[0].item<int64_t>(), 1);
  EXPECT_EQ(black.radius[0].item<int64_t>(), 2);
  o.color = occlusion_value("white");
  const OcclusionResult white = occlusion_attack(net, x, torch::tensor({0}), map, o);
  EXPECT_FALSE(white.flipped[0].item<bool>());
  EXPECT_EQ(white.count[0].item<int64_t>(), 0);
  EXPECT_EQ(occlusion_value("grey"), 0.5);
  EXPECT_THROW(occlusion_value("red"), ConfigError);
  o.region = 3;
  EXPECT_THROW(occlusion_attack(net, x, torch::tensor({0}), map, o), ConfigError);
}

TEST(Agreement, SpearmanByHandAndOfAMapWithItself) {
  // ranks of (0.1, 0.4, 0.4, 0.9) are (1, 2.5, 2.5, 4)
  const torch::Tensor r = average_ranks(torch::tensor({0.1, 0.4, 0.4, 0.9}).view({1, 4}));
  EXPECT_TRUE(
      torch::allclose(r, torch::tensor({1.0, 2.5, 2.5, 4.0}, torch::kFloat64).view({1, 4})));
  torch::manual_seed(8);
  const torch::Tensor a = torch::randn({3, 50});
  EXPECT_TRUE(torch::allclose(spearman(a, a), torch::ones({3}, torch::kFloat64)));
  EXPECT_TRUE(torch::allclose(spearman(a, -a), -torch::ones({3}, torch::kFloat64)));
  // monotone transforms do not change it
  EXPECT_TRUE(torch::allclose(spearman(a, a.exp()), torch::ones({3}, torch::kFloat64)));
  // by hand: x = (1, 2, 3, 4, 5), y = (2, 1, 4, 3, 5): Σd² = 4, ρ = 1 − 6·4/(5·24) = 0.8
  const torch::Tensor x = torch::tensor({1.0, 2.0, 3.0, 4.0, 5.0}).view({1, 5});
  const torch::Tensor y = torch::tensor({2.0, 1.0, 4.0, 3.0, 5.0}).view({1, 5});
  EXPECT_NEAR(spearman(x, y).item<double>(), 0.8, 1e-12);
  EXPECT_TRUE(std::isnan(spearman(x, torch::ones({1, 5})).item<double>()));
  EXPECT_THROW(spearman(x, torch::ones({1, 4})), ConfigError);
  const MeanCi ci = mean_ci(torch::tensor({1.0, 2.0, 3.0, std::nan("")}));
  EXPECT_EQ(ci.count, 3);
  EXPECT_NEAR(ci.mean, 2.0, 1e-12);
  EXPECT_NEAR(ci.high - ci.mean, 1.959963984540054 * 1.0 / std::sqrt(3.0), 1e-12);
}

TEST(Agreement, WilsonIntervalAndCiFromSums) {
  // 5 of 10: centre 0.5, half-width 1.96·sqrt(0.025 + 0.0096)/1.384 -> [0.2366, 0.7634]
  const Rate half = wilson(5, 10);
  EXPECT_DOUBLE_EQ(half.rate, 0.5);
  EXPECT_NEAR(half.low, 0.2366, 1e-4);
  EXPECT_NEAR(half.high, 0.7634, 1e-4);
  // 0 of 10: [0, z²/(n + z²)] = [0, 0.2775]
  const Rate none = wilson(0, 10);
  EXPECT_EQ(none.low, 0.0);
  EXPECT_NEAR(none.high, 0.2775, 1e-4);
  EXPECT_TRUE(std::isnan(wilson(0, 0).rate));
  torch::manual_seed(4);
  const torch::Tensor v = torch::randn({37}, torch::kFloat64);
  const MeanCi a = mean_ci(v);
  const MeanCi b = mean_ci_from_sums(v.sum().item<double>(), v.square().sum().item<double>(), 37);
  EXPECT_EQ(a.count, b.count);
  EXPECT_NEAR(a.mean, b.mean, 1e-12);
  EXPECT_NEAR(a.low, b.low, 1e-12);
  EXPECT_NEAR(a.high, b.high, 1e-12);
  EXPECT_TRUE(std::isnan(mean_ci_from_sums(0, 0, 0).mean));
}

// The batched occlusion search gives what a plain loop over Algorithm 1 gives (first (n, r) in
// order n = 1..N outer, r = 1..R inner whose prediction differs from y), on a real network.
TEST(Inductive, OcclusionAttackEqualsAPlainLoopOverAlgorithmOne) {
  models::ModelOptions mo;
  mo.seed = 21;
  auto model = models::make_zoo_model("cnn-small", mo);
  model->train(false);
  model->to_dtype(torch::kFloat64);
  torch::manual_seed(3);
  // low-contrast images near the decision boundary of the untrained net, so that patches flip some
  const torch::Tensor x = 0.45 + 0.1 * torch::rand({6, 3, 32, 32}, torch::kFloat64);
  torch::Tensor y;
  {
    torch::NoGradGuard ng;
    y = model->forward(x).argmax(1);  // every image "correctly classified"
  }
  const torch::Tensor map = torch::randn({6, 32, 32}, torch::kFloat64);
  OcclusionOptions o;
  o.max_count = 4;
  o.max_radius = 5;
  o.region = 4;
  o.color = 1.0;
  o.internal_batch = 7;  // chunks straddle images
  const OcclusionResult got = occlusion_attack(*model, x, y, map, o);
  const torch::Tensor order = std::get<1>(region_sums(map, 4).sort(true, 1, true));
  int64_t flipped = 0;
  for (int64_t i = 0; i < 6; ++i) {
    int64_t want_n = 0, want_r = 0;
    for (int64_t n = 1; n <= o.max_count && want_n == 0; ++n) {
      for (int64_t r = 1; r <= o.max_radius; ++r) {
        const torch::Tensor m =
            occlusion_mask(order.narrow(0, i, 1), n, r, 4, 32, 32).to(torch::kFloat64);
        const torch::Tensor xo = (1 - m) * x.narrow(0, i, 1) + m * 1.0;
        torch::NoGradGuard ng;
        if (model->forward(xo).argmax(1).item<int64_t>() != y[i].item<int64_t>()) {
          want_n = n;
          want_r = r;
          break;
        }
      }
    }
    SCOPED_TRACE(i);
    EXPECT_EQ(got.count[i].item<int64_t>(), want_n);
    EXPECT_EQ(got.radius[i].item<int64_t>(), want_r);
    EXPECT_EQ(got.flipped[i].item<bool>(), want_n > 0);
    flipped += want_n > 0 ? 1 : 0;
  }
  EXPECT_GT(flipped, 0) << "no image flipped: the comparison would be vacuous";
}

TEST(Attribution, ResolveConfigFillsPaperDefaultsAndChecksTheAttackKeys) {
  AttributionConfig c;
  const AttributionConfig small = resolve_config(c, {3, 32, 32}, 100);
  EXPECT_EQ(small.top_pixels, std::vector<int64_t>{102});  // 5000/224² of 1024 pixels
  EXPECT_EQ(small.occlusion_radius, 4);
  EXPECT_EQ(small.montage, 8);
  EXPECT_EQ(saved_map_indices(small, 100).size(), 64u);
  const AttributionConfig big = resolve_config(c, {3, 224, 224}, 5);
  EXPECT_EQ(big.top_pixels, std::vector<int64_t>{5000});
  EXPECT_EQ(big.occlusion_radius, 20);
  EXPECT_EQ(big.montage, 5);  // only 5 images, so 5 maps saved
  c.map_indices = {9, 2, 4};
  const AttributionConfig listed = resolve_config(c, {3, 32, 32}, 10);
  EXPECT_EQ(saved_map_indices(listed, 10), (std::vector<int64_t>{2, 4, 9}));
  EXPECT_EQ(listed.montage, 3);
  auto expect_key = [](AttributionConfig bad, int64_t n, const std::string& key) {
    try {
      resolve_config(bad, {3, 32, 32}, n);
      ADD_FAILURE() << "no error for " << key;
    } catch (const ConfigError& e) {
      EXPECT_NE(std::string(e.what()).find(key), std::string::npos) << e.what();
    }
  };
  AttributionConfig b;
  b.top_pixels = {1025};
  expect_key(b, 10, "attribution.top_pixels");
  b = {};
  b.occlusion_colors = {"black", "black"};
  expect_key(b, 10, "attribution.occlusion_colors");
  b = {};
  b.occlusion_count = 0;
  expect_key(b, 10, "attribution.occlusion_count");
  b = {};
  b.occlusion_radius = -1;
  expect_key(b, 10, "attribution.occlusion_radius");
  b = {};
  b.map_indices = {3, 3};
  expect_key(b, 10, "attribution.map_indices");
  b = {};
  b.map_indices = {-1};
  expect_key(b, 10, "attribution.map_indices");
  b = {};
  b.maps = -2;
  expect_key(b, 10, "attribution.maps");
  b = {};
  b.maps = 4;
  b.montage = 5;
  expect_key(b, 10, "attribution.montage");
}

TEST(Attribution, BadInputThrowsConfigErrorNamingTheKey) {
  auto expect_config = [](const std::string& name, const MethodOptions& o, const std::string& key) {
    try {
      make_method(name, o);
      ADD_FAILURE() << "no error for " << key;
    } catch (const ConfigError& e) {
      EXPECT_NE(std::string(e.what()).find(key), std::string::npos) << e.what();
    }
  };
  expect_config("lime", {}, "lime");
  MethodOptions o;
  o.steps = 0;
  expect_config("integrated-gradients", o, "attribution.steps");
  o = {};
  o.samples = -1;
  expect_config("smoothgrad", o, "attribution.samples");
  o = {};
  o.internal_batch = 0;
  expect_config("saliency", o, "attribution.internal_batch");
  o = {};
  o.baseline = "blur";
  expect_config("integrated-gradients", o, "attribution.baseline");
  EXPECT_THROW(region_sums(torch::zeros({1, 32, 32}), 5), ConfigError);
  EXPECT_THROW(region_sums(torch::zeros({1, 32, 32}), 0), ConfigError);
  EXPECT_EQ(method_names().size(), 9u);
}

/// z_y for every image (no graph): x [B, C, H, W], y [B] -> [B].
torch::Tensor target_logit(models::Classifier& model, const torch::Tensor& x,
                           const torch::Tensor& y) {
  torch::NoGradGuard ng;
  return model.forward(x).gather(1, y.view({-1, 1})).squeeze(1);
}

/// max_i |Σ LIG_i − (z_y(x_i) − z_y(0))| / max_i |z_y(x_i) − z_y(0)| for a zero baseline.
double layer_completeness_error(SmoothCnn& s, const std::string& layer, int64_t steps) {
  MethodOptions o;
  o.steps = steps;
  o.internal_batch = 16;
  o.ig_layer = layer;
  const torch::Tensor a = layer_integrated_gradients(*s.model, s.x, s.y, keys_for(3), o);
  const torch::Tensor dz =
      target_logit(*s.model, s.x, s.y) - target_logit(*s.model, torch::zeros_like(s.x), s.y);
  const torch::Tensor err = (a.flatten(1).sum(1) - dz).abs().max();
  return err.item<double>() / dz.abs().max().item<double>();
}

TEST(LayerIntegratedGradients, CompletenessErrorOfAMiddleLayerShrinksWithSteps) {
  SmoothCnn s;
  const double e4 = layer_completeness_error(s, "block2", 4);
  const double e64 = layer_completeness_error(s, "block2", 64);
  EXPECT_LT(e64, e4);
  EXPECT_LT(e64, 1e-3);
  // the head is linear, so on "features" the midpoint rule is exact with any step count
  EXPECT_LT(layer_completeness_error(s, "features", 1), 1e-10);
  EXPECT_LT(layer_completeness_error(s, "features", 4), 1e-10);
}

TEST(LayerIntegratedGradients, FeaturesOfALinearHeadGiveDeltaTimesWeightRow) {
  SmoothCnn s;
  MethodOptions o;
  o.steps = 3;
  o.ig_layer = "features";
  const torch::Tensor a = layer_integrated_gradients(*s.model, s.x, s.y, keys_for(3), o);
  torch::NoGradGuard ng;
  const torch::Tensor delta = s.model->features(s.x) - s.model->features(torch::zeros_like(s.x));
  const torch::Tensor w = s.model->linear_head()->first.index_select(0, s.y);
  ASSERT_EQ(a.sizes(), delta.sizes());
  EXPECT_TRUE(torch::allclose(a, delta * w, 1e-12, 1e-14));
}

TEST(LayerIntegratedGradients, NormalBaselineIsIntegratedGradientsOneAndKeyed) {
  SmoothCnn s;
  MethodOptions o;
  o.baseline = "normal";
  o.seed = 9;
  o.ig_layer = "features";
  o.steps = 2;
  // exact on "features" (linear head): Σ = z_y(x) − z_y(b) for the baseline b that
  // integrated-gradients draws; a dense IG of that baseline approximates the same difference
  const torch::Tensor lig = layer_integrated_gradients(*s.model, s.x, s.y, keys_for(3), o).sum(1);
  MethodOptions p = o;
  p.steps = 256;
  const torch::Tensor ig = make_method("integrated-gradients", p)
                               ->attribute(*s.model, s.x, s.y, keys_for(3))
                               .sum({1, 2, 3});
  EXPECT_LT((lig - ig).abs().max().item<double>(), 1e-2 * ig.abs().max().item<double>());
  // image 1 alone with the same key gets the same attribution (middle layer)
  o.ig_layer = "block2";
  const torch::Tensor all = layer_integrated_gradients(*s.model, s.x, s.y, keys_for(3), o);
  const torch::Tensor one = layer_integrated_gradients(
      *s.model, s.x.slice(0, 1, 2), s.y.slice(0, 1, 2), torch::tensor({1}, torch::kInt64), o);
  EXPECT_TRUE(torch::allclose(all.slice(0, 1, 2), one, 1e-10, 1e-12));
}

TEST(LayerIntegratedGradients, InternalBatchDoesNotChangeResults) {
  SmoothCnn s;
  for (const std::string layer : {"block1", "block3", "features"}) {
    MethodOptions big, small;
    big.steps = small.steps = 5;
    big.ig_layer = small.ig_layer = layer;
    big.internal_batch = 1000;
    small.internal_batch = 1;
    const torch::Tensor a = layer_integrated_gradients(*s.model, s.x, s.y, keys_for(3), big);
    const torch::Tensor b = layer_integrated_gradients(*s.model, s.x, s.y, keys_for(3), small);
    EXPECT_TRUE(torch::allclose(a, b, 1e-9, 1e-12)) << layer;
  }
}

TEST(LayerIntegratedGradients, MethodMapIsTheChannelSumUpsampledWithItsSign) {
  SmoothCnn s;
  MethodOptions o;
  o.steps = 4;
  // the default layer is the last one before "features" (block3 of cnn-small, 8×8)
  const torch::Tensor map =
      make_method("layer-integrated-gradients", o)->attribute(*s.model, s.x, s.y, keys_for(3));
  ASSERT_EQ(map.sizes(), (std::vector<int64_t>{3, 1, 32, 32}));
  o.ig_layer = "block3";
  const torch::Tensor a = layer_integrated_gradients(*s.model, s.x, s.y, keys_for(3), o);
  ASSERT_EQ(a.sizes(), (std::vector<int64_t>{3, 128, 8, 8}));
  const torch::Tensor ref = torch::nn::functional::interpolate(
      a.sum(1, true), torch::nn::functional::InterpolateFuncOptions()
                          .size(std::vector<int64_t>{32, 32})
                          .mode(torch::kBilinear)
                          .align_corners(false));
  EXPECT_TRUE(torch::allclose(map, ref, 1e-12, 1e-14));
  EXPECT_EQ(map.scalar_type(), torch::kFloat64);
}

TEST(LayerIntegratedGradients, UnknownOrFlatLayersAreConfigErrors) {
  SmoothCnn s;
  MethodOptions o;
  o.ig_layer = "block9";
  try {
    layer_integrated_gradients(*s.model, s.x, s.y, keys_for(3), o);
    ADD_FAILURE() << "no error for block9";
  } catch (const ConfigError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("block9"), std::string::npos) << msg;
    EXPECT_NE(msg.find("block1, block2, block3, features"), std::string::npos) << msg;
  }
  // the method needs a feature map to give an image-shaped map
  o.ig_layer = "features";
  EXPECT_THROW(
      make_method("layer-integrated-gradients", o)->attribute(*s.model, s.x, s.y, keys_for(3)),
      ConfigError);
  o.steps = 0;
  EXPECT_THROW(make_method("layer-integrated-gradients", o), ConfigError);
}

TEST(LayerIntegratedGradients, TorchScriptModelsOnlyReplaceTheirFeatures) {
  namespace fs = std::filesystem;
  const fs::path file =
      fs::temp_directory_path() / ("sfb_lig_" + std::to_string(::getpid()) + ".pt");
  {
    torch::jit::Module m("Probe");
    m.register_parameter("w", torch::linspace(-1.0, 1.0, 12).view({4, 3}), false);
    m.define(R"(
def features(self, x):
    return x.mean([2, 3])
def head(self, a):
    return torch.matmul(a, self.w.t())
def forward(self, x):
    return self.head(self.features(x))
)");
    m.save(file.string());
  }
  models::TorchScriptModel model(file, {3, 8, 8}, "torchscript:" + file.string());
  fs::remove(file);
  torch::manual_seed(8);
  const torch::Tensor x = torch::rand({2, 3, 8, 8});
  const torch::Tensor y = torch::tensor({3, 0}, torch::kInt64);
  MethodOptions o;
  o.ig_layer = "block1";
  EXPECT_THROW(layer_integrated_gradients(model, x, y, keys_for(2), o), ConfigError);
  o.ig_layer = "";  // no layer before "features"
  EXPECT_THROW(layer_integrated_gradients(model, x, y, keys_for(2), o), ConfigError);
  EXPECT_THROW(model.forward_replaced(x, "block1", torch::zeros({2, 3})), ConfigError);
  o.ig_layer = "features";
  o.steps = 2;
  const torch::Tensor a = layer_integrated_gradients(model, x, y, keys_for(2), o);
  const torch::Tensor w = torch::linspace(-1.0, 1.0, 12).view({4, 3}).index_select(0, y);
  EXPECT_TRUE(torch::allclose(a, x.mean({2, 3}) * w, 1e-5, 1e-6));
}

}  // namespace
}  // namespace sfb::attribution
