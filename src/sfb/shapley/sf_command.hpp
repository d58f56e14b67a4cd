#pragma once
#include <string>
#include <vector>

#include "pipeline/stage.hpp"
#include "shapley/sf_stage.hpp"

namespace sfb::shapley {

/// `sfbench sf` as a pipeline stage: the SF pass over the shard (SfStage), its reduction,
/// write_sf() and the console table (SF with its CI, clean accuracy, n, k, images/s, the extremes
/// of the sorted C).
class SfCommandStage : public pipeline::Stage {
 public:
  /// As SfStage's constructor; `batch_size`: samples per batch on each rank; `split` is recorded.
  /// `command`: the command the report names; another than "sf" (eval, where the attack table
  /// follows) gets a one-line report.
  SfCommandStage(models::Classifier& model, const SfConfig& cfg,
                 const std::vector<int64_t>& image_shape, uint64_t seed,
                 const torch::Device& device, int64_t batch_size, std::string split,
                 std::string command = "sf");
  std::string name() const override { return "sf"; }
  void run_shard(const data::Dataset& ds, const Range& shard, bool progress) override;
  void reduce(comm::Communicator& comm) override;
  void write(io::ResultsFile& rf) override;
  double items() const override { return static_cast<double>(stats_.n); }
  std::string unit() const override { return "images"; }
  void print(const data::Dataset& ds, models::Classifier& model, double seconds) const override;
  double device_seconds() override { return stage_.device_seconds(); }
  /// The pass's per-sample columns (index, labels, preds) and, after reduce(), its statistics.
  const SfStage& sf() const { return stage_; }
  const SfStatistics& statistics() const { return stats_; }

 private:
  SfStage stage_;
  int64_t batch_size_;
  std::string split_;
  std::string command_;
  SfStatistics stats_;
};

}  // namespace sfb::shapley
