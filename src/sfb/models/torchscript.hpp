#pragma once
#include <torch/script.h>

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "models/classifier.hpp"

namespace sfb::models {

/// Relative tolerance of the load-time check head(features(x)) ≈ forward(x).
inline constexpr double kTorchScriptTolerance = 1e-4;

/// A TorchScript module with methods `forward`, `features` and `head`
/// (scripts/export_torchscript.py writes them) seen as a Classifier. Normalization, if any, is the
/// module's business: it receives images in [0, 1]. Its activations cannot be swapped and only
/// "features" can be tapped.
class TorchScriptModel : public Classifier {
 public:
  /// Loads `file` on the CPU and checks it: the three methods exist (DataError naming every
  /// missing one and the file), and on a deterministic probe batch x ~ U[0,1] of shape
  /// [2, image_shape...] features(x) is [2, k], head() gives [2, C], and
  /// max|head(features(x)) − forward(x)| <= kTorchScriptTolerance · max(1, max|forward(x)|)
  /// (DataError otherwise). k and C are taken from the probe outputs. `spec` is what name()
  /// returns. Throws DataError for an unreadable file. The model is left in eval mode.
  TorchScriptModel(const std::filesystem::path& file, const std::vector<int64_t>& image_shape,
                   std::string spec);

  /// x: [B, C, H, W] float32 in [0, 1] -> [B, k].
  torch::Tensor features(const torch::Tensor& x) override;
  /// a: [B, k] -> [B, C].
  torch::Tensor head(const torch::Tensor& a) override;
  /// The module's own forward: x -> [B, C].
  torch::Tensor forward(const torch::Tensor& x) override;
  int64_t num_features() const override { return num_features_; }
  int64_t num_classes() const override { return num_classes_; }
  std::string name() const override { return spec_; }
  std::string arch() const override { return "torchscript"; }
  /// The module's parameters (empty for a frozen module).
  std::vector<torch::Tensor> parameters() override;
  void train(bool on) override { module_.train(on); }
  void to(const torch::Device& device) override { module_.to(device); }
  /// Casts the module's floating-point parameters and buffers (kFloat32 or kFloat64).
  void to_dtype(torch::ScalarType dtype) override { module_.to(dtype); }
  /// {"features"}.
  std::vector<std::string> layer_names() const override { return {"features"}; }
  /// Only "features" can be tapped; ConfigError naming it for anything else.
  torch::Tensor forward_tapped(const torch::Tensor& x, const std::vector<std::string>& names,
                               std::vector<torch::Tensor>& taps) override;
  /// Only "features" can be replaced: head(value), value [B, k]; ConfigError naming the layer for
  /// anything else, and naming both shapes for a wrongly shaped value.
  torch::Tensor forward_replaced(const torch::Tensor& x, const std::string& name,
                                 const torch::Tensor& value) override;
  /// Always throws ConfigError: a TorchScript module's nonlinearities are compiled in.
  void set_activation(const std::string& kind) override;
  /// SHA-256 of the file.
  std::string fingerprint() const override { return sha256_; }

 private:
  torch::Tensor call(const char* method, const torch::Tensor& x);

  torch::jit::Module module_;
  std::string spec_;
  std::string file_;
  std::string sha256_;
  int64_t num_features_ = 0;
  int64_t num_classes_ = 0;
};

}  // namespace sfb::models
