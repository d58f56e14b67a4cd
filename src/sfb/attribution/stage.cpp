#include "attribution/stage.hpp"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <utility>

#include "attribution/detail/grad.hpp"
#include "attribution/focus.hpp"
#include "attribution/gini.hpp"
#include "attribution/inductive.hpp"
#include "comm/reduction_buffer.hpp"
#include "core/device.hpp"
#include "core/error.hpp"
#include "core/tensors.hpp"
#include "data/batches.hpp"
#include "models/native_model.hpp"

namespace sfb::attribution {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// Random streams of the stage's own draws (the methods use streams 1-4).
constexpr uint64_t kStageNoise = 101;
constexpr uint64_t kRandomMaskSalt = 0x52414e444d41534bULL;  // "RANDMASK"

// Key prefixes of the per-image columns and of the reduction slots: per method, per method and
// occlusion colour, per method pair, and of the random-pixel controls of the inductive noise.
std::string method_key(size_t m) { return "method" + std::to_string(m) + "/"; }
std::string occlusion_key(size_t m, size_t k) {
  return method_key(m) + "occlusion" + std::to_string(k) + "/";
}
std::string pair_key(size_t p) { return "pair" + std::to_string(p) + "/"; }
std::string random_key() { return "random/"; }

/// Per-column counts of the flags [n, T] ([T] float64), or of [n] flags (a scalar).
torch::Tensor flip_sums(const torch::Tensor& f) { return f.to(torch::kFloat64).sum(0); }

/// Sums of `v` [n] by `idx` [n] int64 (the class or group of each image): [size] float64.
torch::Tensor sums_by(const torch::Tensor& idx, const torch::Tensor& v, int64_t size) {
  return torch::zeros({size}, torch::kFloat64).index_add_(0, idx, v.to(torch::kFloat64));
}

/// `v` with its non-finite values set to 0, and the float64 indicator of the finite ones.
std::pair<torch::Tensor, torch::Tensor> finite(const torch::Tensor& v) {
  const torch::Tensor fin = torch::isfinite(v);
  return std::make_pair(torch::where(fin, v, torch::zeros_like(v)), fin.to(torch::kFloat64));
}

/// The error rate of a flag count `k` (one element, summed over ranks) over `correct` images.
Rate rate(const torch::Tensor& k, int64_t correct) {
  return wilson(std::llround(k.item<double>()), correct);
}

}  // namespace

// ---- Per-image columns ----------------------------------------------------------------------

void AttributionStage::Columns::declare(const std::string& name, torch::ScalarType dtype,
                                        std::vector<int64_t> empty_shape) {
  columns_.insert_or_assign(name, Column{dtype, std::move(empty_shape), {}});
}

void AttributionStage::Columns::append(const std::string& name, const torch::Tensor& part) {
  const auto it = columns_.find(name);
  if (it == columns_.end()) throw std::out_of_range("attribution: no column " + name);
  it->second.parts.push_back(to_host_async(part, it->second.dtype));
}

torch::Tensor AttributionStage::Columns::read(const std::string& name) const {
  const auto it = columns_.find(name);
  if (it == columns_.end()) throw std::out_of_range("attribution: no column " + name);
  return cat_or_empty(it->second.parts, it->second.dtype, it->second.empty_shape);
}

/// One batch as add()'s analyses see it.
struct AttributionStage::BatchState {
  const data::Batch& batch;
  torch::Tensor x, y;            // images (stage dtype) and labels on the device
  torch::Tensor index;           // global indices [b] int64, host
  torch::Tensor cpos, cpos_d;    // positions of the correctly classified images: host, device
  torch::Tensor xc, yc, keys_c;  // their images and labels (device), and global indices (host)
};

