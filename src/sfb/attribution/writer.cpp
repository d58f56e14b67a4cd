#include "attribution/writer.hpp"

#include <torch/torch.h>

#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "attribution/focus.hpp"

namespace sfb::attribution {
namespace {

nlohmann::json rate_json(const Rate& r) {
  return {{"rate", r.rate}, {"ci", {r.low, r.high}}, {"flipped", r.k}, {"attacked", r.n}};
}

nlohmann::json rates_json(const std::vector<Rate>& rs) {
  nlohmann::json a = nlohmann::json::array();
  for (const Rate& r : rs) a.push_back(rate_json(r));
  return a;
}

// <prefix>_error_rate [K] and <prefix>_error_ci [K, 2] (Wilson 95 %).
void write_rates(io::ResultsFile& rf, const std::string& prefix, const std::vector<Rate>& rs) {
  std::vector<double> rate, low, high;
  for (const Rate& r : rs) {
    rate.push_back(r.rate);
    low.push_back(r.low);
    high.push_back(r.high);
  }
  rf.write_global(prefix + "_error_rate", torch::tensor(rate, torch::kFloat64));
  rf.write_global(
      prefix + "_error_ci",
      torch::stack({torch::tensor(low, torch::kFloat64), torch::tensor(high, torch::kFloat64)}, 1));
}

}  // namespace

void write_attribution(io::ResultsFile& rf, const AttributionStage& stage,
                       const AttributionStatistics& s) {
  const auto& c = stage.config();
  const torch::Tensor index = stage.index(), labels = stage.labels(), preds = stage.preds();
  const int64_t offset = index.numel() > 0 ? index[0].item<int64_t>() : 0;
  rf.write_samples(offset, index, labels, preds);
  rf.write_per_sample("/attribution/confidence", offset, stage.confidence());
  rf.write_per_sample("/attribution/confidence_group", offset,
                      confidence_group(stage.confidence()));
  nlohmann::json& metrics = rf.summary()["metrics"]["attribution"];
  metrics["correct"] = s.correct;
  for (size_t m = 0; m < s.methods.size(); ++m) {
    const MethodStatistics& ms = s.methods[m];
    const std::string g = "/attribution/" + ms.method;
    rf.write_per_sample(g + "/gini", offset, stage.gini(m));
    rf.write_per_sample(g + "/gini_regional", offset, stage.gini_regional(m));
    const io::SummaryKey where = {"metrics", "attribution", "methods", ms.method};
    rf.record_values(g + "/gini_by_class", where, "gini_by_class", ms.gini_by_class);
    rf.record_values(g + "/gini_regional_by_class", where, "gini_regional_by_class",
                     ms.gini_regional_by_class);
    rf.write_global(g + "/count_by_class", ms.count_by_class);
    rf.record_metrics(g, where,
                      {{"gini", ms.gini},
                       {"gini_stderr", ms.gini_stderr},
                       {"gini_regional", ms.gini_regional},
                       {"gini_regional_stderr", ms.gini_regional_stderr}});
    if (s.masks) {
      rf.write_per_sample(g + "/snr_db", offset, stage.snr_db(m));
      rf.record_values(g + "/snr_db_by_group", where, "snr_db_by_group", ms.snr_db_by_group);
      rf.record_values(g + "/snr_db_stderr_by_group", where, "snr_db_stderr_by_group",
                       ms.snr_db_stderr_by_group);
      rf.write_global(g + "/snr_count_by_group", ms.snr_count_by_group);
      rf.record_metrics(g, where, {{"snr_db", ms.snr_db}, {"snr_db_stderr", ms.snr_db_stderr}});
    }
    nlohmann::json& mj = rf.summary()["metrics"]["attribution"]["methods"][ms.method];
    if (!ms.noise1.empty()) {
      rf.write_per_sample(g + "/noise1_flip", offset, stage.noise1_flip(m));
      rf.write_per_sample(g + "/noise2_flip", offset, stage.noise2_flip(m));
      write_rates(rf, g + "/noise1", ms.noise1);
      write_rates(rf, g + "/noise2", ms.noise2);
      mj["noise1_error_rate"] = rates_json(ms.noise1);
      mj["noise2_error_rate"] = rates_json(ms.noise2);
    }
    if (!ms.occlusion.empty()) {
      for (size_t k = 0; k < c.occlusion_colors.size(); ++k) {
        const std::string o = g + "/occlusion_" + c.occlusion_colors[k];
        rf.write_per_sample(o + "_flip", offset, stage.occlusion_flip(m, k));
        rf.write_per_sample(o + "_count", offset, stage.occlusion_count(m, k));
        rf.write_per_sample(o + "_radius", offset, stage.occlusion_radius(m, k));
      }
      write_rates(rf, g + "/occlusion", ms.occlusion);
      nlohmann::json oj;
      for (size_t k = 0; k < c.occlusion_colors.size(); ++k) {
        oj[c.occlusion_colors[k]] = rate_json(ms.occlusion[k]);
      }
      mj["occlusion_error_rate"] = oj;
    }
  }
  if (!s.random_noise1.empty()) {
    rf.write_global("/attribution/top_pixels", torch::tensor(c.top_pixels, torch::kInt64));
    rf.write_per_sample("/attribution/random/noise1_flip", offset, stage.random_noise1_flip());
    rf.write_per_sample("/attribution/random/noise2_flip", offset, stage.random_noise2_flip());
    write_rates(rf, "/attribution/random/noise1", s.random_noise1);
    write_rates(rf, "/attribution/random/noise2", s.random_noise2);
    metrics["top_pixels"] = c.top_pixels;
    metrics["random_noise1_error_rate"] = rates_json(s.random_noise1);
    metrics["random_noise2_error_rate"] = rates_json(s.random_noise2);
  }
  if (!s.agreement.empty()) {
    std::vector<torch::Tensor> cols;
    std::vector<double> mean, low, high;
    std::vector<int64_t> count;
    std::string names;
    nlohmann::json aj = nlohmann::json::array();
    for (size_t p = 0; p < s.agreement.size(); ++p) {
      const PairAgreement& a = s.agreement[p];
      cols.push_back(stage.spearman(p).unsqueeze(1));
      mean.push_back(a.spearman.mean);
      low.push_back(a.spearman.low);
      high.push_back(a.spearman.high);
      count.push_back(a.spearman.count);
      names += (names.empty() ? "" : ",") + a.a + "~" + a.b;
      aj.push_back({{"a", a.a},
                    {"b", a.b},
                    {"spearman", a.spearman.mean},
                    {"ci", {a.spearman.low, a.spearman.high}},
                    {"count", a.spearman.count}});
    }
    rf.write_per_sample("/attribution/agreement/spearman", offset, torch::cat(cols, 1));
    rf.write_global("/attribution/agreement/mean", torch::tensor(mean, torch::kFloat64));
    rf.write_global(
        "/attribution/agreement/ci",
        torch::stack({torch::tensor(low, torch::kFloat64), torch::tensor(high, torch::kFloat64)},
                     1));
    rf.write_global("/attribution/agreement/count", torch::tensor(count, torch::kInt64));
    rf.set_attr("/attribution/agreement", "pairs", names);
    rf.set_attr("/attribution/agreement", "statistic",
                std::string("Spearman rank correlation of the channel-summed maps per image; mean "
                            "over images with two non-constant maps; 95% normal CI"));
    metrics["agreement"] = aj;
  }
  if (stage.saved_map_count() > 0) {
    const int64_t mo = stage.map_offset();
    rf.write_per_sample("/attribution/maps/index", mo, stage.map_index());
    for (size_t m = 0; m < c.methods.size(); ++m) {
      rf.write_per_sample("/attribution/maps/" + c.methods[m], mo, stage.saved_maps(m));
    }
    rf.set_attr("/attribution/maps", "content",
                std::string("channel-summed maps (float32) of the images listed in index"));
  }
  const double accuracy = s.n > 0 ? static_cast<double>(s.correct) / static_cast<double>(s.n) : 0.0;
  std::string methods;
  for (const auto& m : c.methods) methods += (methods.empty() ? "" : ",") + m;
  std::string colors;
  for (const auto& k : c.occlusion_colors) colors += (colors.empty() ? "" : ",") + k;
  rf.record_metrics("/attribution", {"metrics", "attribution"},
                    {{"n", s.n}, {"region", c.region}, {"accuracy", accuracy}});
  // Recorded in the file only: the configuration echo and what the values mean.
  const std::vector<std::pair<std::string, io::AttrValue>> attrs = {
      {"methods", methods},
      {"target", std::string("logit z_y of the label")},
      {"channel_reduction", std::string("sum")},
      {"steps", c.steps},
      {"baseline", c.baseline},
      {"samples", c.samples},
      {"noise_std", c.noise_std},
      {"shap_noise_std", c.shap_noise_std},
      {"internal_batch", c.internal_batch},
      {"layer", c.layer},
      {"ig_layer", c.ig_layer},
      {"dtype", c.dtype},
      {"masks", int64_t{s.masks ? 1 : 0}},
      {"confidence_groups", std::string("low p<0.5, intermediate 0.5<=p<0.9, high p>=0.9")},
      {"stderr", std::string("sample SD over images / sqrt(count)")},
      {"noise", int64_t{c.noise ? 1 : 0}},
      {"top_pixels", c.top_pixels},
      {"top_pixels_ranking", std::string("largest |channel-summed attribution|")},
      {"occlusion_colors", colors},
      {"occlusion_count", c.occlusion_count},
      {"occlusion_radius", c.occlusion_radius},
      {"error_rate", std::string("misclassified after the attack / correctly classified; "
                                 "Wilson 95% interval")},
      {"maps", stage.saved_map_count()}};
  for (const auto& [k, v] : attrs) rf.set_attr("/attribution", k, v);
}

}  // namespace sfb::attribution
