#include "comm/mpi/mpi_communicator.hpp"

#include <torch/torch.h>

#include <algorithm>
#include <cstdint>

#include "comm/mpi/mpi_check.hpp"
#include "core/error.hpp"

namespace sfb::comm {
namespace {

constexpr int64_t kMaxChunk = int64_t{1} << 30;  // elements per MPI call (count is an int)

MPI_Datatype mpi_type(const torch::Tensor& t, const char* op) {
  switch (t.scalar_type()) {
    case torch::kFloat32:
      return MPI_FLOAT;
    case torch::kFloat64:
      return MPI_DOUBLE;
    case torch::kInt64:
      return MPI_INT64_T;
    case torch::kInt32:
      return MPI_INT32_T;
    case torch::kUInt8:
      return MPI_UINT8_T;
    default:
      throw CommError(std::string("MpiCommunicator::") + op + ": unsupported dtype " +
                      std::string(c10::toString(t.scalar_type())) +
                      " (supported: float32, float64, int64, int32, uint8)");
  }
}

MPI_Op mpi_op(ReduceOp op) {
  switch (op) {
    case ReduceOp::kSum:
      return MPI_SUM;
    case ReduceOp::kMax:
      return MPI_MAX;
    case ReduceOp::kMin:
      return MPI_MIN;
  }
  return MPI_SUM;
}

void require_contiguous(const torch::Tensor& t, const char* op) {
  if (!t.defined()) throw CommError(std::string("MpiCommunicator::") + op + ": undefined tensor");
  if (!t.is_contiguous()) {
    throw CommError(std::string("MpiCommunicator::") + op +
                    ": tensor must be contiguous (call .contiguous() first)");
  }
}

// Runs `fn(ptr, count)` on a host view of `t` in chunks, then copies back to the device if staged.
template <class Fn>
void on_host(torch::Tensor& t, bool write_back, Fn&& fn) {
  torch::Tensor host = t.is_cuda() ? t.to(torch::kCPU) : t;
  auto* base = static_cast<char*>(host.data_ptr());
  const int64_t n = host.numel();
  const int64_t esize = static_cast<int64_t>(host.element_size());
  for (int64_t off = 0; off < n; off += kMaxChunk) {
    fn(base + off * esize, static_cast<int>(std::min(kMaxChunk, n - off)));
  }
  if (write_back && t.is_cuda()) t.copy_(host);
}

}  // namespace

MpiCommunicator::MpiCommunicator(MPI_Comm comm) : comm_(comm) {
  SFB_MPI_CHECK(MPI_Comm_rank(comm_, &rank_));
  SFB_MPI_CHECK(MPI_Comm_size(comm_, &size_));
}

void MpiCommunicator::allreduce(torch::Tensor& t, ReduceOp op) {
  require_contiguous(t, "allreduce");
  const MPI_Datatype dt = mpi_type(t, "allreduce");
  count(static_cast<int64_t>(t.nbytes()));
  on_host(t, true, [&](void* p, int c) {
    SFB_MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, p, c, dt, mpi_op(op), comm_));
  });
}

void MpiCommunicator::broadcast(torch::Tensor& t, int root) {
  require_contiguous(t, "broadcast");
  if (root < 0 || root >= size_) {
    throw CommError("MpiCommunicator::broadcast: root " + std::to_string(root) + " outside [0, " +
                    std::to_string(size_) + ")");
  }
  const MPI_Datatype dt = mpi_type(t, "broadcast");
  count(static_cast<int64_t>(t.nbytes()));
  on_host(t, true, [&](void* p, int c) { SFB_MPI_CHECK(MPI_Bcast(p, c, dt, root, comm_)); });
}

torch::Tensor MpiCommunicator::allgather(const torch::Tensor& t) {
  require_contiguous(t, "allgather");
  const MPI_Datatype dt = mpi_type(t, "allgather");
  // Agree on the element count and dtype first: MPI_Allgather with unequal counts is undefined.
  int64_t desc[4] = {t.numel(), -t.numel(), static_cast<int64_t>(t.scalar_type()),
                     -static_cast<int64_t>(t.scalar_type())};
  count(static_cast<int64_t>(sizeof desc));
  SFB_MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, desc, 4, MPI_INT64_T, MPI_MAX, comm_));
  if (desc[0] != -desc[1] || desc[2] != -desc[3]) {
    throw CommError(
        "MpiCommunicator::allgather: ranks passed tensors of different sizes or dtypes "
        "(this rank: " +
        std::to_string(t.numel()) + " elements of " + std::string(c10::toString(t.scalar_type())) +
        ")");
  }
  std::vector<int64_t> shape{size_};
  for (auto s : t.sizes()) shape.push_back(s);
  torch::Tensor src = t.is_cuda() ? t.to(torch::kCPU) : t;
  torch::Tensor out = torch::empty(shape, src.options());
  const int64_t n = src.numel();
  if (n > kMaxChunk) {
    throw CommError("MpiCommunicator::allgather: " + std::to_string(n) +
                    " elements per rank exceed the supported 2^30");
  }
  count(static_cast<int64_t>(src.nbytes()));
  if (n > 0) {
    SFB_MPI_CHECK(MPI_Allgather(src.data_ptr(), static_cast<int>(n), dt, out.data_ptr(),
                                static_cast<int>(n), dt, comm_));
  }
  return t.is_cuda() ? out.to(t.device()) : out;
}

void MpiCommunicator::barrier() { SFB_MPI_CHECK(MPI_Barrier(comm_)); }

}  // namespace sfb::comm
