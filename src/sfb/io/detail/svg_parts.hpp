#pragma once
#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <limits>
#include <string>
#include <vector>

#include "core/error.hpp"

// The parts every chart of io/svg_chart.hpp is made of: number and text formatting, title
// wrapping, axes with 1-2-5 or decade ticks, legends and interval whiskers. Coordinates are
// pixels of the chart's viewBox. There are no font metrics: text widths are estimated as kCharEm
// font sizes per character (a generous average for sans-serif), which decides where titles wrap
// and where labels are shortened.
namespace sfb::io::svg::detail {

/// The series colours, in the order series without a colour of their own take them.
inline constexpr std::array<const char*, 10> kPalette = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e",
                                                         "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
                                                         "#bcbd22", "#17becf"};
inline constexpr double kFont = 12;       // axis titles, legend
inline constexpr double kTickFont = 11;   // tick, category, row and column labels
inline constexpr double kSmallFont = 10;  // point labels
inline constexpr double kTitleFont = 15;
inline constexpr double kTitleLine = 18;  // distance between the title's baselines
inline constexpr double kCharEm = 0.6;    // estimated width of one character, in font sizes
inline constexpr double kPad = 0.05;      // axis padding, a fraction of the data range
inline constexpr double kInf = std::numeric_limits<double>::infinity();

/// A data attribute's number: 17 significant digits, so strtod gives back the same double.
std::string num(double v);

/// A pixel coordinate.
std::string f2(double v);

/// A number for people (tooltips): 4 significant digits.
std::string short_num(double v);

/// `s` split into UTF-8 characters (a stray continuation byte joins the character before it).
std::vector<std::string> chars(const std::string& s);

/// The estimated width in pixels of `s` in a font of size `font`.
double text_width(const std::string& s, double font);

/// How many characters of size `font` fit in `width` pixels (at least 1).
size_t fit(double width, double font);

/// `s` when it has at most `max` characters, else its first max − 1 characters and "…".
std::string shorten(const std::string& s, size_t max);

/// `title` on one line of at most `per_line` characters, or on two: the first broken at the last
/// space that leaves it at least half full, else after the last '/', ':', ',', ';', '_', '-' or
/// '@' in its second half (paths and model specs), else after per_line characters; the second
/// shortened with "…" when still too long.
std::vector<std::string> wrap_title(const std::string& title, size_t per_line);

/// The <svg> start tag, the full title as its first child and a white background.
std::string open_svg(const char* kind, int width, int height, const std::string& title);

/// The title's (at most two) lines centred at the top; returns the y below them.
double draw_title(std::string& o, const std::string& title, int width);

/// A linear or log10 axis: data value → pixel.
struct Axis {
  double lo = 0, hi = 1;  // the range (log10 units when log)
  bool log = false;
  double p0 = 0, p1 = 1;  // pixels of lo and hi
  double operator()(double v) const {
    const double t = log ? std::log10(v) : v;
    return p0 + (t - lo) / (hi - lo) * (p1 - p0);
  }
  /// The pixel of v, kept inside the axis (log: v ≤ 0 goes to lo).
  double clamped(double v) const {
    if (log && !(v > 0)) return p0;
    return std::clamp((*this)(v), std::min(p0, p1), std::max(p0, p1));
  }
};

/// The smallest interval holding every finite value added.
struct Range {
  double lo = kInf, hi = -kInf;
  void add(double v) {
    if (std::isfinite(v)) lo = std::min(lo, v), hi = std::max(hi, v);
  }
  bool empty() const { return lo > hi; }
};

/// The range padded by kPad of its length; a single value v by 10 % of |v| (0.5 when v = 0 or
/// on a log axis); [lo0, hi0] when empty.
Range padded(const Range& r, double lo0, double hi0, bool log);

/// An axis tick: its value and label.
struct Tick {
  double value;
  std::string text;
};

/// Ticks at multiples of a 1-2-5 step covering [lo, hi], about `target` of them, labelled with
/// the decimals the step needs.
std::vector<Tick> linear_ticks(double lo, double hi, int target);

/// Ticks of a log10 axis over [lo, hi] (log10 units): powers of ten (every k-th when there are
/// many decades), also 2 and 5 times them below 3 decades, linear ticks within one.
std::vector<Tick> log_ticks(double lo, double hi);

/// The plot area's frame, grid lines, tick labels and axis titles.
void draw_axes(std::string& o, const Axis& x, const std::vector<Tick>& xt, const Axis& y,
               const std::vector<Tick>& yt, const std::string& xlabel, const std::string& ylabel,
               int height);

/// A dotted line at y = 0 across the plot area when 0 lies strictly inside the y range.
void draw_zero_line(std::string& o, const Axis& x, const Axis& y);

/// One legend line: a line sample, a marker or a colour swatch, and the label.
struct LegendEntry {
  std::string label, color;
  bool line = false, dashed = false, marker = false, swatch = false;
};

/// The height a legend of `entries` lines takes below a chart (0 without entries): the chart's
/// SVG is that much taller than its plot, so the legend never covers data.
double legend_height(size_t entries);

/// A boxed legend below the chart: its top-left corner at (x0, y0), one line per entry.
void draw_legend(std::string& o, const std::vector<LegendEntry>& entries, double x0, double y0,
                 int width);

/// A vertical (or horizontal) interval line with end caps of half-length `cap`.
std::string interval(double a0, double a1, double b, bool vertical, double cap,
                     const std::string& color, double stroke_width);

/// Checks that an optional per-point vector is empty or has `n` entries.
template <class T>
void check_size(const std::vector<T>& v, size_t n, const std::string& what) {
  SFB_ASSERT(v.empty() || v.size() == n, "svg chart: " + what + " has " + std::to_string(v.size()) +
                                             " entries for " + std::to_string(n) + " points");
}

/// True when v has an entry i and it is finite.
bool finite_at(const std::vector<double>& v, size_t i);

}  // namespace sfb::io::svg::detail
