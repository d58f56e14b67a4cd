#include "interactions/stage.hpp"

#include <torch/torch.h>

#include <algorithm>
#include <limits>

#include "core/device.hpp"
#include "core/error.hpp"
#include "core/tensors.hpp"
#include "data/batches.hpp"
#include "interactions/exact.hpp"

namespace sfb::interactions {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

}  // namespace

torch::Tensor disentanglement(const torch::Tensor& dv) {
  SFB_ASSERT(dv.dim() == 3, "dv must be [G, K, Q]");
  const int64_t k = dv.size(1);
  const torch::Tensor sum = dv.sum(1), abs_sum = dv.abs().sum(1);  // [G, Q]
  const torch::Tensor nan = torch::full_like(sum, kNaN);
  const torch::Tensor plain = torch::where(abs_sum > 0, sum.abs() / abs_sum, nan);
  if (k < 2) return plain;
  // Leave-one-out sums (the 1/(K − 1) of both means cancels in the ratio).
  const torch::Tensor loo_num = (sum.unsqueeze(1) - dv).abs();
  const torch::Tensor loo_den = abs_sum.unsqueeze(1) - dv.abs();
  const torch::Tensor loo_ok = (loo_den > 0).all(1);  // [G, Q]
  const torch::Tensor loo_mean =
      (loo_num / torch::where(loo_den > 0, loo_den, torch::ones_like(loo_den))).mean(1);
  const auto kd = static_cast<double>(k);
  const torch::Tensor jack = kd * plain - (kd - 1) * loo_mean;
  return torch::where(loo_ok, jack, plain);
}

InteractionsStage::InteractionsStage(models::Classifier& model, const ResolvedConfig& rc,
                                     const std::vector<int64_t>& shape, uint64_t seed,
                                     const torch::Device& device, int64_t batch_size)
    : model_(models::for_evaluation(model, eval_dtype(rc.cfg.dtype))),
      rc_(rc),
      dtype_(eval_dtype(rc.cfg.dtype)),
      device_(device),
      seed_(seed),
      batch_size_(batch_size),
      grid_(rc.cfg.grid, shape.at(1), shape.at(2)),
      sampling_(rc.cfg.pair_sampling == "uniform" ? PairSampling::kUniform
                                                  : PairSampling::kNeighbour),
      pair_weights_(pair_weights(grid_, sampling_)),
      acc_(rc.orders, rc.num_players),
      clock_(device) {
  if (batch_size < 1) throw ConfigError("batch_size must be >= 1");
  pgd_.eps = rc.cfg.adv_eps;
  pgd_.step = rc.cfg.adv_step;
  pgd_.max_steps = rc.cfg.adv_max_steps;
  pgd_.target = rc.cfg.adv_utility;
  pgd_.tolerance = rc.cfg.adv_tolerance;
  baseline_ = torch::full({shape.at(0), shape.at(1), shape.at(2)}, 0.5,
                          torch::TensorOptions().dtype(dtype_).device(device_));
}

void InteractionsStage::compute_baseline(const data::Dataset& ds, const Range& shard,
                                         comm::Communicator& comm) {
  torch::Tensor sum = torch::zeros_like(baseline_, torch::kFloat64).to(torch::kCPU);
  data::for_each_batch(
      ds, shard, batch_size_, "baseline", false, false,
      [&sum](const data::Batch& b) { sum += b.images.to(torch::kFloat64).sum(0); });
  torch::Tensor flat = torch::cat({sum.flatten(), torch::tensor({static_cast<double>(shard.count)},
                                                                torch::kFloat64)})
                           .to(comm.device());
  comm.allreduce(flat, comm::ReduceOp::kSum);
  flat = flat.to(torch::kCPU);
  const double n = flat[-1].item<double>();
  if (n < 1) throw DataError("interactions: no images to compute the masking baseline from");
  torch::Tensor mean = flat.narrow(0, 0, sum.numel()).view(sum.sizes()) / n;
  if (rc_.cfg.baseline == "channel-mean") mean = mean.mean({1, 2}, true).expand_as(mean).clone();
  set_baseline(mean);
}

void InteractionsStage::set_baseline(const torch::Tensor& b) {
  SFB_ASSERT(b.sizes() == baseline_.sizes(), "baseline must be [C, H, W]");
  baseline_ = b.to(device_, dtype_).contiguous();
}

torch::Tensor InteractionsStage::evaluate(const torch::Tensor& x, const torch::Tensor& members,
                                          const torch::Tensor& classes) {
  forwards_ += members.size(0);
  return log_probs(
      model_, grid_.compose(x, baseline_, to_device(members, x.device(), torch::kBool)), classes);
}

