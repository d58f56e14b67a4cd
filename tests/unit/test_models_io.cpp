// Checkpoints, weights files and the TorchScript adapter (incl. the Python export round trip).
#include <gtest/gtest.h>
#include <torch/script.h>
#include <torch/torch.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "core/hash.hpp"
#include "models/checkpoint.hpp"
#include "models/factory.hpp"
#include "models/torchscript.hpp"
#include "models/zoo.hpp"
#include "unit/temp_dir.hpp"

namespace sfb::models {
namespace {

namespace fs = std::filesystem;

double max_abs_diff(const torch::Tensor& a, const torch::Tensor& b) {
  return (a - b).abs().max().item<double>();
}

/// A fresh directory per test (TempDirTest), and a model to write.
class ModelsIo : public sfb::test::TempDirTest {
 protected:
  /// cnn-small with seed 3 whose BatchNorm running statistics are not the defaults.
  static std::shared_ptr<NativeModel> trained_looking_cnn() {
    ModelOptions o;
    o.seed = 3;
    auto m = make_zoo_model("cnn-small", o);
    torch::NoGradGuard no_grad;
    for (auto& b : m->named_buffers()) {
      if (b.key().find("running_var") != std::string::npos) b.value().uniform_(0.5, 2.0);
      if (b.key().find("running_mean") != std::string::npos) b.value().uniform_(-0.3, 0.3);
    }
    m->eval();
    return m;
  }
};

TEST_F(ModelsIo, CheckpointRoundTripGivesIdenticalOutputs) {
  auto model = trained_looking_cnn();
  model->set_activation("softplus:5");
  const fs::path file = dir_ / "run.ckpt";
  save_checkpoint(file, *model, "seed = 3\n", 7);
  EXPECT_TRUE(fs::exists(file));
  for (const auto& e : fs::directory_iterator(dir_)) {
    EXPECT_EQ(e.path().extension(), ".ckpt") << "left behind: " << e.path();
  }

  CheckpointInfo info;
  auto loaded = load_checkpoint(file, &info);
  EXPECT_EQ(info.arch, "cnn-small");
  EXPECT_EQ(info.epoch, 7);
  EXPECT_EQ(info.config_toml, "seed = 3\n");
  EXPECT_EQ(info.options.activation, "softplus:5");
  EXPECT_EQ(info.options.image_shape, (std::vector<int64_t>{3, 32, 32}));
  EXPECT_EQ(info.options.mean, kCifar10Mean);
  EXPECT_EQ(loaded->fingerprint(), sha256_file(file));
  EXPECT_EQ(loaded->name(), "checkpoint:" + file.string());

  torch::NoGradGuard no_grad;
  const torch::Tensor x = torch::rand({3, 3, 32, 32});
  EXPECT_TRUE(torch::equal(loaded->forward(x), model->forward(x)));
  // Through the factory, with options that the checkpoint's own replace.
  ModelOptions other = imagenet_options();
  auto via_spec = make_model("checkpoint:" + file.string(), other);
  EXPECT_EQ(via_spec->num_classes(), 10);
  EXPECT_TRUE(torch::equal(via_spec->forward(x), model->forward(x)));
}

TEST_F(ModelsIo, WeightsFromTorchSaveAndFromACheckpointLoadIntoZooSpecs) {
  auto model = trained_looking_cnn();
  const fs::path saved = dir_ / "module.pt";
  torch::save(std::static_pointer_cast<torch::nn::Module>(model), saved.string());
  const fs::path ckpt = dir_ / "c.ckpt";
  save_checkpoint(ckpt, *model);
  torch::NoGradGuard no_grad;
  const torch::Tensor x = torch::rand({2, 3, 32, 32});
  const torch::Tensor ref = model->forward(x);
  ModelOptions o;  // seed 0: different random init, so equality proves the weights were loaded
  for (const fs::path& f : {saved, ckpt}) {
    auto m = make_model("zoo:cnn-small@" + f.string(), o);
    EXPECT_TRUE(torch::equal(m->forward(x), ref)) << f;
    EXPECT_EQ(m->fingerprint(), sha256_file(f));
    EXPECT_EQ(m->name(), "zoo:cnn-small@" + f.string());
  }
}

TEST_F(ModelsIo, WrongArchitectureOrShapeIsAClearError) {
  auto model = trained_looking_cnn();
  const fs::path file = dir_ / "cnn.ckpt";
  save_checkpoint(file, *model);
  auto other = make_zoo_model("preact-resnet-18", ModelOptions{});
  try {
    load_weights(*other, file);
    FAIL() << "expected DataError";
  } catch (const DataError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("cnn-small"), std::string::npos) << msg;
    EXPECT_NE(msg.find("preact-resnet-18"), std::string::npos) << msg;
    EXPECT_NE(msg.find(file.string()), std::string::npos) << msg;
    EXPECT_EQ(e.exit_code(), ExitCode::kBadInput);
  }
  // A bare module archive of another architecture: the first missing tensor is named.
  const fs::path bare = dir_ / "bare.pt";
  torch::save(std::static_pointer_cast<torch::nn::Module>(model), bare.string());
  EXPECT_THROW(load_weights(*other, bare), DataError);
  // Same architecture, other class count: the shape mismatch is named.
  ModelOptions five;
  five.num_classes = 5;
  auto small = make_zoo_model("cnn-small", five);
  try {
    load_weights(*small, bare);
    FAIL() << "expected DataError";
  } catch (const DataError& e) {
    EXPECT_NE(std::string(e.what()).find("fc.weight"), std::string::npos) << e.what();
  }
}

TEST_F(ModelsIo, TruncatedOrForeignFilesAreDataErrors) {
  auto model = trained_looking_cnn();
  const fs::path file = dir_ / "full.ckpt";
  save_checkpoint(file, *model);
  std::ifstream in(file, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const fs::path cut = dir_ / "cut.ckpt";
  std::ofstream(cut, std::ios::binary).write(bytes.data(), bytes.size() / 2);
  const fs::path text = dir_ / "text.ckpt";
  std::ofstream(text) << "this is not a checkpoint\n";
  for (const fs::path& f : {cut, text}) {
    try {
      load_checkpoint(f);
      FAIL() << "expected DataError for " << f;
    } catch (const DataError& e) {
      EXPECT_NE(std::string(e.what()).find(f.string()), std::string::npos) << e.what();
      EXPECT_EQ(e.exit_code(), ExitCode::kBadInput);
    }
  }
  // A module archive is not a checkpoint (no metadata).
  const fs::path bare = dir_ / "bare.pt";
  torch::save(std::static_pointer_cast<torch::nn::Module>(model), bare.string());
  EXPECT_THROW(load_checkpoint(bare), DataError);
}

/// Writes a TorchScript module with the given methods (TorchScript source) and a [4, 3] weight.
fs::path write_script_module(const fs::path& file, const std::string& source) {
  torch::jit::Module m("Probe");
  m.register_parameter("w", torch::linspace(-1.0, 1.0, 12).view({4, 3}), false);
  m.define(source);
  m.save(file.string());
  return file;
}

const char* const kFeatures = R"(
def features(self, x):
    return x.mean([2, 3])
)";

TEST_F(ModelsIo, TorchScriptWithoutHeadIsRefusedNamingTheMethod) {
  const fs::path file = write_script_module(dir_ / "nohead.pt", std::string(kFeatures) + R"(
def forward(self, x):
    return torch.matmul(self.features(x), self.w.t())
)");
  try {
    TorchScriptModel m(file, {3, 8, 8}, "torchscript:" + file.string());
    FAIL() << "expected DataError";
  } catch (const DataError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("missing method(s) head"), std::string::npos) << msg;
    EXPECT_NE(msg.find(file.string()), std::string::npos) << msg;
  }
}

