#pragma once
#include <torch/types.h>

#include <string>
#include <vector>

namespace sfb::comm {

/// Element-wise reduction of a collective.
enum class ReduceOp { kSum, kMax, kMin };

/// What one rank has handed to a Communicator's collectives.
struct Traffic {
  int64_t bytes = 0;        ///< payload bytes: allreduce/broadcast count the tensor's bytes,
                            ///< allgather this rank's contribution plus its 32-byte shape check
  int64_t collectives = 0;  ///< collective calls (the allgather shape check counts as one)
};

/// What was communicated between two readings: later - earlier, field by field.
inline Traffic operator-(const Traffic& later, const Traffic& earlier) {
  return {later.bytes - earlier.bytes, later.collectives - earlier.collectives};
}

/// Collective operations on LibTorch tensors among all ranks of a job. Every method is collective:
/// every rank calls it, in the same order, with tensors of the same dtype and shape (checked where
/// cheap). Supported dtypes: float32, float64, int64 (plus int32 and uint8 for control data).
/// Tensors must be contiguous; in-place operations overwrite their argument.
class Communicator {
 public:
  virtual ~Communicator() = default;
  /// Backend name: "mpi" or "nccl".
  virtual std::string name() const = 0;
  /// This rank's index in [0, size()).
  virtual int rank() const = 0;
  /// Number of ranks.
  virtual int size() const = 0;
  /// The device its tensors must live on: CPU for MPI (CUDA tensors are staged through the host),
  /// the rank's GPU for NCCL.
  virtual torch::Device device() const = 0;
  /// In place: t := op over ranks of t. Collective.
  virtual void allreduce(torch::Tensor& t, ReduceOp op) = 0;
  /// In place: t := sum over ranks of t. Collective.
  void allreduce_sum(torch::Tensor& t) { allreduce(t, ReduceOp::kSum); }
  /// In place: t := root's t on every rank. Collective.
  virtual void broadcast(torch::Tensor& t, int root) = 0;
  /// Returns [size(), *t.shape] holding every rank's t in rank order, on t's device. All ranks'
  /// tensors must have the same shape and dtype (a CommError names the mismatch). Collective.
  virtual torch::Tensor allgather(const torch::Tensor& t) = 0;
  /// Waits until every rank has reached the barrier. Collective.
  virtual void barrier() = 0;
  /// Blocks the host until this rank's previously issued collectives have completed on the device
  /// (a no-op for host-synchronous backends). Not collective.
  virtual void synchronize() = 0;
  /// Bytes and calls this rank has passed to allreduce, broadcast and allgather since construction
  /// (barriers are not counted). Not collective.
  Traffic traffic() const { return traffic_; }

 protected:
  /// Backends call this once per collective with the tensor this rank contributes.
  void count(int64_t bytes) {
    traffic_.bytes += bytes;
    ++traffic_.collectives;
  }

 private:
  Traffic traffic_;
};

/// Broadcasts a string from `root` (a CPU-side helper built on broadcast). Collective.
std::string broadcast_string(Communicator& comm, const std::string& s, int root);
/// Gathers one string per rank, in rank order. Collective.
std::vector<std::string> allgather_strings(Communicator& comm, const std::string& s);
/// Sums a double over ranks. Collective.
double allreduce_scalar(Communicator& comm, double v, ReduceOp op);

}  // namespace sfb::comm
