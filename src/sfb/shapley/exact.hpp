#pragma once
#include <torch/types.h>

#include <cstdint>
#include <functional>

#include "models/classifier.hpp"
#include "shapley/target.hpp"

namespace sfb::shapley {

/// Largest game exact_shapley() enumerates (2^20 coalitions).
inline constexpr int64_t kMaxExactPlayers = 20;

/// Exact Shapley values of a k-player game by enumerating every coalition:
/// φ_i = Σ_{S ⊆ N∖{i}} |S|!(k−|S|−1)!/k! · (v(S ∪ {i}) − v(S)).
/// `value` maps coalition masks [S, k] float64 (1 = player present, row j = the bits of j) to
/// v [S]; it is called in chunks of at most 4096 rows. Returns φ [k] float64 on the CPU.
/// ConfigError for k < 1 or k > kMaxExactPlayers.
torch::Tensor exact_shapley(int64_t k,
                            const std::function<torch::Tensor(const torch::Tensor&)>& value);

/// The neuron game of SPEC §2 for one sample at the features layer: players are the k neurons,
/// v(S) = t(head(a ⊙ 1_S)) with absent neurons set to 0 (for pred-logit the class is the argmax
/// with every neuron present). a: [k] on the model's device and dtype. Returns φ [k] float64 CPU.
torch::Tensor exact_neuron_shapley(models::Classifier& model, const torch::Tensor& a, int64_t label,
                                   Target target);

}  // namespace sfb::shapley