TEST_F(ModelsIo, TorchScriptWhoseHeadOfFeaturesDiffersIsRefused) {
  const fs::path file = write_script_module(dir_ / "bad.pt", std::string(kFeatures) + R"(
def head(self, a):
    return torch.matmul(a, self.w.t())
def forward(self, x):
    return torch.matmul(self.features(x), self.w.t()) + 0.01
)");
  try {
    TorchScriptModel m(file, {3, 8, 8}, "torchscript:" + file.string());
    FAIL() << "expected DataError";
  } catch (const DataError& e) {
    EXPECT_NE(std::string(e.what()).find("differs from forward"), std::string::npos) << e.what();
  }
}

TEST_F(ModelsIo, TorchScriptAdapterInfersSizesAndRefusesActivationSwaps) {
  const fs::path file = write_script_module(dir_ / "ok.pt", std::string(kFeatures) + R"(
def head(self, a):
    return torch.matmul(a, self.w.t())
def forward(self, x):
    return self.head(self.features(x))
)");
  ModelOptions o;
  o.image_shape = {3, 8, 8};
  auto m = make_model("torchscript:" + file.string(), o);
  EXPECT_EQ(m->num_features(), 3);
  EXPECT_EQ(m->num_classes(), 4);
  EXPECT_EQ(m->arch(), "torchscript");
  EXPECT_EQ(m->fingerprint(), sha256_file(file));
  EXPECT_EQ(m->layer_names(), std::vector<std::string>{"features"});
  EXPECT_THROW(m->set_activation("softplus"), ConfigError);
  const torch::Tensor x = torch::rand({2, 3, 8, 8});
  std::vector<torch::Tensor> taps;
  const torch::Tensor z = m->forward_tapped(x, {"features"}, taps);
  ASSERT_EQ(taps.size(), 1u);
  EXPECT_LE(max_abs_diff(taps[0], x.mean({2, 3})), 1e-6);
  EXPECT_LE(max_abs_diff(z, m->forward(x)), 1e-6);
  EXPECT_THROW(m->forward_tapped(x, {"block1"}, taps), ConfigError);
}

