#include "comm/nccl/nccl_communicator.hpp"

#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <torch/torch.h>

#include "comm/cuda/cuda_check.hpp"
#include "comm/mpi/mpi_check.hpp"
#include "comm/where.hpp"
#include "core/error.hpp"

namespace sfb::comm {
namespace {

void nccl_check(ncclResult_t rc, const char* call, const char* file, int line) {
  if (rc == ncclSuccess) return;
  throw CommError(std::string(call) + " failed: " + ncclGetErrorString(rc) + " (" +
                  ncclGetLastError(nullptr) + ") at " + file + ":" + std::to_string(line) +
                  rank_host_suffix());
}

#define SFB_NCCL_CHECK(call) nccl_check((call), #call, __FILE__, __LINE__)

ncclDataType_t nccl_type(const torch::Tensor& t, const char* op) {
  switch (t.scalar_type()) {
    case torch::kFloat32:
      return ncclFloat32;
    case torch::kFloat64:
      return ncclFloat64;
    case torch::kInt64:
      return ncclInt64;
    case torch::kInt32:
      return ncclInt32;
    case torch::kUInt8:
      return ncclUint8;
    case torch::kBFloat16:
      return ncclBfloat16;
    case torch::kFloat16:
      return ncclFloat16;
    default:
      throw CommError(std::string("NcclCommunicator::") + op + ": unsupported dtype " +
                      std::string(c10::toString(t.scalar_type())));
  }
}

ncclRedOp_t nccl_op(ReduceOp op) {
  switch (op) {
    case ReduceOp::kSum:
      return ncclSum;
    case ReduceOp::kMax:
      return ncclMax;
    case ReduceOp::kMin:
      return ncclMin;
  }
  return ncclSum;
}

}  // namespace

NcclCommunicator::NcclCommunicator(MPI_Comm mpi_comm, int device_index) : device_(device_index) {
  SFB_MPI_CHECK(MPI_Comm_rank(mpi_comm, &rank_));
  SFB_MPI_CHECK(MPI_Comm_size(mpi_comm, &size_));
  SFB_CUDA_CHECK(cudaSetDevice(device_));
  ncclUniqueId id;
  if (rank_ == 0) SFB_NCCL_CHECK(ncclGetUniqueId(&id));
  SFB_MPI_CHECK(MPI_Bcast(&id, sizeof id, MPI_BYTE, 0, mpi_comm));
  SFB_NCCL_CHECK(ncclCommInitRank(&comm_, size_, id, rank_));
}

NcclCommunicator::~NcclCommunicator() {
  if (comm_) {
    ncclCommFinalize(comm_);
    ncclCommDestroy(comm_);
  }
}

std::string NcclCommunicator::library_version() {
  int v = 0;
  if (ncclGetVersion(&v) != ncclSuccess) return "unknown";
  // NCCL >= 2.9 encodes major*10000 + minor*100 + patch.
  return std::to_string(v / 10000) + "." + std::to_string((v % 10000) / 100) + "." +
         std::to_string(v % 100);
}

void NcclCommunicator::check_tensor(const torch::Tensor& t, const char* op) const {
  if (!t.defined() || !t.is_cuda() || t.device().index() != device_) {
    throw CommError(std::string("NcclCommunicator::") + op +
                    ": needs a CUDA tensor on cuda:" + std::to_string(device_) + ", got " +
                    (t.defined() ? t.device().str() : std::string("an undefined tensor")));
  }
  if (!t.is_contiguous()) {
    throw CommError(std::string("NcclCommunicator::") + op + ": tensor must be contiguous");
  }
}

void NcclCommunicator::allreduce(torch::Tensor& t, ReduceOp op) {
  check_tensor(t, "allreduce");
  const ncclDataType_t type = nccl_type(t, "allreduce");
  count(static_cast<int64_t>(t.nbytes()));
  auto stream = c10::cuda::getCurrentCUDAStream(device_).stream();
  SFB_NCCL_CHECK(ncclAllReduce(t.data_ptr(), t.data_ptr(), static_cast<size_t>(t.numel()), type,
                               nccl_op(op), comm_, stream));
}

void NcclCommunicator::broadcast(torch::Tensor& t, int root) {
  check_tensor(t, "broadcast");
  if (root < 0 || root >= size_) {
    throw CommError("NcclCommunicator::broadcast: root " + std::to_string(root) + " out of range");
  }
  count(static_cast<int64_t>(t.nbytes()));
  auto stream = c10::cuda::getCurrentCUDAStream(device_).stream();
  SFB_NCCL_CHECK(ncclBroadcast(t.data_ptr(), t.data_ptr(), static_cast<size_t>(t.numel()),
                               nccl_type(t, "broadcast"), root, comm_, stream));
}

torch::Tensor NcclCommunicator::allgather(const torch::Tensor& t) {
  check_tensor(t, "allgather");
  // Agree on size and dtype first (NCCL has no way to detect a mismatch; it would corrupt memory).
  auto desc = torch::tensor({t.numel(), -t.numel(), static_cast<int64_t>(t.scalar_type()),
                             -static_cast<int64_t>(t.scalar_type())},
                            torch::TensorOptions().dtype(torch::kInt64).device(t.device()));
  allreduce(desc, ReduceOp::kMax);
  auto d = desc.cpu();
  auto a = d.accessor<int64_t, 1>();
  if (a[0] != -a[1] || a[2] != -a[3]) {
    throw CommError(
        "NcclCommunicator::allgather: ranks passed tensors of different sizes or dtypes");
  }
  std::vector<int64_t> shape{size_};
  for (auto s : t.sizes()) shape.push_back(s);
  auto out = torch::empty(shape, t.options());
  count(static_cast<int64_t>(t.nbytes()));
  auto stream = c10::cuda::getCurrentCUDAStream(device_).stream();
  SFB_NCCL_CHECK(ncclAllGather(t.data_ptr(), out.data_ptr(), static_cast<size_t>(t.numel()),
                               nccl_type(t, "allgather"), comm_, stream));
  return out;
}

void NcclCommunicator::barrier() {
  // An all-reduce of one element followed by a stream synchronization: every rank must have
  // contributed before any rank returns.
  // Issued directly so that barriers stay out of traffic(), as in the MPI backend.
  auto one = torch::ones({1}, torch::TensorOptions().dtype(torch::kFloat32).device(device()));
  auto stream = c10::cuda::getCurrentCUDAStream(device_).stream();
  SFB_NCCL_CHECK(
      ncclAllReduce(one.data_ptr(), one.data_ptr(), 1, ncclFloat32, ncclSum, comm_, stream));
  synchronize();
}

void NcclCommunicator::synchronize() {
  SFB_CUDA_CHECK(cudaStreamSynchronize(c10::cuda::getCurrentCUDAStream(device_).stream()));
}

}  // namespace sfb::comm
