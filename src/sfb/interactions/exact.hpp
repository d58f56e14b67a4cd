#pragma once
#include <cstdint>
#include <vector>

namespace sfb::interactions {

/// Every multi-order quantity of one game with n ≤ 20 players, from v(S) for all 2^n subsets
/// (paper 001 §3–4, SPEC §4), in float64.
struct ExactGame {
  int64_t n = 0;
  /// I^(m)_ij = E_{S ⊆ N\{i,j}, |S| = m} Δv(i, j, S): [n·n·(n−1)], entry (i·n + j)·(n−1) + m
  /// for m in [0, n − 2]; zero for i = j.
  std::vector<double> interaction;
  /// E_{|S| = m} |Δv(i, j, S)|, laid out like `interaction` (the denominator of D^(m), Eq. 4).
  std::vector<double> abs_mean;
  /// φ^(m)(i) = E_{S ⊆ N\{i}, |S| = m} [v(S ∪ {i}) − v(S)]: [n·n], entry i·n + m, m in [0, n − 1].
  std::vector<double> shapley;

  double I(int64_t i, int64_t j, int64_t m) const { return interaction[(i * n + j) * (n - 1) + m]; }
  double abs_dv(int64_t i, int64_t j, int64_t m) const {
    return abs_mean[(i * n + j) * (n - 1) + m];
  }
  double phi(int64_t i, int64_t m) const { return shapley[i * n + m]; }
  /// J^(m)_ij = (n − 1 − m) / (n (n − 1)) · I^(m)_ij.
  double J(int64_t i, int64_t j, int64_t m) const {
    return static_cast<double>(n - 1 - m) / static_cast<double>(n * (n - 1)) * I(i, j, m);
  }
};

/// Enumerates all subsets: `v` holds v(S) for S = the bits of the index ([2^n], bit q = player q).
/// Cost O(n² 2^n). Not collective.
ExactGame exact_game(const std::vector<double>& v, int64_t n);

/// Dataset-level summaries of one game for the orders `orders` (each in [0, n − 1]), averaged over
/// ordered pairs with `pair_weight` ([n·n], summing to 1): I^(m) = Σ w_ij I^(m)_ij and D^(m) =
/// Σ w_ij |I^(m)_ij| / E|Δv| over the pairs with E|Δv| > 0 (weights renormalized; NaN when there
/// is none); φ^(m) = (1/n) Σ_i φ^(m)(i). Order n − 1 has no pairs: I and D are NaN there.
struct ExactSummary {
  std::vector<double> I, D, phi;  ///< one per order
};
ExactSummary summarize(const ExactGame& g, const std::vector<int64_t>& orders,
                       const std::vector<double>& pair_weight);

}  // namespace sfb::interactions
