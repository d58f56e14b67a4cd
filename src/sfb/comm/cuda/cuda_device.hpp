#pragma once
#include <string>

namespace sfb::comm::cuda {

/// Number of CUDA devices visible to this process (0 without a driver or GPU; never throws).
int device_count();
/// Makes `index` the current CUDA device of this host thread. Throws CudaError.
void set_device(int index);
/// "NVIDIA H200" etc.; "unknown" on failure.
std::string device_name(int index);
/// "runtime 13.0, driver 13.0" (driver "none" without a driver).
std::string versions();

}  // namespace sfb::comm::cuda
