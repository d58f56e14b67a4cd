// The attack runs of AttackCommandStage: clean pass, attack stages with checkpoints, results,
// table.
#include "attacks/driver.hpp"

#include <fmt/format.h>
#include <torch/torch.h>

#include <cstdlib>
#include <iostream>

#include "attacks/checkpoint.hpp"
#include "core/error.hpp"
#include "core/hash.hpp"
#include "core/log.hpp"
#include "core/timer.hpp"
#include "data/batches.hpp"

namespace sfb::attacks {

CleanPass clean_pass(models::Classifier& model, const data::Dataset& ds, const Range& shard,
                     int64_t batch_size, torch::ScalarType dtype, const torch::Device& device) {
  std::vector<torch::Tensor> idx, lab, pred;
  torch::NoGradGuard no_grad;
  data::for_each_batch(
      ds, shard, batch_size, "clean pass", false, device.is_cuda(), [&](const data::Batch& b) {
        const torch::Tensor logits =
            model.forward(b.images.to(device, dtype, /*non_blocking=*/true)).to(torch::kCPU);
        const torch::Tensor bad = torch::logical_not(torch::isfinite(logits)).any(1);
        if (bad.any().item<bool>()) {
          const int64_t row = bad.nonzero()[0][0].item<int64_t>();
          throw DataError(fmt::format("sample {}: the clean logits are NaN or infinite",
                                      b.index[row].item<int64_t>()));
        }
        const torch::Tensor out = (b.labels < 0).logical_or(b.labels >= model.num_classes());
        if (out.any().item<bool>()) {
          const int64_t row = out.nonzero()[0][0].item<int64_t>();
          throw DataError(fmt::format("sample {}: label {} is outside the model's classes [0, {})",
                                      b.index[row].item<int64_t>(), b.labels[row].item<int64_t>(),
                                      model.num_classes()));
        }
        idx.push_back(b.index);
        lab.push_back(b.labels);
        pred.push_back(logits.argmax(1));
      });
  auto cat = [](const std::vector<torch::Tensor>& v) {
    return v.empty() ? torch::empty({0}, torch::kInt64) : torch::cat(v);
  };
  return {cat(idx), cat(lab), cat(pred)};
}

AttackRun run_attacks(Context& ctx, const AttackRunOptions& o, const data::Dataset& ds,
                      models::Classifier& model, const Range& shard,
                      const torch::Tensor& clean_correct, torch::ScalarType dtype,
                      bool activation_diff) {
  AttackRun run;
  std::vector<AttackGroup> groups;
  std::vector<std::string> notes;
  ctx.agree([&] {
    groups = plan_attacks(o.config, ds.image_shape(), model.num_classes(), o.seed, &notes);
  });
  for (const auto& n : notes) log::warn(n);
  run.runner = std::make_unique<AttackRunner>(model, groups, shard, clean_correct, dtype,
                                              ctx.device(), activation_diff);
  // The reference's check: two forward passes on the same batch must agree bit for bit.
  int64_t nondet = 0;
  ctx.agree([&] {
    if (shard.count == 0) return;
    std::vector<int64_t> ids;
    for (int64_t i = shard.begin; i < std::min(shard.begin + 8, shard.end()); ++i) ids.push_back(i);
    nondet = forward_is_deterministic(model, ds.get(ids).images.to(ctx.device(), dtype)) ? 0 : 1;
  });
  nondet = static_cast<int64_t>(
      comm::allreduce_scalar(ctx.host_comm(), static_cast<double>(nondet), comm::ReduceOp::kMax));
  const bool checkpoints = !o.out.empty();
  const auto cp = checkpoints ? checkpoint_path(o.out) : std::filesystem::path();
  const std::string key = sha256_hex(o.config_toml + ds.fingerprint() + model.fingerprint() +
                                     std::to_string(static_cast<int>(dtype)));
  if (checkpoints && o.config.resume) {
    run.resumed_stages = load_checkpoint(ctx, cp, *run.runner, ds.size(), shard, key);
    if (run.resumed_stages > 0) {
      log::info(fmt::format("resuming from {}: {} of {} attack stages already done", cp.string(),
                            run.resumed_stages, run.runner->num_stages()));
    }
  }
  const comm::Traffic before = ctx.traffic();
  Stopwatch sw;
  for (int64_t s = run.runner->stages_done(); s < run.runner->num_stages(); ++s) {
    ctx.agree([&] { run.runner->run_stage(s, ds, o.batch_size, ctx.rank() == 0); });
    const auto [g, st] = run.runner->stage_at(s);
    const auto& plan = run.runner->groups()[static_cast<std::size_t>(g)];
    const double rows = comm::allreduce_scalar(
        ctx.host_comm(), static_cast<double>(run.runner->stage_rows()[s]), comm::ReduceOp::kSum);
    const double back = comm::allreduce_scalar(
        ctx.host_comm(), static_cast<double>(run.runner->stage_backward_rows()[s]),
        comm::ReduceOp::kSum);
    const double samples = comm::allreduce_scalar(
        ctx.host_comm(), static_cast<double>(run.runner->stage_samples()[s]), comm::ReduceOp::kSum);
    run.costs.push_back(
        {fmt::format("{} [{}]", plan.label, plan.stages[static_cast<std::size_t>(st)].attack),
         static_cast<int64_t>(samples), samples > 0 ? rows / samples : 0.0,
         samples > 0 ? back / samples : 0.0});
    if (checkpoints) {
      write_checkpoint(ctx, cp, *run.runner, ds.size(), key, o.checkpoint_info());
      // Fault injection for the resume test: die like a preempted job after this many stages.
      if (const char* stop = std::getenv("SFB_FAULT_STOP_AFTER_STAGES");
          stop && std::atoll(stop) == s + 1) {
        throw Error(
            fmt::format("stopped after attack stage {} (SFB_FAULT_STOP_AFTER_STAGES)", s + 1));
      }
    }
  }
  run.seconds = comm::allreduce_scalar(ctx.host_comm(), sw.seconds(), comm::ReduceOp::kMax);
  run.summaries = run.runner->reduce(ctx.comm(), ds.size(), nondet != 0);
  run.traffic = ctx.traffic() - before;
  return run;
}

void remove_checkpoint(Context& ctx, const std::string& out) {
  if (out.empty() || ctx.rank() != 0) return;
  const auto cp = checkpoint_path(out);
  std::error_code ec;
  std::filesystem::remove(cp, ec);
  std::filesystem::remove(io::summary_path(cp), ec);
}

io::StageTiming attack_timing(const AttackRun& run) {
  const double samples = run.summaries.empty() ? 0.0 : static_cast<double>(run.summaries.front().n);
  return {run.seconds, samples, "samples", run.runner->device_seconds(), run.traffic};
}

void write_run(io::ResultsFile& rf, const AttackRun& run, int64_t offset,
               const torch::Tensor& c_order) {
  write_attacks(rf, *run.runner, run.summaries, offset, c_order);
  for (const auto& c : run.costs) {
    rf.summary()["metrics"]["attack_stage_cost"][c.name] = {
        {"samples", c.samples},
        {"passes_per_sample", c.passes_per_sample},
        {"backward_passes_per_sample", c.backward_passes_per_sample}};
  }
}

void print_attack_table(const std::string& split, const data::Dataset& ds,
                        models::Classifier& model, const AttackRun& run) {
  std::cout << fmt::format(
      "# sfbench attacks: {} on {} (split {}){}\n", model.name(), ds.spec(), split,
      run.resumed_stages > 0 ? fmt::format(", resumed after {} stages", run.resumed_stages) : "");
  std::cout << fmt::format("#{:<28} {:>5} {:>9} {:>10} {:>8} {:>8}  {}\n", "attack", "norm", "eps",
                           "clean_acc", "adv_acc", "dAcc", "flags");
  const auto& groups = run.runner->groups();
  for (std::size_t g = 0; g < run.summaries.size(); ++g) {
    const auto& s = run.summaries[g];
    const bool worst = g == groups.size();
    std::string flags;
    for (const auto& f : s.flags) flags += (flags.empty() ? "" : "; ") + f;
    std::cout << fmt::format(" {:<28} {:>5} {:>9} {:>10.4f} {:>8.4f} {:>8.4f}  {}\n", s.label,
                             worst ? "" : norm_name(groups[g].norm),
                             worst ? "" : fmt::format("{:.5f}", groups[g].eps), s.clean_acc,
                             s.adv_acc, s.accuracy_drop, flags.empty() ? "-" : flags);
  }
  for (std::size_t g = 0; g < groups.size(); ++g) {
    const auto& s = run.summaries[g];
    if (s.stage_names.size() > 1) {
      // As the reference AutoAttack prints it: the robust accuracy after each stage.
      std::string after;
      for (std::size_t st = 0; st < s.stage_names.size(); ++st) {
        after += fmt::format("{}{} {:.4f}", after.empty() ? "" : ", ", s.stage_names[st],
                             s.stage_adv_acc[st]);
      }
      std::cout << fmt::format("# {}: robust accuracy after each stage: {}\n", s.label, after);
    }
    if (s.minimal_norm) {
      std::cout << fmt::format(
          "# {}: minimal L2 median {:.4f}, mean {:.4f} (an adversarial for {} of {} clean-correct "
          "samples; adv_acc = accuracy at eps {:.4f})\n",
          s.label, s.median_norm, s.mean_norm, s.norm_found, s.clean_correct, groups[g].eps);
    }
  }
  std::cout << fmt::format("# {:.1f} s for the attack stages (max over ranks)\n", run.seconds);
  if (!run.costs.empty()) {
    std::cout << "# cost per stage: forward and backward passes of the model per attacked sample\n";
    for (const auto& c : run.costs) {
      std::cout << fmt::format("#   {:<40} {:>8} samples {:>10.1f} forward {:>10.1f} backward\n",
                               c.name, c.samples, c.passes_per_sample,
                               c.backward_passes_per_sample);
    }
  }
}

}  // namespace sfb::attacks
