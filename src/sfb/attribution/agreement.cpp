// Agreement of attribution maps (paper 003): Spearman rank correlation with tie-averaged ranks.
#include "attribution/agreement.hpp"

#include <cmath>
#include <limits>

#include "core/error.hpp"

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

}  // namespace sfb::attribution
