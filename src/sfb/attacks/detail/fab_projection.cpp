// FAB's projection onto a hyperplane intersected with the box [0, 1]^d, linf and l2.
//
// Both solve: minimize ‖d‖ s.t. <w, t + d> = b, t + d ∈ [0, 1]^d, row by row. After orienting w
// so that c = <w, t> − b ≥ 0, every feasible optimum decreases <w, ·> by exactly c, and moving a
// coordinate j against sign(w_j) is the only useful move. The achieved decrease is a
// piecewise-linear, monotone function of one scalar (linf: the step λ; l2: the multiplier α), so
// sorting its breakpoints once and reading off the segment where it crosses c gives the exact
// solution in O(d log d). This is the algorithm of the reference (fra31/auto-attack,
// fab_projections.py, read for behaviour only); the code here is our own derivation of it.
#include "attacks/detail/fab_projection.hpp"

#include <torch/torch.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <vector>

namespace sfb::attacks::detail {
namespace {

constexpr double kSumGuard =
    1e-30;  // guards divisions by sums of |w| that vanish in exact arithmetic

/// Rows of t·w summed minus b: [N].
torch::Tensor gap(const torch::Tensor& t, const torch::Tensor& w, const torch::Tensor& b) {
  return (w * t).sum(1) - b;
}

/// One row of the linf projection on the CPU (see fab_project_linf_sorted for the function F):
/// λ solves F(λ) = Σ_j |w_j| min(λ, room_j) = c by selection. `cand` holds the breakpoints not yet
/// placed; a pivot p (their median) is placed by evaluating F(p): F(p) > c puts every candidate
/// with room ≥ p above λ (it contributes |w_j| λ: the slope s_hi), otherwise every candidate with
/// room ≤ p below λ (it contributes |w_j| room_j: the constant p_lo). When none is left,
/// λ = (c − p_lo) / s_hi; λ = ∞ when even F(∞) = Σ |w_j| room_j does not exceed c.
template <typename T>
void project_linf_row(const T* t, const T* w_in, T b, int64_t d, T* out,
                      std::vector<std::pair<double, double>>& cand) {
  double g = -static_cast<double>(b);
  for (int64_t j = 0; j < d; ++j) g += static_cast<double>(w_in[j]) * static_cast<double>(t[j]);
  const double sign = g >= 0 ? 1.0 : -1.0;
  const double c = g * sign;
  cand.clear();
  double f_inf = 0;  // F(∞)
  for (int64_t j = 0; j < d; ++j) {
    const double w = static_cast<double>(w_in[j]) * sign;
    if (w == 0) continue;
    const double room = w < 0 ? 1.0 - static_cast<double>(t[j]) : static_cast<double>(t[j]);
    cand.emplace_back(room, std::abs(w));
    f_inf += std::abs(w) * room;
  }
  double lambda = std::numeric_limits<double>::infinity();
  if (f_inf > c) {
    double s_hi = 0, p_lo = 0;
    auto first = cand.begin(), last = cand.end();
    while (first != last) {
      const auto mid = first + (last - first) / 2;
      std::nth_element(first, mid, last);
      const double p = mid->first;
      double f = s_hi * p + p_lo;
      for (auto it = first; it != last; ++it) f += it->second * std::min(p, it->first);
      if (f > c) {  // λ < p: the candidates with room ≥ p are above λ
        const auto split = std::partition(
            first, last, [p](const std::pair<double, double>& e) { return e.first < p; });
        for (auto it = split; it != last; ++it) s_hi += it->second;
        last = split;
      } else {  // λ ≥ p: the candidates with room ≤ p are below λ
        const auto split = std::partition(
            first, last, [p](const std::pair<double, double>& e) { return e.first <= p; });
        for (auto it = first; it != split; ++it) p_lo += it->second * it->first;
        first = split;
      }
    }
    lambda = std::max(0.0, (c - p_lo) / std::max(s_hi, kSumGuard));
  }
  for (int64_t j = 0; j < d; ++j) {
    const double w = static_cast<double>(w_in[j]) * sign;
    if (w == 0) {
      out[j] = T(0);
      continue;
    }
    const double room = w < 0 ? 1.0 - static_cast<double>(t[j]) : static_cast<double>(t[j]);
    const double step = std::min(room, lambda);
    out[j] = static_cast<T>(w < 0 ? step : -step);
  }
}

/// One row of the l2 projection on the CPU (see fab_project_l2_sorted for G): α ≥ 0 solves
/// G(α) = Σ_j w_j clip(−α w_j, −t_j, 1 − t_j) = −c by selection on the saturation points r_j: a
/// candidate with r_j > α contributes −α w_j² (the slope w_hi), one with r_j ≤ α its saturated
/// w_j sat_j (the constant a_lo). Infeasible (the saturated corner does not reach −c): d = sat.
template <typename T>
void project_l2_row(const T* t, const T* w_raw, T b, int64_t d, T* out,
                    std::vector<std::array<double, 3>>& cand) {
  const auto w_at = [&](int64_t j) {
    const double w = static_cast<double>(w_raw[j]);
    return std::abs(w) > 1e-8 ? w : 0.0;  // the reference's threshold
  };
  double g = -static_cast<double>(b);
  for (int64_t j = 0; j < d; ++j) g += w_at(j) * static_cast<double>(t[j]);
  const double sign = g >= 0 ? 1.0 : -1.0;
  const double c = g * sign;
  cand.clear();
  double a_all = 0;  // G(∞) = Σ w_j sat_j
  for (int64_t j = 0; j < d; ++j) {
    const double w = w_at(j) * sign;
    if (w == 0) continue;
    const double tj = static_cast<double>(t[j]);
    const double sat = w > 0 ? -tj : 1.0 - tj;
    cand.push_back({sat / (-w), w * w, w * sat});
    a_all += w * sat;
  }
  const bool feasible = a_all < -c;
  double alpha = 0;
  if (feasible) {
    double w_hi = 0, a_lo = 0;
    auto first = cand.begin(), last = cand.end();
    while (first != last) {
      const auto mid = first + (last - first) / 2;
      std::nth_element(first, mid, last, [](const auto& x, const auto& y) { return x[0] < y[0]; });
      const double p = (*mid)[0];
      double gp = a_lo - p * w_hi;
      for (auto it = first; it != last; ++it) gp += (*it)[0] <= p ? (*it)[2] : -p * (*it)[1];
      if (gp < -c) {  // α < p: the candidates with r ≥ p are still unsaturated at α
        const auto split = std::partition(first, last, [p](const auto& e) { return e[0] < p; });
        for (auto it = split; it != last; ++it) w_hi += (*it)[1];
        last = split;
      } else {  // α ≥ p: the candidates with r ≤ p are saturated
        const auto split = std::partition(first, last, [p](const auto& e) { return e[0] <= p; });
        for (auto it = first; it != split; ++it) a_lo += (*it)[2];
        first = split;
      }
    }
    alpha = std::max(0.0, (a_lo + c) / std::max(w_hi, kSumGuard));
  }
  for (int64_t j = 0; j < d; ++j) {
    const double w = w_at(j) * sign;
    if (w == 0) {
      out[j] = T(0);
      continue;
    }
    const double tj = static_cast<double>(t[j]);
    const double step =
        feasible ? std::max(std::min(-alpha * w, 1.0 - tj), -tj) : (w > 0 ? -tj : 1.0 - tj);
    out[j] = static_cast<T>(step);
  }
}

/// `row(t_i, w_i, b_i, d, out_i, cand)` on every row of the CPU tensors t, w [N, d] and b [N]
/// (any floating dtype; `row` is generic over it), with one scratch `Cand` reused across rows.
template <typename Cand, typename Row>
torch::Tensor per_row_cpu(const torch::Tensor& t, const torch::Tensor& w, const torch::Tensor& b,
                          const Row& row) {
  const torch::Tensor tc = t.contiguous(), wc = w.contiguous(), bc = b.contiguous();
  torch::Tensor out = torch::empty_like(tc);
  const int64_t n = tc.size(0), d = tc.size(1);
  AT_DISPATCH_FLOATING_TYPES(tc.scalar_type(), "fab_project", [&] {
    Cand cand;
    cand.reserve(static_cast<size_t>(d));
    const auto* tp = tc.data_ptr<scalar_t>();
    const auto* wp = wc.data_ptr<scalar_t>();
    const auto* bp = bc.data_ptr<scalar_t>();
    auto* op = out.data_ptr<scalar_t>();
    for (int64_t i = 0; i < n; ++i) row(tp + i * d, wp + i * d, bp[i], d, op + i * d, cand);
  });
  return out;
}

}  // namespace

torch::Tensor fab_project_l2(const torch::Tensor& t, const torch::Tensor& w,
                             const torch::Tensor& b) {
  if (!t.device().is_cpu()) return fab_project_l2_sorted(t, w, b);
  return per_row_cpu<std::vector<std::array<double, 3>>>(
      t, w, b, [](const auto* tr, const auto* wr, auto br, int64_t d, auto* out, auto& cand) {
        project_l2_row(tr, wr, br, d, out, cand);
      });
}

torch::Tensor fab_project_linf(const torch::Tensor& t, const torch::Tensor& w,
                               const torch::Tensor& b) {
  if (!t.device().is_cpu()) return fab_project_linf_sorted(t, w, b);
  return per_row_cpu<std::vector<std::pair<double, double>>>(
      t, w, b, [](const auto* tr, const auto* wr, auto br, int64_t d, auto* out, auto& cand) {
        project_linf_row(tr, wr, br, d, out, cand);
      });
}

torch::Tensor fab_project_linf_sorted(const torch::Tensor& t, const torch::Tensor& w_in,
                                      const torch::Tensor& b) {
  // Orientation as in the reference: +1 where <w, t> − b ≥ 0.
  const torch::Tensor g = gap(t, w_in, b);
  const torch::Tensor sign = torch::where(g >= 0, torch::ones_like(g), -torch::ones_like(g));
  const torch::Tensor w = w_in * sign.unsqueeze(1);
  const torch::Tensor c = (g * sign).unsqueeze(1);  // [N, 1] ≥ 0: required decrease of <w, ·>
  const torch::Tensor active = w != 0;
  const torch::Tensor up = w < 0;  // decreasing <w, ·> raises these coordinates towards 1
  // room_j: how far coordinate j can move before it hits its bound (0 where w_j = 0).
  const torch::Tensor room = torch::where(up, 1 - t, t) * active;
  const torch::Tensor aw = w.abs();

  // F(λ) = Σ_j |w_j| min(λ, room_j) is the decrease achieved by the linf step λ. With the rooms
  // sorted descending (q_0 ≥ q_1 ≥ …), on [q_{k+1}, q_k]: F(λ) = λ S_k + P_k, where
  // S_k = Σ_{j≤k} |w_j| and P_k = Σ_{j>k} |w_j| q_j.
  const auto sorted = room.sort(1, /*descending=*/true);
  const torch::Tensor q = std::get<0>(sorted);
  const torch::Tensor awq = aw.gather(1, std::get<1>(sorted));
  const torch::Tensor s_cum = awq.cumsum(1);
  const torch::Tensor wq = awq * q;
  const torch::Tensor p_tail = wq.sum(1, /*keepdim=*/true) - wq.cumsum(1);
  const torch::Tensor f_at = q * s_cum + p_tail;  // F(q_k), non-increasing in k

  // The solution lies on the last segment whose upper breakpoint still over-reaches: k = #{F(q_k)
  // > c} − 1 (the reference finds the same k by bisection). k = −1: even the full move to the
  // bounds, F(q_0) = F(∞), does not reach the hyperplane; then every coordinate moves fully.
  const torch::Tensor k = (f_at > c).sum(1, /*keepdim=*/true) - 1;
  const torch::Tensor kc = k.clamp_min(0);
  torch::Tensor lambda =
      ((c - p_tail.gather(1, kc)) / s_cum.gather(1, kc).clamp_min(kSumGuard)).clamp_min(0.0);
  lambda = torch::where(k >= 0, lambda,
                        torch::full_like(lambda, std::numeric_limits<double>::infinity()));
  const torch::Tensor dir = torch::where(up, torch::ones_like(t), -torch::ones_like(t));
  return torch::where(active, dir * torch::min(room, lambda), torch::zeros_like(t));
}

torch::Tensor fab_project_l2_sorted(const torch::Tensor& t, const torch::Tensor& w_raw,
                                    const torch::Tensor& b) {
  const torch::Tensor active = w_raw.abs() > 1e-8;
  const torch::Tensor w_in = w_raw * active;
  const torch::Tensor g = gap(t, w_in, b);
  const torch::Tensor sign = torch::where(g >= 0, torch::ones_like(g), -torch::ones_like(g));
  const torch::Tensor w = w_in * sign.unsqueeze(1);
  const torch::Tensor c = (g * sign).unsqueeze(1);  // [N, 1] ≥ 0
  // d(α) = clip(−α w, −t, 1 − t); coordinate j saturates at sat_j once α ≥ r_j.
  const torch::Tensor sat = torch::where(w > 0, -t, 1 - t) * active;
  const torch::Tensor inf = torch::full_like(t, std::numeric_limits<double>::infinity());
  const torch::Tensor r = torch::where(active, sat / (-w), inf);

  // G(α) = <w, d(α)> (≤ 0, non-increasing). With the r sorted ascending, on [r_k, r_{k+1}]:
  // G(α) = A_k − α W_k, A_k = Σ_{j≤k} w_j sat_j (saturated part), W_k = Σ_{j>k} w_j².
  const auto sorted = r.sort(1);
  const torch::Tensor rs = std::get<0>(sorted);
  const torch::Tensor order = std::get<1>(sorted);
  const torch::Tensor w2 = (w * w).gather(1, order);
  const torch::Tensor a_cum = (w * sat).gather(1, order).cumsum(1);
  const torch::Tensor w_tail = (w2.sum(1, /*keepdim=*/true) - w2.cumsum(1)).clamp_min(0.0);
  // G(r_k); where W_k = 0 the α-term vanishes (avoids ∞·0 for inactive coordinates).
  const torch::Tensor g_at = a_cum - torch::where(w_tail > 0, rs * w_tail, torch::zeros_like(rs));

  // k = #{G(r_k) ≥ −c} − 1: the last breakpoint not yet past the hyperplane.
  const torch::Tensor k = (g_at >= -c).sum(1, /*keepdim=*/true) - 1;
  const torch::Tensor kc = k.clamp_min(0);
  const torch::Tensor w_norm2 = w2.sum(1, /*keepdim=*/true);
  // k = −1: the unclipped projection −c w / ‖w‖² stays inside the box.
  torch::Tensor alpha =
      torch::where(k >= 0, (a_cum.gather(1, kc) + c) / w_tail.gather(1, kc).clamp_min(kSumGuard),
                   c / w_norm2.clamp_min(kSumGuard));
  alpha = alpha.clamp_min(0.0);
  // Infeasible (the fully saturated corner does not reach the hyperplane): that corner.
  const torch::Tensor feasible = a_cum.select(1, a_cum.size(1) - 1).unsqueeze(1) < -c;
  torch::Tensor d = torch::max(torch::min(-alpha * w, 1 - t), -t);
  d = torch::where(feasible, d, sat);
  return torch::where(active, d, torch::zeros_like(t));
}

}  // namespace sfb::attacks::detail
