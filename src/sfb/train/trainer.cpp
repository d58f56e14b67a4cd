#include "train/trainer.hpp"

#include <fmt/format.h>

#include <atomic>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <future>

#include "comm/context.hpp"
#include "core/device.hpp"
#include "core/error.hpp"
#include "core/hash.hpp"
#include "core/timer.hpp"
#include "data/batches.hpp"
#include "data/sampler.hpp"
#include "train/optim.hpp"
#include "train/resume_config.hpp"

namespace sfb::train {
namespace {

volatile std::sig_atomic_t g_stop = 0;

extern "C" void on_stop_signal(int /*sig*/) { g_stop = 1; }

torch::Tensor mean_ce(const torch::Tensor& logits, const torch::Tensor& y) {
  return torch::nn::functional::cross_entropy(logits, y);
}

/// Correct predictions as a [] float64 tensor on y's device (no wait for the device).
torch::Tensor correct_of(const torch::Tensor& logits, const torch::Tensor& y) {
  const auto o = torch::TensorOptions().dtype(torch::kFloat64).device(y.device());
  if (!logits.defined()) return torch::zeros({}, o);
  return logits.detach().argmax(1).eq(y).sum().to(torch::kFloat64);
}

std::string fmt_terms(const std::vector<std::string>& names, const std::vector<double>& v) {
  std::string s;
  for (std::size_t i = 0; i < names.size() && i < v.size(); ++i) {
    s += fmt::format("{}{} = {:.6g}", s.empty() ? "" : ", ", names[i], v[i]);
  }
  return s;
}

}  // namespace

void install_stop_handlers() {
  struct sigaction sa {};
  sa.sa_handler = on_stop_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGUSR1, &sa, nullptr);
}

bool stop_requested() { return g_stop != 0; }

void clear_stop_request() { g_stop = 0; }

Trainer::Trainer(models::Classifier& model, const data::Dataset& ds, const TrainConfig& cfg,
                 comm::Communicator& comm, uint64_t seed, const torch::Device& device,
                 std::string config_toml, comm::Communicator* control)
    : model_(model),
      ds_(ds),
      cfg_(cfg),
      comm_(comm),
      control_(control != nullptr ? *control : comm),
      seed_(seed),
      device_(device),
      dtype_(train_dtype(cfg)),
      config_toml_(std::move(config_toml)),
      loss_(parse_base_loss(cfg.loss)),
      clock_(device) {
  validate(cfg_, comm_.size());
  model_.to(device_);
  model_.to_dtype(dtype_);
  model_.train(true);
  params_ = model_.parameters();
  if (params_.empty()) {
    throw ConfigError("model " + model_.name() +
                      " has no trainable parameters (a frozen TorchScript module?)");
  }
  for (auto& p : params_) {
    if (!p.requires_grad()) p.requires_grad_(true);
  }
  for (const auto& b : named_buffers(model_)) buffers_.push_back(b.second);
  broadcast_tensors(params_, comm_);
  broadcast_tensors(buffers_, comm_);
  opt_ = make_optimizer(cfg_, params_);
  lr_at(cfg_, 0, 1);  // rejects an unknown schedule before any work
  sf_ = std::make_unique<SfRegularizer>(model_, shapley::parse_target(cfg_.sf_target), comm_);
  reducer_ = std::make_unique<GradReducer>(params_, comm_);
  adv_ = adversary_options(cfg_, loss_, seed_);
  term_names_ = loss_term_names(loss_);
  term_names_.push_back("sf");
  term_names_.push_back("total");
  const data::TrainSampler sampler(ds_.size(), comm_.size(), comm_.rank(),
                                   cfg_.batch_size / comm_.size(), seed_);
  steps_per_epoch_ = sampler.steps_per_epoch();
  if (steps_per_epoch_ == 0 && cfg_.epochs > 0) {
    throw ConfigError(fmt::format(
        "train.batch_size = {} is larger than the dataset {} ({} samples): an epoch has no steps",
        cfg_.batch_size, ds_.spec(), ds_.size()));
  }
  state_.loss = cfg_.loss;
  state_.partial.assign(term_names_.size() + 4, 0.0);
}

