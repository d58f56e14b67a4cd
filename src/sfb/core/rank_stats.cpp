#include "core/rank_stats.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "core/counter_rng.hpp"
#include "core/rng.hpp"

namespace sfb {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

double pearson(const std::vector<double>& a, const std::vector<double>& b) {
  const double n = static_cast<double>(a.size());
  const double ma = std::accumulate(a.begin(), a.end(), 0.0) / n;
  const double mb = std::accumulate(b.begin(), b.end(), 0.0) / n;
  double sab = 0, saa = 0, sbb = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    sab += (a[i] - ma) * (b[i] - mb);
    saa += (a[i] - ma) * (a[i] - ma);
    sbb += (b[i] - mb) * (b[i] - mb);
  }
  if (saa == 0 || sbb == 0) return kNaN;
  return sab / std::sqrt(saa * sbb);
}

double percentile(std::vector<double> v, double q) {
  if (v.empty()) return kNaN;
  std::sort(v.begin(), v.end());
  const double pos = q * static_cast<double>(v.size() - 1);
  const auto lo = static_cast<std::size_t>(std::floor(pos));
  const std::size_t hi = std::min(lo + 1, v.size() - 1);
  return v[lo] + (pos - static_cast<double>(lo)) * (v[hi] - v[lo]);
}

}  // namespace

std::vector<double> average_ranks(const std::vector<double>& x) {
  std::vector<std::size_t> order(x.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](std::size_t a, std::size_t b) { return x[a] < x[b]; });
  std::vector<double> r(x.size());
  for (std::size_t i = 0; i < order.size();) {
    std::size_t j = i;
    while (j + 1 < order.size() && x[order[j + 1]] == x[order[i]]) ++j;
    const double avg = (static_cast<double>(i) + static_cast<double>(j)) / 2.0 + 1.0;
    for (std::size_t t = i; t <= j; ++t) r[order[t]] = avg;
    i = j + 1;
  }
  return r;
}

double spearman_rho(const std::vector<double>& x, const std::vector<double>& y) {
  if (x.size() != y.size() || x.size() < 2) return kNaN;
  return pearson(average_ranks(x), average_ranks(y));
}

double kendall_tau_b(const std::vector<double>& x, const std::vector<double>& y) {
  if (x.size() != y.size() || x.size() < 2) return kNaN;
  double conc = 0, disc = 0, tx = 0, ty = 0;
  const std::size_t n = x.size();
  for (std::size_t i = 0; i < n; ++i) {
    for (std::size_t j = i + 1; j < n; ++j) {
      const double dx = x[i] - x[j], dy = y[i] - y[j];
      if (dx == 0) tx += 1;
      if (dy == 0) ty += 1;
      if (dx == 0 || dy == 0) continue;
      (dx * dy > 0 ? conc : disc) += 1;
    }
  }
  const double n0 = static_cast<double>(n * (n - 1) / 2);
  const double denom = std::sqrt((n0 - tx) * (n0 - ty));
  return denom == 0 ? kNaN : (conc - disc) / denom;
}

CorrelationTest correlation_test(
    const std::vector<double>& x, const std::vector<double>& y,
    const std::function<double(const std::vector<double>&, const std::vector<double>&)>& stat,
    uint64_t seed, int64_t permutations, int64_t bootstrap, double level) {
  CorrelationTest t;
  t.value = stat(x, y);
  const std::size_t m = x.size();
  if (std::isnan(t.value)) {
    t.p_value = t.ci_low = t.ci_high = kNaN;
    return t;
  }
  const double obs = std::abs(t.value) - 1e-12;
  std::vector<double> yp = y;
  int64_t hits = 0;
  if (m <= 8) {
    std::vector<std::size_t> perm(m);
    std::iota(perm.begin(), perm.end(), 0);
    do {
      for (std::size_t i = 0; i < m; ++i) yp[i] = y[perm[i]];
      const double s = stat(x, yp);
      if (!std::isnan(s) && std::abs(s) >= obs) ++hits;
      ++t.permutations;
    } while (std::next_permutation(perm.begin(), perm.end()));
    t.p_value = static_cast<double>(hits) / static_cast<double>(t.permutations);
  } else {
    CounterRng rng(derive_seed(seed, {0x7065726dULL}));
    for (int64_t p = 0; p < permutations; ++p) {
      for (std::size_t i = m - 1; i > 0; --i) std::swap(yp[i], yp[rng.below(i + 1)]);
      const double s = stat(x, yp);
      if (!std::isnan(s) && std::abs(s) >= obs) ++hits;
    }
    t.permutations = permutations;
    t.p_value = static_cast<double>(1 + hits) / static_cast<double>(1 + permutations);
  }
  CounterRng rng(derive_seed(seed, {0x626f6f74ULL}));
  std::vector<double> reps, xb(m), yb(m);
  for (int64_t b = 0; b < bootstrap; ++b) {
    for (std::size_t i = 0; i < m; ++i) {
      const std::size_t j = rng.below(m);
      xb[i] = x[j];
      yb[i] = y[j];
    }
    const double s = stat(xb, yb);
    if (!std::isnan(s)) reps.push_back(s);
  }
  t.ci_low = percentile(reps, (1 - level) / 2);
  t.ci_high = percentile(reps, 1 - (1 - level) / 2);
  return t;
}

}  // namespace sfb
