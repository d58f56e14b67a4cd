#include "train/optim.hpp"

#include <cmath>

#include "core/error.hpp"

namespace sfb::train {

std::unique_ptr<torch::optim::Optimizer> make_optimizer(const TrainConfig& cfg,
                                                        const std::vector<torch::Tensor>& params) {
  if (cfg.optimizer == "sgd") {
    if (cfg.nesterov && !(cfg.momentum > 0)) {
      throw ConfigError("train.nesterov = true needs train.momentum > 0");
    }
    torch::optim::SGDOptions o(cfg.lr);
    o.momentum(cfg.momentum).nesterov(cfg.nesterov).weight_decay(cfg.weight_decay).dampening(0);
    return std::make_unique<torch::optim::SGD>(params, o);
  }
  if (cfg.optimizer == "adam") {
    torch::optim::AdamOptions o(cfg.lr);
    o.betas({cfg.adam_beta1, cfg.adam_beta2}).eps(cfg.adam_eps).weight_decay(cfg.weight_decay);
    return std::make_unique<torch::optim::Adam>(params, o);
  }
  throw ConfigError("train.optimizer: unknown optimizer '" + cfg.optimizer + "'; valid: sgd, adam");
}

double lr_at(const TrainConfig& cfg, int64_t step, int64_t steps_per_epoch) {
  const int64_t spe = std::max<int64_t>(steps_per_epoch, 1);
  const int64_t epoch = step / spe;
  if (cfg.schedule == "constant") return cfg.lr;
  if (cfg.schedule == "step") {
    return cfg.lr * std::pow(cfg.gamma, static_cast<double>(epoch / cfg.step_epochs));
  }
  if (cfg.schedule == "piecewise") {
    int64_t passed = 0;
    for (int64_t m : cfg.milestones) passed += epoch >= m ? 1 : 0;
    return cfg.lr * std::pow(cfg.gamma, static_cast<double>(passed));
  }
  if (cfg.schedule == "cosine") {
    const double total = static_cast<double>(spe * std::max<int64_t>(cfg.epochs, 1));
    const double t = std::min(static_cast<double>(step) / total, 1.0);
    return cfg.lr_min + (cfg.lr - cfg.lr_min) * 0.5 * (1.0 + std::cos(M_PI * t));
  }
  throw ConfigError("train.schedule: unknown schedule '" + cfg.schedule +
                    "'; valid: constant, step, cosine, piecewise");
}

void set_lr(torch::optim::Optimizer& opt, double lr) {
  for (auto& group : opt.param_groups()) group.options().set_lr(lr);
}

}  // namespace sfb::train
