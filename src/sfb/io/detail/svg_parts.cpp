#include "io/detail/svg_parts.hpp"

#include <fmt/format.h>

#include <cstdio>

#include "io/svg_chart.hpp"

namespace sfb::io::svg::detail {
namespace {

/// Characters [from, to) of `g` joined.
std::string join(const std::vector<std::string>& g, size_t from, size_t to) {
  std::string out;
  for (size_t i = from; i < to && i < g.size(); ++i) out += g[i];
  return out;
}

/// Characters after which a long title may break when it has no space to break at.
bool breaks_after(const std::string& c) {
  return c == "/" || c == ":" || c == "," || c == ";" || c == "_" || c == "-" || c == "@";
}

}  // namespace

std::string num(double v) {
  char buf[40];
  std::snprintf(buf, sizeof(buf), "%.17g", v);
  return buf;
}

std::string f2(double v) { return fmt::format("{:.2f}", v); }

std::string short_num(double v) { return fmt::format("{:.4g}", v); }

std::vector<std::string> chars(const std::string& s) {
  std::vector<std::string> g;
  for (const char c : s) {
    if (g.empty() || (static_cast<unsigned char>(c) & 0xC0) != 0x80) g.emplace_back();
    g.back() += c;
  }
  return g;
}

double text_width(const std::string& s, double font) {
  return static_cast<double>(chars(s).size()) * kCharEm * font;
}

size_t fit(double width, double font) {
  return static_cast<size_t>(std::max(1.0, std::floor(width / (kCharEm * font))));
}

std::string shorten(const std::string& s, size_t max) {
  const auto g = chars(s);
  if (g.size() <= max) return s;
  return join(g, 0, max > 0 ? max - 1 : 0) + "…";
}

std::vector<std::string> wrap_title(const std::string& title, size_t per_line) {
  const auto g = chars(title);
  if (g.size() <= per_line) return {title};
  size_t cut = 0, next = 0;
  for (size_t i = per_line; i > per_line / 2 && cut == 0; --i) {
    if (g[i] == " ") cut = i, next = i + 1;
  }
  for (size_t i = per_line; i > per_line / 2 && cut == 0; --i) {
    if (breaks_after(g[i - 1])) cut = next = i;
  }
  if (cut == 0) cut = next = per_line;
  while (cut > 0 && g[cut - 1] == " ") --cut;
  while (next < g.size() && g[next] == " ") ++next;
  return {join(g, 0, cut), shorten(join(g, next, g.size()), per_line)};
}

std::string open_svg(const char* kind, int width, int height, const std::string& title) {
  return fmt::format(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"sfb-chart sfb-{0}\" width=\"{1}\" "
      "height=\"{2}\" viewBox=\"0 0 {1} {2}\" font-family=\"sans-serif\" font-size=\"{3}\">"
      "<title>{4}</title>\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n",
      kind, width, height, kFont, escape(title));
}

double draw_title(std::string& o, const std::string& title, int width) {
  if (title.empty()) return 12;
  const auto lines = wrap_title(title, fit(width - 20.0, kTitleFont));
  for (size_t i = 0; i < lines.size(); ++i) {
    o += fmt::format(
        "<text class=\"sfb-title\" x=\"{}\" y=\"{}\" text-anchor=\"middle\" font-size=\"{}\">{}"
        "</text>\n",
        f2(width / 2.0), f2(22 + kTitleLine * static_cast<double>(i)), kTitleFont,
        escape(lines[i]));
  }
  return 22 + kTitleLine * static_cast<double>(lines.size() - 1) + 10;
}

Range padded(const Range& r, double lo0, double hi0, bool log) {
  if (r.empty()) return {lo0, hi0};
  const double len = r.hi - r.lo;
  if (len > 1e-12 * std::max({1.0, std::abs(r.lo), std::abs(r.hi)})) {
    return {r.lo - kPad * len, r.hi + kPad * len};
  }
  const double d = log || r.lo == 0 ? 0.5 : 0.1 * std::abs(r.lo);
  return {r.lo - d, r.hi + d};
}

std::vector<Tick> linear_ticks(double lo, double hi, int target) {
  const double raw = (hi - lo) / target;
  const double mag = std::pow(10.0, std::floor(std::log10(raw)));
  double step = 10 * mag;
  for (const double f : {1.0, 2.0, 5.0}) {
    if (f * mag >= raw) {
      step = f * mag;
      break;
    }
  }
  const int decimals = std::max(0, -static_cast<int>(std::floor(std::log10(step) + 1e-9)));
  const bool general = std::max(std::abs(lo), std::abs(hi)) >= 1e6 || decimals > 5;
  std::vector<Tick> t;
  const double k0 = std::ceil(lo / step - 1e-9);
  for (int i = 0; i < 100; ++i) {
    double v = (k0 + i) * step;
    if (v > hi + 1e-9 * step) break;
    if (std::abs(v) < 1e-9 * step) v = 0;
    t.push_back({v, general ? fmt::format("{:.3g}", v) : fmt::format("{:.{}f}", v, decimals)});
  }
  return t;
}

std::vector<Tick> log_ticks(double lo, double hi) {
  std::vector<Tick> t;
  const bool fine = hi - lo < 3;
  const int k0 = static_cast<int>(std::floor(lo)), k1 = static_cast<int>(std::ceil(hi));
  const int stride = std::max(1, (k1 - k0 + 7) / 8);
  for (int k = k0; k <= k1; ++k) {
    for (const double f : {1.0, 2.0, 5.0}) {
      if ((f != 1.0 && !fine) || (f == 1.0 && (k - k0) % stride != 0)) continue;
      const double v = f * std::pow(10.0, k);
      const double l = std::log10(v);
      if (l >= lo - 1e-9 && l <= hi + 1e-9) t.push_back({v, fmt::format("{:g}", v)});
    }
  }
  if (t.size() >= 2) return t;
  t.clear();
  for (const Tick& k : linear_ticks(std::pow(10.0, lo), std::pow(10.0, hi), 4)) {
    if (k.value > 0) t.push_back(k);
  }
  return t;
}

void draw_axes(std::string& o, const Axis& x, const std::vector<Tick>& xt, const Axis& y,
               const std::vector<Tick>& yt, const std::string& xlabel, const std::string& ylabel,
               int height) {
  o += "<g class=\"sfb-axes\" font-size=\"" + fmt::format("{}", kTickFont) + "\">\n";
  for (const Tick& t : xt) {
    o += fmt::format(
        "<line x1=\"{0}\" y1=\"{1}\" x2=\"{0}\" y2=\"{2}\" stroke=\"#e3e3e3\"/><text x=\"{0}\" "
        "y=\"{3}\" text-anchor=\"middle\">{4}</text>\n",
        f2(x(t.value)), f2(y.p1), f2(y.p0), f2(y.p0 + 15), escape(t.text));
  }
  for (const Tick& t : yt) {
    o += fmt::format(
        "<line x1=\"{0}\" y1=\"{1}\" x2=\"{2}\" y2=\"{1}\" stroke=\"#e3e3e3\"/><text x=\"{3}\" "
        "y=\"{4}\" text-anchor=\"end\">{5}</text>\n",
        f2(x.p0), f2(y(t.value)), f2(x.p1), f2(x.p0 - 5), f2(y(t.value) + 4), escape(t.text));
  }
  o += fmt::format(
      "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"none\" stroke=\"#333\"/>\n",
      f2(x.p0), f2(y.p1), f2(x.p1 - x.p0), f2(y.p0 - y.p1));
  o += "</g>\n";
  const double mid_y = (y.p0 + y.p1) / 2;
  if (!xlabel.empty()) {
    o += fmt::format(
        "<text class=\"sfb-xlabel\" x=\"{}\" y=\"{}\" text-anchor=\"middle\">{}</text>\n",
        f2((x.p0 + x.p1) / 2), f2(height - 10.0), escape(xlabel));
  }
  if (!ylabel.empty()) {
    o += fmt::format(
        "<text class=\"sfb-ylabel\" x=\"16\" y=\"{0}\" text-anchor=\"middle\" "
        "transform=\"rotate(-90 16 {0})\">{1}</text>\n",
        f2(mid_y), escape(ylabel));
  }
}

void draw_zero_line(std::string& o, const Axis& x, const Axis& y) {
  if (y.log || !(y.lo < 0 && y.hi > 0)) return;
  o += fmt::format(
      "<line class=\"sfb-zero\" x1=\"{0}\" y1=\"{1}\" x2=\"{2}\" y2=\"{1}\" stroke=\"#444\" "
      "stroke-dasharray=\"2,3\"/>\n",
      f2(x.p0), f2(y(0)), f2(x.p1));
}

double legend_height(size_t entries) {
  return entries == 0 ? 0.0 : 14 + 18 * static_cast<double>(entries);
}

void draw_legend(std::string& o, const std::vector<LegendEntry>& entries, double x0, double y0,
                 int width) {
  if (entries.empty()) return;
  const size_t max_chars = fit(width - x0 - 60, kFont);
  double text_w = 0;
  for (const auto& e : entries)
    text_w = std::max(text_w, text_width(shorten(e.label, max_chars), kFont));
  const double w = 40 + text_w, h = 8 + 18 * static_cast<double>(entries.size());
  const double x = x0, y = y0;
  o += fmt::format(
      "<g class=\"sfb-legend\"><rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"white\" "
      "stroke=\"#bbb\"/>\n",
      f2(x), f2(y), f2(w), f2(h));
  for (size_t i = 0; i < entries.size(); ++i) {
    const LegendEntry& e = entries[i];
    const double ly = y + 13 + 18 * static_cast<double>(i);
    if (e.swatch) {
      o += fmt::format("<rect x=\"{}\" y=\"{}\" width=\"18\" height=\"10\" fill=\"{}\"/>",
                       f2(x + 8), f2(ly - 5), escape(e.color));
    }
    if (e.line) {
      o += fmt::format(
          "<line x1=\"{0}\" y1=\"{2}\" x2=\"{1}\" y2=\"{2}\" stroke=\"{3}\" "
          "stroke-width=\"1.8\"{4}/>",
          f2(x + 6), f2(x + 30), f2(ly), escape(e.color),
          e.dashed ? " stroke-dasharray=\"6,4\"" : "");
    }
    if (e.marker) {
      o += fmt::format("<circle cx=\"{}\" cy=\"{}\" r=\"3\" fill=\"{}\"/>", f2(x + 18), f2(ly),
                       escape(e.color));
    }
    o += fmt::format("<text x=\"{}\" y=\"{}\">{}</text>\n", f2(x + 36), f2(ly + 4),
                     escape(shorten(e.label, max_chars)));
  }
  o += "</g>\n";
}

std::string interval(double a0, double a1, double b, bool vertical, double cap,
                     const std::string& color, double stroke_width) {
  auto seg = [&](double xa, double ya, double xb, double yb) {
    return fmt::format("<line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\"/>", f2(xa), f2(ya), f2(xb),
                       f2(yb));
  };
  std::string s = fmt::format("<g stroke=\"{}\" stroke-width=\"{}\">", escape(color), stroke_width);
  if (vertical) {
    s += seg(b, a0, b, a1) + seg(b - cap, a0, b + cap, a0) + seg(b - cap, a1, b + cap, a1);
  } else {
    s += seg(a0, b, a1, b) + seg(a0, b - cap, a0, b + cap) + seg(a1, b - cap, a1, b + cap);
  }
  return s + "</g>";
}

bool finite_at(const std::vector<double>& v, size_t i) {
  return i < v.size() && std::isfinite(v[i]);
}

}  // namespace sfb::io::svg::detail
