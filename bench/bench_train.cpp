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
// (bench/run_benchmarks.sh train_scaling). The first step is an untimed warm-up.
#include <torch/torch.h>

#include <map>
#include <memory>
#include <string>

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
  int64_t params = 0;
};

TrainSetup& setup(const std::string& loss) {
  static std::map<std::string, std::unique_ptr<TrainSetup>> cache;
  auto& slot = cache[loss];
  if (slot) return *slot;
  auto s = std::make_unique<TrainSetup>();
  sfb::Context& ctx = sfb::bench::ctx();
  sfb::models::ModelOptions o = sfb::models::cifar10_options();
  o.seed = kSeed;
  s->model = std::dynamic_pointer_cast<sfb::models::NativeModel>(
      sfb::models::make_model("zoo:cnn-small", o));
  for (const auto& p : s->model->parameters()) s->params += p.numel();
  const int64_t global = kLocalBatch * ctx.size();
  sfb::data::SyntheticShapesOptions d;
  d.n = 4 * global;
  s->data = std::make_unique<sfb::data::SyntheticShapes>(d);
  sfb::train::TrainConfig c;
  c.loss = loss;
  c.sf_lambda = 0.0;
  c.batch_size = global;
  c.lr = 0.01;
  c.epochs = 1;
  c.attack_steps = 10;
  s->trainer = std::make_unique<sfb::train::Trainer>(*s->model, *s->data, c, ctx.comm(), kSeed,
                                                     torch::Device(torch::kCPU), "");
  torch::manual_seed(kSeed + static_cast<uint64_t>(ctx.rank()));
  s->batch.images = torch::rand({kLocalBatch, 3, 32, 32});
  s->batch.labels = torch::randint(0, o.num_classes, {kLocalBatch}, torch::kInt64);
  s->batch.index = torch::arange(ctx.rank() * kLocalBatch, (ctx.rank() + 1) * kLocalBatch,
                                 torch::kInt64);
  s->trainer->step(s->batch, 0);  // warm-up
  slot = std::move(s);
  return *slot;
}

void BM_TrainStep(benchmark::State& state, const std::string& loss) {
  TrainSetup& s = setup(loss);
  const int world = sfb::bench::ctx().size();
  double seconds = 0;
  for (auto _ : state) {
    seconds += sfb::bench::time_iteration(state, [&] {
      const std::vector<double> terms = s.trainer->step(s.batch, 0);
      benchmark::DoNotOptimize(terms.data());
    });
  }
  const double images = static_cast<double>(state.iterations() * kLocalBatch * world);
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
    benchmark::RegisterBenchmark(name.c_str(), BM_TrainStep, std::string(loss))
        ->MeasureProcessCPUTime()
        ->UseManualTime()
        ->Unit(benchmark::kMillisecond);
  }
  return true;
}();

}  // namespace
