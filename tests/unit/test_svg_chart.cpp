// The SVG chart writer (io/svg_chart.hpp): every chart is parsed back (balanced tags, valid
// entities) and its data attributes read with strtod must give the input doubles exactly;
// non-finite points have no element, text is escaped, long titles wrap onto two lines with the
// full title in the first child <title>, legends list the labels, log axes skip values ≤ 0, ticks
// follow 1-2-5 steps, bars and matrix cells carry their values.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <limits>
#include <map>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "io/svg_chart.hpp"

namespace sfb::io::svg {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();

/// The XML entities of escape() turned back into characters.
std::string unescape(const std::string& s) {
  static const std::map<std::string, std::string> kEntities = {
      {"&amp;", "&"}, {"&lt;", "<"}, {"&gt;", ">"}, {"&quot;", "\""}, {"&#39;", "'"}};
  std::string out;
  for (size_t i = 0; i < s.size();) {
    bool done = false;
    for (const auto& [e, c] : kEntities) {
      if (s.compare(i, e.size(), e) == 0) {
        out += c;
        i += e.size();
        done = true;
        break;
      }
    }
    if (!done) out += s[i++];
  }
  return out;
}

/// "" when `svg` is one well-formed <svg> element (every start tag closed in order, quoted
/// attributes, no raw '<' in them, every '&' one of the five entities), else what is wrong.
std::string xml_problem(const std::string& svg) {
  std::vector<std::string> open;
  const std::regex entity("^&(amp|lt|gt|quot|#39);");
  for (size_t i = 0; i < svg.size(); ++i) {
    if (svg[i] == '&' && !std::regex_search(svg.substr(i, 8), entity)) {
      return "bad entity at " + std::to_string(i);
    }
    if (svg[i] != '<') continue;
    // The tag ends at the first '>' outside quotes.
    size_t j = i + 1;
    bool quoted = false;
    for (; j < svg.size() && (quoted || svg[j] != '>'); ++j) {
      if (svg[j] == '"') quoted = !quoted;
      if (quoted && svg[j] == '<') return "'<' in an attribute at " + std::to_string(j);
    }
    if (j == svg.size()) return "unterminated tag at " + std::to_string(i);
    const std::string tag = svg.substr(i + 1, j - i - 1);
    const std::string name =
        tag.substr(tag[0] == '/', tag.find_first_of(" />", 1) - (tag[0] == '/'));
    if (tag[0] == '/') {
      if (open.empty() || open.back() != name) return "unbalanced </" + name + ">";
      open.pop_back();
      if (open.empty() && svg.find('<', j) != std::string::npos) return "content after root";
    } else if (tag.back() != '/') {
      if (open.empty() && name != "svg") return "root is <" + name + ">";
      open.push_back(name);
    }
    i = j;
  }
  return open.empty() ? "" : "unclosed <" + open.back() + ">";
}

using Attrs = std::map<std::string, std::string>;

/// The attributes (unescaped) of every element whose class attribute is `cls`, in order.
std::vector<Attrs> elements(const std::string& svg, const std::string& cls) {
  std::vector<Attrs> out;
  const std::regex tag("<[a-z]+ class=\"" + cls + "\"([^>]*)>");
  const std::regex attr("([a-z-]+)=\"([^\"]*)\"");
  for (auto it = std::sregex_iterator(svg.begin(), svg.end(), tag); it != std::sregex_iterator();
       ++it) {
    Attrs a;
    const std::string body = (*it)[1];
    for (auto at = std::sregex_iterator(body.begin(), body.end(), attr);
         at != std::sregex_iterator(); ++at) {
      a[(*at)[1]] = unescape((*at)[2]);
    }
    out.push_back(a);
  }
  return out;
}

/// strtod of the whole string (fails the test when it is not one number).
double number(const std::string& s) {
  char* end = nullptr;
  const double v = std::strtod(s.c_str(), &end);
  EXPECT_TRUE(!s.empty() && *end == '\0') << "not a number: '" << s << "'";
  return v;
}

/// The texts (unescaped) of the <text> elements between `from` and the next `until`.
std::vector<std::string> texts(const std::string& svg, const std::string& from,
                               const std::string& until, const std::string& text_attrs = "") {
  const size_t a = svg.find(from);
  if (a == std::string::npos) return {};
  const std::string part = svg.substr(a, svg.find(until, a + from.size()) - a);
  std::vector<std::string> out;
  const std::regex text("<text" + text_attrs + "[^>]*>([^<]*)</text>");
  for (auto it = std::sregex_iterator(part.begin(), part.end(), text); it != std::sregex_iterator();
       ++it) {
    out.push_back(unescape((*it)[1]));
  }
  return out;
}

size_t count(const std::string& s, const std::string& what) {
  size_t n = 0;
  for (size_t at = s.find(what); at != std::string::npos; at = s.find(what, at + 1)) ++n;
  return n;
}

size_t utf8_chars(const std::string& s) {
  size_t n = 0;
  for (const char c : s) n += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  return n;
}

TEST(SvgChart, XyDataAttributesRoundTripExactly) {
  const std::vector<double> x = {0.1, 1.0 / 3.0, -2.5e-300, 123456789.123456789, M_PI};
  const std::vector<double> y = {1e-17, -0.7, 2.0 / 3.0, 1e300, std::sqrt(2.0)};
  XyPlot p;
  p.title = "round trip";
  Series s;
  s.label = "s";
  s.x = x;
  s.y = y;
  s.y_low = {0.01, -1.1, 0.5, 9e299, 1.0 / 7.0};
  s.y_high = {0.2, -0.3, 0.9, 2e300, 3.0};
  s.y_err = {0.3, 0.1, 1e-3, 1.0 / 9.0, 0.25};
  p.series.push_back(s);
  const std::string svg = render(p);
  ASSERT_EQ(xml_problem(svg), "");
  EXPECT_EQ(svg.rfind("<svg xmlns=\"http://www.w3.org/2000/svg\"", 0), 0U);
  const auto points = elements(svg, "sfb-point");
  ASSERT_EQ(points.size(), x.size());
  for (size_t i = 0; i < x.size(); ++i) {
    EXPECT_EQ(points[i].at("data-series"), "s");
    EXPECT_EQ(number(points[i].at("data-x")), x[i]) << i;
    EXPECT_EQ(number(points[i].at("data-y")), y[i]) << i;
    EXPECT_EQ(number(points[i].at("data-low")), s.y_low[i]) << i;
    EXPECT_EQ(number(points[i].at("data-high")), s.y_high[i]) << i;
    EXPECT_EQ(number(points[i].at("data-err")), s.y_err[i]) << i;
  }
}

TEST(SvgChart, NonFinitePointsHaveNoElementAndBreakTheLine) {
  XyPlot p;
  Series s;
  s.x = {0, 1, 2, 3, 4, kNaN, 6};
  s.y = {1, 2, kNaN, 4, 5, 6, kInf};
  s.y_err = {0.1, kNaN, 0.1, 0.1, 0.1, 0.1, 0.1};
  p.series.push_back(s);
  const std::string svg = render(p);
  ASSERT_EQ(xml_problem(svg), "");
  const auto points = elements(svg, "sfb-point");
  ASSERT_EQ(points.size(), 4U);
  EXPECT_EQ(points[0].at("data-x"), "0");
  EXPECT_EQ(points[1].at("data-x"), "1");
  EXPECT_EQ(points[1].count("data-err"), 0U);  // its error is NaN: no bar, no attribute
  EXPECT_EQ(points[2].at("data-x"), "3");
  EXPECT_EQ(points[3].at("data-x"), "4");
  EXPECT_EQ(count(svg, "<polyline"), 2U);  // (0, 1) and (3, 4)
  EXPECT_FALSE(std::regex_search(svg, std::regex("[\">,( ][-+]?(nan|inf)", std::regex::icase)));
}

TEST(SvgChart, TextIsEscaped) {
  const std::string nasty = "a<b&c\"d'e>";
  XyPlot p;
  p.title = "T " + nasty;
  p.xlabel = "x " + nasty;
  p.ylabel = "y " + nasty;
  Series s;
  s.label = nasty;
  s.x = {1, 2};
  s.y = {3, 4};
  s.point_labels = {nasty, ""};
  p.series.push_back(s);
  const std::string svg = render(p);
  ASSERT_EQ(xml_problem(svg), "");
  EXPECT_EQ(svg.find(nasty), std::string::npos);
  EXPECT_NE(svg.find("a&lt;b&amp;c&quot;d&#39;e&gt;"), std::string::npos);
  EXPECT_EQ(elements(svg, "sfb-point").at(0).at("data-series"), nasty);
  EXPECT_EQ(escape("<&>\"'"), "&lt;&amp;&gt;&quot;&#39;");
  EXPECT_EQ(escape("plain ε"), "plain ε");
}

TEST(SvgChart, LongTitleWrapsOntoTwoLinesWithTheFullTitleFirst) {
  std::string title;
  for (int i = 0; title.size() < 300; ++i) title += "word" + std::to_string(i) + " ";
  title.resize(300);
  XyPlot p;
  p.title = title;
  const std::string svg = render(p);
  ASSERT_EQ(xml_problem(svg), "");
  // The full title is the first child of <svg>.
  EXPECT_EQ(svg.find("<title>"), svg.find('>') + 1);
  EXPECT_EQ(svg.substr(svg.find("<title>") + 7, title.size() + 8), title + "</title>");
  const auto lines = texts(svg, "<svg", "</svg>", " class=\"sfb-title\"");
  ASSERT_EQ(lines.size(), 2U);
  const size_t per_line = 640 - 20;  // pixels for the title; no line is wider than that
  for (const auto& l : lines) EXPECT_LE(utf8_chars(l) * 15 * 0.6, per_line) << l;
  EXPECT_GT(utf8_chars(lines[0]) * 15 * 0.6, per_line / 2) << lines[0];
  EXPECT_EQ(title.rfind(lines[0], 0), 0U);  // a prefix ...
  EXPECT_EQ(title[lines[0].size()], ' ');   // ... broken at a space
  ASSERT_GE(lines[1].size(), 3U);
  EXPECT_EQ(lines[1].substr(lines[1].size() - 3), "…");  // shortened
  const std::string rest = lines[1].substr(0, lines[1].size() - 3);
  EXPECT_EQ(title.find(rest), lines[0].size() + 1);  // continues the first line

  // A short title is one line and not shortened.
  p.title = "Short title";
  const auto one = texts(render(p), "<svg", "</svg>", " class=\"sfb-title\"");
  EXPECT_EQ(one, std::vector<std::string>{"Short title"});
}

TEST(SvgChart, LongModelSpecWithoutSpacesWraps) {
  std::string path = "torchscript:";
  while (path.size() < 190) path += "/very/long/path";
  path += "/model.pt";
  XyPlot p;
  p.title = "Multi-order interaction I(m): " + path;
  const std::string svg = render(p);
  const auto lines = texts(svg, "<svg", "</svg>", " class=\"sfb-title\"");
  ASSERT_EQ(lines.size(), 2U);
  EXPECT_EQ(p.title.rfind(lines[0], 0), 0U);
  EXPECT_EQ(lines[0].back(), '/');  // broken after a path separator
  EXPECT_LE(utf8_chars(lines[0]) * 15 * 0.6, 620);
  EXPECT_LE(utf8_chars(lines[1]) * 15 * 0.6, 620);
  EXPECT_NE(svg.find("<title>" + escape(p.title) + "</title>"), std::string::npos);
  EXPECT_LT(svg.find("<title>"), 300U);
}

TEST(SvgChart, LegendListsTheLabelledSeries) {
  XyPlot p;
  for (const char* label : {"normal", "", "adversarial"}) {
    Series s;
    s.label = label;
    s.x = {0, 1};
    s.y = {0, 1};
    p.series.push_back(s);
  }
  const std::string svg = render(p);
  ASSERT_EQ(xml_problem(svg), "");
  EXPECT_EQ(texts(svg, "<g class=\"sfb-legend\"", "</g>"),
            (std::vector<std::string>{"normal", "adversarial"}));
  // Palette colours differ between series; an explicit colour is used as given.
  const std::regex stroke("<polyline [^>]*stroke=\"(#[0-9a-f]{6})\"");
  std::set<std::string> colours;
  for (auto it = std::sregex_iterator(svg.begin(), svg.end(), stroke); it != std::sregex_iterator();
       ++it) {
    colours.insert((*it)[1]);
  }
  EXPECT_EQ(colours.size(), 3U);
  p.series[0].color = "#123456";
  EXPECT_NE(render(p).find("stroke=\"#123456\""), std::string::npos);
  // No labels: no legend.
  for (auto& s : p.series) s.label.clear();
  EXPECT_EQ(render(p).find("sfb-legend"), std::string::npos);
}

TEST(SvgChart, LogYSkipsNonPositiveValuesAndSpacesDecadesEqually) {
  XyPlot p;
  p.log_y = true;
  Series s;
  s.x = {0, 1, 2, 3, 4};
  s.y = {-1, 0, 0.01, 1, 100};
  p.series.push_back(s);
  const std::string svg = render(p);
  ASSERT_EQ(xml_problem(svg), "");
  const auto points = elements(svg, "sfb-point");
  ASSERT_EQ(points.size(), 3U);
  EXPECT_EQ(number(points[0].at("data-y")), 0.01);
  // Marker heights: log scale, 0.01 → 1 and 1 → 100 are the same distance.
  const std::regex cy("<circle cx=\"[^\"]+\" cy=\"([^\"]+)\"");
  std::vector<double> ys;
  for (auto it = std::sregex_iterator(svg.begin(), svg.end(), cy); it != std::sregex_iterator();
       ++it) {
    ys.push_back(number((*it)[1]));
  }
  ASSERT_EQ(ys.size(), 3U);
  EXPECT_GT(ys[0], ys[1]);
  EXPECT_NEAR(ys[0] - ys[1], ys[1] - ys[2], 0.02);
  const auto ticks = texts(svg, "<g class=\"sfb-axes\"", "</g>",
                           " x=\"[^\"]+\" y=\"[^\"]+\" "
                           "text-anchor=\"end\"");
  EXPECT_EQ(ticks, (std::vector<std::string>{"0.01", "0.1", "1", "10", "100"}));
}

TEST(SvgChart, LinearTicksFollowOneTwoFiveSteps) {
  XyPlot p;
  Series s;
  s.x = {0, 7.3};
  s.y = {0.0012, 0.0031};
  p.series.push_back(s);
  const std::string svg = render(p);
  const auto xt = texts(svg, "<g class=\"sfb-axes\"", "</g>",
                        " x=\"[^\"]+\" y=\"[^\"]+\" "
                        "text-anchor=\"middle\"");
  EXPECT_EQ(xt, (std::vector<std::string>{"0", "2", "4", "6"}));
  const auto yt = texts(svg, "<g class=\"sfb-axes\"", "</g>",
                        " x=\"[^\"]+\" y=\"[^\"]+\" "
                        "text-anchor=\"end\"");
  EXPECT_EQ(yt, (std::vector<std::string>{"0.0015", "0.0020", "0.0025", "0.0030"}));
}

TEST(SvgChart, BarsCarryTheirValuesAndIntervals) {
  BarChart c;
  c.title = "bars";
  c.categories = {"clean", "PGD & co", "AutoAttack"};
  c.series = {{"model A", {0.9, 0.45, 0.4}, {0.85, 0.4, 0.35}, {0.95, 0.5, 0.45}, ""},
              {"model B", {0.8, kNaN, 0.1 + 0.2}, {}, {}, "#00ff00"}};
  const std::string svg = render(c);
  ASSERT_EQ(xml_problem(svg), "");
  const auto bars = elements(svg, "sfb-bar");
  ASSERT_EQ(bars.size(), 5U);  // the NaN has no bar
  EXPECT_EQ(bars[1].at("data-category"), "PGD & co");
  EXPECT_EQ(bars[1].at("data-series"), "model A");
  EXPECT_EQ(number(bars[1].at("data-value")), 0.45);
  EXPECT_EQ(number(bars[1].at("data-low")), 0.4);
  EXPECT_EQ(number(bars[1].at("data-high")), 0.5);
  EXPECT_EQ(number(bars[4].at("data-value")), 0.1 + 0.2);
  EXPECT_EQ(bars[4].at("data-category"), "AutoAttack");
  EXPECT_EQ(bars[4].count("data-low"), 0U);
  EXPECT_EQ(bars[4].at("fill"), "#00ff00");
  // Bars start at y_min = 0: heights are proportional to the values.
  const double unit = number(bars[0].at("height")) / 0.9;
  for (const auto& b : bars) {
    EXPECT_NEAR(number(b.at("height")), unit * number(b.at("data-value")), 0.02);
  }
  EXPECT_EQ(texts(svg, "<g class=\"sfb-legend\"", "</g>"),
            (std::vector<std::string>{"model A", "model B"}));
  EXPECT_EQ(texts(svg, "<g class=\"sfb-categories\"", "</g>"),
            (std::vector<std::string>{"clean", "PGD & co", "AutoAttack"}));
}

TEST(SvgChart, MatrixCellsCarryRowColumnAndValue) {
  Matrix m;
  m.title = "agreement";
  m.row_labels = {"saliency", "IG"};
  m.col_labels = {"a", "b", "c"};
  m.values = {{1.0, -1.0, 0.0}, {1.0 / 3.0, kNaN, 0.5}};
  m.text = {{"1", "-1", "0"}, {"", "", "0.5 [0.4, 0.6]"}};
  m.scale_label = "Spearman ρ";
  const std::string svg = render(m);
  ASSERT_EQ(xml_problem(svg), "");
  const auto cells = elements(svg, "sfb-cell");
  ASSERT_EQ(cells.size(), 5U);
  std::map<std::pair<int, int>, Attrs> at;
  for (const auto& c : cells) at[{std::stoi(c.at("data-row")), std::stoi(c.at("data-col"))}] = c;
  auto cell = [&](int r, int c) -> Attrs& { return at[{r, c}]; };
  EXPECT_EQ(number(cell(1, 0).at("data-value")), 1.0 / 3.0);
  EXPECT_EQ(number(cell(0, 1).at("data-value")), -1.0);
  EXPECT_EQ(cell(1, 2).at("data-row-label"), "IG");
  EXPECT_EQ(cell(1, 2).at("data-col-label"), "c");
  EXPECT_EQ(at.count({1, 1}), 0U);  // NaN: no sfb-cell, a grey one
  EXPECT_EQ(elements(svg, "sfb-cell-missing").size(), 1U);
  // Diverging colours: the scale's ends and middle.
  EXPECT_EQ(cell(0, 0).at("fill"), "#b2182b");
  EXPECT_EQ(cell(0, 1).at("fill"), "#2166ac");
  EXPECT_EQ(cell(0, 2).at("fill"), "#f7f7f7");
  // Annotations: the given text, or the value with 3 decimals, "–" for NaN.
  const auto notes = texts(svg, "<g class=\"sfb-cells\"", "</g>");
  EXPECT_EQ(notes, (std::vector<std::string>{"1", "-1", "0", "0.333", "–", "0.5 [0.4, 0.6]"}));
  EXPECT_NE(svg.find("class=\"sfb-colorbar\""), std::string::npos);
  EXPECT_NE(svg.find("Spearman ρ"), std::string::npos);
}

TEST(SvgChart, EveryOptionRendersWellFormed) {
  // Scatter with horizontal and vertical intervals, point labels, no lines; a dashed line
  // without markers.
  XyPlot p;
  p.title = "ε (L∞, /255) vs ρ";
  Series a;
  a.label = "models";
  a.x = {0.1, 0.2};
  a.y = {0.3, 0.4};
  a.x_low = {0.05, 0.15};
  a.x_high = {0.125, 0.3};
  a.y_low = {0.25, kNaN};  // half an interval: no interval on that point
  a.y_high = {0.35, 0.5};
  a.point_labels = {"wrn-28-10", "resnet <18>"};
  a.lines = false;
  Series b;
  b.label = "trend";
  b.x = {0, 1};
  b.y = {0, 1};
  b.markers = false;
  b.dashed = true;
  p.series = {a, b};
  std::string svg = render(p);
  ASSERT_EQ(xml_problem(svg), "");
  const auto points = elements(svg, "sfb-point");
  ASSERT_EQ(points.size(), 4U);
  EXPECT_EQ(number(points[0].at("data-x-low")), 0.05);
  EXPECT_EQ(number(points[1].at("data-x-high")), 0.3);
  EXPECT_EQ(points[1].count("data-low"), 0U);
  EXPECT_EQ(count(svg, "<polyline"), 1U);
  EXPECT_EQ(count(svg, "stroke-dasharray=\"6,4\""), 2U);  // the line and its legend sample
  EXPECT_EQ(count(svg, "<circle"), 3U);                   // 2 markers and one legend marker
  EXPECT_NE(svg.find(">resnet &lt;18&gt;</text>"), std::string::npos);

  // Bars with long (rotated, shortened) categories and a fixed axis that cuts the first bar.
  BarChart c;
  c.categories = {std::string(80, 'c'), "a much longer category name than fits", "short"};
  c.series = {{"", {1.5, 0.5, kInf}, {}, {}, ""}};
  c.y_max = 1;
  svg = render(c);
  ASSERT_EQ(xml_problem(svg), "");
  EXPECT_NE(svg.find("rotate(-40"), std::string::npos);
  EXPECT_EQ(svg.find("sfb-legend"), std::string::npos);  // no labelled series
  const auto bars = elements(svg, "sfb-bar");
  ASSERT_EQ(bars.size(), 2U);
  EXPECT_EQ(number(bars[0].at("data-value")), 1.5);  // drawn up to y_max, value kept
  EXPECT_NEAR(number(bars[0].at("height")), 2 * number(bars[1].at("height")), 0.02);
  for (const auto& t : texts(svg, "<g class=\"sfb-categories\"", "</g>")) {
    EXPECT_LE(utf8_chars(t), 40U) << t;
  }

  // A matrix with long column labels (rotated: 6 columns of about 90 px), no text and a
  // non-default scale.
  Matrix m;
  m.row_labels = {"r"};
  for (int i = 0; i < 6; ++i)
    m.col_labels.push_back("layer-integrated-gradients-" + std::to_string(i));
  m.values = {{0.0, 10.0, 5.0, 2.5, 7.5, 1.0 / 3.0}};
  m.v_min = 0;
  m.v_max = 10;
  svg = render(m);
  ASSERT_EQ(xml_problem(svg), "");
  EXPECT_NE(svg.find("rotate(-45"), std::string::npos);
  EXPECT_EQ(elements(svg, "sfb-cell").at(0).at("fill"), "#2166ac");
  EXPECT_EQ(elements(svg, "sfb-cell").at(2).at("fill"), "#f7f7f7");
  EXPECT_EQ(texts(svg, "<g class=\"sfb-cells\"", "</g>"),
            (std::vector<std::string>{"0.000", "10.000", "5.000", "2.500", "7.500", "0.333"}));
  // Empty charts are still one well-formed <svg> with a <title>.
  for (const std::string& e : {render(XyPlot{}), render(BarChart{}), render(Matrix{})}) {
    EXPECT_EQ(xml_problem(e), "");
    EXPECT_NE(e.find("<title></title>"), std::string::npos);
  }
}

TEST(SvgChart, MismatchedLengthsThrow) {
  XyPlot p;
  Series s;
  s.x = {1, 2};
  s.y = {1};
  p.series.push_back(s);
  EXPECT_THROW(render(p), Error);
  p.series[0].y = {1, 2};
  p.series[0].y_err = {1};
  EXPECT_THROW(render(p), Error);
  BarChart c;
  c.categories = {"a"};
  c.series = {{"s", {1, 2}, {}, {}, ""}};
  EXPECT_THROW(render(c), Error);
  Matrix m;
  m.values = {{1, 2}, {3}};
  EXPECT_THROW(render(m), Error);
}

}  // namespace
}  // namespace sfb::io::svg