bool Trainer::resume(const std::filesystem::path& file) {
  // Without a configuration of its own (library callers) there is nothing to compare.
  const bool check = !config_toml_.empty();
  if (check) check_resume_allow(cfg_, config_toml_);
  std::error_code ec;
  if (file.empty() || !std::filesystem::exists(file, ec)) return false;
  ResumeRecord record;
  record.checkpoint = file.string();
  record.config_sha256 = config_toml_.empty() ? "" : sha256_hex(config_toml_);
  auto check_config = [&](const std::string& stored) {
    record.checkpoint_config_toml = stored;
    record.checkpoint_config_sha256 = stored.empty() ? "" : sha256_hex(stored);
    if (check) record.changed = check_resume_config(file.string(), stored, config_toml_, cfg_);
  };
  state_ = load_train_checkpoint(file, model_, *opt_, cfg_.loss, device_, check_config);
  if (state_.epochs_done > cfg_.epochs) {
    throw ConfigError(fmt::format(
        "train.epochs = {} but checkpoint {} has {} epochs done: --resume continues a run to "
        "train.epochs (raise it to extend the run)",
        cfg_.epochs, file.string(), state_.epochs_done));
  }
  record.epochs_done = state_.epochs_done;
  record.step_in_epoch = state_.step_in_epoch;
  record.global_step = state_.global_step;
  state_.resumes.push_back(std::move(record));
  state_.partial.resize(term_names_.size() + 4, 0.0);
  for (const EpochLog& l : state_.history) {
    if (l.terms.size() != term_names_.size()) {
      throw DataError("checkpoint " + file.string() + ": its log has " +
                      std::to_string(l.terms.size()) + " loss terms, this run logs " +
                      std::to_string(term_names_.size()));
    }
  }
  return true;
}

