#pragma once
#include <string>
#include <vector>

// A small SVG line-plot writer for the interaction figures (internal to the module).
namespace sfb::interactions::detail {

/// One line: points (x, y) with optional ±err bars; non-finite y values are left out.
struct Series {
  std::string label;
  std::vector<double> x, y, err;  ///< err empty or one per point
  std::string color = "#1f77b4";
  bool dashed = false;
};

/// A plot: title, axis labels, lines.
struct Plot {
  std::string title, xlabel, ylabel;
  std::vector<Series> series;
};

/// The plot as a self-contained SVG document (640×420 px): axes with ticks, a dotted zero line
/// when the y range contains 0, error bars, markers and a legend.
std::string render_svg(const Plot& plot);

}  // namespace sfb::interactions::detail
