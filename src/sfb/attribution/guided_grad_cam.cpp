// Guided Grad-CAM (Selvaraju et al.): guided backpropagation ⊙ the upsampled Grad-CAM map,
// broadcast over channels (SPEC §5). Grad-CAM uses the model's own activation.
#include "attribution/detail/factories.hpp"
#include "attribution/detail/grad.hpp"

namespace sfb::attribution::detail {
namespace {

class GuidedGradCam : public Method {
 public:
  explicit GuidedGradCam(const MethodOptions& o) : o_(o) {}
  std::string name() const override { return "guided-grad-cam"; }
  torch::Tensor attribute(models::Classifier& model, const torch::Tensor& x, const torch::Tensor& y,
                          const torch::Tensor&) override {
    const torch::Tensor cam = grad_cam(model, x, y, o_.layer, o_.internal_batch);
    GuidedScope guided(model, o_.activation);
    return input_grad(model, x, y, o_.internal_batch) * cam;
  }

 private:
  MethodOptions o_;
};

}  // namespace

std::unique_ptr<Method> make_guided_grad_cam(const MethodOptions& o) {
  return std::make_unique<GuidedGradCam>(o);
}

}  // namespace sfb::attribution::detail
