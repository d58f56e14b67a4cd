#include "interactions/accumulator.hpp"

#include <torch/torch.h>

#include <limits>

#include "core/error.hpp"

namespace sfb::interactions {

const std::array<const char*, kNumRows>& row_names() {
  static const std::array<const char*, kNumRows> names = {
      "I_nor",          "D_nor", "I_adv",   "D_adv",   "I_adv_advclass",
      "D_adv_advclass", "dI",    "phi_nor", "phi_adv", "dphi"};
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
}

void InteractionAccumulator::add(const torch::Tensor& values) {
  SFB_ASSERT(values.sizes() == sum_.sizes(), "per-image values must be [kNumRows, M]");
  const torch::Tensor v = values.to(torch::kCPU, torch::kFloat64);
  const torch::Tensor ok = torch::isfinite(v);
  const torch::Tensor z = torch::where(ok, v, torch::zeros_like(v));
  sum_ += z;
  sum_sq_ += z * z;
  count_ += ok.to(torch::kFloat64);
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
          {sum_.flatten(), sum_sq_.flatten(), count_.flatten(),
           torch::tensor({images_, correct_, reached_, flipped_, utility_, attacked_, forwards_},
                         torch::kFloat64)})
          .to(comm.device());
  comm.allreduce(flat, comm::ReduceOp::kSum);
  flat = flat.to(torch::kCPU);
  const int64_t len = sum_.numel();
  const torch::Tensor s = flat.narrow(0, 0, len).view(sum_.sizes());
  const torch::Tensor s2 = flat.narrow(0, len, len).view(sum_.sizes());
  const torch::Tensor c = flat.narrow(0, 2 * len, len).view(sum_.sizes());
  const torch::Tensor tot = flat.narrow(0, 3 * len, 7);
  InteractionStatistics st;
  st.orders = orders_;
  st.num_players = num_players_;
  st.count = c.round().to(torch::kInt64);
  st.mean = s / c;  // 0/0 = NaN where no image contributed
  // Sample variance over images, (Σx² − (Σx)²/c)/(c − 1), clamped at 0 against rounding.
  const torch::Tensor var = ((s2 - s * s / c) / (c - 1)).clamp_min(0.0);
  st.stderr_ = torch::where(c >= 2, (var / c).sqrt(),
                            torch::full_like(s, std::numeric_limits<double>::quiet_NaN()));
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
