// APGD-CE, APGD-DLR and APGD-T (SPEC §3; Croce & Hein 2020, "Reliable evaluation of adversarial
// robustness with an ensemble of diverse parameter-free attacks", Algorithm 1 and §3-4).
//
// Written from the paper; where the paper leaves room, the behaviour of the reference
// implementation (fra31/auto-attack, autoattack/autopgd_base.py, classes APGDAttack and
// APGDAttack_targeted) was read and matched wherever it decides robust accuracy. No code was
// copied. What is matched:
//   - step η = 2ε per sample (linf and l2), momentum α = 0.75 from the second iteration on (the
//     first iteration is a plain step, α = 1), each step projected onto ball ∩ [0, 1] twice: the
//     gradient step z, then the momentum combination x + α(z − x) + (1 − α)(x − x_prev).
//   - linf: sign of the gradient, projection min(max(v, x − ε), x + ε) then clip to [0, 1].
//     l2: g/(‖g‖₂ + 1e-12), projection x + d/(‖d‖₂ + 1e-12)·min(ε, ‖d‖₂) then clip to [0, 1]
//     (rescaling, then clipping: not the exact projection onto the intersection, as the reference).
//   - checkpoints in the reference's integer form (detail::apgd_checkpoints; = the paper's
//     ⌈p_j·N⌉ for N = 100). Condition 1 counts the increases f(x^(i+1)) > f(x^(i)) in the window
//     and halves when count ≤ ρ·window (reference `<=`; the paper writes `<`). In the first window
//     the reference compares f(x^(1)) with 0 (its loss history is zero-initialised and read at
//     index −1), not with f(x^(0)); matched. Condition 2 (η unchanged at the previous checkpoint
//     and best loss not improved since) cannot fire at the first checkpoint (reference:
//     reduced_last = 1). Halved samples restart from their best point x_best with the gradient
//     there; x_prev is kept.
//   - best point: strict improvement f > f_best updates x_best; the start counts as iterate 0.
//   - restarts: run only on samples still robust; APGD-T's runs (restart r, target k) cover the
//     same (target, restart) pairs as the reference's targets (outer) × restarts (inner) loop,
//     target k = the k-th highest non-true clean logit (reference: the (k+1)-th highest logit; the
//     same for the correctly classified samples it attacks). Several targets run in one batch
//     when few samples survive (see some_targets in Apgd::run); the flags do not change.
//   - random start as the reference (detail::apgd_random_start); draws keyed per sample.
// Deviations (none changes which samples count as robust, except through the random draws):
//   - randomness keyed by (seed, kStreamApgd, global index, restart key) instead of one torch
//     generator for the batch; restart key = r for APGD-CE/DLR, k·restarts + r for APGD-T.
//   - x_adv of a fooled sample is its FIRST misclassified iterate (reference: the last one); x_adv
//     of a robust sample is its highest-loss point over all runs (reference: the clean x).
//   - a sample leaves the run's working batch as soon as it is misclassified (the reference keeps
//     iterating on it to the end of the run): its later iterates cannot change the robust flag
//     (fooled is sticky and x_adv is the first misclassified iterate), and every per-sample
//     quantity (step, momentum, checkpoint counts) depends on that sample alone, so the other
//     samples' iterates are the same; only the rounding of a batched forward of another batch
//     size can differ. One host wait per iteration decides who leaves. The nonfinite flag then
//     covers the iterates up to the one that fooled the sample.
//   - number of target classes capped at C − 1; losses compared in the model's dtype (reference:
//     float32).
#include "attacks/detail/apgd.hpp"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "attacks/attack.hpp"
#include "attacks/common.hpp"
#include "attacks/detail/factories.hpp"
#include "core/error.hpp"
#include "core/tensors.hpp"

