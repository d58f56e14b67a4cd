#pragma once
#include <torch/torch.h>

#include <cstdint>

namespace sfb::attribution {

/// Average ranks (1-based; tied values share the mean of their ranks) of each row.
/// v: [N, n] float -> [N, n] float64 on v's device.
torch::Tensor average_ranks(const torch::Tensor& v);

/// Spearman rank correlation of each pair of rows (paper 003): the Pearson correlation of the
/// average ranks. a, b: [N, n] (e.g. two models' or two methods' channel-reduced maps of the same
/// N images, flattened) -> [N] float64; NaN for a row where either map is constant. Throws
/// ConfigError when the shapes differ.
torch::Tensor spearman(const torch::Tensor& a, const torch::Tensor& b);

/// Mean of the finite values with a normal-approximation confidence interval
/// mean ± z·SD/√count (z = 1.96 for 95 %).
struct MeanCi {
  double mean = 0, low = 0, high = 0;
  int64_t count = 0;
};
MeanCi mean_ci(const torch::Tensor& values, double z = 1.959963984540054);

/// The same from sums over finite values (Σv, Σv², count), e.g. after an all-reduce; the interval
/// uses the sample SD. count 0 gives NaN, count 1 a zero-width interval.
MeanCi mean_ci_from_sums(double sum, double sum_sq, double count, double z = 1.959963984540054);

/// A proportion k/n with its Wilson score interval (z = 1.96 for 95 %); NaN for n = 0. Used for
/// the error rates of the inductive attacks (paper 002).
struct Rate {
  int64_t k = 0, n = 0;
  double rate = 0, low = 0, high = 0;
};
Rate wilson(int64_t k, int64_t n, double z = 1.959963984540054);

}  // namespace sfb::attribution
