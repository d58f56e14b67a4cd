#pragma once
#include <string>
#include <vector>

#include "attribution/stage.hpp"
#include "pipeline/stage.hpp"

namespace sfb::attribution {

/// `sfbench attribution` as a pipeline stage: the pass over the shard (AttributionStage), its
/// reduction, write_attribution(), the PNG montage next to the results (`<out stem>.montage.png`,
/// written before the results file is complete) and the console tables (Gini, regional Gini, SNR
/// per method; the inductive attacks; the agreement between methods).
class AttributionCommandStage : public pipeline::Stage {
 public:
  /// As AttributionStage's constructor; `cfg` is resolved (resolve_config).
  AttributionCommandStage(models::Classifier& model, const AttributionConfig& cfg,
                          int64_t num_classes, bool with_masks, uint64_t seed,
                          const torch::Device& device, int64_t batch_size, int64_t n_images,
                          const std::vector<int64_t>& image_shape);
  /// The stage, for checks before the run (check_layers).
  AttributionStage& stage() { return stage_; }
  std::string name() const override { return "attribution"; }
  void run_shard(const data::Dataset& ds, const Range& shard, bool progress) override;
  void reduce(comm::Communicator& comm) override;
  void write(io::ResultsFile& rf) override;
  double items() const override { return static_cast<double>(stats_.n); }
  std::string unit() const override { return "images"; }
  void write_companions(Context& ctx, const data::Dataset& ds, models::Classifier& model,
                        const std::string& out) override;
  void print(const data::Dataset& ds, models::Classifier& model, double seconds) const override;
  double device_seconds() override { return stage_.device_seconds(); }

 private:
  AttributionStage stage_;
  AttributionStatistics stats_;
};

/// results.h5 -> results.montage.png
std::string montage_path(const std::string& out);

}  // namespace sfb::attribution
