#include "train/sf_regularizer.hpp"

#include "core/error.hpp"

namespace sfb::train {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

/// y = Σ_ranks x in forward; g_x = Σ_ranks g_y in backward (the transpose of an all-reduce sum).
/// The communicator travels as an address in saved_data (autograd Functions take tensors and
/// IValues only).
struct AllReduceSum : public torch::autograd::Function<AllReduceSum> {
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& x, int64_t comm_addr) {
    ctx->saved_data["comm"] = comm_addr;
    torch::Tensor y = x.detach().contiguous().clone();
    reinterpret_cast<comm::Communicator*>(comm_addr)->allreduce_sum(y);
    return y;
  }
  static variable_list backward(AutogradContext* ctx, variable_list grad_out) {
    auto* comm = reinterpret_cast<comm::Communicator*>(ctx->saved_data["comm"].toInt());
    torch::Tensor g = grad_out[0].contiguous().clone();
    comm->allreduce_sum(g);
    return {g, torch::Tensor()};
  }
};

}  // namespace

torch::Tensor allreduce_sum_autograd(const torch::Tensor& x, comm::Communicator& comm) {
  return AllReduceSum::apply(x, static_cast<int64_t>(reinterpret_cast<intptr_t>(&comm)));
}

torch::Tensor taylor_values(models::Classifier& model, const torch::Tensor& a,
                            const torch::Tensor& y, shapley::Target target, bool closed_form) {
  if (closed_form) {
    auto head = model.linear_head();
    SFB_ASSERT(head.has_value() && shapley::is_linear_in_logits(target),
               "closed-form Taylor values need a linear head and a target linear in the logits");
    const torch::Tensor& w = head->first;  // [C, k]
    torch::Tensor cls = y;
    if (target == shapley::Target::kPredLogit) {
      torch::NoGradGuard no_grad;
      cls = model.head(a.detach()).argmax(1);
    }
    return a * w.index_select(0, cls);
  }
  // c = a ⊙ ∂t/∂a, keeping the graph of ∂t/∂a so the regularizer can be differentiated again.
  torch::AutoGradMode on(true);
  torch::Tensor av = a;
  if (!av.requires_grad()) av = a.detach().requires_grad_(true);
  const torch::Tensor t = shapley::target_value(model.head(av), y, target);
  const torch::Tensor g = torch::autograd::grad({t.sum()}, {av}, {}, /*retain_graph=*/true,
                                                /*create_graph=*/true, /*allow_unused=*/true)[0];
  return g.defined() ? av * g : torch::zeros_like(av);
}

SfRegularizer::SfRegularizer(models::Classifier& model, shapley::Target target,
                             comm::Communicator& comm)
    : model_(model),
      target_(target),
      comm_(comm),
      closed_form_(model.linear_head().has_value() && shapley::is_linear_in_logits(target)) {}

torch::Tensor SfRegularizer::operator()(const torch::Tensor& a, const torch::Tensor& y,
                                        int64_t global_batch, bool differentiable) {
  SFB_ASSERT(global_batch > 0, "SF over an empty global batch");
  torch::Tensor local_sum;
  if (differentiable) {
    local_sum = taylor_values(model_, a, y, target_, closed_form_).sum(0);
  } else {
    torch::Tensor c = taylor_values(model_, a.detach(), y, target_, closed_form_);
    local_sum = c.detach().sum(0);
  }
  const torch::Tensor total = differentiable ? allreduce_sum_autograd(local_sum, comm_) : [&] {
    torch::Tensor s = local_sum.contiguous().clone();
    comm_.allreduce_sum(s);
    return s;
  }();
  const torch::Tensor shapley = total / static_cast<double>(global_batch);
  // Population standard deviation over neurons (SPEC §2, Eq. 13).
  const torch::Tensor centered = shapley - shapley.mean();
  return (centered * centered).mean().sqrt();
}

}  // namespace sfb::train
