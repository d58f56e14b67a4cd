#pragma once
// Optimizers and learning-rate schedules of `sfbench train` (SPEC §6).
//
// Schedules are computed per optimizer step from the global step s (0-based), the steps per epoch
// S and the epochs E, so a resumed run continues the same curve:
//   constant   lr
//   step       lr · gamma^floor(e / step_epochs),  e = floor(s / S) the current epoch
//   piecewise  lr · gamma^(number of milestones <= e)   (milestones in epochs, ascending)
//   cosine     lr_min + (lr − lr_min) · (1 + cos(π · s / (S·E))) / 2

#include <torch/torch.h>

#include <cstdint>
#include <memory>
#include <vector>

#include "train/train_config.hpp"

namespace sfb::train {

/// torch::optim::SGD (momentum, dampening 0, nesterov, weight decay) or torch::optim::Adam (betas,
/// eps, weight decay) over `params` with cfg.lr. Throws ConfigError naming train.optimizer for an
/// unknown name and train.nesterov for Nesterov without momentum.
std::unique_ptr<torch::optim::Optimizer> make_optimizer(const TrainConfig& cfg,
                                                        const std::vector<torch::Tensor>& params);

/// The learning rate at global step `step` of a run with `steps_per_epoch` steps per epoch (see
/// the table above). Throws ConfigError naming train.schedule for an unknown schedule.
double lr_at(const TrainConfig& cfg, int64_t step, int64_t steps_per_epoch);

/// Sets the learning rate of every parameter group of `opt`.
void set_lr(torch::optim::Optimizer& opt, double lr);

}  // namespace sfb::train
