// Data-parallel training (SPEC §6 invariant): under mpirun with 1 and 2 ranks, three steps of the
// distributed trainer on its B = G/N share of each global batch reach the parameters a
// single-process trainer reaches on the whole global batch G (float64, 1e-5; in practice ~1e-15),
// for every base loss with and without the SF regularizer. And a run stopped mid-epoch through
// the signal path and resumed from its checkpoint ends with the weights and log of an
// uninterrupted run. The model has no BatchNorm (its batch statistics are per rank, as in DDP).
#include <gtest/gtest.h>
#include <torch/torch.h>
#include <unistd.h>

#include <filesystem>

#include "data/sampler.hpp"
#include "data/synthetic_shapes.hpp"
#include "data/train_fixtures.hpp"
#include "mpi/mpi_env.hpp"
#include "train/trainer.hpp"

namespace sfb::test {
namespace {

constexpr int64_t kGlobalBatch = 8;
constexpr uint64_t kSeed = 11;

data::SyntheticShapes tiny_data() {
  data::SyntheticShapesOptions o;
  o.n = 20;  // 2 steps per epoch, 4 samples dropped per epoch
  o.image_size = 8;
  o.num_classes = 4;
  o.seed = 3;
  return data::SyntheticShapes(o);
}

train::TrainConfig config(const std::string& loss, double lambda, bool adam) {
  train::TrainConfig c;
  c.loss = loss;
  c.sf_lambda = lambda;
  c.batch_size = kGlobalBatch;
  c.dtype = "float64";
  c.optimizer = adam ? "adam" : "sgd";
  c.lr = adam ? 0.01 : 0.1;
  c.nesterov = !adam;
  c.weight_decay = 1e-3;
  c.attack_steps = 2;
  c.step_size = 4.0 / 255;
  c.epochs = 3;
  return c;
}

std::vector<torch::Tensor> params_of(models::NativeModel& m) {
  std::vector<torch::Tensor> out;
  for (const auto& p : m.parameters()) out.push_back(p.detach().clone());
  return out;
}

double max_diff(const std::vector<torch::Tensor>& a, const std::vector<torch::Tensor>& b) {
  double d = 0;
  for (std::size_t i = 0; i < a.size(); ++i)
    d = std::max(d, (a[i] - b[i]).abs().max().item<double>());
  return d;
}

/// Three steps of global batches 0, 1 (epoch 0) and 0 (epoch 1) on `comm`'s share.
std::vector<torch::Tensor> three_steps(comm::Communicator& comm, const train::TrainConfig& c) {
  const auto ds = tiny_data();
  auto model = tiny_mlp(4, 21);
  train::Trainer t(*model, ds, c, comm, kSeed, torch::kCPU, "");
  const data::TrainSampler sampler(ds.size(), comm.size(), comm.rank(), kGlobalBatch / comm.size(),
                                   kSeed);
  const std::pair<int64_t, int64_t> steps[] = {{0, 0}, {0, 1}, {1, 0}};
  for (const auto& [epoch, s] : steps) t.step(ds.get(sampler.batch(epoch, s)), epoch);
  return params_of(*model);
}

TEST(TrainMpi, RanksEqualOneProcessOnTheGlobalBatch) {
  int i = 0;
  for (const std::string loss : {"standard", "fgsm-at", "pgd-at", "mart"}) {
    for (const double lambda : {0.0, 1.0}) {
      SCOPED_TRACE(loss + ", lambda " + std::to_string(lambda));
      const auto c = config(loss, lambda, (i++ % 3) == 2);
      SelfComm self;
      const auto want = three_steps(self, c);
      const auto got = three_steps(ctx().comm(), c);
      const auto start = params_of(*tiny_mlp(4, 21));
      EXPECT_GT(max_diff(want, start), 1e-4);  // the steps moved the weights
      EXPECT_LT(max_diff(got, want), 1e-5);
    }
  }
}

std::filesystem::path shared_dir() {
  const std::string d = comm::broadcast_string(
      ctx().host_comm(),
      (std::filesystem::temp_directory_path() / ("sfb_train_mpi_" + std::to_string(::getpid())))
          .string(),
      0);
  if (ctx().rank() == 0) std::filesystem::create_directories(d);
  ctx().host_comm().barrier();
  return d;
}

TEST(TrainMpi, StoppedAndResumedRunEqualsUninterruptedRun) {
  const auto dir = shared_dir();
  const auto ds = tiny_data();
  auto c = config("pgd-at", 1.0, false);
  c.schedule = "cosine";
  // Uninterrupted: 3 epochs.
  auto full = tiny_mlp(4, 5);
  train::Trainer a(*full, ds, c, ctx().comm(), kSeed, torch::kCPU, "");
  ASSERT_EQ(a.run(dir / "full.ckpt", false), train::RunStatus::kFinished);
  // Stopped before global step 3 (mid epoch 2) by SIGUSR1 on rank 0, then resumed.
  {
    auto part = tiny_mlp(4, 5);
    train::Trainer b(*part, ds, c, ctx().comm(), kSeed, torch::kCPU, "");
    b.set_stop_at_step(3);
    ASSERT_EQ(b.run(dir / "part.ckpt", false), train::RunStatus::kPreempted);
    EXPECT_EQ(b.state().epochs_done, 1);
    EXPECT_EQ(b.state().step_in_epoch, 1);
    train::clear_stop_request();
  }
  auto resumed = tiny_mlp(4, 99);  // other initial weights: the checkpoint replaces them
  train::Trainer r(*resumed, ds, c, ctx().comm(), kSeed, torch::kCPU, "");
  ASSERT_TRUE(r.resume(dir / "part.ckpt"));
  ASSERT_EQ(r.run(dir / "part.ckpt", false), train::RunStatus::kFinished);
  EXPECT_LT(max_diff(params_of(*resumed), params_of(*full)), 1e-12);
  ASSERT_EQ(r.history().size(), a.history().size());
  for (std::size_t e = 0; e < a.history().size(); ++e) {
    for (std::size_t k = 0; k < a.history()[e].terms.size(); ++k) {
      EXPECT_NEAR(r.history()[e].terms[k], a.history()[e].terms[k], 1e-12);
    }
    EXPECT_DOUBLE_EQ(r.history()[e].accuracy, a.history()[e].accuracy);
  }
  // A finished checkpoint resumes to nothing left to do.
  auto again = tiny_mlp(4, 7);
  train::Trainer f(*again, ds, c, ctx().comm(), kSeed, torch::kCPU, "");
  ASSERT_TRUE(f.resume(dir / "full.ckpt"));
  EXPECT_EQ(f.state().epochs_done, 3);
  ASSERT_EQ(f.run(dir / "full.ckpt", false), train::RunStatus::kFinished);
  EXPECT_EQ(max_diff(params_of(*again), params_of(*full)), 0.0);
  ctx().host_comm().barrier();
  if (ctx().rank() == 0) std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace sfb::test
