#include "attribution/stage.hpp"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>

#include "attribution/detail/grad.hpp"
#include "attribution/focus.hpp"
#include "attribution/gini.hpp"
#include "attribution/inductive.hpp"
#include "comm/reduction_buffer.hpp"
#include "core/device.hpp"
#include "core/error.hpp"
#include "core/tensors.hpp"
#include "data/batches.hpp"

namespace sfb::attribution {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// Random streams of the stage's own draws (the methods use streams 1-4).
constexpr uint64_t kNoiseStream = 101;
constexpr uint64_t kRandomMaskSalt = 0x52414e444d41534bULL;  // "RANDMASK"

}  // namespace

AttributionStage::AttributionStage(models::Classifier& model, const AttributionConfig& cfg,
                                   int64_t num_classes, bool with_masks, uint64_t seed,
                                   const torch::Device& device, int64_t batch_size,
                                   int64_t n_images, const std::vector<int64_t>& image_shape)
    : model_(models::for_evaluation(model, eval_dtype(cfg.dtype))),
      cfg_(cfg),
      num_classes_(num_classes),
      dtype_(eval_dtype(cfg.dtype)),
      device_(device),
      batch_size_(batch_size),
      gini_(cfg.methods.size()),
      regional_(cfg.methods.size()),
      snr_(cfg.methods.size()),
      noise1_(cfg.methods.size()),
      noise2_(cfg.methods.size()),
      occl_flip_(cfg.methods.size(),
                 std::vector<std::vector<torch::Tensor>>(cfg.occlusion_colors.size())),
      occl_count_(occl_flip_),
      occl_radius_(occl_flip_),
      save_(saved_map_indices(cfg, n_images)),
      image_shape_(image_shape),
      saved_(cfg.methods.size()),
      seed_(seed),
      with_masks_(with_masks),
      clock_(device) {
  if (image_shape.size() != 3) throw ConfigError("attribution: image shape must be {C, H, W}");
  if (batch_size < 1) throw ConfigError("batch_size must be >= 1");
  if (cfg.region <= 0) throw ConfigError("attribution.region must be resolved (> 0)");
  if (cfg.noise && cfg.top_pixels.empty()) {
    throw ConfigError("attribution.top_pixels must be resolved (resolve_config)");
  }
  if (!cfg.occlusion_colors.empty() && cfg.occlusion_radius <= 0) {
    throw ConfigError("attribution.occlusion_radius must be resolved (> 0)");
  }
  for (const auto& m : cfg.methods) methods_.push_back(make_method(m, cfg.method_options(seed)));
  if (cfg.agreement) {
    for (size_t i = 0; i < methods_.size(); ++i) {
      for (size_t j = i + 1; j < methods_.size(); ++j) pairs_.emplace_back(i, j);
    }
  }
  rho_.resize(pairs_.size());
}

std::vector<torch::Tensor> AttributionStage::maps(const data::Batch& batch) {
  const torch::Tensor x = to_device(batch.images, device_, dtype_);
  const torch::Tensor y = to_device(batch.labels, device_, torch::kInt64);
  std::vector<torch::Tensor> out;
  for (auto& m : methods_) out.push_back(reduce_channels(m->attribute(model_, x, y, batch.index)));
  return out;
}

void AttributionStage::check_layers(const data::Batch& batch) {
  const torch::Tensor x1 = batch.images.narrow(0, 0, 1).to(device_, dtype_);
  for (const auto& m : cfg_.methods) {
    if (m == "grad-cam" || m == "guided-grad-cam") {
      detail::check_feature_map_layer(model_, x1, cfg_.layer, "attribution.layer");
    }
    if (m == "layer-integrated-gradients") {
      detail::check_feature_map_layer(model_, x1, cfg_.ig_layer, "attribution.ig_layer");
    }
  }
}

