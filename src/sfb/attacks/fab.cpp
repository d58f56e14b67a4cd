// FAB-T: the targeted Fast Adaptive Boundary attack (Croce & Hein, ICML 2020) as AutoAttack's
// `standard` run uses it. Behaviour matched to the reference (fra31/auto-attack: fab_base.py,
// fab_pt.py, read for behaviour only; this code is our own):
//  - targets: for k = 1 .. min(opts.targets, C − 1), the k-th highest non-true logit at the clean
//    point (reference: output.sort()[1][:, −(k + 1)] on correctly classified points);
//  - for each target and restart, only samples still robust are attacked;
//  - restart 0 starts at x; restart r ≥ 1 at clip(x + ε/2 · u/‖u‖) (linf: u uniform in [−1, 1]^d,
//    l2: u standard normal), as the reference's use_rand_start;
//  - each of opts.steps iterations linearizes z_t − z_y at x1, projects both x1 and x (x0) onto
//    that hyperplane ∩ [0, 1]^d (detail/fab_projection.cpp), and moves to
//    x1 ← clip((x1 + η d1)(1 − α) + (x0 + η d2) α) with α = clip(‖d1‖/(‖d1‖ + ‖d2‖), 0, α_max);
//    whenever x1 is misclassified (any class ≠ y) it is recorded if closer than the best so far and
//    pulled back: x1 ← x0 + β (x1 − x0). α_max = 0.1, η = 1.05, β = 0.9 (the reference's defaults);
//  - ε check: a sample counts as broken only if its best point is misclassified and has norm ≤ ε;
//    x_adv is that point for broken samples and x for the others (the reference returns the same).
// Deviations: randomness of restarts is keyed per sample by (seed, kStreamFab, global index,
// restart, target rank) instead of one global torch seed; gradients are input gradients only
// (the reference's backward() also fills the weights' .grad).
#include <torch/torch.h>

#include <cmath>
#include <limits>
#include <vector>

#include "attacks/attack.hpp"
#include "attacks/common.hpp"
#include "attacks/detail/fab_projection.hpp"
#include "attacks/detail/factories.hpp"
#include "core/counter_rng.hpp"
#include "core/error.hpp"
#include "core/rng.hpp"

namespace sfb::attacks {
namespace {

constexpr double kAlphaMax = 0.1;   // reference default alpha_max
constexpr double kEta = 1.05;       // reference default eta (overshoot)
constexpr double kBeta = 0.9;       // reference default beta (backward step)
constexpr double kNotFound = 1e10;  // the reference's norm of "no adversarial point yet"

/// Row norms of flat: [N, d] -> [N] in flat's dtype.
torch::Tensor row_norm(const torch::Tensor& flat, Norm norm) {
  return norm == Norm::kLinf ? flat.abs().amax(1) : flat.norm(2, 1);
}

/// Start noise u of restart `restart` ≥ 1 for target rank `k`: [B, dim] float64 on the CPU, row j
/// keyed by (seed, kStreamFab, index[j], restart, k); linf: uniform in [−1, 1); l2: standard
/// normal (Box–Muller).
torch::Tensor start_noise(uint64_t seed, const torch::Tensor& index, int64_t restart, int64_t k,
                          int64_t dim, Norm norm) {
  const int64_t b = index.size(0);
  torch::Tensor out = torch::empty({b, dim}, torch::kFloat64);
  double* p = out.data_ptr<double>();
  const auto ia = index.accessor<int64_t, 1>();
  for (int64_t j = 0; j < b; ++j) {
    CounterRng rng(derive_seed(seed, {kStreamFab, static_cast<uint64_t>(ia[j]),
                                      static_cast<uint64_t>(restart), static_cast<uint64_t>(k)}));
    double* row = p + j * dim;
    if (norm == Norm::kLinf) {
      for (int64_t e = 0; e < dim; ++e) row[e] = rng.uniform(-1.0, 1.0);
    } else {
      for (int64_t e = 0; e < dim; e += 2) {
        const double u1 = 1.0 - rng.uniform();  // (0, 1]
        const double u2 = rng.uniform();
        const double rad = std::sqrt(-2.0 * std::log(u1));
        row[e] = rad * std::cos(2.0 * M_PI * u2);
        if (e + 1 < dim) row[e + 1] = rad * std::sin(2.0 * M_PI * u2);
      }
    }
  }
  return out;
}

/// Per-sample flags gathered over a run: [B] bool on the input's device.
struct Flags {
  torch::Tensor zero_grad;
  torch::Tensor nonfinite;
};

class FabTargeted final : public Attack {
 public:
  explicit FabTargeted(const AttackOptions& o) : o_(o) {
    if (o_.steps < 1)
      throw ConfigError("fab-t: steps must be >= 1 (got " + std::to_string(o_.steps) + ")");
    if (o_.restarts < 1) throw ConfigError("fab-t: restarts must be >= 1");
    if (o_.targets < 1) throw ConfigError("fab-t: targets must be >= 1");
    if (!(o_.eps > 0)) throw ConfigError("fab-t: eps must be > 0");
  }