GameEstimates InteractionsStage::estimate(const torch::Tensor& x, int64_t index,
                                          const torch::Tensor& classes) {
  const torch::Tensor xd = x.to(device_, dtype_);
  return rc_.cfg.exact ? exact(xd, classes) : sampled(xd, index, classes);
}

GameEstimates InteractionsStage::sampled(const torch::Tensor& x, int64_t index,
                                         const torch::Tensor& classes) {
  const int64_t n = grid_.num_players(), q = classes.size(0);
  const int64_t num_p = rc_.cfg.pairs, k_ctx = rc_.cfg.contexts;
  const auto m_all = static_cast<int64_t>(rc_.orders.size());
  // Orders with pair interactions: all but m = n_p − 1 (φ only), which sorts last.
  const int64_t m_count = rc_.orders.back() == n - 1 ? m_all - 1 : m_all;
  const auto pairs = sample_pairs(seed_, index, num_p, grid_, sampling_);
  const int64_t total = num_p * m_count * k_ctx;  // contexts, flattened (pair, order, context)
  GameEstimates out;
  {
    // v(N) and v(∅): 2 masked images.
    torch::Tensor members = torch::zeros({2, n}, torch::kUInt8);
    members[0].fill_(1);
    const torch::Tensor v = evaluate(x, members, classes);
    out.v_full = v[0];
    out.v_empty = v[1];
  }

  // Interactions: 4 masked images per context (S, S∪{i}, S∪{j}, S∪{i,j}), in blocks.
  const int64_t per_block = std::max<int64_t>(1, batch_size_ / 4);
  const auto f64 = torch::TensorOptions().dtype(torch::kFloat64).device(x.device());
  // Δv of every context ([P·M·K, Q]; P·M·K·Q doubles, 4.5 MB at the reference defaults): the
  // jackknife of D needs each context's value, not only the sums.
  torch::Tensor dv_all = torch::empty({total, q}, f64);
  for (int64_t t0 = 0; t0 < total; t0 += per_block) {
    const int64_t c = std::min(per_block, total - t0);
    torch::Tensor members = torch::zeros({4 * c, n}, torch::kUInt8);
    auto* mp = members.data_ptr<uint8_t>();
    for (int64_t r = 0; r < c; ++r) {
      const int64_t t = t0 + r, p = t / (m_count * k_ctx), mi = (t / k_ctx) % m_count,
                    k = t % k_ctx;
      const auto [i, j] = pairs[static_cast<size_t>(p)];
      uint8_t* row = mp + 4 * r * n;
      sample_context(seed_, kStreamContexts, index, p, rc_.orders[mi], k, n, i, j, row);
      for (int64_t s = 1; s < 4; ++s) std::copy(row, row + n, row + s * n);
      row[n + i] = 1;
      row[2 * n + j] = 1;
      row[3 * n + i] = row[3 * n + j] = 1;
    }
    const torch::Tensor v = evaluate(x, members, classes).view({c, 4, q});
    dv_all.narrow(0, t0, c).copy_(v.select(1, 3) - v.select(1, 1) - v.select(1, 2) +
                                  v.select(1, 0));
  }
  const torch::Tensor dv = dv_all.view({num_p, m_count, k_ctx, q});
  // I: the mean over pairs and contexts; D: the mean over pairs of each pair's jackknifed ratio.
  out.I = dv.mean(at::IntArrayRef{0, 2});
  out.D = torch::nanmean(
      disentanglement(dv.view({num_p * m_count, k_ctx, q})).view({num_p, m_count, q}), 0);
  if (m_count < m_all) {
    const torch::Tensor none = torch::full({1, q}, kNaN, f64);
    out.I = torch::cat({out.I, none});
    out.D = torch::cat({out.D, none});
  }

  if (rc_.cfg.shapley) {
    // φ^(m)(i) for the first player of each pair: 2 masked images per context (S, S∪{i}).
    const int64_t per_block2 = std::max<int64_t>(1, batch_size_ / 2);
    const int64_t total2 = num_p * m_all * k_ctx;
    torch::Tensor phi_sum = torch::zeros({m_all, q}, f64);
    for (int64_t t0 = 0; t0 < total2; t0 += per_block2) {
      const int64_t c = std::min(per_block2, total2 - t0);
      torch::Tensor members = torch::zeros({2 * c, n}, torch::kUInt8);
      torch::Tensor group = torch::empty({c}, torch::kInt64);
      auto* mp = members.data_ptr<uint8_t>();
      for (int64_t r = 0; r < c; ++r) {
        const int64_t t = t0 + r, p = t / (m_all * k_ctx), mi = (t / k_ctx) % m_all;
        const int64_t i = pairs[static_cast<size_t>(p)].first;
        uint8_t* row = mp + 2 * r * n;
        sample_context(seed_, kStreamShapley, index, p, rc_.orders[mi], t % k_ctx, n, i, -1, row);
        std::copy(row, row + n, row + n);
        row[n + i] = 1;
        group.data_ptr<int64_t>()[r] = mi;
      }
      const torch::Tensor v = evaluate(x, members, classes).view({c, 2, q});
      phi_sum.index_add_(0, to_device(group, x.device()), v.select(1, 1) - v.select(1, 0));
    }
    out.phi = phi_sum / static_cast<double>(num_p * k_ctx);
  }
  return out;
}

