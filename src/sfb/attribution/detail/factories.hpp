#pragma once
#include <memory>

#include "attribution/method.hpp"

// One factory per method file; registry.cpp lists them by name.
namespace sfb::attribution::detail {
std::unique_ptr<Method> make_saliency(const MethodOptions& o);
std::unique_ptr<Method> make_input_x_gradient(const MethodOptions& o);
std::unique_ptr<Method> make_integrated_gradients(const MethodOptions& o);
std::unique_ptr<Method> make_layer_integrated_gradients(const MethodOptions& o);
std::unique_ptr<Method> make_smoothgrad(const MethodOptions& o);
std::unique_ptr<Method> make_gradient_shap(const MethodOptions& o);
std::unique_ptr<Method> make_grad_cam(const MethodOptions& o);
std::unique_ptr<Method> make_guided_backprop(const MethodOptions& o);
std::unique_ptr<Method> make_guided_grad_cam(const MethodOptions& o);
}  // namespace sfb::attribution::detail
