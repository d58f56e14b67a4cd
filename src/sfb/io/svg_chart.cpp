// The SVG chart writer of svg_chart.hpp; the shared parts (text, axes, legends) are in
// detail/svg_parts.hpp.
#include "io/svg_chart.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <string>
#include <utility>
#include <vector>

#include "core/error.hpp"
#include "io/detail/svg_parts.hpp"

namespace sfb::io::svg {
namespace {

using namespace detail;  // the parts of the charts (io/detail/svg_parts.hpp)

/// The diverging colour of v on [lo, hi]: blue at lo, near-white at the middle, red at hi
/// (linear in RGB, clamped); `strength` gets |t| in [0, 1].
std::string diverging(double v, double lo, double hi, double* strength) {
  const double half = (hi - lo) / 2;
  const double t = half > 0 ? std::clamp((v - (lo + hi) / 2) / half, -1.0, 1.0) : 0.0;
  constexpr std::array<double, 3> kMid = {247, 247, 247}, kLow = {33, 102, 172},
                                  kHigh = {178, 24, 43};
  const auto& end = t < 0 ? kLow : kHigh;
  const double a = std::abs(t);
  *strength = a;
  std::array<int, 3> c{};
  for (int i = 0; i < 3; ++i)
    c[i] = static_cast<int>(std::lround(kMid[i] + a * (end[i] - kMid[i])));
  return fmt::format("#{:02x}{:02x}{:02x}", c[0], c[1], c[2]);
}

}  // namespace

std::string escape(const std::string& s) {
  std::string out;
  out.reserve(s.size());
  for (const char c : s) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

// ---- XyPlot -------------------------------------------------------------------------------------

std::string render(const XyPlot& plot) {
  const bool log = plot.log_y;
  for (const Series& s : plot.series) {
    const size_t n = s.x.size();
    const std::string what = "series '" + s.label + "': ";
    check_size(s.y, n, what + "y");
    check_size(s.y_err, n, what + "y_err");
    check_size(s.y_low, n, what + "y_low");
    check_size(s.y_high, n, what + "y_high");
    check_size(s.x_low, n, what + "x_low");
    check_size(s.x_high, n, what + "x_high");
    check_size(s.point_labels, n, what + "point_labels");
  }
  auto drawn = [&](const Series& s, size_t i) {
    return std::isfinite(s.x[i]) && std::isfinite(s.y[i]) && (!log || s.y[i] > 0);
  };
  Range xr, yr;
  auto add_y = [&](double v) {
    if (!log)
      yr.add(v);
    else if (v > 0)
      yr.add(std::log10(v));
  };
  for (const Series& s : plot.series) {
    for (size_t i = 0; i < s.x.size(); ++i) {
      if (!drawn(s, i)) continue;
      xr.add(s.x[i]);
      add_y(s.y[i]);
      if (finite_at(s.y_err, i)) add_y(s.y[i] - s.y_err[i]), add_y(s.y[i] + s.y_err[i]);
      if (finite_at(s.y_low, i)) add_y(s.y_low[i]);
      if (finite_at(s.y_high, i)) add_y(s.y_high[i]);
      if (finite_at(s.x_low, i)) xr.add(s.x_low[i]);
      if (finite_at(s.x_high, i)) xr.add(s.x_high[i]);
    }
  }
  const Range xp = padded(xr, 0, 1, false), yp = padded(yr, 0, 1, log);
  size_t labelled = 0;
  for (const Series& s : plot.series) labelled += s.label.empty() ? 0 : 1;
  const double legend_h = legend_height(labelled);
  std::string o = open_svg("xy", plot.width, plot.height + static_cast<int>(legend_h), plot.title);
  const double top = draw_title(o, plot.title, plot.width) + 6;
  const Axis x{xp.lo, xp.hi, false, 72, plot.width - 20.0};
  const Axis y{yp.lo, yp.hi, log, plot.height - 48.0, top};
  draw_axes(o, x, linear_ticks(x.lo, x.hi, 6), y,
            log ? log_ticks(y.lo, y.hi) : linear_ticks(y.lo, y.hi, 6), plot.xlabel, plot.ylabel,
            plot.height);
  draw_zero_line(o, x, y);

  std::vector<LegendEntry> legend;
  size_t next_colour = 0;
  for (const Series& s : plot.series) {
    const std::string color = s.color.empty() ? kPalette[next_colour++ % kPalette.size()] : s.color;
    const std::string dash = s.dashed ? " stroke-dasharray=\"6,4\"" : "";
    o += fmt::format("<g class=\"sfb-series\" data-series=\"{}\">\n", escape(s.label));
    if (s.lines) {
      // One polyline per run of consecutive drawn points: a skipped point breaks the line.
      std::string pts;
      size_t run = 0;
      auto flush = [&] {
        if (run >= 2) {
          o += fmt::format(
              "<polyline points=\"{}\" fill=\"none\" stroke=\"{}\" stroke-width=\"1.8\"{}/>\n", pts,
              escape(color), dash);
        }
        pts.clear();
        run = 0;
      };
      for (size_t i = 0; i < s.x.size(); ++i) {
        if (!drawn(s, i)) {
          flush();
          continue;
        }
        pts += (run == 0 ? "" : " ") + f2(x(s.x[i])) + "," + f2(y(s.y[i]));
        ++run;
      }
      flush();
    }
    for (size_t i = 0; i < s.x.size(); ++i) {
      if (!drawn(s, i)) continue;
      const double px = x(s.x[i]), py = y(s.y[i]);
      std::string attrs = fmt::format("data-series=\"{}\" data-x=\"{}\" data-y=\"{}\"",
                                      escape(s.label), num(s.x[i]), num(s.y[i]));
      std::string tip = fmt::format("{}x = {}, y = {}", s.label.empty() ? "" : s.label + ": ",
                                    short_num(s.x[i]), short_num(s.y[i]));
      std::string body;
      const bool has_err = finite_at(s.y_err, i);
      const bool has_y_interval = finite_at(s.y_low, i) && finite_at(s.y_high, i);
      if (has_y_interval) {
        attrs +=
            fmt::format(" data-low=\"{}\" data-high=\"{}\"", num(s.y_low[i]), num(s.y_high[i]));
        tip += fmt::format(" [{}, {}]", short_num(s.y_low[i]), short_num(s.y_high[i]));
        body += interval(y.clamped(s.y_low[i]), y.clamped(s.y_high[i]), px, true, 4, color, 1.2);
      } else if (has_err) {
        attrs += fmt::format(" data-low=\"{}\" data-high=\"{}\"", num(s.y[i] - s.y_err[i]),
                             num(s.y[i] + s.y_err[i]));
      }
      if (has_err) {
        attrs += fmt::format(" data-err=\"{}\"", num(s.y_err[i]));
        tip += fmt::format(" ± {}", short_num(s.y_err[i]));
        body += interval(y.clamped(s.y[i] - s.y_err[i]), y.clamped(s.y[i] + s.y_err[i]), px, true,
                         3, color, 1);
      }
      if (finite_at(s.x_low, i) && finite_at(s.x_high, i)) {
        attrs +=
            fmt::format(" data-x-low=\"{}\" data-x-high=\"{}\"", num(s.x_low[i]), num(s.x_high[i]));
        tip += fmt::format(", x in [{}, {}]", short_num(s.x_low[i]), short_num(s.x_high[i]));
        body += interval(x(s.x_low[i]), x(s.x_high[i]), py, false, 4, color, 1.2);
      }
      if (s.markers) {
        body += fmt::format("<circle cx=\"{}\" cy=\"{}\" r=\"3\" fill=\"{}\"/>", f2(px), f2(py),
                            escape(color));
      }
      if (i < s.point_labels.size() && !s.point_labels[i].empty()) {
        body += fmt::format("<text x=\"{}\" y=\"{}\" font-size=\"{}\" fill=\"#333\">{}</text>",
                            f2(px + 5), f2(py - 5), kSmallFont, escape(s.point_labels[i]));
        tip = s.point_labels[i] + ": " + tip;
      }
      o += fmt::format("<g class=\"sfb-point\" {}><title>{}</title>{}</g>\n", attrs, escape(tip),
                       body);
    }
    o += "</g>\n";
    if (!s.label.empty()) {
      legend.push_back({s.label, color, s.lines, s.dashed && s.lines, s.markers, false});
    }
  }
  draw_legend(o, legend, x.p0, plot.height, plot.width);
  return o + "</svg>\n";
}

// ---- BarChart -----------------------------------------------------------------------------------

std::string render(const BarChart& chart) {
  const size_t nc = chart.categories.size(), ns = chart.series.size();
  for (const BarSeries& s : chart.series) {
    const std::string what = "bar series '" + s.label + "': ";
    SFB_ASSERT(s.values.size() == nc, what + std::to_string(s.values.size()) + " values for " +
                                          std::to_string(nc) + " categories");
    check_size(s.low, nc, what + "low");
    check_size(s.high, nc, what + "high");
  }
  // The y axis: [y_min, y_max] when given, else y_min up to the data (down to it when below).
  Range r;
  r.add(chart.y_min);
  for (const BarSeries& s : chart.series) {
    for (size_t i = 0; i < nc; ++i) {
      r.add(s.values[i]);
      if (i < s.low.size()) r.add(s.low[i]);
      if (i < s.high.size()) r.add(s.high[i]);
    }
  }
  double lo = chart.y_min, hi = chart.y_max;
  if (!(chart.y_max > chart.y_min)) {
    const double len = r.hi - r.lo;
    hi = r.hi + kPad * len;
    if (r.lo < chart.y_min) lo = r.lo - kPad * len;
    if (!(hi > lo)) hi = lo + 1;
  }
  size_t labelled = 0;
  for (const BarSeries& s : chart.series) labelled += s.label.empty() ? 0 : 1;
  const double legend_h = legend_height(labelled);
  std::string o =
      open_svg("bar", chart.width, chart.height + static_cast<int>(legend_h), chart.title);
  const double top = draw_title(o, chart.title, chart.width) + 6;
  const double left = 72, right = chart.width - 20.0;
  const double group = (right - left) / static_cast<double>(std::max<size_t>(nc, 1));
  double widest = 0;
  for (const auto& c : chart.categories) widest = std::max(widest, text_width(c, kTickFont));
  const bool rotate = widest > group - 4;
  // Rotated labels (-40°) get a band below the axis of up to 35 % of the height.
  const double band = rotate ? std::min(0.35 * chart.height, 0.65 * widest + 12) : 18;
  const size_t label_chars =
      rotate ? fit((band - 12) / 0.65, kTickFont) : fit(group - 4, kTickFont);
  const double bottom = chart.height - 32.0 - band;
  const Axis x{0, 1, false, left, right};
  const Axis y{lo, hi, false, bottom, top};
  draw_axes(o, x, {}, y, linear_ticks(lo, hi, 6), chart.xlabel, chart.ylabel, chart.height);
  draw_zero_line(o, x, y);
  o += fmt::format("<g class=\"sfb-categories\" font-size=\"{}\">\n", kTickFont);
  for (size_t i = 0; i < nc; ++i) {
    const double cx = left + (static_cast<double>(i) + 0.5) * group;
    const std::string text = escape(shorten(chart.categories[i], label_chars));
    if (rotate) {
      o += fmt::format(
          "<text x=\"{0}\" y=\"{1}\" text-anchor=\"end\" transform=\"rotate(-40 {0} {1})\">{2}"
          "</text>\n",
          f2(cx), f2(bottom + 12), text);
    } else {
      o += fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">{}</text>\n", f2(cx),
                       f2(bottom + 15), text);
    }
  }
  o += "</g>\n";
  const double bar = 0.8 * group / static_cast<double>(std::max<size_t>(ns, 1));
  const double base = y.clamped(chart.y_min);
  std::vector<LegendEntry> legend;
  size_t next_colour = 0;
  for (size_t k = 0; k < ns; ++k) {
    const BarSeries& s = chart.series[k];
    const std::string color = s.color.empty() ? kPalette[next_colour++ % kPalette.size()] : s.color;
    o += fmt::format("<g class=\"sfb-series\" data-series=\"{}\">\n", escape(s.label));
    for (size_t i = 0; i < nc; ++i) {
      const double v = s.values[i];
      if (!std::isfinite(v)) continue;
      const double bx =
          left + static_cast<double>(i) * group + 0.1 * group + static_cast<double>(k) * bar;
      const double top_px = std::min(y.clamped(v), base), bottom_px = std::max(y.clamped(v), base);
      std::string attrs = fmt::format("data-series=\"{}\" data-category=\"{}\" data-value=\"{}\"",
                                      escape(s.label), escape(chart.categories[i]), num(v));
      std::string tip =
          (s.label.empty() ? "" : s.label + ", ") + chart.categories[i] + ": " + short_num(v);
      std::string whisker;
      if (finite_at(s.low, i) && finite_at(s.high, i)) {
        attrs += fmt::format(" data-low=\"{}\" data-high=\"{}\"", num(s.low[i]), num(s.high[i]));
        tip += fmt::format(" [{}, {}]", short_num(s.low[i]), short_num(s.high[i]));
        whisker = interval(y.clamped(s.low[i]), y.clamped(s.high[i]), bx + bar / 2, true,
                           std::min(4.0, bar / 3), "#222", 1.2) +
                  "\n";
      }
      o += fmt::format(
          "<rect class=\"sfb-bar\" {} x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"{}\">"
          "<title>{}</title></rect>\n",
          attrs, f2(bx), f2(top_px), f2(bar), f2(bottom_px - top_px), escape(color), escape(tip));
      o += whisker;
    }
    o += "</g>\n";
    if (!s.label.empty()) legend.push_back({s.label, color, false, false, false, true});
  }
  draw_legend(o, legend, left, chart.height, chart.width);
  return o + "</svg>\n";
}

// ---- Matrix -------------------------------------------------------------------------------------

std::string render(const Matrix& m) {
  const size_t nr = m.values.size();
  const size_t nc = nr > 0 ? m.values[0].size() : m.col_labels.size();
  for (size_t r = 0; r < nr; ++r) {
    SFB_ASSERT(m.values[r].size() == nc, "svg matrix: row " + std::to_string(r) + " has " +
                                             std::to_string(m.values[r].size()) +
                                             " values, row 0 has " + std::to_string(nc));
  }
  check_size(m.row_labels, nr, "matrix row_labels");
  check_size(m.col_labels, nc, "matrix col_labels");
  check_size(m.text, nr, "matrix text");
  for (const auto& row : m.text) check_size(row, nc, "matrix text row");

  std::string o = open_svg("matrix", m.width, m.height, m.title);
  const double top = draw_title(o, m.title, m.width) + 4;
  double row_w = 0, col_w = 0;
  for (const auto& s : m.row_labels) row_w = std::max(row_w, text_width(s, kTickFont));
  for (const auto& s : m.col_labels) col_w = std::max(col_w, text_width(s, kTickFont));
  const double left = 10 + std::min(0.3 * m.width, row_w) + 6;
  const double bar_w = 14, right = m.width - (bar_w + 56 + (m.scale_label.empty() ? 0 : 16));
  const double cell_w = (right - left) / static_cast<double>(std::max<size_t>(nc, 1));
  const bool rotate = col_w > cell_w - 4;
  const double head = rotate ? std::min(0.3 * m.height, 0.71 * col_w + 8) : 18;
  const double grid_top = top + head, grid_bottom = m.height - 12.0;
  const double cell_h = (grid_bottom - grid_top) / static_cast<double>(std::max<size_t>(nr, 1));
  const size_t row_chars = fit(left - 16, kTickFont);
  const size_t col_chars = rotate ? fit((head - 8) / 0.71, kTickFont) : fit(cell_w - 4, kTickFont);

  o += fmt::format("<g class=\"sfb-labels\" font-size=\"{}\">\n", kTickFont);
  for (size_t r = 0; r < m.row_labels.size(); ++r) {
    o += fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"end\">{}</text>\n", f2(left - 6),
                     f2(grid_top + (static_cast<double>(r) + 0.5) * cell_h + 4),
                     escape(shorten(m.row_labels[r], row_chars)));
  }
  for (size_t c = 0; c < m.col_labels.size(); ++c) {
    const double cx = left + (static_cast<double>(c) + 0.5) * cell_w;
    const std::string text = escape(shorten(m.col_labels[c], col_chars));
    if (rotate) {
      o += fmt::format("<text x=\"{0}\" y=\"{1}\" transform=\"rotate(-45 {0} {1})\">{2}</text>\n",
                       f2(cx), f2(grid_top - 6), text);
    } else {
      o += fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">{}</text>\n", f2(cx),
                       f2(grid_top - 6), text);
    }
  }
  o += "</g>\n<g class=\"sfb-cells\">\n";
  for (size_t r = 0; r < nr; ++r) {
    for (size_t c = 0; c < nc; ++c) {
      const double v = m.values[r][c];
      const double cx = left + static_cast<double>(c) * cell_w;
      const double cy = grid_top + static_cast<double>(r) * cell_h;
      const std::string where =
          fmt::format("data-row=\"{}\" data-col=\"{}\" data-row-label=\"{}\" data-col-label=\"{}\"",
                      r, c, escape(r < m.row_labels.size() ? m.row_labels[r] : ""),
                      escape(c < m.col_labels.size() ? m.col_labels[c] : ""));
      const std::string geometry = fmt::format(" x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\"",
                                               f2(cx), f2(cy), f2(cell_w), f2(cell_h));
      std::string text = r < m.text.size() ? m.text[r][c] : "";
      double strength = 0;
      if (!std::isfinite(v)) {
        o += "<rect class=\"sfb-cell-missing\" " + where + geometry +
             " fill=\"#d0d0d0\" stroke=\"white\"/>";
        text = "–";
      } else {
        if (text.empty()) text = fmt::format("{:.3f}", v);
        const std::string fill = diverging(v, m.v_min, m.v_max, &strength);
        const std::string tip =
            (r < m.row_labels.size() ? m.row_labels[r] : std::to_string(r)) + " / " +
            (c < m.col_labels.size() ? m.col_labels[c] : std::to_string(c)) + ": " + text;
        o += fmt::format(
            "<rect class=\"sfb-cell\" {} data-value=\"{}\"{} fill=\"{}\" stroke=\"white\">"
            "<title>{}</title></rect>",
            where, num(v), geometry, fill, escape(tip));
      }
      const size_t n = std::max<size_t>(chars(text).size(), 1);
      const double font = std::clamp(
          std::min(0.45 * cell_h, (cell_w - 4) / (kCharEm * static_cast<double>(n))), 7.0, kFont);
      o += fmt::format(
          "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\" font-size=\"{}\" fill=\"{}\">{}"
          "</text>\n",
          f2(cx + cell_w / 2), f2(cy + cell_h / 2 + 0.35 * font), f2(font),
          strength > 0.55 ? "white" : "#222", escape(shorten(text, fit(cell_w - 2, font))));
    }
  }
  o += "</g>\n";

  // The colour bar: 32 bands from v_max (top) to v_min, labelled at both ends and the middle.
  const double bx = right + 12, by0 = grid_top, by1 = std::max(grid_top + 40, grid_bottom);
  constexpr int kBands = 32;
  o += "<g class=\"sfb-colorbar\">\n";
  for (int i = 0; i < kBands; ++i) {
    const double v = m.v_max - (m.v_max - m.v_min) * (i + 0.5) / kBands;
    double strength = 0;
    const double band_h = (by1 - by0) / kBands;
    o += fmt::format("<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"{}\"/>", f2(bx),
                     f2(by0 + i * band_h), f2(bar_w), f2(band_h + 0.5),
                     diverging(v, m.v_min, m.v_max, &strength));
  }
  o += fmt::format(
      "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"none\" "
      "stroke=\"#333\"/>\n",
      f2(bx), f2(by0), f2(bar_w), f2(by1 - by0));
  const double mid = (m.v_min + m.v_max) / 2;
  for (const auto& [v, py] : std::array<std::pair<double, double>, 3>{
           {{m.v_max, by0}, {mid, (by0 + by1) / 2}, {m.v_min, by1}}}) {
    o += fmt::format("<text x=\"{}\" y=\"{}\" font-size=\"{}\">{}</text>\n", f2(bx + bar_w + 4),
                     f2(py + 4), kTickFont, escape(fmt::format("{:.3g}", v)));
  }
  if (!m.scale_label.empty()) {
    const double sx = m.width - 8.0, sy = (by0 + by1) / 2;
    o += fmt::format(
        "<text x=\"{0}\" y=\"{1}\" text-anchor=\"middle\" transform=\"rotate(-90 {0} {1})\">{2}"
        "</text>\n",
        f2(sx), f2(sy), escape(m.scale_label));
  }
  o += "</g>\n";
  return o + "</svg>\n";
}

}  // namespace sfb::io::svg
