#include "comm/reduction_buffer.hpp"

#include <torch/torch.h>

#include "core/error.hpp"

namespace sfb::comm {

void ReductionBuffer::add(const std::string& name, const torch::Tensor& value) {
  SFB_ASSERT(!reduced_, "ReductionBuffer::add after allreduce ('" + name + "')");
  SFB_ASSERT(index_.count(name) == 0, "ReductionBuffer slot '" + name + "' added twice");
  index_[name] = values_.size();
  values_.push_back(value.detach().to(torch::kCPU, torch::kFloat64).contiguous().clone());
}

void ReductionBuffer::add(const std::string& name, double value) {
  add(name, torch::tensor(value, torch::kFloat64).reshape({}));
}

int64_t ReductionBuffer::numel() const {
  int64_t n = 0;
  for (const auto& v : values_) n += v.numel();
  return n;
}

void ReductionBuffer::allreduce(Communicator& comm) {
  SFB_ASSERT(!reduced_, "ReductionBuffer::allreduce called twice");
  std::vector<torch::Tensor> flat;
  for (const auto& v : values_) flat.push_back(v.reshape({-1}));
  torch::Tensor all = flat.empty() ? torch::zeros({0}, torch::kFloat64) : torch::cat(flat);
  all = all.to(comm.device());
  comm.allreduce(all, ReduceOp::kSum);
  all = all.to(torch::kCPU);
  int64_t at = 0;
  for (auto& v : values_) {
    v = all.narrow(0, at, v.numel()).reshape(v.sizes()).clone();
    at += v.numel();
  }
  reduced_ = true;
}

torch::Tensor ReductionBuffer::get(const std::string& name) const {
  const auto it = index_.find(name);
  SFB_ASSERT(it != index_.end(), "ReductionBuffer has no slot '" + name + "'");
  return values_[it->second];
}

double ReductionBuffer::scalar(const std::string& name) const {
  const torch::Tensor v = get(name);
  SFB_ASSERT(v.numel() == 1, "ReductionBuffer slot '" + name + "' is not a scalar");
  return v.item<double>();
}

}  // namespace sfb::comm
