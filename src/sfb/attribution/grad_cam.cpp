// Grad-CAM (Selvaraju et al.) on the last convolutional block, upsampled to the image (SPEC §5).
#include "attribution/detail/factories.hpp"
#include "attribution/detail/grad.hpp"

namespace sfb::attribution::detail {
namespace {

class GradCam : public Method {
 public:
  explicit GradCam(const MethodOptions& o) : o_(o) {}
  std::string name() const override { return "grad-cam"; }
  torch::Tensor attribute(models::Classifier& model, const torch::Tensor& x, const torch::Tensor& y,
                          const torch::Tensor&) override {
    return grad_cam(model, x, y, o_.layer, o_.internal_batch);
  }

 private:
  MethodOptions o_;
};

}  // namespace

std::unique_ptr<Method> make_grad_cam(const MethodOptions& o) {
  return std::make_unique<GradCam>(o);
}

}  // namespace sfb::attribution::detail
