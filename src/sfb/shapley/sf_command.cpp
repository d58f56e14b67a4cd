#include "shapley/sf_command.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <iostream>

namespace sfb::shapley {
namespace {

std::string fmt_sig(double v) { return std::isfinite(v) ? fmt::format("{:.6g}", v) : "nan"; }

}  // namespace

SfCommandStage::SfCommandStage(models::Classifier& model, const SfConfig& cfg,
                               const std::vector<int64_t>& image_shape, uint64_t seed,
                               const torch::Device& device, int64_t batch_size, std::string split,
                               std::string command)
    : stage_(model, cfg, image_shape, seed, device),
      batch_size_(batch_size),
      split_(std::move(split)),
      command_(std::move(command)) {}

void SfCommandStage::run_shard(const data::Dataset& ds, const Range& shard, bool progress) {
  stage_.run_shard(ds, shard, batch_size_, progress);
}

void SfCommandStage::reduce(comm::Communicator& comm) { stats_ = stage_.reduce(comm); }

void SfCommandStage::write(io::ResultsFile& rf) { write_sf(rf, stage_, stats_, split_); }

void SfCommandStage::print(const data::Dataset& ds, models::Classifier& model,
                           double seconds) const {
  const auto& c = stage_.config();
  const SfStatistics& s = stats_;
  if (command_ != "sf") {
    std::cout << fmt::format(
        "# sfbench {}: SF {:.6g} [{:.6g}, {:.6g}] (k = {}, n = {}, split {}), clean accuracy "
        "{:.4f}\n",
        command_, s.sf, s.ci_low, s.ci_high, s.k, s.n, split_, s.accuracy);
    return;
  }
  std::cout << fmt::format(
      "# sfbench sf: {} on {} (split {}), layer {} (k = {}), target {}, {}{}\n", model.name(),
      ds.spec(), split_, c.layer, s.k, c.target, c.dtype,
      stage_.uses_fast_path() ? ", linear-head closed form" : ", autograd");
  std::cout << fmt::format("#{:>13} {:>29} {:>10} {:>10} {:>6} {:>10}\n", "SF",
                           fmt::format("{:g}% CI ({} boot)", 100 * s.ci_level, c.bootstrap),
                           "clean_acc", "n", "k", "images/s");
  std::cout << fmt::format(" {:>13} {:>29} {:>10.4f} {:>10} {:>6} {:>10.1f}\n", fmt_sig(s.sf),
                           fmt::format("[{}, {}]", fmt_sig(s.ci_low), fmt_sig(s.ci_high)),
                           s.accuracy, s.n, s.k,
                           seconds > 0 ? static_cast<double>(s.n) / seconds : 0.0);
  const int64_t shown = std::min<int64_t>(5, s.k);
  std::string top, bottom;
  for (int64_t i = 0; i < shown; ++i) {
    top += " " + fmt_sig(s.sorted[i].item<double>());
    bottom += " " + fmt_sig(s.sorted[s.k - shown + i].item<double>());
  }
  std::cout << fmt::format("# C sorted: largest{} ... smallest{}\n", top, bottom);
}

}  // namespace sfb::shapley
