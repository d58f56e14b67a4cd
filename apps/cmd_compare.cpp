// `sfbench compare r1.h5 r2.h5 ...`: a model-zoo table of SF, accuracy and ΔAcc per attack, with
// Spearman/Kendall correlations between SF and ΔAcc / robust accuracy (permutation p-values and
// bootstrap CIs). `--format robustbench` prints RobustBench model_info objects (a JSON array);
// `--out-dir DIR` also writes one model_info file per results file, DIR/<stem>.json.
// Rank 0 reads and prints; other ranks only agree on errors.
#include <fmt/format.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <set>

#include "app.hpp"
#include "core/error.hpp"
#include "io/compare.hpp"

namespace sfb::app {
namespace {

std::string num(double v, int prec = 4) { return std::isfinite(v) ? fmt::format("{:.{}f}", v, prec) : "nan"; }
std::string sig(double v) { return std::isfinite(v) ? fmt::format("{:.4g}", v) : "nan"; }

void print_table(const std::vector<io::ModelRecord>& recs, const std::vector<io::AttackCorrelation>& corr,
                 const std::string& format) {
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
    std::vector<std::string> row{r.model, r.has_sf ? sig(r.sf) : "",
                                 r.has_sf ? fmt::format("[{}, {}]", sig(r.sf_ci_low), sig(r.sf_ci_high)) : "",
                                 r.clean_acc >= 0 ? num(r.clean_acc) : ""};
    for (const auto& l : labels) {
      row.push_back(r.adv_acc.count(l) ? num(r.adv_acc.at(l)) : "");
      row.push_back(r.accuracy_drop.count(l) ? num(r.accuracy_drop.at(l)) : "");
    }
    line(row);
  }
  if (corr.empty()) {
    std::cout << (md ? "\n" : "") << "# correlations need SF and the same attack in at least 3 files\n";
    return;
  }
  std::cout << "\n";
  const std::vector<std::string> ch{"attack", "models", "statistic", "value", "95% CI", "p"};
  line(ch);
  if (md) line(std::vector<std::string>(ch.size(), "---"));
  for (const auto& c : corr) {
    const std::pair<const char*, const CorrelationTest*> stats[] = {
        {"Spearman rho(SF, dAcc)", &c.rho_drop}, {"Kendall tau(SF, dAcc)", &c.tau_drop},
        {"Spearman rho(SF, adv_acc)", &c.rho_adv}, {"Kendall tau(SF, adv_acc)", &c.tau_adv}};
    for (const auto& [name, t] : stats) {
      line({c.attack, std::to_string(c.models), name, num(t->value, 3),
            fmt::format("[{}, {}]", num(t->ci_low, 3), num(t->ci_high, 3)), num(t->p_value, 4)});
    }
  }
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
                    "); model_info files are named after the file stem", ExitCode::kBadInput);
    }
    const fs::path out = fs::path(dir) / (name + ".json");
    std::ofstream os(out);
    os << info.dump(2) << "\n";
    if (!os) throw IoError("cannot write '" + out.string() + "'");
  }
}

}  // namespace

Command register_compare(CLI::App& app, Invocation& inv) {
  auto* sub = app.add_subcommand("compare", "compare results files over a model zoo: SF, accuracies, correlations");
  auto format = std::make_shared<std::string>("md");
  auto out_dir = std::make_shared<std::string>();
  sub->add_option("files", inv.files, "results files (.h5) of sf, attack or eval runs")->required();
  sub->add_option("--format", *format, "md|csv|json|robustbench (RobustBench model_info array)")
      ->check(CLI::IsMember({"md", "csv", "json", "robustbench"}));
  sub->add_option("--out-dir", *out_dir, "also write RobustBench model_info DIR/<file stem>.json per model");
  return {sub, [format, out_dir](Context& ctx, Invocation& inv2) {
            resolve(ctx, inv2);
            std::vector<io::ModelRecord> recs;
            std::vector<io::AttackCorrelation> corr;
            ctx.agree([&] {
              if (ctx.rank() != 0) return;
              for (const auto& f : inv2.files) recs.push_back(io::read_record(f));
              corr = io::correlate(recs, static_cast<uint64_t>(inv2.common.seed));
              if (!out_dir->empty()) write_model_infos(recs, *out_dir);
            });
            if (ctx.rank() != 0) return 0;
            if (*format == "json") {
              std::cout << io::compare_json(recs, corr).dump(2) << "\n";
            } else if (*format == "robustbench") {
              auto infos = nlohmann::json::array();
              for (const auto& r : recs) infos.push_back(io::robustbench_json(r));
              std::cout << infos.dump(2) << "\n";
            } else {
              print_table(recs, corr, *format);
            }
            return 0;
          }};
}

}  // namespace sfb::app
