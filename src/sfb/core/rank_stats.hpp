#pragma once
#include <cstdint>
#include <functional>
#include <vector>

namespace sfb {

/// Ranks of x (1-based), ties get the average of the ranks they span.
std::vector<double> average_ranks(const std::vector<double>& x);

/// Spearman's ρ: the Pearson correlation of the average ranks. NaN when either side is constant or
/// the sizes differ or are < 2.
double spearman_rho(const std::vector<double>& x, const std::vector<double>& y);

/// Kendall's τ-b: (concordant − discordant) / sqrt((n0 − n1)(n0 − n2)) with n0 = n(n−1)/2 and n1,
/// n2 the pairs tied in x and in y. NaN when either side is constant.
double kendall_tau_b(const std::vector<double>& x, const std::vector<double>& y);

/// A correlation with its uncertainty, for a handful of models (m = x.size()).
struct CorrelationTest {
  double value = 0;  ///< the statistic on the data
  double p_value =
      0;  ///< two-sided permutation p-value: share of permutations of y with |stat| ≥ |value|
  double ci_low = 0, ci_high = 0;  ///< percentile bootstrap interval over models (NaN if undefined)
  int64_t permutations = 0;        ///< permutations evaluated (all m! when m ≤ 8)
};

/// Tests `stat` (spearman_rho or kendall_tau_b) on (x, y): exact permutation p-value for m ≤ 8,
/// else `permutations` random permutations (p = (1 + hits)/(1 + permutations)); `bootstrap`
/// resamples of the m models with replacement (resamples where the statistic is undefined are
/// skipped) for a `level` percentile interval. Deterministic for a given seed.
CorrelationTest correlation_test(
    const std::vector<double>& x, const std::vector<double>& y,
    const std::function<double(const std::vector<double>&, const std::vector<double>&)>& stat,
    uint64_t seed, int64_t permutations = 10000, int64_t bootstrap = 2000, double level = 0.95);

}  // namespace sfb
