// SPEC §3 sanity on a trained model: clean ≥ FGSM ≥ PGD-20 ≥ APGD-CE ≥ AutoAttack accuracy (one
// sample of slack between neighbours: the attacks draw different random starts). A small CNN is
// trained for a few hundred steps on synthetic-shapes so the accuracies are far from 0 and 1 at
// ε = 2/255 and the ordering says something.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "attacks/attack_stage.hpp"
#include "data/module_classifier.hpp"
#include "data/synthetic_shapes.hpp"

namespace sfb::attacks {
namespace {

class TrainedCnn : public test::ModuleClassifier {
 public:
  TrainedCnn() : ModuleClassifier("trained-cnn") {
    c1_ = register_module("c1", torch::nn::Conv2d(torch::nn::Conv2dOptions(3, 16, 3).padding(1)));
    c2_ = register_module("c2", torch::nn::Conv2d(torch::nn::Conv2dOptions(16, 32, 3).padding(1)));
    c3_ = register_module("c3", torch::nn::Conv2d(torch::nn::Conv2dOptions(32, 48, 3).padding(1)));
    fc_ = register_module("fc", torch::nn::Linear(48, 10));
  }
  torch::Tensor features(const torch::Tensor& x) override {
    auto h = torch::max_pool2d(torch::relu(c1_(x)), 2);
    h = torch::max_pool2d(torch::relu(c2_(h)), 2);
    return torch::relu(c3_(h)).amax({2, 3});
  }
  torch::Tensor head(const torch::Tensor& a) override { return fc_(a); }
  int64_t num_features() const override { return 48; }
  int64_t num_classes() const override { return 10; }

 private:
  torch::nn::Conv2d c1_{nullptr}, c2_{nullptr}, c3_{nullptr};
  torch::nn::Linear fc_{nullptr};
};

TEST(AttackOrdering, StrongerAttacksNeverLeaveMoreRobustSamples) {
  torch::manual_seed(0);
  torch::set_num_threads(2);
  data::SyntheticShapesOptions so;
  so.n = 4000;
  so.seed = 2024;
  data::SyntheticShapes train(so);
  std::vector<int64_t> all(4000);
  for (int64_t i = 0; i < 4000; ++i) all[i] = i;
  data::Batch b = train.get(all);
  auto net = std::make_shared<TrainedCnn>();
  torch::optim::Adam opt(net->parameters(), torch::optim::AdamOptions(2e-3));
  for (int64_t step = 0; step < 400; ++step) {
    const int64_t at = (step * 32) % 4000;
    opt.zero_grad();
    torch::cross_entropy_loss(net->forward(b.images.slice(0, at, at + 32)),
                              b.labels.slice(0, at, at + 32))
        .backward();
    opt.step();
  }
  net->train(false);
  for (auto& p : net->parameters()) p.mutable_grad() = torch::Tensor();
  so.split = data::Split::kTest;
  so.n = 96;
  data::SyntheticShapes test(so);
  std::vector<int64_t> idx(96);
  for (int64_t i = 0; i < 96; ++i) idx[i] = i;
  torch::Tensor correct;
  {
    torch::NoGradGuard ng;
    const data::Batch tb = test.get(idx);
    correct = net->forward(tb.images).argmax(1).eq(tb.labels);
  }
  AttackConfig cfg;
  cfg.eps = 2.0 / 255;
  cfg.list = {"fgsm", "pgd:steps=20", "apgd-ce:steps=20",
              "autoattack:steps=10:queries=100:targets=3"};
  AttackRunner runner(*net, plan_attacks(cfg, {3, 32, 32}, 10, 5), Range{0, 96}, correct,
                      torch::kFloat32, torch::kCPU, false);
  for (int64_t s = 0; s < runner.num_stages(); ++s) runner.run_stage(s, test, 32, false);
  std::vector<int64_t> robust{correct.sum().item<int64_t>()};
  for (const auto& l : runner.local()) robust.push_back(l.robust.sum().item<int64_t>());
  std::printf(
      "[ordering] robust of 96: clean %lld, fgsm %lld, pgd-20 %lld, apgd-ce %lld, autoattack "
      "%lld\n",
      (long long)robust[0], (long long)robust[1], (long long)robust[2], (long long)robust[3],
      (long long)robust[4]);
  // The model learned something, and every attack did something: each one broke at least one
  // correctly classified sample (its flags are a strict subset of the clean-correct ones).
  EXPECT_GE(robust[0], 40);
  const char* names[] = {"clean", "fgsm", "pgd-20", "apgd-ce", "autoattack"};
  for (std::size_t g = 0; g < runner.local().size(); ++g) {
    const torch::Tensor& flags = runner.local()[g].robust;
    EXPECT_FALSE((flags & correct.logical_not()).any().item<bool>())
        << names[g + 1] << " calls a misclassified sample robust";
    EXPECT_LT(robust[g + 1], robust[0]) << names[g + 1] << " broke no sample";
  }
  for (std::size_t i = 1; i < robust.size(); ++i)
    EXPECT_LE(robust[i], robust[i - 1] + 1) << names[i] << " is weaker than " << names[i - 1];
  // AutoAttack runs APGD-CE first and then only attacks survivors, so it is never weaker than its
  // own first stage; against the separately seeded apgd-ce group one sample of slack.
  for (const auto& p : net->parameters()) EXPECT_FALSE(p.grad().defined());
}

}  // namespace
}  // namespace sfb::attacks
