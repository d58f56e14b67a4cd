#include "interactions/command.hpp"

#include <fmt/format.h>

#include <cmath>
#include <iostream>

#include "interactions/writer.hpp"

namespace sfb::interactions {

InteractionsCommandStage::InteractionsCommandStage(models::Classifier& model,
                                                   const ResolvedConfig& rc,
                                                   const std::vector<int64_t>& image_shape,
                                                   uint64_t seed, const torch::Device& device,
                                                   int64_t batch_size)
    : stage_(model, rc, image_shape, seed, device, batch_size) {}

void InteractionsCommandStage::prepare(Context& ctx, const data::Dataset& ds, const Range& shard) {
  stage_.compute_baseline(ds, shard, ctx.comm());
}

void InteractionsCommandStage::run_shard(const data::Dataset& ds, const Range& shard,
                                         bool progress) {
  stage_.run_shard(ds, shard, progress);
}

void InteractionsCommandStage::reduce(comm::Communicator& comm) { stats_ = stage_.reduce(comm); }

void InteractionsCommandStage::write(io::ResultsFile& rf) {
  write_interactions(rf, stage_, stats_);
}

std::vector<std::filesystem::path> InteractionsCommandStage::write_figures(
    const std::string& out, const std::string& what) const {
  return write_plots(stats_, out, what);
}

namespace {

std::string num(double v) { return std::isfinite(v) ? fmt::format("{:.4g}", v) : "nan"; }

}  // namespace

void InteractionsCommandStage::print(const data::Dataset& ds, models::Classifier& model,
                                     double seconds) const {
  const InteractionStatistics& s = stats_;
  const std::string what = model.name() + " on " + ds.spec();
  const auto& c = stage_.config().cfg;
  const bool adv = c.adversarial;
  // Exact mode uses neither P nor K: the header names only what the run used.
  const std::string estimator =
      c.exact ? fmt::format("exact (all 2^{} subsets)", s.num_players)
              : fmt::format("sampled, P = {}, K = {}, D jackknifed over K", c.pairs, c.contexts);
  std::cout << fmt::format(
      "# sfbench interactions: {}, {}×{} grid (n_p = {}), {}, {} pairs, {} baseline, n = {}\n",
      what, c.grid, c.grid, s.num_players, estimator, c.pair_sampling, c.baseline, s.n);
  std::cout << fmt::format(
      "#{:>6} {:>7} {:>21} {:>9}{}\n", "m", "m/n", "I_nor ± SE", "D_nor",
      adv ? fmt::format(" {:>21} {:>9} {:>21}", "I_adv ± SE", "D_adv", "dJ ± SE") : "");
  const torch::Tensor dj = s.J(kDeltaI), dj_se = s.J_stderr(kDeltaI);
  for (size_t q = 0; q < s.orders.size(); ++q) {
    const auto i = static_cast<int64_t>(q);
    auto pm = [&](Row r) {
      return fmt::format("{} ± {}", num(s.mean[r][i].item<double>()),
                         num(s.stderr_[r][i].item<double>()));
    };
    std::cout << fmt::format(" {:>6} {:>7.3f} {:>21} {:>9}", s.orders[q],
                             static_cast<double>(s.orders[q]) / s.num_players, pm(kINor),
                             num(s.mean[kDNor][i].item<double>()));
    if (adv) {
      std::cout << fmt::format(
          " {:>21} {:>9} {:>21}", pm(kIAdv), num(s.mean[kDAdv][i].item<double>()),
          fmt::format("{} ± {}", num(dj[i].item<double>()), num(dj_se[i].item<double>())));
    }
    std::cout << "\n";
  }
  auto scalar = [&](Scalar k) {
    return fmt::format("{} ± {}", num(s.scalar_mean[k].item<double>()),
                       num(s.scalar_stderr[k].item<double>()));
  };
  std::cout << fmt::format("# v(N) = {}, v(empty) = {}{} (log p of the label, mean over images)\n",
                           scalar(kVFullNor), scalar(kVEmpty),
                           adv ? ", v_adv(N) = " + scalar(kVFullAdv) : "");
  if (adv) {
    std::cout << fmt::format(
        "# adversarial: mean utility {} (target {} ± {}), reached {}/{}, "
        "misclassified {}/{}\n",
        num(s.adv_utility_mean), c.adv_utility, c.adv_tolerance, s.adv_reached, s.n, s.adv_flipped,
        s.n);
  }
  std::cout << fmt::format(
      "# {} masked forwards in {:.1f} s ({:.1f}/s); SE = SD over images / sqrt(n)\n",
      s.masked_forwards, seconds,
      seconds > 0 ? static_cast<double>(s.masked_forwards) / seconds : 0.0);
}

}  // namespace sfb::interactions
