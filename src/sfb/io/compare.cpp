#include "io/compare.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <set>

#include "core/error.hpp"
#include "core/output_file.hpp"
#include "io/hdf5/objects.hpp"
#include "io/results_file.hpp"
#include "io/validate.hpp"

namespace sfb::io {
namespace {

double attr_double(hid_t obj, const std::string& key) {
  const auto v = h5::read_attr(obj, key);
  if (const auto* d = std::get_if<double>(&v)) return *d;
  if (const auto* i = std::get_if<int64_t>(&v)) return static_cast<double>(*i);
  throw IoError("attribute '" + key + "' is not a number", ExitCode::kBadInput);
}

std::string attr_string(hid_t obj, const std::string& key) {
  if (!h5::has_attr(obj, key)) return "";
  const auto v = h5::read_attr(obj, key);
  const auto* s = std::get_if<std::string>(&v);
  return s ? *s : "";
}

}  // namespace

ModelRecord read_record(const std::filesystem::path& file) {
  const auto rep = validate_results(file);
  if (!rep.ok()) {
    throw IoError("compare: " + file.string() +
                      " is not a valid, complete sfbench results file: " + rep.problems.front(),
                  ExitCode::kBadInput);
  }
  ModelRecord r;
  r.file = file.string();
  auto f = h5::open_readonly(file);
  r.git_commit = attr_string(f.get(), "git_commit");
  r.config_sha256 = attr_string(f.get(), "config_sha256");
  r.created_utc = attr_string(f.get(), "created_utc");
  if (h5::exists(f.get(), "/model")) {
    auto m = h5::open_object(f.get(), "/model");
    r.model = attr_string(m.get(), "spec");
    r.arch = attr_string(m.get(), "arch");
  }
  if (h5::exists(f.get(), "/samples/index"))
    r.n = h5::read_dataset(f.get(), "/samples/index").numel();
  if (h5::exists(f.get(), "/dataset")) {
    auto d = h5::open_object(f.get(), "/dataset");
    r.dataset = attr_string(d.get(), "spec");
    r.split = attr_string(d.get(), "split");
  }
  if (h5::exists(f.get(), "/sf/value")) {
    auto v = h5::open_object(f.get(), "/sf/value");
    r.has_sf = true;
    r.sf = h5::read_dataset(f.get(), "/sf/value").item<double>();
    r.sf_ci_low = attr_double(v.get(), "ci_low");
    r.sf_ci_high = attr_double(v.get(), "ci_high");
    r.clean_acc = attr_double(v.get(), "accuracy");
  }
  std::set<std::string> labels;
  h5::visit_datasets(f.get(), [&](const std::string& path) {
    const std::string prefix = "/attacks/", suffix = "/robust";
    if (path.rfind(prefix, 0) == 0 && path.size() > prefix.size() + suffix.size() &&
        path.compare(path.size() - suffix.size(), suffix.size(), suffix) == 0) {
      labels.insert(path.substr(prefix.size(), path.size() - prefix.size() - suffix.size()));
    }
  });
  for (const auto& l : labels) {
    auto g = h5::open_object(f.get(), "/attacks/" + l);
    if (!h5::has_attr(g.get(), "adv_acc")) continue;
    r.adv_acc[l] = attr_double(g.get(), "adv_acc");
    r.accuracy_drop[l] = attr_double(g.get(), "accuracy_drop");
    r.clean_acc = attr_double(g.get(), "clean_acc");
    if (h5::has_attr(g.get(), "norm") && h5::has_attr(g.get(), "eps")) {
      r.threat[l] = {attr_string(g.get(), "spec"), attr_string(g.get(), "norm"),
                     attr_double(g.get(), "eps")};
    }
  }
  if (r.model.empty()) r.model = file.stem().string();
  return r;
}

std::vector<AttackCorrelation> correlate(const std::vector<ModelRecord>& records, uint64_t seed) {
  std::set<std::string> labels;
  for (const auto& r : records) {
    for (const auto& [l, v] : r.adv_acc) labels.insert(l);
  }
  std::vector<AttackCorrelation> out;
  for (const auto& l : labels) {
    std::vector<double> sf, drop, adv;
    for (const auto& r : records) {
      if (!r.has_sf || r.adv_acc.count(l) == 0) continue;
      sf.push_back(r.sf);
      drop.push_back(r.accuracy_drop.at(l));
      adv.push_back(r.adv_acc.at(l));
    }
    if (sf.size() < 3) continue;
    AttackCorrelation c;
    c.attack = l;
    c.models = static_cast<int64_t>(sf.size());
    c.rho_drop = correlation_test(sf, drop, spearman_rho, seed);
    c.tau_drop = correlation_test(sf, drop, kendall_tau_b, seed);
    c.rho_adv = correlation_test(sf, adv, spearman_rho, seed);
    c.tau_adv = correlation_test(sf, adv, kendall_tau_b, seed);
    out.push_back(c);
  }
  return out;
}

nlohmann::json compare_json(const std::vector<ModelRecord>& records,
                            const std::vector<AttackCorrelation>& corr) {
  auto test = [](const CorrelationTest& t) {
    return nlohmann::json{{"value", t.value},
                          {"p_value", t.p_value},
                          {"ci_low", t.ci_low},
                          {"ci_high", t.ci_high},
                          {"permutations", t.permutations}};
  };
  nlohmann::json j;
  j["models"] = nlohmann::json::array();
  for (const auto& r : records) {
    nlohmann::json m{{"file", r.file},
                     {"model", r.model},
                     {"dataset", r.dataset},
                     {"split", r.split},
                     {"clean_acc", r.clean_acc},
                     {"adv_acc", r.adv_acc},
                     {"accuracy_drop", r.accuracy_drop}};
    if (r.has_sf) m["sf"] = {{"value", r.sf}, {"ci_low", r.sf_ci_low}, {"ci_high", r.sf_ci_high}};
    j["models"].push_back(m);
  }
  j["correlations"] = nlohmann::json::array();
  for (const auto& c : corr) {
    j["correlations"].push_back({{"attack", c.attack},
                                 {"models", c.models},
                                 {"spearman_sf_vs_accuracy_drop", test(c.rho_drop)},
                                 {"kendall_sf_vs_accuracy_drop", test(c.tau_drop)},
                                 {"spearman_sf_vs_robust_acc", test(c.rho_adv)},
                                 {"kendall_sf_vs_robust_acc", test(c.tau_adv)}});
  }
  return j;
}

namespace {

std::string percent(double fraction) { return fmt::format("{:.2f}", 100.0 * fraction); }

// RobustBench writes Linf radii as "8/255"; other radii as plain numbers.
std::string eps_text(const std::string& norm, double eps) {
  const double k = eps * 255.0;
  if (norm == "linf" && k > 0 && std::abs(k - std::round(k)) < 1e-6) {
    return fmt::format("{}/255", static_cast<int64_t>(std::round(k)));
  }
  return fmt::format("{:g}", eps);
}

}  // namespace

nlohmann::json robustbench_json(const ModelRecord& r) {
  // The AutoAttack group (spec "autoattack..."), whose robust accuracy RobustBench reports.
  std::string aa;
  for (const auto& [label, t] : r.threat) {
    if (aa.empty() && t.spec.rfind("autoattack", 0) == 0) aa = label;
  }
  const std::string primary = !aa.empty() ? aa : (r.threat.empty() ? "" : r.threat.begin()->first);
  nlohmann::json j{
      {"name", std::filesystem::path(r.file).stem().string()},
      {"link", ""},
      {"authors", ""},
      {"venue", ""},
      {"architecture", r.arch},
      {"dataset", r.dataset.substr(0, r.dataset.find(':'))},
      {"threat_model", nullptr},
      {"eps", nullptr},
      {"clean_acc", r.clean_acc >= 0 ? nlohmann::json(percent(r.clean_acc)) : nullptr},
      {"reported", ""},
      {"autoattack_acc", aa.empty() ? nullptr : nlohmann::json(percent(r.adv_acc.at(aa)))},
      {"additional_data", false},
      {"number_forward_passes", nullptr},
      {"footnote", ""}};
  if (!primary.empty()) {
    const auto& t = r.threat.at(primary);
    j["threat_model"] = t.norm == "linf" ? "Linf" : t.norm == "l2" ? "L2" : t.norm;
    j["eps"] = eps_text(t.norm, t.eps);
  }
  nlohmann::json attacks = nlohmann::json::object();
  for (const auto& [label, t] : r.threat) {
    attacks[label] = {{"spec", t.spec}, {"norm", t.norm}, {"eps", t.eps}};
  }
  nlohmann::json sf = nullptr;
  if (r.has_sf) sf = {{"value", r.sf}, {"ci_low", r.sf_ci_low}, {"ci_high", r.sf_ci_high}};
  j["sfbench"] = {{"sf", sf},
                  {"clean_acc", r.clean_acc >= 0 ? nlohmann::json(r.clean_acc) : nullptr},
                  {"adv_acc", r.adv_acc},
                  {"accuracy_drop", r.accuracy_drop},
                  {"attacks", attacks},
                  {"autoattack_group", aa.empty() ? nullptr : nlohmann::json(aa)},
                  {"n", r.n},
                  {"model_spec", r.model},
                  {"dataset_spec", r.dataset},
                  {"split", r.split},
                  {"results_file", r.file},
                  {"git_commit", r.git_commit},
                  {"config_sha256", r.config_sha256},
                  {"created_utc", r.created_utc}};
  return j;
}

namespace {

std::string fixed(double v, int prec = 4) {
  return std::isfinite(v) ? fmt::format("{:.{}f}", v, prec) : "nan";
}
std::string sig4(double v) { return std::isfinite(v) ? fmt::format("{:.4g}", v) : "nan"; }

}  // namespace

std::vector<Table> zoo_tables(const std::vector<ModelRecord>& records,
                              const std::vector<AttackCorrelation>& corr) {
  const bool any = std::any_of(records.begin(), records.end(),
                               [](const ModelRecord& r) { return r.has_sf || r.clean_acc >= 0; });
  if (!any) return {};
  std::set<std::string> labels;
  for (const auto& r : records) {
    for (const auto& [l, v] : r.adv_acc) labels.insert(l);
  }
  Table zoo;
  zoo.header = {"model", "SF", "SF 95% CI", "clean_acc"};
  for (const auto& l : labels) {
    zoo.header.push_back("adv_acc " + l);
    zoo.header.push_back("dAcc " + l);
  }
  for (const auto& r : records) {
    std::vector<std::string> row{
        r.model, r.has_sf ? sig4(r.sf) : "",
        r.has_sf ? fmt::format("[{}, {}]", sig4(r.sf_ci_low), sig4(r.sf_ci_high)) : "",
        r.clean_acc >= 0 ? fixed(r.clean_acc) : ""};
    for (const auto& l : labels) {
      row.push_back(r.adv_acc.count(l) ? fixed(r.adv_acc.at(l)) : "");
      row.push_back(r.accuracy_drop.count(l) ? fixed(r.accuracy_drop.at(l)) : "");
    }
    zoo.rows.push_back(std::move(row));
  }
  if (corr.empty()) {
    zoo.footnotes.push_back("correlations need SF and the same attack in at least 3 files");
    return {zoo};
  }
  Table tests;
  tests.header = {"attack", "models", "statistic", "value", "95% CI", "p"};
  for (const auto& c : corr) {
    const std::pair<const char*, const CorrelationTest*> stats[] = {
        {"Spearman rho(SF, dAcc)", &c.rho_drop},
        {"Kendall tau(SF, dAcc)", &c.tau_drop},
        {"Spearman rho(SF, adv_acc)", &c.rho_adv},
        {"Kendall tau(SF, adv_acc)", &c.tau_adv}};
    for (const auto& [name, t] : stats) {
      tests.rows.push_back({c.attack, std::to_string(c.models), name, fixed(t->value, 3),
                            fmt::format("[{}, {}]", fixed(t->ci_low, 3), fixed(t->ci_high, 3)),
                            fixed(t->p_value, 4)});
    }
  }
  return {zoo, tests};
}

void write_model_infos(const std::vector<ModelRecord>& records, const std::filesystem::path& dir) {
  namespace fs = std::filesystem;
  if (!fs::is_directory(dir)) {
    throw IoError("compare --out-dir: '" + dir.string() + "' is not a directory",
                  ExitCode::kBadInput);
  }
  std::set<std::string> names;
  std::vector<std::pair<fs::path, nlohmann::json>> files;
  for (const auto& r : records) {
    const auto info = robustbench_json(r);
    const std::string name = info["name"].get<std::string>();
    if (!names.insert(name).second) {
      throw IoError("compare --out-dir: two results files are named '" + name + "' (" + r.file +
                        "); model_info files are named after the file stem",
                    ExitCode::kBadInput);
    }
    // Only an earlier model_info of sfbench is replaced: never a summary or someone's file.
    check_companion({dir / (name + ".json"), "RobustBench model_info", [](const fs::path& p) {
                       std::ifstream in(p, std::ios::binary);
                       const auto j = nlohmann::json::parse(in, nullptr, false);
                       return j.is_object() && j.contains("sfbench") && j["sfbench"].is_object() &&
                              j["sfbench"].contains("results_file");
                     }});
    files.emplace_back(dir / (name + ".json"), info);
  }
  for (const auto& [out, info] : files) write_file_atomically(out, info.dump(2) + "\n");
}

}  // namespace sfb::io
