// TorchScript models written by scripts/export_torchscript.py (protocol 2) against the native model
// with the same weights: RobustBench's PreActResNet-18 (the robustbench wheel's resnet.py, exported
// from its state_dict) gives the native zoo:preact-resnet-18's logits, layer taps and
// replacements, all nine attribution methods' maps, and the same SF-regularized training with
// every loss; its SF and PGD equal a float64 PyTorch computation on the original (unexported)
// model; the trained TorchScript file loads in sfbench and in Python's torch.jit.load with equal
// logits and resumes. A protocol-1 file refuses guided backprop and unknown layers naming the
// file. The files come from tests/unit/torchscript_models.py, run with SFB_PYTHON.
#include <gtest/gtest.h>
#include <torch/torch.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <map>
#include <memory>
#include <string>

#include "attacks/attack.hpp"
#include "attribution/method.hpp"
#include "core/error.hpp"
#include "core/hash.hpp"
#include "data/synthetic_shapes.hpp"
#include "data/train_fixtures.hpp"
#include "models/checkpoint.hpp"
#include "models/torch_save.hpp"
#include "models/torchscript.hpp"
#include "models/zoo.hpp"
#include "shapley/accumulator.hpp"
#include "shapley/taylor.hpp"
#include "train/trainer.hpp"

namespace sfb::models {
namespace {
namespace fs = std::filesystem;

double rel(const torch::Tensor& got, const torch::Tensor& want) {
  EXPECT_EQ(got.sizes(), want.sizes());
  return ((got.to(torch::kFloat64) - want.to(torch::kFloat64)).abs().max() /
          want.to(torch::kFloat64).abs().max())
      .item<double>();
}

std::string python(const std::string& args) {
  return std::string(SFB_PYTHON) + " " + SFB_SOURCE_DIR + "/tests/unit/torchscript_models.py " +
         args;
}

class TorchScriptModelsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = fs::temp_directory_path() / ("sfb_torchscript_" + std::to_string(::getpid()));
    const std::string cmd = python(dir_.string());
    ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
    const SavedValue in = read_torch_save(dir_ / "inputs.pt");
    x_ = std::get<torch::Tensor>(in.dict().at(0).second.v).to(torch::kFloat64);
    const SavedValue ref = read_torch_save(dir_ / "reference.pt");
    for (const auto& [k, v] : ref.dict()) {
      ref_[std::get<std::string>(k.v)] = std::get<torch::Tensor>(v.v);
    }
  }
  static void TearDownTestSuite() { fs::remove_all(dir_); }

  /// zoo:preact-resnet-18 with the state_dict's weights, float64, eval mode.
  static std::shared_ptr<NativeModel> native() {
    auto m = make_zoo_model("preact-resnet-18", ModelOptions{});
    load_weights(*m, dir_ / "rb_preact.pt");
    m->to_dtype(torch::kFloat64);
    m->train(false);
    return m;
  }
  /// The exported file (default ts.pt), float64, eval mode.
  static std::shared_ptr<TorchScriptModel> script(const std::string& file = "ts.pt") {
    auto m = std::make_shared<TorchScriptModel>(dir_ / file, std::vector<int64_t>{3, 32, 32},
                                                "torchscript:" + file);
    m->to_dtype(torch::kFloat64);
    m->train(false);
    return m;
  }

  static inline fs::path dir_;
  static inline torch::Tensor x_;
  static inline std::map<std::string, torch::Tensor> ref_;
};

TEST_F(TorchScriptModelsTest, OffersItsLayersReLUsLinearHeadAndExportRecord) {
  auto t = script();
  EXPECT_EQ(t->protocol(), 2);
  const auto names = t->layer_names();
  EXPECT_NE(std::find(names.begin(), names.end(), "layer4"), names.end());
  EXPECT_EQ(names.back(), "features");
  // Every block's two ReLUs (functional in RobustBench's PreActBlockV2) and the final one.
  EXPECT_GE(t->num_switchable_relus(), 17);
  EXPECT_NE(t->export_record().find(sha256_file(dir_ / "rb_preact.pt")), std::string::npos)
      << t->export_record();
  ASSERT_TRUE(t->linear_head().has_value());
  torch::NoGradGuard no_grad;
  const torch::Tensor a = t->features(x_);
  const auto [w, b] = *t->linear_head();
  EXPECT_LT(rel(torch::addmm(b, a, w.t()), t->head(a)), 1e-12);
}

