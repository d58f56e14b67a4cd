// Gradient attacks (SPEC §3): properties every registered attack must have (inside the ε-ball and
// [0, 1], no weight gradients, the robust contract), FGSM against its closed form on an affine
// model, the keyed random start, zero-gradient and batch-split determinism, and CW-L2 against the
// exact minimal L2 distance of an affine classifier.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "attacks/attack.hpp"
#include "attacks/common.hpp"
#include "attacks/cw_l2.hpp"
#include "attacks/plan.hpp"
#include "core/device.hpp"
#include "core/error.hpp"
#include "data/module_classifier.hpp"
#include "models/factory.hpp"

namespace sfb::attacks {
namespace {

/// Test classifiers on small images: kConv = conv3×3-ReLU-global-pool-Linear (k = 6);
/// kAffine = logits W·vec(x) + b (k = d); kConstant = logits b + 0·Σx (the input stays in the
/// graph, every input gradient is exactly 0).
class TestNet : public test::ModuleClassifier {
 public:
  enum Kind { kConv, kAffine, kConstant };
  TestNet(Kind kind, std::vector<int64_t> shape, int64_t classes, uint64_t seed)
      : ModuleClassifier("test-net"), kind_(kind), shape_(std::move(shape)), classes_(classes) {
    torch::manual_seed(seed);
    const int64_t d = shape_[0] * shape_[1] * shape_[2];
    conv_ = register_module(
        "conv", torch::nn::Conv2d(torch::nn::Conv2dOptions(shape_[0], 6, 3).padding(1)));
    k_ = kind_ == kConv ? 6 : (kind_ == kAffine ? d : 1);
    fc_ = register_module("fc", torch::nn::Linear(k_, classes_));
    if (kind_ == kAffine) {
      torch::NoGradGuard g;
      fc_->weight.normal_(0.0, 0.5);
      fc_->bias.normal_(0.0, 0.1);
    }
    if (kind_ == kConstant) {
      torch::NoGradGuard g;
      fc_->bias.copy_(torch::arange(classes_, torch::kFloat32) * 0.1);
    }
  }
  torch::Tensor features(const torch::Tensor& x) override {
    if (kind_ == kConv) return torch::relu(conv_->forward(x)).mean({2, 3});
    if (kind_ == kAffine) return x.flatten(1);
    return x.flatten(1).sum(1, true) * 0.0;
  }
  torch::Tensor head(const torch::Tensor& a) override {
    if (kind_ == kConstant) return a + fc_->bias;  // [B, 1] + [C]: independent of x
    return fc_->forward(a);
  }
  int64_t num_features() const override { return k_; }
  int64_t num_classes() const override { return classes_; }

  torch::Tensor weight() const { return fc_->weight; }
  torch::Tensor bias() const { return fc_->bias; }

