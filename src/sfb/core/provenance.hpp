#pragma once
#include <cstdint>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <vector>

namespace sfb {

/// Where a number came from: what built it, what ran it, on what. Every results file and summary
/// carries one (DESIGN.md results contract, /provenance). Fields a module cannot know are filled
/// by the module that can: Context (comm/) fills hosts, devices, mpi, nccl, cuda; ResultsFile (io/)
/// fills hdf5.
struct Provenance {
  std::string sfbench_version;
  std::string git_commit;
  bool git_dirty = false;
  std::string build_type;
  std::string compiler;
  std::string libtorch;            ///< LibTorch version the binary was compiled against
  std::string cuda;                ///< CUDA runtime (and driver) version, or "none"
  std::string nccl;                ///< NCCL version, or "none"
  std::string mpi;                 ///< MPI library version string (first line)
  std::string hdf5;                ///< HDF5 library version
  std::string cpu_model;           ///< /proc/cpuinfo "model name" of rank 0's host
  std::string allocator;           ///< CPU malloc settings in effect (core/allocator.hpp)
  std::string precision = "fp32";  ///< the model arithmetic in effect (Context::configure)
  int64_t channels_last = 0;       ///< 1 when models run in the channels-last memory format
  std::vector<std::string> hosts;  ///< distinct host names, in rank order of first appearance
  std::vector<std::string>
      devices;  ///< one entry per rank: "rank 0: cpu@host" / "rank 1: cuda:1 (NVIDIA H200)@host"
  int64_t world_size = 1;
  int64_t cpu_cores = 0;      ///< logical CPUs of rank 0's host (std::thread::hardware_concurrency)
  int64_t gpus_per_node = 0;  ///< CUDA devices visible per node (max over nodes; 0 without GPUs)
  int64_t ranks_per_node = 1;  ///< ranks per node (max over nodes)
  std::string interconnect;    ///< detect_interconnect() of rank 0's host
  std::string slurm_job_id;    ///< SLURM_JOB_ID (with array task, if any), or empty
  std::string created_utc;     ///< ISO 8601 UTC time of rank 0 at run start

  /// As a JSON object with the field names above.
  nlohmann::json to_json() const;
  /// The machine a run used, as the summary's "system" object: hosts, num_hosts, cpu_model,
  /// cpu_cores, gpu_models (one per rank: the name in `devices`, or "none" for a CPU rank),
  /// gpus_per_node, ranks_per_node, interconnect, world_size, slurm_job_id.
  nlohmann::json system_json() const;
};

/// Provenance fields known without communication: version, commit, build, LibTorch, CPU model,
/// Slurm job id, current UTC time. Other fields are left empty.
Provenance local_provenance();

/// The network fabric this host could use between nodes, from sysfs: "infiniband (mlx5_0, ...)"
/// when /sys/class/infiniband lists devices, "slingshot (hsn0, ...)" for hsn* network interfaces,
/// else "unknown" (Ethernet or shared memory only; not distinguishable without probing).
std::string detect_interconnect();

/// Current UTC time as "YYYY-MM-DDThh:mm:ssZ".
std::string utc_now_iso8601();

}  // namespace sfb
