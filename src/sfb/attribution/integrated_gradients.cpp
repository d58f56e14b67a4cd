// Integrated gradients (Sundararajan et al.), Riemann midpoint rule (SPEC §5):
// (x − b) ⊙ (1/m) Σ_k ∇x z_y(b + α_k (x − b)), α_k = (k − ½)/m, k = 1..m.
#include "attribution/detail/factories.hpp"
#include "attribution/detail/grad.hpp"

namespace sfb::attribution::detail {
namespace {

class IntegratedGradients : public Method {
 public:
  explicit IntegratedGradients(const MethodOptions& o) : o_(o) {}
  std::string name() const override { return "integrated-gradients"; }
  torch::Tensor attribute(models::Classifier& model, const torch::Tensor& x, const torch::Tensor& y,
                          const torch::Tensor& keys) override {
    const torch::Tensor xd = x.detach();
    const torch::Tensor base =
        o_.baseline == "normal"
            ? keyed_normal(keys, o_.seed, kBaselineStream, xd.sizes().slice(1), xd)
            : torch::zeros_like(xd);
    const torch::Tensor delta = xd - base;
    const double m = static_cast<double>(o_.steps);
    const torch::Tensor sum = sample_sum(
        model, y, o_.steps, o_.internal_batch,
        [&](const torch::Tensor& img, const torch::Tensor& smp) {
          const torch::Tensor alpha = ((smp.to(xd.scalar_type()) + 0.5) / m).view({-1, 1, 1, 1});
          return std::make_pair(base.index_select(0, img) + alpha * delta.index_select(0, img),
                                torch::Tensor());
        },
        /*abs_grad=*/false);
    return delta * sum / m;
  }

 private:
  MethodOptions o_;
};

}  // namespace

std::unique_ptr<Method> make_integrated_gradients(const MethodOptions& o) {
  return std::make_unique<IntegratedGradients>(o);
}

}  // namespace sfb::attribution::detail
