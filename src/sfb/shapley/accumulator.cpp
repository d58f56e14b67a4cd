#include "shapley/accumulator.hpp"

#include <torch/torch.h>

#include <cmath>
#include <limits>

#include "core/device.hpp"
#include "core/error.hpp"
#include "shapley/bootstrap.hpp"

namespace sfb::shapley {

torch::Tensor sf_of(const torch::Tensor& c) {
  const torch::Tensor m = c.mean(-1, /*keepdim=*/true);
  return (c - m).square().mean(-1).sqrt();
}

SfAccumulator::SfAccumulator(int64_t k, int64_t num_classes, int64_t replicates, double ci_level,
                             uint64_t seed, const torch::Device& device)
    : k_(k), classes_(num_classes), replicates_(replicates), ci_level_(ci_level), seed_(seed) {
  SFB_ASSERT(k >= 1 && num_classes >= 1 && replicates >= 0, "SfAccumulator: bad sizes");
  if (!(ci_level > 0.0 && ci_level < 1.0)) throw ConfigError("sf.ci_level must be in (0, 1)");
  const auto o = torch::TensorOptions().dtype(torch::kFloat64).device(device);
  sum_ = torch::zeros({k}, o);
  class_sum_ = torch::zeros({num_classes, k}, o);
  class_count_ = torch::zeros({num_classes}, o);
  boot_sum_ = torch::zeros({replicates, k}, o);
  boot_weight_ = torch::zeros({replicates}, o);
  correct_ = torch::zeros({}, o);
}

void SfAccumulator::add(const torch::Tensor& c, const torch::Tensor& labels,
                        const torch::Tensor& index, const torch::Tensor& correct) {
  SFB_ASSERT(c.dim() == 2 && c.size(1) == k_, "SfAccumulator::add: c must be [B, k]");
  const int64_t b = c.size(0);
  if (b == 0) return;
  const torch::Tensor c64 = c.to(torch::kFloat64);
  sum_ += c64.sum(0);
  class_sum_.index_add_(0, labels, c64);
  class_count_.index_add_(0, labels, torch::ones({b}, c64.options()));
  if (replicates_ > 0) {
    const torch::Tensor w = to_device(
        bootstrap_weights(seed_, index.to(torch::kCPU, torch::kInt64).contiguous(), replicates_),
        c64.device());
    boot_sum_.addmm_(w, c64);
    boot_weight_ += w.sum(1);
  }
  count_ += b;
  correct_ += correct.sum();
}

SfStatistics SfAccumulator::reduce(comm::Communicator& comm) const {
  // One flat buffer: [sum k | class_sum C·k | class_count C | boot_sum R·k | boot_weight R | n,
  // correct].
  const auto o = sum_.options();
  torch::Tensor flat =
      torch::cat({sum_, class_sum_.flatten(), class_count_, boot_sum_.flatten(), boot_weight_,
                  torch::full({1}, static_cast<double>(count_), o), correct_.view({1})})
          .to(comm.device());
  comm.allreduce(flat, comm::ReduceOp::kSum);
  flat = flat.to(torch::kCPU);
  int64_t at = 0;
  auto take = [&](int64_t len) {
    torch::Tensor t = flat.narrow(0, at, len);
    at += len;
    return t;
  };
  const torch::Tensor sum = take(k_);
  const torch::Tensor class_sum = take(classes_ * k_).view({classes_, k_});
  const torch::Tensor class_count = take(classes_);
  const torch::Tensor boot_sum = take(replicates_ * k_).view({replicates_, k_});
  const torch::Tensor boot_weight = take(replicates_);
  const torch::Tensor totals = take(2);

  SfStatistics s;
  s.n = static_cast<int64_t>(totals[0].item<double>());
  s.correct = static_cast<int64_t>(totals[1].item<double>());
  s.k = k_;
  if (s.n == 0) throw DataError("SF: no samples were evaluated (empty dataset or subset)");
  s.accuracy = static_cast<double>(s.correct) / static_cast<double>(s.n);
  s.global_shapley = sum / static_cast<double>(s.n);
  s.sorted = std::get<0>(s.global_shapley.sort(0, /*descending=*/true));
  s.sf = sf_of(s.global_shapley).item<double>();
  // 0/0 = NaN marks the classes without samples.
  s.per_class = class_sum / class_count.unsqueeze(1);
  s.class_count = class_count.round().to(torch::kInt64);
  s.per_class_sf = sf_of(s.per_class);
  s.bootstrap_sf = sf_of(boot_sum / boot_weight.unsqueeze(1));
  s.ci_level = ci_level_;
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const double tail = (1.0 - ci_level_) / 2.0;
  s.ci_low = replicates_ > 0 ? percentile_of_finite(s.bootstrap_sf, tail) : nan;
  s.ci_high = replicates_ > 0 ? percentile_of_finite(s.bootstrap_sf, 1.0 - tail) : nan;
  const torch::Tensor finite = s.bootstrap_sf.index({torch::isfinite(s.bootstrap_sf)});
  s.bootstrap_se = finite.numel() >= 2 ? finite.std(/*unbiased=*/true).item<double>() : nan;
  s.bootstrap_bias = finite.numel() >= 1 ? finite.mean().item<double>() - s.sf : nan;
  return s;
}

}  // namespace sfb::shapley
