// synthetic-shapes is learnable from shape but not from colour: a small CNN trained for a fixed
// number of steps on 2 threads beats chance by far on held-out test samples, while a
// nearest-centroid classifier on per-channel mean colours stays near chance.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "core/timer.hpp"
#include "data/synthetic_shapes.hpp"

namespace sfb::data {
namespace {

constexpr int64_t kTrain = 6000;
constexpr int64_t kTest = 1000;
constexpr int64_t kClasses = 10;

Batch load(Split split, int64_t n) {
  SyntheticShapesOptions o;
  o.split = split;
  o.seed = 2024;
  o.n = n;
  SyntheticShapes ds(o);
  std::vector<int64_t> idx(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) idx[static_cast<size_t>(i)] = i;
  return ds.get(idx);
}

struct SmallCnn : torch::nn::Module {
  SmallCnn() {
    c1 = register_module("c1", torch::nn::Conv2d(torch::nn::Conv2dOptions(3, 16, 3).padding(1)));
    c2 = register_module("c2", torch::nn::Conv2d(torch::nn::Conv2dOptions(16, 32, 3).padding(1)));
    c3 = register_module("c3", torch::nn::Conv2d(torch::nn::Conv2dOptions(32, 48, 3).padding(1)));
    fc = register_module("fc", torch::nn::Linear(48, kClasses));
  }
  torch::Tensor forward(torch::Tensor x) {
    x = torch::max_pool2d(torch::relu(c1(x)), 2);  // 16x16
    x = torch::max_pool2d(torch::relu(c2(x)), 2);  // 8x8
    x = torch::relu(c3(x));
    x = torch::amax(x, {2, 3});  // global max pool: position-invariant
    return fc(x);
  }
  torch::nn::Conv2d c1{nullptr}, c2{nullptr}, c3{nullptr};
  torch::nn::Linear fc{nullptr};
};

TEST(ShapesLearnability, SmallCnnBeatsChanceOnHeldOutSamples) {
  torch::manual_seed(0);
  torch::set_num_threads(2);
  Batch train = load(Split::kTrain, kTrain);
  const Batch test = load(Split::kTest, kTest);
  auto net = std::make_shared<SmallCnn>();
  torch::optim::Adam opt(net->parameters(), torch::optim::AdamOptions(2e-3));
  constexpr int64_t kBatch = 32;
  constexpr int64_t kSteps = 800;  // 4 epochs; about 10-40 s on 2 threads, load permitting
  Stopwatch sw;
  for (int64_t step = 0; step < kSteps; ++step) {
    if (step % (kTrain / kBatch) == 0) {
      auto perm = torch::randperm(kTrain, torch::kInt64);
      train.images.copy_(train.images.index_select(0, perm));
      train.labels.copy_(train.labels.index_select(0, perm));
    }
    const int64_t b = (step % (kTrain / kBatch)) * kBatch;
    auto x = train.images.slice(0, b, b + kBatch);
    auto y = train.labels.slice(0, b, b + kBatch);
    opt.zero_grad();
    auto loss = torch::cross_entropy_loss(net->forward(x), y);
    loss.backward();
    opt.step();
  }
  net->eval();
  torch::NoGradGuard no_grad;
  const double acc =
      net->forward(test.images).argmax(1).eq(test.labels).to(torch::kFloat64).mean().item<double>();
  std::printf("[learnability] %lld steps in %.1f s, held-out accuracy %.3f\n",
              static_cast<long long>(kSteps), sw.seconds(), acc);
  EXPECT_GE(acc, 0.50);
}

TEST(ShapesLearnability, MeanColourBaselineStaysNearChance) {
  const Batch train = load(Split::kTrain, kTrain);
  const Batch test = load(Split::kTest, kTest);
  auto feat_train = train.images.mean({2, 3});  // [N,3]
  auto feat_test = test.images.mean({2, 3});
  auto centroids = torch::zeros({kClasses, 3});
  for (int64_t k = 0; k < kClasses; ++k) {
    centroids[k] = feat_train.index({train.labels == k}).mean(0);
  }
  auto pred = torch::cdist(feat_test, centroids).argmin(1);
  const double acc = pred.eq(test.labels).to(torch::kFloat64).mean().item<double>();
  std::printf("[learnability] mean-colour nearest-centroid accuracy %.3f\n", acc);
  EXPECT_LE(acc, 0.25);
}

}  // namespace
}  // namespace sfb::data
