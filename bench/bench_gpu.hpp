#pragma once
// The GPU configurations of the paired benchmarks (issue 10): wrn-28-10 at 32×32 and resnet-50 at
// 224×224 with GPU-sized batches, on the benchmark Context's device. Registered only when
// SFB_BENCH_GPU=1 (bench/run_gpu_benchmarks.sh sets it), so the CPU configurations, their ctest
// smoke tests and their recorded results stay as they are. With SFB_BENCH_GPU=1 on a machine
// without a GPU they run on the CPU (the pipeline's smoke test uses SFB_BENCH_GPU_SMOKE=1 too).
//
// Batches: wrn-28-10 at 32×32 costs ~10.5 GFLOP per image forward, so 256 images (~2.7 TFLOP per
// forward) are needed to keep an H200 busy between kernel launches, and PGD-10's graphs at 256
// stay near 20 GB; resnet-50 at 224×224 costs ~8.2 GFLOP per image but ~12× the activation memory
// per image, so 128 images (the usual per-GPU batch in fp32) fill the GPU while PGD-AT's graphs
// stay well inside 141 GB. Names: <benchmark>/gpu/<arch>/<resolution>px/.../<batch>; the Python
// references use the same names with "PyTorch" after the benchmark's name.
#include <torch/torch.h>

#include <cstdint>
#include <cstdlib>
#include <string>
#include <utility>
#include <vector>

#include "models/classifier.hpp"
#include "models/native_model.hpp"

namespace sfb::bench {

/// One GPU configuration: zoo architecture, input resolution (H = W) and batch size.
struct GpuConfig {
  std::string arch;
  int64_t resolution = 32;
  int64_t batch = 0;

  /// "gpu/<arch>/<resolution>px", the part of the benchmark name that names the configuration.
  std::string tag() const { return "gpu/" + arch + "/" + std::to_string(resolution) + "px"; }
  /// ImageNet options (1000 classes, ImageNet mean/std) for the ImageNet ResNets, else CIFAR-10
  /// options; image_shape = {3, resolution, resolution}.
  models::ModelOptions model_options(uint64_t seed) const {
    models::ModelOptions o =
        arch.rfind("resnet-", 0) == 0 ? models::imagenet_options() : models::cifar10_options();
    o.image_shape = {3, resolution, resolution};
    o.seed = seed;
    return o;
  }
};

/// True when SFB_BENCH_GPU_SMOKE=1: the CPU smoke test of bench/run_gpu_benchmarks.sh.
inline bool gpu_smoke() {
  const char* v = std::getenv("SFB_BENCH_GPU_SMOKE");
  return v && std::string(v) == "1";
}

/// The GPU configurations when SFB_BENCH_GPU=1, else none. With SFB_BENCH_GPU_SMOKE=1 small
/// stand-ins that a loaded CPU runs in seconds, named the same way: cnn-small at 32×32, batch 4,
/// and resnet-50 (ImageNet head) at 64×64, batch 2 (at 32×32 its 1×1 last stage leaves BN too
/// few values per channel to train on); bench_interactions also cuts P and K to 1.
inline std::vector<GpuConfig> gpu_configs() {
  const char* on = std::getenv("SFB_BENCH_GPU");
  if (!on || std::string(on) != "1") return {};
  if (gpu_smoke()) return {{"cnn-small", 32, 4}, {"resnet-50", 64, 2}};
  return {{"wrn-28-10", 32, 256}, {"resnet-50", 224, 128}};
}

/// Sets every BatchNorm's running statistics to those of 8 random images [8, 3, res, res] (one
/// train-mode forward without a graph, momentum 1) and leaves `model` (on `device`) in eval
/// mode. A freshly initialised model in eval mode normalises with mean 0 and variance 1, and
/// resnet-50's activations then grow by orders of magnitude per stage until SF values overflow
/// float32 (sfbench's trainer stops on a non-finite logged term). Changes values only, not the
/// work timed; the Python references do the same (devices.calibrate_bn).
inline void calibrate_bn(models::Classifier& model, int64_t resolution,
                         const torch::Device& device) {
  auto* module = dynamic_cast<torch::nn::Module*>(&model);
  if (!module) return;
  std::vector<std::pair<torch::nn::BatchNorm2dImpl*, std::optional<double>>> saved;
  for (const auto& m : module->modules(/*include_self=*/false)) {
    if (auto* bn = m->as<torch::nn::BatchNorm2d>()) {
      saved.emplace_back(bn, bn->options.momentum());
      bn->options.momentum(1.0);
    }
  }
  model.train(true);
  {
    torch::NoGradGuard no_grad;
    model.forward(torch::rand({8, 3, resolution, resolution}).to(device));
  }
  for (auto& [bn, momentum] : saved) bn->options.momentum(momentum);
  model.train(false);
}

}  // namespace sfb::bench
