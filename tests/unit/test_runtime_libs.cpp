// One copy of the CUDA runtime and of NCCL in the process, and the copies the torch install loads.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <fstream>
#include <set>
#include <string>

#include "build_config.hpp"

namespace {

std::set<std::string> mapped(const std::string& stem) {
  std::ifstream maps("/proc/self/maps");
  std::set<std::string> files;
  for (std::string line; std::getline(maps, line);) {
    auto slash = line.find('/');
    if (slash == std::string::npos) continue;
    std::string path = line.substr(slash);
    auto base = path.substr(path.rfind('/') + 1);
    if (base.rfind(stem, 0) == 0) files.insert(path);
  }
  return files;
}

TEST(RuntimeLibraries, OneCudaRuntimeAndOneNcclFromTheTorchInstall) {
  if (!SFB_WITH_CUDA) GTEST_SKIP() << "built without CUDA";
  (void)torch::cuda::is_available();  // make LibTorch touch its CUDA side
  const auto torch_libs = mapped("libtorch_cuda.so");
  ASSERT_EQ(torch_libs.size(), 1u);
  // The wheel keeps torch/lib next to nvidia/*/lib in site-packages.
  const std::string torch_lib = *torch_libs.begin();
  const std::string site = torch_lib.substr(0, torch_lib.find("/torch/lib/"));
  const auto cudart = mapped("libcudart.so");
  ASSERT_EQ(cudart.size(), 1u) << "several CUDA runtimes are mapped";
  const auto nccl = mapped("libnccl.so");
  if (SFB_WITH_NCCL) {
    ASSERT_EQ(nccl.size(), 1u) << "several NCCL libraries are mapped";
  }
  if (torch_lib.find("site-packages") != std::string::npos) {
    EXPECT_EQ(cudart.begin()->rfind(site + "/nvidia/", 0), 0u) << *cudart.begin();
    if (SFB_WITH_NCCL) {
      EXPECT_EQ(nccl.begin()->rfind(site + "/nvidia/", 0), 0u) << *nccl.begin();
    }
  }
}

}  // namespace