// ---- The stage ------------------------------------------------------------------------------

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
      save_(saved_map_indices(cfg, n_images)),
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
  // Grad-CAM and layer-wise IG without a configured layer: the model's last spatial feature map,
  // found once on a probe image; the resolved names are what the results record.
  const auto uses = [&](std::initializer_list<const char*> names) {
    for (const char* n : names) {
      if (std::find(cfg.methods.begin(), cfg.methods.end(), n) != cfg.methods.end()) return true;
    }
    return false;
  };
  const bool need_layer = cfg_.layer.empty() && uses({"grad-cam", "guided-grad-cam"});
  const bool need_ig_layer = cfg_.ig_layer.empty() && uses({"layer-integrated-gradients"});
  if (need_layer || need_ig_layer) {
    const torch::Tensor probe = torch::zeros({1, image_shape[0], image_shape[1], image_shape[2]},
                                             torch::TensorOptions(dtype_).device(device_));
    if (need_layer) cfg_.layer = detail::default_feature_map(model_, probe, "attribution.layer");
    if (need_ig_layer) {
      cfg_.ig_layer = detail::default_feature_map(model_, probe, "attribution.ig_layer");
    }
  }
  MethodOptions mo = cfg_.method_options(seed);
  // The guided methods restore the model's own activation (Swish for the DeepMind models), not
  // ReLU, after their pass.
  if (const auto* native = dynamic_cast<const models::NativeModel*>(&model)) {
    mo.activation = native->options().activation;
  }
  guided_restore_ = mo.activation;
  for (const auto& m : cfg.methods) methods_.push_back(make_method(m, mo));
  if (cfg.agreement) {
    for (size_t i = 0; i < methods_.size(); ++i) {
      for (size_t j = i + 1; j < methods_.size(); ++j) pairs_.emplace_back(i, j);
    }
  }
  // The per-image columns, with the dtypes and empty shapes the accessors document.
  cols_.declare("index", torch::kInt64);
  cols_.declare("label", torch::kInt64);
  cols_.declare("pred", torch::kInt64);
  cols_.declare("confidence", torch::kFloat64);
  const std::vector<int64_t> flags{0, top_count()};
  cols_.declare(random_key() + "noise1_flip", torch::kUInt8, flags);
  cols_.declare(random_key() + "noise2_flip", torch::kUInt8, flags);
  for (size_t m = 0; m < methods_.size(); ++m) {
    const std::string k = method_key(m);
    cols_.declare(k + "gini", torch::kFloat64);
    cols_.declare(k + "gini_regional", torch::kFloat64);
    if (with_masks) cols_.declare(k + "snr_db", torch::kFloat64);
    cols_.declare(k + "noise1_flip", torch::kUInt8, flags);
    cols_.declare(k + "noise2_flip", torch::kUInt8, flags);
    for (size_t c = 0; c < cfg.occlusion_colors.size(); ++c) {
      const std::string o = occlusion_key(m, c);
      cols_.declare(o + "flip", torch::kUInt8);
      cols_.declare(o + "count", torch::kInt64);
      cols_.declare(o + "radius", torch::kInt64);
    }
    cols_.declare(k + "map", torch::kFloat32, {0, image_shape[1], image_shape[2]});
  }
  for (size_t p = 0; p < pairs_.size(); ++p) cols_.declare(pair_key(p) + "rho", torch::kFloat64);
  cols_.declare("map_index", torch::kInt64);
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
    if (m == "guided-backprop" || m == "guided-grad-cam") {
      // A model whose ReLUs cannot be switched (a protocol-1 TorchScript file) refuses here.
      detail::GuidedScope probe(model_, guided_restore_);
    }
  }
}

void AttributionStage::add(const data::Batch& batch) {
  // The host waits for the device once per batch: for the predictions, which pick the correctly
  // classified images the inductive attacks run on. Every other per-batch result is copied back
  // without a wait and is complete by the next batch's wait (or settle(), before it is read).
  clock_.start();
  pending_ = device_.is_cuda();
  const BatchState bs = record_predictions(batch);
  torch::Tensor sigma;  // the noise draws of the random controls and of every method's attacks
  if (cfg_.noise) sigma = record_noise_controls(bs);
  const std::vector<torch::Tensor> mp = maps(batch);
  for (size_t m = 0; m < methods_.size(); ++m) {
    record_scores(bs, m, mp[m]);
    // The inductive attacks rank the pixels of the correctly classified images by |map|.
    const torch::Tensor mag = mp[m].detach().index_select(0, bs.cpos_d).abs();
    if (cfg_.noise) record_noise(bs, m, mag, sigma);
    record_occlusion(bs, m, mag);
  }
  record_agreement(mp);
  record_saved_maps(bs, mp);
  clock_.stop();
}

