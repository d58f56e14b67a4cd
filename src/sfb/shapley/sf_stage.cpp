#include "shapley/sf_stage.hpp"

#include <torch/torch.h>

#include "core/error.hpp"
#include "core/tensors.hpp"
#include "data/batches.hpp"

namespace sfb::shapley {
namespace {

ProbeOptions probe_options(const SfConfig& cfg) {
  ProbeOptions o;
  o.layer = cfg.layer;
  o.target = parse_target(cfg.target);
  o.fast_path = cfg.fast_path;
  return o;
}

}  // namespace

void SfConfig::register_keys(ConfigSchema& s) {
  s.add("sf.layer", &layer,
        "probed layer (a name from `sfbench info --model ...`; features = penultimate)");
  s.add("sf.target", &target, "scalar decomposed over neurons",
        {"logit", "logprob", "prob", "pred-logit"});
  s.add_int("sf.bootstrap", &bootstrap, "Poisson bootstrap replicates (0 = no CI)", 0, 100000);
  s.add_float("sf.ci_level", &ci_level, "coverage of the bootstrap percentile interval", 0.5,
              0.999);
  s.add("sf.save_per_sample", &save_per_sample, "write /sf/per_sample [n, k] float32");
  s.add("sf.dtype", &dtype, "precision of the model evaluation", {"float32", "float64"});
  s.add("sf.fast_path", &fast_path, "closed form a*W[y] for a linear head (false = autograd)");
}

torch::ScalarType sf_dtype(const SfConfig& cfg) { return eval_dtype(cfg.dtype); }

SfStage::SfStage(models::Classifier& model, const SfConfig& cfg,
                 const std::vector<int64_t>& image_shape, uint64_t seed,
                 const torch::Device& device)
    : cfg_(cfg),
      dtype_(sf_dtype(cfg)),
      device_(device),
      probe_(models::for_evaluation(model, sf_dtype(cfg)), probe_options(cfg), image_shape, dtype_,
             device),
      acc_(probe_.num_neurons(), model.num_classes(), cfg.bootstrap, cfg.ci_level, seed, device),
      clock_(device) {}

ProbeOutput SfStage::add(const data::Batch& batch) {
  // No host wait per batch: the copies in and out do not block, and the accumulator stays on the
  // device; the host waits once, when the columns or the statistics are read.
  clock_.start();
  const torch::Tensor images = to_device(batch.images, device_, dtype_);
  const torch::Tensor labels = to_device(batch.labels, device_);
  ProbeOutput out = probe_.compute(images, labels, batch.index, batch.labels);
  const torch::Tensor pred = out.logits.argmax(1);
  acc_.add(out.c, labels, batch.index, pred.eq(labels));
  index_.push_back(batch.index.to(torch::kCPU));
  labels_.push_back(batch.labels.to(torch::kCPU));
  preds_.push(pred);
  if (cfg_.save_per_sample) per_sample_.push(out.c);
  clock_.stop();
  return out;
}

void SfStage::run_shard(const data::Dataset& ds, const Range& shard, int64_t batch_size,
                        bool show_progress) {
  SFB_ASSERT(batch_size >= 1, "batch_size must be >= 1");
  data::for_each_batch(ds, shard, batch_size, "sf", show_progress, device_.is_cuda(),
                       [this](const data::Batch& b) { add(b); });
}

torch::Tensor SfStage::index() const { return cat_or_empty(index_, torch::kInt64); }
torch::Tensor SfStage::labels() const { return cat_or_empty(labels_, torch::kInt64); }
torch::Tensor SfStage::preds() const { return preds_.cat(); }
torch::Tensor SfStage::per_sample() const {
  if (!cfg_.save_per_sample) return {};
  return per_sample_.cat({0, probe_.num_neurons()});
}

void write_sf(io::ResultsFile& rf, const SfStage& stage, const SfStatistics& s,
              const std::string& split) {
  const torch::Tensor index = stage.index();
  const int64_t offset = index.numel() > 0 ? index[0].item<int64_t>() : 0;
  const torch::Tensor labels = stage.labels(), preds = stage.preds();
  rf.write_samples(offset, index, labels, preds);
  if (stage.config().save_per_sample)
    rf.write_per_sample("/sf/per_sample", offset, stage.per_sample());
  rf.write_global("/sf/global_shapley", s.global_shapley);
  rf.write_global("/sf/sorted", s.sorted);
  rf.write_global("/sf/per_class", s.per_class);
  rf.write_global("/sf/per_class_sf", s.per_class_sf);
  rf.write_global("/sf/class_count", s.class_count);
  rf.write_global("/sf/bootstrap_sf", s.bootstrap_sf);
  const auto& cfg = stage.config();
  const std::string v = "/sf/value";
  const io::SummaryKey where = {"metrics", "sf"};
  rf.record_values(v, where, "value", torch::tensor(s.sf, torch::kFloat64).reshape({}));
  rf.record_metrics(v, where,
                    {{"ci_low", s.ci_low},
                     {"ci_high", s.ci_high},
                     {"ci_level", s.ci_level},
                     {"bootstrap", cfg.bootstrap},
                     {"bootstrap_se", s.bootstrap_se},
                     {"bootstrap_bias", s.bootstrap_bias},
                     {"target", cfg.target},
                     {"layer", cfg.layer},
                     {"split", split},
                     {"n", s.n},
                     {"k", s.k},
                     {"dtype", cfg.dtype},
                     {"accuracy", s.accuracy}});
  rf.set_attr(v, "fast_path", int64_t{stage.uses_fast_path() ? 1 : 0});
  rf.summary()["metrics"]["sf"]["correct"] = s.correct;
}

}  // namespace sfb::shapley
