// The leaderboard, the SF vs ΔAcc scatters with their rank correlations, and the provenance
// tables.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <set>

#include "attribution/agreement.hpp"
#include "io/svg_chart.hpp"
#include "report/detail/sections.hpp"
#include "report/html.hpp"

namespace sfb::report::detail {
namespace {

constexpr const char* kWorstCase = "worst_case";

// One attack cell of a model: where it comes from and its counts.
struct AttackCell {
  std::size_t file = 0;
  double clean = 0, adv = 0, drop = 0;
  int64_t n = 0;
};

// What the leaderboard shows of one model.
struct Row {
  std::size_t model = 0;
  int sf_file = -1;     // file with /sf/value
  int clean_file = -1;  // file the clean accuracy comes from
  double clean = std::nan("");
  int64_t n = 0, k = 0;  // samples and correct ones of the clean accuracy
  std::map<std::string, AttackCell> attacks;
};

std::vector<Row> rows(const Zoo& zoo) {
  std::vector<Row> out;
  for (std::size_t m = 0; m < zoo.models.size(); ++m) {
    Row r;
    r.model = m;
    for (const std::size_t f : zoo.models[m].files) {
      const FileData& d = zoo.files[f];
      if (r.sf_file < 0 && d.record.has_sf) r.sf_file = static_cast<int>(f);
      for (const auto& a : d.attacks) {
        r.attacks.emplace(a.label, AttackCell{f, a.clean_acc, a.adv_acc, a.accuracy_drop, a.n});
      }
      const auto wc = d.record.adv_acc.find(kWorstCase);
      if (wc != d.record.adv_acc.end()) {
        r.attacks.emplace(kWorstCase, AttackCell{f, d.record.clean_acc, wc->second,
                                                 d.record.accuracy_drop.at(kWorstCase), d.n});
      }
    }
    // Clean accuracy: of the SF run, else of the first attack run, else of any run with samples.
    int src = r.sf_file;
    for (const std::size_t f : zoo.models[m].files) {
      if (src < 0 && !zoo.files[f].attacks.empty()) src = static_cast<int>(f);
    }
    if (src >= 0) {
      const FileData& d = zoo.files[static_cast<std::size_t>(src)];
      r.clean = d.record.clean_acc;
    } else {
      for (const std::size_t f : zoo.models[m].files) {
        if (src < 0 && zoo.files[f].n > 0) src = static_cast<int>(f);
      }
      if (src >= 0) {
        const FileData& d = zoo.files[static_cast<std::size_t>(src)];
        r.clean = static_cast<double>(d.correct) / static_cast<double>(d.n);
      }
    }
    if (src >= 0) {
      r.clean_file = src;
      r.n = zoo.files[static_cast<std::size_t>(src)].n;
      r.k = std::llround(r.clean * static_cast<double>(r.n));
    }
    out.push_back(std::move(r));
  }
  return out;
}

std::string cell(const std::string& key, double v, double low, double high, int decimals) {
  if (!std::isfinite(v)) return "<td class=\"num\" data-sort=\"-1e300\">\u2013</td>";
  std::string s = "<td class=\"num\" data-key=\"" + escape(key) + "\" data-value=\"" + exact(v) +
                  "\" data-sort=\"" + exact(v) + "\"";
  std::string text = fixed(v, decimals);
  if (std::isfinite(low) && std::isfinite(high)) {
    s += " data-low=\"" + exact(low) + "\" data-high=\"" + exact(high) + "\"";
    text += " [" + fixed(low, decimals) + ", " + fixed(high, decimals) + "]";
  }
  return s + ">" + text + "</td>";
}

std::string sig(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.4g", v);
  return buf;
}

std::set<std::string> attack_labels(const std::vector<Row>& rs) {
  std::set<std::string> labels;
  for (const auto& r : rs) {
    for (const auto& [l, c] : r.attacks) labels.insert(l);
  }
  return labels;
}

// Wilson interval of the accuracy drop: ΔAcc = (k_clean − k_adv) / k_clean, the share of the
// clean-correct samples the attack broke (robust samples are a subset of the correct ones).
attribution::Rate drop_rate(const AttackCell& c) {
  const auto n = static_cast<double>(c.n);
  const int64_t kc = std::llround(c.clean * n), ka = std::llround(c.adv * n);
  return attribution::wilson(kc - ka, kc);
}

io::ModelRecord merged_record(const Zoo& zoo, const Row& r) {
  io::ModelRecord rec;
  rec.model = zoo.models[r.model].label;
  if (r.sf_file >= 0) {
    const auto& s = zoo.files[static_cast<std::size_t>(r.sf_file)].record;
    rec.has_sf = true;
    rec.sf = s.sf;
    rec.sf_ci_low = s.sf_ci_low;
    rec.sf_ci_high = s.sf_ci_high;
  }
  rec.clean_acc = r.clean;
  for (const auto& [l, c] : r.attacks) {
    rec.adv_acc[l] = c.adv;
    rec.accuracy_drop[l] = c.drop;
  }
  return rec;
}

}  // namespace

std::string leaderboard_section(const Zoo& zoo, const RenderOptions&) {
  const std::vector<Row> rs = rows(zoo);
  bool any = false;
  for (const auto& r : rs) any = any || r.clean_file >= 0 || r.sf_file >= 0;
  if (!any) {
    return section("leaderboard", "Leaderboard",
                   absent("leaderboard", "no results with accuracies or SF among the inputs"));
  }
  const std::set<std::string> labels = attack_labels(rs);
  std::string t = "<div class=\"sfb-scroll\"><table class=\"sfb-sortable sfb-leaderboard\">\n";
  t += "<thead><tr><th>model</th><th>data</th><th>n</th><th>clean accuracy</th>";
  for (const auto& l : labels) {
    const std::string name = l == kWorstCase ? "worst case" : escape(l);
    t += "<th>" + name + " robust accuracy</th><th>" + name + " \u0394Acc</th>";
  }
  t += "<th>SF</th></tr></thead>\n<tbody>\n";
  std::vector<std::size_t> used;
  for (const auto& r : rs) {
    const ModelGroup& g = zoo.models[r.model];
    t += "<tr data-model=\"" + escape(g.label) + "\"><td data-sort=\"" + escape(g.label) +
         "\"><span title=\"" + escape(g.title) + "\">" + escape(g.label) + "</span></td>";
    std::string data;
    if (r.clean_file >= 0) {
      const FileData& d = zoo.files[static_cast<std::size_t>(r.clean_file)];
      data = d.dataset_spec + (d.split.empty() ? "" : " (" + d.split + ")");
      used.push_back(static_cast<std::size_t>(r.clean_file));
    }
    t += "<td>" + escape(data) + "</td><td class=\"num\" data-sort=\"" + std::to_string(r.n) +
         "\">" + std::to_string(r.n) + "</td>";
    const auto cw = attribution::wilson(r.k, r.n);
    t += cell("clean_acc", r.clean, cw.low, cw.high, 4);
    for (const auto& l : labels) {
      const auto it = r.attacks.find(l);
      if (it == r.attacks.end()) {
        t += cell("", std::nan(""), 0, 0, 4) + cell("", std::nan(""), 0, 0, 4);
        continue;
      }
      const AttackCell& c = it->second;
      used.push_back(c.file);
      const auto aw = attribution::wilson(std::llround(c.adv * static_cast<double>(c.n)), c.n);
      const auto dw = drop_rate(c);
      t += cell("adv_acc:" + l, c.adv, aw.low, aw.high, 4);
      t += cell("accuracy_drop:" + l, c.drop, dw.low, dw.high, 4);
    }
    if (r.sf_file >= 0) {
      const auto& s = zoo.files[static_cast<std::size_t>(r.sf_file)].record;
      used.push_back(static_cast<std::size_t>(r.sf_file));
      t += "<td class=\"num\" data-key=\"sf\" data-value=\"" + exact(s.sf) + "\" data-low=\"" +
           exact(s.sf_ci_low) + "\" data-high=\"" + exact(s.sf_ci_high) + "\" data-sort=\"" +
           exact(s.sf) + "\">" + sig(s.sf) + " [" + sig(s.sf_ci_low) + ", " + sig(s.sf_ci_high) +
           "]</td>";
    } else {
      t += cell("", std::nan(""), 0, 0, 4);
    }
    t += "</tr>\n";
  }
  t += "</tbody></table></div>";
  std::sort(used.begin(), used.end());
  used.erase(std::unique(used.begin(), used.end()), used.end());
  const std::string caption =
      "One row per model (hover a name for its full spec and weights fingerprint). Accuracies "
      "are fractions of the n evaluated samples, clean or robust under the attack (AutoAttack: "
      "robust to all its stages; worst case: to every attack of the run), with Wilson 95% "
      "intervals; \u0394Acc = 1 \u2212 robust/clean accuracy with the Wilson interval of the share "
      "of clean-correct samples the attack broke; SF (lower = more robust) with its bootstrap "
      "percentile interval. Click a header to sort (JavaScript); without it the table keeps the "
      "input order. Clean accuracy comes from the model's SF run, else its first attack run, else "
      "its first run with per-sample results.";
  return section("leaderboard", "Leaderboard", figure("leaderboard", t, caption, paths(zoo, used)));
}

std::string correlation_section(const Zoo& zoo, const RenderOptions& options) {
  const std::vector<Row> rs = rows(zoo);
  std::vector<io::ModelRecord> recs;
  for (const auto& r : rs) recs.push_back(merged_record(zoo, r));
  const auto corr = io::correlate(recs, options.seed);
  std::string body;
  int figures = 0;
  for (const auto& l : attack_labels(rs)) {
    io::svg::XyPlot p;
    p.title = "SF vs \u0394Acc, " + (l == kWorstCase ? std::string("worst case") : l);
    p.xlabel = "SF (standard deviation of the neuron Shapley values C_i)";
    p.ylabel = "\u0394Acc = 1 \u2212 robust/clean accuracy";
    std::vector<std::size_t> files;
    for (const auto& r : rs) {
      const auto it = r.attacks.find(l);
      if (r.sf_file < 0 || it == r.attacks.end()) continue;
      const auto& s = zoo.files[static_cast<std::size_t>(r.sf_file)].record;
      const auto dw = drop_rate(it->second);
      io::svg::Series ser;
      ser.label = zoo.models[r.model].label;
      ser.color = colour(r.model);
      ser.lines = false;
      ser.x = {s.sf};
      ser.x_low = {s.sf_ci_low};
      ser.x_high = {s.sf_ci_high};
      ser.y = {it->second.drop};
      ser.y_low = {dw.low};
      ser.y_high = {dw.high};
      p.series.push_back(std::move(ser));
      files.push_back(static_cast<std::size_t>(r.sf_file));
      files.push_back(it->second.file);
    }
    if (p.series.empty()) continue;
    std::sort(files.begin(), files.end());
    files.erase(std::unique(files.begin(), files.end()), files.end());
    std::string stats, table;
    for (const auto& c : corr) {
      if (c.attack != l) continue;
      stats =
          " The table gives Spearman \u03c1 and Kendall \u03c4-b of SF against \u0394Acc and "
          "against robust accuracy over the " +
          std::to_string(c.models) +
          " models, with 95% bootstrap intervals over models and two-sided permutation "
          "p-values (exact over all orderings for up to 8 models).";
      table += "<table class=\"sfb-correlation\" data-attack=\"" + escape(l) +
               "\"><thead><tr><th>statistic</th><th>value</th><th>95% CI</th><th>p</th></tr>"
               "</thead><tbody>";
      for (const auto& [name, t] :
           {std::pair<const char*, const CorrelationTest*>{"Spearman rho(SF, dAcc)", &c.rho_drop},
            {"Kendall tau(SF, dAcc)", &c.tau_drop},
            {"Spearman rho(SF, robust acc)", &c.rho_adv},
            {"Kendall tau(SF, robust acc)", &c.tau_adv}}) {
        table += "<tr><td>" + std::string(name) + "</td><td class=\"num\" data-value=\"" +
                 exact(t->value) + "\">" + fixed(t->value, 3) + "</td><td class=\"num\">[" +
                 fixed(t->ci_low, 3) + ", " + fixed(t->ci_high, 3) +
                 "]</td><td class=\"num\" data-value=\"" + exact(t->p_value) + "\">" +
                 fixed(t->p_value, 4) + "</td></tr>";
      }
      table += "</tbody></table>\n";
    }
    if (stats.empty()) {
      stats = " No correlation: it needs SF and this attack for at least 3 models (" +
              std::to_string(p.series.size()) + " here).";
    }
    const std::string caption =
        "Each point is a model: its SF (x, with the bootstrap 95% interval) against its accuracy "
        "drop under " +
        escape(l) + " (y, with the Wilson 95% interval)." + stats;
    body += has_data(p)
                ? figure("sf-vs-dacc:" + l, io::svg::render(p) + table, caption, paths(zoo, files))
                : absent("sf-vs-dacc:" + l, "no model has a finite SF and \u0394Acc under " + l);
    ++figures;
  }
  if (figures == 0) body = absent("correlations", "no model has both SF and attack results");
  return section("correlations", "SF against accuracy drop",
                 "<div class=\"sfb-figures\">" + body + "</div>");
}

std::string provenance_section(const Zoo& zoo) {
  std::string b =
      "<p>A model is the set of input files whose weights fingerprint agrees: the "
      "/model SHA-256 of runs that evaluate it, and for a training run the SHA-256 "
      "of the checkpoint it wrote.</p>\n<table class=\"sfb-models\"><thead><tr>"
      "<th>model</th><th>file</th><th>command</th><th>weights fingerprint</th></tr>"
      "</thead><tbody>\n";
  for (std::size_t f = 0; f < zoo.files.size(); ++f) {
    const int m = model_of(zoo, f);
    const std::string label = m < 0 ? "(none)" : zoo.models[static_cast<std::size_t>(m)].label;
    b += "<tr data-model=\"" + escape(m < 0 ? "" : label) + "\" data-file=\"" +
         escape(zoo.files[f].path) + "\"><td>" + escape(label) + "</td><td><code>" +
         escape(zoo.files[f].path) + "</code></td><td>" + escape(zoo.files[f].subcommand) +
         "</td><td><code>" + escape(zoo.files[f].key.fingerprint) + "</code></td></tr>\n";
  }
  b += "</tbody></table>\n";
  for (std::size_t m = 0; m <= zoo.models.size(); ++m) {
    std::vector<std::size_t> files;
    if (m < zoo.models.size()) {
      files = zoo.models[m].files;
    } else {
      for (std::size_t f = 0; f < zoo.files.size(); ++f) {
        if (model_of(zoo, f) < 0) files.push_back(f);
      }
      if (files.empty()) break;
    }
    b += "<h3>" + (m < zoo.models.size() ? escape(zoo.models[m].label) : "Files of no model") +
         "</h3>\n<div class=\"sfb-scroll\"><table class=\"sfb-provenance\"><thead><tr><th></th>";
    std::vector<std::string> keys;
    for (const std::size_t f : files) {
      b += "<th><code>" + escape(zoo.files[f].path) + "</code></th>";
      for (const auto& [k, v] : zoo.files[f].provenance) {
        if (std::find(keys.begin(), keys.end(), k) == keys.end()) keys.push_back(k);
      }
    }
    b += "</tr></thead><tbody>\n";
    for (const auto& k : keys) {
      b += "<tr><th>" + escape(k) + "</th>";
      for (const std::size_t f : files) {
        std::string v;
        for (const auto& [k2, v2] : zoo.files[f].provenance) {
          if (k2 == k) v = v2;
        }
        b += "<td>" + escape(v) + "</td>";
      }
      b += "</tr>\n";
    }
    b += "</tbody></table></div>\n";
  }
  return section("provenance", "Provenance", b);
}

}  // namespace sfb::report::detail