void AttributionStage::settle() const {
  if (!pending_) return;
  synchronize(device_);
  pending_ = false;
}

torch::Tensor AttributionStage::column(const std::string& name) const {
  settle();
  return cols_.read(name);
}

void AttributionStage::run_shard(const data::Dataset& ds, const Range& shard, bool show_progress) {
  data::for_each_batch(ds, shard, batch_size_, "attribution", show_progress, device_.is_cuda(),
                       [this](const data::Batch& b) { add(b); });
  settle();
}

AttributionStatistics AttributionStage::reduce(comm::Communicator& comm) const {
  settle();
  const torch::Tensor lab = labels(), pr = preds();
  const torch::Tensor grp = confidence_group(confidence());
  comm::ReductionBuffer buf;  // the same slots in the same order on every rank
  buf.add("n", static_cast<double>(lab.numel()));
  buf.add("correct", static_cast<double>(pr.eq(lab).sum().item<int64_t>()));
  for (size_t m = 0; m < methods_.size(); ++m) {
    score_sums(buf, m, lab, grp);
    if (top_count() > 0) noise_sums(buf, method_key(m));
    occlusion_sums(buf, m);
  }
  if (top_count() > 0) noise_sums(buf, random_key());
  agreement_sums(buf);
  buf.allreduce(comm);
  AttributionStatistics out;
  out.n = static_cast<int64_t>(buf.scalar("n"));
  out.correct = static_cast<int64_t>(buf.scalar("correct"));
  out.masks = with_masks_;
  for (size_t m = 0; m < methods_.size(); ++m) {
    MethodStatistics s;
    s.method = cfg_.methods[m];
    score_statistics(buf, m, s);
    if (top_count() > 0) noise_statistics(buf, method_key(m), out.correct, s.noise1, s.noise2);
    occlusion_statistics(buf, m, out.correct, s);
    out.methods.push_back(s);
  }
  if (top_count() > 0) {
    noise_statistics(buf, random_key(), out.correct, out.random_noise1, out.random_noise2);
  }
  agreement_statistics(buf, out);
  return out;
}

// ---- Predictions ----------------------------------------------------------------------------

AttributionStage::BatchState AttributionStage::record_predictions(const data::Batch& batch) {
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
  // The inductive attacks run on the correctly classified images only (paper 002 §4.1).
  const torch::Tensor cpos = correct.nonzero().flatten();  // CPU int64
  const torch::Tensor cpos_d = to_device(cpos, device_);
  const torch::Tensor xc = x.index_select(0, cpos_d), yc = y.index_select(0, cpos_d);
  const torch::Tensor index = batch.index.to(torch::kCPU, torch::kInt64);
  cols_.append("index", index);
  cols_.append("label", y_cpu);
  cols_.append("pred", pred);
  cols_.append("confidence", conf);
  return BatchState{batch, x, y, index, cpos, cpos_d, xc, yc, index.index_select(0, cpos)};
}

torch::Tensor AttributionStage::index() const { return cols_.read("index"); }
torch::Tensor AttributionStage::labels() const { return cols_.read("label"); }
torch::Tensor AttributionStage::preds() const { return cols_.read("pred"); }
torch::Tensor AttributionStage::confidence() const { return cols_.read("confidence"); }

// ---- Gini, regional Gini and SNR ------------------------------------------------------------

