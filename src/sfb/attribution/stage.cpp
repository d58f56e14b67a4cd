#include "attribution/stage.hpp"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "attribution/focus.hpp"
#include "attribution/gini.hpp"
#include "core/error.hpp"
#include "core/progress.hpp"
#include "core/timer.hpp"

namespace sfb::attribution {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

torch::ScalarType stage_dtype(const AttributionConfig& c) {
  return c.dtype == "float64" ? torch::kFloat64 : torch::kFloat32;
}

models::Classifier& prepared(models::Classifier& model, const AttributionConfig& c) {
  model.train(false);
  model.to_dtype(stage_dtype(c));
  return model;
}

torch::Tensor cat_or_empty(const std::vector<torch::Tensor>& parts, torch::ScalarType st) {
  return parts.empty() ? torch::empty({0}, st) : torch::cat(parts);
}

// Layout of one method's row of sums (all float64): Σg, Σg², Σgr, Σgr², n, then per class Σg,
// Σgr, count, then per confidence group Σsnr, Σsnr², count.
struct Layout {
  int64_t c;
  int64_t cls(int64_t which) const { return 5 + which * c; }  // which: 0 g, 1 gr, 2 count
  int64_t grp(int64_t which) const { return 5 + 3 * c + which * kNumGroups; }
  int64_t size() const { return 5 + 3 * c + 3 * kNumGroups; }
};

double stderr_of(double s, double s2, double n) {
  if (n < 2) return kNaN;
  const double var = std::max(0.0, (s2 - s * s / n) / (n - 1));
  return std::sqrt(var / n);
}

}  // namespace

AttributionStage::AttributionStage(models::Classifier& model, const AttributionConfig& cfg,
                                   int64_t num_classes, bool with_masks, uint64_t seed,
                                   const torch::Device& device, int64_t batch_size)
    : model_(prepared(model, cfg)),
      cfg_(cfg),
      num_classes_(num_classes),
      dtype_(stage_dtype(cfg)),
      device_(device),
      batch_size_(batch_size),
      gini_(cfg.methods.size()),
      regional_(cfg.methods.size()),
      snr_(cfg.methods.size()),
      with_masks_(with_masks) {
  if (batch_size < 1) throw ConfigError("batch_size must be >= 1");
  if (cfg.region <= 0) throw ConfigError("attribution.region must be resolved (> 0)");
  for (const auto& m : cfg.methods) methods_.push_back(make_method(m, cfg.method_options(seed)));
}

void AttributionStage::add(const data::Batch& batch) {
  Stopwatch sw;
  const torch::Tensor x = batch.images.to(device_, dtype_);
  const torch::Tensor y = batch.labels.to(device_, torch::kInt64);
  if (with_masks_ && !batch.masks.defined()) {
    throw DataError("attribution: a batch without foreground masks (first index " +
                    std::to_string(batch.index[0].item<int64_t>()) + ")");
  }
  torch::Tensor probs;
  {
    torch::NoGradGuard no_grad;
    probs = torch::softmax(model_.forward(x).to(torch::kFloat64), 1).to(torch::kCPU);
  }
  const auto [conf, pred] = probs.max(1);
  for (size_t m = 0; m < methods_.size(); ++m) {
    const torch::Tensor map = reduce_channels(methods_[m]->attribute(model_, x, y, batch.index));
    gini_[m].push_back(gini_global(map).to(torch::kCPU));
    regional_[m].push_back(attribution::gini_regional(map, cfg_.region).to(torch::kCPU));
    if (with_masks_) {
      try {
        snr_[m].push_back(attribution::snr_db(map, batch.masks).to(torch::kCPU));
      } catch (const DataError& e) {
        throw DataError(std::string(e.what()) + " (batch starting at sample index " +
                        std::to_string(batch.index[0].item<int64_t>()) + ")");
      }
    }
  }
  index_.push_back(batch.index.to(torch::kCPU, torch::kInt64));
  labels_.push_back(batch.labels.to(torch::kCPU, torch::kInt64));
  preds_.push_back(pred);
  conf_.push_back(conf);
  seconds_ += sw.seconds();
}

void AttributionStage::run_shard(const data::Dataset& ds, const Range& shard, bool show_progress) {
  Progress progress("attribution", shard.count, show_progress);
  for (int64_t start = shard.begin; start < shard.end(); start += batch_size_) {
    std::vector<int64_t> idx;
    for (int64_t i = start; i < std::min(start + batch_size_, shard.end()); ++i) idx.push_back(i);
    add(ds.get(idx));
    progress.advance(static_cast<int64_t>(idx.size()));
  }
  progress.finish();
}

