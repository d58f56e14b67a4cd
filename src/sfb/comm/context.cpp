#include "comm/context.hpp"

#include <ATen/autocast_mode.h>
#include <fmt/format.h>
#include <sched.h>
#include <torch/torch.h>
#include <unistd.h>

#include <cstdlib>
#include <thread>

#include "build_config.hpp"
#include "comm/mpi/mpi_check.hpp"
#include "comm/mpi/mpi_communicator.hpp"
#include "core/allocator.hpp"
#include "core/log.hpp"
#if SFB_WITH_CUDA
#include "comm/cuda/cuda_device.hpp"
#endif
#if SFB_WITH_NCCL
#include "comm/nccl/nccl_communicator.hpp"
#endif

namespace sfb {
namespace {

// Sets the arithmetic of the model evaluations that follow on this (the main) thread and returns
// its description for the provenance. bf16 enables autocast for the rank's device type with its
// cast cache off: the cache would keep bfloat16 copies of weights that training then updates.
std::string apply_precision(const std::string& p, const torch::Device& dev) {
  if (p != "fp32" && p != "tf32" && p != "bf16") {
    throw ConfigError("precision = '" + p + "' is not one of fp32|tf32|bf16");
  }
  auto& g = at::globalContext();
  g.setAllowTF32CuBLAS(p == "tf32");
  g.setAllowTF32CuDNN(p == "tf32");
  const at::DeviceType type = dev.type();
  const std::string where = dev.is_cuda() ? "cuda" : "cpu";
  at::autocast::set_autocast_cache_enabled(false);
  at::autocast::set_autocast_enabled(type, p == "bf16");
  if (p == "bf16") {
    at::autocast::set_autocast_dtype(type, at::kBFloat16);
    return "bf16 (autocast on " + where + ")";
  }
  if (p == "tf32" && !dev.is_cuda()) return "tf32 requested; fp32 on cpu (TF32 is a CUDA mode)";
  return p;
}

int env_int(const char* name, int fallback) {
  const char* v = std::getenv(name);
  if (!v || !*v) return fallback;
  char* end = nullptr;
  long x = std::strtol(v, &end, 10);
  return (end && *end == '\0' && x >= 0) ? static_cast<int>(x) : fallback;
}

std::string mpi_library_version() {
  char buf[MPI_MAX_LIBRARY_VERSION_STRING] = {0};
  int len = 0;
  MPI_Get_library_version(buf, &len);
  std::string s(buf, static_cast<size_t>(len));
  auto nl = s.find_first_of("\n,");
  return nl == std::string::npos ? s : s.substr(0, nl);
}

int visible_gpus() {
#if SFB_WITH_CUDA
  return comm::cuda::device_count();
#else
  return 0;
#endif
}

}  // namespace

Context::Context(int* argc, char*** argv) {
  int initialized = 0;
  SFB_MPI_CHECK(MPI_Initialized(&initialized));
  if (!initialized) {
#ifdef OPEN_MPI
    // Open MPI's MPI-IO (ompio) picks a shared-file-pointer component whenever a file is opened,
    // and its 'lockedfile' component copies the path plus ".locktest.<rank>" into a 256-byte
    // buffer: a path longer than ~240 bytes aborts the process (buffer overflow). sfbench never
    // uses shared file pointers (HDF5 writes at explicit offsets), so 'individual', which needs
    // no file name, is chosen unless the user set the parameter. The variable is read by MPI_Init
    // in this process, so it takes effect under mpirun and srun alike.
    setenv("OMPI_MCA_sharedfp", "individual", /*overwrite=*/0);
#endif
    int provided = 0;
    SFB_MPI_CHECK(MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided));
    owns_mpi_ = true;
  }
  SFB_MPI_CHECK(MPI_Comm_dup(MPI_COMM_WORLD, &mpi_comm_));
  SFB_MPI_CHECK(MPI_Comm_rank(mpi_comm_, &rank_));
  SFB_MPI_CHECK(MPI_Comm_size(mpi_comm_, &size_));
  MPI_Comm node = MPI_COMM_NULL;
  SFB_MPI_CHECK(MPI_Comm_split_type(mpi_comm_, MPI_COMM_TYPE_SHARED, rank_, MPI_INFO_NULL, &node));
  int split_rank = 0;
  SFB_MPI_CHECK(MPI_Comm_rank(node, &split_rank));
  SFB_MPI_CHECK(MPI_Comm_size(node, &local_size_));
  SFB_MPI_CHECK(MPI_Comm_free(&node));
  local_rank_ = env_int("OMPI_COMM_WORLD_LOCAL_RANK", env_int("SLURM_LOCALID", split_rank));
  if (local_rank_ >= local_size_) local_rank_ = split_rank;  // stale variable from an outer step
  char host[256] = {0};
  gethostname(host, sizeof host - 1);
  hostname_ = host;
  host_comm_ = std::make_unique<comm::MpiCommunicator>(mpi_comm_);
}

