// Rank correlations of `sfbench compare` against values worked out by hand.
#include <gtest/gtest.h>

#include <cmath>

#include "core/rank_stats.hpp"

namespace sfb {
namespace {

TEST(RankStats, AverageRanksSplitTies) {
  EXPECT_EQ(average_ranks({10, 30, 20, 20}), (std::vector<double>{1, 4, 2.5, 2.5}));
}

TEST(RankStats, SpearmanAndKendallByHand) {
  // d = ranks differ by (0, 1, -1, 0): ρ = 1 − 6·2/(4·15) = 0.8; 5 concordant, 1 discordant pair.
  EXPECT_NEAR(spearman_rho({1, 2, 3, 4}, {1, 3, 2, 4}), 0.8, 1e-15);
  EXPECT_NEAR(kendall_tau_b({1, 2, 3, 4}, {1, 3, 2, 4}), 4.0 / 6.0, 1e-15);
  // A tie in x: ranks (1, 2.5, 2.5, 4) vs (1, 2, 3, 4) give ρ = 4.5/sqrt(4.5·5); τ-b = 5/sqrt(5·6).
  EXPECT_NEAR(spearman_rho({1, 2, 2, 3}, {1, 2, 3, 4}), 4.5 / std::sqrt(22.5), 1e-15);
  EXPECT_NEAR(kendall_tau_b({1, 2, 2, 3}, {1, 2, 3, 4}), 5.0 / std::sqrt(30.0), 1e-15);
  EXPECT_DOUBLE_EQ(spearman_rho({1, 2, 3}, {9, 5, 1}), -1.0);
  EXPECT_TRUE(std::isnan(spearman_rho({1, 1, 1}, {1, 2, 3})));
  EXPECT_TRUE(std::isnan(kendall_tau_b({1, 2}, {3, 3})));
}

TEST(RankStats, ExactPermutationPValue) {
  // Perfect order of 4 models: only the identity and the reversal reach |τ| = 1: p = 2/24.
  const auto t = correlation_test({1, 2, 3, 4}, {2, 4, 6, 8}, kendall_tau_b, 1);
  EXPECT_DOUBLE_EQ(t.value, 1.0);
  EXPECT_EQ(t.permutations, 24);
  EXPECT_NEAR(t.p_value, 2.0 / 24.0, 1e-15);
  EXPECT_LE(t.ci_low, t.ci_high);
  EXPECT_LE(t.ci_high, 1.0);
  // Twelve models with no relation: a large p-value from random permutations, deterministic.
  std::vector<double> x, y;
  for (int i = 0; i < 12; ++i) {
    x.push_back(i);
    y.push_back((i * 7) % 12);
  }
  const auto r1 = correlation_test(x, y, spearman_rho, 5, 2000),
             r2 = correlation_test(x, y, spearman_rho, 5, 2000);
  EXPECT_EQ(r1.p_value, r2.p_value);
  EXPECT_EQ(r1.permutations, 2000);
  EXPECT_GT(r1.p_value, 0.05);
  EXPECT_LT(r1.ci_low, r1.value);
  EXPECT_GT(r1.ci_high, r1.value);
}

}  // namespace
}  // namespace sfb
