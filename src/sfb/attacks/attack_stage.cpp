#include "attacks/attack_stage.hpp"

#include <fmt/format.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "attacks/cw_l2.hpp"
#include "comm/reduction_buffer.hpp"
#include "core/device.hpp"
#include "core/error.hpp"
#include "core/progress.hpp"
#include "data/batches.hpp"

namespace sfb::attacks {
namespace {

/// Forwards every call to the model and counts the samples it evaluates (the cost report).
class CountingClassifier : public models::Classifier {
 public:
  explicit CountingClassifier(models::Classifier& m) : m_(m) {}
  torch::Tensor features(const torch::Tensor& x) override { return m_.features(count(x)); }
  torch::Tensor head(const torch::Tensor& a) override { return m_.head(a); }
  torch::Tensor forward(const torch::Tensor& x) override { return m_.forward(count(x)); }
  int64_t num_features() const override { return m_.num_features(); }
  int64_t num_classes() const override { return m_.num_classes(); }
  std::string name() const override { return m_.name(); }
  std::string arch() const override { return m_.arch(); }
  std::vector<torch::Tensor> parameters() override { return m_.parameters(); }
  void train(bool on) override { m_.train(on); }
  void to(const torch::Device& d) override { m_.to(d); }
  void to_dtype(torch::ScalarType t) override { m_.to_dtype(t); }
  std::optional<std::pair<torch::Tensor, torch::Tensor>> linear_head() override {
    return m_.linear_head();
  }
  std::vector<std::string> layer_names() const override { return m_.layer_names(); }
  torch::Tensor forward_tapped(const torch::Tensor& x, const std::vector<std::string>& names,
                               std::vector<torch::Tensor>& taps) override {
    return m_.forward_tapped(count(x), names, taps);
  }
  void set_activation(const std::string& kind) override { m_.set_activation(kind); }
  std::string fingerprint() const override { return m_.fingerprint(); }
  int64_t rows = 0;           ///< input rows through forward passes
  int64_t backward_rows = 0;  ///< input rows through backward passes (gradients reaching x)

