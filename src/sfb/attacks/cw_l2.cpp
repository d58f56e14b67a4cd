// Carlini–Wagner L2 (Carlini & Wagner 2017, "Towards evaluating the robustness of neural
// networks", §V; SPEC §3): a minimal-perturbation attack.
//
// For each sample attacked (clean prediction correct), with x' = (tanh(w) + 1)/2 ∈ [0, 1]^d:
//   minimize_w ‖x' − x‖₂² + c·f(x'),   f(x') = max(z_y(x') − max_{j≠y} z_j(x'), −κ)
// by Adam on w (β = (0.9, 0.999), ε_Adam = 1e-8, step opts.learning_rate, the PyTorch form of the
// bias correction), opts.steps optimizer steps per value of c, w starting at
// atanh((2x − 1)(1 − 1e-6)) (the factor keeps atanh finite at x ∈ {0, 1}) and Adam's moments at 0
// for every c. The gradient is ∇w of the batch sum (input gradient only; per sample it is the
// sample's own gradient). An iterate is adversarial when max_{j≠y} z_j > z_y + κ; the adversarial
// iterate with the smallest L2 over all iterations and all c is kept.
// Binary search on c per sample, as the reference implementation (nn_robust_attacks, l2_attack.py)
// does: c starts at opts.initial_const; after each c, if an adversarial was found with it, the
// upper bound becomes min(upper, c) and c = (lower + upper)/2; otherwise lower = max(lower, c) and
// c = (lower + upper)/2 if an upper bound exists, else c ×= 10 (upper starts at 1e10). With
// binary_steps ≥ 10 the last search step uses c = upper, as the reference does.
// Early abort (the reference's abort_early, made per sample so that results do not depend on the
// batch): every max(1, steps/10) steps (when steps ≥ 10), a sample whose objective is not below
// 0.9999 × its value at the previous check stops moving for the rest of this c. The whole c stops
// once no sample moves; the host learns that from a copy it polls without waiting (HostPoll), so on
// a GPU the stop may come a few steps late, which repeats the same iterates and changes nothing.
//
// Output: x_adv = the smallest adversarial found, or x when none; norm = ‖x_adv − x‖₂ (float32),
// with +inf where the attack found none and 0 for samples misclassified when clean (x_adv = x);
// robust = clean prediction correct and no adversarial found ("not fooled at all by CW"; decided
// from the iterate's own logits, because CW's minimal adversarials sit on the decision boundary
// where a re-evaluation in another batch could round either way). Accuracy at ε: robust_at().
// zero_grad: attacked samples whose input gradient of the margin z_y − max_{j≠y} z_j at x is
// exactly zero; nonfinite: samples with a NaN/inf logit in any forward pass (NaN/inf gradient
// entries are replaced by 0). Reads steps, binary_steps, initial_const, learning_rate and
// confidence; ignores norm (always L2) and eps (unbounded; the caller applies ε via robust_at).
#include "attacks/cw_l2.hpp"

#include <torch/torch.h>

#include <cmath>
#include <limits>
#include <string>

#include "attacks/attack.hpp"
#include "attacks/common.hpp"
#include "attacks/detail/factories.hpp"
#include "attacks/detail/pgd_engine.hpp"
#include "core/device.hpp"
#include "core/error.hpp"
#include "core/tensors.hpp"

namespace sfb::attacks {

torch::Tensor robust_at(const AttackOutput& out, double eps) { return out.norm > eps; }

namespace detail {
namespace {

constexpr double kBeta1 = 0.9;
constexpr double kBeta2 = 0.999;
constexpr double kAdamEps = 1e-8;
constexpr double kTanhShrink = 1.0 - 1e-6;  ///< keeps atanh finite at pixel values 0 and 1
constexpr double kNoUpperBound = 1e10;      ///< the reference's initial upper bound on c
constexpr double kAbortFactor = 0.9999;     ///< the reference's abort_early improvement factor

/// The configuration, validated.
struct CwConfig {
  int64_t steps = 1000;
  int64_t binary_steps = 9;
  double initial_const = 1e-3;
  double learning_rate = 1e-2;
  double confidence = 0.0;
};

class CwL2Attack : public Attack {
 public:
  explicit CwL2Attack(const CwConfig& cfg) : cfg_(cfg) {}
  std::string name() const override { return "cw-l2"; }
  AttackOutput run(models::Classifier& model, const torch::Tensor& x, const torch::Tensor& y,
                   const torch::Tensor& index) override;

