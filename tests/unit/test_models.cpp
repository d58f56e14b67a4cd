// Native zoo: shapes, g = head ∘ features, batch-split independence, taps, replaced layers,
// activations, factory.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "models/activation.hpp"
#include "models/factory.hpp"
#include "models/native_model.hpp"
#include "models/zoo.hpp"

namespace sfb::models {
namespace {

double max_abs_diff(const torch::Tensor& a, const torch::Tensor& b) {
  return (a - b).abs().max().item<double>();
}

int64_t count_parameters(NativeModel& m) {
  int64_t n = 0;
  for (const auto& p : m.parameters()) n += p.numel();
  return n;
}

struct ZooCase {
  std::string arch;
  std::vector<int64_t> image_shape;
  int64_t batch;
  int64_t num_classes;
  int64_t k;
  // Published counts: torchvision docs (ResNets), WRN-28-10 / WRN-34-10 as TRADES and RobustBench
  // report them; PreActResNet-18 = the common CIFAR count 11,171,146 + its final BN (2 × 512).
  int64_t parameters;
};

class ZooShapes : public ::testing::TestWithParam<ZooCase> {};

TEST_P(ZooShapes, ShapesParameterCountAndHeadOfFeaturesEqualsForward) {
  const ZooCase& c = GetParam();
  torch::NoGradGuard no_grad;
  ModelOptions o = c.num_classes == 1000 ? imagenet_options() : cifar10_options();
  o.image_shape = c.image_shape;
  auto model = make_zoo_model(c.arch, o);
  model->eval();
  EXPECT_EQ(model->arch(), c.arch);
  EXPECT_EQ(model->name(), "zoo:" + c.arch);
  EXPECT_EQ(model->num_features(), c.k);
  EXPECT_EQ(model->num_classes(), c.num_classes);
  EXPECT_EQ(count_parameters(*model), c.parameters);
  const torch::Tensor x =
      torch::rand({c.batch, c.image_shape[0], c.image_shape[1], c.image_shape[2]});
  const torch::Tensor a = model->features(x);
  const torch::Tensor z = model->forward(x);
  ASSERT_EQ(a.sizes(), torch::IntArrayRef({c.batch, c.k}));
  ASSERT_EQ(z.sizes(), torch::IntArrayRef({c.batch, c.num_classes}));
  EXPECT_LE(max_abs_diff(model->head(a), z), 1e-6);
  EXPECT_TRUE(torch::isfinite(z).all().item<bool>());
  EXPECT_EQ(model->layer_names().back(), "features");
}

INSTANTIATE_TEST_SUITE_P(
    Zoo, ZooShapes,
    ::testing::Values(ZooCase{"cnn-small", {3, 32, 32}, 2, 10, 128, 94'762},
                      ZooCase{"preact-resnet-18", {3, 32, 32}, 2, 10, 512, 11'172'170},
                      ZooCase{"wrn-28-10", {3, 32, 32}, 1, 10, 640, 36'479'194},
                      ZooCase{"wrn-34-10", {3, 32, 32}, 1, 10, 640, 46'160'474},
                      // DeepMind's models: parameter counts of RobustBench's DMWideResNet and
                      // DMPreActResNet (its 3×3 shortcuts)
                      ZooCase{"dm-preact-resnet-18", {3, 32, 32}, 2, 10, 512, 12'548'426},
                      ZooCase{"dm-wrn-28-10", {3, 32, 32}, 1, 10, 640, 36'479'194},
                      ZooCase{"dm-wrn-70-16", {3, 32, 32}, 1, 10, 1024, 266'796'506},
                      ZooCase{"resnet-18", {3, 64, 64}, 2, 1000, 512, 11'689'512},
                      ZooCase{"resnet-34", {3, 64, 64}, 1, 1000, 512, 21'797'672},
                      ZooCase{"resnet-50", {3, 224, 224}, 1, 1000, 2048, 25'557'032}),
    [](const auto& info) {
      std::string n = info.param.arch;
      for (auto& ch : n) ch = (ch == '-') ? '_' : ch;
      return n;
    });

class BatchSplit : public ::testing::TestWithParam<std::string> {};

TEST_P(BatchSplit, EvalOutputsDoNotDependOnTheBatchSplit) {
  torch::NoGradGuard no_grad;
  ModelOptions o;
  o.image_shape = {3, 32, 32};
  auto model = make_zoo_model(GetParam(), o);
  model->eval();
  const torch::Tensor x = torch::rand({5, 3, 32, 32});
  const torch::Tensor whole = model->forward(x);
  const torch::Tensor pieces =
      torch::cat({model->forward(x.slice(0, 0, 1)), model->forward(x.slice(0, 1, 3)),
                  model->forward(x.slice(0, 3, 5))});
  EXPECT_LE(max_abs_diff(whole, pieces), 1e-5);
  // In training mode BatchNorm uses batch statistics: the split matters (the test can fail).
  model->train(true);
  const torch::Tensor train_whole = model->forward(x);
  const torch::Tensor train_pieces =
      torch::cat({model->forward(x.slice(0, 0, 2)), model->forward(x.slice(0, 2, 5))});
  EXPECT_GT(max_abs_diff(train_whole, train_pieces), 1e-4);
}

INSTANTIATE_TEST_SUITE_P(Zoo, BatchSplit,
                         ::testing::Values("cnn-small", "preact-resnet-18", "resnet-18"),
                         [](const auto& info) {
                           std::string n = info.param;
                           for (auto& ch : n) ch = (ch == '-') ? '_' : ch;
                           return n;
                         });

TEST(ZooLayers, NamesAndTapsOfEachFamily) {
  ModelOptions o;
  EXPECT_EQ(make_zoo_model("cnn-small", o)->layer_names(),
            (std::vector<std::string>{"block1", "block2", "block3", "features"}));
  EXPECT_EQ(make_zoo_model("preact-resnet-18", o)->layer_names(),
            (std::vector<std::string>{"stem", "block1", "block2", "block3", "block4", "features"}));
  EXPECT_EQ(make_zoo_model("resnet-18", o)->layer_names(),
            (std::vector<std::string>{"stem", "layer1", "layer2", "layer3", "layer4", "features"}));
}

TEST(ZooLayers, TappedFeaturesEqualFeaturesAndStayInTheGraph) {
  auto model = make_zoo_model("preact-resnet-18", ModelOptions{});
  model->eval();
  const torch::Tensor x = torch::rand({2, 3, 32, 32});
  std::vector<torch::Tensor> taps;
  const torch::Tensor z = model->forward_tapped(x, {"block2", "features", "stem"}, taps);
  ASSERT_EQ(taps.size(), 3u);
  EXPECT_EQ(taps[0].sizes(), torch::IntArrayRef({2, 128, 16, 16}));
  EXPECT_EQ(taps[2].sizes(), torch::IntArrayRef({2, 64, 32, 32}));
  {
    torch::NoGradGuard no_grad;
    EXPECT_LE(max_abs_diff(taps[1], model->features(x)), 1e-6);
    EXPECT_LE(max_abs_diff(z, model->forward(x)), 1e-6);
  }
  // d z_0 / d features = W[0, :] (linear head), so the taps are part of the graph.
  const torch::Tensor g = torch::autograd::grad({z.select(1, 0).sum()}, {taps[1]}, {}, true)[0];
  const torch::Tensor w0 = model->named_parameters()["fc.weight"].select(0, 0);
  EXPECT_LE(max_abs_diff(g, w0.expand_as(g)), 1e-6);
  const torch::Tensor gb = torch::autograd::grad({z.sum()}, {taps[0]})[0];
  EXPECT_GT(gb.abs().sum().item<double>(), 0.0);
}

TEST(ZooLayers, UnknownLayerListsTheValidNames) {
  auto model = make_zoo_model("cnn-small", ModelOptions{});
  std::vector<torch::Tensor> taps;
  try {
    model->forward_tapped(torch::rand({1, 3, 32, 32}), {"block9"}, taps);
    FAIL() << "expected ConfigError";
  } catch (const ConfigError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("block9"), std::string::npos) << msg;
    EXPECT_NE(msg.find("block1, block2, block3, features"), std::string::npos) << msg;
  }
}

TEST(ZooLayers, ForwardReplacedWithTheOwnOutputIsForwardAndGradientsReachTheValue) {
  for (const std::string arch : {"cnn-small", "preact-resnet-18", "resnet-18"}) {
    ModelOptions o;
    o.activation = "softplus";  // smooth, for the finite difference
    o.seed = 5;
    auto model = make_zoo_model(arch, o);
    model->eval();
    model->to_dtype(torch::kFloat64);
    torch::manual_seed(6);
    const torch::Tensor x = torch::rand({2, 3, 32, 32}, torch::kFloat64);
    const torch::Tensor z = model->forward(x).detach();
    const auto names = model->layer_names();
    std::vector<torch::Tensor> taps;
    const torch::Tensor zt = model->forward_tapped(x, names, taps);
    const auto tap_grads = torch::autograd::grad({zt.select(1, 1).sum()}, taps);
    for (std::size_t i = 0; i < names.size(); ++i) {
      const std::string& name = names[i];
      const torch::Tensor own = taps[i].detach().requires_grad_(true);
      const torch::Tensor zo = model->forward_replaced(x, name, own);
      EXPECT_LE(max_abs_diff(zo, z), 1e-10) << arch << name;
      // at the layer's own output, d z_1 / d value is the gradient with respect to the tap
      const torch::Tensor go = torch::autograd::grad({zo.select(1, 1).sum()}, {own})[0];
      EXPECT_LE(max_abs_diff(go, tap_grads[i]), 1e-12) << arch << name;
      // A changed value changes the logits; d z_1 / d value matches a central difference along a
      // random direction d (a small step: max pooling has kinks).
      const torch::Tensor value = (own + 0.1 * torch::randn_like(own)).requires_grad_(true);
      const torch::Tensor zv = model->forward_replaced(x, name, value);
      EXPECT_GT(max_abs_diff(zv, z), 1e-4) << arch << name;
      const torch::Tensor g = torch::autograd::grad({zv.select(1, 1).sum()}, {value})[0];
      const torch::Tensor d = torch::randn_like(own);
      const double h = 1e-7;
      torch::NoGradGuard no_grad;
      const double fd = (model->forward_replaced(x, name, value.detach() + h * d) -
                         model->forward_replaced(x, name, value.detach() - h * d))
                            .select(1, 1)
                            .sum()
                            .item<double>() /
                        (2 * h);
      const double ad = (g * d).sum().item<double>();
      EXPECT_NEAR(ad, fd, 1e-6 * std::max(0.1, std::abs(fd))) << arch << name;
    }
  }
}

TEST(ZooLayers, ForwardReplacedRejectsUnknownLayersAndWrongShapes) {
  auto model = make_zoo_model("cnn-small", ModelOptions{});
  model->eval();
  const torch::Tensor x = torch::rand({2, 3, 32, 32});
  try {
    model->forward_replaced(x, "block9", torch::zeros({2, 64, 8, 8}));
    FAIL() << "expected ConfigError";
  } catch (const ConfigError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("block9"), std::string::npos) << msg;
    EXPECT_NE(msg.find("block1, block2, block3, features"), std::string::npos) << msg;
  }
  EXPECT_THROW(model->forward_replaced(x, "block2", torch::zeros({2, 64, 16, 16})), ConfigError);
  EXPECT_THROW(model->forward_replaced(x, "features", torch::zeros({2, 64})), ConfigError);
  EXPECT_EQ(model->forward_replaced(x, "block2", torch::zeros({2, 64, 8, 8})).sizes(),
            torch::IntArrayRef({2, 10}));
}

TEST(Activation, GuidedReluBackwardOnAHandDerivedCase) {
  const torch::Tensor x = torch::tensor({-1.0, 2.0, 3.0}, torch::requires_grad());
  const torch::Tensor y = guided_relu(x);
  EXPECT_TRUE(torch::equal(y.detach(), torch::tensor({0.0, 2.0, 3.0})));
  y.backward(torch::tensor({1.0, -1.0, 1.0}));
  EXPECT_TRUE(torch::equal(x.grad(), torch::tensor({0.0, 0.0, 1.0})));
  // Plain ReLU passes the negative gradient: the two differ exactly there.
  const torch::Tensor x2 = torch::tensor({-1.0, 2.0, 3.0}, torch::requires_grad());
  Activation relu("relu");
  relu(x2).backward(torch::tensor({1.0, -1.0, 1.0}));
  EXPECT_TRUE(torch::equal(x2.grad(), torch::tensor({0.0, -1.0, 1.0})));
}

TEST(Activation, ParsesKindsAndRejectsUnknownOnes) {
  Activation a("softplus:10");
  EXPECT_EQ(a.kind(), ActivationKind::kSoftplus);
  EXPECT_DOUBLE_EQ(a.softplus_beta(), 10.0);
  EXPECT_EQ(a.spec(), "softplus:10");
  const torch::Tensor x = torch::tensor({-2.0, 0.0, 0.5});
  EXPECT_LE(max_abs_diff(a(x), torch::log1p(torch::exp(10.0 * x)) / 10.0), 1e-6);
  a.set("softplus");
  EXPECT_LE(max_abs_diff(a(x), torch::log1p(torch::exp(x))), 1e-6);
  EXPECT_THROW(a.set("tanh"), ConfigError);
  EXPECT_THROW(a.set("softplus:-1"), ConfigError);
  EXPECT_EQ(a.spec(), "softplus");  // unchanged after a rejected spec
  try {
    Activation bad("gelu");
    FAIL() << "expected ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("guided-relu"), std::string::npos);
  }
}

TEST(Activation, SwapChangesEveryLayerOfAModel) {
  torch::NoGradGuard no_grad;
  auto model = make_zoo_model("cnn-small", ModelOptions{});
  model->eval();
  const torch::Tensor x = torch::rand({2, 3, 32, 32});
  std::vector<torch::Tensor> relu_taps, soft_taps;
  const torch::Tensor z_relu = model->forward_tapped(x, {"block1", "block3"}, relu_taps);
  model->set_activation("guided-relu");
  EXPECT_LE(max_abs_diff(model->forward(x), z_relu), 1e-6);  // same forward as ReLU
  model->set_activation("softplus");
  EXPECT_EQ(model->options().activation, "softplus");
  const torch::Tensor z_soft = model->forward_tapped(x, {"block1", "block3"}, soft_taps);
  EXPECT_GT(max_abs_diff(z_soft, z_relu), 1e-4);
  // ReLU outputs have exact zeros; Softplus outputs are strictly positive, in the first and last
  // block.
  for (std::size_t i = 0; i < 2; ++i) {
    EXPECT_EQ(relu_taps[i].min().item<double>(), 0.0);
    EXPECT_GT(soft_taps[i].min().item<double>(), 0.0);
  }
  model->set_activation("swish");  // x·sigmoid(x): DeepMind's
  const torch::Tensor t = torch::tensor({-2.0F, 0.0F, 3.0F});
  EXPECT_TRUE(torch::allclose(Activation("swish")(t), t * torch::sigmoid(t)));
  EXPECT_GT(max_abs_diff(model->forward(x), z_relu), 1e-4);
  model->set_activation("relu");
  EXPECT_LE(max_abs_diff(model->forward(x), z_relu), 1e-6);
  EXPECT_THROW(model->set_activation("mish"), ConfigError);
}

TEST(Zoo, SeedDeterminesTheWeightsAndLeavesTheGlobalStreamAlone) {
  ModelOptions o;
  o.seed = 7;
  torch::manual_seed(99);
  const std::string f1 = make_zoo_model("cnn-small", o)->fingerprint();
  const torch::Tensor after = torch::rand({4});
  torch::manual_seed(99);
  EXPECT_TRUE(torch::equal(after, torch::rand({4})));
  EXPECT_EQ(make_zoo_model("cnn-small", o)->fingerprint(), f1);
  o.seed = 8;
  EXPECT_NE(make_zoo_model("cnn-small", o)->fingerprint(), f1);
  EXPECT_EQ(f1.size(), 64u);
}

TEST(Zoo, NormalizationIsInsideTheModel) {
  torch::NoGradGuard no_grad;
  ModelOptions o;
  auto a = make_zoo_model("cnn-small", o);
  o.mean = {0.0, 0.0, 0.0};
  o.std = {1.0, 1.0, 1.0};
  auto b = make_zoo_model("cnn-small", o);  // same seed, same weights, no normalization
  a->eval();
  b->eval();
  const torch::Tensor x = torch::rand({2, 3, 32, 32});
  const auto mean = torch::tensor(kCifar10Mean, torch::kFloat32).view({1, 3, 1, 1});
  const auto std = torch::tensor(kCifar10Std, torch::kFloat32).view({1, 3, 1, 1});
  EXPECT_LE(max_abs_diff(a->forward(x), b->forward((x - mean) / std)), 1e-4);
}

TEST(Zoo, BadOptionsAndNamesAreConfigErrors) {
  ModelOptions o;
  o.mean = {0.5, 0.5};
  EXPECT_THROW(make_zoo_model("cnn-small", o), ConfigError);
  o = ModelOptions{};
  o.num_classes = 0;
  EXPECT_THROW(make_zoo_model("cnn-small", o), ConfigError);
  o = ModelOptions{};
  o.activation = "sigmoid";
  EXPECT_THROW(make_zoo_model("cnn-small", o), ConfigError);
  try {
    make_zoo_model("vgg-16", ModelOptions{});
    FAIL() << "expected ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("wrn-34-10"), std::string::npos);
  }
}

TEST(Factory, ParsesSpecsAndListsValidFormsOtherwise) {
  auto m = make_model("zoo:cnn-small", ModelOptions{});
  EXPECT_EQ(m->name(), "zoo:cnn-small");
  EXPECT_EQ(m->arch(), "cnn-small");
  for (const std::string bad : {"cnn-small", "zoo:", "zoo:vgg", "onnx:m.onnx", "zoo:cnn-small@"}) {
    try {
      make_model(bad, ModelOptions{});
      FAIL() << "expected ConfigError for " << bad;
    } catch (const ConfigError& e) {
      const std::string msg = e.what();
      EXPECT_NE(msg.find("torchscript:FILE"), std::string::npos) << msg;
      EXPECT_NE(msg.find("resnet-50"), std::string::npos) << msg;
      EXPECT_EQ(e.exit_code(), ExitCode::kBadInput);
    }
  }
  EXPECT_THROW(make_model("torchscript:/nonexistent/m.pt", ModelOptions{}), DataError);
  EXPECT_THROW(make_model("checkpoint:/nonexistent/c.ckpt", ModelOptions{}), DataError);
  EXPECT_THROW(make_model("zoo:cnn-small@/nonexistent/w.pt", ModelOptions{}), DataError);
}

}  // namespace
}  // namespace sfb::models
