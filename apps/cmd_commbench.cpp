// `sfbench commbench`: all-reduce sweep in the style of nccl-tests' all_reduce_perf.
#include <fmt/format.h>
#include <torch/torch.h>

#include <iostream>

#include "app.hpp"
#include "core/device.hpp"
#include "core/timer.hpp"

namespace sfb::app {

Command register_commbench(CLI::App& app, Invocation& inv) {
  auto* sub =
      app.add_subcommand("commbench", "all-reduce bandwidth sweep (nccl-tests style table)");
  add_flag_for_key(sub, inv, "-b,--min-bytes", "commbench.min_bytes", "first size (e.g. 8, 1K)")
      ->transform(CLI::AsSizeValue(false));
  add_flag_for_key(sub, inv, "-e,--max-bytes", "commbench.max_bytes", "last size (e.g. 256M)")
      ->transform(CLI::AsSizeValue(false));
  add_flag_for_key(sub, inv, "-f,--step-factor", "commbench.step_factor", "size multiplier");
  add_flag_for_key(sub, inv, "-n,--iters", "commbench.iters", "timed iterations per size");
  add_flag_for_key(sub, inv, "-w,--warmup-iters", "commbench.warmup_iters", "warm-up iterations");
  add_flag_for_key(sub, inv, "-d,--dtype", "commbench.dtype", "float32|float64|int64");
  add_flag_for_key(sub, inv, "-o,--op", "commbench.op", "sum|max|min");
  add_flag_for_key(sub, inv, "-a,--average", "commbench.average",
                   "combine rank times: min|avg|max");
  add_flag_for_key(sub, inv, "-c,--check", "commbench.check", "verify results (true|false)");
  return {sub, [](Context& ctx, Invocation& inv2) {
            resolve(ctx, inv2, "commbench", kCommbench);
            const auto& o = inv2.commbench;
            std::unique_ptr<io::ResultsFile> out;
            if (!inv2.common.out.empty()) {
              out = std::make_unique<io::ResultsFile>(ctx, inv2.common.out,
                                                      run_info(inv2, "commbench"));
            }
            const bool r0 = ctx.rank() == 0;
            if (r0) {
              std::cout << fmt::format(
                  "# sfbench commbench: all-reduce ({}, {}), {} ranks, comm {}, device {}\n",
                  o.dtype, o.op, ctx.size(), ctx.comm().name(), ctx.device().str());
              std::cout << fmt::format(
                  "# in place; time = {} over ranks of the mean of {} iterations ({} warm-up)\n",
                  o.average, o.iters, o.warmup_iters);
              std::cout << fmt::format("#{:>12} {:>12} {:>8} {:>6} {:>12} {:>11} {:>11} {:>8}\n",
                                       "size(B)", "count", "type", "redop", "time(us)",
                                       "algbw(GB/s)", "busbw(GB/s)", "#wrong");
              std::cout.flush();
            }
            const comm::Traffic before = ctx.traffic();
            DeviceClock clock(ctx.device());
            Stopwatch sw;
            clock.start();
            auto rows = comm::run_allreduce_sweep(
                ctx.comm(), ctx.host_comm(), o, ctx.device(), [&](const comm::SweepRow& r) {
                  if (!r0) return;
                  std::cout << fmt::format(
                      " {:>12} {:>12} {:>8} {:>6} {:>12.2f} {:>11.3f} {:>11.3f} {:>8}\n", r.bytes,
                      r.count, o.dtype, o.op, r.time_us, r.algbw_gbps, r.busbw_gbps, r.wrong);
                  std::cout.flush();
                });
            clock.stop();
            const comm::Traffic traffic = ctx.traffic() - before;
            double bus = 0;
            int64_t wrong = 0;
            for (const auto& r : rows) {
              bus += r.busbw_gbps;
              wrong += r.wrong;
            }
            bus = rows.empty() ? 0.0 : bus / static_cast<double>(rows.size());
            if (r0) {
              std::cout << fmt::format("# Out of bounds values : {} {}\n", wrong,
                                       wrong ? "FAILED" : "OK");
              std::cout << fmt::format("# Avg bus bandwidth    : {:.3f} GB/s\n", bus);
            }
            const double secs =
                comm::allreduce_scalar(ctx.host_comm(), sw.seconds(), comm::ReduceOp::kMax);
            if (out) {
              auto col = [&](auto get, torch::ScalarType st) {
                std::vector<double> v;
                for (const auto& r : rows) v.push_back(static_cast<double>(get(r)));
                return torch::tensor(v, torch::kFloat64).to(st);
              };
              out->write_global("/commbench/size_bytes",
                                col([](auto& r) { return r.bytes; }, torch::kInt64));
              out->write_global("/commbench/count",
                                col([](auto& r) { return r.count; }, torch::kInt64));
              out->write_global("/commbench/time_us",
                                col([](auto& r) { return r.time_us; }, torch::kFloat64));
              out->write_global("/commbench/algbw_gbps",
                                col([](auto& r) { return r.algbw_gbps; }, torch::kFloat64));
              out->write_global("/commbench/busbw_gbps",
                                col([](auto& r) { return r.busbw_gbps; }, torch::kFloat64));
              out->write_global("/commbench/wrong",
                                col([](auto& r) { return r.wrong; }, torch::kInt64));
              out->set_attr("/commbench", "comm", ctx.comm().name());
              out->set_attr("/commbench", "device",
                            ctx.device().is_cuda() ? std::string("cuda") : std::string("cpu"));
              out->set_attr("/commbench", "dtype", o.dtype);
              out->set_attr("/commbench", "op", o.op);
              out->set_attr("/commbench", "iters", o.iters);
              out->set_attr("/commbench", "warmup_iters", o.warmup_iters);
              out->set_attr("/commbench", "average", o.average);
              out->set_attr("/commbench", "avg_busbw_gbps", bus);
              out->set_attr("/commbench", "wrong_total", wrong);
              out->summary()["metrics"] = {
                  {"avg_busbw_gbps", bus}, {"wrong_total", wrong}, {"rows", rows.size()}};
              out->record_stage("commbench", {secs, static_cast<double>(rows.size()),
                                              "message sizes", clock.seconds(), traffic});
              out->finish();
            }
            return wrong ? static_cast<int>(ExitCode::kRuntime) : 0;
          }};
}

}  // namespace sfb::app
