// zoo:NAME@FILE with a state_dict from Python's torch.save: the published layouts (RobustBench
// WideResNet and PreActResNet, DeepMind's DMWideResNet and DMPreActResNet from the robustbench
// wheel's architecture files, torchvision resnet18/50), saved as their users save them, give the
// published model's logits; the layouts and files sfbench cannot map are refused naming the file
// and the tensor. The files and the float64 reference logits come from
// tests/unit/state_dict_models.py, run with SFB_PYTHON.
#include <gtest/gtest.h>
#include <torch/torch.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "core/error.hpp"
#include "models/checkpoint.hpp"
#include "models/torch_save.hpp"
#include "models/zoo.hpp"

namespace sfb::models {
namespace {
namespace fs = std::filesystem;

class StateDictTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = fs::temp_directory_path() / ("sfb_state_dict_" + std::to_string(::getpid()));
    const std::string cmd = std::string(SFB_PYTHON) + " " + SFB_SOURCE_DIR +
                            "/tests/unit/state_dict_models.py " + dir_.string();
    ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
    const SavedValue ref = read_torch_save(dir_ / "reference.pt");
    ASSERT_TRUE(ref.is_dict());
    for (const auto& [k, v] : ref.dict()) {
      ref_[std::get<std::string>(k.v)] = std::get<torch::Tensor>(v.v);
    }
  }
  static void TearDownTestSuite() { fs::remove_all(dir_); }

  /// zoo:arch with the file's weights; float32, eval mode.
  static std::shared_ptr<NativeModel> load(const std::string& arch, const std::string& file,
                                           const ModelOptions& o) {
    auto m = make_zoo_model(arch, o);
    load_weights(*m, dir_ / file);
    m->train(false);
    return m;
  }

  /// max |native − reference| relative to max |reference|.
  static double rel_error(NativeModel& m, const std::string& input, const std::string& key) {
    torch::NoGradGuard no_grad;
    const torch::Tensor got = m.forward(ref_.at(input)).to(torch::kFloat64);
    const torch::Tensor want = ref_.at(key);
    EXPECT_EQ(got.sizes(), want.sizes());
    return ((got - want).abs().max() / want.abs().max()).item<double>();
  }

  /// The DataError message of loading `file` into zoo:arch.
  static std::string refusal(const std::string& arch, const std::string& file) {
    try {
      load(arch, file, ModelOptions{});
    } catch (const DataError& e) {
      return e.what();
    }
    ADD_FAILURE() << file << " loaded into " << arch;
    return "";
  }

  static inline fs::path dir_;
  static inline std::map<std::string, torch::Tensor> ref_;
};

TEST_F(StateDictTest, RobustBenchWideResNetCheckpointFromDataParallel) {
  auto m = load("wrn-28-10", "rb_wrn_28_10.pt", ModelOptions{});
  EXPECT_LT(rel_error(*m, "x_cifar", "rb_wrn_28_10"), 1e-5);
  // The published WideResNet takes [0, 1] inputs: no normalization, whatever the dataset's.
  EXPECT_EQ(m->options().mean, std::vector<double>({0.0, 0.0, 0.0}));
  EXPECT_EQ(m->options().std, std::vector<double>({1.0, 1.0, 1.0}));
}

TEST_F(StateDictTest, RobustBenchPreActResNetWithItsOwnNormalization) {
  auto m = load("preact-resnet-18", "rb_preact.pt", ModelOptions{});
  EXPECT_LT(rel_error(*m, "x_cifar", "rb_preact"), 1e-5);
  EXPECT_NEAR(m->options().std[0], 0.2471, 1e-7);  // the file's sigma, not sfbench's 0.2470
}

TEST_F(StateDictTest, DeepMindWideResNetWithSwishAndSamePadding) {
  auto m = load("dm-wrn-28-10", "dm_wrn_28_10.pt", ModelOptions{});
  EXPECT_LT(rel_error(*m, "x_cifar", "dm_wrn_28_10"), 1e-5);
  EXPECT_EQ(m->options().activation, "swish");
  EXPECT_EQ(m->options().std, std::vector<double>({0.2471, 0.2435, 0.2616}));  // DeepMind's
}

