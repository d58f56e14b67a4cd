// `sfbench compare r1.h5 r2.h5 ...`: a model-zoo table of SF, accuracy and ΔAcc per attack, with
// Spearman/Kendall correlations between SF and ΔAcc / robust accuracy (permutation p-values and
// bootstrap CIs). Files with attribution results add a table of Gini and inductive error rates per
// model and method, and per method the model×model Spearman agreement of the saved maps.
// `--format robustbench` prints RobustBench model_info objects (a JSON array); `--out-dir DIR`
// also writes one model_info file per results file, DIR/<stem>.json.
// Rank 0 reads and prints; other ranks only agree on errors.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <set>

#include "app.hpp"
#include "attribution/compare.hpp"
#include "core/error.hpp"
#include "io/compare.hpp"

namespace sfb::app {
namespace {

std::string num(double v, int prec = 4) {
  return std::isfinite(v) ? fmt::format("{:.{}f}", v, prec) : "nan";
}
std::string sig(double v) { return std::isfinite(v) ? fmt::format("{:.4g}", v) : "nan"; }

void print_table(const std::vector<io::ModelRecord>& recs,
                 const std::vector<io::AttackCorrelation>& corr, const std::string& format) {
  std::set<std::string> labels;
  for (const auto& r : recs) {
    for (const auto& [l, v] : r.adv_acc) labels.insert(l);
  }
  const bool md = format == "md";
  const std::string sep = md ? " | " : ",";
  std::vector<std::string> head{"model", "SF", "SF 95% CI", "clean_acc"};
  for (const auto& l : labels) {
    head.push_back("adv_acc " + l);
    head.push_back("dAcc " + l);
  }
  auto line = [&](const std::vector<std::string>& cells) {
    std::string s;
    for (std::size_t i = 0; i < cells.size(); ++i) s += (i ? sep : "") + cells[i];
    std::cout << (md ? "| " + s + " |" : s) << "\n";
  };
  line(head);
  if (md) line(std::vector<std::string>(head.size(), "---"));
  for (const auto& r : recs) {
    std::vector<std::string> row{
        r.model, r.has_sf ? sig(r.sf) : "",
        r.has_sf ? fmt::format("[{}, {}]", sig(r.sf_ci_low), sig(r.sf_ci_high)) : "",
        r.clean_acc >= 0 ? num(r.clean_acc) : ""};
    for (const auto& l : labels) {
      row.push_back(r.adv_acc.count(l) ? num(r.adv_acc.at(l)) : "");
      row.push_back(r.accuracy_drop.count(l) ? num(r.accuracy_drop.at(l)) : "");
    }
    line(row);
  }
  if (corr.empty()) {
    std::cout << (md ? "\n" : "")
              << "# correlations need SF and the same attack in at least 3 files\n";
    return;
  }
  std::cout << "\n";
  const std::vector<std::string> ch{"attack", "models", "statistic", "value", "95% CI", "p"};
  line(ch);
  if (md) line(std::vector<std::string>(ch.size(), "---"));
  for (const auto& c : corr) {
    const std::pair<const char*, const CorrelationTest*> stats[] = {
        {"Spearman rho(SF, dAcc)", &c.rho_drop},
        {"Kendall tau(SF, dAcc)", &c.tau_drop},
        {"Spearman rho(SF, adv_acc)", &c.rho_adv},
        {"Kendall tau(SF, adv_acc)", &c.tau_adv}};
    for (const auto& [name, t] : stats) {
      line({c.attack, std::to_string(c.models), name, num(t->value, 3),
            fmt::format("[{}, {}]", num(t->ci_low, 3), num(t->ci_high, 3)), num(t->p_value, 4)});
    }
  }
}

std::string stem(const std::string& file) { return std::filesystem::path(file).stem().string(); }

// The attribution results of the files that have them (papers 002/003).
struct AttributionSide {
  std::vector<attribution::AttributionRecord> records;
  std::vector<attribution::AgreementMatrix> matrices;
  std::vector<std::string> notes;
};

std::string rho_cell(const attribution::MeanCi& c) {
  if (c.count == 0) return "";
  return fmt::format("{} [{}, {}] n={}", num(c.mean, 3), num(c.low, 3), num(c.high, 3), c.count);
}

void print_attribution(const AttributionSide& a, const std::string& format) {
  if (a.records.empty()) return;
  const bool md = format == "md";
  const std::string sep = md ? " | " : ",";
  auto line = [&](const std::vector<std::string>& cells) {
    std::string s;
    for (std::size_t i = 0; i < cells.size(); ++i) s += (i ? sep : "") + cells[i];
    std::cout << (md ? "| " + s + " |" : s) << "\n";
  };
  // one column per inductive attack setting present in any file: Noise-I, Noise-II by T, then
  // the occlusion colours
  std::set<int64_t> tops;
  std::set<std::string> colours;
  for (const auto& r : a.records) {
    tops.insert(r.top_pixels.begin(), r.top_pixels.end());
    colours.insert(r.occlusion.begin(), r.occlusion.end());
  }
  std::vector<std::string> attacks;
  for (const char* kind : {"Noise-I", "Noise-II"}) {
    for (const int64_t t : tops) attacks.push_back(fmt::format("{} T={}", kind, t));
  }
  for (const auto& c : colours) attacks.push_back("occlusion-" + c);
  std::vector<std::string> head{"model", "n", "accuracy", "method", "Gini", "Gini_r"};
  head.insert(head.end(), attacks.begin(), attacks.end());
  line(head);
  if (md) line(std::vector<std::string>(head.size(), "---"));
  for (const auto& r : a.records) {
    if (!r.random_noise1.empty()) {  // the control row: T random pixels, same noise
      std::vector<std::string> row{
          stem(r.file), std::to_string(r.n), num(r.accuracy), "(random pixels)", "", ""};
      for (const auto& c : attacks) {
        std::string cell;
        for (size_t t = 0; t < r.top_pixels.size() && t < r.random_noise1.size(); ++t) {
          if (c == fmt::format("Noise-I T={}", r.top_pixels[t])) cell = num(r.random_noise1[t]);
          if (c == fmt::format("Noise-II T={}", r.top_pixels[t])) cell = num(r.random_noise2[t]);
        }
        row.push_back(cell);
      }
      line(row);
    }
    for (size_t m = 0; m < r.methods.size(); ++m) {
      const auto& pm = r.per_method[m];
      std::map<std::string, double> v;
      for (size_t t = 0; t < pm.noise1.size() && t < r.top_pixels.size(); ++t) {
        v[fmt::format("Noise-I T={}", r.top_pixels[t])] = pm.noise1[t];
        v[fmt::format("Noise-II T={}", r.top_pixels[t])] = pm.noise2[t];
      }
      for (size_t k = 0; k < pm.occlusion.size() && k < r.occlusion.size(); ++k) {
        v["occlusion-" + r.occlusion[k]] = pm.occlusion[k];
      }
      std::vector<std::string> row{stem(r.file), std::to_string(r.n), num(r.accuracy),
                                   r.methods[m], num(pm.gini),        num(pm.gini_regional)};
      for (const auto& c : attacks) row.push_back(v.count(c) ? num(v.at(c)) : "");
      line(row);
    }
  }
  std::cout << (md ? "\n" : "")
            << "# error rates: misclassified after the inductive attack / correctly classified\n";
  for (const auto& mx : a.matrices) {
    std::cout << "\n";
    std::vector<std::string> mh{"Spearman rho " + mx.method};
    for (const size_t i : mx.records) mh.push_back(stem(a.records[i].file));
    line(mh);
    if (md) line(std::vector<std::string>(mh.size(), "---"));
    for (size_t p = 0; p < mx.records.size(); ++p) {
      std::vector<std::string> row{stem(a.records[mx.records[p]].file)};
      for (size_t q = 0; q < mx.records.size(); ++q) row.push_back(rho_cell(mx.rho[p][q]));
      line(row);
    }
    std::cout << (md ? "\n" : "")
              << "# mean rho [95% CI] over the n images both files saved maps of\n";
  }
  for (const auto& n : a.notes) std::cout << "# note: " << n << "\n";
}

nlohmann::json attribution_json(const AttributionSide& a) {
  nlohmann::json models = nlohmann::json::array();
  for (const auto& r : a.records) {
    for (size_t m = 0; m < r.methods.size(); ++m) {
      const auto& pm = r.per_method[m];
      models.push_back({{"file", r.file},
                        {"method", r.methods[m]},
                        {"n", r.n},
                        {"accuracy", r.accuracy},
                        {"gini", pm.gini},
                        {"gini_regional", pm.gini_regional},
                        {"top_pixels", r.top_pixels},
                        {"noise1_error_rate", pm.noise1},
                        {"noise2_error_rate", pm.noise2},
                        {"occlusion_colors", r.occlusion},
                        {"occlusion_error_rate", pm.occlusion}});
    }
    if (!r.random_noise1.empty()) {
      models.push_back({{"file", r.file},
                        {"method", "(random pixels)"},
                        {"n", r.n},
                        {"accuracy", r.accuracy},
                        {"top_pixels", r.top_pixels},
                        {"noise1_error_rate", r.random_noise1},
                        {"noise2_error_rate", r.random_noise2}});
    }
  }
  nlohmann::json mats = nlohmann::json::array();
  for (const auto& mx : a.matrices) {
    nlohmann::json files = nlohmann::json::array(), mean = nlohmann::json::array(),
                   low = nlohmann::json::array(), high = nlohmann::json::array(),
                   count = nlohmann::json::array();
    for (size_t p = 0; p < mx.records.size(); ++p) {
      files.push_back(a.records[mx.records[p]].file);
      nlohmann::json rm = nlohmann::json::array(), rl = rm, rh = rm, rc = rm;
      for (const auto& c : mx.rho[p]) {
        rm.push_back(c.count ? nlohmann::json(c.mean) : nlohmann::json());
        rl.push_back(c.count ? nlohmann::json(c.low) : nlohmann::json());
        rh.push_back(c.count ? nlohmann::json(c.high) : nlohmann::json());
        rc.push_back(c.count);
      }
      mean.push_back(rm);
      low.push_back(rl);
      high.push_back(rh);
      count.push_back(rc);
    }
    mats.push_back({{"method", mx.method},
                    {"files", files},
                    {"spearman", mean},
                    {"ci_low", low},
                    {"ci_high", high},
                    {"count", count}});
  }
  return {{"models", models}, {"agreement", mats}, {"notes", a.notes}};
}

// Writes DIR/<name>.json for every record; IoError (exit 2) for a missing directory or two records
// with the same name.
void write_model_infos(const std::vector<io::ModelRecord>& recs, const std::string& dir) {
  namespace fs = std::filesystem;
  if (!fs::is_directory(dir)) {
    throw IoError("compare --out-dir: '" + dir + "' is not a directory", ExitCode::kBadInput);
  }
  std::set<std::string> names;
  for (const auto& r : recs) {
    const auto info = io::robustbench_json(r);
    const std::string name = info["name"].get<std::string>();
    if (!names.insert(name).second) {
      throw IoError("compare --out-dir: two results files are named '" + name + "' (" + r.file +
                        "); model_info files are named after the file stem",
                    ExitCode::kBadInput);
    }
    const fs::path out = fs::path(dir) / (name + ".json");
    std::ofstream os(out);
    os << info.dump(2) << "\n";
    if (!os) throw IoError("cannot write '" + out.string() + "'");
  }
}

}  // namespace

Command register_compare(CLI::App& app, Invocation& inv) {
  auto* sub = app.add_subcommand(
      "compare", "compare results files over a model zoo: SF, accuracies, correlations");
  auto format = std::make_shared<std::string>("md");
  auto out_dir = std::make_shared<std::string>();
  sub->add_option("files", inv.files, "results files (.h5) of sf, attack or eval runs")->required();
  sub->add_option("--format", *format, "md|csv|json|robustbench (RobustBench model_info array)")
      ->check(CLI::IsMember({"md", "csv", "json", "robustbench"}));
  sub->add_option("--out-dir", *out_dir,
                  "also write RobustBench model_info DIR/<file stem>.json per model");
  return {sub, [format, out_dir](Context& ctx, Invocation& inv2) {
            resolve(ctx, inv2);
            std::vector<io::ModelRecord> recs;
            std::vector<io::AttackCorrelation> corr;
            AttributionSide att;
            ctx.agree([&] {
              if (ctx.rank() != 0) return;
              for (const auto& f : inv2.files) recs.push_back(io::read_record(f));
              for (const auto& f : inv2.files) {
                bool has = false;
                auto r = attribution::read_attribution(f, has);
                if (has) att.records.push_back(std::move(r));
              }
              att.matrices = attribution::agreement_matrices(att.records, att.notes);
              corr = io::correlate(recs, static_cast<uint64_t>(inv2.common.seed));
              if (!out_dir->empty()) write_model_infos(recs, *out_dir);
            });
            if (ctx.rank() != 0) return 0;
            if (*format == "json") {
              nlohmann::json doc = io::compare_json(recs, corr);
              if (!att.records.empty()) doc["attribution"] = attribution_json(att);
              std::cout << doc.dump(2) << "\n";
            } else if (*format == "robustbench") {
              auto infos = nlohmann::json::array();
              for (const auto& r : recs) infos.push_back(io::robustbench_json(r));
              std::cout << infos.dump(2) << "\n";
            } else {
              // the zoo table when some file has SF or attacks; attribution-only files skip it
              const bool zoo = std::any_of(recs.begin(), recs.end(), [](const io::ModelRecord& r) {
                return r.has_sf || r.clean_acc >= 0;
              });
              if (zoo) print_table(recs, corr, *format);
              if (zoo && !att.records.empty()) std::cout << "\n";
              print_attribution(att, *format);
            }
            return 0;
          }};
}

}  // namespace sfb::app
