#pragma once
#include <torch/types.h>

#include <string>

namespace sfb::shapley {

/// The scalar t(x, y) whose Shapley decomposition over neurons is taken (SPEC §2).
enum class Target {
  kLogit,      ///< "logit": z_y, the ground-truth logit (default)
  kLogProb,    ///< "logprob": log softmax(z)_y
  kProb,       ///< "prob": softmax(z)_y
  kPredLogit,  ///< "pred-logit": z_ŷ with ŷ = argmax z (ŷ held fixed when differentiating)
};

/// Parses "logit" | "logprob" | "prob" | "pred-logit"; ConfigError naming the valid ones otherwise.
Target parse_target(const std::string& name);
/// The config name of `t` ("logit", ...).
std::string target_name(Target t);
/// True when t is linear in the logits (logit, pred-logit): then a linear head gives a closed form.
bool is_linear_in_logits(Target t);

/// logits: [B, C] (in the autograd graph or not); labels: [B] int64 on the same device
/// -> t: [B] in the logits' dtype, differentiable with respect to the logits.
torch::Tensor target_value(const torch::Tensor& logits, const torch::Tensor& labels, Target t);

/// The class whose logit row the target uses: labels for logit/logprob/prob, argmax of the
/// (detached) logits for pred-logit. [B] int64.
torch::Tensor target_class(const torch::Tensor& logits, const torch::Tensor& labels, Target t);

}  // namespace sfb::shapley
