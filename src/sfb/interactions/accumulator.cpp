#include "interactions/accumulator.hpp"

#include <torch/torch.h>

#include <limits>
#include <tuple>
#include <utility>

#include "core/error.hpp"

namespace sfb::interactions {

const std::array<const char*, kNumRows>& row_names() {
  static const std::array<const char*, kNumRows> names = {
      "I_nor",          "D_nor", "I_adv",   "D_adv",   "I_adv_advclass",
      "D_adv_advclass", "dI",    "phi_nor", "phi_adv", "dphi"};
  return names;
}

const std::array<const char*, kNumScalars>& scalar_names() {
  static const std::array<const char*, kNumScalars> names = {"v_full_nor", "v_empty", "v_full_adv"};
  return names;
}

namespace {
torch::Tensor j_factor(const std::vector<int64_t>& orders, int64_t n) {
  auto f = torch::empty({static_cast<int64_t>(orders.size())}, torch::kFloat64);
  for (size_t q = 0; q < orders.size(); ++q) {
    f[static_cast<int64_t>(q)] =
        static_cast<double>(n - 1 - orders[q]) / static_cast<double>(n * (n - 1));
  }
  return f;
}
}  // namespace

torch::Tensor InteractionStatistics::J(Row row) const {
  return mean[row] * j_factor(orders, num_players);
}
torch::Tensor InteractionStatistics::J_stderr(Row row) const {
  return stderr_[row] * j_factor(orders, num_players);
}

InteractionAccumulator::InteractionAccumulator(std::vector<int64_t> orders, int64_t num_players)
    : orders_(std::move(orders)), num_players_(num_players) {
  const auto m = static_cast<int64_t>(orders_.size());
  sum_ = torch::zeros({kNumRows, m}, torch::kFloat64);
  sum_sq_ = torch::zeros_like(sum_);
  count_ = torch::zeros_like(sum_);
  scalar_sum_ = torch::zeros({kNumScalars}, torch::kFloat64);
  scalar_sum_sq_ = torch::zeros_like(scalar_sum_);
  scalar_count_ = torch::zeros_like(scalar_sum_);
}

namespace {
/// Adds the finite entries of `values` to the running Σ, Σ² and counts.
void add_finite(const torch::Tensor& values, torch::Tensor& sum, torch::Tensor& sum_sq,
                torch::Tensor& count) {
  const torch::Tensor v = values.to(torch::kCPU, torch::kFloat64);
  const torch::Tensor ok = torch::isfinite(v);
  const torch::Tensor z = torch::where(ok, v, torch::zeros_like(v));
  sum += z;
  sum_sq += z * z;
  count += ok.to(torch::kFloat64);
}

/// Mean and standard error (sample SD over images / √count) from Σ, Σ², count; NaN mean where
/// the count is 0, NaN SE where it is below 2. Negative variances from rounding clamp at 0.
std::pair<torch::Tensor, torch::Tensor> mean_stderr(const torch::Tensor& s, const torch::Tensor& s2,
                                                    const torch::Tensor& c) {
  const torch::Tensor mean = s / c;  // 0/0 = NaN where no image contributed
  const torch::Tensor var = ((s2 - s * s / c) / (c - 1)).clamp_min(0.0);
  const torch::Tensor se = torch::where(
      c >= 2, (var / c).sqrt(), torch::full_like(s, std::numeric_limits<double>::quiet_NaN()));
  return {mean, se};
}
}  // namespace

void InteractionAccumulator::add(const torch::Tensor& values, const torch::Tensor& scalars) {
  SFB_ASSERT(values.sizes() == sum_.sizes(), "per-image values must be [kNumRows, M]");
  SFB_ASSERT(scalars.numel() == kNumScalars, "per-image scalars must be [kNumScalars]");
  add_finite(values, sum_, sum_sq_, count_);
  add_finite(scalars.reshape({kNumScalars}), scalar_sum_, scalar_sum_sq_, scalar_count_);
  images_ += 1;
}

void InteractionAccumulator::add_totals(int64_t correct, int64_t adv_reached, int64_t adv_flipped,
                                        double utility_sum, int64_t attacked,
                                        int64_t masked_forwards) {
  correct_ += static_cast<double>(correct);
  reached_ += static_cast<double>(adv_reached);
  flipped_ += static_cast<double>(adv_flipped);
  utility_ += utility_sum;
  attacked_ += static_cast<double>(attacked);
  forwards_ += static_cast<double>(masked_forwards);
}

InteractionStatistics InteractionAccumulator::reduce(comm::Communicator& comm) const {
  torch::Tensor flat =
      torch::cat(
          {sum_.flatten(), sum_sq_.flatten(), count_.flatten(), scalar_sum_, scalar_sum_sq_,
           scalar_count_,
           torch::tensor({images_, correct_, reached_, flipped_, utility_, attacked_, forwards_},
                         torch::kFloat64)})
          .to(comm.device());
  comm.allreduce(flat, comm::ReduceOp::kSum);
  flat = flat.to(torch::kCPU);
  const int64_t len = sum_.numel();
  const torch::Tensor s = flat.narrow(0, 0, len).view(sum_.sizes());
  const torch::Tensor s2 = flat.narrow(0, len, len).view(sum_.sizes());
  const torch::Tensor c = flat.narrow(0, 2 * len, len).view(sum_.sizes());
  const torch::Tensor ss = flat.narrow(0, 3 * len, kNumScalars);
  const torch::Tensor ss2 = flat.narrow(0, 3 * len + kNumScalars, kNumScalars);
  const torch::Tensor sc = flat.narrow(0, 3 * len + 2 * kNumScalars, kNumScalars);
  const torch::Tensor tot = flat.narrow(0, 3 * len + 3 * kNumScalars, 7);
  InteractionStatistics st;
  st.orders = orders_;
  st.num_players = num_players_;
  st.count = c.round().to(torch::kInt64);
  std::tie(st.mean, st.stderr_) = mean_stderr(s, s2, c);
  st.scalar_count = sc.round().to(torch::kInt64);
  std::tie(st.scalar_mean, st.scalar_stderr) = mean_stderr(ss, ss2, sc);
  st.n = static_cast<int64_t>(tot[0].item<double>());
  st.correct = static_cast<int64_t>(tot[1].item<double>());
  st.adv_reached = static_cast<int64_t>(tot[2].item<double>());
  st.adv_flipped = static_cast<int64_t>(tot[3].item<double>());
  const double attacked = tot[5].item<double>();
  st.adv_utility_mean =
      attacked > 0 ? tot[4].item<double>() / attacked : std::numeric_limits<double>::quiet_NaN();
  st.masked_forwards = static_cast<int64_t>(tot[6].item<double>());
  return st;
}

}  // namespace sfb::interactions
