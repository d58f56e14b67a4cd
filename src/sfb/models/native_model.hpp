#pragma once
#include <torch/torch.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "models/activation.hpp"
#include "models/classifier.hpp"

namespace sfb::models {

/// Per-channel mean/std of the CIFAR-10 training images (RGB, [0,1] scale).
inline const std::vector<double> kCifar10Mean = {0.4914, 0.4822, 0.4465};
inline const std::vector<double> kCifar10Std = {0.2470, 0.2435, 0.2616};
/// Per-channel mean/std of the CIFAR-100 training images.
inline const std::vector<double> kCifar100Mean = {0.5071, 0.4865, 0.4409};
inline const std::vector<double> kCifar100Std = {0.2673, 0.2564, 0.2762};
/// The ImageNet mean/std every torchvision model is trained with.
inline const std::vector<double> kImageNetMean = {0.485, 0.456, 0.406};
inline const std::vector<double> kImageNetStd = {0.229, 0.224, 0.225};

/// What a native model is built for. Models do not read datasets: the caller passes the number of
/// classes, image shape and normalization of the data it will feed.
struct ModelOptions {
  int64_t num_classes = 10;                        ///< C
  std::vector<int64_t> image_shape = {3, 32, 32};  ///< {channels, height, width}
  std::vector<double> mean = kCifar10Mean;         ///< one per channel; subtracted inside
  std::vector<double> std = kCifar10Std;           ///< one per channel, > 0; divided inside
  std::string activation = "relu";                 ///< Activation spec (activation.hpp)
  uint64_t seed = 0;                               ///< seed of the random initialisation
};

/// CIFAR-10 defaults: 10 classes, 3×32×32, CIFAR-10 mean/std.
ModelOptions cifar10_options();
/// CIFAR-100 defaults: 100 classes, 3×32×32, CIFAR-100 mean/std.
ModelOptions cifar100_options();
/// ImageNet defaults: 1000 classes, 3×224×224, ImageNet mean/std.
ModelOptions imagenet_options();
/// Throws ConfigError naming the field when `o` is inconsistent (C < 1, image_shape not 3 positive
/// values, mean/std not one per channel, std <= 0).
void validate(const ModelOptions& o);

/// Callback a model's body calls with each named layer's output (the tensor stays in the graph);
/// the body continues with the tensor it returns: `out` itself, or a replacement of the same shape
/// (forward_replaced).
using TapFn = std::function<torch::Tensor(const std::string& name, const torch::Tensor& out)>;

/// Base of the native zoo: holds the normalization buffers ("mean", "std": [1, C, 1, 1]), the
/// shared activation, the head (a Linear named "fc") and the names of the tappable layers.
/// Subclasses build their layers in the constructor and implement body(). Construct with
/// std::make_shared (torch::nn::Module requires it).
class NativeModel : public torch::nn::Module, public Classifier {
 public:
  /// `arch`: the zoo name; `layer_names`: tappable layers in forward order, without "features"
  /// (appended here). Registers mean/std and the shared activation built from o.activation.
  NativeModel(std::string arch, const ModelOptions& o, std::vector<std::string> layer_names);

  /// x: [B, C, H, W] float32 in [0, 1] -> [B, k].
  torch::Tensor features(const torch::Tensor& x) override;
  /// a: [B, k] -> logits [B, num_classes()].
  torch::Tensor head(const torch::Tensor& a) override;
  /// x -> logits [B, C] = head(features(x)).
  torch::Tensor forward(const torch::Tensor& x) override;
  int64_t num_features() const override { return num_features_; }
  int64_t num_classes() const override { return options_.num_classes; }
  /// "zoo:<arch>" unless set_name() gave the spec it was built from.
  std::string name() const override { return name_; }
  std::string arch() const override { return arch_; }
  /// All parameters of the module (recursively), in registration order.
  std::vector<torch::Tensor> parameters() override;
  void train(bool on) override;
  void to(const torch::Device& device) override;
  void to_dtype(torch::ScalarType dtype) override;
  /// The head is the Linear "fc": its (weight [C, k], bias [C]).
  std::optional<std::pair<torch::Tensor, torch::Tensor>> linear_head() override {
    return std::make_pair(fc_->weight, fc_->bias);
  }
  std::vector<std::string> layer_names() const override { return layer_names_; }
  /// Throws ConfigError listing layer_names() for an unknown name.
  torch::Tensor forward_tapped(const torch::Tensor& x, const std::vector<std::string>& names,
                               std::vector<torch::Tensor>& taps) override;
  /// Throws ConfigError listing layer_names() for an unknown name, and naming both shapes when
  /// `value` does not have the layer's output shape.
  torch::Tensor forward_replaced(const torch::Tensor& x, const std::string& name,
                                 const torch::Tensor& value) override;
  /// Switches the shared activation of every layer; ConfigError on an unknown kind.
  void set_activation(const std::string& kind) override;
  /// SHA-256 of the file the weights came from (set_weights_file), else of the current parameters
  /// and buffers (names, shapes, dtypes and bytes in registration order).
  std::string fingerprint() const override;

  /// The options it was built with (activation reflects set_activation()).
  const ModelOptions& options() const { return options_; }
  /// Sets the spec string name() returns.
  void set_name(std::string name) { name_ = std::move(name); }
  /// Records the SHA-256 of the weights file loaded into the model (fingerprint() returns it).
  void set_weights_sha256(std::string sha) { weights_sha256_ = std::move(sha); }
  /// Replaces the normalization the model applies to its input (the "mean"/"std" buffers and
  /// options().mean/std): one value per channel, std > 0; ConfigError otherwise.
  void set_normalization(const std::vector<double>& mean, const std::vector<double>& std);

 protected:
  /// Everything between normalization and the features: xn is the normalized input
  /// [B, C, H, W]; returns [B, k]. Calls h = tap(name, h) for every name in layer_names() other
  /// than "features", in forward order, and continues from the tensor tap returns.
  virtual torch::Tensor body(const torch::Tensor& xn, const TapFn& tap) = 0;
  /// Creates the head Linear(k, C) named "fc" and records k. Call once from the constructor.
  void make_head(int64_t num_features);
  /// Applies the shared activation.
  torch::Tensor act(const torch::Tensor& x) const { return (*activation_)(x); }
  /// The shared activation, for blocks that keep their own handle.
  const ActivationPtr& activation() const { return activation_; }
  /// He-normal (fan_out, ReLU gain) for conv weights, BN γ = 1 and β = 0, zero Linear bias; the
  /// common initialisation of ResNets. Call at the end of a subclass constructor.
  void init_weights();

 private:
  torch::Tensor normalize(const torch::Tensor& x) const;
  /// Throws ConfigError listing layer_names() when `name` is not one of them.
  void check_layer(const std::string& name) const;

  std::string arch_;
  std::string name_;
  ModelOptions options_;
  std::vector<std::string> layer_names_;
  ActivationPtr activation_;
  torch::Tensor mean_, std_;
  torch::nn::Linear fc_{nullptr};
  int64_t num_features_ = 0;
  std::string weights_sha256_;
};

/// 3×3 convolution, padding 1, no bias (the building block of every zoo network).
torch::nn::Conv2d conv3x3(int64_t in, int64_t out, int64_t stride = 1);
/// 1×1 convolution, no bias (projection shortcuts).
torch::nn::Conv2d conv1x1(int64_t in, int64_t out, int64_t stride = 1);

}  // namespace sfb::models
