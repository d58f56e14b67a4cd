// Host waits inside the batch loops (issue 10, "no hidden host synchronisation inside batch
// loops, one per batch at most"), counted on a GPU with PyTorch's CUDA sync debug mode: every
// operation that makes the host wait for the device (a blocking copy to the host, .item(),
// nonzero(), a stream synchronize) reports a warning, which a handler counts. sfb::synchronize
// waits on the current stream for that reason: cudaDeviceSynchronize would go uncounted.
//
// After one warm-up batch (allocator growth, cuDNN setup), each stage must wait at most once per
// batch: SF (once: the finiteness check), a training step (once: the loss terms, read before the
// update), interactions (once: the batch's values, with or without the adversary) and attribution
// (once: the predictions that pick the images the inductive attacks use). The attacks' step and
// query loops never wait: each attack stage waits once per batch plus once per later run (restart,
// target class), whatever the number of steps or queries.
// The timing side: DeviceClock's CUDA events measure the GPU's time for the work queued in an
// interval, without making the host wait inside it.
#include <c10/util/Exception.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "attacks/attack_stage.hpp"
#include "attribution/stage.hpp"
#include "build_config.hpp"
#include "comm/mpi/mpi_communicator.hpp"
#include "core/device.hpp"
#include "data/batches.hpp"
#include "data/relabelled.hpp"
#include "data/synthetic_shapes.hpp"
#include "gpu/gpu_env.hpp"
#include "interactions/stage.hpp"
#include "models/zoo.hpp"
#include "shapley/sf_stage.hpp"
#include "train/trainer.hpp"
#if SFB_WITH_CUDA
#include <c10/cuda/CUDAFunctions.h>
#endif

namespace sfb::test {
namespace {

constexpr int64_t kBatch = 8;
constexpr int64_t kBatches = 4;  // counted batches, after one warm-up batch

#if SFB_WITH_CUDA
/// Counts the host waits PyTorch reports while it is alive (sync debug mode "warn", with a
/// warning handler that counts the sync warnings and drops them).
class SyncCounter : public c10::WarningHandler {
 public:
  SyncCounter() : guard_(this) {
    previous_ = c10::cuda::warning_state().get_sync_debug_mode();
    c10::cuda::warning_state().set_sync_debug_mode(c10::cuda::SyncDebugMode::L_WARN);
  }
  ~SyncCounter() override { c10::cuda::warning_state().set_sync_debug_mode(previous_); }
  void process(const c10::Warning& w) override {
    if (w.msg().find("synchroniz") != std::string::npos) ++count;
  }
  int64_t count = 0;