Context::~Context() {
  nccl_comm_.reset();
  host_comm_.reset();
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (!finalized && abort_at_exit_) {
    // MPI_Finalize would hang or crash (a parallel file that could not be closed): end the job.
    MPI_Abort(mpi_comm_ != MPI_COMM_NULL ? mpi_comm_ : MPI_COMM_WORLD,
              static_cast<int>(ExitCode::kRuntime));
  }
  if (!finalized) {
    if (mpi_comm_ != MPI_COMM_NULL) MPI_Comm_free(&mpi_comm_);
    if (owns_mpi_) MPI_Finalize();
  }
}

comm::Traffic Context::traffic() const {
  comm::Traffic t = host_comm_ ? host_comm_->traffic() : comm::Traffic{};
  if (nccl_comm_) {
    t.bytes += nccl_comm_->traffic().bytes;
    t.collectives += nccl_comm_->traffic().collectives;
  }
  return t;
}

comm::Communicator& Context::comm() { return nccl_comm_ ? *nccl_comm_ : *host_comm_; }

void Context::agree(const std::function<void()>& fn) {
  std::string message;
  int code = 0;
  try {
    fn();
  } catch (const AgreedError&) {
    throw;  // already agreed inside fn
  } catch (const Error& e) {
    message = e.what();
    code = static_cast<int>(e.exit_code());
  } catch (const std::exception& e) {
    message = e.what();
    code = static_cast<int>(ExitCode::kRuntime);
  }
  int first = code ? rank_ : size_;
  SFB_MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, &first, 1, MPI_INT, MPI_MIN, mpi_comm_));
  if (first == size_) return;
  int agreed_code = code;
  SFB_MPI_CHECK(MPI_Bcast(&agreed_code, 1, MPI_INT, first, mpi_comm_));
  const std::string agreed = comm::broadcast_string(*host_comm_, message, first);
  throw AgreedError(agreed, static_cast<ExitCode>(agreed_code), first);
}

void Context::abort(int code) const {
  MPI_Abort(mpi_comm_ != MPI_COMM_NULL ? mpi_comm_ : MPI_COMM_WORLD, code);
  std::_Exit(code);
}

void Context::configure(const ContextOptions& opts) {
  int gpus = 0;
  bool want_cuda = false;
  agree([&] {
    gpus = visible_gpus();
    if (opts.device == "cuda" && gpus == 0) {
      throw ConfigError(std::string("device 'cuda' requested but no CUDA device is visible on ") +
                        hostname_ +
                        (SFB_WITH_CUDA ? "" : " (this sfbench was built without CUDA)"));
    }
    if (opts.comm == "nccl" && !SFB_WITH_NCCL) {
      throw ConfigError("comm 'nccl' requested but this sfbench was built without NCCL");
    }
    want_cuda = opts.device == "cuda" || (opts.device == "auto" && gpus > 0);
  });
  // All ranks use one device type: with 'auto', one rank without a GPU makes every rank use CPU.
  int all_cuda = want_cuda ? 1 : 0;
  SFB_MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, &all_cuda, 1, MPI_INT, MPI_MIN, mpi_comm_));
  const bool cuda = all_cuda == 1;
  int shared = (cuda && local_size_ > gpus) ? 1 : 0;  // two ranks on one GPU somewhere
  SFB_MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, &shared, 1, MPI_INT, MPI_MAX, mpi_comm_));
  agree([&] {
    if (opts.comm == "nccl" && !cuda) {
      throw ConfigError("comm 'nccl' needs device 'cuda' on every rank (got cpu)");
    }
    if (opts.comm == "nccl" && shared) {
      throw ConfigError("comm 'nccl' cannot run two ranks on one GPU (NCCL refuses); on " +
                        hostname_ + ": " + std::to_string(local_size_) + " ranks, " +
                        std::to_string(gpus) + " GPUs. Use --comm mpi or fewer ranks per node");
    }
  });
  device_ = torch::Device(torch::kCPU);
  std::string device_desc = "cpu";