void AttributionStage::add(const data::Batch& batch) {
  // The host waits for the device once per batch: for the predictions, which pick the correctly
  // classified images the inductive attacks run on. Every other per-batch result is copied back
  // without a wait and is complete by the next batch's wait (or settle(), before it is read).
  clock_.start();
  pending_ = device_.is_cuda();
  const torch::Tensor x = to_device(batch.images, device_, dtype_);
  const torch::Tensor y = to_device(batch.labels, device_, torch::kInt64);
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
  const torch::Tensor y_cpu = batch.labels.to(torch::kCPU, torch::kInt64);
  const torch::Tensor correct = pred.eq(y_cpu);
  const int64_t b = x.size(0), h = x.size(2), w = x.size(3);
  // The inductive attacks run on the correctly classified images only (paper 002 §4.1).
  const torch::Tensor cpos = correct.nonzero().flatten();  // CPU int64
  const torch::Tensor cpos_d = to_device(cpos, device_);
  const torch::Tensor xc = x.index_select(0, cpos_d), yc = y.index_select(0, cpos_d);
  const torch::Tensor keys_c = batch.index.to(torch::kCPU, torch::kInt64).index_select(0, cpos);
  const auto n_top = static_cast<int64_t>(cfg_.top_pixels.size());
  // [b, T] uint8 (host, copied without a wait): 1 where attacked image k of column t is
  // misclassified
  auto flips = [&](const std::function<torch::Tensor(int64_t)>& attacked) {
    torch::Tensor out = torch::zeros({b, n_top}, x.options().dtype(torch::kUInt8));
    if (cpos.numel() == 0) return to_host_async(out, torch::kUInt8);
    torch::NoGradGuard no_grad;
    for (int64_t t = 0; t < n_top; ++t) {
      std::vector<torch::Tensor> parts;
      const torch::Tensor xa = attacked(t);
      for (int64_t s = 0; s < xa.size(0); s += batch_size_) {
        const int64_t e = std::min(xa.size(0), s + batch_size_);
        parts.push_back(model_.forward(xa.narrow(0, s, e - s)).argmax(1));
      }
      const torch::Tensor wrong = torch::cat(parts).ne(yc).to(torch::kUInt8);
      out.select(1, t).index_copy_(0, cpos_d, wrong);
    }
    return to_host_async(out, torch::kUInt8);
  };
  torch::Tensor sigma;
  if (cfg_.noise) {
    sigma = cpos.numel() > 0
                ? detail::keyed_normal(keys_c, seed_, kNoiseStream, xc.sizes().slice(1), xc)
                : torch::Tensor();
    std::vector<torch::Tensor> rmask(static_cast<size_t>(n_top));
    for (int64_t t = 0; t < n_top && cpos.numel() > 0; ++t) {
      rmask[static_cast<size_t>(t)] = random_pixel_mask(
          keys_c, seed_ ^ kRandomMaskSalt, h, w, cfg_.top_pixels[static_cast<size_t>(t)], device_);
    }
    rnoise1_.push_back(
        flips([&](int64_t t) { return noise_one(xc, rmask[static_cast<size_t>(t)], sigma); }));
    rnoise2_.push_back(
        flips([&](int64_t t) { return noise_two(xc, rmask[static_cast<size_t>(t)], sigma); }));
  }
  const std::vector<torch::Tensor> mp = maps(batch);
  for (size_t m = 0; m < methods_.size(); ++m) {
    const torch::Tensor& map = mp[m];
    gini_[m].push_back(to_host_async(gini_global(map), torch::kFloat64));
    regional_[m].push_back(
        to_host_async(attribution::gini_regional(map, cfg_.region), torch::kFloat64));
    if (with_masks_) {
      try {
        snr_[m].push_back(to_host_async(attribution::snr_db(map, batch.masks), torch::kFloat64));
      } catch (const DataError& e) {
        throw DataError(std::string(e.what()) + " (batch starting at sample index " +
                        std::to_string(batch.index[0].item<int64_t>()) + ")");
      }
    }
    const torch::Tensor mag = map.detach().index_select(0, cpos_d).abs();
    if (cfg_.noise) {
      std::vector<torch::Tensor> tmask(static_cast<size_t>(n_top));
      for (int64_t t = 0; t < n_top && cpos.numel() > 0; ++t) {
        tmask[static_cast<size_t>(t)] =
            top_pixel_mask(mag, cfg_.top_pixels[static_cast<size_t>(t)]);
      }
      noise1_[m].push_back(
          flips([&](int64_t t) { return noise_one(xc, tmask[static_cast<size_t>(t)], sigma); }));
      noise2_[m].push_back(
          flips([&](int64_t t) { return noise_two(xc, tmask[static_cast<size_t>(t)], sigma); }));
    }
    for (size_t k = 0; k < cfg_.occlusion_colors.size(); ++k) {
      const auto on_device = x.options();
      torch::Tensor flip = torch::zeros({b}, on_device.dtype(torch::kUInt8));
      torch::Tensor count = torch::zeros({b}, on_device.dtype(torch::kInt64));
      torch::Tensor radius = torch::zeros_like(count);
      if (cpos.numel() > 0) {
        OcclusionOptions o;
        o.max_count = cfg_.occlusion_count;
        o.max_radius = cfg_.occlusion_radius;
        o.region = cfg_.region;
        o.color = occlusion_value(cfg_.occlusion_colors[k]);
        o.internal_batch = cfg_.internal_batch;
        const OcclusionResult r = occlusion_attack(model_, xc, yc, mag, o);
        flip.index_copy_(0, cpos_d, r.flipped.to(torch::kUInt8));
        count.index_copy_(0, cpos_d, r.count);
        radius.index_copy_(0, cpos_d, r.radius);
      }
      occl_flip_[m][k].push_back(to_host_async(flip, torch::kUInt8));
      occl_count_[m][k].push_back(to_host_async(count, torch::kInt64));
      occl_radius_[m][k].push_back(to_host_async(radius, torch::kInt64));
    }
  }
  for (size_t p = 0; p < pairs_.size(); ++p) {
    rho_[p].push_back(to_host_async(attribution::spearman(mp[pairs_[p].first].detach().flatten(1),
                                                          mp[pairs_[p].second].detach().flatten(1)),
                                    torch::kFloat64));
  }
  if (!save_.empty()) {
    const torch::Tensor idx = batch.index.to(torch::kCPU, torch::kInt64);
    std::vector<int64_t> keep;
    for (int64_t i = 0; i < b; ++i) {
      if (std::binary_search(save_.begin(), save_.end(), idx[i].item<int64_t>())) keep.push_back(i);
    }
    if (!keep.empty()) {
      const torch::Tensor kp = torch::tensor(keep, torch::kInt64);
      map_index_.push_back(idx.index_select(0, kp));
      const torch::Tensor kpd = to_device(kp, device_);
      for (size_t m = 0; m < methods_.size(); ++m) {
        saved_[m].push_back(to_host_async(mp[m].detach().index_select(0, kpd), torch::kFloat32));
      }
    }
  }
  index_.push_back(batch.index.to(torch::kCPU, torch::kInt64));
  labels_.push_back(y_cpu);
  preds_.push_back(pred);
  conf_.push_back(conf);
  clock_.stop();
}