GameEstimates InteractionsStage::exact(const torch::Tensor& x, const torch::Tensor& classes) {
  const int64_t n = grid_.num_players(), q = classes.size(0), all = int64_t{1} << n;
  std::vector<torch::Tensor> parts;
  for (int64_t s0 = 0; s0 < all; s0 += batch_size_) {
    const int64_t c = std::min(batch_size_, all - s0);
    const torch::Tensor s = torch::arange(s0, s0 + c, torch::kInt64).unsqueeze(1);
    const torch::Tensor bits = torch::arange(n, torch::kInt64).unsqueeze(0);
    parts.push_back(evaluate(x, s.bitwise_right_shift(bits).bitwise_and(1), classes));
  }
  // The exact summaries run on the host: one wait for the device per image (cfg.exact is for
  // small grids, 2^n masked images per image).
  const torch::Tensor v = torch::cat(parts).to(torch::kCPU).contiguous();  // [2^n, Q]
  const auto m_count = static_cast<int64_t>(rc_.orders.size());
  GameEstimates out;
  out.I = torch::empty({m_count, q}, torch::kFloat64);
  out.D = torch::empty_like(out.I);
  out.phi = torch::empty_like(out.I);
  out.v_full = to_device(v[all - 1].clone(), x.device());
  out.v_empty = to_device(v[0].clone(), x.device());
  for (int64_t c = 0; c < q; ++c) {
    const torch::Tensor col = v.select(1, c).contiguous();
    const std::vector<double> vals(col.data_ptr<double>(), col.data_ptr<double>() + all);
    const ExactSummary s = summarize(exact_game(vals, n), rc_.orders, pair_weights_);
    for (int64_t mi = 0; mi < m_count; ++mi) {
      out.I[mi][c] = s.I[mi];
      out.D[mi][c] = s.D[mi];
      out.phi[mi][c] = s.phi[mi];
    }
  }
  out.I = to_device(out.I, x.device());
  out.D = to_device(out.D, x.device());
  out.phi = to_device(out.phi, x.device());
  return out;
}

