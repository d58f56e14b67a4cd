// Throughput of the SF stage (SPEC §2) per rank: SfStage::add on one batch of random CIFAR-sized
// images, i.e. the features forward without a graph, the head, the Taylor Shapley values (linear-
// head closed form, or autograd with sf.fast_path = false), the float64 sums with the 200-replicate
// Poisson bootstrap, and the per-sample columns. Randomly initialised zoo models in eval mode on
// the CPU. bench/reference/sf_reference.py times the same computation in PyTorch (Python) under
// the names BM_SfStagePyTorch/...; bench/ratios.py pairs the two.
//
// Benchmarks: BM_SfStage/<arch>/<closed-form|autograd>/<batch>; BM_Features/<arch>/<batch> (the
// features forward alone, the bulk of a batch); BM_SfAccumulatorAdd/<k> (the float64 sums of one
// batch alone, no model); BM_BootstrapWeights/<batch> (the bootstrap weights alone, which the
// PyTorch reference draws with torch.poisson). Counters: images_per_s (batch images over the
// manual time, max over ranks), torch_threads (intra-op threads per rank), k (neurons), params
// (model parameters). cpu_time is the CPU time of the whole process (all threads) per iteration.
// The first batch of each configuration is an untimed warm-up (allocator, oneDNN primitives).
// With SFB_BENCH_GPU=1 also BM_SfStage/gpu/<arch>/<res>px/closed-form/<batch> (bench_gpu.hpp) on
// the Context's device; the images start on the CPU, as a data loader delivers them.
#include <torch/torch.h>

#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "bench_gpu.hpp"
#include "bench_main.hpp"
#include "data/dataset.hpp"
#include "models/factory.hpp"
#include "shapley/bootstrap.hpp"
#include "shapley/sf_stage.hpp"

namespace {

constexpr int64_t kBatch = 256;
constexpr uint64_t kSeed = 20261122;
const char* const kArchs[] = {"cnn-small", "wrn-28-10"};

/// One model and its SF stage, built (and warmed up) the first time a benchmark needs them.
struct SfSetup {
  std::shared_ptr<sfb::models::Classifier> model;
  std::unique_ptr<sfb::shapley::SfStage> stage;
  sfb::data::Batch batch;  // images [B, 3, H, W] in [0, 1] on the CPU, labels [B], index [B]
  int64_t batch_size = kBatch;
  int64_t next_index = 0;  // global index of the next batch's first sample
  int64_t params = 0;