  std::string name() const override { return "fab-t"; }

  AttackOutput run(models::Classifier& model, const torch::Tensor& x, const torch::Tensor& y,
                   const torch::Tensor& index) override {
    SFB_ASSERT(x.dim() >= 2 && y.dim() == 1 && index.dim() == 1 && x.size(0) == y.size(0) &&
                   x.size(0) == index.size(0),
               "fab-t: x [B, ...], y [B] and index [B] must agree");
    const torch::Tensor xd = x.detach();
    torch::Tensor logits;
    {
      torch::NoGradGuard no_grad;
      logits = model.forward(xd);
    }
    const torch::Tensor correct = logits.argmax(1) == y;
    torch::Tensor robust = correct.clone();
    const torch::Tensor clean_bad = logits.isfinite().all(1).logical_not();
    Flags flags{torch::zeros_like(robust), torch::zeros_like(robust)};  // of the attack's passes
    torch::Tensor x_adv = xd.clone();
    const int64_t n_classes = logits.size(1);
    const int64_t n_targets = std::min(o_.targets, n_classes - 1);
    // Column k − 1 = the k-th highest non-true class at the clean point.
    const torch::Tensor mask = torch::nn::functional::one_hot(y, n_classes).to(torch::kBool);
    const torch::Tensor ranked =
        logits.masked_fill(mask, -std::numeric_limits<double>::infinity()).argsort(1, true);
    const torch::Tensor index_cpu = index.cpu();

    // The runs, targets k = 1 .. n_targets (outer) × restarts (inner) (for_each_run): the first
    // attacks the whole batch and keeps the results of the rows classified correctly (the attack
    // stage hands over only such rows); it never waits. Each later run attacks the rows still
    // robust, chosen with one wait.
    const auto one_run = [&](const RunRows& run) {
      const int64_t k = run.target + 1, r = run.restart;
      const torch::Tensor& pos = run.rows.device;
      const torch::Tensor xs = xd.index_select(0, pos);
      const torch::Tensor ys = y.index_select(0, pos);
      const torch::Tensor ts = ranked.index_select(0, pos).select(1, k - 1).contiguous();
      const torch::Tensor keys = index_cpu.index_select(0, run.rows.host);
      const torch::Tensor adv = single_run(model, xs, ys, ts, keys, k, r, pos, flags);
      // The reference's final check: misclassified and within ε (and attacked at all).
      torch::Tensor pred_adv;
      {
        torch::NoGradGuard no_grad;
        pred_adv = model.forward(adv).argmax(1);
      }
      const torch::Tensor was = robust.index_select(0, pos);
      const torch::Tensor dist = row_norm((adv - xs).reshape({xs.size(0), -1}), o_.norm);
      const torch::Tensor broken = (pred_adv != ys).logical_and(dist <= o_.eps).logical_and(was);
      robust.index_copy_(0, pos, was.logical_and(broken.logical_not()));
      std::vector<int64_t> row_shape(static_cast<std::size_t>(xs.dim()), 1);
      row_shape[0] = xs.size(0);
      x_adv.index_copy_(0, pos,
                        torch::where(broken.view(row_shape), adv, x_adv.index_select(0, pos)));
    };
    const auto still_robust = [&] { return robust; };
    for_each_run(xd.size(0), xd.device(), n_targets, o_.restarts, still_robust, one_run);
    AttackOutput out;
    out.x_adv = x_adv;
    out.robust = robust;
    out.norm = per_sample_norm(x_adv - xd, o_.norm);
    out.zero_grad = flags.zero_grad.logical_and(correct);
    out.nonfinite = clean_bad.logical_or(flags.nonfinite.logical_and(correct));
    return out;
  }

