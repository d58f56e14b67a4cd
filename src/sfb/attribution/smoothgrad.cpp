// SmoothGrad (Smilkov et al.) over saliency: (1/n) Σ_s |∇x z_y(x + ε_s)|, ε_s ~ N(0, σ²)
// (SPEC §5; Captum's NoiseTunnel(Saliency), nt_type "smoothgrad").
#include "attribution/detail/factories.hpp"
#include "attribution/detail/grad.hpp"

namespace sfb::attribution::detail {
namespace {

constexpr uint64_t kSmoothGradNoise = 2;

class SmoothGrad : public Method {
 public:
  explicit SmoothGrad(const MethodOptions& o) : o_(o) {}
  std::string name() const override { return "smoothgrad"; }
  torch::Tensor attribute(models::Classifier& model, const torch::Tensor& x, const torch::Tensor& y,
                          const torch::Tensor& keys) override {
    const torch::Tensor xd = x.detach();
    const torch::Tensor k = keys.to(xd.device(), torch::kInt64);
    const torch::Tensor sum = sample_sum(
        model, y, o_.samples, o_.internal_batch,
        [&](const torch::Tensor& img, const torch::Tensor& smp) {
          const torch::Tensor row_keys = k.index_select(0, img) * o_.samples + smp;
          const torch::Tensor eps =
              keyed_normal(row_keys, o_.seed, kSmoothGradNoise, xd.sizes().slice(1), xd);
          return std::make_pair(xd.index_select(0, img) + o_.noise_std * eps, torch::Tensor());
        },
        /*abs_grad=*/true);
    return sum / static_cast<double>(o_.samples);
  }

 private:
  MethodOptions o_;
};

}  // namespace

std::unique_ptr<Method> make_smoothgrad(const MethodOptions& o) {
  return std::make_unique<SmoothGrad>(o);
}

}  // namespace sfb::attribution::detail
