// FAB-T: the targeted Fast Adaptive Boundary attack (Croce & Hein, ICML 2020) as AutoAttack's
// `standard` run uses it. Behaviour matched to the reference (fra31/auto-attack: fab_base.py,
// fab_pt.py, read for behaviour only; this code is our own):
//  - targets: for k = 1 .. min(opts.targets, C − 1), the k-th highest non-true logit at the clean
//    point (reference: output.sort()[1][:, −(k + 1)] on correctly classified points);
//  - for each target and restart, only samples still robust are attacked (several targets run in
//    one batch when few samples survive; every run is complete, so nothing changes);
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

    // The runs (target k = 1 .. n_targets, restart r), several targets in one batch of
    // (target, sample) rows: targets k0 + 1 .. k0 + kc for the m samples still robust, kc =
    // max(1, B / m) with B = max(max_rows, rows given), so the working batch never exceeds the
    // caller's batch size (its memory bound) and few survivors get many targets per pass (the
    // reference runs target after target on the samples still robust). Every run is complete and
    // independent per row, so the flags and x_adv (the point of the lowest target that broke the
    // sample) are those of the sequential loop. The first pass attacks the whole batch and keeps
    // the results of the rows classified correctly (the attack stage hands over only such rows); it
    // never waits. Each later pass attacks the rows still robust, chosen with one wait.
    const auto some_targets = [&](int64_t r, int64_t k0, bool first) -> int64_t {
      const torch::Tensor pos =
          first ? torch::arange(xd.size(0), torch::TensorOptions(torch::kInt64).device(xd.device()))
                : robust.nonzero().squeeze(1);  // a wait
      const int64_t m = pos.size(0);
      if (m == 0) return n_targets;
      const int64_t cap = std::max(o_.max_rows, xd.size(0));
      const int64_t kc = std::min(std::max<int64_t>(1, cap / m), n_targets - k0);
      const torch::Tensor xs = xd.index_select(0, pos);
      const torch::Tensor ys = y.index_select(0, pos);
      const torch::Tensor keys = index_cpu.index_select(0, pos.to(torch::kCPU));
      const torch::Tensor x0 = xs.reshape({m, -1});
      std::vector<torch::Tensor> targets, starts;
      for (int64_t k = k0 + 1; k <= k0 + kc; ++k) {
        targets.push_back(ranked.index_select(0, pos).select(1, k - 1));
        if (r == 0) {
          starts.push_back(x0);
        } else {
          const torch::Tensor u =
              start_noise(o_.seed, keys, r, k, x0.size(1), o_.norm).to(x0.options());
          starts.push_back(
              (x0 + 0.5 * o_.eps * u / row_norm(u, o_.norm).unsqueeze(1)).clamp(0.0, 1.0));
        }
      }
      std::vector<int64_t> rep(static_cast<std::size_t>(xs.dim()), 1);
      rep[0] = kc;
      const torch::Tensor xr = xs.repeat(rep), yr = ys.repeat({kc});
      const RunResult res =
          single_run(model, xr, yr, torch::cat(targets).contiguous(), torch::cat(starts));
      // The reference's final check: misclassified and within ε (and attacked at all).
      torch::Tensor pred_adv;
      {
        torch::NoGradGuard no_grad;
        pred_adv = model.forward(res.adv).argmax(1);
      }
      const torch::Tensor dist = row_norm((res.adv - xr).reshape({kc * m, -1}), o_.norm);
      const torch::Tensor broken_k = (pred_adv != yr).logical_and(dist <= o_.eps).view({kc, m});
      const torch::Tensor was = robust.index_select(0, pos);
      const torch::Tensor broken = broken_k.any(0).logical_and(was);
      // The lowest target that broke the sample (argmax takes the first maximum).
      const torch::Tensor pick =
          broken_k.to(torch::kInt64).argmax(0) * m + torch::arange(m, pos.options());
      robust.index_copy_(0, pos, was.logical_and(broken.logical_not()));
      std::vector<int64_t> row_shape(static_cast<std::size_t>(xs.dim()), 1);
      row_shape[0] = m;
      x_adv.index_copy_(0, pos,
                        torch::where(broken.view(row_shape), res.adv.index_select(0, pick),
                                     x_adv.index_select(0, pos)));
      flags.nonfinite.index_copy_(
          0, pos,
          flags.nonfinite.index_select(0, pos).logical_or(res.nonfinite.view({kc, m}).any(0)));
      if (first) flags.zero_grad.index_copy_(0, pos, res.zero_grad.narrow(0, 0, m));
      return k0 + kc;
    };
    bool first = true;
    for (int64_t r = 0; r < o_.restarts; ++r) {
      for (int64_t k0 = 0; k0 < n_targets; first = false) k0 = some_targets(r, k0, first);
    }
    AttackOutput out;
    out.x_adv = x_adv;
    out.robust = robust;
    out.norm = per_sample_norm(x_adv - xd, o_.norm);
    out.zero_grad = flags.zero_grad.logical_and(correct);
    out.nonfinite = clean_bad.logical_or(flags.nonfinite.logical_and(correct));
    return out;
  }

 private:
  /// What one FAB run returns per row.
  struct RunResult {
    torch::Tensor adv;        ///< [b, ...] the closest misclassified point found, or xs
    torch::Tensor nonfinite;  ///< [b] bool: some logits of the run were NaN or infinite
    torch::Tensor zero_grad;  ///< [b] bool: the first iteration's gradient was exactly zero
  };

  /// One FAB run towards targets ts ([b]) on xs [b, ...] from x_start ([b, d], flat).
  RunResult single_run(models::Classifier& model, const torch::Tensor& xs, const torch::Tensor& ys,
                       const torch::Tensor& ts, const torch::Tensor& x_start) const {
    const int64_t b = xs.size(0);
    const auto shape = xs.sizes();
    const torch::Tensor x0 = xs.reshape({b, -1});
    torch::Tensor x1 = x_start.clone();
    torch::Tensor adv = x0.clone();
    torch::Tensor best = torch::full({b}, kNotFound, x0.options());
    RunResult out;
    out.nonfinite = torch::zeros({b}, ys.options().dtype(torch::kBool));
    // df = z_t − z_y (the reference's get_diff_logits_grads_batch_targeted).
    const LossFn diff = [ts](const torch::Tensor& z, const torch::Tensor& yy) {
      return (z.gather(1, ts.unsqueeze(1)) - z.gather(1, yy.unsqueeze(1))).squeeze(1);
    };
    const auto project = o_.norm == Norm::kLinf ? detail::fab_project_linf : detail::fab_project_l2;

    for (int64_t it = 0; it < o_.steps; ++it) {
      const LossGrad lg = loss_and_grad(model, x1.view(shape), ys, diff);
      const torch::Tensor w = lg.grad.reshape({b, -1});
      out.nonfinite = out.nonfinite.logical_or(lg.logits.isfinite().all(1).logical_not());
      if (it == 0) out.zero_grad = (w == 0).all(1);
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
      out.nonfinite = out.nonfinite.logical_or(z.isfinite().all(1).logical_not());
      const torch::Tensor is_adv = z.argmax(1) != ys;
      const torch::Tensor dist = row_norm(x1 - x0, o_.norm);
      const torch::Tensor closer = is_adv.logical_and(dist < best);
      adv = torch::where(closer.unsqueeze(1), x1, adv);
      best = torch::where(closer, dist, best);
      x1 = torch::where(is_adv.unsqueeze(1), x0 + (x1 - x0) * kBeta, x1);
    }
    out.adv = adv.view(shape);
    return out;
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
