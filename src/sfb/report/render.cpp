// The page around the sections: head with the generator marker, style sheet, table of contents,
// the optional sorting script; and publishing the page safely.
#include <unistd.h>

#include <array>
#include <cmath>
#include <fstream>

#include "core/error.hpp"
#include "core/output_file.hpp"
#include "core/version.hpp"
#include "io/results_file.hpp"
#include "report/detail/sections.hpp"
#include "report/html.hpp"
#include "report/report.hpp"

namespace sfb::report {
namespace fs = std::filesystem;

namespace detail {

std::string colour(std::size_t i) {
  static const std::array<const char*, 10> kPalette = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e",
                                                       "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
                                                       "#bcbd22", "#17becf"};
  return kPalette[i % kPalette.size()];
}

std::string section(const std::string& id, const std::string& title, const std::string& body) {
  return "<section class=\"sfb-section\" id=\"" + id + "\" data-section=\"" + id + "\">\n<h2>" +
         title + "</h2>\n" + body + "</section>\n";
}

std::string figure(const std::string& key, const std::string& body, const std::string& caption,
                   const std::vector<std::string>& files) {
  std::string src;
  for (std::size_t i = 0; i < files.size(); ++i) {
    src += (i ? ", " : "") + std::string("<code>") + escape(files[i]) + "</code>";
  }
  return "<figure class=\"sfb-figure\" data-figure=\"" + escape(key) + "\">\n" + body +
         "\n<figcaption>" + caption + (src.empty() ? "" : " Source: " + src + ".") +
         "</figcaption>\n</figure>\n";
}

std::string absent(const std::string& key, const std::string& why) {
  return "<p class=\"sfb-absent\" data-absent=\"" + escape(key) + "\">" + escape(why) + "</p>\n";
}

bool has_data(const io::svg::XyPlot& p) {
  for (const auto& s : p.series) {
    for (std::size_t i = 0; i < s.x.size() && i < s.y.size(); ++i) {
      if (std::isfinite(s.x[i]) && std::isfinite(s.y[i])) return true;
    }
  }
  return false;
}

bool has_data(const io::svg::BarChart& c) {
  for (const auto& s : c.series) {
    for (const double v : s.values) {
      if (std::isfinite(v)) return true;
    }
  }
  return false;
}

bool has_data(const io::svg::Matrix& m) {
  for (const auto& row : m.values) {
    for (const double v : row) {
      if (std::isfinite(v)) return true;
    }
  }
  return false;
}

namespace {

template <class Chart>
std::string chart_or_absent(const std::string& key, const Chart& chart, const std::string& caption,
                            const std::vector<std::string>& files, const std::string& why) {
  return has_data(chart) ? figure(key, io::svg::render(chart), caption, files) : absent(key, why);
}

}  // namespace

std::string chart_figure(const std::string& key, const io::svg::XyPlot& chart,
                         const std::string& caption, const std::vector<std::string>& files,
                         const std::string& why) {
  return chart_or_absent(key, chart, caption, files, why);
}

std::string chart_figure(const std::string& key, const io::svg::BarChart& chart,
                         const std::string& caption, const std::vector<std::string>& files,
                         const std::string& why) {
  return chart_or_absent(key, chart, caption, files, why);
}

std::string chart_figure(const std::string& key, const io::svg::Matrix& chart,
                         const std::string& caption, const std::vector<std::string>& files,
                         const std::string& why) {
  return chart_or_absent(key, chart, caption, files, why);
}

int model_of(const Zoo& zoo, std::size_t f) {
  for (std::size_t m = 0; m < zoo.models.size(); ++m) {
    for (const std::size_t g : zoo.models[m].files) {
      if (g == f) return static_cast<int>(m);
    }
  }
  return -1;
}

std::string label_of(const Zoo& zoo, std::size_t f) {
  const int m = model_of(zoo, f);
  return m < 0 ? zoo.files[f].stem : zoo.models[static_cast<std::size_t>(m)].label;
}

std::vector<std::string> paths(const Zoo& zoo, const std::vector<std::size_t>& files) {
  std::vector<std::string> out;
  for (const std::size_t f : files) out.push_back(zoo.files[f].path);
  return out;
}

}  // namespace detail

