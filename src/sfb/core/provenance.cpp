#include "core/provenance.hpp"

#include <torch/version.h>

#include <algorithm>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "build_config.hpp"
#include "core/version.hpp"

namespace sfb {

nlohmann::json Provenance::to_json() const {
  return nlohmann::json{{"sfbench_version", sfbench_version},
                        {"git_commit", git_commit},
                        {"git_dirty", git_dirty},
                        {"build_type", build_type},
                        {"compiler", compiler},
                        {"libtorch", libtorch},
                        {"cuda", cuda},
                        {"nccl", nccl},
                        {"mpi", mpi},
                        {"hdf5", hdf5},
                        {"cpu_model", cpu_model},
                        {"allocator", allocator},
                        {"precision", precision},
                        {"channels_last", channels_last},
                        {"hosts", hosts},
                        {"devices", devices},
                        {"world_size", world_size},
                        {"cpu_cores", cpu_cores},
                        {"gpus_per_node", gpus_per_node},
                        {"ranks_per_node", ranks_per_node},
                        {"interconnect", interconnect},
                        {"slurm_job_id", slurm_job_id},
                        {"created_utc", created_utc}};
}

nlohmann::json Provenance::system_json() const {
  // devices entries look like "rank 1: cuda:1 (NVIDIA H200)@host comm=nccl threads=8".
  std::vector<std::string> gpu_models;
  for (const auto& d : devices) {
    const auto open = d.find(": cuda:");
    const auto lp = open == std::string::npos ? open : d.find('(', open);
    const auto rp = lp == std::string::npos ? lp : d.find(")@", lp);
    gpu_models.push_back(rp == std::string::npos ? "none" : d.substr(lp + 1, rp - lp - 1));
  }
  return nlohmann::json{{"hosts", hosts},
                        {"num_hosts", static_cast<int64_t>(hosts.size())},
                        {"cpu_model", cpu_model},
                        {"cpu_cores", cpu_cores},
                        {"gpu_models", gpu_models},
                        {"gpus_per_node", gpus_per_node},
                        {"ranks_per_node", ranks_per_node},
                        {"interconnect", interconnect},
                        {"world_size", world_size},
                        {"slurm_job_id", slurm_job_id}};
}

std::string detect_interconnect() {
  namespace fs = std::filesystem;
  auto list = [](const fs::path& dir, const std::string& prefix) {
    std::vector<std::string> names;
    std::error_code ec;
    for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
      const std::string n = it->path().filename().string();
      if (n.rfind(prefix, 0) == 0) names.push_back(n);
    }
    std::sort(names.begin(), names.end());
    std::string joined;
    for (const auto& n : names) joined += (joined.empty() ? "" : ", ") + n;
    return joined;
  };
  if (auto ib = list("/sys/class/infiniband", ""); !ib.empty()) return "infiniband (" + ib + ")";
  if (auto hsn = list("/sys/class/net", "hsn"); !hsn.empty()) return "slingshot (" + hsn + ")";
  return "unknown";
}

std::string utc_now_iso8601() {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

Provenance local_provenance() {
  Provenance p;
  p.sfbench_version = version();
  p.git_commit = git_commit();
  p.git_dirty = git_dirty();
  p.build_type = build::kBuildType;
  p.compiler = build::kCompiler;
  p.libtorch = TORCH_VERSION;
  std::ifstream cpuinfo("/proc/cpuinfo");
  for (std::string line; std::getline(cpuinfo, line);) {
    if (line.rfind("model name", 0) == 0) {
      auto c = line.find(':');
      if (c != std::string::npos) p.cpu_model = line.substr(line.find_first_not_of(' ', c + 1));
      break;
    }
  }
  if (const char* j = std::getenv("SLURM_JOB_ID")) {
    p.slurm_job_id = j;
    const char* a = std::getenv("SLURM_ARRAY_JOB_ID");
    const char* t = std::getenv("SLURM_ARRAY_TASK_ID");
    if (a && t) p.slurm_job_id = std::string(a) + "_" + t;
  }
  p.cpu_cores = static_cast<int64_t>(std::thread::hardware_concurrency());
  p.interconnect = detect_interconnect();
  p.created_utc = utc_now_iso8601();
  return p;
}

}  // namespace sfb
