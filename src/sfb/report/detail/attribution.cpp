// Attribution (papers 002, 003): Gini per method and model, inductive noise and occlusion error
// rates against the random-pixel control, SNR by confidence group, agreement matrices, and the
// heat-map montages with their row and column labels.
#include <algorithm>
#include <cmath>
#include <fstream>
#include <sstream>

#include "attribution/montage.hpp"
#include "core/error.hpp"
#include "io/svg_chart.hpp"
#include "report/detail/sections.hpp"
#include "report/html.hpp"

namespace sfb::report::detail {
namespace {

constexpr double kZ = 1.959963984540054;  // 95 % normal interval
constexpr std::uintmax_t kMaxEmbeddedPng = 16u << 20;

std::vector<std::string> split(const std::string& s, const std::string& sep) {
  std::vector<std::string> out;
  std::size_t pos = 0;
  while (pos <= s.size()) {
    const std::size_t next = s.find(sep, pos);
    out.push_back(s.substr(pos, next == std::string::npos ? std::string::npos : next - pos));
    if (next == std::string::npos) break;
    pos = next + sep.size();
  }
  return out;
}

// A PNG as a data: URI (the montage draws its column and row labels itself), with the labels
// also as text under it, for search, copying and screen readers.
std::string embedded_png(const std::string& png, const std::vector<std::string>& cols,
                         const std::vector<std::string>& rows, const std::string& alt) {
  PngInfo info;
  if (!png_info(png, info)) return absent("montage", "not a PNG: " + alt);
  std::string s = "<div class=\"sfb-montage\"><img width=\"" + std::to_string(info.width) +
                  "\" height=\"" + std::to_string(info.height) + "\" alt=\"" + escape(alt) +
                  "\" src=\"data:image/png;base64," + base64(png) + "\"><p>Columns: ";
  for (std::size_t i = 0; i < cols.size(); ++i) {
    s += (i ? ", " : "") + std::string("<span class=\"sfb-col-label\">") + escape(cols[i]) +
         "</span>";
  }
  s += ". Rows: ";
  for (std::size_t i = 0; i < rows.size(); ++i) {
    s += (i ? "; " : "") + std::string("<span class=\"sfb-row-label\">") + escape(rows[i]) +
         "</span>";
  }
  return s + ".</p></div>";
}

std::string gini_figure(const Zoo& zoo, const std::vector<std::size_t>& files, bool regional) {
  io::svg::BarChart c;
  c.title = regional ? "Regional Gini per method and model" : "Gini per method and model";
  c.xlabel = "attribution method";
  c.ylabel = regional ? "Gini of r\u00d7r region sums of |map|" : "Gini of |map| over pixels";
  for (const std::size_t f : files) {
    for (const auto& m : zoo.files[f].attribution->methods) {
      if (std::find(c.categories.begin(), c.categories.end(), m.name) == c.categories.end()) {
        c.categories.push_back(m.name);
      }
    }
  }
  for (const std::size_t f : files) {
    io::svg::BarSeries s;
    s.label = label_of(zoo, f);
    const int model = model_of(zoo, f);
    s.color = colour(model < 0 ? zoo.models.size() + f : static_cast<std::size_t>(model));
    for (const auto& name : c.categories) {
      double v = std::nan(""), se = std::nan("");
      for (const auto& m : zoo.files[f].attribution->methods) {
        if (m.name != name) continue;
        v = regional ? m.gini_regional : m.gini;
        se = regional ? m.gini_regional_se : m.gini_se;
      }
      s.values.push_back(v);
      s.low.push_back(v - kZ * se);
      s.high.push_back(v + kZ * se);
    }
    c.series.push_back(std::move(s));
  }
  return chart_figure(regional ? "gini-regional" : "gini", c,
                      std::string(regional ? "Regional Gini" : "Gini") +
                          " coefficient (paper 002, Eq. 4) of the channel-summed attribution maps, "
                          "mean over the attributed images with a 95% normal interval (\u00b11.96 "
                          "standard errors); higher = more unequal (/attribution/&lt;method&gt; "
                          "attributes gini" +
                          (regional ? "_regional" : "") + "; 0 = spread evenly, 1 = all on one " +
                          (regional ? "region" : "pixel") + ").",
                      paths(zoo, files), "no finite Gini among the attribution runs");
}

// Error rates per T of Noise-I or Noise-II: one curve per method and the random-pixel control.
std::string noise_figure(const Zoo& zoo, std::size_t f, int kind) {
  const AttributionData& a = *zoo.files[f].attribution;
  io::svg::XyPlot p;
  p.title = std::string(kind == 1 ? "Noise-I" : "Noise-II") + " error rate: " + label_of(zoo, f);
  p.xlabel = "T (pixels of largest |attribution| perturbed)";
  p.ylabel = "error rate (fraction flipped)";
  std::vector<double> t(a.top_pixels.begin(), a.top_pixels.end());
  auto add = [&](const std::string& label, const std::vector<double>& rate,
                 const std::vector<double>& ci, const std::string& col, bool dashed) {
    if (rate.size() != t.size()) return;
    io::svg::Series s;
    s.label = label;
    s.color = col;
    s.dashed = dashed;
    s.x = t;
    s.y = rate;
    if (ci.size() == 2 * rate.size()) {
      for (std::size_t i = 0; i < rate.size(); ++i) {
        s.y_low.push_back(ci[2 * i]);
        s.y_high.push_back(ci[2 * i + 1]);
      }
    }
    p.series.push_back(std::move(s));
  };
  for (std::size_t i = 0; i < a.methods.size(); ++i) {
    const auto& m = a.methods[i];
    add(m.name, kind == 1 ? m.noise1 : m.noise2, kind == 1 ? m.noise1_ci : m.noise2_ci, colour(i),
        false);
  }
  add("random pixels (control)", kind == 1 ? a.random_noise1 : a.random_noise2,
      kind == 1 ? a.random_noise1_ci : a.random_noise2_ci, "#000000", true);
  if (p.series.empty()) return "";
  return chart_figure(
      std::string(kind == 1 ? "noise1:" : "noise2:") + label_of(zoo, f), p,
      std::string("Inductive noise (paper 002): the share of correctly classified images "
                  "misclassified after ") +
          (kind == 1 ? "adding N(0,1) noise to (Noise-I)"
                     : "replacing by N(0,1) noise (Noise-II)") +
          " the T pixels each method ranks highest, against T pixels drawn at random (dashed "
          "black control), with Wilson 95% intervals. Model " +
          escape(label_of(zoo, f)) + ".",
      {zoo.files[f].path},
      std::string("no Noise-") + (kind == 1 ? "I" : "II") + " error rate of " + zoo.files[f].path +
          " is a number (it has no correctly classified image to attack)");
}

std::string occlusion_figure(const Zoo& zoo, std::size_t f) {
  const AttributionData& a = *zoo.files[f].attribution;
  io::svg::BarChart c;
  c.title = "Inductive occlusion error rate: " + label_of(zoo, f);
  c.xlabel = "occlusion colour";
  c.ylabel = "error rate (fraction flipped)";
  c.categories = a.colours;
  c.y_max = 1;
  for (std::size_t i = 0; i < a.methods.size(); ++i) {
    const auto& m = a.methods[i];
    if (m.occlusion.size() != a.colours.size() || a.colours.empty()) continue;
    io::svg::BarSeries s;
    s.label = m.name;
    s.color = colour(i);
    s.values = m.occlusion;
    if (m.occlusion_ci.size() == 2 * m.occlusion.size()) {
      for (std::size_t k = 0; k < m.occlusion.size(); ++k) {
        s.low.push_back(m.occlusion_ci[2 * k]);
        s.high.push_back(m.occlusion_ci[2 * k + 1]);
      }
    }
    c.series.push_back(std::move(s));
  }
  if (c.series.empty()) return "";
  return chart_figure(
      "occlusion:" + label_of(zoo, f), c,
      "Inductive occlusion (paper 002, Algorithm 1): the share of correctly classified "
      "images that occluding the top-ranked regions of each method's map flips, per "
      "patch colour, with Wilson 95% intervals. Model " +
          escape(label_of(zoo, f)) + ".",
      {zoo.files[f].path},
      "no occlusion error rate of " + zoo.files[f].path +
          " is a number (it has no correctly classified image to attack)");
}

std::string snr_figure(const Zoo& zoo, std::size_t f) {
  const AttributionData& a = *zoo.files[f].attribution;
  io::svg::BarChart c;
  c.title = "Foreground SNR by confidence: " + label_of(zoo, f);
  c.xlabel = "confidence group (softmax probability p of the predicted class)";
  c.ylabel = "SNR (dB)";
  c.categories = {"low (p < 0.5)", "intermediate (0.5 \u2264 p < 0.9)", "high (p \u2265 0.9)"};
  double lowest = 0;
  for (std::size_t i = 0; i < a.methods.size(); ++i) {
    const auto& m = a.methods[i];
    if (m.snr.size() != 3) continue;
    io::svg::BarSeries s;
    s.label = m.name;
    s.color = colour(i);
    s.values = m.snr;
    for (std::size_t g = 0; g < 3; ++g) {
      const double se = g < m.snr_se.size() ? m.snr_se[g] : std::nan("");
      s.low.push_back(m.snr[g] - kZ * se);
      s.high.push_back(m.snr[g] + kZ * se);
      for (const double v : {m.snr[g], s.low.back()}) {
        if (std::isfinite(v)) lowest = std::min(lowest, v);
      }
    }
    c.series.push_back(std::move(s));
  }
  if (c.series.empty()) return "";
  c.y_min = lowest < 0 ? lowest * 1.05 : 0;
  return chart_figure(
      "snr:" + label_of(zoo, f), c,
      "Signal-to-noise ratio 10\u00b7log10(mean |A| on the foreground / mean |A| on the "
      "background) of the maps on the data's foreground masks (paper 003), "
      "mean per confidence group over images with a finite SNR, with a 95% normal "
      "interval; a group without images has no bar. Model " +
          escape(label_of(zoo, f)) + ".",
      {zoo.files[f].path}, "no finite SNR in " + zoo.files[f].path);
}

// The method×method agreement of one run (/attribution/agreement/mean).
std::string method_agreement_figure(const Zoo& zoo, std::size_t f) {
  const AttributionData& a = *zoo.files[f].attribution;
  if (a.agreement_pairs.empty()) return "";
  io::svg::Matrix mx;
  mx.title = "Agreement between methods: " + label_of(zoo, f);
  mx.scale_label = "Spearman \u03c1 (mean over images)";
  for (const auto& m : a.methods) mx.row_labels.push_back(m.name);
  mx.col_labels = mx.row_labels;
  const std::size_t k = mx.row_labels.size();
  mx.values.assign(k, std::vector<double>(k, std::nan("")));
  bool any = false;
  for (std::size_t p = 0; p < a.agreement_pairs.size(); ++p) {
    const auto ab = split(a.agreement_pairs[p], "~");
    if (ab.size() != 2) continue;
    const auto i = std::find(mx.row_labels.begin(), mx.row_labels.end(), ab[0]);
    const auto j = std::find(mx.row_labels.begin(), mx.row_labels.end(), ab[1]);
    if (i == mx.row_labels.end() || j == mx.row_labels.end()) continue;
    const auto r = static_cast<std::size_t>(i - mx.row_labels.begin());
    const auto c = static_cast<std::size_t>(j - mx.row_labels.begin());
    mx.values[r][c] = mx.values[c][r] = a.agreement_mean[p];
    any = any || std::isfinite(a.agreement_mean[p]);
  }
  // The diagonal is 1 by definition: shown only next to measured pairs.
  for (std::size_t i = 0; any && i < k; ++i) mx.values[i][i] = 1;
  return chart_figure(
      "method-agreement:" + label_of(zoo, f), mx,
      "Spearman rank correlation between the maps of two methods on the same image, "
      "mean over images (/attribution/agreement/mean; the diagonal is 1 by "
      "definition). Model " +
          escape(label_of(zoo, f)) + ".",
      {zoo.files[f].path},
      "no pair of methods in " + zoo.files[f].path + " has a finite agreement");
}

std::string model_agreement_figures(const Zoo& zoo) {
  std::string out;
  const auto& cmp = zoo.agreement;
  for (const auto& m : cmp.matrices) {
    io::svg::Matrix mx;
    mx.title = "Agreement between models: " + m.method;
    mx.scale_label = "Spearman \u03c1 (mean over common images)";
    std::vector<std::string> files;
    for (const std::size_t r : m.records) {
      const std::string& file = cmp.records[r].file;
      files.push_back(file);
      std::string label = file;
      for (std::size_t f = 0; f < zoo.files.size(); ++f) {
        if (zoo.files[f].path == file) label = label_of(zoo, f) + " (" + zoo.files[f].stem + ")";
      }
      mx.row_labels.push_back(label);
    }
    mx.col_labels = mx.row_labels;
    for (const auto& row : m.rho) {
      std::vector<double> v;
      std::vector<std::string> t;
      for (const auto& e : row) {
        v.push_back(e.count > 0 ? e.mean : std::nan(""));
        t.push_back(e.count > 0 ? fixed(e.mean, 2) + " [" + fixed(e.low, 2) + ", " +
                                      fixed(e.high, 2) + "] n=" + std::to_string(e.count)
                                : "\u2013");
      }
      mx.values.push_back(std::move(v));
      mx.text.push_back(std::move(t));
    }
    std::string notes;
    for (const auto& n : cmp.notes) notes += " " + escape(n) + ".";
    out += chart_figure(
        "agreement:" + m.method, mx,
        "Paper 003's agreement: Spearman \u03c1 between two runs' " + escape(m.method) +
            " maps of the same image, mean over the images both saved maps of, with a "
            "95% normal interval and the image count." +
            notes,
        files, "no two runs share a saved " + m.method + " map of one image");
  }
  return out;
}

std::string montage_figures(const Zoo& zoo, std::size_t f) {
  const AttributionData& a = *zoo.files[f].attribution;
  const std::string label = label_of(zoo, f);
  std::string out;
  std::vector<torch::Tensor> maps;
  std::vector<std::string> names;
  for (const auto& m : a.methods) {
    if (!m.maps.defined() || m.maps.size(0) != static_cast<int64_t>(a.map_rows.size())) continue;
    maps.push_back(m.maps);
    names.push_back(m.name);
  }
  if (!maps.empty()) {
    try {
      const auto bytes = attribution::montage_png(torch::Tensor(), maps, names, a.map_rows);
      const std::string png(bytes.begin(), bytes.end());
      out += figure("montage:" + label, embedded_png(png, names, a.map_rows, "heat maps " + label),
                    "Heat maps of the first " + std::to_string(a.map_rows.size()) +
                        " saved images (rows) per method (columns) from /attribution/maps: "
                        "|map| scaled per cell to its 99th percentile, black \u2192 red \u2192 "
                        "yellow \u2192 white. The results file holds no input images. Model " +
                        escape(label) + ".",
                    {zoo.files[f].path});
    } catch (const Error& e) {
      out += absent("montage:" + label, "no montage for " + zoo.files[f].path + ": " + e.what());
    }
  }
  if (!a.run_montage.empty()) {
    std::error_code ec;
    const auto size = std::filesystem::file_size(a.run_montage, ec);
    PngInfo info;
    std::string png;
    if (!ec && size <= kMaxEmbeddedPng) {
      std::ifstream in(a.run_montage, std::ios::binary);
      std::ostringstream os;
      os << in.rdbuf();
      png = os.str();
    }
    if (png.empty() || !png_info(png, info)) {
      out += absent("run-montage:" + label, a.run_montage.string() +
                                                " is not embedded (unreadable, not a PNG, or over "
                                                "16 MiB)");
    } else {
      const auto cols = split(info.text["sfbench:columns"], ",");
      const auto rows = split(info.text["sfbench:rows"], "; ");
      out += figure("run-montage:" + label,
                    embedded_png(png, cols, rows, "run montage " + a.run_montage.string()),
                    "The montage the attribution run wrote next to its results (input image, "
                    "then one heat map per method; labels from its tEXt chunks).",
                    {a.run_montage.string()});
    }
  }
  return out;
}

}  // namespace

std::string attribution_section(const Zoo& zoo) {
  std::vector<std::size_t> files;
  for (std::size_t f = 0; f < zoo.files.size(); ++f) {
    if (zoo.files[f].attribution) files.push_back(f);
  }
  if (files.empty()) {
    return section("attribution", "Attribution",
                   absent("attribution", "no attribution results among the inputs"));
  }
  std::string body = "<div class=\"sfb-figures\">" + gini_figure(zoo, files, false) +
                     gini_figure(zoo, files, true) +
                     "</div>\n<h3>Inductive attacks</h3>\n"
                     "<div class=\"sfb-figures\">";
  std::string inductive, snr, agreement = model_agreement_figures(zoo), montages;
  for (const std::size_t f : files) {
    inductive += noise_figure(zoo, f, 1) + noise_figure(zoo, f, 2) + occlusion_figure(zoo, f);
    snr += snr_figure(zoo, f);
    agreement += method_agreement_figure(zoo, f);
    montages += montage_figures(zoo, f);
  }
  body +=
      (inductive.empty() ? absent("inductive",
                                  "no inductive noise or occlusion results "
                                  "among the attribution runs")
                         : inductive) +
      "</div>\n<h3>Signal-to-noise ratio by confidence</h3>\n<div class=\"sfb-figures\">" +
      (snr.empty() ? absent("snr", "no SNR results (they need data with foreground masks)") : snr) +
      "</div>\n<h3>Agreement</h3>\n<div class=\"sfb-figures\">" +
      (agreement.empty() ? absent("agreement",
                                  "no agreement results (they need two methods in a run, or "
                                  "two runs with saved maps of the same images)")
                         : agreement) +
      "</div>\n<h3>Heat-map montages</h3>\n<div class=\"sfb-figures\">" +
      (montages.empty() ? absent("montage", "no saved maps among the attribution runs")
                        : montages) +
      "</div>\n";
  return section("attribution", "Attribution", body);
}

}  // namespace sfb::report::detail