#if SFB_WITH_CUDA
  if (cuda) {
    const int index = local_rank_ % gpus;
    comm::cuda::set_device(index);
    device_ = torch::Device(torch::kCUDA, static_cast<int8_t>(index));
    device_desc = "cuda:" + std::to_string(index) + " (" + comm::cuda::device_name(index) + ")";
  }
#endif
  // Default: the node's cores shared by its ranks, but never more than the CPUs this process may
  // run on (mpirun binds a lone rank to one core by default; more threads would share it).
  int64_t allowed = static_cast<int64_t>(std::thread::hardware_concurrency());
  cpu_set_t mask;
  if (sched_getaffinity(0, sizeof(mask), &mask) == 0) allowed = CPU_COUNT(&mask);
  const int64_t threads =
      opts.threads > 0
          ? opts.threads
          : std::max<int64_t>(
                1, std::min<int64_t>(
                       allowed,
                       static_cast<int64_t>(std::thread::hardware_concurrency()) / local_size_));
  torch::set_num_threads(static_cast<int>(threads));
  std::string allocator;
  agree([&] { allocator = tune_allocator(); });
  const std::string precision = apply_precision(opts.precision, device_);
  if (opts.channels_last != "auto" && opts.channels_last != "true" &&
      opts.channels_last != "false") {
    throw ConfigError("channels_last must be auto, true or false (got '" + opts.channels_last +
                      "')");
  }
  // auto: NHWC on CPU ranks (oneDNN's NHWC convolutions: integrated gradients 1.3-1.6x faster on
  // the small CNN of bench/reference_speed.py), NCHW on CUDA ranks (not measured there).
  channels_last_ = opts.channels_last == "true" || (opts.channels_last == "auto" && !cuda);

  nccl_comm_.reset();
#if SFB_WITH_NCCL
  const bool use_nccl = cuda && !shared && (opts.comm == "nccl" || opts.comm == "auto");
  if (use_nccl) {
    agree(
        [&] { nccl_comm_ = std::make_unique<comm::NcclCommunicator>(mpi_comm_, device_.index()); });
  }
#endif

  provenance_ = local_provenance();
  provenance_.allocator = allocator;
  provenance_.precision = precision;
  provenance_.channels_last = channels_last_ ? 1 : 0;
  provenance_.created_utc = comm::broadcast_string(*host_comm_, provenance_.created_utc, 0);
  provenance_.cpu_model = comm::broadcast_string(*host_comm_, provenance_.cpu_model, 0);
  provenance_.interconnect = comm::broadcast_string(*host_comm_, provenance_.interconnect, 0);
  int64_t node[3] = {provenance_.cpu_cores, static_cast<int64_t>(gpus), local_size_};
  SFB_MPI_CHECK(MPI_Bcast(&node[0], 1, MPI_INT64_T, 0, mpi_comm_));
  SFB_MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, &node[1], 2, MPI_INT64_T, MPI_MAX, mpi_comm_));
  provenance_.cpu_cores = node[0];
  provenance_.gpus_per_node = node[1];
  provenance_.ranks_per_node = node[2];
  provenance_.world_size = size_;
  provenance_.mpi = mpi_library_version();
#if SFB_WITH_CUDA
  provenance_.cuda = comm::cuda::versions();
#else
  provenance_.cuda = "none (built without CUDA)";
#endif
#if SFB_WITH_NCCL
  provenance_.nccl = comm::NcclCommunicator::library_version();
#else
  provenance_.nccl = "none (built without NCCL)";
#endif
  const auto hosts = comm::allgather_strings(*host_comm_, hostname_);
  for (const auto& h : hosts) {
    if (std::find(provenance_.hosts.begin(), provenance_.hosts.end(), h) ==
        provenance_.hosts.end()) {
      provenance_.hosts.push_back(h);
    }
  }
  const std::string mine = "rank " + std::to_string(rank_) + ": " + device_desc + "@" + hostname_ +
                           " comm=" + comm().name() + " threads=" + std::to_string(threads);
  provenance_.devices = comm::allgather_strings(*host_comm_, mine);
  log::debug(fmt::format("bound to {} (local rank {}/{}), communicator {}", device_desc,
                         local_rank_, local_size_, comm().name()));
}

}  // namespace sfb
