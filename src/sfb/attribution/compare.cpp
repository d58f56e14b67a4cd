// The cross-model side of `sfbench compare` for attribution results (papers 002/003): per-model
// Gini and inductive error rates, and the model×model Spearman agreement of the saved maps.
#include "attribution/compare.hpp"

#include <fmt/format.h>

#include <cmath>
#include <filesystem>
#include <map>
#include <set>
#include <sstream>

#include "core/error.hpp"
#include "io/h5_node.hpp"

namespace sfb::attribution {
using io::H5Node;
namespace {

std::string str_attr(const H5Node& obj, const std::string& key) {
  if (!obj.has_attr(key)) return "";
  const auto v = obj.attr(key);
  const auto* s = std::get_if<std::string>(&v);
  return s ? *s : "";
}

std::vector<std::string> split(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  for (std::string item; std::getline(ss, item, ',');) {
    if (!item.empty()) out.push_back(item);
  }
  return out;
}

std::vector<double> doubles(const H5Node& f, const std::string& path) {
  if (!f.exists(path)) return {};
  const torch::Tensor t = f.read(path).to(torch::kFloat64).contiguous();
  return {t.data_ptr<double>(), t.data_ptr<double>() + t.numel()};
}

double number_attr(const H5Node& obj, const std::string& key, const std::string& file) {
  const auto v = obj.attr(key);
  if (const auto* d = std::get_if<double>(&v)) return *d;
  if (const auto* i = std::get_if<int64_t>(&v)) return static_cast<double>(*i);
  throw IoError(file + ": attribute '" + key + "' is not a number", ExitCode::kBadInput);
}

}  // namespace

AttributionRecord read_attribution(const std::string& file, bool& has_attribution) {
  AttributionRecord r;
  r.file = file;
  const auto f = H5Node::open_readonly(file);
  has_attribution = f.exists("/attribution");
  if (!has_attribution) return r;
  if (f.exists("/dataset")) {
    auto d = f.open("/dataset");
    r.dataset_sha256 = str_attr(d, "sha256");
  }
  auto g = f.open("/attribution");
  r.methods = split(str_attr(g, "methods"));
  r.accuracy = number_attr(g, "accuracy", file);
  r.n = static_cast<int64_t>(number_attr(g, "n", file));
  r.occlusion = split(str_attr(g, "occlusion_colors"));
  if (f.exists("/attribution/top_pixels")) {
    const torch::Tensor t = f.read("/attribution/top_pixels").contiguous();
    r.top_pixels.assign(t.data_ptr<int64_t>(), t.data_ptr<int64_t>() + t.numel());
  }
  r.random_noise1 = doubles(f, "/attribution/random/noise1_error_rate");
  r.random_noise2 = doubles(f, "/attribution/random/noise2_error_rate");
  if (f.exists("/attribution/maps/index")) {
    r.map_index = f.read("/attribution/maps/index");
  }
  for (const auto& m : r.methods) {
    const std::string p = "/attribution/" + m;
    if (!f.exists(p)) {
      throw IoError(file + ": /attribution lists method '" + m + "' but has no group " + p,
                    ExitCode::kBadInput);
    }
    auto mg = f.open(p);
    AttributionRecord::Method pm;
    pm.gini = number_attr(mg, "gini", file);
    pm.gini_regional = number_attr(mg, "gini_regional", file);
    pm.noise1 = doubles(f, p + "/noise1_error_rate");
    pm.noise2 = doubles(f, p + "/noise2_error_rate");
    pm.occlusion = doubles(f, p + "/occlusion_error_rate");
    pm.has_maps = r.map_index.defined() && f.exists("/attribution/maps/" + m);
    r.per_method.push_back(pm);
  }
  return r;
}

std::vector<AgreementMatrix> agreement_matrices(const std::vector<AttributionRecord>& records,
                                                std::vector<std::string>& notes) {
  // methods in first-seen order, with the records that saved their maps
  std::vector<std::string> order;
  std::map<std::string, std::vector<size_t>> holders;
  for (size_t i = 0; i < records.size(); ++i) {
    for (size_t m = 0; m < records[i].methods.size(); ++m) {
      if (!records[i].per_method[m].has_maps) continue;
      const std::string& name = records[i].methods[m];
      if (holders.find(name) == holders.end()) order.push_back(name);
      holders[name].push_back(i);
    }
  }
  std::vector<AgreementMatrix> out;
  for (const auto& method : order) {
    const auto& idx = holders[method];
    if (idx.size() < 2) continue;
    std::vector<torch::Tensor> maps;
    for (const size_t i : idx) {
      const auto f = H5Node::open_readonly(records[i].file);
      maps.push_back(f.read("/attribution/maps/" + method));
    }
    AgreementMatrix a;
    a.method = method;
    a.records = idx;
    a.rho.assign(idx.size(), std::vector<MeanCi>(idx.size()));
    for (size_t p = 0; p < idx.size(); ++p) {
      for (size_t q = p; q < idx.size(); ++q) {
        const AttributionRecord& ra = records[idx[p]];
        const AttributionRecord& rb = records[idx[q]];
        MeanCi ci = mean_ci(torch::empty({0}, torch::kFloat64));  // NaN, count 0
        if (ra.dataset_sha256 != rb.dataset_sha256) {
          if (p != q) {
            notes.push_back(
                fmt::format("{}: {} and {} were run on different datasets; their maps "
                            "are not compared",
                            method, ra.file, rb.file));
          }
        } else if (maps[p].sizes().slice(1) != maps[q].sizes().slice(1)) {
          notes.push_back(
              fmt::format("{}: {} and {} saved maps of different sizes", method, ra.file, rb.file));
        } else {
          // images both files saved: the indices are ascending in each file
          const torch::Tensor common =
              std::get<0>(torch::_unique(torch::cat({ra.map_index, rb.map_index})));
          const torch::Tensor in_a = torch::isin(common, ra.map_index);
          const torch::Tensor in_b = torch::isin(common, rb.map_index);
          const torch::Tensor both = common.masked_select(in_a & in_b);
          if (both.numel() == 0) {
            notes.push_back(fmt::format("{}: {} and {} saved maps of no common image", method,
                                        ra.file, rb.file));
          } else {
            const torch::Tensor pa = torch::searchsorted(ra.map_index, both);
            const torch::Tensor pb = torch::searchsorted(rb.map_index, both);
            ci = mean_ci(spearman(maps[p].index_select(0, pa).flatten(1),
                                  maps[q].index_select(0, pb).flatten(1)));
          }
        }
        a.rho[p][q] = a.rho[q][p] = ci;
      }
    }
    out.push_back(a);
  }
  return out;
}

AttributionComparison compare_attribution(const std::vector<std::string>& files) {
  AttributionComparison c;
  for (const auto& f : files) {
    bool has = false;
    auto r = read_attribution(f, has);
    if (has) c.records.push_back(std::move(r));
  }
  c.matrices = agreement_matrices(c.records, c.notes);
  return c;
}

namespace {

std::string fixed(double v, int prec = 4) {
  return std::isfinite(v) ? fmt::format("{:.{}f}", v, prec) : "nan";
}

std::string stem(const std::string& file) { return std::filesystem::path(file).stem().string(); }

std::string rho_cell(const MeanCi& c) {
  if (c.count == 0) return "";
  return fmt::format("{} [{}, {}] n={}", fixed(c.mean, 3), fixed(c.low, 3), fixed(c.high, 3),
                     c.count);
}

}  // namespace

std::vector<io::Table> attribution_tables(const AttributionComparison& c) {
  if (c.records.empty()) return {};
  // one column per inductive attack setting present in any file: Noise-I, Noise-II by T, then
  // the occlusion colours
  std::set<int64_t> tops;
  std::set<std::string> colours;
  for (const auto& r : c.records) {
    tops.insert(r.top_pixels.begin(), r.top_pixels.end());
    colours.insert(r.occlusion.begin(), r.occlusion.end());
  }
  std::vector<std::string> attacks;
  for (const char* kind : {"Noise-I", "Noise-II"}) {
    for (const int64_t t : tops) attacks.push_back(fmt::format("{} T={}", kind, t));
  }
  for (const auto& colour : colours) attacks.push_back("occlusion-" + colour);
  io::Table rates;
  rates.header = {"model", "n", "accuracy", "method", "Gini", "Gini_r"};
  rates.header.insert(rates.header.end(), attacks.begin(), attacks.end());
  for (const auto& r : c.records) {
    if (!r.random_noise1.empty()) {  // the control row: T random pixels, same noise
      std::vector<std::string> row{
          stem(r.file), std::to_string(r.n), fixed(r.accuracy), "(random pixels)", "", ""};
      for (const auto& a : attacks) {
        std::string cell;
        for (size_t t = 0; t < r.top_pixels.size() && t < r.random_noise1.size(); ++t) {
          if (a == fmt::format("Noise-I T={}", r.top_pixels[t])) cell = fixed(r.random_noise1[t]);
          if (a == fmt::format("Noise-II T={}", r.top_pixels[t])) cell = fixed(r.random_noise2[t]);
        }
        row.push_back(cell);
      }
      rates.rows.push_back(std::move(row));
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
      std::vector<std::string> row{stem(r.file), std::to_string(r.n), fixed(r.accuracy),
                                   r.methods[m], fixed(pm.gini),      fixed(pm.gini_regional)};
      for (const auto& a : attacks) row.push_back(v.count(a) ? fixed(v.at(a)) : "");
      rates.rows.push_back(std::move(row));
    }
  }
  rates.footnotes.push_back(
      "error rates: misclassified after the inductive attack / correctly classified");
  std::vector<io::Table> tables{rates};
  for (const auto& mx : c.matrices) {
    io::Table t;
    t.header = {"Spearman rho " + mx.method};
    for (const size_t i : mx.records) t.header.push_back(stem(c.records[i].file));
    for (size_t p = 0; p < mx.records.size(); ++p) {
      std::vector<std::string> row{stem(c.records[mx.records[p]].file)};
      for (size_t q = 0; q < mx.records.size(); ++q) row.push_back(rho_cell(mx.rho[p][q]));
      t.rows.push_back(std::move(row));
    }
    t.footnotes.push_back("mean rho [95% CI] over the n images both files saved maps of");
    tables.push_back(std::move(t));
  }
  for (const auto& n : c.notes) tables.back().footnotes.push_back("note: " + n);
  return tables;
}

nlohmann::json attribution_json(const AttributionComparison& c) {
  using nlohmann::json;
  json models = json::array();
  for (const auto& r : c.records) {
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
  json mats = json::array();
  for (const auto& mx : c.matrices) {
    json files = json::array(), mean = json::array(), low = json::array(), high = json::array(),
         count = json::array();
    for (size_t p = 0; p < mx.records.size(); ++p) {
      files.push_back(c.records[mx.records[p]].file);
      json rm = json::array(), rl = rm, rh = rm, rc = rm;
      for (const auto& e : mx.rho[p]) {
        rm.push_back(e.count ? json(e.mean) : json());
        rl.push_back(e.count ? json(e.low) : json());
        rh.push_back(e.count ? json(e.high) : json());
        rc.push_back(e.count);
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
  return {{"models", models}, {"agreement", mats}, {"notes", c.notes}};
}

}  // namespace sfb::attribution