namespace {

constexpr const char* kStyle = R"css(
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0 auto;max-width:1400px;
padding:0 1.5em 3em;color:#222;background:#fff;line-height:1.4}
h1{margin:.6em 0 .2em}h2{border-bottom:2px solid #ddd;padding-bottom:.2em;margin-top:2em}
h3{margin:1.4em 0 .4em}
nav ul{display:flex;flex-wrap:wrap;gap:.4em 1.2em;padding:0;list-style:none}
table{border-collapse:collapse;margin:.6em 0;font-size:.9em}
th,td{border:1px solid #ccc;padding:.25em .5em;text-align:left;vertical-align:top}
th{background:#f2f2f2}td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.sfb-scroll{overflow-x:auto}
table.sfb-sortable th{cursor:pointer}
.sfb-figures{display:flex;flex-wrap:wrap;gap:1.2em}
figure.sfb-figure{margin:.6em 0;max-width:100%}
figure.sfb-figure svg{max-width:100%;height:auto}
figcaption{font-size:.85em;color:#444;max-width:640px}
.sfb-absent{color:#666;font-style:italic}
.sfb-montage img{image-rendering:pixelated;display:block;max-width:100%;height:auto}
.sfb-montage p{font-size:.8em;margin:.3em 0;max-width:640px}
table.sfb-provenance td{max-width:30em;overflow-wrap:anywhere}
code{font-size:.9em}
)css";

// Sorting by a click on a header: cells carry data-sort (a number or text). Without JavaScript
// the table reads the same, in the report's order.
constexpr const char* kScript = R"js(
document.querySelectorAll("table.sfb-sortable").forEach(function (table) {
  var heads = table.tHead.rows[0].cells;
  Array.prototype.forEach.call(heads, function (th, col) {
    th.title = "click to sort";
    th.addEventListener("click", function () {
      var up = th.getAttribute("data-order") !== "asc";
      Array.prototype.forEach.call(heads, function (h) { h.removeAttribute("data-order"); });
      th.setAttribute("data-order", up ? "asc" : "desc");
      var body = table.tBodies[0];
      var rows = Array.prototype.slice.call(body.rows);
      function key(r) { var c = r.cells[col]; return c ? (c.getAttribute("data-sort") || c.textContent) : ""; }
      rows.sort(function (a, b) {
        var x = key(a), y = key(b), nx = parseFloat(x), ny = parseFloat(y);
        var d = (!isNaN(nx) && !isNaN(ny)) ? nx - ny : x.localeCompare(y);
        return up ? d : -d;
      });
      rows.forEach(function (r) { body.appendChild(r); });
    });
  });
});
)js";

}  // namespace

std::string render(const Zoo& zoo, const RenderOptions& options) {
  using namespace detail;
  struct Part {
    const char* id;
    const char* title;
    std::string html;
  };
  std::vector<Part> parts = {
      {"leaderboard", "Leaderboard", leaderboard_section(zoo, options)},
      {"correlations", "SF against accuracy drop", correlation_section(zoo, options)},
      {"sf", "Neuron Shapley values", sf_section(zoo)},
      {"stages", "Attack stages", stages_section(zoo)},
      {"interactions", "Multi-order interactions", interactions_section(zoo)},
      {"attribution", "Attribution", attribution_section(zoo)},
      {"training", "Training", training_section(zoo)},
      {"provenance", "Provenance", provenance_section(zoo)},
  };
  std::string out;
  out += "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n";
  out += "<meta name=\"generator\" content=\"" + escape(generator()) + "\">\n";
  out += "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n";
  out += "<title>sfbench report: " + count(zoo.models.size(), "model") + ", " +
         count(zoo.files.size(), "results file") + "</title>\n<style>" + kStyle +
         "</style>\n</head>\n<body>\n<header>\n<h1>sfbench report</h1>\n";
  out += "<p>" + count(zoo.models.size(), "model") + " from " +
         count(zoo.files.size(), "results file") + ", written by sfbench " + escape(version()) +
         " (" + escape(git_commit()) + ")";
  if (!options.command_line.empty()) {
    out += ": <code>" + escape(options.command_line) + "</code>";
  }
  out +=
      ". A model is the set of files whose weights fingerprint agrees (see Provenance). "
      "Every plotted number is also in the figure's data attributes.</p>\n<nav><ul>";
  for (const auto& p : parts) {
    out += "<li><a href=\"#" + std::string(p.id) + "\">" + p.title + "</a></li>";
  }
  out += "</ul></nav>\n";
  for (const auto& n : zoo.notes) out += "<p class=\"sfb-note\">Note: " + escape(n) + "</p>\n";
  out += "</header>\n<main>\n";
  for (const auto& p : parts) out += p.html;
  out += "</main>\n<script>" + std::string(kScript) + "</script>\n</body>\n</html>\n";
  return out;
}

bool is_report(const fs::path& file) {
  std::error_code ec;
  if (!fs::is_regular_file(file, ec)) return false;
  std::ifstream in(file, std::ios::binary);
  std::string head(4096, '\0');
  in.read(head.data(), static_cast<std::streamsize>(head.size()));
  head.resize(static_cast<std::size_t>(in.gcount()));
  return has_report_marker(head);
}

void check_report_output(const fs::path& out) {
  if (out.empty())
    throw IoError("report: no output file given (--out report.html)", ExitCode::kBadInput);
  const fs::path dir = out.has_parent_path() ? out.parent_path() : fs::path(".");
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    throw IoError("report: output directory '" + dir.string() + "' does not exist",
                  ExitCode::kBadInput);
  }
  if (access(dir.c_str(), W_OK | X_OK) != 0) {
    throw IoError("report: output directory '" + dir.string() + "' is not writable",
                  ExitCode::kBadInput);
  }
  io::check_companion({out, "report (HTML)", is_report});
}

void write_report(const fs::path& out, const std::string& html) {
  check_report_output(out);
  write_file_atomically(out, html);
}

}  // namespace sfb::report
