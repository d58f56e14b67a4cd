#pragma once
#include <mpi.h>
#include <nccl.h>

#include "comm/communicator.hpp"

namespace sfb::comm {

/// Communicator over NCCL for CUDA tensors on this rank's GPU. Bootstrapped from MPI: rank 0 calls
/// ncclGetUniqueId, the id is broadcast with MPI_Bcast, every rank calls ncclCommInitRank on its
/// device. Collectives are enqueued on the current LibTorch CUDA stream of the device, so they are
/// ordered with the kernels around them; synchronize() waits for that stream.
class NcclCommunicator final : public Communicator {
 public:
  /// Collective over `mpi_comm`. `device_index` must differ between ranks on one node (NCCL
  /// refuses two ranks on one GPU). Throws CommError/CudaError.
  NcclCommunicator(MPI_Comm mpi_comm, int device_index);
  ~NcclCommunicator() override;
  NcclCommunicator(const NcclCommunicator&) = delete;
  NcclCommunicator& operator=(const NcclCommunicator&) = delete;

  std::string name() const override { return "nccl"; }
  int rank() const override { return rank_; }
  int size() const override { return size_; }
  torch::Device device() const override { return {torch::kCUDA, static_cast<int8_t>(device_)}; }
  void allreduce(torch::Tensor& t, ReduceOp op) override;
  void broadcast(torch::Tensor& t, int root) override;
  torch::Tensor allgather(const torch::Tensor& t) override;
  void barrier() override;
  void synchronize() override;

  /// "2.27.3" for the loaded NCCL library.
  static std::string library_version();

 private:
  void check_tensor(const torch::Tensor& t, const char* op) const;
  ncclComm_t comm_ = nullptr;
  int rank_ = 0, size_ = 1, device_ = 0;
};

}  // namespace sfb::comm
