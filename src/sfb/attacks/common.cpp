#include "attacks/common.hpp"

#include <torch/torch.h>

#include "core/counter_rng.hpp"
#include "core/device.hpp"
#include "core/error.hpp"
#include "core/rng.hpp"

namespace sfb::attacks {

Norm parse_norm(const std::string& name) {
  if (name == "linf") return Norm::kLinf;
  if (name == "l2") return Norm::kL2;
  throw ConfigError("unknown threat model norm '" + name + "'; valid: linf, l2");
}

std::string norm_name(Norm n) { return n == Norm::kLinf ? "linf" : "l2"; }

int64_t count_rows(const torch::Tensor& flags) {
  return flags.defined() ? flags.sum().item<int64_t>() : 0;
}

namespace {

/// The rows set in a [B] bool mask. For a device mask this is one host wait (the mask's copy); the
/// copy of the rows back to the device does not wait.
RowSet rows_of(const torch::Tensor& mask) {
  RowSet r;
  r.host = mask.to(torch::kCPU, torch::kBool).nonzero().squeeze(1);
  r.device = to_device(r.host, mask.device());
  return r;
}

/// Every row 0 .. n − 1 (no wait).
RowSet every_row(int64_t n, const torch::Device& device) {
  RowSet r;
  r.host = torch::arange(n, torch::kInt64);
  r.device = to_device(r.host, device);
  return r;
}

}  // namespace

void for_each_run(int64_t n_rows, const torch::Device& device, int64_t targets, int64_t restarts,
                  const std::function<torch::Tensor()>& still_robust,
                  const std::function<void(const RunRows&)>& run) {
  if (n_rows == 0) return;  // the first run would find no row
  RunRows rr;
  rr.first = true;
  rr.rows = every_row(n_rows, device);
  for (rr.target = 0; rr.target < targets; ++rr.target) {
    for (rr.restart = 0; rr.restart < restarts; ++rr.restart) {
      if (!rr.first) {
        rr.rows = rows_of(still_robust());  // a wait
        if (rr.rows.host.numel() == 0) break;
      }
      run(rr);
      rr.first = false;
    }
  }
}

torch::Tensor keyed_uniform(uint64_t seed, uint64_t stream, const torch::Tensor& index,
                            int64_t restart, at::IntArrayRef sample_shape) {
  SFB_ASSERT(index.dim() == 1 && index.scalar_type() == torch::kInt64 && index.is_cpu(),
             "keyed_uniform: index must be a 1-D int64 CPU tensor");
  std::vector<int64_t> shape{index.size(0)};
  shape.insert(shape.end(), sample_shape.begin(), sample_shape.end());
  torch::Tensor out = torch::empty(shape, torch::kFloat32);
  const int64_t per = out.numel() / std::max<int64_t>(1, index.size(0));
  float* p = out.data_ptr<float>();
  const auto ia = index.accessor<int64_t, 1>();
  for (int64_t j = 0; j < index.size(0); ++j) {
    CounterRng rng(
        derive_seed(seed, {stream, static_cast<uint64_t>(ia[j]), static_cast<uint64_t>(restart)}));
    for (int64_t e = 0; e < per; ++e) p[j * per + e] = rng.uniform_float();
  }
  return out;
}

torch::Tensor per_sample_norm(const torch::Tensor& d, Norm norm) {
  const torch::Tensor flat = d.reshape({d.size(0), -1});
  const torch::Tensor n = norm == Norm::kLinf ? flat.abs().amax(1) : flat.norm(2, 1);
  return n.to(torch::kFloat32);
}

torch::Tensor project(const torch::Tensor& x_adv, const torch::Tensor& x, Norm norm, double eps) {
  torch::Tensor d = x_adv - x;
  if (norm == Norm::kLinf) {
    d = d.clamp(-eps, eps);
  } else {
    const torch::Tensor n = d.reshape({d.size(0), -1}).norm(2, 1).clamp_min(1e-12);
    std::vector<int64_t> view(static_cast<std::size_t>(d.dim()), 1);
    view[0] = d.size(0);
    d = d * (eps / n).clamp_max(1.0).view(view);
  }
  return (x + d).clamp(0.0, 1.0);
}

torch::Tensor ce_loss(const torch::Tensor& logits, const torch::Tensor& y) {
  return torch::nn::functional::cross_entropy(
      logits, y, torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kNone));
}

namespace {
/// max_{j≠y} z_j: [B].
torch::Tensor best_other(const torch::Tensor& logits, const torch::Tensor& y) {
  const torch::Tensor mask = torch::nn::functional::one_hot(y, logits.size(1)).to(torch::kBool);
  return logits.masked_fill(mask, -std::numeric_limits<double>::infinity()).amax(1);
}
}  // namespace

torch::Tensor cw_margin_loss(const torch::Tensor& logits, const torch::Tensor& y) {
  return best_other(logits, y) - logits.gather(1, y.unsqueeze(1)).squeeze(1);
}

torch::Tensor dlr_loss(const torch::Tensor& logits, const torch::Tensor& y) {
  SFB_ASSERT(logits.size(1) >= 3, "DLR loss needs at least 3 classes");
  const torch::Tensor sorted = std::get<0>(logits.sort(1, /*descending=*/true));
  const torch::Tensor zy = logits.gather(1, y.unsqueeze(1)).squeeze(1);
  const torch::Tensor denom = sorted.select(1, 0) - sorted.select(1, 2) + 1e-12;
  return -(zy - best_other(logits, y)) / denom;
}

torch::Tensor dlr_targeted_loss(const torch::Tensor& logits, const torch::Tensor& y,
                                const torch::Tensor& t) {
  SFB_ASSERT(logits.size(1) >= 4, "targeted DLR loss needs at least 4 classes");
  const torch::Tensor sorted = std::get<0>(logits.sort(1, /*descending=*/true));
  const torch::Tensor zy = logits.gather(1, y.unsqueeze(1)).squeeze(1);
  const torch::Tensor zt = logits.gather(1, t.unsqueeze(1)).squeeze(1);
  const torch::Tensor denom =
      sorted.select(1, 0) - 0.5 * (sorted.select(1, 2) + sorted.select(1, 3)) + 1e-12;
  return -(zy - zt) / denom;
}

LossGrad loss_and_grad(models::Classifier& model, const torch::Tensor& x, const torch::Tensor& y,
                       const LossFn& loss) {
  torch::AutoGradMode on(true);
  const torch::Tensor xr = x.detach().requires_grad_(true);
  const torch::Tensor logits = model.forward(xr);
  const torch::Tensor l = loss(logits, y);
  LossGrad out;
  // A model whose logits ignore x has no gradient path: report zeros (the zero-gradient flag).
  torch::Tensor g;
  if (l.requires_grad()) {
    g = torch::autograd::grad({l.sum()}, {xr}, {}, /*retain_graph=*/false, /*create_graph=*/false,
                              /*allow_unused=*/true)[0];
  }
  out.grad = g.defined() ? g : torch::zeros_like(xr);
  out.logits = logits.detach();
  out.loss = l.detach();
  return out;
}

torch::Tensor predict(models::Classifier& model, const torch::Tensor& x) {
  torch::NoGradGuard no_grad;
  return model.forward(x).argmax(1);
}

}  // namespace sfb::attacks
