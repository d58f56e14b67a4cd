// Guided backpropagation (Springenberg et al.): ∇x z_y with every ReLU replaced by the guided ReLU
// of models/activation.hpp (SPEC §5). Needs a model whose activation can be swapped.
#include "attribution/detail/factories.hpp"
#include "attribution/detail/grad.hpp"

namespace sfb::attribution::detail {
namespace {

class GuidedBackprop : public Method {
 public:
  explicit GuidedBackprop(const MethodOptions& o) : o_(o) {}
  std::string name() const override { return "guided-backprop"; }
  torch::Tensor attribute(models::Classifier& model, const torch::Tensor& x, const torch::Tensor& y,
                          const torch::Tensor&) override {
    GuidedScope guided(model, o_.activation);
    return input_grad(model, x, y, o_.internal_batch);
  }

 private:
  MethodOptions o_;
};

}  // namespace

std::unique_ptr<Method> make_guided_backprop(const MethodOptions& o) {
  return std::make_unique<GuidedBackprop>(o);
}

}  // namespace sfb::attribution::detail