namespace sfb::attacks {
namespace detail {
namespace {

constexpr double kMomentum = 0.75;    // α of Algorithm 1
constexpr double kStepInit = 2.0;     // η^(0) = 2ε
constexpr double kNormGuard = 1e-12;  // the reference's guard in norms
constexpr double kPi = 3.14159265358979323846;

/// ‖d‖₂ per sample: [B, ...] -> [B].
torch::Tensor l2_norm(const torch::Tensor& d) { return d.reshape({d.size(0), -1}).norm(2, 1); }

/// The reference's projection onto the ε-ball of x, then [0, 1] (see the file comment).
torch::Tensor project_ref(const torch::Tensor& v, const torch::Tensor& x, Norm norm, double eps) {
  if (norm == Norm::kLinf) return torch::min(torch::max(v, x - eps), x + eps).clamp(0.0, 1.0);
  const torch::Tensor d = v - x;
  const torch::Tensor n = l2_norm(d);
  return (x + d / per_row(n + kNormGuard, d) * per_row(n.clamp_max(eps), d)).clamp(0.0, 1.0);
}

/// Steepest-ascent direction of the norm: sign(g) (linf) or g/(‖g‖₂ + 1e-12) (l2).
torch::Tensor ascent_direction(const torch::Tensor& g, Norm norm) {
  if (norm == Norm::kLinf) return g.sign();
  return g / per_row(l2_norm(g) + kNormGuard, g);
}

/// [B] bool: every logit finite.
torch::Tensor finite_rows(const torch::Tensor& logits) { return torch::isfinite(logits).all(1); }

}  // namespace

std::vector<int64_t> apgd_checkpoints(int64_t n_iter) {
  SFB_ASSERT(n_iter >= 1, "apgd_checkpoints: n_iter must be >= 1");
  const auto frac = [n_iter](double p) {
    return std::max<int64_t>(static_cast<int64_t>(p * static_cast<double>(n_iter)), 1);
  };
  int64_t window = frac(0.22);
  const int64_t decrease = frac(0.03), min_window = frac(0.06);
  std::vector<int64_t> out;
  for (int64_t w = window; w <= n_iter; w += window) {
    out.push_back(w);
    window = std::max(window - decrease, min_window);
  }
  return out;
}

torch::Tensor apgd_halve(const torch::Tensor& increases, int64_t window, double rho,
                         const torch::Tensor& reduced_last, const torch::Tensor& best_last,
                         const torch::Tensor& best_now) {
  const torch::Tensor cond1 = increases.to(torch::kFloat64) <= rho * static_cast<double>(window);
  const torch::Tensor cond2 = reduced_last.logical_not().logical_and(best_last >= best_now);
  return cond1.logical_or(cond2);
}

torch::Tensor apgd_random_start(const torch::Tensor& x, const torch::Tensor& index, uint64_t seed,
                                int64_t key, Norm norm, double eps) {
  const at::IntArrayRef sample_shape = x.sizes().slice(1);
  torch::Tensor t;
  if (norm == Norm::kLinf) {
    t = 2.0 * keyed_uniform(seed, kStreamApgd, index, key, sample_shape) - 1.0;
    t = t.to(x.options());
    const torch::Tensor n = t.reshape({t.size(0), -1}).abs().amax(1);
    t = t / per_row(n + kNormGuard, t);
  } else {
    std::vector<int64_t> two{2};
    two.insert(two.end(), sample_shape.begin(), sample_shape.end());
    const torch::Tensor u = keyed_uniform(seed, kStreamApgd, index, key, two).to(torch::kFloat64);
    // Box–Muller: 1 − u1 lies in (0, 1], so the logarithm is finite.
    const torch::Tensor radius = torch::sqrt(-2.0 * torch::log1p(-u.select(1, 0)));
    t = (radius * torch::cos(2.0 * kPi * u.select(1, 1))).to(x.options());
    t = t / per_row(l2_norm(t) + kNormGuard, t);
  }
  return (x + eps * t).clamp(0.0, 1.0);
}

ApgdRun apgd_run(models::Classifier& model, const torch::Tensor& x, const torch::Tensor& y,
                 const torch::Tensor& x_start, const LossFn& loss, Norm norm, double eps,
                 int64_t n_iter, double rho, bool prune, const torch::Tensor& group) {
  const RowLossFn row_loss = [&loss](const torch::Tensor& logits, const torch::Tensor& yy,
                                     const torch::Tensor&) { return loss(logits, yy); };
  return apgd_run(model, x, y, x_start, row_loss, norm, eps, n_iter, rho, prune, group);
}

ApgdRun apgd_run(models::Classifier& model, const torch::Tensor& x, const torch::Tensor& y,
                 const torch::Tensor& x_start, const RowLossFn& loss, Norm norm, double eps,
                 int64_t n_iter, double rho, bool prune, const torch::Tensor& group) {
  SFB_ASSERT(n_iter >= 1 && eps > 0, "apgd_run: n_iter >= 1 and eps > 0 required");
  const int64_t b = x.size(0);
  const std::vector<int64_t> checkpoints = apgd_checkpoints(n_iter);
  std::size_t next_check = 0;
  int64_t last_check = 0;

  // The rows still attacked (`rows`, into the batch) and their state, compacted: a row leaves
  // once it is fooled (with `prune`); its results are written to r when it leaves or at the end.
  torch::Tensor rows = torch::arange(b, torch::TensorOptions(torch::kInt64).device(x.device()));
  // The group of every row (rows of one group leave together); by default each row its own.
  torch::Tensor grp = group.defined() ? group.to(x.device(), torch::kInt64) : rows.clone();
  SFB_ASSERT(grp.dim() == 1 && grp.size(0) == b, "apgd_run: group must be [B]");
  const auto row_fn = [&loss, &rows](const torch::Tensor& logits, const torch::Tensor& yy) {
    return loss(logits, yy, rows);
  };

  ApgdRun r;
  torch::Tensor xa = x, ya = y;
  torch::Tensor x_cur = x_start.detach().clone();
  LossGrad lg = loss_and_grad(model, x_cur, ya, row_fn);
  torch::Tensor grad = lg.grad;
  r.zero_grad = grad.reshape({b, -1}).abs().amax(1) == 0;
  torch::Tensor nonfinite = finite_rows(lg.logits).logical_not();
  torch::Tensor fooled = lg.logits.argmax(1) != ya;
  torch::Tensor x_fooled = x_cur.clone();
  torch::Tensor x_best = x_cur.clone();
  torch::Tensor loss_best = lg.loss.clone();
  torch::Tensor grad_best = grad.clone();
  torch::Tensor step = torch::full({b}, kStepInit * eps, x.options());
  torch::Tensor x_prev = x_cur.clone();
  // The reference's loss history starts at zero: the first window's first comparison is with 0.
  torch::Tensor loss_prev = torch::zeros_like(loss_best);
  torch::Tensor increases =
      torch::zeros({b}, torch::TensorOptions(torch::kInt64).device(x.device()));
  torch::Tensor reduced_last = torch::ones({b}, increases.options().dtype(torch::kBool));
  torch::Tensor best_last = loss_best.clone();

  r.fooled = fooled.clone();
  r.nonfinite = nonfinite.clone();
  r.x_fooled = x_fooled.clone();
  r.x_best = x_best.clone();
  r.loss_best = loss_best.clone();
  r.step_size = step.clone();
  // Writes the state of the rows `leave` ([active] bool) to r and drops them from the state.
  const auto retire = [&](const torch::Tensor& leave) {
    torch::NoGradGuard no_grad;
    const torch::Tensor out = leave.nonzero().squeeze(1),
                        stay = leave.logical_not().nonzero().squeeze(1);
    const torch::Tensor dst = rows.index_select(0, out);
    r.fooled.index_copy_(0, dst, fooled.index_select(0, out));
    r.nonfinite.index_copy_(0, dst, nonfinite.index_select(0, out));
    r.x_fooled.index_copy_(0, dst, x_fooled.index_select(0, out));
    r.x_best.index_copy_(0, dst, x_best.index_select(0, out));
    r.loss_best.index_copy_(0, dst, loss_best.index_select(0, out));
    r.step_size.index_copy_(0, dst, step.index_select(0, out));
    for (torch::Tensor* t :
         {&rows, &grp, &xa, &ya, &x_cur, &x_prev, &grad, &grad_best, &step, &loss_prev, &increases,
          &reduced_last, &best_last, &x_best, &loss_best, &nonfinite, &fooled, &x_fooled}) {
      *t = t->index_select(0, stay);
    }
  };
  // The rows to retire once `fooled` rows exist: those rows and every row of their groups.
  const auto leaving = [&] {
    return group.defined() ? torch::isin(grp, grp.masked_select(fooled)) : fooled;
  };
  // Rows misclassified at the start are done (one host wait).
  if (prune && fooled.any().item<bool>()) retire(leaving());

  for (int64_t i = 0; i < n_iter && rows.size(0) > 0; ++i) {
    torch::Tensor x_new;
    {
      torch::NoGradGuard no_grad;
      const double a = i > 0 ? kMomentum : 1.0;
      const torch::Tensor momentum = x_cur - x_prev;
      x_prev = x_cur;
      const torch::Tensor z =
          project_ref(x_cur + per_row(step, x_cur) * ascent_direction(grad, norm), xa, norm, eps);
      x_new = project_ref(x_cur + a * (z - x_cur) + (1.0 - a) * momentum, xa, norm, eps);
    }
    lg = loss_and_grad(model, x_new, ya, row_fn);
    grad = lg.grad;
    torch::NoGradGuard no_grad;
    nonfinite = nonfinite.logical_or(finite_rows(lg.logits).logical_not());

    const torch::Tensor newly_fooled =
        (lg.logits.argmax(1) != ya).logical_and(fooled.logical_not());
    x_fooled = torch::where(per_row(newly_fooled, x_new), x_new, x_fooled);
    fooled = fooled.logical_or(newly_fooled);

    increases += (lg.loss > loss_prev).to(torch::kInt64);
    loss_prev = lg.loss;
    const torch::Tensor improved = lg.loss > loss_best;
    x_best = torch::where(per_row(improved, x_new), x_new, x_best);
    grad_best = torch::where(per_row(improved, grad), grad, grad_best);
    loss_best = torch::where(improved, lg.loss, loss_best);

    x_cur = x_new;
    if (next_check < checkpoints.size() && i + 1 == checkpoints[next_check]) {
      const int64_t window = checkpoints[next_check] - last_check;
      const torch::Tensor halve =
          apgd_halve(increases, window, rho, reduced_last, best_last, loss_best);
      step = torch::where(halve, step / 2.0, step);
      x_cur = torch::where(per_row(halve, x_cur), x_best, x_cur);
      grad = torch::where(per_row(halve, grad), grad_best, grad);
      r.halved.push_back(torch::zeros({b}, halve.options()).index_copy_(0, rows, halve));
      reduced_last = halve;
      best_last = loss_best.clone();
      increases.zero_();
      last_check = checkpoints[next_check];
      ++next_check;
    }
    // A fooled row's later iterates change nothing the attack reports: it leaves (one host wait
    // per iteration; the reference keeps iterating on it until the run ends).
    if (prune && newly_fooled.any().item<bool>()) retire(leaving());
  }
  if (rows.size(0) > 0) retire(torch::ones_like(fooled));
  // Checkpoints after every row left: no row is halved there.
  while (r.halved.size() < checkpoints.size()) {
    r.halved.push_back(torch::zeros({b}, r.fooled.options()));
  }
  r.x_fooled = torch::where(per_row(r.fooled, r.x_fooled), r.x_fooled, r.x_best);
  return r;
}

}  // namespace detail

namespace {

enum class ApgdLoss { kCe, kDlr, kTargetedDlr };

class Apgd : public Attack {
 public:
  Apgd(std::string name, ApgdLoss loss, const AttackOptions& o)
      : name_(std::move(name)), loss_(loss), o_(o) {
    const auto bad = [this](const std::string& what) {
      throw ConfigError("attack " + name_ + ": " + what);
    };
    if (!(o.eps > 0)) bad("eps must be > 0");
    if (o.steps < 1) bad("steps must be >= 1");
    if (o.restarts < 1) bad("restarts must be >= 1");
    if (!(o.rho > 0 && o.rho <= 1)) bad("rho must be in (0, 1]");
    if (loss == ApgdLoss::kTargetedDlr && o.targets < 1) bad("targets must be >= 1");
  }

