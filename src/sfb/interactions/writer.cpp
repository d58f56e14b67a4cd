#include "interactions/writer.hpp"

#include <torch/torch.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "core/error.hpp"
#include "core/output_file.hpp"
#include "io/svg_chart.hpp"

namespace sfb::interactions {
namespace {

std::vector<double> to_vec(const torch::Tensor& t) {
  const torch::Tensor c = t.to(torch::kCPU, torch::kFloat64).contiguous();
  return {c.data_ptr<double>(), c.data_ptr<double>() + c.numel()};
}

/// Rows the configuration computed (the others are NaN throughout and are not written).
std::vector<Row> computed_rows(const InteractionsConfig& c) {
  std::vector<Row> rows = {kINor, kDNor};
  if (c.adversarial) {
    for (const Row r : {kIAdv, kDAdv, kIAdvClass, kDAdvClass, kDeltaI}) rows.push_back(r);
  }
  if (c.shapley) rows.push_back(kPhiNor);
  if (c.shapley && c.adversarial) rows.push_back(kPhiAdv), rows.push_back(kDeltaPhi);
  return rows;
}

std::vector<double> ratios(const InteractionStatistics& s) {
  std::vector<double> r;
  for (const int64_t m : s.orders)
    r.push_back(static_cast<double>(m) / static_cast<double>(s.num_players));
  return r;
}

}  // namespace

void write_interactions(io::ResultsFile& rf, const InteractionsStage& stage,
                        const InteractionStatistics& s) {
  const auto& c = stage.config().cfg;
  const torch::Tensor index = stage.index(), labels = stage.labels(), preds = stage.preds();
  const int64_t offset = index.numel() > 0 ? index[0].item<int64_t>() : 0;
  rf.write_samples(offset, index, labels, preds);
  const std::string g = "/interactions/";
  rf.write_global(g + "orders", torch::tensor(s.orders, torch::kInt64));
  rf.write_global(g + "order_ratio", torch::tensor(ratios(s), torch::kFloat64));
  rf.write_global(g + "count", s.count);
  const io::SummaryKey where = {"metrics", "interactions"};
  rf.summary()["metrics"]["interactions"] = {{"orders", s.orders}, {"order_ratio", ratios(s)}};
  auto put = [&](const std::string& name, const torch::Tensor& v, const torch::Tensor& se) {
    rf.record_values(g + name, where, name, v.contiguous());
    rf.record_values(g + name + "_stderr", where, name + "_stderr", se.contiguous());
  };
  const auto rows = computed_rows(c);
  for (const Row r : rows) put(row_names()[r], s.mean[r], s.stderr_[r]);
  put("J_nor", s.J(kINor), s.J_stderr(kINor));
  if (c.adversarial) {
    put("J_adv", s.J(kIAdv), s.J_stderr(kIAdv));
    put("J_adv_advclass", s.J(kIAdvClass), s.J_stderr(kIAdvClass));
    put("dJ", s.J(kDeltaI), s.J_stderr(kDeltaI));
  }
  // v(N) and v(∅) (their means over images): efficiency and Eq. 5 can be checked on the file.
  std::vector<Scalar> scalars = {kVFullNor, kVEmpty};
  if (c.adversarial) scalars.push_back(kVFullAdv);
  for (const Scalar k : scalars) put(scalar_names()[k], s.scalar_mean[k], s.scalar_stderr[k]);
  if (c.save_per_image) {
    const torch::Tensor per = stage.per_image();
    for (const Row r : rows) {
      rf.write_per_sample(g + "per_image/" + row_names()[r], offset, per.select(1, r).contiguous());
    }
    const torch::Tensor per_scalars = stage.per_image_scalars();
    for (const Scalar k : scalars) {
      rf.write_per_sample(g + "per_image/" + scalar_names()[k], offset,
                          per_scalars.select(1, k).contiguous());
    }
    rf.write_per_sample(g + "per_image/utility", offset, stage.utility());
    rf.write_per_sample(g + "per_image/adv_pred", offset, stage.adv_preds());
  }
  const double accuracy = s.n > 0 ? static_cast<double>(s.correct) / static_cast<double>(s.n) : 0.0;
  const std::string a = "/interactions";
  // Exact mode uses neither P, K nor the preset: they are not recorded there.
  std::vector<io::Metric> metrics = {{"n", s.n}, {"grid", c.grid}, {"num_players", s.num_players}};
  if (!c.exact) metrics.insert(metrics.end(), {{"pairs", c.pairs}, {"contexts", c.contexts}});
  metrics.insert(metrics.end(), {{"pair_sampling", c.pair_sampling},
                                 {"baseline", c.baseline},
                                 {"estimator", std::string(c.exact ? "exact" : "sampled")},
                                 {"accuracy", accuracy},
                                 {"adv_reached", s.adv_reached},
                                 {"adv_flipped", s.adv_flipped},
                                 {"adv_utility_mean", s.adv_utility_mean},
                                 {"masked_forwards", s.masked_forwards}});
  rf.record_metrics(a, where, metrics);
  if (!c.exact) rf.set_attr(a, "preset", c.preset);
  // Recorded in the file only: the configuration echo and what the values mean.
  const std::vector<std::pair<std::string, io::AttrValue>> attrs = {
      {"D_estimator",
       std::string(c.exact ? "exact: |E_S dv| / E_S |dv| over all subsets of each order"
                           : "jackknife over the K contexts of each pair: K R - (K - 1) mean_k "
                             "R_-k, R = |mean dv| / mean |dv|")},
      {"stderr", std::string("sample SD over images of the per-image values / sqrt(count)")},
      {"value", std::string("log softmax of class c (label; adv_advclass: adversarial class)")},
      {"dtype", c.dtype},
      {"adversarial", int64_t{c.adversarial ? 1 : 0}},
      {"adv_eps", c.adv_eps},
      {"adv_step", c.adv_step},
      {"adv_max_steps", c.adv_max_steps},
      {"adv_utility", c.adv_utility},
      {"adv_tolerance", c.adv_tolerance}};
  for (const auto& [k, v] : attrs) rf.set_attr(a, k, v);
}

std::vector<std::filesystem::path> write_plots(const InteractionStatistics& s,
                                               const std::filesystem::path& out,
                                               const std::string& title) {
  const bool adv = s.count[kIAdv].sum().item<int64_t>() > 0;
  const std::vector<double> x = ratios(s);
  const std::string xl = "order m / n (n = " + std::to_string(s.num_players) + " players)";
  auto series = [&](const std::string& label, const torch::Tensor& v, const torch::Tensor& se,
                    const char* color, bool dashed) {
    io::svg::Series line;
    line.label = label;
    line.x = x;
    line.y = to_vec(v);
    line.y_err = to_vec(se);
    line.color = color;
    line.dashed = dashed;
    return line;
  };
  auto plot = [&](const std::string& what, const std::string& ylabel) {
    io::svg::XyPlot p;
    p.title = what + title;  // wrapped onto two lines when long; in full in <title>
    p.xlabel = xl;
    p.ylabel = ylabel;
    return p;
  };
  std::vector<std::pair<std::string, io::svg::XyPlot>> plots;
  io::svg::XyPlot pi = plot("Multi-order interaction I(m): ", "I(m)");
  pi.series.push_back(series("normal", s.mean[kINor], s.stderr_[kINor], "#1f77b4", false));
  if (adv)
    pi.series.push_back(series("adversarial", s.mean[kIAdv], s.stderr_[kIAdv], "#d62728", true));
  plots.emplace_back("interactions_I", pi);
  if (adv) {
    io::svg::XyPlot pj = plot("Attacking utility dJ(m) = J_nor - J_adv: ", "dJ(m)");
    pj.series.push_back(series("dJ", s.J(kDeltaI), s.J_stderr(kDeltaI), "#9467bd", false));
    plots.emplace_back("interactions_dJ", pj);
  }
  io::svg::XyPlot pd = plot("Disentanglement D(m): ", "D(m)");
  pd.series.push_back(series("normal", s.mean[kDNor], s.stderr_[kDNor], "#1f77b4", false));
  if (adv)
    pd.series.push_back(series("adversarial", s.mean[kDAdv], s.stderr_[kDAdv], "#d62728", true));
  plots.emplace_back("interactions_D", pd);
  std::vector<std::filesystem::path> written;
  for (const auto& [suffix, plot] : plots) {
    std::filesystem::path p = out;
    p.replace_extension("." + suffix + ".svg");
    write_file_atomically(p, io::svg::render(plot));
    written.push_back(p);
  }
  return written;
}

std::vector<std::filesystem::path> plot_paths(const std::filesystem::path& out) {
  std::vector<std::filesystem::path> paths;
  for (const char* suffix :
       {".interactions_I.svg", ".interactions_dJ.svg", ".interactions_D.svg"}) {
    std::filesystem::path p = out;
    paths.push_back(p.replace_extension(suffix));
  }
  return paths;
}

bool is_sfbench_plot(const std::filesystem::path& file) {
  // The title comes right after the <svg> start tag: in the first child <title> (io::svg), or in
  // the first <text> element (files of sfbench before the shared chart writer).
  constexpr std::size_t kHead = 4096;
  std::ifstream in(file, std::ios::binary);
  std::string head(kHead, '\0');
  in.read(head.data(), static_cast<std::streamsize>(kHead));
  head.resize(static_cast<std::size_t>(in.gcount()));
  if (head.rfind("<svg xmlns=\"http://www.w3.org/2000/svg\"", 0) != 0) return false;
  for (const char* title :
       {"Multi-order interaction I(m): ", "Attacking utility dJ(m) = ", "Disentanglement D(m): "}) {
    for (const char* before : {"<title>", "\">"}) {
      if (head.find(before + std::string(title)) != std::string::npos) return true;
    }
  }
  return false;
}

}  // namespace sfb::interactions
