#pragma once
#include <string>
#include <vector>

// The project's small SVG chart writer: line and scatter plots with error bars or intervals,
// grouped bar charts and annotated matrices. Used for the per-run figures of `interactions` and
// for every figure of `sfbench report`. Output is a self-contained <svg> element (it also works
// as a standalone .svg file): no scripts, no external fonts, no element ids (many charts share
// one HTML page).
//
// Every chart element that shows a number carries it in data attributes with 17 significant
// digits, so tests (and users) can read the plotted values back from the DOM:
//   points:       <g class="sfb-point" data-series=".." data-x=".." data-y=".." [data-low/high]>
//   bars:         <rect class="sfb-bar" data-series=".." data-category=".." data-value=".."
//                  [data-low=".." data-high=".."]>
//   matrix cells: <rect class="sfb-cell" data-row=".." data-col=".." data-value="..">
// Non-finite values are not drawn (no element); attribute values are XML-escaped.
//
// Titles longer than the chart's width are wrapped on word boundaries onto at most two lines,
// the second shortened with "…" if still too long; the full title is always the first child,
// <title>full title</title>, which browsers show as a tooltip and which is_sfbench_plot()-style
// checks can find within the first few hundred bytes.
//
// Also, beyond the above: a point carries data-err (its y_err) and data-x-low/data-x-high (its x
// interval); its data-low/data-high are y_low/y_high, else y ∓ y_err. Matrix cells carry
// data-row/data-col as 0-based indices and data-row-label/data-col-label; a non-finite cell is a
// <rect class="sfb-cell-missing"> without data-value. Each series is a <g class="sfb-series"
// data-series="..">; the legend is <g class="sfb-legend">, the title lines
// <text class="sfb-title">. Elements with numbers have a <title> tooltip. An optional vector of
// the wrong length (or x and y of different lengths, a matrix row of another width) throws
// sfb::Error (an internal invariant). A BarChart with an automatic y_max also extends its axis
// below y_min when a value or interval end lies below it (bars still start at y_min).
namespace sfb::io::svg {

/// One series of an XyPlot. x and y have one entry per point; the optional vectors are empty or
/// have one entry per point. A point whose y is not finite is skipped (and breaks the line).
struct Series {
  std::string label;                      ///< legend text (no legend entry when empty)
  std::vector<double> x, y;               ///< positions in data units
  std::vector<double> y_err;              ///< symmetric ±error bar half-length (e.g. 1 SE)
  std::vector<double> y_low, y_high;      ///< asymmetric vertical interval (e.g. a 95 % CI)
  std::vector<double> x_low, x_high;      ///< horizontal interval (scatter plots with CIs on x)
  std::vector<std::string> point_labels;  ///< text drawn next to each point (e.g. model names)
  std::string color;                      ///< CSS colour; empty: the palette's next colour
  bool lines = true;                      ///< connect consecutive points
  bool markers = true;                    ///< draw a marker per point
  bool dashed = false;                    ///< dashed line
};

/// An x/y chart (lines, scatter, or both). Axis ranges cover every finite value, interval end
/// and error bar, padded by 5 %; a dotted zero line is drawn when the y range contains 0.
struct XyPlot {
  std::string title;
  std::string xlabel, ylabel;  ///< axis titles, units included (e.g. "ε (L∞, /255)")
  std::vector<Series> series;
  bool log_y = false;             ///< logarithmic y axis (non-positive values are skipped)
  int width = 640, height = 420;  ///< pixels
};

/// One bar per category in each series of a BarChart; values[i] belongs to categories[i].
struct BarSeries {
  std::string label;              ///< legend text
  std::vector<double> values;     ///< one per category; non-finite: no bar
  std::vector<double> low, high;  ///< empty or one per category: an interval drawn on the bar
  std::string color;              ///< empty: palette
};

/// Grouped vertical bars: one group per category, one bar per series within a group.
struct BarChart {
  std::string title;
  std::string xlabel, ylabel;
  std::vector<std::string> categories;  ///< x tick labels (rotated when long)
  std::vector<BarSeries> series;
  double y_min = 0;  ///< bottom of the y axis (bars start here)
  double y_max = 0;  ///< top of the y axis; ≤ y_min: from the data (padded by 5 %)
  int width = 640, height = 420;
};

/// A matrix of numbers as coloured cells (values[r][c]), each annotated with text[r][c] (or the
/// value with 3 decimals when text is empty), with row and column labels and a colour scale.
struct Matrix {
  std::string title;
  std::vector<std::string> row_labels, col_labels;
  std::vector<std::vector<double>> values;     ///< [rows][cols]; non-finite: grey cell, "–"
  std::vector<std::vector<std::string>> text;  ///< empty or [rows][cols]
  double v_min = -1, v_max = 1;                ///< the colour scale's range (diverging at mid)
  std::string scale_label;                     ///< e.g. "Spearman ρ"
  int width = 640, height = 420;
};

/// The chart as an <svg xmlns="http://www.w3.org/2000/svg" ...> element with a viewBox of
/// width×height, a <title> first, axes with 1-2-5 ticks, axis titles, a legend (when any series
/// has a label; drawn below the plot, never over data, the SVG growing by 14 + 18 px per labelled
/// series) and the data attributes described above.
std::string render(const XyPlot& plot);
std::string render(const BarChart& chart);
std::string render(const Matrix& matrix);

/// `s` with &, <, >, " and ' replaced by their XML entities.
std::string escape(const std::string& s);

}  // namespace sfb::io::svg
