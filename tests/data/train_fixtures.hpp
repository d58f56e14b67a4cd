#pragma once
// Fixtures of the training tests: a BatchNorm-free native model (so data-parallel training equals
// single-process training exactly) and a single-rank Communicator that needs no MPI.
#include <torch/torch.h>

#include <memory>
#include <string>

#include "comm/communicator.hpp"
#include "models/native_model.hpp"

namespace sfb::test {

/// Flatten -> Linear(d, 12) -> activation -> features [B, 12] -> head Linear(12, C).
class TinyMlp : public models::NativeModel {
 public:
  explicit TinyMlp(const models::ModelOptions& o) : NativeModel("tiny-mlp", o, {"fc1"}) {
    const int64_t d = o.image_shape[0] * o.image_shape[1] * o.image_shape[2];
    fc1_ = register_module("fc1", torch::nn::Linear(d, 12));
    make_head(12);
  }

 protected:
  torch::Tensor body(const torch::Tensor& xn, const models::TapFn& tap) override {
    torch::Tensor h = act(fc1_(xn.flatten(1)));
    if (tap) tap("fc1", h);
    return h;
  }

 private:
  torch::nn::Linear fc1_{nullptr};
};

/// Model options for 3×8×8 images, `classes` classes, seeded initialisation.
inline std::shared_ptr<TinyMlp> tiny_mlp(int64_t classes = 4, uint64_t seed = 1) {
  models::ModelOptions o;
  o.num_classes = classes;
  o.image_shape = {3, 8, 8};
  torch::manual_seed(seed);
  return std::make_shared<TinyMlp>(o);
}

/// One rank: every collective is the identity.
class SelfComm final : public comm::Communicator {
 public:
  std::string name() const override { return "self"; }
  int rank() const override { return 0; }
  int size() const override { return 1; }
  torch::Device device() const override { return torch::kCPU; }
  void allreduce(torch::Tensor&, comm::ReduceOp) override {}
  void broadcast(torch::Tensor&, int) override {}
  torch::Tensor allgather(const torch::Tensor& t) override { return t.unsqueeze(0).clone(); }
  void barrier() override {}
  void synchronize() override {}
};

}  // namespace sfb::test