Trainer::StepStats Trainer::train_step(const data::Batch& local, int64_t epoch) {
  const torch::Tensor x = to_device(local.images, device_, dtype_);
  const torch::Tensor y = to_device(local.labels, device_);
  const torch::Tensor index = local.index.cpu();
  const double lambda = cfg_.sf_lambda;
  if (comm_.size() > 1) broadcast_tensors(buffers_, comm_);  // DDP's broadcast_buffers
  model_.train(true);
  torch::Tensor x_adv;
  if (is_adversarial(loss_)) x_adv = adversarial_examples(model_, x, y, index, epoch, adv_);

  opt_->zero_grad();
  torch::Tensor a_clean, logits_clean, a_adv, logits_adv;
  auto forward = [&](const torch::Tensor& in, torch::Tensor& a, torch::Tensor& logits) {
    a = model_.features(in);
    logits = model_.head(a);
  };
  std::vector<torch::Tensor> terms;
  torch::Tensor base;
  switch (loss_) {
    case BaseLoss::kStandard:
      forward(x, a_clean, logits_clean);
      base = mean_ce(logits_clean, y);
      terms = {base};
      break;
    case BaseLoss::kFgsmAt: {
      forward(x, a_clean, logits_clean);
      forward(x_adv, a_adv, logits_adv);
      const torch::Tensor ce_clean = mean_ce(logits_clean, y), ce_adv = mean_ce(logits_adv, y);
      base = cfg_.fgsm_weight * ce_clean + (1.0 - cfg_.fgsm_weight) * ce_adv;
      terms = {ce_clean, ce_adv};
      break;
    }
    case BaseLoss::kPgdAt:
      forward(x_adv, a_adv, logits_adv);
      base = mean_ce(logits_adv, y);
      terms = {base};
      break;
    case BaseLoss::kMart: {
      forward(x, a_clean, logits_clean);
      forward(x_adv, a_adv, logits_adv);
      const MartTerms m = mart_terms(logits_clean, logits_adv, y);
      const torch::Tensor bce = m.bce.mean(), kl = m.kl.mean();
      base = bce + cfg_.mart_beta * kl;
      terms = {bce, kl};
      break;
    }
  }
  // The SF term's features: adversarial ones only when asked for and present.
  const bool use_adv = cfg_.sf_inputs == "adv" && a_adv.defined();
  if (!use_adv && !a_clean.defined()) {
    if (lambda > 0) {
      forward(x, a_clean, logits_clean);  // pgd-at + SF on clean inputs: one more train forward
    } else {
      torch::NoGradGuard no_grad;  // clean accuracy and SF value only: eval mode, no graph
      model_.train(false);
      forward(x, a_clean, logits_clean);
      model_.train(true);
    }
  }
  const torch::Tensor sf =
      (*sf_)(use_adv ? a_adv : a_clean, y, cfg_.batch_size, /*differentiable=*/lambda > 0);
  const torch::Tensor total = lambda > 0 ? base + lambda * sf : base;
  terms.push_back(sf);
  terms.push_back(total);

  // One all-reduce of the terms and counts: the mean over ranks of the local means is the global
  // mean (equal local batches); a non-finite value on any rank is seen by every rank. Built on the
  // device; reading it back is the step's one wait for the device, and it must come before the
  // update so that a non-finite loss leaves the weights untouched.
  const int64_t nt = static_cast<int64_t>(terms.size());
  std::vector<torch::Tensor> parts;
  for (const torch::Tensor& t : terms) parts.push_back(t.detach().to(torch::kFloat64).reshape({}));
  parts.push_back(correct_of(logits_clean, y));
  parts.push_back(correct_of(logits_adv, y));
  torch::Tensor agg = torch::stack(parts).to(comm_.device());
  comm_.allreduce_sum(agg);
  agg = agg.cpu();
  StepStats st;
  const double world = static_cast<double>(comm_.size());
  for (int64_t i = 0; i < nt; ++i) st.terms.push_back(agg[i].item<double>() / world);
  st.correct = agg[nt].item<double>();
  st.adv_correct = agg[nt + 1].item<double>();
  for (double v : st.terms) {
    if (!std::isfinite(v)) {
      const std::string where =
          ckpt_path_.empty() ? std::string("no checkpoint is written by this run")
                             : "the last checkpoint " + ckpt_path_.string() + " (epoch " +
                                   std::to_string(state_.epochs_done) + ") was left untouched";
      throw AgreedError(fmt::format("training diverged at epoch {}, step {} (global step {}): "
                                    "non-finite loss: {}; {}",
                                    epoch + 1, state_.step_in_epoch + 1, state_.global_step + 1,
                                    fmt_terms(term_names_, st.terms), where),
                        ExitCode::kRuntime, 0);
    }
  }

  reducer_->prepare();
  total.backward();
  reducer_->finish();
  set_lr(*opt_, lr_at(cfg_, state_.global_step, steps_per_epoch_));
  opt_->step();
  return st;
}

std::vector<double> Trainer::step(const data::Batch& local, int64_t epoch) {
  StepStats st = train_step(local, epoch);
  ++state_.global_step;
  return st.terms;
}

bool Trainer::agree_stop() {
  // Through the control communicator (host tensors): no wait for the device.
  const double flag =
      comm::allreduce_scalar(control_, stop_requested() ? 1.0 : 0.0, comm::ReduceOp::kMax);
  return flag != 0;
}

void Trainer::checkpoint_now(const std::filesystem::path& file) {
  // Train-mode forwards update BatchNorm statistics locally: rank 0's are the run's.
  if (comm_.size() > 1) broadcast_tensors(buffers_, comm_);
  if (file.empty()) return;
  std::string error;
  if (comm_.rank() == 0) {
    try {
      save_train_checkpoint(file, model_, *opt_, state_, config_toml_);
    } catch (const std::exception& e) {
      error = e.what();
    }
  }
  torch::Tensor failed =
      torch::full({1}, error.empty() ? int64_t{0} : int64_t{1}, torch::kInt64).to(comm_.device());
  comm_.allreduce(failed, comm::ReduceOp::kMax);
  if (failed.cpu().item<int64_t>() != 0) {
    throw AgreedError(error.empty() ? "rank 0 could not write checkpoint " + file.string() : error,
                      ExitCode::kRuntime, 0);
  }
}

