#include "interactions/detail/svg_plot.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>

namespace sfb::interactions::detail {
namespace {

constexpr double kW = 640, kH = 420, kLeft = 78, kRight = 20, kTop = 40, kBottom = 56;

std::string escape(const std::string& s) {
  std::string out;
  for (const char c : s) {
    if (c == '&')
      out += "&amp;";
    else if (c == '<')
      out += "&lt;";
    else if (c == '>')
      out += "&gt;";
    else
      out += c;
  }
  return out;
}

/// Tick positions covering [lo, hi] at a 1-2-5 step, about `target` of them.
std::vector<double> ticks(double lo, double hi, int target) {
  const double raw = (hi - lo) / target;
  const double mag = std::pow(10.0, std::floor(std::log10(raw)));
  double step = mag;
  for (const double f : {1.0, 2.0, 5.0, 10.0}) {
    step = f * mag;
    if (step >= raw) break;
  }
  std::vector<double> t;
  for (double v = std::ceil(lo / step) * step; v <= hi + 1e-9 * step; v += step) {
    t.push_back(std::abs(v) < 1e-12 * step ? 0.0 : v);
  }
  return t;
}

}  // namespace

std::string render_svg(const Plot& plot) {
  double x0 = std::numeric_limits<double>::infinity(), x1 = -x0, y0 = x0, y1 = -x0;
  for (const auto& s : plot.series) {
    for (size_t i = 0; i < s.x.size(); ++i) {
      if (!std::isfinite(s.y[i])) continue;
      const double e = i < s.err.size() && std::isfinite(s.err[i]) ? s.err[i] : 0.0;
      x0 = std::min(x0, s.x[i]);
      x1 = std::max(x1, s.x[i]);
      y0 = std::min(y0, s.y[i] - e);
      y1 = std::max(y1, s.y[i] + e);
    }
  }
  if (!std::isfinite(x0)) x0 = 0, x1 = 1, y0 = 0, y1 = 1;
  if (x1 - x0 < 1e-12) x0 -= 0.5, x1 += 0.5;
  if (y1 - y0 < 1e-12 * std::max(1.0, std::abs(y0))) {
    const double d = std::max(1e-12, 0.5 * std::abs(y0));
    y0 -= d, y1 += d;
  }
  const double pad = 0.05 * (y1 - y0);
  y0 -= pad, y1 += pad;
  const double pw = kW - kLeft - kRight, ph = kH - kTop - kBottom;
  auto px = [&](double x) { return kLeft + (x - x0) / (x1 - x0) * pw; };
  auto py = [&](double y) { return kTop + (y1 - y) / (y1 - y0) * ph; };

  std::string o = fmt::format(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{}\" height=\"{}\" viewBox=\"0 0 {} {}\" "
      "font-family=\"sans-serif\" font-size=\"12\">\n<rect width=\"100%\" height=\"100%\" "
      "fill=\"white\"/>\n<text x=\"{}\" y=\"24\" text-anchor=\"middle\" "
      "font-size=\"15\">{}</text>\n",
      kW, kH, kW, kH, kLeft + pw / 2, escape(plot.title));
  for (const double t : ticks(x0, x1, 6)) {
    o += fmt::format(
        "<line x1=\"{0:.1f}\" y1=\"{1:.1f}\" x2=\"{0:.1f}\" y2=\"{2:.1f}\" stroke=\"#ddd\"/>"
        "<text x=\"{0:.1f}\" y=\"{3:.1f}\" text-anchor=\"middle\">{4:g}</text>\n",
        px(t), kTop, kTop + ph, kTop + ph + 16, t);
  }
  for (const double t : ticks(y0, y1, 6)) {
    o += fmt::format(
        "<line x1=\"{0:.1f}\" y1=\"{1:.1f}\" x2=\"{2:.1f}\" y2=\"{1:.1f}\" stroke=\"#ddd\"/>"
        "<text x=\"{3:.1f}\" y=\"{4:.1f}\" text-anchor=\"end\">{5:.3g}</text>\n",
        kLeft, py(t), kLeft + pw, kLeft - 6, py(t) + 4, t);
  }
  if (y0 < 0 && y1 > 0) {
    o += fmt::format(
        "<line x1=\"{0:.1f}\" y1=\"{1:.1f}\" x2=\"{2:.1f}\" y2=\"{1:.1f}\" stroke=\"#444\" "
        "stroke-dasharray=\"2,3\"/>\n",
        kLeft, py(0), kLeft + pw);
  }
  o += fmt::format(
      "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"none\" stroke=\"black\"/>\n",
      kLeft, kTop, pw, ph);
  o += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" text-anchor=\"middle\">{}</text>\n",
                   kLeft + pw / 2, kH - 14, escape(plot.xlabel));
  o += fmt::format(
      "<text x=\"16\" y=\"{0:.1f}\" text-anchor=\"middle\" transform=\"rotate(-90 16 {0:.1f})\">"
      "{1}</text>\n",
      kTop + ph / 2, escape(plot.ylabel));
  for (size_t k = 0; k < plot.series.size(); ++k) {
    const Series& s = plot.series[k];
    std::string pts;
    for (size_t i = 0; i < s.x.size(); ++i) {
      if (!std::isfinite(s.y[i])) continue;
      pts += fmt::format("{:.1f},{:.1f} ", px(s.x[i]), py(s.y[i]));
      if (i < s.err.size() && std::isfinite(s.err[i]) && s.err[i] > 0) {
        o += fmt::format(
            "<line x1=\"{0:.1f}\" y1=\"{1:.1f}\" x2=\"{0:.1f}\" y2=\"{2:.1f}\" stroke=\"{3}\"/>\n",
            px(s.x[i]), py(s.y[i] - s.err[i]), py(s.y[i] + s.err[i]), s.color);
      }
      o += fmt::format("<circle cx=\"{:.1f}\" cy=\"{:.1f}\" r=\"2.5\" fill=\"{}\"/>\n", px(s.x[i]),
                       py(s.y[i]), s.color);
    }
    o += fmt::format(
        "<polyline points=\"{}\" fill=\"none\" stroke=\"{}\" stroke-width=\"1.8\"{}/>\n", pts,
        s.color, s.dashed ? " stroke-dasharray=\"6,4\"" : "");
    const double ly = kTop + 16 + 18 * static_cast<double>(k);
    o += fmt::format(
        "<line x1=\"{0:.1f}\" y1=\"{1:.1f}\" x2=\"{2:.1f}\" y2=\"{1:.1f}\" stroke=\"{3}\" "
        "stroke-width=\"1.8\"{4}/><text x=\"{5:.1f}\" y=\"{6:.1f}\">{7}</text>\n",
        kLeft + 12, ly, kLeft + 36, s.color, s.dashed ? " stroke-dasharray=\"6,4\"" : "",
        kLeft + 42, ly + 4, escape(s.label));
  }
  return o + "</svg>\n";
}

}  // namespace sfb::interactions::detail
