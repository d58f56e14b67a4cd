#pragma once
#include <torch/script.h>

#include <cstdint>
#include <filesystem>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "models/classifier.hpp"

namespace sfb::models {

/// Relative tolerance of the load-time check head(features(x)) ≈ forward(x).
inline constexpr double kTorchScriptTolerance = 1e-4;

/// A TorchScript module with methods `forward`, `features` and `head`
/// (scripts/export_torchscript.py writes them) seen as a Classifier. Normalization, if any, is the
/// module's business: it receives images in [0, 1].
///
/// Protocol 2 (what scripts/export_torchscript.py writes today; docs/usage.md) adds, on the top
/// module, `sfb_protocol` = 2, `sfb_layers` (tappable layer names in forward order), `sfb_taps`
/// (for each layer, the dotted path of its tap module: attributes `mode` 0 pass / 1 record /
/// 2 replace, `stored`, `value`), `sfb_relus` (dotted paths of the switchable ReLU modules:
/// attributes `record`, `outputs`) and `sfb_export` (a JSON record of the export). Those layers
/// can then be tapped and replaced like a native model's, and guided backprop runs through the
/// recorded ReLU outputs (gradient hooks that clamp to >= 0). A protocol-1 file (the three
/// methods only) offers the layer "features" alone and no activation switch.
class TorchScriptModel : public Classifier {
 public:
  /// Loads `file` on the CPU and checks it: the three methods exist (DataError naming every
  /// missing one and the file), and on a deterministic probe batch x ~ U[0,1] of shape
  /// [2, image_shape...] features(x) is [2, k], head() gives [2, C], and
  /// max|head(features(x)) − forward(x)| <= kTorchScriptTolerance · max(1, max|forward(x)|)
  /// (DataError otherwise). k and C are taken from the probe outputs. A protocol-2 file must name
  /// existing tap and ReLU modules with the attributes above (DataError naming the first that
  /// does not). `spec` is what name() returns. Throws DataError for an unreadable file. The model
  /// is left in eval mode.
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
  /// Protocol 2 with a Linear `fc` head (what the export script writes): its (weight, bias);
  /// std::nullopt otherwise.
  std::optional<std::pair<torch::Tensor, torch::Tensor>> linear_head() override;
  /// The file's `sfb_layers`, then "features" ({"features"} for protocol 1).
  std::vector<std::string> layer_names() const override;
  /// Taps the named layers (ConfigError listing layer_names() for an unknown name).
  torch::Tensor forward_tapped(const torch::Tensor& x, const std::vector<std::string>& names,
                               std::vector<torch::Tensor>& taps) override;
  /// Replaces a layer's output by `value` (same shape as the layer's output for x); ConfigError
  /// listing layer_names() for an unknown name, naming both shapes for a wrongly shaped value.
  torch::Tensor forward_replaced(const torch::Tensor& x, const std::string& name,
                                 const torch::Tensor& value) override;
  /// "guided-relu" runs every switchable ReLU as a guided ReLU (protocol 2 with at least one;
  /// ConfigError naming the file otherwise); "relu" switches back. Any other kind: ConfigError
  /// (the module's other nonlinearities are compiled in).
  void set_activation(const std::string& kind) override;
  /// SHA-256 of the file.
  std::string fingerprint() const override { return sha256_; }

  /// 1 (forward/features/head only) or 2 (see the class comment).
  int64_t protocol() const { return protocol_; }
  /// Number of switchable ReLU modules (0 for protocol 1).
  int64_t num_switchable_relus() const { return static_cast<int64_t>(relus_.size()); }
  /// The file's `sfb_export` JSON text ("" for protocol 1).
  const std::string& export_record() const { return export_record_; }
  /// The file it was loaded from.
  const std::string& file() const { return file_; }
  /// Every parameter of the module with its dotted name, recursively, in module order.
  std::vector<std::pair<std::string, torch::Tensor>> named_parameters() const;
  /// Every buffer of the module with its dotted name, recursively, in module order.
  std::vector<std::pair<std::string, torch::Tensor>> named_buffers() const;
  /// Writes a CPU copy of the module in eval mode to `file` with `extra` as its extra files
  /// (Python: torch.jit.load(file, _extra_files=...)): to an exclusive temporary file
  /// ("<file>.<tag>.partial", NewFile), then renamed. Throws IoError naming the file. Not
  /// collective.
  void save(const std::filesystem::path& file,
            const std::unordered_map<std::string, std::string>& extra) const;
  /// Copies the parameters and buffers of the TorchScript file `file` into this module (the
  /// names and shapes must be equal: DataError naming the file and the first mismatch) and fills
  /// the values of the keys of `extra` that the file has (the others are erased). Not collective.
  void load_state(const std::filesystem::path& file,
                  std::unordered_map<std::string, std::string>& extra);

 private:
  torch::Tensor call(const char* method, const torch::Tensor& x);
  /// Index of `name` in the file's layers; ConfigError listing layer_names() when unknown.
  size_t tap_index(const std::string& name) const;
  void read_protocol();

  torch::jit::Module module_;
  std::string spec_;
  std::string file_;
  std::string sha256_;
  int64_t num_features_ = 0;
  int64_t num_classes_ = 0;
  int64_t protocol_ = 1;
  std::vector<std::string> layers_;
  std::vector<torch::jit::Module> taps_;
  std::vector<torch::jit::Module> relus_;
  std::string export_record_;
  bool guided_ = false;
};

}  // namespace sfb::models
