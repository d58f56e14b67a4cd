// Host waits inside the batch loops (issue 10, "no hidden host synchronisation inside batch
// loops, one per batch at most"), counted on a GPU with PyTorch's CUDA sync debug mode: every
// operation that makes the host wait for the device (a blocking copy to the host, .item(),
// nonzero(), a stream or device synchronize) reports a warning, which a handler counts.
//
// After one warm-up batch (allocator growth, cuDNN setup), each stage must wait at most once per
// batch: SF (once: the finiteness check), a training step (once: the loss terms, read before the
// update), interactions without the adversary (once: the batch's values) and attribution (once:
// the predictions that pick the images the inductive attacks use). The attacks choose their rows
// on the host (PGD: the correctly classified rows, the samples still unbroken after a restart), so
// they wait a fixed number of times per batch: the test checks that the number does not grow
// with the number of PGD steps, i.e. that the step loop itself never waits.
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

TEST(GpuSync, InteractionsWaitOncePerBatchWithoutTheAdversary) {
  if (skip_without_gpu()) GTEST_SKIP() << kNoGpu;
  const torch::Device dev = rank_gpu();
  const auto ds = shapes((kBatches + 1) * kBatch);
  auto model = cnn_on(dev);
  interactions::InteractionsConfig c;
  c.grid = 4;
  c.orders = {0.0, 0.5, 1.0};
  c.pairs = 4;
  c.contexts = 3;
  c.shapley = true;
  c.adversarial = false;
  const auto rc = interactions::resolve_config(c, ds.image_shape());
  interactions::InteractionsStage stage(*model, rc, ds.image_shape(), 9, dev, 16);
  const int64_t waits = waits_over_batches(ds, [&](const data::Batch& b) { stage.add(b); });
  EXPECT_LE(waits, kBatches) << "interactions waited " << waits << " times";
  EXPECT_EQ(stage.preds().numel(), (kBatches + 1) * kBatch);
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

/// Host waits of a `steps`-step PGD stage over the whole dataset (after a warm-up forward).
int64_t pgd_waits(const data::Dataset& ds, models::Classifier& model, const torch::Device& dev,
                  int64_t steps) {
  attacks::AttackConfig cfg;
  cfg.eps = 2.0 / 255;
  cfg.list = {"pgd:steps=" + std::to_string(steps)};
  const auto groups = attacks::plan_attacks(cfg, ds.image_shape(), ds.num_classes(), 77);
  const int64_t n = ds.size();
  attacks::AttackRunner runner(model, groups, Range{0, n}, torch::ones({n}, torch::kBool),
                               torch::kFloat32, dev, false);
  (void)model.forward(pinned_batch(ds, 0).images.to(dev));
  torch::cuda::synchronize();
#if SFB_WITH_CUDA
  SyncCounter counter;
  runner.run_stage(0, ds, kBatch, false);
  return counter.count;
#else
  return -1;
#endif
}

TEST(GpuSync, PgdStepLoopNeverWaits) {
  if (skip_without_gpu()) GTEST_SKIP() << kNoGpu;
  const torch::Device dev = rank_gpu();
  const auto base = shapes((kBatches + 1) * kBatch);
  auto model = cnn_on(dev);
  model->train(false);
  // Labels = the model's clean predictions: every sample is attacked for every step.
  std::vector<int64_t> all;
  for (int64_t i = 0; i < base.size(); ++i) all.push_back(i);
  torch::Tensor labels;
  {
    torch::NoGradGuard no_grad;
    labels = model->forward(base.get(all).images.to(dev)).argmax(1).cpu();
  }
  const Relabelled ds(base, labels);
  const int64_t w5 = pgd_waits(ds, *model, dev, 5), w20 = pgd_waits(ds, *model, dev, 20);
  EXPECT_EQ(w5, w20) << "PGD waits grow with its steps: " << w5 << " (5 steps) vs " << w20
                     << " (20 steps)";
  EXPECT_GT(w5, 0);  // the stage reads the robust flags once per batch: the counter works
}

// DeviceClock on CUDA: the events time the GPU's work (a long matmul chain), not the host's
// queueing (which returns at once), and stop() does not wait.
TEST(GpuSync, DeviceClockTimesTheGpuWork) {
  if (skip_without_gpu()) GTEST_SKIP() << kNoGpu;
  const torch::Device dev = rank_gpu();
  torch::Tensor a = torch::randn({2048, 2048}, torch::TensorOptions().device(dev));
  DeviceClock clock(dev);
  torch::Tensor acc = a;
  clock.start();
  for (int i = 0; i < 50; ++i) acc = torch::tanh(acc.mm(a) * 1e-3);
  clock.stop();
  torch::cuda::synchronize();
  const double gpu = clock.seconds();
  EXPECT_GT(gpu, 0.0);
  // Waiting outside the interval (a host sleep) is not GPU time.
  clock.start();
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  clock.stop();
  EXPECT_LT(clock.seconds() - gpu, 0.2);
}

}  // namespace
}  // namespace sfb::test