TEST_F(TorchScriptModelsTest, LogitsTapsAndReplacementsEqualTheNativeModel) {
  auto n = native();
  auto t = script();
  torch::NoGradGuard no_grad;
  EXPECT_LT(rel(t->forward(x_), n->forward(x_)), 1e-10);
  // RobustBench's layerN is the native model's blockN.
  std::vector<torch::Tensor> tt, nt;
  const std::vector<std::string> names = {"layer2", "layer4", "features"};
  EXPECT_LT(rel(t->forward_tapped(x_, names, tt), n->forward(x_)), 1e-10);
  n->forward_tapped(x_, {"block2", "block4", "features"}, nt);
  for (size_t i = 0; i < names.size(); ++i) EXPECT_LT(rel(tt[i], nt[i]), 1e-10) << names[i];
  const torch::Tensor v = nt[1] * 1.5 - 0.1;
  EXPECT_LT(rel(t->forward_replaced(x_, "layer4", v), n->forward_replaced(x_, "block4", v)), 1e-10);
  EXPECT_GT(rel(t->forward_replaced(x_, "layer4", v), n->forward(x_)), 1e-3);
  // The taps are reset: a plain forward is the model's again.
  EXPECT_LT(rel(t->forward(x_), n->forward(x_)), 1e-10);
  try {
    t->forward_replaced(x_, "layer4", v.narrow(1, 0, 10));
    ADD_FAILURE() << "a mis-shaped replacement was accepted";
  } catch (const ConfigError& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find(c10::str(v.sizes())), std::string::npos) << m;
    EXPECT_NE(m.find(c10::str(v.narrow(1, 0, 10).sizes())), std::string::npos) << m;
  }
  try {
    t->forward_tapped(x_, {"layer9"}, tt);
    ADD_FAILURE() << "an unknown layer was tapped";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("layer4"), std::string::npos) << e.what();
  }
}

TEST_F(TorchScriptModelsTest, SfAndPgdEqualPyTorchOnTheOriginalModel) {
  auto t = script();
  const torch::Tensor y = ref_.at("y");
  const torch::Tensor index = torch::arange(4, torch::kInt64);
  shapley::ShapleyProbe probe(*t, shapley::ProbeOptions{}, {3, 32, 32}, torch::kFloat64,
                              torch::kCPU);
  EXPECT_TRUE(probe.uses_fast_path());  // the file's Linear head
  const torch::Tensor big_c = probe.compute(x_, y, index).c.mean(0);
  EXPECT_LT(rel(big_c, ref_.at("C")), 1e-10);
  EXPECT_LT(rel(shapley::sf_of(big_c).reshape({1}), ref_.at("sf")), 1e-10);

  attacks::AttackOptions o;
  o.eps = 0.25 / 255;
  o.step_size = 0.0625 / 255;
  o.steps = 5;
  o.random_start = false;
  o.loss = "ce";
  const attacks::AttackOutput out = attacks::make_attack("pgd", o)->run(*t, x_, y, index);
  EXPECT_TRUE(torch::equal(out.robust.to(torch::kUInt8), ref_.at("robust")))
      << out.robust << ref_.at("robust");
  EXPECT_LT((out.x_adv.to(torch::kFloat64) - ref_.at("x_adv")).abs().max().item<double>(), 1e-6);
  EXPECT_GT((out.x_adv.to(torch::kFloat64) - x_).abs().max().item<double>(), 0.2 / 255);
  // Some samples hold and some break: the flags compare something.
  const int64_t held = ref_.at("robust").sum().item<int64_t>();
  EXPECT_GT(held, 0);
  EXPECT_LT(held, 3);
}

