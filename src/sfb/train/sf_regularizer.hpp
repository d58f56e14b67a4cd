#pragma once
// The SF regularizer of paper 000 §4.2 (Eq. 14-15) over the *global* minibatch of all ranks.
//
// With G samples over N ranks, rank r holds c(x) [B_r, k] for its samples. SF_batch is the
// population SD over neurons of C = (1/G) Σ_{all x} c(x). The per-neuron sum is all-reduced inside
// autograd (AllReduceSum): forward sums the ranks' local sums, backward sums the ranks' incoming
// gradients. Every rank computes the same SF from the same C, so every rank's incoming gradient
// is ∂SF/∂S, and the backward all-reduce returns N·∂SF/∂S to each rank's local c. After the
// trainer averages the parameter gradients over ranks (sum / N), the SF term contributes exactly
// Σ_r ∂SF/∂θ|_{rank r's samples}, the single-process gradient on the concatenated batch.
//
// c(x) is taken at the features (penultimate layer, SPEC §2): in closed form c = a ⊙ W[y] for a
// linear head and a target linear in the logits, else a ⊙ ∂t/∂a with create_graph (double
// backward), so the regularizer's gradient flows into every parameter either way.

#include <torch/torch.h>

#include <cstdint>

#include "comm/communicator.hpp"
#include "models/classifier.hpp"
#include "shapley/target.hpp"

namespace sfb::train {

/// x: any shape, floating, on comm.device() -> Σ over ranks of x, differentiable: the backward
/// pass all-reduces the incoming gradient the same way. Collective in forward and backward: every
/// rank must call it, and every rank must run the backward pass through it, in the same order.
torch::Tensor allreduce_sum_autograd(const torch::Tensor& x, comm::Communicator& comm);

/// Per-sample Taylor Shapley values of the features, kept in the autograd graph.
/// a: [B, k] features (in the graph); y: [B] int64 labels -> c: [B, k]. `closed_form`: c = a ⊙
/// W[class] (requires model.linear_head() and a target linear in the logits); otherwise
/// c = a ⊙ ∂t/∂a via autograd with create_graph. Not collective.
torch::Tensor taylor_values(models::Classifier& model, const torch::Tensor& a,
                            const torch::Tensor& y, shapley::Target target, bool closed_form);

/// SF over a global minibatch: one per-step regularizer value and its gradient path.
class SfRegularizer {
 public:
  /// Uses the closed form when the model has a linear head and `target` is linear in the logits.
  SfRegularizer(models::Classifier& model, shapley::Target target, comm::Communicator& comm);
  /// a: [B_local, k] features of this rank's samples (in the graph when `differentiable`);
  /// y: [B_local] labels; global_batch: G = Σ_r B_r. Returns SF_batch as a scalar tensor of a's
  /// dtype, identical on every rank; differentiable with respect to a and the head when
  /// `differentiable` (then every rank must backpropagate through it). Collective.
  torch::Tensor operator()(const torch::Tensor& a, const torch::Tensor& y, int64_t global_batch,
                           bool differentiable);
  /// True when c is taken in closed form.
  bool closed_form() const { return closed_form_; }

 private:
  models::Classifier& model_;
  shapley::Target target_;
  comm::Communicator& comm_;
  bool closed_form_;
};

}  // namespace sfb::train
