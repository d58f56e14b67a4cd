// Square Attack (Andriushchenko et al., ECCV 2020): untargeted, margin loss, linf and l2.
// Behaviour matched to the reference (fra31/auto-attack, square.py, read for behaviour only; this
// code is our own):
//  - linf start: vertical stripes, x + ε·s with s = ±1 per (channel, column), clipped to [0, 1];
//  - l2 start: a grid of h/5-pixel squares, each holding the ±η(s) pattern per channel, rescaled to
//    ‖δ‖₂ = ε, clipped to [0, 1];
//  - iteration `it` of opts.queries: square side from square_p/square_side (the schedule in raw
//    iterations for "square", as AutoAttack builds it; stretched to the budget for
//    "square-rescaled"); a sample is queried
//    only while its margin z_y − max_{j≠y} z_j is > 0; a proposal replaces the current point only
//    if its margin is strictly smaller (or ≤ 0, i.e. misclassified);
//  - linf proposal: the square is set to x ± ε per channel (x_best + 2ε·colour, clipped to the
//    ε-ball and [0, 1]); l2 proposal: the reference's two-window move (window 1 gets the new η
//    pattern plus its old content, window 2 is emptied; per channel, window 1 receives the mass
//    both windows held plus 1/c of the unused budget ε² − ‖δ‖²; δ is rescaled to ‖δ‖₂ = ε). The
//    per-channel window mass is that of the reference's current master (older versions summed it
//    over channels);
//  - square positions uniform in {0, …, h − s − 1} (the reference's int((h − s)·rand), which never
//    picks the last position), 0 when s = h;
//  - restarts: each restart attacks the samples still robust, from a fresh start.
// Deviations: the reference draws one square position, one colour vector and one η orientation
// per iteration for the whole batch from a global torch seed; here every sample draws its own,
// keyed by (seed, kStreamSquare, global index, restart, iteration), so results do not depend on
// batching. η is built in float64 (the reference: float32). In the l2 start, grid cells that lie
// outside the image are skipped and cells that stick out are left empty (the reference adds
// nothing for the former and fails on the latter).
#include "attacks/square.hpp"

#include <torch/torch.h>

#include <cmath>
#include <vector>

#include "attacks/common.hpp"
#include "attacks/detail/factories.hpp"
#include "core/counter_rng.hpp"
#include "core/device.hpp"
#include "core/error.hpp"
#include "core/rng.hpp"

