// Non-blocking device copies, deferred host copies and event timing for the stages' batch loops.
#include "core/device.hpp"

#include <c10/core/impl/DeviceGuardImplInterface.h>
#include <torch/torch.h>

#include <atomic>

#include "core/error.hpp"

namespace sfb {
namespace {

const c10::impl::DeviceGuardImplInterface& guard(const torch::Device& d) {
  return *c10::impl::getDeviceGuardImpl(d.type());
}

/// The device with an explicit index (the current one when `d` has none).
torch::Device indexed(const torch::Device& d) {
  return d.has_index() ? d : torch::Device(d.type(), guard(d).getDevice().index());
}

}  // namespace

torch::Tensor to_device(const torch::Tensor& t, const torch::Device& device,
                        torch::ScalarType dtype) {
  return t.to(device, dtype, /*non_blocking=*/true);
}

torch::Tensor to_device(const torch::Tensor& t, const torch::Device& device) {
  return to_device(t, device, t.scalar_type());
}

torch::Tensor to_host_async(const torch::Tensor& t, torch::ScalarType dtype) {
  // From CUDA, a non-blocking copy lands in pinned memory and the host does not wait for it.
  return t.to(torch::kCPU, dtype, /*non_blocking=*/t.device().is_cuda());
}

void synchronize(const torch::Device& device) {
  if (device.is_cpu()) return;
  // The current stream: the stages queue their kernels and copies there, and the NCCL
  // communicator its collectives. A stream wait (unlike cudaDeviceSynchronize) is reported by
  // CUDA's sync debug mode, as .item() and blocking copies are, so tests can count it.
  const torch::Device d = indexed(device);
  guard(d).synchronizeStream(guard(d).getStream(d));
}

void HostRows::push(const torch::Tensor& t) {
  if (!t.device().is_cpu()) pending_ = t.device();
  parts_.push_back(to_host_async(t, dtype_));
}

torch::Tensor HostRows::cat(const std::vector<int64_t>& empty_shape) const {
  if (pending_) {
    synchronize(*pending_);
    pending_.reset();
  }
  if (parts_.empty()) return torch::empty(empty_shape, dtype_);
  return torch::cat(parts_);
}

namespace {
std::atomic<int> g_poll_test_lag{0};
}  // namespace

void HostPoll::set_test_lag(int polls) { g_poll_test_lag = polls; }

void HostPoll::start(const torch::Tensor& t, torch::ScalarType dtype) {
  value_ = to_host_async(t, dtype);
  event_.reset();
  lag_ = g_poll_test_lag;
  if (t.device().is_cpu()) return;
  const torch::Device d = indexed(t.device());
  event_.emplace(d.type(), c10::EventFlag::PYTORCH_DEFAULT);
  event_->record(guard(d).getStream(d));
}

bool HostPoll::ready() const {
  if (!pending()) return false;
  if (lag_ > 0) {
    --lag_;
    return false;
  }
  return !event_ || event_->query();
}

torch::Tensor HostPoll::take() {
  SFB_ASSERT(ready(), "HostPoll::take: no landed copy");
  torch::Tensor v = std::move(value_);
  value_ = torch::Tensor();
  event_.reset();
  return v;
}

RunningRows::RunningRows(int64_t rows, const torch::Device& device)
    : host_(torch::arange(rows, torch::kInt64)), device_(to_device(host_, device)) {}

bool RunningRows::update(const torch::Tensor& running) {
  if (!poll_.pending()) poll_.start(running, torch::kBool);
  if (poll_.ready()) {
    const torch::Tensor keep = poll_.take().index_select(0, host_);
    if (!keep.all().item<bool>()) {
      host_ = host_.masked_select(keep);
      device_ = to_device(host_, device_.device());
    }
  }
  return host_.numel() > 0;
}

void DeviceClock::start() {
  SFB_ASSERT(!open_, "DeviceClock::start: an interval is already open");
  open_ = true;
  if (device_.is_cpu()) {
    t0_ = std::chrono::steady_clock::now();
    return;
  }
  fold(/*wait=*/false);
  const torch::Device d = indexed(device_);
  pending_.emplace_back(c10::Event(d.type(), c10::EventFlag::BACKEND_DEFAULT),
                        c10::Event(d.type(), c10::EventFlag::BACKEND_DEFAULT));
  pending_.back().first.record(guard(d).getStream(d));
}

void DeviceClock::stop() {
  SFB_ASSERT(open_, "DeviceClock::stop: no interval is open");
  open_ = false;
  if (device_.is_cpu()) {
    done_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0_).count();
    return;
  }
  const torch::Device d = indexed(device_);
  pending_.back().second.record(guard(d).getStream(d));
}

void DeviceClock::fold(bool wait) {
  std::size_t n = 0;
  for (; n < pending_.size(); ++n) {
    auto& [begin, end] = pending_[n];
    if (!end.was_marked_for_recording()) break;  // the open interval
    if (wait) {
      end.synchronize();
    } else if (!end.query()) {
      break;
    }
    done_ += begin.elapsedTime(end) / 1000.0;  // milliseconds
  }
  pending_.erase(pending_.begin(), pending_.begin() + static_cast<std::ptrdiff_t>(n));
}

double DeviceClock::seconds() {
  if (!device_.is_cpu()) fold(/*wait=*/true);
  return done_;
}

}  // namespace sfb
