#pragma once
#include <mpi.h>
#include <torch/types.h>

#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "comm/communicator.hpp"
#include "core/error.hpp"
#include "core/provenance.hpp"

namespace sfb {

/// An error every rank throws together, after Context::agree() found that some rank failed. Mains
/// print it once (on rank 0, naming the rank where it happened) and exit with its code on every
/// rank, instead of aborting the job.
class AgreedError : public Error {
 public:
  AgreedError(const std::string& what, ExitCode code, int origin_rank)
      : Error(what, code), origin_rank_(origin_rank) {}
  /// The lowest rank on which the error happened.
  int origin_rank() const noexcept { return origin_rank_; }

 private:
  int origin_rank_;
};

/// How a Context binds devices and picks its communicator (see CommonConfig).
struct ContextOptions {
  std::string device = "auto";  ///< auto | cpu | cuda
  std::string comm = "auto";    ///< auto | mpi | nccl
  int64_t threads = 0;          ///< intra-op threads per rank; 0 = node cores / ranks on the node
  std::string precision = "fp32";  ///< fp32 | tf32 | bf16 (CommonConfig::precision)
  /// CommonConfig::channels_last: "true", "false", or "auto" (NHWC on a CPU rank only)
  std::string channels_last = "auto";
};

/// Owns the MPI lifetime of the process, the rank's device and the communicators. Create exactly
/// one, first thing in main; destroy it last (its destructor finalizes MPI).
class Context {
 public:
  /// Initializes MPI (MPI_THREAD_FUNNELED) unless already initialized, and finds this rank's
  /// local rank: OMPI_COMM_WORLD_LOCAL_RANK, else SLURM_LOCALID, else an MPI shared-memory split.
  /// With Open MPI it sets OMPI_MCA_sharedfp=individual first unless the environment sets it
  /// (the default 'lockedfile' component overflows a buffer on paths over ~240 bytes).
  Context(int* argc, char*** argv);
  ~Context();
  Context(const Context&) = delete;
  Context& operator=(const Context&) = delete;

  /// Binds the device (cuda:local_rank % visible GPUs), sets the thread count, creates the data
  /// communicator and collects provenance. Collective. Throws ConfigError (agreed across ranks)
  /// for an impossible request, e.g. --device cuda without a GPU or --comm nccl with two ranks on
  /// one GPU or in a build without NCCL.
  void configure(const ContextOptions& opts);

  /// Whether models are to be converted to the channels-last memory format (ContextOptions).
  bool channels_last() const { return channels_last_; }
  int rank() const { return rank_; }
  int size() const { return size_; }
  int local_rank() const { return local_rank_; }
  int local_size() const { return local_size_; }
  const std::string& hostname() const { return hostname_; }
  /// The rank's device (valid after configure()).
  torch::Device device() const { return device_; }
  /// The data communicator: NCCL for CUDA tensors when chosen, else MPI (valid after configure()).
  comm::Communicator& comm();
  /// An MPI communicator on CPU tensors for control data (strings, flags, agreement). Always valid.
  comm::Communicator& host_comm() { return *host_comm_; }
  /// The duplicated MPI communicator every sfbench collective uses (for parallel HDF5).
  MPI_Comm mpi_comm() const { return mpi_comm_; }
  /// Bytes and calls this rank has passed to the data and host communicators' collectives so far
  /// (counted once when they are the same object). Not collective.
  comm::Traffic traffic() const;
  /// Seconds since this Context was created (the process's wall time, as mains create it first).
  double elapsed_seconds() const {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  }
  /// Provenance with hosts, devices and library versions (valid after configure()).
  const Provenance& provenance() const { return provenance_; }

  /// Runs `fn` on every rank, then agrees: when it threw an sfb::Error (or std::exception) on any
  /// rank, every rank throws the same AgreedError carrying the lowest failing rank's message and
  /// exit code. Use around steps that can fail on some ranks but not others (opening files,
  /// validating input) so no rank is left waiting in a later collective. Collective.
  void agree(const std::function<void()>& fn);

  /// Aborts every rank of the job with `code` (MPI_Abort). Never returns.
  [[noreturn]] void abort(int code) const;

  /// Records that MPI cannot be finalized cleanly any more: a parallel HDF5 file failed to write
  /// and cannot be closed (closing, or HDF5's clean-up in MPI_Finalize, would wait forever in a
  /// collective or crash). Mains then end the job with abort() after printing the error; the
  /// destructor does so as a last resort. Not collective (every rank calls it).
  void set_abort_at_exit() { abort_at_exit_ = true; }
  /// Whether set_abort_at_exit() was called.
  bool abort_at_exit() const { return abort_at_exit_; }

 private:
  std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
  int rank_ = 0, size_ = 1, local_rank_ = 0, local_size_ = 1;
  bool channels_last_ = false;
  std::string hostname_;
  MPI_Comm mpi_comm_ = MPI_COMM_NULL;
  bool owns_mpi_ = false;
  bool abort_at_exit_ = false;
  torch::Device device_{torch::kCPU};
  std::unique_ptr<comm::Communicator> host_comm_;
  std::unique_ptr<comm::Communicator> nccl_comm_;
  Provenance provenance_;
};

}  // namespace sfb
