#include "comm/cuda/cuda_device.hpp"

#include <mpi.h>
#include <unistd.h>

#include "comm/cuda/cuda_check.hpp"
#include "comm/where.hpp"
#include "core/error.hpp"

namespace sfb::comm {
namespace detail {

void cuda_check(cudaError_t rc, const char* call, const char* file, int line) {
  if (rc == cudaSuccess) return;
  throw CudaError(std::string(call) + " failed: " + cudaGetErrorString(rc) + " at " + file + ":" +
                  std::to_string(line) + comm::rank_host_suffix());
}

}  // namespace detail

namespace cuda {

int device_count() {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    cudaGetLastError();  // clear the sticky "no driver" error
    return 0;
  }
  return n;
}

void set_device(int index) { SFB_CUDA_CHECK(cudaSetDevice(index)); }

std::string device_name(int index) {
  cudaDeviceProp prop{};
  if (cudaGetDeviceProperties(&prop, index) != cudaSuccess) {
    cudaGetLastError();
    return "unknown";
  }
  return prop.name;
}

std::string versions() {
  auto fmt = [](int v) { return std::to_string(v / 1000) + "." + std::to_string((v % 1000) / 10); };
  int rt = 0, drv = 0;
  std::string s = "runtime ";
  s += cudaRuntimeGetVersion(&rt) == cudaSuccess ? fmt(rt) : "unknown";
  s += ", driver ";
  s += (cudaDriverGetVersion(&drv) == cudaSuccess && drv > 0) ? fmt(drv) : "none";
  cudaGetLastError();
  return s;
}

}  // namespace cuda
}  // namespace sfb::comm
