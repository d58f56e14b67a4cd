// PGD (Madry et al. 2018) under linf and l2, with the CE or the CW margin loss (SPEC §3), and the
// "cw-linf" preset (paper 000's "CW" column: PGD with the CW margin loss under linf).
//
// Rules (every gradient attack of this file and fgsm.cpp):
// - Samples the model misclassifies on x are not attacked: x_adv = x, robust = false.
// - Each restart r runs `steps` steps from its start point on the samples not yet fooled:
//     linf: x ← Π(x + α·sign(g)),  l2: x ← Π(x + α·g/‖g‖₂)  (a zero gradient moves nothing),
//   Π = project() onto the ε-ball ∩ [0, 1]^d, g = ∇x Σ loss (input gradient only).
//   Success is judged at the restart's last iterate (the standard PGD rule): a sample whose
//   prediction there differs from y is fooled, keeps that iterate as x_adv (the first successful
//   restart's) and takes no part in later restarts. A sample never fooled returns the last iterate
//   of the final restart. robust = clean prediction correct and never fooled.
// - Random start (restart r, sample with global index i, uniforms u from keyed_uniform(seed,
//   kStreamPgd, i, r)): linf δ = ε(2u − 1), uniform in [−ε, ε)^d; l2: uniform in the l2 ball,
//   δ = ε·U^{1/d}·z/‖z‖₂ with z ~ N(0, I_d) from Box–Muller on the same stream and U one more
//   uniform of it (the direction of a standard Gaussian is uniform on the sphere, and the radius
//   law P(‖δ‖ ≤ ρ) = (ρ/ε)^d makes the point uniform in the ball). The start is then clipped to
//   [0, 1] (which only shrinks |δ_j|, so it stays in the ball). Without a random start every
//   restart would repeat the first, so one runs.
// - zero_grad flags attacked samples whose gradient at their first iterate (restart 0, step 0)
//   is exactly zero; nonfinite flags samples with a NaN/inf logit in any forward pass of the
//   attack (clean pass included). NaN/inf gradient entries are replaced by 0.
#include <torch/torch.h>

#include <cmath>
#include <string>
#include <utility>

#include "attacks/attack.hpp"
#include "attacks/common.hpp"
#include "attacks/detail/factories.hpp"
#include "attacks/detail/pgd_engine.hpp"
#include "core/device.hpp"
#include "core/error.hpp"
#include "core/tensors.hpp"

