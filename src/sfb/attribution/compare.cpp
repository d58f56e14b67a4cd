// The cross-model side of `sfbench compare` for attribution results (papers 002/003): per-model
// Gini and inductive error rates, and the model×model Spearman agreement of the saved maps.
#include "attribution/compare.hpp"

#include <fmt/format.h>

#include <map>
#include <sstream>

#include "core/error.hpp"
#include "io/hdf5/objects.hpp"

namespace sfb::attribution {
namespace h5 = io::h5;
namespace {

std::string str_attr(hid_t obj, const std::string& key) {
  if (!h5::has_attr(obj, key)) return "";
  const auto v = h5::read_attr(obj, key);
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

std::vector<double> doubles(hid_t f, const std::string& path) {
  if (!h5::exists(f, path)) return {};
  const torch::Tensor t = h5::read_dataset(f, path).to(torch::kFloat64).contiguous();
  return {t.data_ptr<double>(), t.data_ptr<double>() + t.numel()};
}

double number_attr(hid_t obj, const std::string& key, const std::string& file) {
  const auto v = h5::read_attr(obj, key);
  if (const auto* d = std::get_if<double>(&v)) return *d;
  if (const auto* i = std::get_if<int64_t>(&v)) return static_cast<double>(*i);
  throw IoError(file + ": attribute '" + key + "' is not a number", ExitCode::kBadInput);
}

}  // namespace

AttributionRecord read_attribution(const std::string& file, bool& has_attribution) {
  AttributionRecord r;
  r.file = file;
  auto f = h5::open_readonly(file);
  has_attribution = h5::exists(f.get(), "/attribution");
  if (!has_attribution) return r;
  if (h5::exists(f.get(), "/dataset")) {
    auto d = h5::open_object(f.get(), "/dataset");
    r.dataset_sha256 = str_attr(d.get(), "sha256");
  }
  auto g = h5::open_object(f.get(), "/attribution");
  r.methods = split(str_attr(g.get(), "methods"));
  r.accuracy = number_attr(g.get(), "accuracy", file);
  r.n = static_cast<int64_t>(number_attr(g.get(), "n", file));
  r.occlusion = split(str_attr(g.get(), "occlusion_colors"));
  if (h5::exists(f.get(), "/attribution/top_pixels")) {
    const torch::Tensor t = h5::read_dataset(f.get(), "/attribution/top_pixels").contiguous();
    r.top_pixels.assign(t.data_ptr<int64_t>(), t.data_ptr<int64_t>() + t.numel());
  }
  r.random_noise1 = doubles(f.get(), "/attribution/random/noise1_error_rate");
  r.random_noise2 = doubles(f.get(), "/attribution/random/noise2_error_rate");
  if (h5::exists(f.get(), "/attribution/maps/index")) {
    r.map_index = h5::read_dataset(f.get(), "/attribution/maps/index");
  }
  for (const auto& m : r.methods) {
    const std::string p = "/attribution/" + m;
    if (!h5::exists(f.get(), p)) {
      throw IoError(file + ": /attribution lists method '" + m + "' but has no group " + p,
                    ExitCode::kBadInput);
    }
    auto mg = h5::open_object(f.get(), p);
    AttributionRecord::Method pm;
    pm.gini = number_attr(mg.get(), "gini", file);
    pm.gini_regional = number_attr(mg.get(), "gini_regional", file);
    pm.noise1 = doubles(f.get(), p + "/noise1_error_rate");
    pm.noise2 = doubles(f.get(), p + "/noise2_error_rate");
    pm.occlusion = doubles(f.get(), p + "/occlusion_error_rate");
    pm.has_maps = r.map_index.defined() && h5::exists(f.get(), "/attribution/maps/" + m);
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
      auto f = h5::open_readonly(records[i].file);
      maps.push_back(h5::read_dataset(f.get(), "/attribution/maps/" + method));
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

}  // namespace sfb::attribution
