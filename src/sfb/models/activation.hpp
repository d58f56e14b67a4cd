#pragma once
#include <torch/torch.h>

#include <memory>
#include <string>
#include <vector>

namespace sfb::models {

/// The nonlinearities a native model can use (SPEC §5 needs guided backprop; SF studies compare
/// ReLU with smooth Softplus).
enum class ActivationKind {
  kRelu,        ///< max(x, 0)
  kGuidedRelu,  ///< forward max(x, 0); backward passes a gradient only where input > 0 and grad > 0
  kSoftplus,    ///< (1/β) log(1 + exp(β x)), β = 1 unless the spec says "softplus:β"
  kSwish,       ///< x · sigmoid(x) (SiLU), the activation of DeepMind's Wide ResNets
};

/// The activation spec names accepted by parse_activation(), in documentation order.
std::vector<std::string> activation_names();

/// Guided ReLU as an autograd function: y = max(x, 0); dL/dx = g · [x > 0] · [g > 0] where g is
/// the upstream gradient (Springenberg et al., guided backpropagation). x: any shape, float, any
/// device.
torch::Tensor guided_relu(const torch::Tensor& x);

/// One activation shared by every layer of a model: the model holds a std::shared_ptr<Activation>
/// and every block calls it, so set() switches all layers at once. Not a torch::nn::Module (it has
/// no parameters); copying the pointer is how layers share it.
class Activation {
 public:
  /// Parses `spec` ("relu", "guided-relu", "softplus", "softplus:β" with β > 0, "swish"). Throws
  /// ConfigError listing the valid names for anything else.
  explicit Activation(const std::string& spec = "relu");
  /// Applies the nonlinearity elementwise. x: any shape, float, any device; same shape out.
  torch::Tensor operator()(const torch::Tensor& x) const;
  /// Switches to `spec` (same grammar as the constructor); throws ConfigError on a bad spec and
  /// then leaves the current kind unchanged.
  void set(const std::string& spec);
  /// The current kind.
  ActivationKind kind() const { return kind_; }
  /// The Softplus β (meaningful for kSoftplus only).
  double softplus_beta() const { return beta_; }
  /// The current spec string ("relu", "guided-relu", "softplus", "softplus:10").
  std::string spec() const;

 private:
  ActivationKind kind_ = ActivationKind::kRelu;
  double beta_ = 1.0;
};

/// Shared handle to a model's activation.
using ActivationPtr = std::shared_ptr<Activation>;

}  // namespace sfb::models