// A training run replaces only sfbench's own checkpoints: native ones and TorchScript files with
// sfbench's extra files. Written through an exclusive temporary file, never through a symlink.
TEST_F(ModelsIo, OnlySfbenchCheckpointsAreRecognizedAsReplaceable) {
  auto model = trained_looking_cnn();
  const fs::path native = dir_ / "native.ckpt";
  save_checkpoint(native, *model);
  EXPECT_TRUE(is_sfbench_checkpoint(native));
  const fs::path text = dir_ / "notes.ckpt";
  std::ofstream(text) << "my notes\n";
  EXPECT_FALSE(is_sfbench_checkpoint(text));
  EXPECT_FALSE(is_sfbench_checkpoint(dir_ / "missing.ckpt"));
  const fs::path bare = dir_ / "bare.pt";
  torch::save(std::static_pointer_cast<torch::nn::Module>(model), bare.string());
  EXPECT_FALSE(is_sfbench_checkpoint(bare)) << "a module archive is someone else's file";

  const fs::path script = write_script_module(dir_ / "s.pt", std::string(kFeatures) + R"(
def head(self, a):
    return torch.matmul(a, self.w.t())
def forward(self, x):
    return self.head(self.features(x))
)");
  EXPECT_FALSE(is_sfbench_checkpoint(script)) << "a user's TorchScript file";
  TorchScriptModel m(script, {3, 8, 8}, "torchscript:" + script.string());
  // A symlink at the final name is replaced, its target untouched.
  const fs::path precious = dir_ / "precious.txt";
  std::ofstream(precious) << "precious";
  const fs::path saved = dir_ / "train.ckpt";
  fs::create_symlink(precious, saved);
  m.save(saved, {{"sfbench/epoch", "1"}});
  EXPECT_FALSE(fs::is_symlink(saved));
  EXPECT_TRUE(is_sfbench_checkpoint(saved));
  std::ifstream in(precious);
  std::string s;
  std::getline(in, s);
  EXPECT_EQ(s, "precious");
  TorchScriptModel back(saved, {3, 8, 8}, "torchscript:" + saved.string());
  const torch::Tensor x = torch::rand({2, 3, 8, 8});
  EXPECT_LE(max_abs_diff(back.forward(x), m.forward(x)), 0.0);
}

TEST_F(ModelsIo, PythonExportRoundTripMatchesThePythonLogits) {
  const std::string python = SFB_PYTHON;
  if (!fs::exists(python)) GTEST_SKIP() << "no Python with torch at " << python << " (SFB_PYTHON)";
  const fs::path src = SFB_SOURCE_DIR;
  const fs::path out = dir_ / "tiny.pt";
  const fs::path probe = dir_ / "probe.pt";
  const std::string cmd = "OMP_NUM_THREADS=1 '" + python + "' '" +
                          (src / "scripts/export_torchscript.py").string() + "' --model '" +
                          (src / "tests/unit/tiny_torch_model.py").string() +
                          ":build' --random-init --fc logits --input-shape 3 16 16 "
                          "--mean 0.5 0.4 0.3 "
                          "--std 0.2 0.25 0.3 --out '" +
                          out.string() + "' --probe '" + probe.string() + "' > '" +
                          (dir_ / "export.log").string() + "' 2>&1";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;

  torch::jit::Module holder = torch::jit::load(probe.string());
  const torch::Tensor x = holder.attr("input").toTensor();
  const torch::Tensor logits = holder.attr("logits").toTensor();
  ModelOptions o;
  o.image_shape = {3, 16, 16};
  auto m = make_model("torchscript:" + out.string(), o);
  EXPECT_EQ(m->num_features(), 16);
  EXPECT_EQ(m->num_classes(), 5);
  torch::NoGradGuard no_grad;
  EXPECT_LE(max_abs_diff(m->forward(x), logits), 1e-5);
  EXPECT_LE(max_abs_diff(m->head(m->features(x)), logits), 1e-5);
}

}  // namespace
}  // namespace sfb::models
