// Agreement of attribution maps (paper 003): Spearman rank correlation with tie-averaged ranks.
#include "attribution/agreement.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include "core/error.hpp"
#include "core/tensors.hpp"

namespace sfb::attribution {

torch::Tensor average_ranks(const torch::Tensor& v) {
  if (v.dim() != 2) throw ConfigError("spearman: expected [N, n] values");
  const torch::Tensor x = v.to(torch::kFloat64).contiguous();
  const torch::Tensor sorted = std::get<0>(x.sort(1));
  const torch::Tensor less = torch::searchsorted(sorted, x, /*out_int32=*/false, /*right=*/false);
  const torch::Tensor less_eq = torch::searchsorted(sorted, x, /*out_int32=*/false, /*right=*/true);
  return (less + less_eq + 1).to(torch::kFloat64) / 2.0;
}

torch::Tensor spearman(const torch::Tensor& a, const torch::Tensor& b) {
  if (a.sizes() != b.sizes()) throw ConfigError("spearman: the two maps differ in shape");
  const torch::Tensor ra = average_ranks(a), rb = average_ranks(b);
  const torch::Tensor da = ra - ra.mean(1, true), db = rb - rb.mean(1, true);
  const torch::Tensor den = (da.square().sum(1) * db.square().sum(1)).sqrt();
  const torch::Tensor r = (da * db).sum(1) / den;
  return torch::where(den > 0, r, torch::full_like(r, std::numeric_limits<double>::quiet_NaN()));
}

MeanCi mean_ci(const torch::Tensor& values, double z) {
  const torch::Tensor v = values.to(torch::kCPU, torch::kFloat64).flatten();
  const torch::Tensor f = v.masked_select(torch::isfinite(v));
  MeanCi out;
  out.count = f.numel();
  if (out.count == 0) {
    out.mean = out.low = out.high = std::numeric_limits<double>::quiet_NaN();
    return out;
  }
  out.mean = f.mean().item<double>();
  const double se = out.count > 1 ? f.std().item<double>() / std::sqrt(double(out.count)) : 0.0;
  out.low = out.mean - z * se;
  out.high = out.mean + z * se;
  return out;
}

MeanCi mean_ci_from_sums(double sum, double sum_sq, double count, double z) {
  MeanCi out;
  out.count = static_cast<int64_t>(std::llround(count));
  if (out.count == 0) {
    out.mean = out.low = out.high = std::numeric_limits<double>::quiet_NaN();
    return out;
  }
  out.mean = sum / count;
  const double se = out.count > 1 ? stderr_from_sums(sum, sum_sq, count) : 0.0;
  out.low = out.mean - z * se;
  out.high = out.mean + z * se;
  return out;
}

Rate wilson(int64_t k, int64_t n, double z) {
  Rate r;
  r.k = k;
  r.n = n;
  if (n <= 0) {
    r.rate = r.low = r.high = std::numeric_limits<double>::quiet_NaN();
    return r;
  }
  const double nn = static_cast<double>(n), p = static_cast<double>(k) / nn, z2 = z * z;
  const double centre = (p + z2 / (2 * nn)) / (1 + z2 / nn);
  const double half = z / (1 + z2 / nn) * std::sqrt(p * (1 - p) / nn + z2 / (4 * nn * nn));
  r.rate = p;
  r.low = std::max(0.0, centre - half);
  r.high = std::min(1.0, centre + half);
  return r;
}

}  // namespace sfb::attribution