TEST_F(TorchScriptModelsTest, AllNineAttributionMethodsEqualTheNativeModel) {
  auto n = native();
  auto t = script();
  const torch::Tensor y = torch::tensor({0, 3, 5, 9}, torch::kInt64);
  const torch::Tensor keys = torch::arange(4, torch::kInt64);
  attribution::MethodOptions o;
  o.steps = 4;
  o.samples = 3;
  o.layer = "layer4";
  o.ig_layer = "layer4";
  o.seed = 11;
  attribution::MethodOptions on = o;
  on.layer = "block4";
  on.ig_layer = "block4";
  EXPECT_EQ(attribution::method_names().size(), 9u);
  for (const auto& name : attribution::method_names()) {
    const torch::Tensor want = attribution::make_method(name, on)->attribute(*n, x_, y, keys);
    const torch::Tensor got = attribution::make_method(name, o)->attribute(*t, x_, y, keys);
    EXPECT_GT(want.abs().max().item<double>(), 0) << name;
    EXPECT_LT(rel(got, want), 1e-8) << name;
  }
  // Guided backprop is not the plain gradient: the hooks are what makes the two agree.
  auto guided = attribution::make_method("guided-backprop", o);
  auto saliency = attribution::make_method("saliency", o);
  EXPECT_GT(rel(guided->attribute(*t, x_, y, keys).abs(), saliency->attribute(*t, x_, y, keys)),
            1e-2);
}

TEST_F(TorchScriptModelsTest, ProtocolOneRefusesGuidedBackpropAndHiddenLayersNamingTheFile) {
  auto p1 = script("p1.pt");
  EXPECT_EQ(p1->protocol(), 1);
  EXPECT_EQ(p1->layer_names(), std::vector<std::string>{"features"});
  try {
    p1->set_activation("guided-relu");
    ADD_FAILURE() << "guided-relu accepted";
  } catch (const ConfigError& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("p1.pt"), std::string::npos) << m;
    EXPECT_NE(m.find("re-export"), std::string::npos) << m;
  }
  std::vector<torch::Tensor> taps;
  EXPECT_THROW(p1->forward_tapped(x_, {"conv"}, taps), ConfigError);
  auto t = script();
  EXPECT_THROW(t->set_activation("softplus"), ConfigError);
}

/// n synthetic 32×32 images of 10 classes.
data::SyntheticShapes shapes(int64_t n, uint64_t seed) {
  data::SyntheticShapesOptions so;
  so.n = n;
  so.image_size = 32;
  so.num_classes = 10;
  so.seed = seed;
  return data::SyntheticShapes(so);
}

/// One float64 epoch of `loss` with λ·SF (λ = 0.5) on global batches of 4.
train::TrainConfig train_config(const std::string& loss, int64_t attack_steps) {
  train::TrainConfig c;
  c.epochs = 1;
  c.batch_size = 4;
  c.loss = loss;
  c.attack_steps = attack_steps;
  c.sf_lambda = 0.5;
  c.lr = 0.01;
  c.dtype = "float64";
  return c;
}

TEST_F(TorchScriptModelsTest, EveryLossTrainsLikeTheNativeModel) {
  const data::SyntheticShapes ds = shapes(4, 4);
  test::SelfComm comm;
  for (const std::string loss : {"standard", "fgsm-at", "mart"}) {
    train::TrainConfig c = train_config(loss, 1);
    c.sf_target = "logprob";  // the autograd path of the regularizer
    auto n = native();
    auto t = script();
    train::Trainer tn(*n, ds, c, comm, 9, torch::kCPU, "");
    train::Trainer tt(*t, ds, c, comm, 9, torch::kCPU, "");
    ASSERT_EQ(tn.run("", false), train::RunStatus::kFinished);
    ASSERT_EQ(tt.run("", false), train::RunStatus::kFinished);
    const auto& hn = tn.history()[0].terms;
    const auto& ht = tt.history()[0].terms;
    ASSERT_EQ(ht.size(), hn.size()) << loss;
    for (size_t i = 0; i < hn.size(); ++i) {
      EXPECT_NEAR(ht[i], hn[i], 1e-8 * std::max(1.0, std::abs(hn[i])))
          << loss << " " << tt.term_names()[i];
    }
    n->train(false);
    t->train(false);
    torch::NoGradGuard no_grad;
    EXPECT_LT(rel(t->forward(x_), n->forward(x_)), 1e-8) << loss;
  }
}

