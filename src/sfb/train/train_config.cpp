#include "train/train_config.hpp"

#include <torch/types.h>

#include <string>

#include "core/error.hpp"
#include "core/tensors.hpp"

namespace sfb::train {

void TrainConfig::register_keys(ConfigSchema& s) {
  s.add_int("train.epochs", &epochs, "epochs in total (a resumed run continues to this many)", 0,
            1000000);
  s.add_int("train.batch_size", &batch_size,
            "global minibatch over all ranks (divisible by the number of ranks)", 1, 1 << 24);
  s.add("train.loss", &loss, "base loss", {"standard", "fgsm-at", "pgd-at", "mart"});
  s.add_float("train.sf_lambda", &sf_lambda, "λ of L = L_base + λ·SF_batch (0 = off)", 0.0, 1e12);
  s.add("train.sf_target", &sf_target, "scalar decomposed over neurons by the SF term",
        {"logit", "logprob", "prob", "pred-logit"});
  s.add("train.sf_inputs", &sf_inputs, "inputs of the SF term", {"clean", "adv"});
  s.add_float("train.fgsm_weight", &fgsm_weight, "α of paper 003 Eq. 1 (weight of the clean CE)",
              0.0, 1.0);
  s.add_float("train.mart_beta", &mart_beta, "λ_m of MART", 0.0, 1e6);
  s.add_float("train.eps", &eps, "adversary's linf radius (pixel scale)", 0.0, 1.0);
  s.add_float("train.step_size", &step_size, "adversary's step α", 0.0, 1.0);
  s.add_int("train.attack_steps", &attack_steps, "PGD steps (pgd-at, mart)", 1, 100000);
  s.add("train.random_start", &random_start, "uniform random start in the ε-ball (pgd-at, mart)");
  s.add("train.fgsm_step", &fgsm_step, "fgsm-at step: ε or train.step_size", {"eps", "step_size"});
  s.add("train.fgsm_random_start", &fgsm_random_start, "fgsm-at random start (fast FGSM)");
  s.add("train.optimizer", &optimizer, "optimizer", {"sgd", "adam"});
  s.add_float("train.lr", &lr, "initial learning rate", 0.0, 1e6);
  s.add_float("train.momentum", &momentum, "SGD momentum", 0.0, 1.0);
  s.add("train.nesterov", &nesterov, "SGD Nesterov momentum");
  s.add_float("train.weight_decay", &weight_decay, "L2 weight decay", 0.0, 1e3);
  s.add_float("train.adam_beta1", &adam_beta1, "Adam β1", 0.0, 1.0);
  s.add_float("train.adam_beta2", &adam_beta2, "Adam β2", 0.0, 1.0);
  s.add_float("train.adam_eps", &adam_eps, "Adam ε", 0.0, 1.0);
  s.add("train.schedule", &schedule, "learning-rate schedule",
        {"constant", "step", "cosine", "piecewise"});
  s.add_int("train.step_epochs", &step_epochs, "step schedule: epochs between decays", 1, 1000000);
  s.add_float("train.gamma", &gamma, "step/piecewise decay factor", 0.0, 1e6);
  s.add("train.milestones", &milestones, "piecewise schedule: decay epochs, ascending");
  s.add_float("train.lr_min", &lr_min, "cosine schedule: final learning rate", 0.0, 1e6);
  s.add("train.dtype", &dtype, "training precision", {"float32", "float64"});
  s.add("train.checkpoint", &checkpoint, "checkpoint file (\"\" = <out without .h5>.ckpt)");
  s.add("train.resume", &resume, "resume from train.checkpoint when it exists");
  s.add("train.resume_allow", &resume_allow,
        "config keys that may differ from the checkpoint's on resume (\"*\" = any)");
  s.add_int("train.checkpoint_every", &checkpoint_every, "epochs between checkpoints", 1, 1000000);
}

void validate(const TrainConfig& c, int world_size) {
  if (world_size < 1 || c.batch_size % world_size != 0) {
    throw ConfigError("train.batch_size = " + std::to_string(c.batch_size) +
                      " is the global minibatch and must be divisible by the number of ranks (" +
                      std::to_string(world_size) + ")");
  }
  if (!(c.sf_lambda >= 0)) {
    throw ConfigError("train.sf_lambda must be >= 0, got " + std::to_string(c.sf_lambda));
  }
  for (std::size_t i = 0; i < c.milestones.size(); ++i) {
    if (c.milestones[i] < 0 || (i > 0 && c.milestones[i] <= c.milestones[i - 1])) {
      throw ConfigError("train.milestones must be non-negative and strictly ascending");
    }
  }
  if (c.schedule == "piecewise" && c.milestones.empty()) {
    throw ConfigError("train.schedule = \"piecewise\" needs train.milestones (epochs)");
  }
  const bool adversarial = c.loss != "standard";
  if (adversarial && c.eps > 0 && !(c.step_size > 0) &&
      !(c.loss == "fgsm-at" && c.fgsm_step == "eps")) {
    throw ConfigError("train.step_size must be > 0 for train.loss = \"" + c.loss + "\"");
  }
  if (c.nesterov && c.optimizer == "sgd" && !(c.momentum > 0)) {
    throw ConfigError("train.nesterov = true needs train.momentum > 0");
  }
}

torch::ScalarType train_dtype(const TrainConfig& cfg) { return eval_dtype(cfg.dtype); }

}  // namespace sfb::train