TEST_F(StateDictTest, DeepMindPreActResNetWithRawInputShortcuts) {
  auto m = load("dm-preact-resnet-18", "dm_preact.pt", ModelOptions{});
  EXPECT_LT(rel_error(*m, "x_cifar", "dm_preact"), 1e-5);
  EXPECT_EQ(m->options().activation, "swish");
  EXPECT_EQ(m->options().std, std::vector<double>({0.2471, 0.2435, 0.2616}));  // DeepMind's
}

TEST_F(StateDictTest, TorchvisionResNetsNextToAnOptimizer) {
  ModelOptions o = imagenet_options();
  for (const auto& [arch, name] :
       {std::pair{"resnet-18", "tv_resnet18"}, {"resnet-50", "tv_resnet50"}}) {
    auto m = load(arch, std::string(name) + ".pt", o);
    EXPECT_LT(rel_error(*m, "x_imagenet", name), 1e-5) << arch;
  }
}

TEST_F(StateDictTest, TheFingerprintIsTheFilesSha256) {
  auto a = load("preact-resnet-18", "rb_preact.pt", ModelOptions{});
  auto b = make_zoo_model("preact-resnet-18", ModelOptions{});
  EXPECT_EQ(a->fingerprint().size(), 64U);
  EXPECT_NE(a->fingerprint(), b->fingerprint());
}

TEST_F(StateDictTest, LayoutsWithoutANativeModelAreRefusedNamingTheTensor) {
  // RobustBench's default PreActResNet18() has no final BatchNorm.
  std::string e = refusal("preact-resnet-18", "rb_preact_default.pt");
  EXPECT_NE(e.find("missing tensor 'bn."), std::string::npos) << e;
  EXPECT_NE(e.find("rb_preact_default.pt"), std::string::npos) << e;
  e = refusal("preact-resnet-18", "dm_preact.pt");
  EXPECT_NE(e.find("DMPreActResNet state_dict; load it into zoo:dm-preact-resnet-18"),
            std::string::npos)
      << e;
  e = refusal("wrn-28-10", "dm_wrn_28_10.pt");  // the TRADES layout's zoo model
  EXPECT_NE(e.find("zoo:dm-wrn-28-10, dm-wrn-70-16, not zoo:wrn-28-10"), std::string::npos) << e;
  // A layout of another zoo model names the right one.
  e = refusal("resnet-18", "rb_wrn_28_10.pt");
  EXPECT_NE(e.find("zoo:wrn-28-10, wrn-34-10, not zoo:resnet-18"), std::string::npos) << e;
  // The same layout at another size: the first mis-shaped tensor, by its name in the file.
  e = refusal("wrn-34-10", "rb_wrn_28_10.pt");
  EXPECT_NE(e.find("missing tensor 'block1.4.bn1"), std::string::npos) << e;
  e = refusal("resnet-18", "tv_resnet50.pt");
  EXPECT_NE(e.find("unexpected tensor 'layer1.0.bn3.bias'"), std::string::npos) << e;
  // 10 classes in the file, 100 in the model.
  ModelOptions c100;
  c100.num_classes = 100;
  try {
    load("wrn-28-10", "rb_wrn_28_10.pt", c100);
    ADD_FAILURE() << "a 10-class head loaded into a 100-class model";
  } catch (const DataError& err) {
    e = err.what();
    EXPECT_NE(e.find("tensor 'module.fc.bias' has shape [10], zoo:wrn-28-10 expects [100]"),
              std::string::npos)
        << e;
  }
}

TEST_F(StateDictTest, FilesThatAreNotStateDictsAreRefused) {
  std::string e = refusal("wrn-28-10", "metadata.pt");
  EXPECT_NE(e.find("entry 'epoch' holds an int, not a tensor"), std::string::npos) << e;
  // A truncated copy: the zip reader or the pickle notices.
  std::ifstream in(dir_ / "rb_preact.pt", std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::ofstream(dir_ / "cut.pt", std::ios::binary) << bytes.substr(0, bytes.size() / 2);
  EXPECT_THROW(load("preact-resnet-18", "cut.pt", ModelOptions{}), DataError);
}

}  // namespace
}  // namespace sfb::models