namespace sfb::attacks {
namespace detail {

torch::Tensor nonfinite_rows(const torch::Tensor& logits) {
  return logits.isfinite().reshape({logits.size(0), -1}).all(1).logical_not();
}

torch::Tensor zero_rows(const torch::Tensor& g) { return g.reshape({g.size(0), -1}).eq(0).all(1); }

torch::Tensor finite_or_zero(const torch::Tensor& g) {
  return torch::where(g.isfinite(), g, torch::zeros_like(g));
}

void check_common(const char* attack, const AttackOptions& o) {
  const std::string a(attack);
  if (!(o.eps >= 0) || !std::isfinite(o.eps)) {
    throw ConfigError("attack " + a + ": eps must be finite and >= 0, got " +
                      std::to_string(o.eps));
  }
  if (o.steps < 1) {
    throw ConfigError("attack " + a + ": steps must be >= 1, got " + std::to_string(o.steps));
  }
  if (o.restarts < 1) {
    throw ConfigError("attack " + a + ": restarts must be >= 1, got " + std::to_string(o.restarts));
  }
}

namespace {

constexpr double kTwoPi = 6.283185307179586476925;

/// The random start of restart r for the rows `xa` with global indices `ia` (see the file
/// comment); same dtype/device as xa, inside the ball and [0, 1].
torch::Tensor random_start(const torch::Tensor& xa, const torch::Tensor& ia, int64_t restart,
                           const PgdConfig& cfg) {
  const auto sample_shape = xa.sizes().slice(1);
  const int64_t rows = xa.size(0);
  const int64_t d = rows > 0 ? xa.numel() / rows : 0;
  torch::Tensor delta;
  if (cfg.norm == Norm::kLinf) {
    const torch::Tensor u = keyed_uniform(cfg.seed, kStreamPgd, ia, restart, sample_shape);
    delta = (u.to(torch::kFloat64) * 2.0 - 1.0) * cfg.eps;
  } else {
    const int64_t pairs = (d + 1) / 2;
    const torch::Tensor u =
        keyed_uniform(cfg.seed, kStreamPgd, ia, restart, {2 * pairs + 1}).to(torch::kFloat64);
    const torch::Tensor u1 = 1.0 - u.slice(1, 0, pairs);  // (0, 1]: log is finite
    const torch::Tensor u2 = u.slice(1, pairs, 2 * pairs);
    const torch::Tensor rad = (-2.0 * u1.log()).sqrt();
    const torch::Tensor z =
        torch::cat({rad * torch::cos(kTwoPi * u2), rad * torch::sin(kTwoPi * u2)}, 1)
            .slice(1, 0, d);
    const torch::Tensor radius = cfg.eps * u.select(1, 2 * pairs).pow(1.0 / static_cast<double>(d));
    delta = z * (radius / z.norm(2, 1).clamp_min(1e-300)).unsqueeze(1);
    std::vector<int64_t> shape{rows};
    shape.insert(shape.end(), sample_shape.begin(), sample_shape.end());
    delta = delta.view(shape);
  }
  delta = to_device(delta, xa.device(), xa.scalar_type());  // no wait for the device
  return project(xa + delta, xa, cfg.norm, cfg.eps);
}

/// One ascent step of size α from `cur` along the (finite) gradient g.
torch::Tensor ascent_step(const torch::Tensor& cur, const torch::Tensor& g, const PgdConfig& cfg) {
  if (cfg.norm == Norm::kLinf) return cur + cfg.step_size * g.sign();
  const torch::Tensor n = g.reshape({g.size(0), -1}).norm(2, 1);
  const torch::Tensor scale =
      torch::where(n > 0, cfg.step_size / n, torch::zeros_like(n));  // zero gradient: no move
  return cur + g * per_row(scale, g);
}

}  // namespace

AttackOutput run_pgd(models::Classifier& model, const torch::Tensor& x, const torch::Tensor& y,
                     const torch::Tensor& index, const PgdConfig& cfg) {
  SFB_ASSERT(x.dim() >= 2 && y.dim() == 1 && y.size(0) == x.size(0), "pgd: x [B, ...], y [B]");
  SFB_ASSERT(index.dim() == 1 && index.size(0) == x.size(0) && index.is_cpu() &&
                 index.scalar_type() == torch::kInt64,
             "pgd: index must be [B] int64 on the CPU");
  const int64_t batch = x.size(0);
  const auto bool_opts = torch::TensorOptions().dtype(torch::kBool).device(x.device());
  AttackOutput out;
  out.x_adv = x.detach().clone();
  if (batch == 0) {
    out.robust = torch::zeros({0}, bool_opts);
    out.norm = torch::zeros({0}, torch::TensorOptions().dtype(torch::kFloat32).device(x.device()));
    out.zero_grad = torch::zeros({0}, bool_opts);
    out.nonfinite = torch::zeros({0}, bool_opts);
    return out;
  }
  const LossFn loss = cfg.cw_loss ? LossFn(cw_margin_loss) : LossFn(ce_loss);

  torch::Tensor clean_logits;
  {
    torch::NoGradGuard no_grad;
    clean_logits = model.forward(x);
  }
  torch::Tensor nonfinite = nonfinite_rows(clean_logits);
  const torch::Tensor correct = clean_logits.argmax(1).eq(y);
  torch::Tensor zero = torch::zeros({batch}, bool_opts);
  torch::Tensor fooled = torch::zeros({batch}, bool_opts);

  // The restarts (for_each_run): restart 0 runs on the whole batch tensors (no index_select) and
  // keeps the results of the rows classified correctly (the attack stage hands over only such rows,
  // so in practice nothing is wasted); it never waits for the device. Each later restart runs on
  // the rows still robust, chosen with one wait.
  const int64_t restarts = cfg.random_start ? cfg.restarts : 1;
  const auto one_run = [&](const RunRows& run) {
    const int64_t r = run.restart;
    const torch::Tensor& active = run.rows.device;  // rows (into the batch) of restart r >= 1
    const torch::Tensor xa = run.first ? x.detach() : x.index_select(0, active).detach();
    const torch::Tensor ya = run.first ? y : y.index_select(0, active);
    // The random start of every row (keyed by its global index, drawn on the host), then the
    // active rows' on the device: the same values, without copying `active` to the host.
    torch::Tensor cur = cfg.random_start ? random_start(x.detach(), index, r, cfg) : xa.clone();
    if (cfg.random_start && !run.first) cur = cur.index_select(0, active);
    torch::Tensor nf = torch::zeros({xa.size(0)}, bool_opts);
    for (int64_t s = 0; s < cfg.steps; ++s) {
      const LossGrad lg = loss_and_grad(model, cur, ya, loss);
      nf |= nonfinite_rows(lg.logits);
      if (run.first && s == 0) zero = zero_rows(lg.grad).logical_and(correct);
      cur = project(ascent_step(cur, finite_or_zero(lg.grad), cfg), xa, cfg.norm, cfg.eps).detach();
    }
    torch::Tensor logits;
    {
      torch::NoGradGuard no_grad;
      logits = model.forward(cur);
    }
    nf |= nonfinite_rows(logits);
    const torch::Tensor hit = logits.argmax(1).ne(ya);
    if (run.first) {
      nonfinite |= nf.logical_and(correct);
      out.x_adv = torch::where(per_row(correct, x), cur, out.x_adv);
      fooled = hit.logical_and(correct);
    } else {
      nonfinite.index_copy_(0, active, nonfinite.index_select(0, active) | nf);
      out.x_adv.index_copy_(0, active, cur);
      fooled.index_copy_(0, active, hit);
    }
  };
  const auto still_robust = [&] { return correct.logical_and(fooled.logical_not()); };
  for_each_run(batch, x.device(), /*targets=*/1, restarts, still_robust, one_run);

  out.robust = correct & fooled.logical_not();
  out.norm = per_sample_norm(out.x_adv - x, cfg.norm);
  out.zero_grad = zero;
  out.nonfinite = nonfinite;
  return out;
}

namespace {

/// A gradient attack (FGSM, PGD, cw-linf) running run_pgd with a fixed configuration.
class PgdAttack : public Attack {
 public:
  PgdAttack(std::string name, const PgdConfig& cfg) : name_(std::move(name)), cfg_(cfg) {}
  std::string name() const override { return name_; }
  AttackOutput run(models::Classifier& model, const torch::Tensor& x, const torch::Tensor& y,
                   const torch::Tensor& index) override {
    return run_pgd(model, x, y, index, cfg_);
  }

