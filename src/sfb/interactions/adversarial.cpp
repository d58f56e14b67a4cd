#include "interactions/adversarial.hpp"

#include <torch/torch.h>

#include "attacks/common.hpp"
#include "core/device.hpp"

namespace sfb::interactions {
namespace {

torch::Tensor true_logit(const torch::Tensor& logits, const torch::Tensor& y) {
  return logits.gather(1, y.unsqueeze(1)).squeeze(1);
}

}  // namespace

UtilityPgdResult utility_pgd(models::Classifier& model, const torch::Tensor& x,
                             const torch::Tensor& y, const UtilityPgdOptions& o) {
  const int64_t b = x.size(0);
  const auto dev = x.device();
  const auto f64 = torch::TensorOptions().dtype(torch::kFloat64).device(dev);
  UtilityPgdResult r;
  r.x_adv = x.clone();
  r.utility = torch::zeros({b}, f64);
  r.reached = torch::zeros({b}, f64.dtype(torch::kBool));
  r.steps = torch::zeros({b}, f64.dtype(torch::kInt64));
  if (b == 0) return r;
  torch::Tensor z0;
  {
    torch::NoGradGuard no_grad;
    z0 = true_logit(model.forward(x), y).to(torch::kFloat64);
  }
  torch::Tensor alpha = torch::full({b}, o.step, f64);
  torch::Tensor active = torch::ones({b}, f64.dtype(torch::kBool));
  const attacks::LossFn logit_y = [](const torch::Tensor& logits, const torch::Tensor& yy) {
    return true_logit(logits, yy);
  };
  // The rows stepped: a RunningRows set pruned with `active`; the rows stopped since its last
  // pruning are masked. A row never becomes active again, so every row's result is the same as
  // with an exact set.
  RunningRows rows(b, dev);
  for (int64_t t = 0; t < o.max_steps; ++t) {
    if (!rows.update(active)) break;
    const torch::Tensor& set = rows.device();
    const torch::Tensor live = active.index_select(0, set);
    const torch::Tensor xa = r.x_adv.index_select(0, set);
    const torch::Tensor xr = x.index_select(0, set);
    const torch::Tensor yr = y.index_select(0, set);
    const torch::Tensor g = attacks::loss_and_grad(model, xa, yr, logit_y).grad;
    const torch::Tensor al = alpha.index_select(0, set);
    const torch::Tensor cand = attacks::project(
        xa - al.to(x.scalar_type()).view({-1, 1, 1, 1}) * torch::nan_to_num(g).sign(), xr,
        attacks::Norm::kLinf, o.eps);
    torch::Tensor u;
    {
      torch::NoGradGuard no_grad;
      u = z0.index_select(0, set) - true_logit(model.forward(cand), yr).to(torch::kFloat64);
    }
    r.steps.index_add_(0, set, live.to(torch::kInt64));
    const torch::Tensor over = (u > o.target + o.tolerance).logical_and(live);
    const torch::Tensor ok = ((u - o.target).abs() <= o.tolerance).logical_and(live);
    const torch::Tensor accept = over.logical_not().logical_and(live);
    r.x_adv.index_copy_(0, set, torch::where(accept.view({-1, 1, 1, 1}), cand, xa));
    r.utility.index_copy_(0, set, torch::where(accept, u, r.utility.index_select(0, set)));
    alpha.index_copy_(0, set, torch::where(over, al * 0.5, al));
    r.reached.index_copy_(0, set, r.reached.index_select(0, set).logical_or(ok));
    active.index_copy_(0, set, live.logical_and(ok.logical_not()));
  }
  r.x_adv = r.x_adv.detach();
  return r;
}

}  // namespace sfb::interactions
