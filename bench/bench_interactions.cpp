// Throughput of the interactions stage's sampling (SPEC §4) per rank: InteractionsStage::estimate
// on one CIFAR-sized image, i.e. P pairs (i and one of its 8 neighbours) × the 14 default orders ×
// K contexts, each 4 masked images (S, S∪{i}, S∪{j}, S∪{i,j}) built from an 8×8 grid of patches
// over the per-channel baseline, evaluated in blocks of `batch` images (log softmax of the label),
// Δv summed per (pair, order) in float64. Randomly initialised zoo models in eval mode on the CPU.
// bench/reference/interactions_reference.py times the same sampling written in PyTorch (Python)
// under the names BM_InteractionsPyTorch/...; bench/ratios.py pairs the two.
//
// Benchmarks: BM_Interactions/<arch>/<batch> (cnn-small: P = 4, K = 8, blocks of 256;
// wrn-28-10: P = 1, K = 2, blocks of 32). Counters: images_per_s (masked forwards per second of
// manual time, max over ranks), passes_per_image (masked forwards per estimate), torch_threads,
// params. Each iteration takes the next global image index, so every estimate draws fresh pairs
// and contexts. The first estimate is an untimed warm-up. With SFB_BENCH_GPU=1 also
// BM_Interactions/gpu/<arch>/<res>px/<batch> (bench_gpu.hpp; P = 4, K = 8) on the Context's device.
#include <torch/torch.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "bench_gpu.hpp"
#include "bench_main.hpp"
#include "interactions/stage.hpp"
#include "models/factory.hpp"

namespace {

constexpr uint64_t kSeed = 20261122;

struct Arch {
  const char* name;
  int64_t batch, pairs, contexts;
};
const Arch kArchs[] = {{"cnn-small", 256, 4, 8}, {"wrn-28-10", 32, 1, 2}};
constexpr int64_t kGpuPairs = 4, kGpuContexts = 8;  // P and K of the GPU configurations

struct Setup {
  std::shared_ptr<sfb::models::Classifier> model;
  std::unique_ptr<sfb::interactions::InteractionsStage> stage;
  torch::Tensor image, label;
  int64_t next_index = 0, params = 0;
};

/// The CPU configurations: `a` at 32×32 on the CPU; a GPU configuration (`gpu` set): its
/// architecture, resolution and blocks of its batch size on the Context's device.
Setup& setup(const Arch& a, const sfb::bench::GpuConfig* gpu) {
  static std::map<std::string, std::unique_ptr<Setup>> cache;
  auto& slot = cache[gpu ? gpu->tag() : a.name];
  if (slot) return *slot;
  auto s = std::make_unique<Setup>();
  sfb::models::ModelOptions o = gpu ? gpu->model_options(kSeed) : sfb::models::cifar10_options();
  o.seed = kSeed;
  const torch::Device device = gpu ? sfb::bench::ctx().device() : torch::Device(torch::kCPU);
  s->model = sfb::models::make_model(std::string("zoo:") + a.name, o);
  s->model->to(device);
  if (gpu) sfb::bench::calibrate_bn(*s->model, gpu->resolution, device);
  for (const auto& p : s->model->parameters()) s->params += p.numel();
  sfb::interactions::InteractionsConfig c;  // SPEC defaults: 8×8 grid, 14 orders, neighbours
  c.pairs = a.pairs;
  c.contexts = a.contexts;
  c.adversarial = false;
  const auto rc = sfb::interactions::resolve_config(c, o.image_shape);
  s->stage = std::make_unique<sfb::interactions::InteractionsStage>(*s->model, rc, o.image_shape,
                                                                    kSeed, device, a.batch);
  torch::manual_seed(kSeed);
  const int64_t h = o.image_shape[1], w = o.image_shape[2];
  s->image = torch::rand({3, h, w}).to(device);
  s->label = torch::tensor({3}, torch::kInt64);
  // The per-channel baseline of the image itself (the stage computes it over the dataset).
  s->stage->set_baseline(s->image.mean({1, 2}, true).expand({3, h, w}).clone());
  s->stage->estimate(s->image, s->next_index++, s->label);  // warm-up
  slot = std::move(s);
  return *slot;
}

void BM_Interactions(benchmark::State& state, const Arch& a, const sfb::bench::GpuConfig* gpu) {
  Setup& s = setup(a, gpu);
  double seconds = 0;
  int64_t forwards = 0;
  for (auto _ : state) {
    const int64_t before = s.stage->masked_forwards();
    seconds += sfb::bench::time_iteration(state, [&] {
      const auto est = s.stage->estimate(s.image, s.next_index++, s.label);
      benchmark::DoNotOptimize(est.I.data_ptr());
    });
    forwards += s.stage->masked_forwards() - before;
  }
  const double per = static_cast<double>(forwards) / static_cast<double>(state.iterations());
  state.counters["images_per_s"] = seconds > 0 ? static_cast<double>(forwards) / seconds : 0.0;
  state.counters["passes_per_image"] = per;
  state.counters["torch_threads"] = torch::get_num_threads();
  state.counters["params"] = static_cast<double>(s.params);
}

[[maybe_unused]] const bool kRegistered = [] {
  for (const Arch& a : kArchs) {
    const std::string name =
        std::string("BM_Interactions/") + a.name + "/" + std::to_string(a.batch);
    benchmark::RegisterBenchmark(name.c_str(), BM_Interactions, a,
                                 static_cast<const sfb::bench::GpuConfig*>(nullptr))
        ->MeasureProcessCPUTime()
        ->UseManualTime()
        ->Unit(benchmark::kMillisecond);
  }
  // GPU configurations: P = 4 pairs × 14 orders × K = 8 contexts = 448 contexts, 1792 masked
  // forwards per estimate, in blocks of the configuration's batch (7 blocks of 256 for wrn-28-10).
  static const std::vector<sfb::bench::GpuConfig> gpu = sfb::bench::gpu_configs();
  static std::vector<Arch> gpu_archs;
  const int64_t pairs = sfb::bench::gpu_smoke() ? 1 : kGpuPairs;
  const int64_t contexts = sfb::bench::gpu_smoke() ? 1 : kGpuContexts;
  for (const auto& g : gpu) gpu_archs.push_back({g.arch.c_str(), g.batch, pairs, contexts});
  for (std::size_t i = 0; i < gpu.size(); ++i) {
    const std::string name = "BM_Interactions/" + gpu[i].tag() + "/" + std::to_string(gpu[i].batch);
    benchmark::RegisterBenchmark(name.c_str(), BM_Interactions, gpu_archs[i], &gpu[i])
        ->UseManualTime()
        ->Unit(benchmark::kMillisecond);
  }
  return true;
}();

}  // namespace
