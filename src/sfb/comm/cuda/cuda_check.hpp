#pragma once
#include <cuda_runtime_api.h>

namespace sfb::comm::detail {
/// Throws CudaError with cudaGetErrorString, the call text, file:line and rank when rc != 0.
void cuda_check(cudaError_t rc, const char* call, const char* file, int line);
}  // namespace sfb::comm::detail

/// Checks the return code of a CUDA runtime call.
#define SFB_CUDA_CHECK(call) ::sfb::comm::detail::cuda_check((call), #call, __FILE__, __LINE__)
