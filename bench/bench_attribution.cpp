// Throughput of integrated gradients (SPEC §5) per rank: the registered "integrated-gradients"
// attribution method with SPEC's defaults (20 Riemann midpoint steps, α_k = (k − ½)/20, zeros
// baseline, target = the ground-truth logit z_y) and the config's internal batch of 64 rows, on
// one batch of random CIFAR-sized images with random labels (the work does not depend on the
// labels). The work per batch: images × 20 rows, each one forward and one input-gradient pass, in
// chunks of 64 rows, the per-image gradient sum and (x − baseline) ⊙ sum / 20.
// bench/reference/attribution_reference.py times the same computation written directly in
// PyTorch (Python) under the names BM_AttributionPyTorch/...; bench/ratios.py pairs the two.
//
// Benchmarks: BM_Attribution/integrated-gradients/<arch>/<batch>: cnn-small at batch 32 (640 rows,
// 10 chunks); wrn-28-10 at batch 2 (40 rows, one chunk: a batch of 4 takes about 10 s on a 2-core
// CPU, and the rate per row hardly depends on the batch at these sizes). Counters: images_per_s
// (images attributed per second of manual time, max over ranks), passes_per_image (forward +
// backward passes per image: the 20 steps), torch_threads, params. The first batch of each
// configuration is an untimed warm-up.
#include <torch/torch.h>

#include <map>
#include <memory>
#include <string>
#include <utility>

#include "attribution/method.hpp"
#include "bench_main.hpp"
#include "models/factory.hpp"

namespace {

constexpr uint64_t kSeed = 20261122;
constexpr const char* kMethod = "integrated-gradients";
const std::pair<const char*, int64_t> kConfigs[] = {{"cnn-small", 32}, {"wrn-28-10", 2}};

/// A model, the method and one batch, built (and warmed up) the first time a benchmark needs them.
struct AttributionSetup {
  std::shared_ptr<sfb::models::Classifier> model;
  std::unique_ptr<sfb::attribution::Method> method;
  torch::Tensor images, labels, keys;
  int64_t steps = 0, params = 0;
};

AttributionSetup& setup(const std::string& arch, int64_t batch) {
  static std::map<std::string, std::unique_ptr<AttributionSetup>> cache;
  auto& slot = cache[arch];
  if (slot) return *slot;
  auto s = std::make_unique<AttributionSetup>();
  sfb::models::ModelOptions o = sfb::models::cifar10_options();
  o.seed = kSeed;
  s->model = sfb::models::make_model("zoo:" + arch, o);
  s->model->train(false);
  for (const auto& p : s->model->parameters()) s->params += p.numel();
  sfb::attribution::MethodOptions opts;  // SPEC defaults: 20 steps, zeros baseline, 64 rows
  opts.seed = kSeed;
  s->steps = opts.steps;
  s->method = sfb::attribution::make_method(kMethod, opts);
  torch::manual_seed(kSeed);
  s->images = torch::rand({batch, 3, 32, 32});
  s->labels = torch::randint(0, o.num_classes, {batch}, torch::kInt64);
  s->keys = torch::arange(batch, torch::kInt64);
  s->method->attribute(*s->model, s->images, s->labels, s->keys);  // warm-up
  slot = std::move(s);
  return *slot;
}

void BM_Attribution(benchmark::State& state, const std::string& arch, int64_t batch) {
  AttributionSetup& s = setup(arch, batch);
  double seconds = 0;
  for (auto _ : state) {
    seconds += sfb::bench::time_iteration(state, [&] {
      const torch::Tensor a = s.method->attribute(*s.model, s.images, s.labels, s.keys);
      benchmark::DoNotOptimize(a.data_ptr());
    });
  }
  const double images = static_cast<double>(state.iterations() * batch);
  state.counters["images_per_s"] = seconds > 0 ? images / seconds : 0.0;
  state.counters["passes_per_image"] = static_cast<double>(s.steps);
  state.counters["torch_threads"] = torch::get_num_threads();
  state.counters["params"] = static_cast<double>(s.params);
}

[[maybe_unused]] const bool kRegistered = [] {
  for (const auto& [arch, batch] : kConfigs) {
    const std::string name =
        std::string("BM_Attribution/") + kMethod + "/" + arch + "/" + std::to_string(batch);
    benchmark::RegisterBenchmark(name.c_str(), BM_Attribution, std::string(arch), batch)
        ->MeasureProcessCPUTime()
        ->UseManualTime()
        ->Unit(benchmark::kMillisecond);
  }
  return true;
}();

}  // namespace
