#pragma once
// What the tests in tests/gpu share: whether this job can run them, the rank's GPU, and strict
// fp32. Every test there starts with
//     if (!every_rank_has_gpu()) GTEST_SKIP() << kNoGpu;
// so a machine without a GPU reports every test skipped (ctest: "Skipped", see CMakeLists.txt).
#include <torch/torch.h>

#include "comm/communicator.hpp"
#include "mpi/mpi_env.hpp"

namespace sfb::test {

/// The reason every test of tests/gpu gives when it skips for want of a GPU.
inline constexpr const char* kNoGpu = "no CUDA device visible on some rank: GPU test skipped";

/// True when every rank sees at least one CUDA device. Collective (one all-reduce on the host
/// communicator), so all ranks skip or run together.
inline bool every_rank_has_gpu() {
  const int mine = torch::cuda::is_available() && torch::cuda::device_count() > 0 ? 1 : 0;
  return comm::allreduce_scalar(ctx().host_comm(), mine, comm::ReduceOp::kMin) > 0.5;
}

/// This rank's GPU: cuda:(local rank mod visible devices), the Context's binding rule (two ranks
/// share a GPU when the node has fewer GPUs than ranks). Only valid when a device is visible.
inline torch::Device rank_gpu() {
  const int64_t count = static_cast<int64_t>(torch::cuda::device_count());
  return {torch::kCUDA, static_cast<c10::DeviceIndex>(ctx().local_rank() % count)};
}

/// Makes float32 mean IEEE float32 on the GPU: TF32 off for cuBLAS matmuls and cuDNN convolutions
/// (cuDNN's default allows TF32, whose 10-bit mantissa would differ from the CPU at ~1e-3), and
/// cuDNN's autotuner off so the algorithm does not change between runs.
inline void strict_fp32() {
  auto& g = at::globalContext();
  g.setAllowTF32CuBLAS(false);
  g.setAllowTF32CuDNN(false);
  g.setBenchmarkCuDNN(false);
}

}  // namespace sfb::test
