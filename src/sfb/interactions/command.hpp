#pragma once
#include <string>
#include <vector>

#include "interactions/stage.hpp"
#include "pipeline/stage.hpp"

namespace sfb::interactions {

/// `sfbench interactions` as a pipeline stage: the baseline over all ranks, the pass over the
/// shard (InteractionsStage), its reduction, write_interactions(), the SVG plots and the console
/// table (I, D per order for normal and adversarial images, ΔJ, the adversary's utility).
class InteractionsCommandStage : public pipeline::Stage {
 public:
  /// As InteractionsStage's constructor.
  InteractionsCommandStage(models::Classifier& model, const ResolvedConfig& rc,
                           const std::vector<int64_t>& image_shape, uint64_t seed,
                           const torch::Device& device, int64_t batch_size);
  std::string name() const override { return "interactions"; }
  void prepare(Context& ctx, const data::Dataset& ds, const Range& shard) override;
  void run_shard(const data::Dataset& ds, const Range& shard, bool progress) override;
  void reduce(comm::Communicator& comm) override;
  void write(io::ResultsFile& rf) override;
  double items() const override { return static_cast<double>(stats_.masked_forwards); }
  std::string unit() const override { return "masked forwards"; }
  std::vector<std::filesystem::path> write_figures(const std::string& out,
                                                   const std::string& what) const override;
  void print(const data::Dataset& ds, models::Classifier& model, double seconds) const override;
  double device_seconds() override { return stage_.device_seconds(); }

 private:
  InteractionsStage stage_;
  InteractionStatistics stats_;
};

}  // namespace sfb::interactions
