#include "models/activation.hpp"

#include <cmath>
#include <sstream>

#include "core/error.hpp"

namespace sfb::models {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

/// y = relu(x); backward keeps the upstream gradient only where the input and it are positive.
struct GuidedReluFunction : public torch::autograd::Function<GuidedReluFunction> {
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& x) {
    ctx->save_for_backward({x});
    return torch::relu(x);
  }
  static variable_list backward(AutogradContext* ctx, variable_list grad_outputs) {
    const torch::Tensor x = ctx->get_saved_variables()[0];
    const torch::Tensor& g = grad_outputs[0];
    return {g * ((x > 0) & (g > 0)).to(g.scalar_type())};
  }
};

std::string join_names() {
  std::string out;
  for (const auto& n : activation_names()) out += (out.empty() ? "" : ", ") + n;
  return out;
}

}  // namespace

std::vector<std::string> activation_names() {
  return {"relu", "guided-relu", "softplus", "softplus:BETA", "swish"};
}

torch::Tensor guided_relu(const torch::Tensor& x) { return GuidedReluFunction::apply(x); }

Activation::Activation(const std::string& spec) { set(spec); }

void Activation::set(const std::string& spec) {
  if (spec == "relu") {
    kind_ = ActivationKind::kRelu;
    return;
  }
  if (spec == "guided-relu") {
    kind_ = ActivationKind::kGuidedRelu;
    return;
  }
  if (spec == "swish") {
    kind_ = ActivationKind::kSwish;
    return;
  }
  if (spec == "softplus") {
    kind_ = ActivationKind::kSoftplus;
    beta_ = 1.0;
    return;
  }
  const std::string prefix = "softplus:";
  if (spec.rfind(prefix, 0) == 0) {
    const std::string text = spec.substr(prefix.size());
    std::size_t used = 0;
    double beta = 0.0;
    try {
      beta = std::stod(text, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used != text.size() || text.empty() || !std::isfinite(beta) || beta <= 0.0) {
      throw ConfigError("activation '" + spec + "': Softplus beta must be a positive number");
    }
    kind_ = ActivationKind::kSoftplus;
    beta_ = beta;
    return;
  }
  throw ConfigError("unknown activation '" + spec + "'; valid: " + join_names());
}

torch::Tensor Activation::operator()(const torch::Tensor& x) const {
  switch (kind_) {
    case ActivationKind::kRelu:
      return torch::relu(x);
    case ActivationKind::kGuidedRelu:
      return guided_relu(x);
    case ActivationKind::kSoftplus:
      // threshold 20 as torch.nn.Softplus: linear where β x > 20 (no overflow).
      return torch::softplus(x, beta_, 20.0);
    case ActivationKind::kSwish:
      return torch::silu(x);
  }
  SFB_ASSERT(false, "unhandled ActivationKind");
  return x;
}

std::string Activation::spec() const {
  switch (kind_) {
    case ActivationKind::kRelu:
      return "relu";
    case ActivationKind::kGuidedRelu:
      return "guided-relu";
    case ActivationKind::kSwish:
      return "swish";
    case ActivationKind::kSoftplus: {
      if (beta_ == 1.0) return "softplus";
      std::ostringstream os;
      os << "softplus:" << beta_;
      return os.str();
    }
  }
  return "relu";
}

}  // namespace sfb::models