 private:
  /// One FAB run towards targets ts on xs [b, ...]: the closest misclassified point found, or xs
  /// where none was found. pos: [b] positions of the rows in the caller's batch (for flags).
  torch::Tensor single_run(models::Classifier& model, const torch::Tensor& xs,
                           const torch::Tensor& ys, const torch::Tensor& ts,
                           const torch::Tensor& index, int64_t k, int64_t r,
                           const torch::Tensor& pos, Flags& flags) const {
    const int64_t b = xs.size(0);
    const auto shape = xs.sizes();
    const torch::Tensor x0 = xs.reshape({b, -1});
    torch::Tensor x1 = x0.clone();
    if (r > 0) {
      const torch::Tensor u =
          start_noise(o_.seed, index, r, k, x0.size(1), o_.norm).to(x0.options());
      x1 = (x0 + 0.5 * o_.eps * u / row_norm(u, o_.norm).unsqueeze(1)).clamp(0.0, 1.0);
    }
    torch::Tensor adv = x0.clone();
    torch::Tensor best = torch::full({b}, kNotFound, x0.options());
    // df = z_t − z_y (the reference's get_diff_logits_grads_batch_targeted).
    const LossFn diff = [ts](const torch::Tensor& z, const torch::Tensor& yy) {
      return (z.gather(1, ts.unsqueeze(1)) - z.gather(1, yy.unsqueeze(1))).squeeze(1);
    };
    const auto project = o_.norm == Norm::kLinf ? detail::fab_project_linf : detail::fab_project_l2;

    for (int64_t it = 0; it < o_.steps; ++it) {
      const LossGrad lg = loss_and_grad(model, x1.view(shape), ys, diff);
      const torch::Tensor w = lg.grad.reshape({b, -1});
      flags.nonfinite.index_copy_(0, pos,
                                  flags.nonfinite.index_select(0, pos).logical_or(
                                      lg.logits.isfinite().all(1).logical_not()));
      if (k == 1 && r == 0 && it == 0) flags.zero_grad.index_copy_(0, pos, (w == 0).all(1));
      // Hyperplane <w, z> = <w, x1> − df of the linearization at x1, for x1 and for x0.
      const torch::Tensor off = (w * x1).sum(1) - lg.loss;
      const torch::Tensor d3 =
          project(torch::cat({x1, x0}), torch::cat({w, w}), torch::cat({off, off}));
      const torch::Tensor d1 = d3.narrow(0, 0, b);
      const torch::Tensor d2 = d3.narrow(0, b, b);
      const torch::Tensor a0 = row_norm(d3, o_.norm).clamp_min(1e-8);
      const torch::Tensor a1 = a0.narrow(0, 0, b);
      const torch::Tensor a2 = a0.narrow(0, b, b);
      const torch::Tensor alpha = (a1 / (a1 + a2)).clamp(0.0, kAlphaMax).unsqueeze(1);
      x1 = ((x1 + kEta * d1) * (1 - alpha) + (x0 + kEta * d2) * alpha).clamp(0.0, 1.0);

      torch::Tensor z;
      {
        torch::NoGradGuard no_grad;
        z = model.forward(x1.view(shape));
      }
      flags.nonfinite.index_copy_(
          0, pos,
          flags.nonfinite.index_select(0, pos).logical_or(z.isfinite().all(1).logical_not()));
      const torch::Tensor is_adv = z.argmax(1) != ys;
      const torch::Tensor dist = row_norm(x1 - x0, o_.norm);
      const torch::Tensor closer = is_adv.logical_and(dist < best);
      adv = torch::where(closer.unsqueeze(1), x1, adv);
      best = torch::where(closer, dist, best);
      x1 = torch::where(is_adv.unsqueeze(1), x0 + (x1 - x0) * kBeta, x1);
    }
    return adv.view(shape);
  }

  AttackOptions o_;
};

}  // namespace

namespace detail {
std::unique_ptr<Attack> make_fab_t(const AttackOptions& opts) {
  return std::make_unique<FabTargeted>(opts);
}
}  // namespace detail

}  // namespace sfb::attacks
