// GradientShap (Lundberg & Lee; Captum's documented estimator) with baseline 0 (SPEC §5):
// (1/n) Σ_s (x̃_s − b) ⊙ ∇x z_y(b + α_s (x̃_s − b)), x̃_s = x + ε_s, ε_s ~ N(0, σ²), α_s ~ U(0, 1).
#include "attribution/detail/factories.hpp"
#include "attribution/detail/grad.hpp"

namespace sfb::attribution::detail {
namespace {

constexpr uint64_t kGradientShapNoise = 3;
constexpr uint64_t kAlphaStream = 4;

class GradientShap : public Method {
 public:
  explicit GradientShap(const MethodOptions& o) : o_(o) {}
  std::string name() const override { return "gradient-shap"; }
  torch::Tensor attribute(models::Classifier& model, const torch::Tensor& x, const torch::Tensor& y,
                          const torch::Tensor& keys) override {
    const torch::Tensor xd = x.detach();
    const torch::Tensor k = keys.to(xd.device(), torch::kInt64);
    const torch::Tensor sum = sample_sum(
        model, y, o_.samples, o_.internal_batch,
        [&](const torch::Tensor& img, const torch::Tensor& smp) {
          const torch::Tensor row_keys = k.index_select(0, img) * o_.samples + smp;
          torch::Tensor xs = xd.index_select(0, img);  // baseline b = 0
          if (o_.shap_noise_std > 0.0) {
            xs = xs + o_.shap_noise_std * keyed_normal(row_keys, o_.seed, kGradientShapNoise,
                                                       xd.sizes().slice(1), xd);
          }
          const torch::Tensor alpha = keyed_uniform(row_keys, o_.seed, kAlphaStream, {1, 1, 1}, xd);
          return std::make_pair(alpha * xs, xs);
        },
        /*abs_grad=*/false);
    return sum / static_cast<double>(o_.samples);
  }

 private:
  MethodOptions o_;
};

}  // namespace

std::unique_ptr<Method> make_gradient_shap(const MethodOptions& o) {
  return std::make_unique<GradientShap>(o);
}

}  // namespace sfb::attribution::detail
