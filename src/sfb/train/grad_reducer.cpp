#include "train/grad_reducer.hpp"

#include "core/error.hpp"

namespace sfb::train {

GradReducer::GradReducer(std::vector<torch::Tensor> params, comm::Communicator& comm,
                         int64_t bucket_bytes)
    : params_(std::move(params)), comm_(comm) {
  const int64_t n = static_cast<int64_t>(params_.size());
  param_bucket_.assign(n, -1);
  param_offset_.assign(n, 0);
  std::vector<int64_t> sizes;  // elements per bucket
  // Reverse registration order: backward produces the last layers' gradients first.
  for (int64_t i = n - 1; i >= 0; --i) {
    const torch::Tensor& p = params_[i];
    if (!p.requires_grad()) continue;
    const int64_t bytes = p.numel() * static_cast<int64_t>(p.element_size());
    const bool new_bucket =
        bucket_params_.empty() ||
        params_[bucket_params_.back().front()].scalar_type() != p.scalar_type() ||
        (sizes.back() * static_cast<int64_t>(p.element_size()) + bytes > bucket_bytes &&
         !bucket_params_.back().empty());
    if (new_bucket) {
      bucket_params_.emplace_back();
      sizes.push_back(0);
    }
    param_bucket_[i] = static_cast<int64_t>(bucket_params_.size()) - 1;
    param_offset_[i] = sizes.back();
    bucket_params_.back().push_back(i);
    sizes.back() += p.numel();
  }
  for (std::size_t b = 0; b < bucket_params_.size(); ++b) {
    const torch::Tensor& first = params_[bucket_params_[b].front()];
    buffers_.push_back(torch::zeros({sizes[b]}, first.options().requires_grad(false)));
  }
  pending_.assign(bucket_params_.size(), 0);
  filled_.assign(n, false);
  reduced_.assign(bucket_params_.size(), false);
  for (int64_t i = 0; i < n; ++i) {
    if (param_bucket_[i] < 0) {
      hook_ids_.push_back(0);
      continue;
    }
    hook_ids_.push_back(
        params_[i].register_hook([this, i](const torch::Tensor& g) { on_grad(i, g); }));
  }
  prepare();
}

GradReducer::~GradReducer() {
  for (std::size_t i = 0; i < params_.size(); ++i) {
    if (param_bucket_[i] >= 0) params_[i].remove_hook(hook_ids_[i]);
  }
}

void GradReducer::prepare() {
  for (std::size_t b = 0; b < bucket_params_.size(); ++b) {
    pending_[b] = static_cast<int64_t>(bucket_params_[b].size());
    reduced_[b] = false;
  }
  std::fill(filled_.begin(), filled_.end(), false);
}

void GradReducer::on_grad(int64_t i, const torch::Tensor& grad) {
  const int64_t b = param_bucket_[i];
  SFB_ASSERT(!filled_[i], "a parameter's gradient hook ran twice in one backward pass");
  torch::NoGradGuard no_grad;
  buffers_[b].narrow(0, param_offset_[i], grad.numel()).copy_(grad.reshape({-1}));
  filled_[i] = true;
  if (--pending_[b] == 0) reduce_bucket(b);
}

void GradReducer::reduce_bucket(int64_t b) {
  comm_.allreduce_sum(buffers_[b]);
  reduced_[b] = true;
}

void GradReducer::finish() {
  torch::NoGradGuard no_grad;
  for (std::size_t b = 0; b < bucket_params_.size(); ++b) {
    if (reduced_[b]) continue;
    // Parameters that received no gradient in this pass contribute zeros.
    for (int64_t i : bucket_params_[b]) {
      if (!filled_[i]) buffers_[b].narrow(0, param_offset_[i], params_[i].numel()).zero_();
    }
    reduce_bucket(static_cast<int64_t>(b));
  }
  comm_.synchronize();
  const double inv_world = 1.0 / static_cast<double>(comm_.size());
  for (std::size_t i = 0; i < params_.size(); ++i) {
    const int64_t b = param_bucket_[i];
    if (b < 0) continue;
    torch::Tensor& p = params_[i];
    const torch::Tensor avg =
        buffers_[b].narrow(0, param_offset_[i], p.numel()).view(p.sizes()) * inv_world;
    if (p.mutable_grad().defined()) {
      p.mutable_grad().copy_(avg);
    } else {
      p.mutable_grad() = avg.clone();
    }
  }
  prepare();
}

void broadcast_tensors(const std::vector<torch::Tensor>& tensors, comm::Communicator& comm,
                       int root) {
  torch::NoGradGuard no_grad;
  for (const torch::Tensor& t : tensors) {
    if (t.is_contiguous() && t.device() == comm.device()) {
      torch::Tensor view = t;
      comm.broadcast(view, root);
    } else {
      torch::Tensor tmp = t.contiguous().to(comm.device());
      comm.broadcast(tmp, root);
      const_cast<torch::Tensor&>(t).copy_(tmp);
    }
  }
}

}  // namespace sfb::train