 private:
  /// Counts a forward pass of x's rows and, when x takes part in autograd, each backward pass that
  /// reaches it (a hook on x: FAB's per-class gradients on one forward count once each).
  const torch::Tensor& count(const torch::Tensor& x) {
    rows += x.size(0);
    if (torch::GradMode::is_enabled() && x.requires_grad()) {
      const int64_t n = x.size(0);
      int64_t* sink = &backward_rows;
      const_cast<torch::Tensor&>(x).register_hook([sink, n](const torch::Tensor&) { *sink += n; });
    }
    return x;
  }
  models::Classifier& m_;
};

}  // namespace

AttackRunner::AttackRunner(models::Classifier& model, std::vector<AttackGroup> groups,
                           const Range& shard, torch::Tensor clean_correct, torch::ScalarType dtype,
                           const torch::Device& device, bool activation_diff)
    : model_(model),
      groups_(std::move(groups)),
      shard_(shard),
      clean_correct_(clean_correct.to(torch::kCPU, torch::kBool)),
      dtype_(dtype),
      device_(device),
      act_diff_(activation_diff),
      k_(model.num_features()),
      clock_(device) {
  SFB_ASSERT(clean_correct_.numel() == shard.count,
             "clean_correct must have one entry per shard sample");
  for (std::size_t g = 0; g < groups_.size(); ++g) {
    GroupLocal l;
    l.robust = clean_correct_.clone();
    l.norm = torch::zeros({shard.count}, torch::kFloat32);
    l.broken_by = torch::zeros({shard.count}, torch::kUInt8);
    l.act_diff = torch::zeros({k_}, torch::kFloat64);
    local_.push_back(l);
    for (std::size_t s = 0; s < groups_[g].stages.size(); ++s) {
      order_.emplace_back(static_cast<int64_t>(g), static_cast<int64_t>(s));
      stage_rows_.push_back(0);
      stage_backward_rows_.push_back(0);
      stage_samples_.push_back(0);
    }
  }
}

int64_t AttackRunner::num_stages() const { return static_cast<int64_t>(order_.size()); }

void AttackRunner::restore(int64_t done, const std::vector<GroupLocal>& state) {
  SFB_ASSERT(state.size() == local_.size() && done >= 0 && done <= num_stages(),
             "bad resume state");
  local_ = state;
  done_ = done;
}

void AttackRunner::run_stage(int64_t s, const data::Dataset& ds, int64_t batch_size,
                             bool show_progress) {
  SFB_ASSERT(s == done_, "stages must run in order");
  const auto [g, st] = order_[static_cast<std::size_t>(s)];
  const AttackGroup& group = groups_[static_cast<std::size_t>(g)];
  const StagePlan& plan = group.stages[static_cast<std::size_t>(st)];
  GroupLocal& l = local_[static_cast<std::size_t>(g)];
  const bool last = st + 1 == static_cast<int64_t>(group.stages.size());
  const bool white_box_before = st > 0 && is_black_box(plan.attack);
  AttackOptions opts = plan.opts;
  opts.max_rows = batch_size;  // APGD-T and FAB-T batch several targets up to this many rows
  auto attack = make_attack(plan.attack, opts);
  // Stage 0 attacks every correctly classified sample; later stages of a chain only survivors.
  const torch::Tensor cand = (st == 0 ? clean_correct_ : l.robust).nonzero().flatten();
  const int64_t total = cand.numel();
  Progress progress(fmt::format("{} [{}]", group.label, plan.attack), total, show_progress);
  auto robust = l.robust.accessor<bool, 1>();
  auto broken_by = l.broken_by.accessor<uint8_t, 1>();
  // CW-L2 minimises the norm without a bound: a sample is robust at eps when its minimal
  // adversarial is farther than eps (or none was found).
  const bool minimal_norm = is_minimal_norm(plan.attack);
  torch::Tensor act_sum;  // this stage's activation differences, summed on the device
  auto norm = l.norm.accessor<float, 1>();
  for (int64_t start = 0; start < total; start += batch_size) {
    const torch::Tensor pos = cand.narrow(0, start, std::min(batch_size, total - start));
    std::vector<int64_t> global(static_cast<std::size_t>(pos.numel()));
    for (int64_t j = 0; j < pos.numel(); ++j) global[j] = shard_.begin + pos[j].item<int64_t>();
    // Pinned for CUDA, so that the copies to the device below do not wait (the attack's many
    // steps dwarf reading the batch, so it is not read ahead).
    const data::Batch batch = device_.is_cuda() ? data::pinned(ds.get(global)) : ds.get(global);
    clock_.start();
    const torch::Tensor x = to_device(batch.images, device_, dtype_);
    const torch::Tensor y = to_device(batch.labels, device_);
    CountingClassifier counted(model_);
    AttackOutput out = attack->run(counted, x, y, batch.index);
    stage_rows_[static_cast<std::size_t>(s)] += counted.rows;
    stage_backward_rows_[static_cast<std::size_t>(s)] += counted.backward_rows;
    stage_samples_[static_cast<std::size_t>(s)] += pos.numel();
    // The stage's one wait per batch: the flags and norms decide which samples are final.
    const torch::Tensor rob =
        to_host_async(minimal_norm ? robust_at(out, group.eps) : out.robust, torch::kBool);
    const torch::Tensor nrm = to_host_async(out.norm, torch::kFloat32);
    const torch::Tensor zero = to_host_async(out.zero_grad, torch::kBool);
    const torch::Tensor bad = to_host_async(out.nonfinite, torch::kBool);
    synchronize(device_);
    l.zero_grad += zero.sum().item<int64_t>();
    l.nonfinite += bad.sum().item<int64_t>();
    // Samples whose adversarial example is final: broken here, or survivors of the last stage.
    std::vector<int64_t> final_rows;
    for (int64_t j = 0; j < pos.numel(); ++j) {
      const int64_t p = pos[j].item<int64_t>();
      const bool r = rob[j].item<bool>();
      robust[p] = r;
      norm[p] = nrm[j].item<float>();
      if (!r) broken_by[p] = static_cast<uint8_t>(st + 1);
      if (!r && white_box_before) ++l.black_box_breaks;
      if (!r || last) final_rows.push_back(j);
    }
    if (act_diff_ && !final_rows.empty()) {
      torch::NoGradGuard no_grad;
      const torch::Tensor rows = to_device(torch::tensor(final_rows, torch::kInt64), device_);
      const torch::Tensor d = (model_.features(out.x_adv.index_select(0, rows)) -
                               model_.features(x.index_select(0, rows)))
                                  .abs()
                                  .to(torch::kFloat64)
                                  .sum(0);
      act_sum = act_sum.defined() ? act_sum + d : d;  // on the device: no wait
      l.act_count += static_cast<int64_t>(final_rows.size());
    }
    clock_.stop();
    progress.advance(pos.numel());
  }
  progress.finish();
  if (act_sum.defined()) l.act_diff += act_sum.to(torch::kCPU);
  if (last) l.stages_done = static_cast<int64_t>(group.stages.size());
  ++done_;
}

torch::Tensor AttackRunner::worst_case() const {
  torch::Tensor w = clean_correct_.clone();
  for (const auto& l : local_) w = w.logical_and(l.robust);
  return w;
}

bool forward_is_deterministic(models::Classifier& model, const torch::Tensor& x) {
  torch::NoGradGuard no_grad;
  return torch::equal(model.forward(x), model.forward(x));
}

namespace {

/// Median and mean of the minimal norms over every rank's clean-correct samples (collective: one
/// all-reduce and one all-gather of the norms, padded to the largest shard with NaN).
void minimal_norm_statistics(comm::Communicator& comm, const torch::Tensor& norm,
                             const torch::Tensor& clean_correct, GroupSummary& s) {
  const torch::Tensor mine = norm.index({clean_correct}).to(torch::kFloat64);
  const auto width = static_cast<int64_t>(
      comm::allreduce_scalar(comm, static_cast<double>(mine.numel()), comm::ReduceOp::kMax));
  s.minimal_norm = true;
  if (width == 0) return;
  torch::Tensor padded =
      torch::full({width}, std::numeric_limits<double>::quiet_NaN(), torch::kFloat64);
  padded.narrow(0, 0, mine.numel()).copy_(mine);
  const torch::Tensor all = comm.allgather(padded.to(comm.device())).cpu().flatten();
  const torch::Tensor v = std::get<0>(all.index({all.isnan().logical_not()}).sort());
  const int64_t m = v.numel();
  if (m == 0) return;
  const auto at = [&](int64_t i) { return v[i].item<double>(); };
  s.median_norm = m % 2 == 1 ? at(m / 2) : 0.5 * (at(m / 2 - 1) + at(m / 2));
  const torch::Tensor found = v.index({v.isfinite()});
  s.norm_found = found.numel();
  if (s.norm_found > 0) s.mean_norm = found.mean().item<double>();
}

}  // namespace

std::vector<GroupSummary> AttackRunner::reduce(comm::Communicator& comm, int64_t n,
                                               bool nondeterministic) const {
  comm::ReductionBuffer buf;
  buf.add("clean_correct", clean_correct_.sum().item<double>());
  buf.add("worst_case", worst_case().sum().item<double>());
  for (std::size_t g = 0; g < local_.size(); ++g) {
    const auto& l = local_[g];
    const std::string k = "group" + std::to_string(g) + "/";
    buf.add(k + "robust", l.robust.sum().item<double>());
    buf.add(k + "zero_grad", static_cast<double>(l.zero_grad));
    buf.add(k + "nonfinite", static_cast<double>(l.nonfinite));
    buf.add(k + "black_box_breaks", static_cast<double>(l.black_box_breaks));
    buf.add(k + "act_count", static_cast<double>(l.act_count));
    buf.add(k + "act_diff", l.act_diff);
    // Robust after stage s: clean-correct and not broken by stages 0..s.
    const auto stages = static_cast<int64_t>(groups_[g].stages.size());
    torch::Tensor after = torch::zeros({stages}, torch::kFloat64);
    for (int64_t s = 0; s < stages; ++s) {
      after[s] = clean_correct_.logical_and(l.broken_by.eq(0).logical_or(l.broken_by.gt(s + 1)))
                     .sum()
                     .item<double>();
    }
    buf.add(k + "stage_robust", after);
  }
  buf.allreduce(comm);
  const auto clean = static_cast<int64_t>(buf.scalar("clean_correct"));
  std::vector<GroupSummary> out;
  double white_box_min = std::numeric_limits<double>::infinity();
  for (std::size_t g = 0; g < local_.size(); ++g) {
    const std::string k = "group" + std::to_string(g) + "/";
    GroupSummary s;
    s.label = groups_[g].label;
    s.spec = groups_[g].spec;
    s.n = n;
    s.clean_correct = clean;
    s.robust = static_cast<int64_t>(buf.scalar(k + "robust"));
    s.zero_grad = static_cast<int64_t>(buf.scalar(k + "zero_grad"));
    s.nonfinite = static_cast<int64_t>(buf.scalar(k + "nonfinite"));
    s.black_box_breaks = static_cast<int64_t>(buf.scalar(k + "black_box_breaks"));
    const double act_count = buf.scalar(k + "act_count");
    if (act_diff_ && act_count > 0) s.act_diff = buf.get(k + "act_diff") / act_count;
    s.clean_acc = n > 0 ? static_cast<double>(clean) / static_cast<double>(n) : 0.0;
    s.adv_acc = n > 0 ? static_cast<double>(s.robust) / static_cast<double>(n) : 0.0;
    s.accuracy_drop =
        clean > 0 ? 1.0 - s.adv_acc / s.clean_acc : std::numeric_limits<double>::quiet_NaN();
    if (s.robust > clean) s.flags.push_back("robust accuracy above clean accuracy");
    if (s.zero_grad > 0)
      s.flags.push_back(fmt::format("zero input gradient on {} samples", s.zero_grad));
    if (s.nonfinite > 0)
      s.flags.push_back(fmt::format("NaN/inf logits on {} samples", s.nonfinite));
    if (s.black_box_breaks > 0) {
      s.flags.push_back(fmt::format("black-box stage broke {} samples every white-box stage missed",
                                    s.black_box_breaks));
    }
    if (nondeterministic) s.flags.push_back("non-deterministic forward pass");
    const torch::Tensor after = buf.get(k + "stage_robust");
    for (std::size_t st = 0; st < groups_[g].stages.size(); ++st) {
      s.stage_names.push_back(groups_[g].stages[st].attack);
      s.stage_adv_acc.push_back(
          n > 0 ? after[static_cast<int64_t>(st)].item<double>() / static_cast<double>(n) : 0.0);
    }
    if (groups_[g].stages.size() == 1 && is_minimal_norm(groups_[g].stages[0].attack)) {
      minimal_norm_statistics(comm, local_[g].norm, clean_correct_, s);
    }
    const bool black = groups_[g].stages.size() == 1 && is_black_box(groups_[g].stages[0].attack);
    if (!black) white_box_min = std::min(white_box_min, s.adv_acc);
    out.push_back(std::move(s));
  }
  GroupSummary worst;
  worst.label = "worst_case";
  worst.spec = "all attacks";
  worst.n = n;
  worst.clean_correct = clean;
  worst.robust = static_cast<int64_t>(buf.scalar("worst_case"));
  worst.clean_acc = n > 0 ? static_cast<double>(clean) / static_cast<double>(n) : 0.0;
  worst.adv_acc = n > 0 ? static_cast<double>(worst.robust) / static_cast<double>(n) : 0.0;
  worst.accuracy_drop =
      clean > 0 ? 1.0 - worst.adv_acc / worst.clean_acc : std::numeric_limits<double>::quiet_NaN();
  for (std::size_t g = 0; g < groups_.size(); ++g) {
    const bool black = groups_[g].stages.size() == 1 && is_black_box(groups_[g].stages[0].attack);
    // Only against a white-box attack that ran: with none, white_box_min is +inf.
    if (black && std::isfinite(white_box_min) && out[g].adv_acc < white_box_min) {
      out[g].flags.push_back(
          fmt::format("black-box robust accuracy {:.4f} below the best white-box attack's {:.4f}",
                      out[g].adv_acc, white_box_min));
    }
  }
  out.push_back(std::move(worst));
  return out;
}

void write_attacks(io::ResultsFile& rf, const AttackRunner& runner,
                   const std::vector<GroupSummary>& summaries, int64_t offset,
                   const torch::Tensor& c_order) {
  rf.summary()["metrics"]["attacks"] = nlohmann::json::object();
  SFB_ASSERT(summaries.size() == runner.groups().size() + 1,
             "summaries must end with the worst case");
  for (std::size_t g = 0; g < runner.groups().size(); ++g) {
    const auto& s = summaries[g];
    const auto& group = runner.groups()[g];
    const auto& l = runner.local()[g];
    const std::string base = "/attacks/" + s.label;
    rf.write_per_sample(base + "/robust", offset, l.robust.to(torch::kUInt8));
    rf.write_per_sample(base + "/norm", offset, l.norm);
    rf.write_per_sample(base + "/broken_by", offset, l.broken_by);
    if (s.act_diff.defined()) {
      rf.write_global(base + "/activation_diff",
                      c_order.defined() ? s.act_diff.index_select(0, c_order) : s.act_diff);
    }
    std::string stages, flags;
    for (const auto& st : group.stages) stages += (stages.empty() ? "" : ",") + st.attack;
    for (const auto& f : s.flags) flags += (flags.empty() ? "" : "; ") + f;
    const auto& o0 = group.stages.front().opts;
    rf.record_metrics(base, {"metrics", "attacks", s.label},
                      {{"spec", s.spec},
                       {"stages", stages},
                       {"norm", norm_name(group.norm)},
                       {"eps", group.eps},
                       {"n", s.n},
                       {"clean_acc", s.clean_acc},
                       {"adv_acc", s.adv_acc},
                       {"accuracy_drop", s.accuracy_drop},
                       {"stage_names", s.stage_names},
                       {"stage_adv_acc", s.stage_adv_acc}});
    if (s.minimal_norm) {
      rf.record_metrics(base, {"metrics", "attacks", s.label},
                        {{"median_norm", s.median_norm},
                         {"mean_norm", s.mean_norm},
                         {"norm_found", s.norm_found}});
    }
    rf.set_attr(base, "steps", o0.steps);
    rf.set_attr(base, "restarts", o0.restarts);
    rf.set_attr(base, "zero_grad_samples", s.zero_grad);
    rf.set_attr(base, "nonfinite_samples", s.nonfinite);
    // The flags: one string in the file, a list in the summary.
    rf.set_attr(base, "flags", flags.empty() ? std::string("none") : flags);
    rf.summary()["metrics"]["attacks"][s.label]["flags"] = s.flags;
  }
  if (c_order.defined()) rf.write_global("/attacks/activation_diff_order", c_order);
  const torch::Tensor worst = runner.worst_case();
  rf.write_per_sample("/attacks/worst_case/robust", offset, worst.to(torch::kUInt8));
  const auto& w = summaries.back();
  rf.record_metrics("/attacks/worst_case", {"metrics", "attacks", "worst_case"},
                    {{"n", w.n},
                     {"clean_acc", w.clean_acc},
                     {"adv_acc", w.adv_acc},
                     {"accuracy_drop", w.accuracy_drop}});
}

}  // namespace sfb::attacks