void InteractionsStage::add(const data::Batch& batch) {
  // The host waits for the device once per batch, to read the batch's per-image values (the
  // accumulator and the columns live on the host); the utility-controlled PGD, when on, also waits
  // at its steps (it stops each image at its own step), and cfg.exact once per image.
  clock_.start();
  const torch::Tensor x = to_device(batch.images, device_, dtype_);
  const torch::Tensor y = to_device(batch.labels, device_, torch::kInt64);
  const int64_t b = x.size(0);
  const auto m_count = static_cast<int64_t>(rc_.orders.size());
  const auto f64 = torch::TensorOptions().dtype(torch::kFloat64).device(device_);
  torch::Tensor logits;
  {
    torch::NoGradGuard no_grad;
    logits = model_.forward(x);
  }
  const torch::Tensor pred = logits.argmax(1);
  torch::Tensor adv_pred = torch::full({b}, -1, pred.options());
  torch::Tensor adv_class = adv_pred.clone();
  torch::Tensor utility = torch::full({b}, kNaN, torch::kFloat64);  // host
  torch::Tensor reached_h;  // host copy, read after the batch's wait
  torch::Tensor x_adv;
  if (rc_.cfg.adversarial) {
    const UtilityPgdResult r = utility_pgd(model_, x, y, pgd_);
    x_adv = r.x_adv;
    utility = to_host_async(r.utility, torch::kFloat64);
    reached_h = to_host_async(r.reached, torch::kBool);
    torch::NoGradGuard no_grad;
    const torch::Tensor adv_logits = model_.forward(x_adv).to(torch::kFloat64);
    adv_pred = adv_logits.argmax(1);
    // The adversarial class: the top class other than the label.
    adv_class =
        adv_logits.scatter(1, y.unsqueeze(1), -std::numeric_limits<double>::infinity()).argmax(1);
  }
  const int64_t before = forwards_;
  std::vector<torch::Tensor> rows, scalar_rows;
  for (int64_t s = 0; s < b; ++s) {
    const int64_t index = batch.index[s].item<int64_t>();  // a host tensor: no wait
    torch::Tensor values = torch::full({kNumRows, m_count}, kNaN, f64);
    torch::Tensor scalars = torch::full({kNumScalars}, kNaN, f64);
    const GameEstimates nor = estimate(x[s], index, y.narrow(0, s, 1));
    scalars[kVFullNor] = nor.v_full[0];
    scalars[kVEmpty] = nor.v_empty[0];
    values[kINor] = nor.I.select(1, 0);
    values[kDNor] = nor.D.select(1, 0);
    if (nor.phi.defined()) values[kPhiNor] = nor.phi.select(1, 0);
    if (rc_.cfg.adversarial) {
      const torch::Tensor cls = torch::stack({y[s], adv_class[s]});
      const GameEstimates adv = estimate(x_adv[s], index, cls);
      scalars[kVFullAdv] = adv.v_full[0];
      values[kIAdv] = adv.I.select(1, 0);
      values[kDAdv] = adv.D.select(1, 0);
      values[kIAdvClass] = adv.I.select(1, 1);
      values[kDAdvClass] = adv.D.select(1, 1);
      values[kDeltaI] = values[kINor] - values[kIAdv];
      if (adv.phi.defined()) {
        values[kPhiAdv] = adv.phi.select(1, 0);
        values[kDeltaPhi] = values[kPhiNor] - values[kPhiAdv];
      }
    }
    rows.push_back(values);
    scalar_rows.push_back(scalars);
  }
  // Everything the host keeps of the batch, copied without waiting; then one wait.
  const torch::Tensor values_h =
      b > 0 ? to_host_async(torch::stack(rows), torch::kFloat64) : torch::Tensor();
  const torch::Tensor scalars_h =
      b > 0 ? to_host_async(torch::stack(scalar_rows), torch::kFloat64) : torch::Tensor();
  const torch::Tensor pred_h = to_host_async(pred, torch::kInt64);
  const torch::Tensor adv_pred_h = to_host_async(adv_pred, torch::kInt64);
  synchronize(device_);
  clock_.stop();
  const int64_t reached = reached_h.defined() ? reached_h.sum().item<int64_t>() : 0;
  const torch::Tensor y_cpu = batch.labels.to(torch::kCPU, torch::kInt64);
  for (int64_t s = 0; s < b; ++s) {
    acc_.add(values_h[s], scalars_h[s]);
    if (rc_.cfg.save_per_image) {
      per_image_.push_back(values_h[s].unsqueeze(0));
      per_image_scalars_.push_back(scalars_h[s].unsqueeze(0));
    }
  }
  const int64_t flipped = rc_.cfg.adversarial ? adv_pred_h.ne(y_cpu).sum().item<int64_t>() : 0;
  const double utility_sum = rc_.cfg.adversarial ? utility.sum().item<double>() : 0.0;
  acc_.add_totals(pred_h.eq(y_cpu).sum().item<int64_t>(), reached, flipped, utility_sum,
                  rc_.cfg.adversarial ? b : 0, forwards_ - before);
  index_.push_back(batch.index.to(torch::kCPU, torch::kInt64));
  labels_.push_back(y_cpu);
  preds_.push_back(pred_h);
  adv_preds_.push_back(adv_pred_h);
  utility_.push_back(utility);
}

void InteractionsStage::run_shard(const data::Dataset& ds, const Range& shard, bool show_progress) {
  data::for_each_batch(ds, shard, batch_size_, "interactions", show_progress, device_.is_cuda(),
                       [this](const data::Batch& b) { add(b); });
}

torch::Tensor InteractionsStage::index() const { return cat_or_empty(index_, torch::kInt64); }
torch::Tensor InteractionsStage::labels() const { return cat_or_empty(labels_, torch::kInt64); }
torch::Tensor InteractionsStage::preds() const { return cat_or_empty(preds_, torch::kInt64); }
torch::Tensor InteractionsStage::adv_preds() const {
  return cat_or_empty(adv_preds_, torch::kInt64);
}
torch::Tensor InteractionsStage::utility() const { return cat_or_empty(utility_, torch::kFloat64); }
torch::Tensor InteractionsStage::per_image() const {
  if (!rc_.cfg.save_per_image) return {};
  if (per_image_.empty()) {
    return torch::empty({0, kNumRows, static_cast<int64_t>(rc_.orders.size())}, torch::kFloat64);
  }
  return torch::cat(per_image_);
}
torch::Tensor InteractionsStage::per_image_scalars() const {
  if (!rc_.cfg.save_per_image) return {};
  return cat_or_empty(per_image_scalars_, torch::kFloat64, {0, kNumScalars});
}

}  // namespace sfb::interactions
