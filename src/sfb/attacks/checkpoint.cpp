#include "attacks/checkpoint.hpp"

#include <torch/torch.h>

#include "comm/communicator.hpp"
#include "core/error.hpp"
#include "io/h5_node.hpp"

namespace sfb::attacks {
namespace {

std::string group_path(std::size_t g) { return "/checkpoint/group" + std::to_string(g); }

}  // namespace

std::filesystem::path checkpoint_path(const std::filesystem::path& out) {
  std::filesystem::path p = out;
  return p.replace_extension(".checkpoint.h5");
}

void write_checkpoint(Context& ctx, const std::filesystem::path& file, const AttackRunner& runner,
                      int64_t n, const std::string& key, const io::RunInfo& info) {
  const auto& local = runner.local();
  // Counters and activation sums are per rank; the checkpoint holds their global sums.
  const int64_t k = local.empty() ? 0 : local[0].act_diff.numel();
  torch::Tensor sums = torch::zeros({static_cast<int64_t>(local.size()), 4 + k}, torch::kFloat64);
  for (std::size_t g = 0; g < local.size(); ++g) {
    sums[g][0] = static_cast<double>(local[g].zero_grad);
    sums[g][1] = static_cast<double>(local[g].nonfinite);
    sums[g][2] = static_cast<double>(local[g].black_box_breaks);
    sums[g][3] = static_cast<double>(local[g].act_count);
    sums[g].narrow(0, 4, k).copy_(local[g].act_diff);
  }
  ctx.host_comm().allreduce(sums, comm::ReduceOp::kSum);
  const Range shard = balanced_range(n, ctx.size(), ctx.rank());
  io::ResultsFile rf(ctx, file, info);
  for (std::size_t g = 0; g < local.size(); ++g) {
    rf.write_per_sample(group_path(g) + "/robust", shard.begin, local[g].robust.to(torch::kUInt8));
    rf.write_per_sample(group_path(g) + "/norm", shard.begin, local[g].norm);
    rf.write_per_sample(group_path(g) + "/broken_by", shard.begin, local[g].broken_by);
    rf.set_attr(group_path(g), "stages_done", local[g].stages_done);
  }
  rf.write_global("/checkpoint/sums", sums);
  rf.set_attr("/checkpoint", "stages_done", runner.stages_done());
  rf.set_attr("/checkpoint", "key", key);
  rf.set_attr("/checkpoint", "n", n);
  rf.finish();
}

int64_t load_checkpoint(Context& ctx, const std::filesystem::path& file, AttackRunner& runner,
                        int64_t n, const Range& shard, const std::string& key) {
  int64_t done = 0;
  std::vector<GroupLocal> state = runner.local();
  ctx.agree([&] {
    if (!std::filesystem::exists(file) || !io::H5Node::is_hdf5(file)) return;
    const auto f = io::H5Node::open_readonly(file);
    if (std::get<int64_t>(f.open("/").attr("complete")) != 1) return;
    const auto cp = f.open("/checkpoint");
    if (std::get<std::string>(cp.attr("key")) != key || std::get<int64_t>(cp.attr("n")) != n) {
      return;
    }
    const torch::Tensor sums = f.read("/checkpoint/sums");
    if (sums.size(0) != static_cast<int64_t>(state.size())) {
      throw DataError("checkpoint " + file.string() + " does not match the attack plan");
    }
    for (std::size_t g = 0; g < state.size(); ++g) {
      auto& l = state[g];
      l.robust = f.read(group_path(g) + "/robust")
                     .narrow(0, shard.begin, shard.count)
                     .to(torch::kBool)
                     .clone();
      l.norm = f.read(group_path(g) + "/norm")
                   .narrow(0, shard.begin, shard.count)
                   .to(torch::kFloat32)
                   .clone();
      // (a checkpoint of an older sfbench has no broken_by: its stages count as one)
      l.broken_by = f.exists(group_path(g) + "/broken_by")
                        ? f.read(group_path(g) + "/broken_by")
                              .narrow(0, shard.begin, shard.count)
                              .to(torch::kUInt8)
                              .clone()
                        : l.robust.logical_not().to(torch::kUInt8);
      l.stages_done = std::get<int64_t>(f.open(group_path(g)).attr("stages_done"));
      const bool root_rank = ctx.rank() == 0;
      const torch::Tensor row = sums[static_cast<int64_t>(g)];
      l.zero_grad = root_rank ? static_cast<int64_t>(row[0].item<double>()) : 0;
      l.nonfinite = root_rank ? static_cast<int64_t>(row[1].item<double>()) : 0;
      l.black_box_breaks = root_rank ? static_cast<int64_t>(row[2].item<double>()) : 0;
      l.act_count = root_rank ? static_cast<int64_t>(row[3].item<double>()) : 0;
      l.act_diff = root_rank ? row.narrow(0, 4, row.numel() - 4).clone()
                             : torch::zeros({row.numel() - 4}, torch::kFloat64);
    }
    done = std::get<int64_t>(cp.attr("stages_done"));
  });
  // Every rank read the same file; agree on the smallest (a rank that could not read it says 0).
  done = static_cast<int64_t>(
      comm::allreduce_scalar(ctx.host_comm(), static_cast<double>(done), comm::ReduceOp::kMin));
  if (done > 0) runner.restore(done, state);
  return done;
}

}  // namespace sfb::attacks
