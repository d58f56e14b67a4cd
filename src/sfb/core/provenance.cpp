#include "core/provenance.hpp"

#include <torch/version.h>

#include <cstdlib>
#include <ctime>
#include <fstream>
#include <nlohmann/json.hpp>

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
                        {"hosts", hosts},
                        {"devices", devices},
                        {"world_size", world_size},
                        {"slurm_job_id", slurm_job_id},
                        {"created_utc", created_utc}};
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
  p.created_utc = utc_now_iso8601();
  return p;
}

}  // namespace sfb
