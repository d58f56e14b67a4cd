#include "shapley/target.hpp"

#include <torch/torch.h>

#include "core/error.hpp"

namespace sfb::shapley {

Target parse_target(const std::string& name) {
  if (name == "logit") return Target::kLogit;
  if (name == "logprob") return Target::kLogProb;
  if (name == "prob") return Target::kProb;
  if (name == "pred-logit") return Target::kPredLogit;
  throw ConfigError("unknown SF target '" + name + "'; valid: logit, logprob, prob, pred-logit");
}

std::string target_name(Target t) {
  switch (t) {
    case Target::kLogit:
      return "logit";
    case Target::kLogProb:
      return "logprob";
    case Target::kProb:
      return "prob";
    case Target::kPredLogit:
      return "pred-logit";
  }
  return "?";
}

bool is_linear_in_logits(Target t) { return t == Target::kLogit || t == Target::kPredLogit; }

torch::Tensor target_class(const torch::Tensor& logits, const torch::Tensor& labels, Target t) {
  if (t == Target::kPredLogit) return logits.detach().argmax(1);
  return labels;
}

torch::Tensor target_value(const torch::Tensor& logits, const torch::Tensor& labels, Target t) {
  const torch::Tensor cls = target_class(logits, labels, t).unsqueeze(1);
  switch (t) {
    case Target::kLogit:
    case Target::kPredLogit:
      return logits.gather(1, cls).squeeze(1);
    case Target::kLogProb:
      return torch::log_softmax(logits, 1).gather(1, cls).squeeze(1);
    case Target::kProb:
      return torch::softmax(logits, 1).gather(1, cls).squeeze(1);
  }
  SFB_ASSERT(false, "unhandled target");
  return {};
}

}  // namespace sfb::shapley
