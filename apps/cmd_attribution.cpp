// `sfbench attribution`: attribution maps, their Gini inequality and foreground SNR (SPEC §5,
// papers 002 and 003).
#include <fmt/format.h>

#include <cmath>
#include <filesystem>
#include <iostream>

#include "app.hpp"
#include "attribution/montage.hpp"
#include "attribution/writer.hpp"
#include "core/error.hpp"
#include "core/partition.hpp"
#include "core/timer.hpp"
#include "data/masks.hpp"

namespace sfb::app {
namespace {

std::string pm(double v, double se) {
  auto num = [](double x) { return std::isfinite(x) ? fmt::format("{:.4f}", x) : "nan"; };
  return num(v) + " ± " + num(se);
}

void print_table(const attribution::AttributionStatistics& s, const std::string& what,
                 int64_t region, double seconds) {
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

// results.h5 -> results.montage.png
std::string montage_path(const std::string& out) {
  return std::filesystem::path(out).replace_extension(".montage.png").string();
}

// The first `k` images whose maps are saved, with every method's map, as a PNG montage.
void write_montage(attribution::AttributionStage& stage, const data::Dataset& ds,
                   models::Classifier& model, int64_t k, const std::string& path) {
  const auto& c = stage.config();
  std::vector<int64_t> idx = attribution::saved_map_indices(c, ds.size());
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
  attribution::write_montage(path, b.images, maps, c.methods, rows);
}

void print_attacks(const attribution::AttributionStatistics& s,
                   const attribution::AttributionConfig& c) {
  auto pct = [](const attribution::Rate& r) {
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

Command register_attribution(CLI::App& app, Invocation& inv) {
  auto* sub = app.add_subcommand("attribution",
                                 "attribution maps, Gini and foreground SNR (papers 002, 003)");
  add_flag_for_key(sub, inv, "--methods", "attribution.methods",
                   "methods, e.g. [\"saliency\",\"grad-cam\"]");
  add_flag_for_key(sub, inv, "--steps", "attribution.steps", "integrated gradients steps");
  add_flag_for_key(sub, inv, "--samples", "attribution.samples", "SmoothGrad/GradientShap samples");
  add_flag_for_key(sub, inv, "--region", "attribution.region", "r of the regional Gini");
  add_flag_for_key(sub, inv, "--masks", "attribution.masks", "png:DIR | h5:FILE foreground masks");
  add_flag_for_key(sub, inv, "--internal-batch", "attribution.internal_batch",
                   "rows per forward/backward inside a method");
  add_flag_for_key(sub, inv, "--top-pixels", "attribution.top_pixels",
                   "inductive noise pixel counts, e.g. [100,500]");
  add_flag_for_key(sub, inv, "--occlusion-colors", "attribution.occlusion_colors",
                   "inductive occlusion colours, e.g. [\"black\"] ([] = none)");
  add_flag_for_key(sub, inv, "--maps", "attribution.maps", "save the maps of the first N images");
  add_flag_for_key(sub, inv, "--montage", "attribution.montage", "images in the PNG montage");
  return {sub, [](Context& ctx, Invocation& inv2) {
            resolve(ctx, inv2);
            const auto& in = inv2.inputs;
            ctx.agree([&] {
              if (in.data.empty()) {
                throw ConfigError("sfbench attribution needs a dataset: --data SPEC (key 'data')");
              }
              if (in.model.empty()) {
                throw ConfigError("sfbench attribution needs a model: --model SPEC (key 'model')");
              }
              if (!inv2.common.out.empty()) io::check_output_path(inv2.common.out);
            });
            const auto seed = static_cast<uint64_t>(inv2.common.seed);
            std::shared_ptr<const data::Dataset> ds = open_dataset(ctx, in, seed);
            const Range shard = balanced_range(ds->size(), ctx.size(), ctx.rank());
            // User masks of the wrong size, empty or full stop here, before any result file.
            if (!inv2.attribution.masks.empty()) {
              ctx.agree([&] {
                const bool folder = in.data.rfind("imagenet-folder:", 0) == 0;
                auto masked = std::make_shared<data::MaskedDataset>(
                    ds, attribution::mask_source(inv2.attribution.masks, folder));
                for (int64_t i = shard.begin; i < shard.end(); ++i) {
                  if (masked->mask(i).min().item<float>() > 0) {
                    throw DataError("mask of sample " + std::to_string(i) +
                                    " is full: no background pixel for the SNR");
                  }
                }
                ds = masked;
              });
            }
            ctx.agree([&] {
              if (ds->size() == 0) throw DataError("dataset " + ds->spec() + " has no samples");
              inv2.attribution =
                  attribution::resolve_config(inv2.attribution, ds->image_shape(), ds->size());
            });
            auto model = open_model(ctx, in, model_options_for(*ds, in, seed));
            std::unique_ptr<attribution::AttributionStage> stage;
            ctx.agree([&] {
              if (ds->num_classes() > model->num_classes()) {
                throw DataError(fmt::format("dataset {} has {} classes but model {} outputs {}",
                                            ds->spec(), ds->num_classes(), model->name(),
                                            model->num_classes()));
              }
              stage = std::make_unique<attribution::AttributionStage>(
                  *model, inv2.attribution, model->num_classes(), ds->has_masks(), seed,
                  ctx.device(), inv2.common.batch_size, ds->size(), ds->image_shape());
              stage->check_layers(ds->get({0}));  // a bad layer stops here, before any file
            });
            std::unique_ptr<io::ResultsFile> rf;
            if (!inv2.common.out.empty()) {
              rf = std::make_unique<io::ResultsFile>(ctx, inv2.common.out,
                                                     run_info(inv2, "attribution"));
            }
            const comm::Traffic before = ctx.traffic();
            Stopwatch sw;
            ctx.agree([&] { stage->run_shard(*ds, shard, ctx.rank() == 0); });
            const attribution::AttributionStatistics s = stage->reduce(ctx.comm());
            const comm::Traffic traffic = ctx.traffic() - before;
            const double seconds =
                comm::allreduce_scalar(ctx.host_comm(), sw.seconds(), comm::ReduceOp::kMax);
            if (rf) {
              record_inputs(*rf, in, ds.get(), model.get());
              attribution::write_attribution(*rf, *stage, s, seconds);
              rf->record_traffic("attribution", traffic);
              rf->record_device_seconds("attribution", stage->device_seconds());
              // The montage before finish(): a run whose figure cannot be written fails whole.
              const int64_t k = inv2.attribution.montage;
              ctx.agree([&] {
                if (k > 0 && ctx.rank() == 0) {
                  write_montage(*stage, *ds, *model, k, montage_path(inv2.common.out));
                }
              });
              rf->finish();
            }
            if (ctx.rank() == 0) {
              print_table(s, model->name() + " on " + ds->spec(), inv2.attribution.region, seconds);
              print_attacks(s, inv2.attribution);
            }
            return 0;
          }};
}

}  // namespace sfb::app
