#include "comm/sweep.hpp"

#include <torch/torch.h>

#include "core/device.hpp"
#include "core/error.hpp"
#include "core/timer.hpp"

namespace sfb::comm {
namespace {

torch::ScalarType dtype_of(const std::string& name) {
  if (name == "float32") return torch::kFloat32;
  if (name == "float64") return torch::kFloat64;
  if (name == "int64") return torch::kInt64;
  throw ConfigError("commbench.dtype '" + name + "' is not one of float32|float64|int64");
}

ReduceOp op_of(const std::string& name) {
  if (name == "sum") return ReduceOp::kSum;
  if (name == "max") return ReduceOp::kMax;
  if (name == "min") return ReduceOp::kMin;
  throw ConfigError("commbench.op '" + name + "' is not one of sum|max|min");
}

// Element i of rank r holds (i mod 13) + r + 1: small integers, so every reduction is exact.
torch::Tensor pattern(int64_t count, int rank, const torch::TensorOptions& o) {
  return torch::arange(count, o.dtype(torch::kInt64)).remainder(13).add(rank + 1).to(o.dtype());
}

torch::Tensor expected(int64_t count, int world, ReduceOp op, const torch::TensorOptions& o) {
  auto base = torch::arange(count, o.dtype(torch::kInt64)).remainder(13);
  switch (op) {
    case ReduceOp::kSum:
      base = base.mul(world).add(int64_t{world} * (world + 1) / 2);
      break;
    case ReduceOp::kMax:
      base = base.add(world);
      break;
    case ReduceOp::kMin:
      base = base.add(1);
      break;
  }
  return base.to(o.dtype());
}

}  // namespace

double allreduce_bus_factor(int n) { return n > 1 ? 2.0 * (n - 1) / n : 0.0; }

void SweepOptions::register_keys(ConfigSchema& s) {
  s.add_int("commbench.min_bytes", &min_bytes, "first message size in bytes", 1, int64_t{1} << 40);
  s.add_int("commbench.max_bytes", &max_bytes, "last message size in bytes", 1, int64_t{1} << 40);
  s.add_int("commbench.step_factor", &step_factor, "size multiplier between rows", 2, 1024);
  s.add_int("commbench.iters", &iters, "timed iterations per size", 1, 1000000);
  s.add_int("commbench.warmup_iters", &warmup_iters, "untimed iterations per size", 0, 1000000);
  s.add("commbench.dtype", &dtype, "element type", {"float32", "float64", "int64"});
  s.add("commbench.op", &op, "reduction", {"sum", "max", "min"});
  s.add("commbench.average", &average, "how per-rank times combine", {"min", "avg", "max"});
  s.add("commbench.check", &check, "verify every reduced element");
}

std::vector<SweepRow> run_allreduce_sweep(Communicator& comm, Communicator& host_comm,
                                          const SweepOptions& opts, const torch::Device& device,
                                          const std::function<void(const SweepRow&)>& on_row) {
  if (opts.min_bytes > opts.max_bytes) {
    throw ConfigError("commbench.min_bytes (" + std::to_string(opts.min_bytes) +
                      ") is larger than commbench.max_bytes (" + std::to_string(opts.max_bytes) +
                      ")");
  }
  const auto st = dtype_of(opts.dtype);
  const auto op = op_of(opts.op);
  const auto o = torch::TensorOptions().dtype(st).device(device);
  auto wait = [&comm, &device] {
    comm.synchronize();
    sfb::synchronize(device);
  };
  const int64_t esize = static_cast<int64_t>(c10::elementSize(st));
  const int world = comm.size();
  std::vector<SweepRow> rows;
  for (int64_t bytes = opts.min_bytes; bytes <= opts.max_bytes; bytes *= opts.step_factor) {
    const int64_t count = bytes / esize;
    if (count == 0) continue;
    SweepRow row;
    row.bytes = count * esize;
    row.count = count;
    torch::Tensor buf;
    if (opts.check) {
      buf = pattern(count, comm.rank(), o);
      comm.allreduce(buf, op);
      wait();
      row.wrong = buf.ne(expected(count, world, op, o)).sum().item<int64_t>();
    } else {
      buf = torch::empty({count}, o);
    }
    buf.zero_();  // timed iterations reduce zeros in place: values never overflow
    for (int64_t i = 0; i < opts.warmup_iters; ++i) comm.allreduce(buf, op);
    wait();
    host_comm.barrier();
    Stopwatch sw;
    for (int64_t i = 0; i < opts.iters; ++i) comm.allreduce(buf, op);
    wait();
    const double local_us = sw.seconds() * 1e6 / static_cast<double>(opts.iters);
    auto t = torch::tensor({local_us}, torch::kFloat64);
    if (opts.average == "avg") {
      host_comm.allreduce(t, ReduceOp::kSum);
      row.time_us = t.item<double>() / world;
    } else {
      host_comm.allreduce(t, opts.average == "min" ? ReduceOp::kMin : ReduceOp::kMax);
      row.time_us = t.item<double>();
    }
    auto w = torch::tensor({row.wrong}, torch::kInt64);
    host_comm.allreduce(w, ReduceOp::kSum);
    row.wrong = w.item<int64_t>();
    row.algbw_gbps = row.time_us > 0 ? static_cast<double>(row.bytes) / (row.time_us * 1e3) : 0.0;
    row.busbw_gbps = row.algbw_gbps * allreduce_bus_factor(world);
    rows.push_back(row);
    if (on_row) on_row(row);
    if (bytes > opts.max_bytes / opts.step_factor) break;  // next step would pass max (or overflow)
  }
  return rows;
}

}  // namespace sfb::comm