namespace sfb::attacks {

double square_p(double p_init, int64_t it, int64_t n_queries, bool rescale) {
  SFB_ASSERT(n_queries > 0, "square_p: n_queries must be > 0");
  // The same floating-point operations as the reference: int(it / n_queries * 10000).
  const auto i =
      rescale
          ? static_cast<int64_t>(static_cast<double>(it) / static_cast<double>(n_queries) * 10000.0)
          : it;
  static constexpr int64_t kBreaks[] = {10, 50, 200, 500, 1000, 2000, 4000, 6000, 8000};
  double p = p_init;
  for (const int64_t b : kBreaks) {
    if (i <= b) break;
    p /= 2;
  }
  return p;
}

int64_t square_side(double p, int64_t c, int64_t h, int64_t w, Norm norm) {
  const double n_features = static_cast<double>(c * h * w);
  // nearbyint rounds halves to even under the default rounding mode, as Python's round().
  auto s = static_cast<int64_t>(std::nearbyint(std::sqrt(p * n_features / static_cast<double>(c))));
  if (norm == Norm::kLinf) {
    s = std::max<int64_t>(s, 1);
  } else {
    s = std::max<int64_t>(s, 3);
    if (s % 2 == 0) ++s;
  }
  return std::min({s, h, w});
}

namespace {

constexpr uint64_t kInitKey = ~uint64_t{0};  // iteration key of the starting point's draws

/// The reference's eta_rectangles(x, y): nested rectangles around the centre, weight 1/(r+1)² for
/// ring r, normalized to unit l2 norm; [x, y] float64 (empty when x = 0).
torch::Tensor eta_rectangles(int64_t x, int64_t y) {
  torch::Tensor d = torch::zeros({x, y}, torch::kFloat64);
  if (x == 0 || y == 0) return d;
  auto a = d.accessor<double, 2>();
  int64_t r0 = x / 2, c0 = y / 2;  // top-left corner of ring 0 (the centre pixel)
  for (int64_t ring = 0; ring < std::max(x / 2 + 1, y / 2 + 1); ++ring, --r0, --c0) {
    const double v = 1.0 / static_cast<double>((ring + 1) * (ring + 1));
    for (int64_t i = std::max<int64_t>(r0, 0); i < std::min(r0 + 2 * ring + 1, x); ++i) {
      for (int64_t j = std::max<int64_t>(c0, 0); j < std::min(c0 + 2 * ring + 1, y); ++j) {
        a[i][j] += v;
      }
    }
  }
  return d / d.norm();
}

/// The reference's eta(s) before its random transpose: the top s/2 rows hold +eta_rectangles,
/// the rest −eta_rectangles; unit l2 norm. [s, s] float64.
torch::Tensor eta_pattern(int64_t s) {
  torch::Tensor d = torch::cat({eta_rectangles(s / 2, s), -eta_rectangles(s - s / 2, s)});
  return d / d.norm();
}

/// One ±1 with probability 1/2 each.
double coin(CounterRng& rng) { return (rng.next() >> 63) != 0 ? 1.0 : -1.0; }

/// The random choices of one iteration for n samples (CPU): window corners, η orientation and
/// per-channel colours, sample j drawn from (seed, kStreamSquare, index[j], restart, it).
struct Draws {
  torch::Tensor vh, vw, vh2, vw2;  ///< [n] int64
  torch::Tensor flip;              ///< [n] bool: use η transposed (l2)
  torch::Tensor colour;            ///< [n, c] float64, ±1
};

Draws draw(uint64_t seed, const torch::Tensor& index, int64_t restart, uint64_t it, int64_t c,
           int64_t range_h, int64_t range_w) {
  const int64_t n = index.size(0);
  Draws d{torch::empty({n}, torch::kInt64), torch::empty({n}, torch::kInt64),
          torch::empty({n}, torch::kInt64), torch::empty({n}, torch::kInt64),
          torch::empty({n}, torch::kBool),  torch::empty({n, c}, torch::kFloat64)};
  const auto ia = index.accessor<int64_t, 1>();
  for (int64_t j = 0; j < n; ++j) {
    CounterRng rng(derive_seed(
        seed, {kStreamSquare, static_cast<uint64_t>(ia[j]), static_cast<uint64_t>(restart), it}));
    d.vh.data_ptr<int64_t>()[j] = static_cast<int64_t>(rng.below(static_cast<uint64_t>(range_h)));
    d.vw.data_ptr<int64_t>()[j] = static_cast<int64_t>(rng.below(static_cast<uint64_t>(range_w)));
    d.vh2.data_ptr<int64_t>()[j] = static_cast<int64_t>(rng.below(static_cast<uint64_t>(range_h)));
    d.vw2.data_ptr<int64_t>()[j] = static_cast<int64_t>(rng.below(static_cast<uint64_t>(range_w)));
    d.flip.data_ptr<bool>()[j] = (rng.next() >> 63) != 0;
    for (int64_t ch = 0; ch < c; ++ch) d.colour.data_ptr<double>()[j * c + ch] = coin(rng);
  }
  return d;
}

/// The s × s window at rows [vh, vh + s) and columns [vw, vw + s): [n, 1, h, w] of x's dtype.
torch::Tensor window(const torch::Tensor& vh, const torch::Tensor& vw, int64_t s, int64_t h,
                     int64_t w, const torch::TensorOptions& opt) {
  const torch::Tensor rows = torch::arange(h, vh.options()).unsqueeze(0);
  const torch::Tensor cols = torch::arange(w, vw.options()).unsqueeze(0);
  const torch::Tensor in_r = (rows >= vh.unsqueeze(1)).logical_and(rows < vh.unsqueeze(1) + s);
  const torch::Tensor in_c = (cols >= vw.unsqueeze(1)).logical_and(cols < vw.unsqueeze(1) + s);
  return in_r.unsqueeze(2).logical_and(in_c.unsqueeze(1)).unsqueeze(1).to(opt);
}

/// Per-sample l2 norm over every dim but the first, kept as [n, 1, 1, 1].
torch::Tensor l2_of(const torch::Tensor& t) { return t.square().sum({1, 2, 3}, true).sqrt(); }

/// z_y − max_{j≠y} z_j without a graph; marks samples with non-finite logits in `bad`.
torch::Tensor margin(models::Classifier& model, const torch::Tensor& x, const torch::Tensor& y,
                     torch::Tensor& bad) {
  torch::NoGradGuard no_grad;
  const torch::Tensor z = model.forward(x);
  bad = bad.logical_or(z.isfinite().all(1).logical_not());
  return -cw_margin_loss(z, y);
}

/// One restart's state on the samples it attacks.
struct RunState {
  torch::Tensor x_best;   ///< [b, c, h, w]
  torch::Tensor queries;  ///< [b] int64 (device)
  torch::Tensor bad;      ///< [b] bool: non-finite logits seen
};

}  // namespace

SquareAttack::SquareAttack(const AttackOptions& opts, bool rescale_schedule)
    : o_(opts), rescale_(rescale_schedule) {
  if (o_.queries < 1) throw ConfigError("square: queries must be >= 1");
  if (o_.restarts < 1) throw ConfigError("square: restarts must be >= 1");
  if (!(o_.eps > 0)) throw ConfigError("square: eps must be > 0");
  if (!(o_.p_init > 0 && o_.p_init <= 1)) throw ConfigError("square: p_init must be in (0, 1]");
}

namespace {

/// The starting point of restart r: [b, c, h, w] (see the file comment).
torch::Tensor start_point(const torch::Tensor& x, const torch::Tensor& index, int64_t r,
                          const AttackOptions& o) {
  const int64_t b = x.size(0), c = x.size(1), h = x.size(2), w = x.size(3);
  const torch::Tensor idx = index.contiguous();
  const auto ia = idx.accessor<int64_t, 1>();
  if (o.norm == Norm::kLinf) {
    torch::Tensor stripes = torch::empty({b, c, 1, w}, torch::kFloat64);
    double* p = stripes.data_ptr<double>();
    for (int64_t j = 0; j < b; ++j) {
      CounterRng rng(derive_seed(o.seed, {kStreamSquare, static_cast<uint64_t>(ia[j]),
                                          static_cast<uint64_t>(r), kInitKey}));
      for (int64_t e = 0; e < c * w; ++e) p[j * c * w + e] = coin(rng);
    }
    return (x + o.eps * stripes.to(x.options())).clamp(0.0, 1.0);
  }
  const int64_t s = h / 5;
  const int64_t start = (h - 5 * s) / 2;
  const torch::Tensor eta = eta_pattern(s);
  const torch::Tensor eta_t = eta.t().contiguous();
  torch::Tensor delta = torch::zeros({b, c, h, w}, torch::kFloat64);
  for (int64_t j = 0; j < b; ++j) {
    CounterRng rng(derive_seed(
        o.seed, {kStreamSquare, static_cast<uint64_t>(ia[j]), static_cast<uint64_t>(r), kInitKey}));
    for (int64_t vh = start, i = 0; i < h / s; ++i, vh += s) {
      for (int64_t vw = start, k = 0; k < w / s; ++k, vw += s) {
        // Every grid cell draws its orientation and colours (as the reference does), whether or
        // not it fits in the image.
        const torch::Tensor& pat = (rng.next() >> 63) != 0 ? eta_t : eta;
        for (int64_t ch = 0; ch < c; ++ch) {
          const double sign = coin(rng);
          if (vh + s <= h && vw + s <= w) {
            delta[j][ch].narrow(0, vh, s).narrow(1, vw, s).add_(pat * sign);
          }
        }
      }
    }
  }
  delta = delta.to(x.options());
  return (x + delta / (l2_of(delta) + 1e-12) * o.eps).clamp(0.0, 1.0);
}

/// One restart of Square on xs [b, c, h, w]; only the rows set in `attacked` (device, [b] bool)
/// are attacked, the others keep their start point and cost no query.
///
/// The rows still attacked (margin > 0) shrink as samples are fooled; the rows queried are a
/// RunningRows set, and the rows fooled since its last pruning are masked on the device (no move,
/// no query counted). The margin only decreases, so a row that left the set never returns, and
/// every row's result is the same as with an exact set.
RunState single_run(models::Classifier& model, const torch::Tensor& xs, const torch::Tensor& ys,
                    const torch::Tensor& index, const torch::Tensor& attacked, int64_t r,
                    const AttackOptions& o, bool rescale) {
  const int64_t b = xs.size(0), c = xs.size(1), h = xs.size(2), w = xs.size(3);
  const auto dev = xs.device();
  RunState st{start_point(xs, index, r, o), attacked.to(torch::kInt64),
              torch::zeros({b}, torch::TensorOptions().dtype(torch::kBool).device(dev))};
  torch::Tensor margin_min = margin(model, st.x_best, ys, st.bad);
  // Rows not attacked count as finished (margin <= 0) from the start.
  margin_min = torch::where(attacked, margin_min, torch::full_like(margin_min, -1.0));
  const double eps = o.eps;
  int64_t eta_side = -1;  // l2: η of the current side, on the device
  torch::Tensor eta;
  RunningRows set(b, dev);  // rows queried: those with margin_min > 0, as of some query

  for (int64_t it = 0; it < o.queries; ++it) {
    if (!set.update(margin_min > 0)) break;
    const torch::Tensor& act_cpu = set.host();
    const torch::Tensor& act = set.device();
    const int64_t n = set.size();
    const torch::Tensor xc = xs.index_select(0, act);
    const torch::Tensor xb = st.x_best.index_select(0, act);
    const torch::Tensor yc = ys.index_select(0, act);
    const torch::Tensor mm = margin_min.index_select(0, act);
    const torch::Tensor live = mm > 0;  // rows of the set still attacked at this query

    const int64_t s = square_side(square_p(o.p_init, it, o.queries, rescale), c, h, w, o.norm);
    const Draws dr = draw(o.seed, index.index_select(0, act_cpu), r, static_cast<uint64_t>(it), c,
                          std::max<int64_t>(h - s, 1), std::max<int64_t>(w - s, 1));
    const torch::Tensor colour = to_device(dr.colour, dev, xs.scalar_type()).view({n, c, 1, 1});
    const torch::Tensor vh = to_device(dr.vh, dev), vw = to_device(dr.vw, dev);  // once per query
    const torch::Tensor m1 = window(vh, vw, s, h, w, xs.options());
    torch::Tensor x_new;
    if (o.norm == Norm::kLinf) {
      x_new = xb + 2.0 * eps * colour * m1;
      x_new = torch::min(torch::max(x_new, xc - eps), xc + eps).clamp(0.0, 1.0);
    } else {
      const torch::Tensor m2 =
          window(to_device(dr.vh2, dev), to_device(dr.vw2, dev), s, h, w, xs.options());
      const torch::Tensor delta = xb - xc;
      // η (or its transpose, per sample) placed in window 1: [n, 1, h, w].
      if (s != eta_side) {  // s changes only at the schedule's breakpoints
        eta_side = s;
        eta = eta_pattern(s).to(xs.options());
      }
      const torch::Tensor pats = torch::where(to_device(dr.flip, dev).view({n, 1, 1}),
                                              eta.t().unsqueeze(0), eta.unsqueeze(0));
      const torch::Tensor rows =
          (torch::arange(h, vh.options()).unsqueeze(0) - vh.unsqueeze(1)).clamp(0, s - 1);
      const torch::Tensor cols =
          (torch::arange(w, vw.options()).unsqueeze(0) - vw.unsqueeze(1)).clamp(0, s - 1);
      const torch::Tensor bidx = torch::arange(n, vh.options()).view({n, 1, 1});
      const torch::Tensor placed =
          pats.index({bidx, rows.view({n, h, 1}), cols.view({n, 1, w})}).unsqueeze(1) * m1;

      // Per channel [n, c, 1, 1]: the mass in window 1 and in both windows; [n, 1, 1, 1]: ‖δ‖.
      const torch::Tensor norm_w1 = (delta * m1).square().sum({2, 3}, true).sqrt();
      const torch::Tensor norm_wins =
          (delta * torch::max(m1, m2)).square().sum({2, 3}, true).sqrt();
      const torch::Tensor norm_img = l2_of(delta);
      torch::Tensor nd = placed * colour + delta * m1 / (1e-12 + norm_w1);
      nd = nd / (1e-12 + nd.square().sum({2, 3}, true).sqrt()) *
           ((eps * eps - norm_img.square()).clamp_min(0.0) / static_cast<double>(c) +
            norm_wins.square())
               .sqrt();
      const torch::Tensor d_new = delta * (1 - m1) * (1 - m2) + nd;
      x_new = (xc + d_new / (l2_of(d_new) + 1e-12) * eps).clamp(0.0, 1.0);
    }

    torch::Tensor bad = torch::zeros_like(live);
    const torch::Tensor m = margin(model, x_new, yc, bad);
    st.bad.index_copy_(0, act, st.bad.index_select(0, act).logical_or(bad.logical_and(live)));
    // Accept a strict decrease of the margin (or a misclassification, as the reference).
    const torch::Tensor better = (m < mm).logical_or(m <= 0).logical_and(live);
    margin_min.index_copy_(0, act, torch::where(better, m, mm));
    st.x_best.index_copy_(0, act, torch::where(better.view({n, 1, 1, 1}), x_new, xb));
    st.queries.index_add_(0, act, live.to(torch::kInt64));
  }
  return st;
}

}  // namespace

AttackOutput SquareAttack::run(models::Classifier& model, const torch::Tensor& x,
                               const torch::Tensor& y, const torch::Tensor& index) {
  SFB_ASSERT(x.dim() == 4 && y.dim() == 1 && index.dim() == 1 && x.size(0) == y.size(0) &&
                 x.size(0) == index.size(0),
             "square: x [B, C, H, W], y [B] and index [B] must agree");
  if (o_.norm == Norm::kL2 && (x.size(2) < 5 || x.size(3) < 5)) {
    throw DataError("square: l2 needs images of at least 5x5 pixels (got " +
                    std::to_string(x.size(2)) + "x" + std::to_string(x.size(3)) + ")");
  }
  const torch::Tensor xd = x.detach();
  const int64_t b = xd.size(0);
  torch::Tensor logits;
  {
    torch::NoGradGuard no_grad;
    logits = model.forward(xd);
  }
  const torch::Tensor correct = logits.argmax(1) == y;
  torch::Tensor robust = correct.clone();
  torch::Tensor bad = logits.isfinite().all(1).logical_not();
  torch::Tensor x_adv = xd.clone();
  queries_ = torch::zeros({b}, y.options().dtype(torch::kInt64));
  const torch::Tensor index_cpu = index.cpu();

  // The restarts (for_each_run): restart 0 attacks the rows classified correctly, masked within
  // the whole batch (no wait); each later restart attacks the rows still robust, chosen with one
  // wait.
  const auto one_run = [&](const RunRows& run) {
    const torch::Tensor& pos = run.rows.device;
    const torch::Tensor xs = xd.index_select(0, pos);
    const torch::Tensor ys = y.index_select(0, pos);
    const torch::Tensor was = robust.index_select(0, pos);
    const torch::Tensor keys = index_cpu.index_select(0, run.rows.host);
    const RunState st = single_run(model, xs, ys, keys, was, run.restart, o_, rescale_);
    queries_.index_add_(0, pos, st.queries);
    bad.index_copy_(0, pos, bad.index_select(0, pos).logical_or(st.bad.logical_and(was)));
    torch::Tensor pred;
    {
      torch::NoGradGuard no_grad;
      pred = model.forward(st.x_best).argmax(1);
    }
    const torch::Tensor broken = (pred != ys).logical_and(was);
    robust.index_copy_(0, pos, was.logical_and(broken.logical_not()));
    x_adv.index_copy_(
        0, pos, torch::where(broken.view({-1, 1, 1, 1}), st.x_best, x_adv.index_select(0, pos)));
  };
  const auto still_robust = [&] { return robust; };
  for_each_run(b, xd.device(), /*targets=*/1, o_.restarts, still_robust, one_run);
  AttackOutput out;
  out.x_adv = x_adv;
  out.robust = robust;
  out.norm = per_sample_norm(x_adv - xd, o_.norm);
  out.zero_grad = torch::zeros_like(robust);  // score-based: no gradient
  out.nonfinite = bad;
  return out;
}

namespace detail {
std::unique_ptr<Attack> make_square(const AttackOptions& opts) {
  return std::make_unique<SquareAttack>(opts, false);
}
std::unique_ptr<Attack> make_square_rescaled(const AttackOptions& opts) {
  return std::make_unique<SquareAttack>(opts, true);
}
}  // namespace detail

}  // namespace sfb::attacks