 private:
  c10::WarningUtils::WarningHandlerGuard guard_;
  c10::cuda::SyncDebugMode previous_;
};
#endif

data::SyntheticShapes shapes(int64_t n) {
  data::SyntheticShapesOptions o;
  o.n = n;
  o.seed = 3;
  return data::SyntheticShapes(o);
}

std::shared_ptr<models::NativeModel> cnn_on(const torch::Device& dev) {
  models::ModelOptions mo;
  mo.seed = 11;
  auto m = models::make_zoo_model("cnn-small", mo);
  m->to(dev);
  return m;
}

/// Batch i of `ds` (kBatch samples), in pinned memory as the data loader hands it to GPU stages.
data::Batch pinned_batch(const data::Dataset& ds, int64_t i) {
  std::vector<int64_t> idx;
  for (int64_t j = i * kBatch; j < (i + 1) * kBatch; ++j) idx.push_back(j);
  return data::pinned(ds.get(idx));
}

/// Waits the host made while `per_batch` ran on batches 1..kBatches (batch 0 warms up first).
template <typename Fn>
int64_t waits_over_batches(const data::Dataset& ds, Fn&& per_batch) {
#if SFB_WITH_CUDA
  std::vector<data::Batch> batches;
  for (int64_t i = 0; i <= kBatches; ++i) batches.push_back(pinned_batch(ds, i));
  per_batch(batches[0]);
  torch::cuda::synchronize();
  SyncCounter counter;
  for (int64_t i = 1; i <= kBatches; ++i) per_batch(batches[static_cast<std::size_t>(i)]);
  return counter.count;
#else
  (void)ds;
  (void)per_batch;
  return -1;
#endif
}

bool skip_without_gpu() {
  if (!SFB_WITH_CUDA || !every_rank_has_gpu()) return true;
  strict_fp32();
  return false;
}

TEST(GpuSync, SfStageWaitsAtMostOncePerBatch) {
  if (skip_without_gpu()) GTEST_SKIP() << kNoGpu;
  const torch::Device dev = rank_gpu();
  const auto ds = shapes((kBatches + 1) * kBatch);
  auto model = cnn_on(dev);
  shapley::SfConfig c;
  c.bootstrap = 20;
  c.save_per_sample = true;
  shapley::SfStage stage(*model, c, ds.image_shape(), 5, dev);
  const int64_t waits = waits_over_batches(ds, [&](const data::Batch& b) { stage.add(b); });
  EXPECT_LE(waits, kBatches) << "SF waited " << waits << " times in " << kBatches << " batches";
  EXPECT_EQ(stage.preds().numel(), (kBatches + 1) * kBatch);  // the deferred copies arrived
  EXPECT_EQ(stage.per_sample().size(0), (kBatches + 1) * kBatch);
  EXPECT_GT(stage.device_seconds(), 0.0);
}

TEST(GpuSync, TrainingStepWaitsAtMostOnce) {
  if (skip_without_gpu()) GTEST_SKIP() << kNoGpu;
  const torch::Device dev = rank_gpu();
  const auto ds = shapes((kBatches + 1) * kBatch);
  for (const std::string loss : {"standard", "pgd-at"}) {
    auto model = cnn_on(torch::kCPU);
    train::TrainConfig c;
    c.loss = loss;
    c.sf_lambda = 0.1;
    c.batch_size = kBatch;
    c.attack_steps = 3;
    c.epochs = 1;
    comm::MpiCommunicator self(MPI_COMM_SELF);
    train::Trainer t(*model, ds, c, self, 7, dev, "");
    const int64_t waits = waits_over_batches(ds, [&](const data::Batch& b) { t.step(b, 0); });
    EXPECT_LE(waits, kBatches) << loss << ": " << waits << " waits in " << kBatches << " steps";
  }
}

TEST(GpuSync, InteractionsWaitOncePerBatch) {
  if (skip_without_gpu()) GTEST_SKIP() << kNoGpu;
  const torch::Device dev = rank_gpu();
  const auto ds = shapes((kBatches + 1) * kBatch);
  auto model = cnn_on(dev);
  // With and without the utility-controlled PGD (whose samples stop at their own steps: the host
  // prunes them from copies it polls without waiting).
  for (const bool adversarial : {false, true}) {
    interactions::InteractionsConfig c;
    c.grid = 4;
    c.orders = {0.0, 0.5, 1.0};
    c.pairs = 4;
    c.contexts = 3;
    c.shapley = true;
    c.adversarial = adversarial;
    const auto rc = interactions::resolve_config(c, ds.image_shape());
    interactions::InteractionsStage stage(*model, rc, ds.image_shape(), 9, dev, 16);
    const int64_t waits = waits_over_batches(ds, [&](const data::Batch& b) { stage.add(b); });
    EXPECT_LE(waits, kBatches) << "interactions (adversarial " << adversarial << ") waited "
                               << waits << " times";
    EXPECT_GE(waits, kBatches) << "the batch's one wait must be counted";
    EXPECT_EQ(stage.preds().numel(), (kBatches + 1) * kBatch);
  }
}

TEST(GpuSync, AttributionWaitsOncePerBatch) {
  if (skip_without_gpu()) GTEST_SKIP() << kNoGpu;
  const torch::Device dev = rank_gpu();
  const auto ds = shapes((kBatches + 1) * kBatch);
  auto model = cnn_on(dev);
  attribution::AttributionConfig c;
  c.methods = {"saliency", "integrated-gradients", "grad-cam"};
  c.steps = 8;
  c.region = 4;
  c.top_pixels = {16};
  c.occlusion_count = 2;
  c.occlusion_radius = 2;
  attribution::AttributionStage stage(*model, c, model->num_classes(), ds.has_masks(), 13, dev,
                                      kBatch, (kBatches + 1) * kBatch, ds.image_shape());
  const int64_t waits = waits_over_batches(ds, [&](const data::Batch& b) { stage.add(b); });
  EXPECT_LE(waits, kBatches) << "attribution waited " << waits << " times";
  EXPECT_EQ(stage.gini(0).numel(), (kBatches + 1) * kBatch);
}

/// Host waits of one attack stage (`spec`) over the whole dataset, counted on its second run (the
/// first warms up the allocator, cuDNN and cuBLAS).
int64_t attack_waits(const data::Dataset& ds, models::Classifier& model, const torch::Device& dev,
                     const std::string& spec) {
  attacks::AttackConfig cfg;
  cfg.eps = 2.0 / 255;
  cfg.list = {spec};
  const auto groups = attacks::plan_attacks(cfg, ds.image_shape(), ds.num_classes(), 77);
  const int64_t n = ds.size();
  const auto run = [&] {
    attacks::AttackRunner runner(model, groups, Range{0, n}, torch::ones({n}, torch::kBool),
                                 torch::kFloat32, dev, false);
    runner.run_stage(0, ds, kBatch, false);
  };
  run();
  torch::cuda::synchronize();
#if SFB_WITH_CUDA
  SyncCounter counter;
  run();
  return counter.count;
#else
  return -1;
#endif
}

// Every attack: the waits per batch do not grow with its steps or queries (the step and query
// loops never wait: CW-L2's abort and Square's pruning poll without waiting), and they are at most
// one per batch for the stage plus one per later run (restart or target class) to drop the samples
// already fooled. The first run never waits.
TEST(GpuSync, AttackLoopsNeverWait) {
  if (skip_without_gpu()) GTEST_SKIP() << kNoGpu;
  const torch::Device dev = rank_gpu();
  const auto base = shapes((kBatches + 1) * kBatch);
  auto model = cnn_on(dev);
  model->train(false);
  // Labels = the model's clean predictions: every sample is attacked.
  std::vector<int64_t> all;
  for (int64_t i = 0; i < base.size(); ++i) all.push_back(i);
  torch::Tensor labels;
  {
    torch::NoGradGuard no_grad;
    labels = model->forward(base.get(all).images.to(dev)).argmax(1).cpu();
  }
  const Relabelled ds(base, labels);
  const int64_t batches = kBatches + 1;
  struct Case {
    std::string few, many;  ///< the same attack with few and with many steps or queries
    int64_t runs;           ///< restarts × target classes
  };
  // Two runs at most: the second run's wait happens whether or not samples are left, so the count
  // is the same for few and many iterations (with three, the third run's wait would depend on how
  // many samples the second left).

  const std::vector<Case> cases = {
      {"pgd:steps=5", "pgd:steps=20", 1},
      {"pgd:steps=5:restarts=2", "pgd:steps=20:restarts=2", 2},
      {"apgd-ce:steps=5", "apgd-ce:steps=20", 1},
      {"apgd-t:steps=5:targets=2", "apgd-t:steps=20:targets=2", 2},
      {"fab-t:steps=5:targets=2", "fab-t:steps=20:targets=2", 2},
      {"square:queries=20", "square:queries=200", 1},
      {"cw-l2:steps=20:binary_steps=2", "cw-l2:steps=100:binary_steps=2", 1},
  };
  for (const Case& c : cases) {
    const int64_t few = attack_waits(ds, *model, dev, c.few);
    const int64_t many = attack_waits(ds, *model, dev, c.many);
    EXPECT_EQ(few, many) << c.few << " vs " << c.many << ": the waits grow with the iterations";
    EXPECT_LE(many, batches * c.runs)
        << c.many << ": " << many << " waits in " << batches << " batches";
    EXPECT_GE(few, batches) << c.few
                            << ": the stage reads its flags once per batch: the counter "
                               "must see them";
  }
}

// DeviceClock on CUDA: the events time the GPU's work (a long matmul chain), not the host's
// queueing (which returns at once), and stop() does not wait.
TEST(GpuSync, DeviceClockTimesTheGpuWork) {
  if (skip_without_gpu()) GTEST_SKIP() << kNoGpu;
  const torch::Device dev = rank_gpu();
  torch::Tensor a = torch::randn({2048, 2048}, torch::TensorOptions().device(dev));
  DeviceClock clock(dev);
  const auto chain = [&a] {
    torch::Tensor acc = a;
    for (int i = 0; i < 50; ++i) acc = torch::tanh(acc.mm(a) * 1e-3);
    return acc;
  };
  chain();  // warm-up: cuBLAS handles and workspaces
  torch::cuda::synchronize();
  const auto t0 = std::chrono::steady_clock::now();
  chain();
  torch::cuda::synchronize();
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  clock.start();
  chain();
  clock.stop();
  torch::cuda::synchronize();
  const double gpu = clock.seconds();
  // Lower bounds: 50 matmuls of 2·2048³ FLOPs cannot take less than at 2 PFLOP/s (above any one
  // GPU's float32 rate), and the GPU time of a GPU-bound chain is most of its synchronized wall
  // time; upper bound: not more than that wall time (with slack for a busy device).
  const double flops = 50 * 2.0 * 2048.0 * 2048.0 * 2048.0;
  EXPECT_GT(gpu, flops / 2e15) << "wall " << wall;
  EXPECT_GT(gpu, 0.25 * wall) << "wall " << wall;
  EXPECT_LT(gpu, 2.0 * wall + 1e-3) << "wall " << wall;
  // Waiting outside the interval (a host sleep) is not GPU time.
  clock.start();
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  clock.stop();
  EXPECT_LT(clock.seconds() - gpu, 0.2);
}

}  // namespace
}  // namespace sfb::test