 private:
  CwConfig cfg_;
};

AttackOutput CwL2Attack::run(models::Classifier& model, const torch::Tensor& x,
                             const torch::Tensor& y, const torch::Tensor& index) {
  SFB_ASSERT(x.dim() >= 2 && y.dim() == 1 && y.size(0) == x.size(0), "cw-l2: x [B, ...], y [B]");
  SFB_ASSERT(index.dim() == 1 && index.size(0) == x.size(0), "cw-l2: index must be [B]");
  const int64_t batch = x.size(0);
  const auto dev = x.device();
  const auto bool_opts = torch::TensorOptions().dtype(torch::kBool).device(dev);
  const auto f64 = torch::TensorOptions().dtype(torch::kFloat64).device(dev);
  AttackOutput out;
  out.x_adv = x.detach().clone();
  out.norm = torch::zeros({batch}, torch::TensorOptions().dtype(torch::kFloat32).device(dev));
  out.robust = torch::zeros({batch}, bool_opts);
  if (batch == 0) {
    out.zero_grad = out.robust.clone();
    out.nonfinite = out.robust.clone();
    return out;
  }

  // Clean pass with the margin's input gradient (zero_grad of the samples attacked).
  const auto margin = [](const torch::Tensor& z, const torch::Tensor& t) {
    return -cw_margin_loss(z, t);
  };
  const LossGrad clean = loss_and_grad(model, x, y, margin);
  torch::Tensor nonfinite = nonfinite_rows(clean.logits);
  const torch::Tensor correct = clean.logits.argmax(1).eq(y);
  out.zero_grad = zero_rows(clean.grad) & correct;

  // The whole batch runs, without waiting for the device to pick rows: the rows misclassified
  // when clean never move (they start, and stay, out of `moving`) and their results are dropped.
  // The attack stage hands over only correctly classified rows, so nothing is wasted in practice.
  const int64_t n = batch;
  const torch::Tensor xa = x.detach();
  const torch::Tensor ya = y;
  const torch::Tensor onehot =
      torch::nn::functional::one_hot(ya, clean.logits.size(1)).to(torch::kBool);
  const torch::Tensor w0 = torch::atanh((xa * 2.0 - 1.0) * kTanhShrink);
  const double kappa = cfg_.confidence;

  torch::Tensor c = torch::full({n}, cfg_.initial_const, f64);
  torch::Tensor lower = torch::zeros({n}, f64);
  torch::Tensor upper = torch::full({n}, kNoUpperBound, f64);
  torch::Tensor best_l2sq = torch::full({n}, std::numeric_limits<double>::infinity(), f64);
  torch::Tensor best_x = xa.clone();
  torch::Tensor nf = torch::zeros({n}, bool_opts);
  const int64_t period = cfg_.steps >= 10 ? cfg_.steps / 10 : 0;
  const bool last_at_upper = cfg_.binary_steps >= 10;

  for (int64_t bs = 0; bs < cfg_.binary_steps; ++bs) {
    if (last_at_upper && bs == cfg_.binary_steps - 1) c = upper.clone();
    const torch::Tensor cw = c.to(x.scalar_type());
    torch::Tensor w = w0.clone();
    torch::Tensor m = torch::zeros_like(w);
    torch::Tensor v = torch::zeros_like(w);
    torch::Tensor found_here = torch::zeros({n}, bool_opts);
    torch::Tensor moving = correct.clone();
    torch::Tensor prev = torch::full({n}, std::numeric_limits<double>::infinity(), f64);
    // "Is any sample still moving?", read without waiting: once no sample moves, every further
    // step repeats the same iterate, so stopping a few steps late changes nothing.
    HostPoll any_moving;
    for (int64_t it = 0; it < cfg_.steps; ++it) {
      torch::Tensor grad, xp, l2sq, obj, success;
      {
        torch::AutoGradMode on(true);
        const torch::Tensor wr = w.detach().requires_grad_(true);
        const torch::Tensor xq = (torch::tanh(wr) + 1.0) * 0.5;
        const torch::Tensor z = model.forward(xq);
        const torch::Tensor real = z.gather(1, ya.unsqueeze(1)).squeeze(1);  // no wait
        const torch::Tensor other =
            z.masked_fill(onehot, -std::numeric_limits<double>::infinity()).amax(1);
        const torch::Tensor f = (real - other).clamp_min(-kappa);
        const torch::Tensor d2 = (xq - xa).pow(2).reshape({n, -1}).sum(1);
        const torch::Tensor o = d2 + cw * f;
        grad = torch::autograd::grad({o.sum()}, {wr})[0];
        nf |= nonfinite_rows(z.detach());
        success = (other > real + kappa).detach();
        xp = xq.detach();
        l2sq = d2.detach().to(torch::kFloat64);
        obj = o.detach().to(torch::kFloat64);
      }
      // Keep the smallest adversarial of this iterate (before the update, as the reference).
      const torch::Tensor better = success & (l2sq < best_l2sq);
      best_l2sq = torch::where(better, l2sq, best_l2sq);
      best_x = torch::where(per_row(better, best_x), xp, best_x);
      found_here |= success;
      if (period > 0 && it % period == 0) {
        moving &= obj.le(prev * kAbortFactor);
        prev = obj;
        if (!any_moving.pending()) any_moving.start(moving.any(), torch::kBool);
        if (any_moving.ready() && !any_moving.take().item<bool>()) break;
      }
      // Adam step on the samples still moving.
      const torch::Tensor g = finite_or_zero(grad);
      const double t = static_cast<double>(it + 1);
      m = kBeta1 * m + (1.0 - kBeta1) * g;
      v = kBeta2 * v + (1.0 - kBeta2) * g * g;
      const torch::Tensor mhat = m / (1.0 - std::pow(kBeta1, t));
      const torch::Tensor vhat = v / (1.0 - std::pow(kBeta2, t));
      const torch::Tensor step = cfg_.learning_rate * mhat / (vhat.sqrt() + kAdamEps);
      w = torch::where(per_row(moving, w), w - step, w);
    }
    // Binary search on c (per sample).
    upper = torch::where(found_here, torch::minimum(upper, c), upper);
    lower = torch::where(found_here, lower, torch::maximum(lower, c));
    const torch::Tensor bounded = upper.lt(kNoUpperBound * 0.1);  // the reference's "< 1e9"
    c = torch::where(bounded, (lower + upper) * 0.5, c * 10.0);
  }

  const torch::Tensor found = best_l2sq.isfinite() & correct;
  out.x_adv = torch::where(per_row(found, xa), best_x, xa).clone();
  const torch::Tensor dist = per_sample_norm(best_x - xa, Norm::kL2);
  out.norm = torch::where(
      correct,
      torch::where(found, dist, torch::full_like(dist, std::numeric_limits<float>::infinity())),
      torch::zeros_like(dist));
  out.robust = correct & found.logical_not();
  out.nonfinite = nonfinite | (nf & correct);
  return out;
}

}  // namespace

std::unique_ptr<Attack> make_cw_l2(const AttackOptions& o) {
  const auto bad = [](const std::string& what) { return ConfigError("attack cw-l2: " + what); };
  if (o.steps < 1) throw bad("steps must be >= 1, got " + std::to_string(o.steps));
  if (o.binary_steps < 1) {
    throw bad("binary_steps must be >= 1, got " + std::to_string(o.binary_steps));
  }
  if (!(o.initial_const > 0) || !std::isfinite(o.initial_const)) {
    throw bad("initial_const must be finite and > 0, got " + std::to_string(o.initial_const));
  }
  if (!(o.learning_rate > 0) || !std::isfinite(o.learning_rate)) {
    throw bad("learning_rate must be finite and > 0, got " + std::to_string(o.learning_rate));
  }
  if (!(o.confidence >= 0) || !std::isfinite(o.confidence)) {
    throw bad("confidence must be finite and >= 0, got " + std::to_string(o.confidence));
  }
  CwConfig c;
  c.steps = o.steps;
  c.binary_steps = o.binary_steps;
  c.initial_const = o.initial_const;
  c.learning_rate = o.learning_rate;
  c.confidence = o.confidence;
  return std::make_unique<CwL2Attack>(c);
}

}  // namespace detail
}  // namespace sfb::attacks