  /// Advances the batch's global indices, so every batch draws fresh bootstrap weights.
  const sfb::data::Batch& next() {
    batch.index = torch::arange(next_index, next_index + batch_size, torch::kInt64);
    next_index += batch_size;
    return batch;
  }
};

/// The CPU configurations: `arch` at 32×32, batch kBatch, on the CPU; a GPU configuration (`gpu`
/// set): its architecture, resolution and batch on the Context's device.
SfSetup& setup(const std::string& arch, bool fast_path,
               const sfb::bench::GpuConfig* gpu = nullptr) {
  static std::map<std::string, std::unique_ptr<SfSetup>> cache;
  auto& slot = cache[(gpu ? gpu->tag() : arch) + (fast_path ? "/closed-form" : "/autograd")];
  if (slot) return *slot;
  auto s = std::make_unique<SfSetup>();
  sfb::models::ModelOptions o = gpu ? gpu->model_options(kSeed) : sfb::models::cifar10_options();
  o.seed = kSeed;
  const torch::Device device = gpu ? sfb::bench::ctx().device() : torch::Device(torch::kCPU);
  s->batch_size = gpu ? gpu->batch : kBatch;
  s->model = sfb::models::make_model("zoo:" + (gpu ? gpu->arch : arch), o);
  s->model->to(device);
  if (gpu) sfb::bench::calibrate_bn(*s->model, gpu->resolution, device);
  for (const auto& p : s->model->parameters()) s->params += p.numel();
  sfb::shapley::SfConfig cfg;  // SPEC defaults: features layer, logit target, 200 replicates
  cfg.fast_path = fast_path;
  s->stage = std::make_unique<sfb::shapley::SfStage>(*s->model, cfg, o.image_shape, kSeed, device);
  torch::manual_seed(kSeed);
  s->batch.images = torch::rand({s->batch_size, 3, o.image_shape[1], o.image_shape[2]});
  s->batch.labels = torch::randint(0, o.num_classes, {s->batch_size}, torch::kInt64);
  s->stage->add(s->next());  // warm-up
  slot = std::move(s);
  return *slot;
}

void BM_SfStage(benchmark::State& state, const std::string& arch, bool fast_path,
                const sfb::bench::GpuConfig* gpu) {
  SfSetup& s = setup(arch, fast_path, gpu);
  if (s.stage->uses_fast_path() != fast_path) {
    state.SkipWithError("the stage did not take the requested path");
    return;
  }
  double seconds = 0;
  for (auto _ : state) {
    const sfb::data::Batch& batch = s.next();
    seconds += sfb::bench::time_iteration(state, [&] {
      const sfb::shapley::ProbeOutput out = s.stage->add(batch);
      benchmark::DoNotOptimize(out.c.data_ptr());
    });
  }
  const double images = static_cast<double>(state.iterations() * s.batch_size);
  state.counters["images_per_s"] = seconds > 0 ? images / seconds : 0.0;
  state.counters["torch_threads"] = torch::get_num_threads();
  state.counters["k"] = static_cast<double>(s.stage->num_neurons());
  state.counters["params"] = static_cast<double>(s.params);
}

// The part of SfStage::add that has no PyTorch counterpart: the counter-based Poisson(1) weights,
// [R = 200, B] for B samples.
void BM_BootstrapWeights(benchmark::State& state) {
  const int64_t n = state.range(0);
  int64_t next_index = 0;
  for (auto _ : state) {
    const torch::Tensor index = torch::arange(next_index, next_index + n, torch::kInt64);
    next_index += n;
    sfb::bench::time_iteration(state, [&] {
      const torch::Tensor w = sfb::shapley::bootstrap_weights(kSeed, index, 200);
      benchmark::DoNotOptimize(w.data_ptr());
    });
  }
  state.counters["torch_threads"] = torch::get_num_threads();
}
BENCHMARK(BM_BootstrapWeights)->Arg(kBatch)->UseManualTime()->Unit(benchmark::kMicrosecond);

// The stage's own float64 work without a model: SfAccumulator::add of c [B, k] float32 (sums,
// per-class sums, bootstrap weights and weighted sums, correct count). Arg: k.
void BM_SfAccumulatorAdd(benchmark::State& state) {
  const int64_t k = state.range(0);
  torch::manual_seed(kSeed);
  const torch::Tensor c = torch::randn({kBatch, k});
  const torch::Tensor labels = torch::randint(0, 10, {kBatch}, torch::kInt64);
  const torch::Tensor correct = torch::rand({kBatch}) < 0.5;
  sfb::shapley::SfAccumulator acc(k, 10, 200, 0.95, kSeed, torch::Device(torch::kCPU));
  int64_t next_index = 0;
  double seconds = 0;
  for (auto _ : state) {
    const torch::Tensor index = torch::arange(next_index, next_index + kBatch, torch::kInt64);
    next_index += kBatch;
    seconds += sfb::bench::time_iteration(state, [&] { acc.add(c, labels, index, correct); });
  }
  const double images = static_cast<double>(state.iterations() * kBatch);
  state.counters["images_per_s"] = seconds > 0 ? images / seconds : 0.0;
  state.counters["torch_threads"] = torch::get_num_threads();
}
BENCHMARK(BM_SfAccumulatorAdd)
    ->Arg(128)
    ->Arg(640)
    ->MeasureProcessCPUTime()
    ->UseManualTime()
    ->Unit(benchmark::kMicrosecond);

// The model's features forward alone (no graph), the bulk of SfStage::add: the C++ frontend
// against PyTorch's Python frontend on the same kernels.
void BM_Features(benchmark::State& state, const std::string& arch) {
  SfSetup& s = setup(arch, true);
  double seconds = 0;
  for (auto _ : state) {
    seconds += sfb::bench::time_iteration(state, [&] {
      torch::NoGradGuard no_grad;
      const torch::Tensor a = s.model->features(s.batch.images);
      benchmark::DoNotOptimize(a.data_ptr());
    });
  }
  const double images = static_cast<double>(state.iterations() * kBatch);
  state.counters["images_per_s"] = seconds > 0 ? images / seconds : 0.0;
  state.counters["torch_threads"] = torch::get_num_threads();
  state.counters["params"] = static_cast<double>(s.params);
}

[[maybe_unused]] const bool kRegistered = [] {
  for (const char* arch : kArchs) {
    for (const bool fast : {true, false}) {
      const std::string name = std::string("BM_SfStage/") + arch + "/" +
                               (fast ? "closed-form" : "autograd") + "/" + std::to_string(kBatch);
      benchmark::RegisterBenchmark(name.c_str(), BM_SfStage, std::string(arch), fast,
                                   static_cast<const sfb::bench::GpuConfig*>(nullptr))
          ->MeasureProcessCPUTime()
          ->UseManualTime()
          ->Unit(benchmark::kMillisecond);
    }
    benchmark::RegisterBenchmark(
        (std::string("BM_Features/") + arch + "/" + std::to_string(kBatch)).c_str(), BM_Features,
        std::string(arch))
        ->MeasureProcessCPUTime()
        ->UseManualTime()
        ->Unit(benchmark::kMillisecond);
  }
  // The GPU configurations (SFB_BENCH_GPU=1): the SPEC's default path (closed form) only.
  static const std::vector<sfb::bench::GpuConfig> gpu = sfb::bench::gpu_configs();
  for (const auto& g : gpu) {
    const std::string name = "BM_SfStage/" + g.tag() + "/closed-form/" + std::to_string(g.batch);
    benchmark::RegisterBenchmark(name.c_str(), BM_SfStage, g.arch, true, &g)
        ->UseManualTime()
        ->Unit(benchmark::kMillisecond);
  }
  return true;
}();

}  // namespace