 private:
  Kind kind_;
  std::vector<int64_t> shape_;
  int64_t classes_;
  int64_t k_ = 0;
  torch::nn::Conv2d conv_{nullptr};
  torch::nn::Linear fc_{nullptr};
};

double default_eps(Norm n) { return n == Norm::kLinf ? 8.0 / 255 : 0.5; }

/// Small, fast options for any attack under `norm`.
AttackOptions quick_options(Norm norm) {
  AttackOptions o;
  o.norm = norm;
  o.eps = default_eps(norm);
  o.step_size = o.eps / 4;
  o.steps = 4;
  o.restarts = 2;
  o.queries = 24;
  o.binary_steps = 2;
  o.seed = 11;
  return o;
}

/// A batch of `b` random images, labels = the model's predictions except the last sample's (so
/// that exactly one sample is misclassified when clean), and global indices 100, 101, ...
struct Batch {
  torch::Tensor x, y, index;
};
Batch make_batch(models::Classifier& model, int64_t b, const std::vector<int64_t>& shape,
                 uint64_t seed, torch::ScalarType dtype = torch::kFloat32) {
  torch::manual_seed(seed);
  Batch out;
  out.x = torch::rand({b, shape[0], shape[1], shape[2]}, torch::kFloat64).to(dtype);
  out.y = predict(model, out.x);
  out.y[b - 1] = (out.y[b - 1] + 1) % model.num_classes();
  out.index = torch::arange(100, 100 + b, torch::kInt64);
  return out;
}

/// The model's logits without a graph: [B, C].
torch::Tensor predict_logits(models::Classifier& model, const torch::Tensor& x) {
  torch::NoGradGuard no_grad;
  return model.forward(x);
}

std::vector<std::pair<std::string, std::shared_ptr<models::Classifier>>> property_models() {
  models::ModelOptions o;
  o.seed = 5;
  auto cnn = models::make_model("zoo:cnn-small", o);
  auto tiny = std::make_shared<TestNet>(TestNet::kConv, std::vector<int64_t>{3, 8, 8}, 5, 3);
  tiny->eval();
  return {{"zoo:cnn-small", cnn}, {"tiny", tiny}};
}

std::vector<int64_t> image_shape(const std::string& model) {
  return model == "tiny" ? std::vector<int64_t>{3, 8, 8} : std::vector<int64_t>{3, 32, 32};
}

/// Runs every registered attack under linf and l2 (skipping a norm the attack rejects with a
/// ConfigError) on every property model, and calls check(model, name, opts, batch, output).
template <class Check>
void for_every_attack(Check check) {
  for (auto& [mname, model] : property_models()) {
    const Batch b = make_batch(*model, 4, image_shape(mname), 21);
    for (const std::string& name : attack_names()) {
      int runs = 0;
      for (Norm norm : {Norm::kLinf, Norm::kL2}) {
        const AttackOptions o = quick_options(norm);
        std::unique_ptr<Attack> attack;
        try {
          attack = make_attack(name, o);
        } catch (const ConfigError&) {
          continue;  // e.g. cw-linf under l2
        }
        SCOPED_TRACE(mname + " " + name + " " + norm_name(norm));
        EXPECT_EQ(attack->name(), name);
        check(*model, name, o, b, attack->run(*model, b.x, b.y, b.index));
        ++runs;
      }
      EXPECT_GT(runs, 0) << name << " accepts neither linf nor l2";
    }
  }
}

TEST(AttackProperties, EveryAttackStaysInTheBallAndTheBox) {
  for_every_attack([](models::Classifier& model, const std::string& name, const AttackOptions& o,
                      const Batch& b, const AttackOutput& out) {
    const int64_t n = b.x.size(0);
    ASSERT_EQ(out.x_adv.sizes(), b.x.sizes());
    EXPECT_EQ(out.x_adv.scalar_type(), b.x.scalar_type());
    ASSERT_EQ(out.robust.sizes(), torch::IntArrayRef{n});
    EXPECT_EQ(out.robust.scalar_type(), torch::kBool);
    ASSERT_EQ(out.norm.sizes(), torch::IntArrayRef{n});
    EXPECT_EQ(out.norm.scalar_type(), torch::kFloat32);
    EXPECT_GE(out.x_adv.min().item<double>(), 0.0);
    EXPECT_LE(out.x_adv.max().item<double>(), 1.0);
    const bool cw_l2 = name == "cw-l2";
    const Norm norm = cw_l2 ? Norm::kL2 : o.norm;
    const torch::Tensor dist = per_sample_norm(out.x_adv - b.x, norm);
    if (!cw_l2) {
      EXPECT_LE(dist.max().item<double>(), o.eps + 1e-6);
    }
    // norm is ‖x_adv − x‖ (cw-l2: +inf where nothing was found).
    const torch::Tensor finite = out.norm.isfinite();
    EXPECT_TRUE(
        torch::allclose(out.norm.masked_select(finite), dist.masked_select(finite), 1e-5, 1e-6));
    // The robust contract: a misclassified clean sample is never robust; otherwise robust means
    // the prediction at x_adv is still y (cw-l2: no adversarial found, i.e. norm = +inf).
    const torch::Tensor clean_ok = predict(model, b.x).eq(b.y);
    EXPECT_FALSE(out.robust[n - 1].item<bool>());
    EXPECT_FALSE((out.robust & clean_ok.logical_not()).any().item<bool>());
    if (cw_l2) {
      EXPECT_TRUE(torch::equal(out.robust, clean_ok & finite.logical_not()));
    } else {
      EXPECT_TRUE(torch::equal(out.robust, clean_ok & predict(model, out.x_adv).eq(b.y)));
    }
    // Misclassified: not attacked, even though the first run covers the whole batch.
    EXPECT_TRUE(torch::equal(out.x_adv[n - 1], b.x[n - 1]));
    ASSERT_EQ(out.zero_grad.sizes(), out.robust.sizes());
    ASSERT_EQ(out.nonfinite.sizes(), out.robust.sizes());
    EXPECT_FALSE(out.zero_grad[n - 1].item<bool>());
    EXPECT_EQ(count_rows(out.nonfinite), 0);
  });
}

TEST(AttackProperties, NoAttackLeavesWeightGradients) {
  for_every_attack([](models::Classifier& model, const std::string&, const AttackOptions&,
                      const Batch&, const AttackOutput&) {
    for (const torch::Tensor& p : model.parameters()) {
      if (p.requires_grad()) {
        EXPECT_FALSE(p.grad().defined());
      }
    }
  });
}

TEST(AttackProperties, UnknownNamesAndBadOptionsAreConfigErrors) {
  EXPECT_THROW(make_attack("pgdd", AttackOptions{}), ConfigError);
  AttackOptions o;
  o.loss = "dlr";
  EXPECT_THROW(make_attack("pgd", o), ConfigError);
  o = AttackOptions{};
  o.steps = 0;
  EXPECT_THROW(make_attack("pgd", o), ConfigError);
  EXPECT_THROW(make_attack("cw-l2", o), ConfigError);
  o = AttackOptions{};
  o.eps = -1;
  EXPECT_THROW(make_attack("fgsm", o), ConfigError);
  o = AttackOptions{};
  o.norm = Norm::kL2;
  EXPECT_THROW(make_attack("cw-linf", o), ConfigError);
}

TEST(AttackPlan, BooleanKeysParseEveryUsualSpellingOrAreRefused) {
  for (const auto& [v, want] : std::vector<std::pair<std::string, bool>>{{"true", true},
                                                                         {"True", true},
                                                                         {"1", true},
                                                                         {"yes", true},
                                                                         {"YES", true},
                                                                         {"false", false},
                                                                         {"0", false},
                                                                         {"no", false},
                                                                         {"False", false}}) {
    AttackConfig cfg;
    cfg.list = {"pgd:random_start=" + v};
    const auto groups = plan_attacks(cfg, {3, 8, 8}, 10, 1);
    ASSERT_EQ(groups.size(), 1u);
    EXPECT_EQ(groups[0].stages[0].opts.random_start, want) << v;
  }
  for (const std::string v : {"maybe", "2", "", "on"}) {
    AttackConfig cfg;
    cfg.list = {"pgd:random_start=" + v};
    try {
      plan_attacks(cfg, {3, 8, 8}, 10, 1);
      ADD_FAILURE() << "random_start=" << v << " accepted";
    } catch (const ConfigError& e) {
      EXPECT_NE(std::string(e.what()).find("random_start=" + v + " is not a boolean"),
                std::string::npos)
          << e.what();
    }
  }
}

TEST(Fgsm, MatchesTheClosedFormOnAnAffineModel) {
  // logits = W·vec(x) + b  =>  ∇x CE = Wᵀ(softmax(z) − e_y).
  const std::vector<int64_t> shape{3, 4, 4};
  TestNet net(TestNet::kAffine, shape, 4, 8);
  net.to_dtype(torch::kFloat64);
  net.eval();
  torch::manual_seed(2);
  const torch::Tensor x = torch::rand({5, 3, 4, 4}, torch::kFloat64) * 0.4 + 0.3;
  const torch::Tensor y = predict(net, x);
  const torch::Tensor index = torch::arange(5, torch::kInt64);
  torch::Tensor p = torch::softmax(x.flatten(1).mm(net.weight().t()) + net.bias(), 1);
  p = p - torch::nn::functional::one_hot(y, 4).to(torch::kFloat64);
  const torch::Tensor g = p.mm(net.weight()).detach().view_as(x);

  AttackOptions o;
  o.eps = 0.1;
  const AttackOutput linf = make_attack("fgsm", o)->run(net, x, y, index);
  EXPECT_TRUE(torch::allclose(linf.x_adv, (x + 0.1 * g.sign()).clamp(0, 1), 0, 1e-12));
  o.norm = Norm::kL2;
  const AttackOutput l2 = make_attack("fgsm", o)->run(net, x, y, index);
  const torch::Tensor gn = g.flatten(1).norm(2, 1).view({5, 1, 1, 1});
  EXPECT_TRUE(torch::allclose(l2.x_adv, x + 0.1 * g / gn, 0, 1e-12));  // no clipping needed
  EXPECT_TRUE(torch::allclose(l2.norm, torch::full({5}, 0.1f), 0, 1e-6));
  EXPECT_EQ(count_rows(linf.zero_grad), 0);
}

TEST(Pgd, RandomStartIsKeyedAndUniform) {
  // On the constant model every gradient is 0, so x_adv is the random start itself.
  const std::vector<int64_t> shape{3, 8, 8};
  TestNet net(TestNet::kConstant, shape, 3, 1);
  net.eval();
  const int64_t b = 200, d = 3 * 8 * 8;
  const torch::Tensor x = torch::full({b, 3, 8, 8}, 0.5);
  const torch::Tensor y = torch::full({b}, 2, torch::kInt64);  // argmax of b + 0 = 2
  const torch::Tensor index = torch::arange(1000, 1000 + b, torch::kInt64);
  AttackOptions o;
  o.seed = 99;
  o.steps = 1;
  const AttackOutput linf = make_attack("pgd", o)->run(net, x, y, index);
  const torch::Tensor u = keyed_uniform(99, kStreamPgd, index, 0, {3, 8, 8});
  EXPECT_TRUE(torch::allclose(linf.x_adv - x, (u * 2 - 1) * o.eps, 0, 1e-7));
  EXPECT_TRUE(linf.robust.all().item<bool>());

  o.norm = Norm::kL2;
  o.eps = 0.3;
  const AttackOutput l2 = make_attack("pgd", o)->run(net, x, y, index);
  const torch::Tensor r = (l2.x_adv - x).flatten(1).norm(2, 1).to(torch::kFloat64) / o.eps;
  EXPECT_LE(r.max().item<double>(), 1.0 + 1e-6);
  // Uniform in the ball: (‖δ‖/ε)^d ~ U(0, 1) (mean 1/2, sd of the mean 0.29/√200 ≈ 0.02).
  EXPECT_NEAR(r.pow(d).mean().item<double>(), 0.5, 0.1);
  // Direction uniform on the sphere: the mean direction is near 0 (each coordinate ~ 1/√d).
  const torch::Tensor dir =
      (l2.x_adv - x).flatten(1) / (r * o.eps).unsqueeze(1).to(torch::kFloat32);
  // Each coordinate of the mean direction has sd 1/√(d·b); allow 5 sd.
  EXPECT_LT(dir.mean(0).abs().max().item<double>(), 5.0 / std::sqrt(static_cast<double>(d * b)));
  EXPECT_FALSE(torch::equal(l2.x_adv, make_attack("pgd",
                                                  [&] {
                                                    AttackOptions o2 = o;
                                                    o2.seed = 100;
                                                    return o2;
                                                  }())
                                          ->run(net, x, y, index)
                                          .x_adv));
}

TEST(Pgd, RestartsKeepTheFirstSuccessfulAdversarial) {
  // An affine model, one tiny step: whether a sample is fooled is decided by its random start,
  // and ε is set so that a start fools a typical sample with probability ~0.16 (ε = median over
  // samples of √3·margin/‖W_y − W_j‖, j the closest class: the logit gap moves by (W_y − W_j)·δ,
  // sd ε‖W_y − W_j‖/√3). Restart 0 is keyed identically whatever the number of restarts, so a
  // sample fooled by it keeps its x_adv; later restarts can only fool more samples.
  TestNet net(TestNet::kAffine, {3, 4, 4}, 4, 8);
  net.eval();
  const int64_t n = 16;
  torch::manual_seed(3);
  const torch::Tensor x = torch::rand({n, 3, 4, 4}) * 0.4 + 0.3;
  const torch::Tensor y = predict(net, x);
  const torch::Tensor w = net.weight().detach();
  const torch::Tensor z = predict_logits(net, x);
  std::vector<double> scale;
  for (int64_t i = 0; i < n; ++i) {
    const int64_t yi = y[i].item<int64_t>();
    double best = std::numeric_limits<double>::infinity();
    for (int64_t j = 0; j < 4; ++j) {
      if (j == yi) continue;
      const double gap = (z[i][yi] - z[i][j]).item<double>();
      best = std::min(best, std::sqrt(3.0) * gap / (w[yi] - w[j]).norm().item<double>());
    }
    scale.push_back(best);
  }
  std::nth_element(scale.begin(), scale.begin() + n / 2, scale.end());
  AttackOptions o;
  o.eps = scale[n / 2];
  o.step_size = o.eps * 1e-3;
  o.steps = 1;
  o.seed = 17;
  o.restarts = 1;
  const torch::Tensor index = torch::arange(n, torch::kInt64);
  const AttackOutput one = make_attack("pgd", o)->run(net, x, y, index);
  o.restarts = 8;
  const AttackOutput eight = make_attack("pgd", o)->run(net, x, y, index);
  const int64_t robust_one = one.robust.sum().item<int64_t>();
  const int64_t robust_eight = eight.robust.sum().item<int64_t>();
  EXPECT_LT(robust_one, n) << "restart 0 should fool some samples";
  EXPECT_LT(robust_eight, robust_one) << "later restarts should fool more";
  EXPECT_GT(robust_eight, 0);
  EXPECT_FALSE((eight.robust & one.robust.logical_not()).any().item<bool>());
  const torch::Tensor first = one.robust.logical_not();
  EXPECT_TRUE(torch::equal(eight.x_adv.index({first}), one.x_adv.index({first})));
}

TEST(GradientAttacks, ConstantModelReportsZeroGradientForEverySample) {
  const std::vector<int64_t> shape{3, 8, 8};
  TestNet net(TestNet::kConstant, shape, 3, 1);
  net.eval();
  torch::manual_seed(4);
  const int64_t b = 6;
  const torch::Tensor x = torch::rand({b, 3, 8, 8});
  const torch::Tensor y = torch::full({b}, 2, torch::kInt64);
  const torch::Tensor index = torch::arange(b, torch::kInt64);
  for (const char* name : {"fgsm", "pgd", "cw-linf", "cw-l2"}) {
    for (bool random_start : {false, true}) {
      AttackOptions o = quick_options(Norm::kLinf);
      o.random_start = random_start;
      SCOPED_TRACE(std::string(name) + (random_start ? " random start" : ""));
      const AttackOutput out = make_attack(name, o)->run(net, x, y, index);
      EXPECT_EQ(count_rows(out.zero_grad), b);
      EXPECT_TRUE(out.robust.all().item<bool>());
      if (!random_start || std::string(name) == "fgsm" || std::string(name) == "cw-l2") {
        EXPECT_TRUE(torch::equal(out.x_adv, x));  // nothing moves a zero gradient
      }
    }
  }
}

TEST(GradientAttacks, ResultsDoNotDependOnBatchSplitOrOrder) {
  models::ModelOptions mo;
  mo.seed = 9;
  auto model = models::make_model("zoo:cnn-small", mo);
  model->to_dtype(torch::kFloat64);
  const Batch b = make_batch(*model, 8, {3, 16, 16}, 31, torch::kFloat64);
  const std::vector<std::vector<int64_t>> parts{{5, 2, 7}, {0, 1, 3, 4, 6}};
  for (const char* name : {"pgd", "cw-l2"}) {
    for (Norm norm : {Norm::kLinf, Norm::kL2}) {
      if (name == std::string("cw-l2") && norm == Norm::kL2) continue;  // cw-l2 ignores norm
      SCOPED_TRACE(std::string(name) + " " + norm_name(norm));
      AttackOptions o = quick_options(norm);
      o.steps = name == std::string("cw-l2") ? 10 : 3;  // cw-l2: exercises the early abort
      const auto attack = make_attack(name, o);
      const bool pgd_linf = name == std::string("pgd") && norm == Norm::kLinf;
      const AttackOutput whole = attack->run(*model, b.x, b.y, b.index);
      for (const auto& part : parts) {
        const torch::Tensor rows = torch::tensor(part, torch::kInt64);
        const AttackOutput split =
            attack->run(*model, b.x.index_select(0, rows), b.y.index_select(0, rows),
                        b.index.index_select(0, rows));
        // Keying errors would show as O(ε) differences; what remains in float64 is the model's
        // own batch-layout rounding (1 ulp seen), which l2 and CW steps carry into x_adv.
        const torch::Tensor expect = whole.x_adv.index_select(0, rows);
        EXPECT_LE((split.x_adv - expect).abs().max().item<double>(), 1e-12);
        if (pgd_linf) {
          EXPECT_TRUE(torch::equal(split.x_adv, expect));  // sign steps: exact
        }
        EXPECT_TRUE(torch::equal(split.robust, whole.robust.index_select(0, rows)));
      }
    }
  }
}

TEST(CwL2, FindsNearlyTheExactMinimalDistanceOfAnAffineModel) {
  // For logits W·vec(x) + b the closest point where some class j ≠ y wins lies at L2 distance
  // min_j (z_y − z_j)/‖W_y − W_j‖ (when it stays inside [0, 1]^d); no adversarial can be closer.
  const std::vector<int64_t> shape{3, 4, 4};
  TestNet net(TestNet::kAffine, shape, 4, 8);
  net.to_dtype(torch::kFloat64);
  net.eval();
  torch::manual_seed(12);
  const int64_t b = 6;
  const torch::Tensor x = torch::rand({b, 3, 4, 4}, torch::kFloat64) * 0.2 + 0.4;
  torch::Tensor y = predict(net, x);
  y[b - 1] = (y[b - 1] + 1) % 4;  // misclassified: norm 0, never robust
  const torch::Tensor z = x.flatten(1).mm(net.weight().t()) + net.bias();
  const torch::Tensor w = net.weight().detach();
  std::vector<double> exact(b, std::numeric_limits<double>::infinity());
  for (int64_t i = 0; i < b - 1; ++i) {
    const int64_t yi = y[i].item<int64_t>();
    torch::Tensor closest;
    for (int64_t j = 0; j < 4; ++j) {
      if (j == yi) continue;
      const torch::Tensor dw = w[yi] - w[j];
      const double dist = ((z[i][yi] - z[i][j]) / dw.norm()).item<double>();
      if (dist < exact[static_cast<std::size_t>(i)]) {
        exact[static_cast<std::size_t>(i)] = dist;
        closest = x[i].flatten() - (z[i][yi] - z[i][j]) / dw.pow(2).sum() * dw;
      }
    }
    ASSERT_TRUE(closest.min().item<double>() >= 0 && closest.max().item<double>() <= 1)
        << "the test needs the closest boundary point inside [0, 1]^d (sample " << i << ")";
  }
  AttackOptions o;
  o.steps = 300;
  o.binary_steps = 9;
  o.initial_const = 1e-2;
  o.learning_rate = 1e-2;
  const AttackOutput out = make_attack("cw-l2", o)->run(net, x, y, torch::arange(b, torch::kInt64));
  for (int64_t i = 0; i < b - 1; ++i) {
    const double e = exact[static_cast<std::size_t>(i)];
    const double found = out.norm[i].item<double>();
    EXPECT_GE(found, e - 1e-6) << "sample " << i;
    EXPECT_LE(found, e * 1.05 + 1e-3) << "sample " << i;
  }
  EXPECT_EQ(out.norm[b - 1].item<float>(), 0.0f);
  EXPECT_FALSE(out.robust.any().item<bool>());
  // Accuracy at ε from the minimal norms.
  const torch::Tensor at0 = robust_at(out, 0.0);
  EXPECT_EQ(at0.sum().item<int64_t>(), b - 1);
  EXPECT_FALSE(robust_at(out, 1.0).any().item<bool>());
  // The found points are adversarial: some other logit reaches z_y.
  const torch::Tensor za = out.x_adv.flatten(1).mm(w.t()) + net.bias();
  for (int64_t i = 0; i < b - 1; ++i) {
    const int64_t yi = y[i].item<int64_t>();
    const torch::Tensor others = za[i].index_fill(0, torch::tensor({yi}), -1e300);
    EXPECT_GE((others.max() - za[i][yi]).item<double>(), -1e-9);
  }
}

/// Sets HostPoll's test lag for the scope.
struct PollLag {
  explicit PollLag(int polls) { HostPoll::set_test_lag(polls); }
  ~PollLag() { HostPoll::set_test_lag(0); }
};

/// TestNet that counts its forward passes.
class CountedNet : public TestNet {
 public:
  using TestNet::TestNet;
  torch::Tensor forward(const torch::Tensor& x) override {
    ++forwards;
    return TestNet::forward(x);
  }
  int64_t forwards = 0;
};

// CW-L2 stops a binary-search step once no sample moves, learning it from a copy it polls without
// waiting. On a GPU the copy may land a few checks late; the steps in between repeat the same
// iterates, so the results must not change. The lag here stands in for a busy GPU: 0 (the stop
// as soon as it is true), 2 checks late, and never (every step runs).
TEST(CwL2, EarlyAbortLandingLateChangesNothing) {
  const std::vector<int64_t> shape{3, 4, 4};
  torch::manual_seed(21);
  const int64_t b = 6;
  const torch::Tensor x = torch::rand({b, 3, 4, 4}, torch::kFloat64) * 0.2 + 0.4;
  AttackOptions o;
  o.steps = 200;
  o.binary_steps = 3;
  o.initial_const = 1e-2;
  o.learning_rate = 5e-2;
  struct Run {
    AttackOutput out;
    int64_t forwards;
  };
  const auto run = [&](int lag) {
    CountedNet net(TestNet::kAffine, shape, 4, 8);
    net.to_dtype(torch::kFloat64);
    net.eval();
    torch::Tensor y = predict(net, x);
    y[b - 1] = (y[b - 1] + 1) % 4;  // misclassified: never moves, must not hold the stop back
    net.forwards = 0;
    const PollLag guard(lag);
    Run r{make_attack("cw-l2", o)->run(net, x, y, torch::arange(b, torch::kInt64)), 0};
    r.forwards = net.forwards;
    return r;
  };
  const Run now = run(0), late = run(2), never = run(1000000);
  for (const Run* r : {&late, &never}) {
    EXPECT_TRUE(torch::equal(r->out.x_adv, now.out.x_adv));
    EXPECT_TRUE(torch::equal(r->out.norm, now.out.norm));
    EXPECT_TRUE(torch::equal(r->out.robust, now.out.robust));
    EXPECT_TRUE(torch::equal(r->out.nonfinite, now.out.nonfinite));
  }
  // Not vacuous: the stop fired (fewer forward passes than running every step), and late.
  EXPECT_EQ(never.forwards, 1 + o.binary_steps * o.steps);
  EXPECT_LT(now.forwards, late.forwards);
  EXPECT_LT(late.forwards, never.forwards);
  EXPECT_TRUE(now.out.norm.narrow(0, 0, b - 1).isfinite().all().item<bool>());
}

}  // namespace
}  // namespace sfb::attacks
