#pragma once
#include <mpi.h>

#include "comm/communicator.hpp"

namespace sfb::comm {

/// Communicator over an MPI communicator. Works on CPU tensors; CUDA tensors are copied to the
/// host, reduced there, and copied back (correct, not fast: use NcclCommunicator for GPUs).
/// Messages larger than 2^30 elements are split into several MPI calls.
class MpiCommunicator final : public Communicator {
 public:
  /// Wraps `comm` (not owned; must outlive this object).
  explicit MpiCommunicator(MPI_Comm comm);
  std::string name() const override { return "mpi"; }
  int rank() const override { return rank_; }
  int size() const override { return size_; }
  torch::Device device() const override { return torch::kCPU; }
  void allreduce(torch::Tensor& t, ReduceOp op) override;
  void broadcast(torch::Tensor& t, int root) override;
  torch::Tensor allgather(const torch::Tensor& t) override;
  void barrier() override;
  void synchronize() override {}

 private:
  MPI_Comm comm_;
  int rank_ = 0, size_ = 1;
};

}  // namespace sfb::comm
