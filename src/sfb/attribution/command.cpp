#include "attribution/command.hpp"

#include <fmt/format.h>

#include <cmath>
#include <filesystem>
#include <iostream>

#include "attribution/montage.hpp"
#include "attribution/writer.hpp"

namespace sfb::attribution {
namespace {

std::string pm(double v, double se) {
  auto num = [](double x) { return std::isfinite(x) ? fmt::format("{:.4f}", x) : "nan"; };
  return num(v) + " ± " + num(se);
}

void print_table(const AttributionStatistics& s, const std::string& what, int64_t region,
                 double seconds) {
  std::cout << fmt::format("# sfbench attribution: {}, n = {}, accuracy {:.4f}, region {}×{}\n",
                           what, s.n, s.n ? static_cast<double>(s.correct) / s.n : 0.0, region,
                           region);
  std::cout << fmt::format(
      "#{:>21} {:>19} {:>19}{}\n", "method", "Gini ± SE", "Gini_r ± SE",
      s.masks ? fmt::format(" {:>19} {:>27}", "SNR dB ± SE", "SNR dB low/mid/high") : "");
  for (const auto& m : s.methods) {
    std::cout << fmt::format(" {:>21} {:>19} {:>19}", m.method, pm(m.gini, m.gini_stderr),
                             pm(m.gini_regional, m.gini_regional_stderr));
    if (s.masks) {
      auto db = [&](int64_t g) {
        const double v = m.snr_db_by_group[g].item<double>();
        return std::isfinite(v) ? fmt::format("{:.2f}", v) : "nan";
      };
      std::cout << fmt::format(" {:>19} {:>8}/{:>8}/{:>8}", pm(m.snr_db, m.snr_db_stderr), db(0),
                               db(1), db(2));
    }
    std::cout << "\n";
  }
  std::cout << fmt::format("# {:.1f} s ({:.2f} images/s); SE = SD over images / sqrt(n)\n", seconds,
                           seconds > 0 ? s.n / seconds : 0.0);
}

// The first `k` images whose maps are saved, with every method's map, as a PNG montage.
void montage_of(AttributionStage& stage, const data::Dataset& ds, models::Classifier& model,
                int64_t k, const std::string& path) {
  const auto& c = stage.config();
  std::vector<int64_t> idx = saved_map_indices(c, ds.size());
  idx.resize(static_cast<size_t>(k));
  const data::Batch b = ds.get(idx);
  const std::vector<torch::Tensor> maps = stage.maps(b);
  torch::Tensor pred;
  {
    torch::NoGradGuard no_grad;
    pred = model.forward(b.images.to(maps[0].device(), maps[0].scalar_type())).argmax(1).cpu();
  }
  std::vector<std::string> rows;
  for (size_t i = 0; i < idx.size(); ++i) {
    const auto ii = static_cast<int64_t>(i);
    rows.push_back(fmt::format("index {}, label {}, pred {}", idx[i], b.labels[ii].item<int64_t>(),
                               pred[ii].item<int64_t>()));
  }
  write_montage(path, b.images, maps, c.methods, rows);
}

void print_attacks(const AttributionStatistics& s, const AttributionConfig& c) {
  auto pct = [](const Rate& r) {
    return std::isfinite(r.rate)
               ? fmt::format("{:.1f} [{:.1f}, {:.1f}]", 100 * r.rate, 100 * r.low, 100 * r.high)
               : std::string("nan");
  };
  if (!s.random_noise1.empty() || !c.occlusion_colors.empty()) {
    std::cout << fmt::format(
        "# inductive attacks (paper 002): error % [95% Wilson] over the {} "
        "correctly classified images\n",
        s.correct);
    std::cout << fmt::format("#{:>21} {:>24}\n", "method", "attack");
  }
  for (size_t t = 0; t < s.random_noise1.size(); ++t) {
    std::cout << fmt::format(" {:>21} {:>24} {}\n", "random pixels",
                             fmt::format("Noise-I T={}", c.top_pixels[t]), pct(s.random_noise1[t]));
    std::cout << fmt::format(" {:>21} {:>24} {}\n", "random pixels",
                             fmt::format("Noise-II T={}", c.top_pixels[t]),
                             pct(s.random_noise2[t]));
  }
  for (const auto& m : s.methods) {
    for (size_t t = 0; t < m.noise1.size(); ++t) {
      std::cout << fmt::format(" {:>21} {:>24} {}\n", m.method,
                               fmt::format("Noise-I T={}", c.top_pixels[t]), pct(m.noise1[t]));
      std::cout << fmt::format(" {:>21} {:>24} {}\n", m.method,
                               fmt::format("Noise-II T={}", c.top_pixels[t]), pct(m.noise2[t]));
    }
    for (size_t k = 0; k < m.occlusion.size(); ++k) {
      std::cout << fmt::format(" {:>21} {:>24} {}\n", m.method,
                               fmt::format("occlusion-{} N={} R={}", c.occlusion_colors[k],
                                           c.occlusion_count, c.occlusion_radius),
                               pct(m.occlusion[k]));
    }
  }
  if (!s.agreement.empty()) {
    std::cout
        << "# agreement between methods (paper 003): mean Spearman rho [95% CI] over images\n";
    for (const auto& a : s.agreement) {
      std::cout << fmt::format(" {:>21} {:>24} {:.4f} [{:.4f}, {:.4f}] (n = {})\n", a.a, a.b,
                               a.spearman.mean, a.spearman.low, a.spearman.high, a.spearman.count);
    }
  }
}

}  // namespace

std::string montage_path(const std::string& out) {
  return std::filesystem::path(out).replace_extension(".montage.png").string();
}

AttributionCommandStage::AttributionCommandStage(models::Classifier& model,
                                                 const AttributionConfig& cfg, int64_t num_classes,
                                                 bool with_masks, uint64_t seed,
                                                 const torch::Device& device, int64_t batch_size,
                                                 int64_t n_images,
                                                 const std::vector<int64_t>& image_shape)
    : stage_(model, cfg, num_classes, with_masks, seed, device, batch_size, n_images, image_shape) {
}

void AttributionCommandStage::run_shard(const data::Dataset& ds, const Range& shard,
                                        bool progress) {
  stage_.run_shard(ds, shard, progress);
}

void AttributionCommandStage::reduce(comm::Communicator& comm) { stats_ = stage_.reduce(comm); }

void AttributionCommandStage::write(io::ResultsFile& rf) { write_attribution(rf, stage_, stats_); }

void AttributionCommandStage::write_companions(Context& ctx, const data::Dataset& ds,
                                               models::Classifier& model, const std::string& out) {
  // The montage before finish(): a run whose figure cannot be written fails whole.
  const int64_t k = stage_.config().montage;
  ctx.agree([&] {
    if (k > 0 && ctx.rank() == 0) montage_of(stage_, ds, model, k, montage_path(out));
  });
}

void AttributionCommandStage::print(const data::Dataset& ds, models::Classifier& model,
                                    double seconds) const {
  print_table(stats_, model.name() + " on " + ds.spec(), stage_.config().region, seconds);
  print_attacks(stats_, stage_.config());
}

}  // namespace sfb::attribution