void AttributionStage::settle() const {
  if (!pending_) return;
  synchronize(device_);
  pending_ = false;
}

void AttributionStage::run_shard(const data::Dataset& ds, const Range& shard, bool show_progress) {
  data::for_each_batch(ds, shard, batch_size_, "attribution", show_progress, device_.is_cuda(),
                       [this](const data::Batch& b) { add(b); });
  settle();
}

AttributionStatistics AttributionStage::reduce(comm::Communicator& comm) const {
  settle();
  const auto n_methods = methods_.size();
  const auto n_top = cfg_.noise ? static_cast<int64_t>(cfg_.top_pixels.size()) : 0;
  const auto n_col = cfg_.occlusion_colors.size();
  const torch::Tensor lab = labels(), pr = preds();
  const torch::Tensor grp = confidence_group(confidence());
  auto flip_sums = [](const torch::Tensor& f) { return f.to(torch::kFloat64).sum(0); };
  auto by = [](const torch::Tensor& idx, const torch::Tensor& v, int64_t size) {
    return torch::zeros({size}, torch::kFloat64).index_add_(0, idx, v.to(torch::kFloat64));
  };
  auto finite = [](const torch::Tensor& v) {
    const torch::Tensor fin = torch::isfinite(v);
    return std::make_pair(torch::where(fin, v, torch::zeros_like(v)), fin.to(torch::kFloat64));
  };
  comm::ReductionBuffer buf;
  buf.add("n", static_cast<double>(lab.numel()));
  buf.add("correct", static_cast<double>(pr.eq(lab).sum().item<int64_t>()));
  for (size_t m = 0; m < n_methods; ++m) {
    const std::string k = "method" + std::to_string(m) + "/";
    const torch::Tensor g = gini(m), gr = gini_regional(m);
    buf.add(k + "gini", g.sum());
    buf.add(k + "gini_sq", g.square().sum());
    buf.add(k + "gini_r", gr.sum());
    buf.add(k + "gini_r_sq", gr.square().sum());
    buf.add(k + "count", static_cast<double>(g.numel()));
    buf.add(k + "gini_by_class", by(lab, g, num_classes_));
    buf.add(k + "gini_r_by_class", by(lab, gr, num_classes_));
    buf.add(k + "count_by_class", by(lab, torch::ones_like(g), num_classes_));
    if (with_masks_) {
      const auto [sv, fin] = finite(snr_db(m));
      buf.add(k + "snr_by_group", by(grp, sv, kNumGroups));
      buf.add(k + "snr_sq_by_group", by(grp, sv.square(), kNumGroups));
      buf.add(k + "snr_count_by_group", by(grp, fin, kNumGroups));
    }
    if (n_top > 0) {
      buf.add(k + "noise1_flips", flip_sums(noise1_flip(m)));
      buf.add(k + "noise2_flips", flip_sums(noise2_flip(m)));
    }
    for (size_t c = 0; c < n_col; ++c) {
      buf.add(k + "occlusion_flips" + std::to_string(c), flip_sums(occlusion_flip(m, c)));
    }
  }
  if (n_top > 0) {
    buf.add("random/noise1_flips", flip_sums(random_noise1_flip()));
    buf.add("random/noise2_flips", flip_sums(random_noise2_flip()));
  }
  for (size_t p = 0; p < pairs_.size(); ++p) {
    const auto [rv, fin] = finite(spearman(p));
    const std::string k = "pair" + std::to_string(p) + "/";
    buf.add(k + "rho", rv.sum());
    buf.add(k + "rho_sq", rv.square().sum());
    buf.add(k + "count", fin.sum());
  }
  buf.allreduce(comm);
  AttributionStatistics out;
  out.n = static_cast<int64_t>(buf.scalar("n"));
  out.correct = static_cast<int64_t>(buf.scalar("correct"));
  out.masks = with_masks_;
  auto rate = [&](const torch::Tensor& k) {
    return wilson(std::llround(k.item<double>()), out.correct);
  };
  for (size_t m = 0; m < n_methods; ++m) {
    const std::string k = "method" + std::to_string(m) + "/";
    MethodStatistics s;
    s.method = cfg_.methods[m];
    const double n = buf.scalar(k + "count");
    const double g = buf.scalar(k + "gini"), gr = buf.scalar(k + "gini_r");
    s.gini = n > 0 ? g / n : kNaN;
    s.gini_stderr = stderr_from_sums(g, buf.scalar(k + "gini_sq"), n);
    s.gini_regional = n > 0 ? gr / n : kNaN;
    s.gini_regional_stderr = stderr_from_sums(gr, buf.scalar(k + "gini_r_sq"), n);
    const torch::Tensor cnt = buf.get(k + "count_by_class");
    s.gini_by_class = buf.get(k + "gini_by_class") / cnt;  // NaN where the count is 0
    s.gini_regional_by_class = buf.get(k + "gini_r_by_class") / cnt;
    s.count_by_class = cnt.round().to(torch::kInt64);
    s.snr_db = s.snr_db_stderr = kNaN;
    if (with_masks_) {
      const torch::Tensor ss = buf.get(k + "snr_by_group");
      const torch::Tensor ss2 = buf.get(k + "snr_sq_by_group");
      const torch::Tensor nc = buf.get(k + "snr_count_by_group");
      s.snr_db_by_group = ss / nc;
      s.snr_db_stderr_by_group = torch::empty({kNumGroups}, torch::kFloat64);
      for (int64_t q = 0; q < kNumGroups; ++q) {
        s.snr_db_stderr_by_group[q] =
            stderr_from_sums(ss[q].item<double>(), ss2[q].item<double>(), nc[q].item<double>());
      }
      s.snr_count_by_group = nc.round().to(torch::kInt64);
      const double tn = nc.sum().item<double>();
      s.snr_db = tn > 0 ? ss.sum().item<double>() / tn : kNaN;
      s.snr_db_stderr = stderr_from_sums(ss.sum().item<double>(), ss2.sum().item<double>(), tn);
    }
    if (n_top > 0) {
      const torch::Tensor f1 = buf.get(k + "noise1_flips"), f2 = buf.get(k + "noise2_flips");
      for (int64_t t = 0; t < n_top; ++t) {
        s.noise1.push_back(rate(f1[t]));
        s.noise2.push_back(rate(f2[t]));
      }
    }
    for (size_t c = 0; c < n_col; ++c) {
      s.occlusion.push_back(rate(buf.get(k + "occlusion_flips" + std::to_string(c))));
    }
    out.methods.push_back(s);
  }
  if (n_top > 0) {
    const torch::Tensor f1 = buf.get("random/noise1_flips"), f2 = buf.get("random/noise2_flips");
    for (int64_t t = 0; t < n_top; ++t) {
      out.random_noise1.push_back(rate(f1[t]));
      out.random_noise2.push_back(rate(f2[t]));
    }
  }
  for (size_t p = 0; p < pairs_.size(); ++p) {
    const std::string k = "pair" + std::to_string(p) + "/";
    PairAgreement a;
    a.a = cfg_.methods[pairs_[p].first];
    a.b = cfg_.methods[pairs_[p].second];
    a.spearman =
        mean_ci_from_sums(buf.scalar(k + "rho"), buf.scalar(k + "rho_sq"), buf.scalar(k + "count"));
    out.agreement.push_back(a);
  }
  return out;
}

