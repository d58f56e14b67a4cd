#pragma once
#include <torch/types.h>

#include <map>
#include <string>
#include <vector>

#include "comm/communicator.hpp"

namespace sfb::comm {

/// Named float64 sums reduced over ranks in one all-reduce, instead of hand-computed offsets into
/// one flat buffer: add(name, value) fills a slot, allreduce() sums every slot over the
/// communicator at once, get(name) reads the global slot with the shape it was added with.
class ReductionBuffer {
 public:
  /// Adds slot `name` holding `value` (any dtype and device; kept as float64 on the CPU). Names
  /// are unique; adding after allreduce() or a name twice is a programming error (sfb::Error).
  void add(const std::string& name, const torch::Tensor& value);
  /// Adds a scalar slot.
  void add(const std::string& name, double value);
  /// Sums every slot over `comm` in one all-reduce on the communicator's device. Collective:
  /// every rank adds the same names with the same shapes in the same order.
  void allreduce(Communicator& comm);
  /// Slot `name` (after allreduce(): the sum over ranks), float64 CPU, shaped as added. Throws
  /// sfb::Error for an unknown name.
  torch::Tensor get(const std::string& name) const;
  /// A scalar slot's value.
  double scalar(const std::string& name) const;
  /// Elements in all slots together.
  int64_t numel() const;

 private:
  std::vector<torch::Tensor> values_;
  std::map<std::string, std::size_t> index_;
  bool reduced_ = false;
};

}  // namespace sfb::comm
