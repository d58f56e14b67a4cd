#include "interactions/exact.hpp"

#include <cmath>
#include <limits>

#include "core/error.hpp"

namespace sfb::interactions {
namespace {

double binomial(int64_t n, int64_t k) {
  double r = 1;
  for (int64_t t = 1; t <= k; ++t) r = r * static_cast<double>(n - k + t) / static_cast<double>(t);
  return r;
}

int popcount(uint64_t x) { return __builtin_popcountll(x); }

}  // namespace

ExactGame exact_game(const std::vector<double>& v, int64_t n) {
  SFB_ASSERT(n >= 2 && n <= 20, "exact enumeration needs 2 <= n <= 20 players");
  SFB_ASSERT(static_cast<int64_t>(v.size()) == (int64_t{1} << n), "v must have 2^n entries");
  ExactGame g;
  g.n = n;
  g.interaction.assign(static_cast<size_t>(n * n * (n - 1)), 0.0);
  g.abs_mean.assign(g.interaction.size(), 0.0);
  g.shapley.assign(static_cast<size_t>(n * n), 0.0);
  const uint64_t all = uint64_t{1} << n;
  for (int64_t i = 0; i < n; ++i) {
    const uint64_t bi = uint64_t{1} << i;
    for (int64_t j = i + 1; j < n; ++j) {
      const uint64_t bj = uint64_t{1} << j;
      std::vector<double> sum(static_cast<size_t>(n - 1), 0.0), abs(sum);
      for (uint64_t s = 0; s < all; ++s) {
        if (s & (bi | bj)) continue;
        const double dv = v[s | bi | bj] - v[s | bi] - v[s | bj] + v[s];
        sum[popcount(s)] += dv;
        abs[popcount(s)] += std::abs(dv);
      }
      for (int64_t m = 0; m <= n - 2; ++m) {
        const double c = binomial(n - 2, m);
        for (const auto& [a, b] : {std::pair{i, j}, std::pair{j, i}}) {
          g.interaction[(a * n + b) * (n - 1) + m] = sum[m] / c;
          g.abs_mean[(a * n + b) * (n - 1) + m] = abs[m] / c;
        }
      }
    }
    std::vector<double> sum(static_cast<size_t>(n), 0.0);
    for (uint64_t s = 0; s < all; ++s) {
      if (!(s & bi)) sum[popcount(s)] += v[s | bi] - v[s];
    }
    for (int64_t m = 0; m <= n - 1; ++m) g.shapley[i * n + m] = sum[m] / binomial(n - 1, m);
  }
  return g;
}

ExactSummary summarize(const ExactGame& g, const std::vector<int64_t>& orders,
                       const std::vector<double>& w) {
  const int64_t n = g.n;
  SFB_ASSERT(static_cast<int64_t>(w.size()) == n * n, "pair weights must be [n·n]");
  ExactSummary s;
  for (const int64_t m : orders) {
    SFB_ASSERT(m >= 0 && m <= n - 1, "order outside [0, n − 1]");
    double sum_i = 0, sum_d = 0, wd = 0, phi = 0;
    for (int64_t i = 0; i < n; ++i) phi += g.phi(i, m) / static_cast<double>(n);
    if (m == n - 1) {
      s.I.push_back(std::numeric_limits<double>::quiet_NaN());
      s.D.push_back(std::numeric_limits<double>::quiet_NaN());
      s.phi.push_back(phi);
      continue;
    }
    for (int64_t i = 0; i < n; ++i) {
      for (int64_t j = 0; j < n; ++j) {
        const double wij = w[i * n + j];
        if (i == j || wij == 0) continue;
        sum_i += wij * g.I(i, j, m);
        if (g.abs_dv(i, j, m) > 0) {
          sum_d += wij * std::abs(g.I(i, j, m)) / g.abs_dv(i, j, m);
          wd += wij;
        }
      }
    }
    s.I.push_back(sum_i);
    s.D.push_back(wd > 0 ? sum_d / wd : std::numeric_limits<double>::quiet_NaN());
    s.phi.push_back(phi);
  }
  return s;
}

}  // namespace sfb::interactions
