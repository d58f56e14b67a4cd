#include "interactions/adversarial.hpp"

#include <torch/torch.h>

#include "attacks/common.hpp"

namespace sfb::interactions {
namespace {

torch::Tensor true_logit(const torch::Tensor& logits, const torch::Tensor& y) {
  return logits.gather(1, y.unsqueeze(1)).squeeze(1);
}

}  // namespace

UtilityPgdResult utility_pgd(models::Classifier& model, const torch::Tensor& x,
                             const torch::Tensor& y, const UtilityPgdOptions& o) {
  const int64_t b = x.size(0);
  const auto cpu64 = torch::TensorOptions().dtype(torch::kFloat64);
  UtilityPgdResult r;
  r.x_adv = x.clone();
  r.utility = torch::zeros({b}, cpu64);
  r.reached = torch::zeros({b}, torch::kBool);
  r.steps = torch::zeros({b}, torch::kInt64);
  if (b == 0) return r;
  torch::Tensor z0;
  {
    torch::NoGradGuard no_grad;
    z0 = true_logit(model.forward(x), y).to(torch::kCPU, torch::kFloat64);
  }
  torch::Tensor alpha = torch::full({b}, o.step, cpu64);
  torch::Tensor active = torch::ones({b}, torch::kBool);
  const attacks::LossFn logit_y = [](const torch::Tensor& logits, const torch::Tensor& yy) {
    return true_logit(logits, yy);
  };
  for (int64_t t = 0; t < o.max_steps; ++t) {
    const torch::Tensor rows = active.nonzero().squeeze(1);
    if (rows.numel() == 0) break;
    const torch::Tensor dev_rows = rows.to(x.device());
    const torch::Tensor xa = r.x_adv.index_select(0, dev_rows);
    const torch::Tensor xr = x.index_select(0, dev_rows);
    const torch::Tensor yr = y.index_select(0, dev_rows);
    const torch::Tensor g = attacks::loss_and_grad(model, xa, yr, logit_y).grad;
    const torch::Tensor a = alpha.index_select(0, rows).to(x.device(), x.scalar_type());
    const torch::Tensor cand = attacks::project(
        xa - a.view({-1, 1, 1, 1}) * torch::nan_to_num(g).sign(), xr, attacks::Norm::kLinf, o.eps);
    torch::Tensor u;
    {
      torch::NoGradGuard no_grad;
      u = z0.index_select(0, rows) -
          true_logit(model.forward(cand), yr).to(torch::kCPU, torch::kFloat64);
    }
    r.steps.index_add_(0, rows, torch::ones({rows.numel()}, torch::kInt64));
    const torch::Tensor over = u > o.target + o.tolerance;
    const torch::Tensor ok = (u - o.target).abs() <= o.tolerance;
    const torch::Tensor accept = over.logical_not();
    const torch::Tensor acc_rows = rows.index({accept});
    r.x_adv.index_copy_(0, acc_rows.to(x.device()), cand.index({accept.to(x.device())}));
    r.utility.index_copy_(0, acc_rows, u.index({accept}));
    const torch::Tensor over_rows = rows.index({over});
    alpha.index_copy_(0, over_rows, alpha.index_select(0, over_rows) * 0.5);
    const torch::Tensor done = rows.index({ok});
    r.reached.index_fill_(0, done, true);
    active.index_fill_(0, done, false);
  }
  r.x_adv = r.x_adv.detach();
  return r;
}

}  // namespace sfb::interactions
