// The table of attribution methods (HOUSE_STYLE: one file per method, registered here by name).
#include <string>
#include <vector>

#include "attribution/detail/factories.hpp"
#include "attribution/detail/grad.hpp"
#include "attribution/method.hpp"
#include "core/error.hpp"

namespace sfb::attribution {
namespace {

struct Entry {
  const char* name;
  std::unique_ptr<Method> (*make)(const MethodOptions&);
};

const std::vector<Entry>& table() {
  static const std::vector<Entry> t{
      // methods: one line each, in the order SPEC §5 lists them
      {"saliency", detail::make_saliency},
      {"input-x-gradient", detail::make_input_x_gradient},
      {"integrated-gradients", detail::make_integrated_gradients},
      {"layer-integrated-gradients", detail::make_layer_integrated_gradients},
      {"smoothgrad", detail::make_smoothgrad},
      {"gradient-shap", detail::make_gradient_shap},
      {"grad-cam", detail::make_grad_cam},
      {"guided-backprop", detail::make_guided_backprop},
      {"guided-grad-cam", detail::make_guided_grad_cam},
  };
  return t;
}

}  // namespace

std::unique_ptr<Method> make_method(const std::string& name, const MethodOptions& opts) {
  for (const auto& e : table()) {
    if (name == e.name) {
      detail::validate(opts);
      return e.make(opts);
    }
  }
  std::string valid;
  for (const auto& e : table()) valid += (valid.empty() ? "" : ", ") + std::string(e.name);
  throw ConfigError("unknown attribution method '" + name + "'; valid: " + valid);
}

std::vector<std::string> method_names() {
  std::vector<std::string> names;
  for (const auto& e : table()) names.emplace_back(e.name);
  return names;
}

torch::Tensor reduce_channels(const torch::Tensor& a) {
  if (a.dim() != 4) {
    throw ConfigError("attribution map must be [B, C, H, W]; got " + std::to_string(a.dim()) +
                      " dimensions");
  }
  return a.sum(1);
}

}  // namespace sfb::attribution
