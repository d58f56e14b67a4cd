#pragma once
#include <c10/core/Event.h>
#include <torch/types.h>

#include <chrono>
#include <optional>
#include <utility>
#include <vector>

namespace sfb {

// Device-side helpers for the stages' batch loops. On a CUDA device the host only queues work:
// copies to the device do not wait (the data loader hands out pinned batches), per-batch results
// come back to the host with copies that do not wait either, and the host waits for the device
// once, where it needs the values (after the loop, or for a check that must stop the run). On the
// CPU every helper is the plain synchronous operation.

/// `t` on `device` as `dtype`, copied without waiting for the host side (pinned memory makes the
/// copy truly asynchronous; from pageable memory CUDA copies before returning).
torch::Tensor to_device(const torch::Tensor& t, const torch::Device& device,
                        torch::ScalarType dtype);
/// `t` on `device`, same dtype, as above.
torch::Tensor to_device(const torch::Tensor& t, const torch::Device& device);

/// A host copy of `t` as `dtype` that the host does not wait for: a device tensor's copy is valid
/// only after synchronize(t.device()). A host tensor is converted at once (the result may alias `t`
/// when the dtype matches, as Tensor::to does).
torch::Tensor to_host_async(const torch::Tensor& t, torch::ScalarType dtype);

/// Waits until everything queued on `device`'s current stream has finished. No-op for the CPU.
void synchronize(const torch::Device& device);

/// Per-batch rows gathered on the host from device tensors without a host wait per batch: push()
/// starts a non-blocking copy, cat() waits for the device once and concatenates along dim 0.
class HostRows {
 public:
  explicit HostRows(torch::ScalarType dtype) : dtype_(dtype) {}
  /// Appends `t` (any device); the copy to the host is started, not awaited.
  void push(const torch::Tensor& t);
  /// Every row pushed, in order, as one host tensor of the dtype (empty of shape `empty_shape`
  /// when nothing was pushed). Waits for the device when a copy is pending.
  torch::Tensor cat(const std::vector<int64_t>& empty_shape = {0}) const;
  bool empty() const { return parts_.empty(); }

 private:
  torch::ScalarType dtype_;
  std::vector<torch::Tensor> parts_;
  mutable std::optional<torch::Device> pending_;  ///< a device with copies not yet awaited
};

/// A device value the host polls instead of waiting for: start() queues a copy to the host and
/// (CUDA) records an event after it; ready() asks whether the copy has landed and never waits. For
/// loops whose early exit or row pruning may come a few iterations late without changing results
/// (rows already finished are idempotent), so that the host keeps queueing work. On the CPU the
/// copy is ready at once.
class HostPoll {
 public:
  /// Starts copying `t` to the host as `dtype` (replacing a poll not yet taken).
  void start(const torch::Tensor& t, torch::ScalarType dtype);
  /// A copy was started and not yet taken.
  bool pending() const { return value_.defined(); }
  /// pending() and the copy has landed (never waits).
  bool ready() const;
  /// The landed host copy; the poll is empty afterwards. Requires ready().
  torch::Tensor take();
  /// Tests: every poll started afterwards answers ready() == false `polls` times before it looks
  /// at the copy, as a busy GPU would, so that the CPU build can check that results do not
  /// depend on when a poll lands. 0 (the default) turns it off.
  static void set_test_lag(int polls);

 private:
  torch::Tensor value_;
  std::optional<c10::Event> event_;  ///< CUDA: recorded after the copy
  mutable int lag_ = 0;              ///< ready() calls still to answer false (set_test_lag)
};

/// The rows of a batch a loop still works on, for loops whose rows finish at their own iteration
/// and never restart (a fooled sample, an image that reached its target): the host prunes the set
/// with copies of the "still running" mask that it polls without waiting (HostPoll). On the CPU the
/// copy is there at once and the set is exact at every iteration; on a GPU it may lag, and the loop
/// must mask the rows that finished in between on the device, so that results do not depend on
/// when the copy lands.
class RunningRows {
 public:
  /// All `rows` rows, indices on the host and on `device`.
  RunningRows(int64_t rows, const torch::Device& device);
  /// Call at the top of each iteration with the [rows] bool mask of the rows still running (on the
  /// device): starts a copy of it when none is pending and prunes the set with the newest landed
  /// copy. False once no row is left.
  bool update(const torch::Tensor& running);
  const torch::Tensor& host() const { return host_; }      ///< [n] int64, CPU
  const torch::Tensor& device() const { return device_; }  ///< [n] int64, on the device
  int64_t size() const { return host_.numel(); }

 private:
  torch::Tensor host_, device_;
  HostPoll poll_;
};

/// Seconds of work a stage ran on its device, summed over intervals (one per batch): CUDA events on
/// the device's current stream for a CUDA device (the time the GPU spent from the interval's start
/// to the end of the work queued in it, without the host waiting), the steady clock on the CPU.
class DeviceClock {
 public:
  explicit DeviceClock(const torch::Device& device) : device_(device) {}
  /// Opens an interval (CUDA: records a start event; completed intervals are folded in, no wait).
  void start();
  /// Closes the open interval (CUDA: records its end event).
  void stop();
  /// Total seconds of the closed intervals. CUDA: waits for the last end event.
  double seconds();
  const torch::Device& device() const { return device_; }

 private:
  void fold(bool wait);
  torch::Device device_;
  double done_ = 0.0;
  bool open_ = false;
  std::chrono::steady_clock::time_point t0_{};
  std::vector<std::pair<c10::Event, c10::Event>> pending_;  ///< CUDA intervals not yet folded in
};

}  // namespace sfb
