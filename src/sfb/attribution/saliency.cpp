// Saliency (Simonyan et al.): |∇x z_y| (SPEC §5).
#include "attribution/detail/factories.hpp"
#include "attribution/detail/grad.hpp"

namespace sfb::attribution::detail {
namespace {

class Saliency : public Method {
 public:
  explicit Saliency(const MethodOptions& o) : o_(o) {}
  std::string name() const override { return "saliency"; }
  torch::Tensor attribute(models::Classifier& model, const torch::Tensor& x, const torch::Tensor& y,
                          const torch::Tensor&) override {
    return input_grad(model, x, y, o_.internal_batch).abs();
  }

 private:
  MethodOptions o_;
};

}  // namespace

std::unique_ptr<Method> make_saliency(const MethodOptions& o) {
  return std::make_unique<Saliency>(o);
}

}  // namespace sfb::attribution::detail
