// Throughput of one data-parallel training step (SPEC §6) per job: Trainer::step on this rank's
// share of a global batch, i.e. (pgd-at only) PGD-10 adversarial examples in eval mode, the
// train-mode forward, CE loss, the SF term's logging, the all-reduce of the loss terms, backward
// with bucketed gradient averaging, and the SGD step (momentum 0.9, lr 0.01). cnn-small on random
// CIFAR-sized images; B = 64 images per rank. bench/reference/train_reference.py times the same
// step written directly in PyTorch (Python, one process: no communication) under the names
// BM_TrainStepPyTorch/...; bench/ratios.py pairs them.
//
// Benchmarks: BM_TrainStep/cnn-small/<standard|pgd-at>/<B per rank>. Counters: images_per_s
// (global batch over the manual time, max over ranks), images_per_s_per_rank, world_size,
// torch_threads, params. Under `mpirun -np 1` and `-np 2` with the same B and one thread per rank
// (SFB_BENCH_THREADS=1), images_per_s_per_rank of the two runs gives the weak-scaling efficiency
// (bench/run_benchmarks.sh train_scaling). The first step is an untimed warm-up. With
// SFB_BENCH_GPU=1 also BM_TrainStep/gpu/<arch>/<res>px/pgd-at/<batch> (bench_gpu.hpp) on the
// Context's device.
#include <torch/torch.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "bench_gpu.hpp"
#include "bench_main.hpp"
#include "data/synthetic_shapes.hpp"
#include "models/factory.hpp"
#include "train/trainer.hpp"

namespace {

constexpr int64_t kLocalBatch = 64;
constexpr uint64_t kSeed = 20261122;

struct TrainSetup {
  std::shared_ptr<sfb::models::NativeModel> model;
  std::unique_ptr<sfb::data::SyntheticShapes> data;  // only sizes the trainer's epochs
  std::unique_ptr<sfb::train::Trainer> trainer;
  sfb::data::Batch batch;
  int64_t local_batch = kLocalBatch;  // images per rank
  int64_t params = 0;
};

/// The CPU configurations: cnn-small at 32×32 with kLocalBatch images per rank on the CPU; a GPU
/// configuration (`gpu` set): its architecture, resolution and batch per rank on the Context's
/// device (the trainer moves the model there; the batch starts on the CPU).
TrainSetup& setup(const std::string& loss, const sfb::bench::GpuConfig* gpu) {
  static std::map<std::string, std::unique_ptr<TrainSetup>> cache;
  auto& slot = cache[(gpu ? gpu->tag() + "/" : std::string()) + loss];
  if (slot) return *slot;
  auto s = std::make_unique<TrainSetup>();
  sfb::Context& ctx = sfb::bench::ctx();
  sfb::models::ModelOptions o = gpu ? gpu->model_options(kSeed) : sfb::models::cifar10_options();
  o.seed = kSeed;
  const torch::Device device = gpu ? ctx.device() : torch::Device(torch::kCPU);
  s->local_batch = gpu ? gpu->batch : kLocalBatch;
  const int64_t local = s->local_batch, h = o.image_shape[1], w = o.image_shape[2];
  s->model = std::dynamic_pointer_cast<sfb::models::NativeModel>(
      sfb::models::make_model("zoo:" + (gpu ? gpu->arch : std::string("cnn-small")), o));
  for (const auto& p : s->model->parameters()) s->params += p.numel();
  if (gpu) {
    s->model->to(device);
    sfb::bench::calibrate_bn(*s->model, h, device);
  }
  const int64_t global = local * ctx.size();
  sfb::data::SyntheticShapesOptions d;
  d.n = 4 * global;
  d.image_size = h;
  s->data = std::make_unique<sfb::data::SyntheticShapes>(d);
  sfb::train::TrainConfig c;
  c.loss = loss;
  c.sf_lambda = 0.0;
  c.batch_size = global;
  c.lr = 0.01;
  c.epochs = 1;
  c.attack_steps = 10;
  s->trainer =
      std::make_unique<sfb::train::Trainer>(*s->model, *s->data, c, ctx.comm(), kSeed, device, "");
  torch::manual_seed(kSeed + static_cast<uint64_t>(ctx.rank()));
  s->batch.images = torch::rand({local, 3, h, w});
  s->batch.labels = torch::randint(0, o.num_classes, {local}, torch::kInt64);
  s->batch.index = torch::arange(ctx.rank() * local, (ctx.rank() + 1) * local, torch::kInt64);
  s->trainer->step(s->batch, 0);  // warm-up
  slot = std::move(s);
  return *slot;
}

void BM_TrainStep(benchmark::State& state, const std::string& loss,
                  const sfb::bench::GpuConfig* gpu) {
  TrainSetup& s = setup(loss, gpu);
  const int world = sfb::bench::ctx().size();
  double seconds = 0;
  for (auto _ : state) {
    seconds += sfb::bench::time_iteration(state, [&] {
      const std::vector<double> terms = s.trainer->step(s.batch, 0);
      benchmark::DoNotOptimize(terms.data());
    });
  }
  const double images = static_cast<double>(state.iterations() * s.local_batch * world);
  state.counters["images_per_s"] = seconds > 0 ? images / seconds : 0.0;
  state.counters["images_per_s_per_rank"] = seconds > 0 ? images / seconds / world : 0.0;
  state.counters["world_size"] = world;
  state.counters["torch_threads"] = torch::get_num_threads();
  state.counters["params"] = static_cast<double>(s.params);
}

[[maybe_unused]] const bool kRegistered = [] {
  for (const char* loss : {"standard", "pgd-at"}) {
    const std::string name =
        std::string("BM_TrainStep/cnn-small/") + loss + "/" + std::to_string(kLocalBatch);
    benchmark::RegisterBenchmark(name.c_str(), BM_TrainStep, std::string(loss),
                                 static_cast<const sfb::bench::GpuConfig*>(nullptr))
        ->MeasureProcessCPUTime()
        ->UseManualTime()
        ->Unit(benchmark::kMillisecond);
  }
  static const std::vector<sfb::bench::GpuConfig> gpu = sfb::bench::gpu_configs();
  for (const auto& g : gpu) {
    const std::string name = "BM_TrainStep/" + g.tag() + "/pgd-at/" + std::to_string(g.batch);
    benchmark::RegisterBenchmark(name.c_str(), BM_TrainStep, std::string("pgd-at"), &g)
        ->UseManualTime()
        ->Unit(benchmark::kMillisecond);
  }
  return true;
}();

}  // namespace