void AttributionStage::record_scores(const BatchState& bs, size_t m, const torch::Tensor& map) {
  const std::string k = method_key(m);
  cols_.append(k + "gini", gini_global(map));
  cols_.append(k + "gini_regional", attribution::gini_regional(map, cfg_.region));
  if (!with_masks_) return;
  try {
    cols_.append(k + "snr_db", attribution::snr_db(map, bs.batch.masks));
  } catch (const DataError& e) {
    throw DataError(std::string(e.what()) + " (batch starting at sample index " +
                    std::to_string(bs.batch.index[0].item<int64_t>()) + ")");
  }
}

void AttributionStage::score_sums(comm::ReductionBuffer& buf, size_t m, const torch::Tensor& lab,
                                  const torch::Tensor& grp) const {
  const std::string k = method_key(m);
  const torch::Tensor g = gini(m), gr = gini_regional(m);
  buf.add(k + "gini", g.sum());
  buf.add(k + "gini_sq", g.square().sum());
  buf.add(k + "gini_r", gr.sum());
  buf.add(k + "gini_r_sq", gr.square().sum());
  buf.add(k + "count", static_cast<double>(g.numel()));
  buf.add(k + "gini_by_class", sums_by(lab, g, num_classes_));
  buf.add(k + "gini_r_by_class", sums_by(lab, gr, num_classes_));
  buf.add(k + "count_by_class", sums_by(lab, torch::ones_like(g), num_classes_));
  if (!with_masks_) return;
  const auto [sv, fin] = finite(snr_db(m));
  buf.add(k + "snr_by_group", sums_by(grp, sv, kNumGroups));
  buf.add(k + "snr_sq_by_group", sums_by(grp, sv.square(), kNumGroups));
  buf.add(k + "snr_count_by_group", sums_by(grp, fin, kNumGroups));
}