  std::string name() const override { return name_; }

  AttackOutput run(models::Classifier& model, const torch::Tensor& x, const torch::Tensor& y,
                   const torch::Tensor& index) override;

 private:
  std::string name_;
  ApgdLoss loss_;
  AttackOptions o_;
};

AttackOutput Apgd::run(models::Classifier& model, const torch::Tensor& x, const torch::Tensor& y,
                       const torch::Tensor& index) {
  SFB_ASSERT(x.dim() == 4 && y.dim() == 1 && index.dim() == 1 && y.size(0) == x.size(0) &&
                 index.size(0) == x.size(0),
             name_ + ": x [B,C,H,W], y [B], index [B] required");
  const int64_t c = model.num_classes();
  const int64_t min_classes = loss_ == ApgdLoss::kCe ? 2 : loss_ == ApgdLoss::kDlr ? 3 : 4;
  if (c < min_classes) {
    throw ConfigError("attack " + name_ + " needs at least " + std::to_string(min_classes) +
                      " classes; the model has " + std::to_string(c));
  }
  const torch::Tensor index_cpu = index.to(torch::kCPU, torch::kInt64);
  const torch::Tensor xd = x.detach();
  if (x.size(0) == 0) {
    AttackOutput empty;
    empty.x_adv = xd.clone();
    empty.robust = torch::zeros({0}, y.options().dtype(torch::kBool));
    empty.norm = torch::zeros({0}, x.options().dtype(torch::kFloat32));
    empty.zero_grad = empty.robust.clone();
    empty.nonfinite = empty.robust.clone();
    return empty;
  }

  torch::Tensor clean_logits;
  {
    torch::NoGradGuard no_grad;
    clean_logits = model.forward(xd);
  }
  const torch::Tensor correct = clean_logits.argmax(1) == y;
  torch::Tensor robust = correct.clone();
  const torch::Tensor clean_bad = detail::finite_rows(clean_logits).logical_not();
  torch::Tensor nonfinite = torch::zeros_like(robust);  // of the attack's passes, attacked rows
  torch::Tensor zero_grad = torch::zeros_like(robust);
  torch::Tensor x_out = xd.clone();
  torch::Tensor loss_kept =
      torch::full({x.size(0)}, -std::numeric_limits<double>::infinity(), x.options());

  // Target classes: column k of the non-true clean logits sorted in descending order (stable, so
  // ties go to the lower class index as argmax does).
  int64_t n_targets = 1;
  torch::Tensor ranked;
  if (loss_ == ApgdLoss::kTargetedDlr) {
    n_targets = std::min(o_.targets, c - 1);
    const torch::Tensor mask = torch::nn::functional::one_hot(y, c).to(torch::kBool);
    const torch::Tensor others =
        clean_logits.masked_fill(mask, -std::numeric_limits<double>::infinity());
    ranked = std::get<1>(others.sort(/*stable=*/true, /*dim=*/1, /*descending=*/true));
  }

  // The runs, targets (outer) × restarts (inner) (for_each_run): the first attacks the whole batch
  // and keeps the results of the rows classified correctly (the attack stage hands over only such
  // rows); it never waits. Each later run attacks the rows still robust, chosen with one wait.
  const auto one_run = [&](const RunRows& run) {
    const torch::Tensor& idx = run.rows.device;
    const torch::Tensor xs = xd.index_select(0, idx), ys = y.index_select(0, idx);
    const torch::Tensor key_index = index_cpu.index_select(0, run.rows.host);
    // Rows of this run that count (still robust): the first run's misclassified rows do not.
    const torch::Tensor was = robust.index_select(0, idx);
    const int64_t key = run.target * o_.restarts + run.restart;
    const torch::Tensor start =
        detail::apgd_random_start(xs, key_index, o_.seed, key, o_.norm, o_.eps);
    // The loss of the rows `r` (into this run's rows) that apgd_run still attacks.
    detail::RowLossFn fn;
    if (loss_ == ApgdLoss::kCe) {
      fn = [](const torch::Tensor& logits, const torch::Tensor& yy, const torch::Tensor&) {
        return ce_loss(logits, yy);
      };
    } else if (loss_ == ApgdLoss::kDlr) {
      fn = [](const torch::Tensor& logits, const torch::Tensor& yy, const torch::Tensor&) {
        return dlr_loss(logits, yy);
      };
    } else {
      const torch::Tensor t = ranked.index_select(0, idx).select(1, run.target);
      fn = [t](const torch::Tensor& logits, const torch::Tensor& yy, const torch::Tensor& r) {
        return dlr_targeted_loss(logits, yy, t.index_select(0, r));
      };
    }
    const detail::ApgdRun res =
        detail::apgd_run(model, xs, ys, start, fn, o_.norm, o_.eps, o_.steps, o_.rho);
    if (run.first) zero_grad = res.zero_grad.logical_and(correct);

    // Fooled samples keep their first misclassified point; robust ones their highest-loss point.
    const torch::Tensor kept = loss_kept.index_select(0, idx);
    const torch::Tensor better =
        res.fooled.logical_not().logical_and(res.loss_best > kept).logical_and(was);
    const torch::Tensor take = res.fooled.logical_and(was).logical_or(better);
    // res.x_fooled is already res.x_best where the run did not fool.
    x_out.index_copy_(0, idx,
                      torch::where(per_row(take, xs), res.x_fooled, x_out.index_select(0, idx)));
    loss_kept.index_copy_(0, idx, torch::where(better, res.loss_best, kept));
    robust.index_copy_(0, idx, res.fooled.logical_not().logical_and(was));
    nonfinite.index_copy_(
        0, idx, nonfinite.index_select(0, idx).logical_or(res.nonfinite.logical_and(was)));
  };
  // APGD-T: the runs of several targets at once, one batch of (target, sample) rows (the
  // reference runs target after target on the samples still robust): targets k0 .. k0 + kc − 1
  // for the m samples still robust, kc = max(1, B / m) with B = max(max_rows, rows given), so the
  // working batch never exceeds the caller's batch size (its memory bound) and few survivors get
  // many targets per pass. A sample is fooled if some target's run fools it, so the flags are those
  // of the sequential loop; the rows of a sample leave the batch together as soon as one of them is
  // fooled (group pruning). A fooled sample keeps the first misclassified point of the lowest
  // target fooled at the earliest iteration; a robust one the highest-loss point over its
  // targets (ties: the lowest target).
  const auto some_targets = [&](int64_t restart, int64_t k0, bool first) {
    const torch::Tensor idx =
        first ? torch::arange(x.size(0), torch::TensorOptions(torch::kInt64).device(x.device()))
              : robust.nonzero().squeeze(1);  // a wait
    const int64_t m = idx.size(0);
    if (m == 0) return k0 + n_targets;
    const int64_t cap = std::max(o_.max_rows, x.size(0));
    const int64_t kc = std::min(std::max<int64_t>(1, cap / m), n_targets - k0);
    const torch::Tensor xs = xd.index_select(0, idx), ys = y.index_select(0, idx);
    const torch::Tensor key_index = index_cpu.index_select(0, idx.to(torch::kCPU));
    const torch::Tensor was = robust.index_select(0, idx);
    std::vector<torch::Tensor> starts, targets;
    for (int64_t k = k0; k < k0 + kc; ++k) {
      starts.push_back(detail::apgd_random_start(xs, key_index, o_.seed, k * o_.restarts + restart,
                                                 o_.norm, o_.eps));
      targets.push_back(ranked.index_select(0, idx).select(1, k));
    }
    std::vector<int64_t> rep(static_cast<std::size_t>(xs.dim()), 1);
    rep[0] = kc;
    const torch::Tensor t_all = torch::cat(targets);
    const detail::RowLossFn fn = [t_all](const torch::Tensor& logits, const torch::Tensor& yy,
                                         const torch::Tensor& r) {
      return dlr_targeted_loss(logits, yy, t_all.index_select(0, r));
    };
    const torch::Tensor group = torch::arange(m, idx.options()).repeat({kc});
    const detail::ApgdRun res =
        detail::apgd_run(model, xs.repeat(rep), ys.repeat({kc}), torch::cat(starts), fn, o_.norm,
                         o_.eps, o_.steps, o_.rho, true, group);
    if (first) zero_grad = res.zero_grad.narrow(0, 0, m).logical_and(correct);
    // Per sample over its targets ([kc, m] -> [m]); argmax takes the first maximum.
    const torch::Tensor fooled_k = res.fooled.view({kc, m});
    const torch::Tensor fooled = fooled_k.any(0);
    const torch::Tensor loss_k = res.loss_best.view({kc, m});
    const torch::Tensor pick =
        torch::where(fooled, fooled_k.to(torch::kInt64).argmax(0), loss_k.argmax(0));
    const torch::Tensor flat = pick * m + torch::arange(m, idx.options());  // chosen row
    const torch::Tensor x_pick = res.x_fooled.index_select(0, flat);  // x_best where not fooled
    const torch::Tensor loss_pick = res.loss_best.index_select(0, flat);
    const torch::Tensor kept = loss_kept.index_select(0, idx);
    const torch::Tensor better =
        fooled.logical_not().logical_and(loss_pick > kept).logical_and(was);
    const torch::Tensor take = fooled.logical_and(was).logical_or(better);
    x_out.index_copy_(0, idx, torch::where(per_row(take, xs), x_pick, x_out.index_select(0, idx)));
    loss_kept.index_copy_(0, idx, torch::where(better, loss_pick, kept));
    robust.index_copy_(0, idx, fooled.logical_not().logical_and(was));
    nonfinite.index_copy_(0, idx,
                          nonfinite.index_select(0, idx).logical_or(
                              res.nonfinite.view({kc, m}).any(0).logical_and(was)));
    return k0 + kc;
  };
  if (loss_ == ApgdLoss::kTargetedDlr) {
    bool first = true;
    for (int64_t r = 0; r < o_.restarts; ++r) {
      for (int64_t k0 = 0; k0 < n_targets; first = false) k0 = some_targets(r, k0, first);
    }
  } else {
    const auto still_robust = [&] { return robust; };
    for_each_run(x.size(0), x.device(), n_targets, o_.restarts, still_robust, one_run);
  }

  AttackOutput out;
  out.x_adv = x_out;
  out.robust = robust;
  out.norm = per_sample_norm(x_out - xd, o_.norm);
  out.zero_grad = zero_grad;
  out.nonfinite = nonfinite.logical_or(clean_bad);
  return out;
}

}  // namespace

namespace detail {
std::unique_ptr<Attack> make_apgd_ce(const AttackOptions& o) {
  return std::make_unique<Apgd>("apgd-ce", ApgdLoss::kCe, o);
}
std::unique_ptr<Attack> make_apgd_dlr(const AttackOptions& o) {
  return std::make_unique<Apgd>("apgd-dlr", ApgdLoss::kDlr, o);
}
std::unique_ptr<Attack> make_apgd_t(const AttackOptions& o) {
  return std::make_unique<Apgd>("apgd-t", ApgdLoss::kTargetedDlr, o);
}
}  // namespace detail

}  // namespace sfb::attacks
