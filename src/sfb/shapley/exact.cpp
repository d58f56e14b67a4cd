#include "shapley/exact.hpp"

#include <torch/torch.h>

#include <cmath>
#include <vector>

#include "core/error.hpp"

namespace sfb::shapley {

torch::Tensor exact_shapley(int64_t k,
                            const std::function<torch::Tensor(const torch::Tensor&)>& value) {
  if (k < 1 || k > kMaxExactPlayers) {
    throw ConfigError("exact Shapley enumeration needs 1 <= k <= " +
                      std::to_string(kMaxExactPlayers) + " players, got " + std::to_string(k));
  }
  const int64_t total = int64_t{1} << k;
  const torch::Tensor bits = torch::arange(k, torch::kInt64);
  std::vector<double> v(static_cast<std::size_t>(total));
  constexpr int64_t kChunk = 4096;
  for (int64_t start = 0; start < total; start += kChunk) {
    const int64_t len = std::min(kChunk, total - start);
    const torch::Tensor ids = torch::arange(start, start + len, torch::kInt64).unsqueeze(1);
    const torch::Tensor masks = ids.bitwise_right_shift(bits).bitwise_and(1).to(torch::kFloat64);
    const torch::Tensor out = value(masks).to(torch::kCPU, torch::kFloat64).contiguous();
    SFB_ASSERT(out.numel() == len, "exact_shapley: value() must return one value per coalition");
    std::copy(out.data_ptr<double>(), out.data_ptr<double>() + len, v.begin() + start);
  }
  // weight[s] = s!(k-s-1)!/k!, through lgamma to stay finite for every k allowed.
  std::vector<double> weight(static_cast<std::size_t>(k));
  for (int64_t s = 0; s < k; ++s) {
    weight[s] = std::exp(std::lgamma(s + 1.0) + std::lgamma(static_cast<double>(k - s)) -
                         std::lgamma(k + 1.0));
  }
  torch::Tensor phi = torch::zeros({k}, torch::kFloat64);
  auto pa = phi.accessor<double, 1>();
  for (int64_t mask = 0; mask < total; ++mask) {
    const int size = __builtin_popcountll(static_cast<unsigned long long>(mask));
    for (int64_t i = 0; i < k; ++i) {
      if (mask & (int64_t{1} << i)) continue;
      pa[i] += weight[size] * (v[mask | (int64_t{1} << i)] - v[mask]);
    }
  }
  return phi;
}

torch::Tensor exact_neuron_shapley(models::Classifier& model, const torch::Tensor& a, int64_t label,
                                   Target target) {
  SFB_ASSERT(a.dim() == 1, "exact_neuron_shapley: a must be [k]");
  torch::NoGradGuard no_grad;
  int64_t cls = label;
  if (target == Target::kPredLogit) {
    cls = model.head(a.unsqueeze(0)).argmax(1).item<int64_t>();
    target = Target::kLogit;
  }
  return exact_shapley(a.size(0), [&](const torch::Tensor& masks) {
    const torch::Tensor m = masks.to(a.device(), a.scalar_type());
    const torch::Tensor logits = model.head(m * a.unsqueeze(0));
    const torch::Tensor y = torch::full(
        {m.size(0)}, cls, torch::TensorOptions().dtype(torch::kInt64).device(a.device()));
    return target_value(logits, y, target);
  });
}

}  // namespace sfb::shapley