TEST_F(TorchScriptModelsTest, SfRegularizedPgdTrainingEqualsNativeAndTheFileLoadsInPython) {
  const data::SyntheticShapes ds = shapes(8, 3);
  const train::TrainConfig c = train_config("pgd-at", 2);
  test::SelfComm comm;
  auto n = native();
  auto t = script();
  train::Trainer tn(*n, ds, c, comm, 7, torch::kCPU, "");
  ASSERT_EQ(tn.run(dir_ / "native.ckpt", false), train::RunStatus::kFinished);
  train::Trainer tt(*t, ds, c, comm, 7, torch::kCPU, "[train]\nloss = \"pgd-at\"\n");
  ASSERT_EQ(tt.run(dir_ / "ts.ckpt", false), train::RunStatus::kFinished);
  ASSERT_EQ(tt.history().size(), 1u);
  const auto& hn = tn.history()[0].terms;
  const auto& ht = tt.history()[0].terms;
  ASSERT_EQ(ht.size(), hn.size());
  for (size_t i = 0; i < hn.size(); ++i) {
    EXPECT_NEAR(ht[i], hn[i], 1e-8 * std::max(1.0, std::abs(hn[i]))) << tt.term_names()[i];
  }
  EXPECT_GT(hn[hn.size() - 2], 0);  // the SF term took part
  n->train(false);
  t->train(false);
  torch::NoGradGuard no_grad;
  const torch::Tensor trained = t->forward(x_);
  EXPECT_LT(rel(trained, n->forward(x_)), 1e-8);
  EXPECT_GT(rel(trained, script()->forward(x_)), 1e-6);  // training moved the weights

  // The checkpoint is a TorchScript file: sfbench and Python load it with the trained logits.
  auto back = script("ts.ckpt");
  EXPECT_LT(rel(back->forward(x_), trained), 1e-12);
  const std::string cmd = python("--logits " + (dir_ / "ts.ckpt").string() + " " +
                                 (dir_ / "inputs.pt").string() + " " + (dir_ / "py.pt").string());
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  const SavedValue py = read_torch_save(dir_ / "py.pt");
  EXPECT_LT(rel(std::get<torch::Tensor>(py.dict().at(0).second.v), trained), 1e-10);

  // --resume restores weights and progress into a fresh model from the file.
  train::TrainConfig c2 = c;
  c2.epochs = 2;
  auto fresh = script();
  torch::AutoGradMode grad(true);
  train::Trainer tr(*fresh, ds, c2, comm, 7, torch::kCPU, "");
  ASSERT_TRUE(tr.resume(dir_ / "ts.ckpt"));
  EXPECT_EQ(tr.state().epochs_done, 1);
  fresh->train(false);
  {
    torch::NoGradGuard ng;
    EXPECT_LT(rel(fresh->forward(x_), trained), 1e-12);
  }
  ASSERT_EQ(tr.run(dir_ / "ts.ckpt", false), train::RunStatus::kFinished);
  EXPECT_EQ(tr.history().size(), 2u);
  // A native checkpoint does not resume a TorchScript run.
  auto other = script();
  train::Trainer wrong(*other, ds, c2, comm, 7, torch::kCPU, "");
  EXPECT_THROW(wrong.resume(dir_ / "native.ckpt"), DataError);
}

}  // namespace
}  // namespace sfb::models
