// Throughput of PGD-10 (SPEC §3's default PGD: linf, ε = 8/255, α = 2/255, 10 steps, CE loss,
// keyed random start, 1 restart) per rank: the registered "pgd" attack on one batch of random
// CIFAR-sized images, labelled with the model's own clean predictions so that every sample is
// attacked for all 10 steps (a misclassified sample is not attacked; a random-init model would
// otherwise leave most of the batch idle and the two sides would time different work). The work
// per batch: 1 clean forward, 10 forward+input-gradient passes, 1 final forward, the projection
// and the per-sample norms. bench/reference/pgd_reference.py times the same PGD-10 written
// directly in PyTorch (Python) under the names BM_PgdPyTorch/...; bench/ratios.py pairs the two.
//
// Benchmarks: BM_Pgd/<arch>/<batch>: cnn-small at batch 256; wrn-28-10 at batch 16 (one PGD-10
// batch of 256 takes about 10 minutes on a 2-core CPU; throughput per image hardly depends on
// the batch size at these sizes). Counters: images_per_s (batch images over the manual time, max
// over ranks), passes_per_image (model forward passes per image per attack: 12), torch_threads,
// params. The first batch of each configuration is an untimed warm-up. With SFB_BENCH_GPU=1 also
// BM_Pgd/gpu/<arch>/<res>px/<batch> (bench_gpu.hpp) on the Context's device.
#include <torch/torch.h>

#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "attacks/attack.hpp"
#include "attacks/plan.hpp"
#include "bench_gpu.hpp"
#include "bench_main.hpp"
#include "models/factory.hpp"

namespace {

constexpr uint64_t kSeed = 20261122;
const std::pair<const char*, int64_t> kConfigs[] = {{"cnn-small", 256}, {"wrn-28-10", 16}};

/// A model, its PGD-10 and a batch labelled with the model's predictions, built (and warmed up)
/// the first time a benchmark needs them.
struct PgdSetup {
  std::shared_ptr<sfb::models::Classifier> model;
  std::unique_ptr<sfb::attacks::Attack> attack;
  torch::Tensor images, labels;
  int64_t batch = 0;
  int64_t next_index = 0;  // global index of the next batch's first sample (keys the start)
  int64_t params = 0;

  torch::Tensor next_index_tensor() {
    torch::Tensor index = torch::arange(next_index, next_index + batch, torch::kInt64);
    next_index += batch;
    return index;
  }
};

/// The CPU configurations: `arch` at 32×32 on the CPU; a GPU configuration (`gpu` set): its
/// architecture, resolution and batch on the Context's device (images and labels live there).
PgdSetup& setup(const std::string& arch, int64_t batch, const sfb::bench::GpuConfig* gpu) {
  static std::map<std::string, std::unique_ptr<PgdSetup>> cache;
  auto& slot = cache[gpu ? gpu->tag() : arch];
  if (slot) return *slot;
  auto s = std::make_unique<PgdSetup>();
  sfb::models::ModelOptions o = gpu ? gpu->model_options(kSeed) : sfb::models::cifar10_options();
  o.seed = kSeed;
  const torch::Device device = gpu ? sfb::bench::ctx().device() : torch::Device(torch::kCPU);
  s->model = sfb::models::make_model("zoo:" + arch, o);
  s->model->to(device);
  if (gpu) sfb::bench::calibrate_bn(*s->model, gpu->resolution, device);
  s->model->train(false);
  for (const auto& p : s->model->parameters()) s->params += p.numel();
  sfb::attacks::AttackOptions opts =
      sfb::attacks::spec_defaults("pgd", sfb::attacks::Norm::kLinf, 8.0 / 255);
  opts.seed = kSeed;
  s->attack = sfb::attacks::make_attack("pgd", opts);
  s->batch = batch;
  torch::manual_seed(kSeed);
  s->images = torch::rand({batch, 3, o.image_shape[1], o.image_shape[2]}).to(device);
  {
    torch::NoGradGuard no_grad;
    s->labels = s->model->forward(s->images).argmax(1);
  }
  s->attack->run(*s->model, s->images, s->labels, s->next_index_tensor());  // warm-up
  slot = std::move(s);
  return *slot;
}

void BM_Pgd(benchmark::State& state, const std::string& arch, int64_t batch,
            const sfb::bench::GpuConfig* gpu) {
  PgdSetup& s = setup(arch, batch, gpu);
  double seconds = 0;
  for (auto _ : state) {
    const torch::Tensor index = s.next_index_tensor();
    seconds += sfb::bench::time_iteration(state, [&] {
      const sfb::attacks::AttackOutput out = s.attack->run(*s.model, s.images, s.labels, index);
      benchmark::DoNotOptimize(out.x_adv.data_ptr());
    });
  }
  const double images = static_cast<double>(state.iterations() * batch);
  state.counters["images_per_s"] = seconds > 0 ? images / seconds : 0.0;
  state.counters["passes_per_image"] = 12;
  state.counters["torch_threads"] = torch::get_num_threads();
  state.counters["params"] = static_cast<double>(s.params);
}

[[maybe_unused]] const bool kRegistered = [] {
  for (const auto& [arch, batch] : kConfigs) {
    const std::string name = std::string("BM_Pgd/") + arch + "/" + std::to_string(batch);
    benchmark::RegisterBenchmark(name.c_str(), BM_Pgd, std::string(arch), batch,
                                 static_cast<const sfb::bench::GpuConfig*>(nullptr))
        ->MeasureProcessCPUTime()
        ->UseManualTime()
        ->Unit(benchmark::kMillisecond);
  }
  static const std::vector<sfb::bench::GpuConfig> gpu = sfb::bench::gpu_configs();
  for (const auto& g : gpu) {
    const std::string name = "BM_Pgd/" + g.tag() + "/" + std::to_string(g.batch);
    benchmark::RegisterBenchmark(name.c_str(), BM_Pgd, g.arch, g.batch, &g)
        ->UseManualTime()
        ->Unit(benchmark::kMillisecond);
  }
  return true;
}();

}  // namespace