RunStatus Trainer::run(const std::filesystem::path& checkpoint, bool show_progress) {
  ckpt_path_ = checkpoint;
  install_stop_handlers();
  const int64_t world = comm_.size();
  const int64_t local_batch = cfg_.batch_size / world;
  const data::TrainSampler sampler(ds_.size(), static_cast<int>(world), comm_.rank(), local_batch,
                                   seed_);
  const int64_t start_step = state_.global_step;
  const std::size_t nt = term_names_.size();
  for (int64_t e = state_.epochs_done; e < cfg_.epochs; ++e) {
    const auto batches = sampler.epoch_batches(e);
    std::vector<double>& sums = state_.partial;  // terms..., correct, adv_correct, samples, s
    Stopwatch clock;
    const double seconds_before = sums[nt + 3];
    // The next step's batch is read (and pinned, for a GPU) while this step runs.
    const bool pin = device_.is_cuda();
    auto read = [this, &batches, pin](int64_t i) {
      data::Batch b = ds_.get(batches[static_cast<std::size_t>(i)]);
      return pin ? data::pinned(std::move(b)) : b;
    };
    std::future<data::Batch> next;
    if (state_.step_in_epoch < steps_per_epoch_) {
      next = std::async(std::launch::async, read, state_.step_in_epoch);
    }
    for (int64_t s = state_.step_in_epoch; s < steps_per_epoch_; ++s) {
      if (stop_at_step_ >= 0 && state_.global_step == stop_at_step_ &&
          state_.global_step > start_step && comm_.rank() == 0) {
        std::raise(SIGUSR1);
      }
      if (agree_stop()) {
        sums[nt + 3] = seconds_before + clock.seconds();
        checkpoint_now(checkpoint);
        if (show_progress) {
          std::fprintf(stderr, "[train] stop signal: checkpoint %s at epoch %lld, step %lld\n",
                       checkpoint.string().c_str(), static_cast<long long>(e + 1),
                       static_cast<long long>(s));
        }
        return RunStatus::kPreempted;
      }
      const data::Batch batch = next.get();
      if (s + 1 < steps_per_epoch_) next = std::async(std::launch::async, read, s + 1);
      clock_.start();
      const StepStats st = train_step(batch, e);
      clock_.stop();
      for (std::size_t i = 0; i < nt; ++i) sums[i] += st.terms[i];
      sums[nt] += st.correct;
      sums[nt + 1] += st.adv_correct;
      sums[nt + 2] += static_cast<double>(cfg_.batch_size);
      ++state_.global_step;
      state_.step_in_epoch = s + 1;
    }
    const double seconds =
        comm::allreduce_scalar(comm_, seconds_before + clock.seconds(), comm::ReduceOp::kMax);
    EpochLog log;
    log.epoch = e + 1;
    const double steps = static_cast<double>(steps_per_epoch_);
    for (std::size_t i = 0; i < nt; ++i) log.terms.push_back(sums[i] / steps);
    log.accuracy = sums[nt] / sums[nt + 2];
    log.adv_accuracy = is_adversarial(loss_) ? sums[nt + 1] / sums[nt + 2] : std::nan("");
    log.lr = lr_at(cfg_, state_.global_step - 1, steps_per_epoch_);
    log.seconds = seconds;
    log.images_per_s = seconds > 0 ? sums[nt + 2] / seconds : 0.0;
    state_.history.push_back(log);
    state_.epochs_done = e + 1;
    state_.step_in_epoch = 0;
    std::fill(sums.begin(), sums.end(), 0.0);
    if (show_progress) {
      // Standard training has no adversarial accuracy (NaN in /train/epoch): print "-".
      char adv[32] = "-";
      if (std::isfinite(log.adv_accuracy)) std::snprintf(adv, sizeof adv, "%.4f", log.adv_accuracy);
      std::fprintf(stderr,
                   "[train] epoch %lld/%lld  %s  acc %.4f  adv_acc %s  lr %.3g  %.1fs  "
                   "%.1f img/s\n",
                   static_cast<long long>(e + 1), static_cast<long long>(cfg_.epochs),
                   fmt_terms(term_names_, log.terms).c_str(), log.accuracy, adv, log.lr,
                   log.seconds, log.images_per_s);
    }
    if ((e + 1) % cfg_.checkpoint_every == 0 || e + 1 == cfg_.epochs) checkpoint_now(checkpoint);
  }
  if (comm_.size() > 1) broadcast_tensors(buffers_, comm_);
  return RunStatus::kFinished;
}

}  // namespace sfb::train
