#include "attribution/writer.hpp"

#include <torch/torch.h>

#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "attribution/focus.hpp"

namespace sfb::attribution {
namespace {

std::vector<double> to_vec(const torch::Tensor& t) {
  const torch::Tensor c = t.to(torch::kCPU, torch::kFloat64).contiguous();
  return {c.data_ptr<double>(), c.data_ptr<double>() + c.numel()};
}

}  // namespace

void write_attribution(io::ResultsFile& rf, const AttributionStage& stage,
                       const AttributionStatistics& s, double seconds) {
  const auto& c = stage.config();
  const torch::Tensor index = stage.index(), labels = stage.labels(), preds = stage.preds();
  const int64_t offset = index.numel() > 0 ? index[0].item<int64_t>() : 0;
  rf.write_per_sample("/samples/index", offset, index);
  rf.write_per_sample("/samples/label", offset, labels);
  rf.write_per_sample("/samples/pred", offset, preds);
  rf.write_per_sample("/samples/correct", offset, preds.eq(labels).to(torch::kUInt8));
  rf.write_per_sample("/attribution/confidence", offset, stage.confidence());
  rf.write_per_sample("/attribution/confidence_group", offset,
                      confidence_group(stage.confidence()));
  nlohmann::json metrics = {{"n", s.n}, {"correct", s.correct}, {"region", c.region}};
  for (size_t m = 0; m < s.methods.size(); ++m) {
    const MethodStatistics& ms = s.methods[m];
    const std::string g = "/attribution/" + ms.method;
    rf.write_per_sample(g + "/gini", offset, stage.gini(m));
    rf.write_per_sample(g + "/gini_regional", offset, stage.gini_regional(m));
    rf.write_global(g + "/gini_by_class", ms.gini_by_class);
    rf.write_global(g + "/gini_regional_by_class", ms.gini_regional_by_class);
    rf.write_global(g + "/count_by_class", ms.count_by_class);
    nlohmann::json mj = {{"gini", ms.gini},
                         {"gini_stderr", ms.gini_stderr},
                         {"gini_regional", ms.gini_regional},
                         {"gini_regional_stderr", ms.gini_regional_stderr},
                         {"gini_by_class", to_vec(ms.gini_by_class)},
                         {"gini_regional_by_class", to_vec(ms.gini_regional_by_class)}};
    std::vector<std::pair<std::string, double>> attrs = {
        {"gini", ms.gini},
        {"gini_stderr", ms.gini_stderr},
        {"gini_regional", ms.gini_regional},
        {"gini_regional_stderr", ms.gini_regional_stderr}};
    if (s.masks) {
      rf.write_per_sample(g + "/snr_db", offset, stage.snr_db(m));
      rf.write_global(g + "/snr_db_by_group", ms.snr_db_by_group);
      rf.write_global(g + "/snr_db_stderr_by_group", ms.snr_db_stderr_by_group);
      rf.write_global(g + "/snr_count_by_group", ms.snr_count_by_group);
      attrs.emplace_back("snr_db", ms.snr_db);
      attrs.emplace_back("snr_db_stderr", ms.snr_db_stderr);
      mj["snr_db"] = ms.snr_db;
      mj["snr_db_stderr"] = ms.snr_db_stderr;
      mj["snr_db_by_group"] = to_vec(ms.snr_db_by_group);
      mj["snr_db_stderr_by_group"] = to_vec(ms.snr_db_stderr_by_group);
    }
    for (const auto& [k, v] : attrs) rf.set_attr(g, k, v);
    metrics["methods"][ms.method] = mj;
  }
  const double accuracy = s.n > 0 ? static_cast<double>(s.correct) / static_cast<double>(s.n) : 0.0;
  std::string methods;
  for (const auto& m : c.methods) methods += (methods.empty() ? "" : ",") + m;
  const std::vector<std::pair<std::string, io::AttrValue>> attrs = {
      {"n", s.n},
      {"methods", methods},
      {"target", std::string("logit z_y of the label")},
      {"channel_reduction", std::string("sum")},
      {"region", c.region},
      {"steps", c.steps},
      {"baseline", c.baseline},
      {"samples", c.samples},
      {"noise_std", c.noise_std},
      {"shap_noise_std", c.shap_noise_std},
      {"internal_batch", c.internal_batch},
      {"layer", c.layer},
      {"dtype", c.dtype},
      {"masks", int64_t{s.masks ? 1 : 0}},
      {"confidence_groups", std::string("low p<0.5, intermediate 0.5<=p<0.9, high p>=0.9")},
      {"stderr", std::string("sample SD over images / sqrt(count)")},
      {"accuracy", accuracy}};
  for (const auto& [k, v] : attrs) rf.set_attr("/attribution", k, v);
  const double rate = seconds > 0 ? static_cast<double>(s.n) / seconds : 0.0;
  rf.set_attr("/timing", "attribution_seconds", seconds);
  rf.set_attr("/timing", "attribution_images_per_s", rate);
  metrics["accuracy"] = accuracy;
  auto& sum = rf.summary();
  sum["metrics"]["attribution"] = metrics;
  sum["timing"]["attribution"] = {{"seconds", seconds}, {"images_per_s", rate}};
}

}  // namespace sfb::attribution
