#pragma once
// Data-parallel gradient averaging with bucketed flat buffers (DESIGN.md "Communication"), as
// DDP does: parameters are grouped in reverse registration order (the order backward produces
// their gradients) into buckets of about `bucket_bytes`; a gradient hook copies each parameter's
// gradient into its bucket's flat buffer, and a bucket is all-reduced as soon as its last
// gradient arrives, while backward continues. finish() reduces any bucket still pending (a
// parameter that got no gradient contributes zeros), waits for all, and writes sum / N into each
// parameter's .grad.
//
// Threading: the Communicator's collectives are synchronous, so "launched" means reduced in the
// hook, on the thread running backward. On CPU LibTorch's autograd runs hooks on the calling
// (main) thread, which keeps MPI_THREAD_FUNNELED; CUDA tensors need the NCCL communicator
// (collectives enqueued on its stream and awaited by Communicator::synchronize() in finish()).
//
// A parameter's hook runs once per backward with its total gradient (the engine sums all paths
// into a leaf before accumulating), so parameters used twice (MART's two forwards, the head in
// the SF closed form) are reduced once.

#include <torch/torch.h>

#include <cstdint>
#include <vector>

#include "comm/communicator.hpp"

namespace sfb::train {

/// Default bucket capacity (DDP's 25 MiB).
inline constexpr int64_t kDefaultBucketBytes = 25LL << 20;

/// Averages the gradients of `params` over the ranks of `comm`. Construct on every rank with the
/// same parameter list (same shapes and order). Not copyable; removes its hooks on destruction.
class GradReducer {
 public:
  GradReducer(std::vector<torch::Tensor> params, comm::Communicator& comm,
              int64_t bucket_bytes = kDefaultBucketBytes);
  ~GradReducer();
  GradReducer(const GradReducer&) = delete;
  GradReducer& operator=(const GradReducer&) = delete;

  /// Clears the buckets for a new backward pass; call before backward. Not collective.
  void prepare();
  /// After backward: reduces the buckets not yet reduced, in a fixed order, synchronizes, and sets
  /// every parameter's .grad to the average over ranks. Collective.
  void finish();
  /// Buckets, each a list of indices into the parameter list (reverse order, for tests and logs).
  const std::vector<std::vector<int64_t>>& buckets() const { return bucket_params_; }

 private:
  void on_grad(int64_t param, const torch::Tensor& grad);
  void reduce_bucket(int64_t b);

  std::vector<torch::Tensor> params_;
  comm::Communicator& comm_;
  std::vector<std::vector<int64_t>> bucket_params_;   // bucket -> params
  std::vector<int64_t> param_bucket_, param_offset_;  // param -> bucket, offset in its buffer
  std::vector<torch::Tensor> buffers_;                // flat, one per bucket
  std::vector<int64_t> pending_;                      // gradients still missing per bucket
  std::vector<bool> filled_, reduced_;
  std::vector<unsigned> hook_ids_;
};

/// Broadcasts every tensor in `tensors` from `root` in place (parameters at start, BatchNorm
/// buffers before each step). Collective.
void broadcast_tensors(const std::vector<torch::Tensor>& tensors, comm::Communicator& comm,
                       int root = 0);

}  // namespace sfb::train