torch::Tensor AttributionStage::index() const { return cat_or_empty(index_, torch::kInt64); }
torch::Tensor AttributionStage::labels() const { return cat_or_empty(labels_, torch::kInt64); }
torch::Tensor AttributionStage::preds() const { return cat_or_empty(preds_, torch::kInt64); }
torch::Tensor AttributionStage::confidence() const { return cat_or_empty(conf_, torch::kFloat64); }
torch::Tensor AttributionStage::gini(size_t m) const {
  settle();
  return cat_or_empty(gini_.at(m), torch::kFloat64);
}
torch::Tensor AttributionStage::gini_regional(size_t m) const {
  settle();
  return cat_or_empty(regional_.at(m), torch::kFloat64);
}
torch::Tensor AttributionStage::snr_db(size_t m) const {
  settle();
  if (!with_masks_) return {};
  return cat_or_empty(snr_.at(m), torch::kFloat64);
}

}  // namespace sfb::attribution

namespace sfb::attribution {

torch::Tensor AttributionStage::noise1_flip(size_t m) const {
  settle();
  return cat_or_empty(noise1_.at(m), torch::kUInt8, {0, top_count()});
}
torch::Tensor AttributionStage::noise2_flip(size_t m) const {
  settle();
  return cat_or_empty(noise2_.at(m), torch::kUInt8, {0, top_count()});
}
torch::Tensor AttributionStage::random_noise1_flip() const {
  settle();
  return cat_or_empty(rnoise1_, torch::kUInt8, {0, top_count()});
}
torch::Tensor AttributionStage::random_noise2_flip() const {
  settle();
  return cat_or_empty(rnoise2_, torch::kUInt8, {0, top_count()});
}
torch::Tensor AttributionStage::occlusion_flip(size_t m, size_t k) const {
  settle();
  return cat_or_empty(occl_flip_.at(m).at(k), torch::kUInt8);
}
torch::Tensor AttributionStage::occlusion_count(size_t m, size_t k) const {
  settle();
  return cat_or_empty(occl_count_.at(m).at(k), torch::kInt64);
}
torch::Tensor AttributionStage::occlusion_radius(size_t m, size_t k) const {
  settle();
  return cat_or_empty(occl_radius_.at(m).at(k), torch::kInt64);
}
torch::Tensor AttributionStage::spearman(size_t p) const {
  settle();
  return cat_or_empty(rho_.at(p), torch::kFloat64);
}
int64_t AttributionStage::map_offset() const {
  if (map_index_.empty()) return 0;
  const int64_t first = map_index_.front()[0].item<int64_t>();
  return std::lower_bound(save_.begin(), save_.end(), first) - save_.begin();
}
torch::Tensor AttributionStage::map_index() const {
  return cat_or_empty(map_index_, torch::kInt64);
}
torch::Tensor AttributionStage::saved_maps(size_t m) const {
  settle();
  return cat_or_empty(saved_.at(m), torch::kFloat32, {0, image_shape_.at(1), image_shape_.at(2)});
}

}  // namespace sfb::attribution