AttributionStatistics AttributionStage::reduce(comm::Communicator& comm) const {
  const Layout l{num_classes_};
  const auto n_methods = static_cast<int64_t>(methods_.size());
  torch::Tensor sums = torch::zeros({n_methods * l.size() + 2}, torch::kFloat64);
  const torch::Tensor lab = labels(), pr = preds();
  const torch::Tensor grp = confidence_group(confidence());
  sums[-2] = static_cast<double>(lab.numel());
  sums[-1] = static_cast<double>(pr.eq(lab).sum().item<int64_t>());
  for (int64_t m = 0; m < n_methods; ++m) {
    torch::Tensor row = sums.narrow(0, m * l.size(), l.size());
    const torch::Tensor g = gini(static_cast<size_t>(m)),
                        gr = gini_regional(static_cast<size_t>(m));
    row[0] = g.sum();
    row[1] = g.square().sum();
    row[2] = gr.sum();
    row[3] = gr.square().sum();
    row[4] = static_cast<double>(g.numel());
    const torch::Tensor ones = torch::ones_like(g);
    row.narrow(0, l.cls(0), l.c).index_add_(0, lab, g);
    row.narrow(0, l.cls(1), l.c).index_add_(0, lab, gr);
    row.narrow(0, l.cls(2), l.c).index_add_(0, lab, ones);
    if (with_masks_) {
      const torch::Tensor s = snr_db(static_cast<size_t>(m));
      const torch::Tensor fin = torch::isfinite(s);
      const torch::Tensor sv = torch::where(fin, s, torch::zeros_like(s));
      row.narrow(0, l.grp(0), kNumGroups).index_add_(0, grp, sv);
      row.narrow(0, l.grp(1), kNumGroups).index_add_(0, grp, sv.square());
      row.narrow(0, l.grp(2), kNumGroups).index_add_(0, grp, fin.to(torch::kFloat64));
    }
  }
  torch::Tensor flat = sums.to(comm.device());
  comm.allreduce(flat, comm::ReduceOp::kSum);
  flat = flat.to(torch::kCPU);
  AttributionStatistics out;
  out.n = static_cast<int64_t>(flat[-2].item<double>());
  out.correct = static_cast<int64_t>(flat[-1].item<double>());
  out.masks = with_masks_;
  for (int64_t m = 0; m < n_methods; ++m) {
    const torch::Tensor row = flat.narrow(0, m * l.size(), l.size());
    auto at = [&](int64_t i) { return row[i].item<double>(); };
    MethodStatistics s;
    s.method = cfg_.methods[static_cast<size_t>(m)];
    const double n = at(4);
    s.gini = n > 0 ? at(0) / n : kNaN;
    s.gini_stderr = stderr_of(at(0), at(1), n);
    s.gini_regional = n > 0 ? at(2) / n : kNaN;
    s.gini_regional_stderr = stderr_of(at(2), at(3), n);
    const torch::Tensor cnt = row.narrow(0, l.cls(2), l.c);
    s.gini_by_class = row.narrow(0, l.cls(0), l.c) / cnt;  // NaN where the count is 0
    s.gini_regional_by_class = row.narrow(0, l.cls(1), l.c) / cnt;
    s.count_by_class = cnt.round().to(torch::kInt64);
    s.snr_db = s.snr_db_stderr = kNaN;
    if (with_masks_) {
      const torch::Tensor ss = row.narrow(0, l.grp(0), kNumGroups);
      const torch::Tensor ss2 = row.narrow(0, l.grp(1), kNumGroups);
      const torch::Tensor nc = row.narrow(0, l.grp(2), kNumGroups);
      s.snr_db_by_group = ss / nc;
      s.snr_db_stderr_by_group = torch::empty({kNumGroups}, torch::kFloat64);
      for (int64_t k = 0; k < kNumGroups; ++k) {
        s.snr_db_stderr_by_group[k] =
            stderr_of(ss[k].item<double>(), ss2[k].item<double>(), nc[k].item<double>());
      }
      s.snr_count_by_group = nc.round().to(torch::kInt64);
      const double tn = nc.sum().item<double>();
      s.snr_db = tn > 0 ? ss.sum().item<double>() / tn : kNaN;
      s.snr_db_stderr = stderr_of(ss.sum().item<double>(), ss2.sum().item<double>(), tn);
    }
    out.methods.push_back(s);
  }
  return out;
}

torch::Tensor AttributionStage::index() const { return cat_or_empty(index_, torch::kInt64); }
torch::Tensor AttributionStage::labels() const { return cat_or_empty(labels_, torch::kInt64); }
torch::Tensor AttributionStage::preds() const { return cat_or_empty(preds_, torch::kInt64); }
torch::Tensor AttributionStage::confidence() const { return cat_or_empty(conf_, torch::kFloat64); }
torch::Tensor AttributionStage::gini(size_t m) const {
  return cat_or_empty(gini_.at(m), torch::kFloat64);
}
torch::Tensor AttributionStage::gini_regional(size_t m) const {
  return cat_or_empty(regional_.at(m), torch::kFloat64);
}
torch::Tensor AttributionStage::snr_db(size_t m) const {
  if (!with_masks_) return {};
  return cat_or_empty(snr_.at(m), torch::kFloat64);
}

}  // namespace sfb::attribution
