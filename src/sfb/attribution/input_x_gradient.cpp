// Input × gradient (Shrikumar et al.): x ⊙ ∇x z_y (SPEC §5).
#include "attribution/detail/factories.hpp"
#include "attribution/detail/grad.hpp"

namespace sfb::attribution::detail {
namespace {

class InputXGradient : public Method {
 public:
  explicit InputXGradient(const MethodOptions& o) : o_(o) {}
  std::string name() const override { return "input-x-gradient"; }
  torch::Tensor attribute(models::Classifier& model, const torch::Tensor& x, const torch::Tensor& y,
                          const torch::Tensor&) override {
    return x.detach() * input_grad(model, x, y, o_.internal_batch);
  }

 private:
  MethodOptions o_;
};

}  // namespace

std::unique_ptr<Method> make_input_x_gradient(const MethodOptions& o) {
  return std::make_unique<InputXGradient>(o);
}

}  // namespace sfb::attribution::detail