 private:
  std::string name_;
  PgdConfig cfg_;
};

/// PgdConfig from AttackOptions (steps, α, restarts, random start, seed, loss as given).
PgdConfig pgd_config(const char* attack, const AttackOptions& o) {
  check_common(attack, o);
  if (!(o.step_size > 0) || !std::isfinite(o.step_size)) {
    throw ConfigError(std::string("attack ") + attack + ": step_size must be finite and > 0, got " +
                      std::to_string(o.step_size));
  }
  if (o.loss != "ce" && o.loss != "cw") {
    throw ConfigError(std::string("attack ") + attack + ": unknown loss '" + o.loss +
                      "'; valid: ce, cw");
  }
  PgdConfig c;
  c.norm = o.norm;
  c.eps = o.eps;
  c.step_size = o.step_size;
  c.steps = o.steps;
  c.restarts = o.restarts;
  c.random_start = o.random_start;
  c.cw_loss = o.loss == "cw";
  c.seed = o.seed;
  return c;
}

}  // namespace

std::unique_ptr<Attack> make_pgd_attack(std::string name, const PgdConfig& cfg) {
  return std::make_unique<PgdAttack>(std::move(name), cfg);
}

std::unique_ptr<Attack> make_pgd(const AttackOptions& opts) {
  return make_pgd_attack("pgd", pgd_config("pgd", opts));
}

std::unique_ptr<Attack> make_cw_linf(const AttackOptions& opts) {
  if (opts.norm != Norm::kLinf) {
    throw ConfigError("attack cw-linf: is PGD under linf only (got norm " + norm_name(opts.norm) +
                      "); use pgd with loss = cw for l2");
  }
  AttackOptions o = opts;
  o.loss = "cw";
  return make_pgd_attack("cw-linf", pgd_config("cw-linf", o));
}

}  // namespace detail
}  // namespace sfb::attacks