void AttributionStage::score_statistics(const comm::ReductionBuffer& buf, size_t m,
                                        MethodStatistics& s) const {
  const std::string k = method_key(m);
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
  if (!with_masks_) return;
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

torch::Tensor AttributionStage::gini(size_t m) const { return column(method_key(m) + "gini"); }
torch::Tensor AttributionStage::gini_regional(size_t m) const {
  return column(method_key(m) + "gini_regional");
}
torch::Tensor AttributionStage::snr_db(size_t m) const {
  settle();
  if (!with_masks_) return {};
  return cols_.read(method_key(m) + "snr_db");
}

// ---- Inductive noise ------------------------------------------------------------------------

torch::Tensor AttributionStage::record_noise_controls(const BatchState& bs) {
  const torch::Tensor sigma =
      bs.cpos.numel() > 0
          ? detail::keyed_normal(bs.keys_c, seed_, kStageNoise, bs.xc.sizes().slice(1), bs.xc)
          : torch::Tensor();
  const auto n_top = static_cast<int64_t>(cfg_.top_pixels.size());
  std::vector<torch::Tensor> rmask(static_cast<size_t>(n_top));
  for (int64_t t = 0; t < n_top && bs.cpos.numel() > 0; ++t) {
    rmask[static_cast<size_t>(t)] =
        random_pixel_mask(bs.keys_c, seed_ ^ kRandomMaskSalt, bs.x.size(2), bs.x.size(3),
                          cfg_.top_pixels[static_cast<size_t>(t)], device_);
  }
  record_noise_flips(bs, random_key(), rmask, sigma);
  return sigma;
}

void AttributionStage::record_noise(const BatchState& bs, size_t m, const torch::Tensor& mag,
                                    const torch::Tensor& sigma) {
  const auto n_top = static_cast<int64_t>(cfg_.top_pixels.size());
  std::vector<torch::Tensor> tmask(static_cast<size_t>(n_top));
  for (int64_t t = 0; t < n_top && bs.cpos.numel() > 0; ++t) {
    tmask[static_cast<size_t>(t)] = top_pixel_mask(mag, cfg_.top_pixels[static_cast<size_t>(t)]);
  }
  record_noise_flips(bs, method_key(m), tmask, sigma);
}

void AttributionStage::record_noise_flips(const BatchState& bs, const std::string& key,
                                          const std::vector<torch::Tensor>& masks,
                                          const torch::Tensor& sigma) {
  const auto n_top = static_cast<int64_t>(masks.size());
  // [b, T] uint8 on the device: 1 where correctly classified image k, attacked by `noise` with
  // masks[t], is misclassified.
  auto flips = [&](const auto& noise) {
    torch::Tensor out = torch::zeros({bs.x.size(0), n_top}, bs.x.options().dtype(torch::kUInt8));
    if (bs.cpos.numel() == 0) return out;
    torch::NoGradGuard no_grad;
    for (int64_t t = 0; t < n_top; ++t) {
      std::vector<torch::Tensor> parts;
      const torch::Tensor xa = noise(bs.xc, masks[static_cast<size_t>(t)], sigma);
      for (int64_t s = 0; s < xa.size(0); s += batch_size_) {
        const int64_t e = std::min(xa.size(0), s + batch_size_);
        parts.push_back(model_.forward(xa.narrow(0, s, e - s)).argmax(1));
      }
      const torch::Tensor wrong = torch::cat(parts).ne(bs.yc).to(torch::kUInt8);
      out.select(1, t).index_copy_(0, bs.cpos_d, wrong);
    }
    return out;
  };
  cols_.append(key + "noise1_flip", flips(noise_one));
  cols_.append(key + "noise2_flip", flips(noise_two));
}

void AttributionStage::noise_sums(comm::ReductionBuffer& buf, const std::string& key) const {
  buf.add(key + "noise1_flips", flip_sums(column(key + "noise1_flip")));
  buf.add(key + "noise2_flips", flip_sums(column(key + "noise2_flip")));
}

void AttributionStage::noise_statistics(const comm::ReductionBuffer& buf, const std::string& key,
                                        int64_t correct, std::vector<Rate>& noise1,
                                        std::vector<Rate>& noise2) const {
  const torch::Tensor f1 = buf.get(key + "noise1_flips"), f2 = buf.get(key + "noise2_flips");
  for (int64_t t = 0; t < top_count(); ++t) {
    noise1.push_back(rate(f1[t], correct));
    noise2.push_back(rate(f2[t], correct));
  }
}

torch::Tensor AttributionStage::noise1_flip(size_t m) const {
  return column(method_key(m) + "noise1_flip");
}
torch::Tensor AttributionStage::noise2_flip(size_t m) const {
  return column(method_key(m) + "noise2_flip");
}
torch::Tensor AttributionStage::random_noise1_flip() const {
  return column(random_key() + "noise1_flip");
}
torch::Tensor AttributionStage::random_noise2_flip() const {
  return column(random_key() + "noise2_flip");
}

// ---- Occlusion ------------------------------------------------------------------------------

void AttributionStage::record_occlusion(const BatchState& bs, size_t m, const torch::Tensor& mag) {
  const int64_t b = bs.x.size(0);
  for (size_t k = 0; k < cfg_.occlusion_colors.size(); ++k) {
    const auto on_device = bs.x.options();
    torch::Tensor flip = torch::zeros({b}, on_device.dtype(torch::kUInt8));
    torch::Tensor count = torch::zeros({b}, on_device.dtype(torch::kInt64));
    torch::Tensor radius = torch::zeros_like(count);
    if (bs.cpos.numel() > 0) {
      OcclusionOptions o;
      o.max_count = cfg_.occlusion_count;
      o.max_radius = cfg_.occlusion_radius;
      o.region = cfg_.region;
      o.color = occlusion_value(cfg_.occlusion_colors[k]);
      o.internal_batch = cfg_.internal_batch;
      const OcclusionResult r = occlusion_attack(model_, bs.xc, bs.yc, mag, o);
      flip.index_copy_(0, bs.cpos_d, r.flipped.to(torch::kUInt8));
      count.index_copy_(0, bs.cpos_d, r.count);
      radius.index_copy_(0, bs.cpos_d, r.radius);
    }
    const std::string key = occlusion_key(m, k);
    cols_.append(key + "flip", flip);
    cols_.append(key + "count", count);
    cols_.append(key + "radius", radius);
  }
}

void AttributionStage::occlusion_sums(comm::ReductionBuffer& buf, size_t m) const {
  for (size_t k = 0; k < cfg_.occlusion_colors.size(); ++k) {
    buf.add(occlusion_key(m, k) + "flips", flip_sums(occlusion_flip(m, k)));
  }
}

void AttributionStage::occlusion_statistics(const comm::ReductionBuffer& buf, size_t m,
                                            int64_t correct, MethodStatistics& s) const {
  for (size_t k = 0; k < cfg_.occlusion_colors.size(); ++k) {
    s.occlusion.push_back(rate(buf.get(occlusion_key(m, k) + "flips"), correct));
  }
}

torch::Tensor AttributionStage::occlusion_flip(size_t m, size_t k) const {
  return column(occlusion_key(m, k) + "flip");
}
torch::Tensor AttributionStage::occlusion_count(size_t m, size_t k) const {
  return column(occlusion_key(m, k) + "count");
}
torch::Tensor AttributionStage::occlusion_radius(size_t m, size_t k) const {
  return column(occlusion_key(m, k) + "radius");
}

// ---- Agreement ------------------------------------------------------------------------------

void AttributionStage::record_agreement(const std::vector<torch::Tensor>& maps) {
  for (size_t p = 0; p < pairs_.size(); ++p) {
    cols_.append(pair_key(p) + "rho",
                 attribution::spearman(maps[pairs_[p].first].detach().flatten(1),
                                       maps[pairs_[p].second].detach().flatten(1)));
  }
}

void AttributionStage::agreement_sums(comm::ReductionBuffer& buf) const {
  for (size_t p = 0; p < pairs_.size(); ++p) {
    const auto [rv, fin] = finite(spearman(p));
    const std::string k = pair_key(p);
    buf.add(k + "rho", rv.sum());
    buf.add(k + "rho_sq", rv.square().sum());
    buf.add(k + "count", fin.sum());
  }
}

void AttributionStage::agreement_statistics(const comm::ReductionBuffer& buf,
                                            AttributionStatistics& out) const {
  for (size_t p = 0; p < pairs_.size(); ++p) {
    const std::string k = pair_key(p);
    PairAgreement a;
    a.a = cfg_.methods[pairs_[p].first];
    a.b = cfg_.methods[pairs_[p].second];
    a.spearman =
        mean_ci_from_sums(buf.scalar(k + "rho"), buf.scalar(k + "rho_sq"), buf.scalar(k + "count"));
    out.agreement.push_back(a);
  }
}

torch::Tensor AttributionStage::spearman(size_t p) const { return column(pair_key(p) + "rho"); }

// ---- Saved maps -----------------------------------------------------------------------------

void AttributionStage::record_saved_maps(const BatchState& bs,
                                         const std::vector<torch::Tensor>& maps) {
  if (save_.empty()) return;
  std::vector<int64_t> keep;
  for (int64_t i = 0; i < bs.x.size(0); ++i) {
    const int64_t idx = bs.index[i].item<int64_t>();
    if (std::binary_search(save_.begin(), save_.end(), idx)) keep.push_back(i);
  }
  if (keep.empty()) return;
  const torch::Tensor kp = torch::tensor(keep, torch::kInt64);
  cols_.append("map_index", bs.index.index_select(0, kp));
  const torch::Tensor kpd = to_device(kp, device_);
  for (size_t m = 0; m < methods_.size(); ++m) {
    cols_.append(method_key(m) + "map", maps[m].detach().index_select(0, kpd));
  }
}

int64_t AttributionStage::map_offset() const {
  const torch::Tensor mi = map_index();
  if (mi.numel() == 0) return 0;
  return std::lower_bound(save_.begin(), save_.end(), mi[0].item<int64_t>()) - save_.begin();
}
torch::Tensor AttributionStage::map_index() const { return cols_.read("map_index"); }
torch::Tensor AttributionStage::saved_maps(size_t m) const { return column(method_key(m) + "map"); }

}  // namespace sfb::attribution
