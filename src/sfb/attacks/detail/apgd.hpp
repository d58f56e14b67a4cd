#pragma once
// Internals of APGD (apgd.cpp), exposed for the unit tests: the checkpoint schedule, the per-sample
// step-size decision, and one APGD run from a given starting point.
#include <torch/types.h>

#include <cstdint>
#include <functional>
#include <vector>

#include "attacks/attack.hpp"
#include "attacks/common.hpp"
#include "models/classifier.hpp"

namespace sfb::attacks::detail {

/// The checkpoints of an APGD run of `n_iter` iterations, as 1-based iteration counts (checkpoint
/// w means: after the loss of the w-th iterate x^(w) is known). The reference's integer form:
/// first window max(⌊0.22·N⌋, 1), each next window shorter by max(⌊0.03·N⌋, 1) but at least
/// max(⌊0.06·N⌋, 1). For N = 100 this equals the paper's w_j = ⌈p_j·N⌉ with p_0 = 0, p_1 = 0.22,
/// p_{j+1} = p_j + max(p_j − p_{j−1} − 0.03, 0.06): {22, 41, 57, 70, 80, 87, 93, 99}.
/// n_iter ≥ 1.
std::vector<int64_t> apgd_checkpoints(int64_t n_iter);

/// The per-sample decision at a checkpoint: halve η where condition 1 holds, increases ≤ ρ·window
/// (the reference's `<=`; the paper writes `<`), or condition 2 holds: the previous checkpoint did
/// not halve (reduced_last false) and the best loss did not improve (best_last ≥ best_now).
/// increases: [B] int64, the number of loss increases f(x^(i+1)) > f(x^(i)) in the window;
/// reduced_last: [B] bool; best_last, best_now: [B] floating. Returns [B] bool.
torch::Tensor apgd_halve(const torch::Tensor& increases, int64_t window, double rho,
                         const torch::Tensor& reduced_last, const torch::Tensor& best_last,
                         const torch::Tensor& best_now);

/// Result of one APGD run on B samples (tensors on the input's device, x's dtype).
struct ApgdRun {
  torch::Tensor x_best;     ///< [B, C, H, W] the iterate of highest loss (start included)
  torch::Tensor loss_best;  ///< [B] its loss
  torch::Tensor fooled;     ///< [B] bool: some iterate (start included) was misclassified
  torch::Tensor x_fooled;   ///< [B, C, H, W] the first misclassified iterate; x_best where none
  torch::Tensor step_size;  ///< [B] the final η
  std::vector<torch::Tensor> halved;  ///< one [B] bool per checkpoint: η halved there
  torch::Tensor zero_grad;            ///< [B] bool: the loss gradient at the start was exactly zero
  torch::Tensor nonfinite;            ///< [B] bool: some iterate's logits were NaN or infinite
};

/// A per-sample loss of the rows `rows` ([R] int64 on the device, into the run's batch of B) of
/// a run: logits [R, C], y [R] -> [R]. apgd_run passes the rows it still attacks, so a loss with
/// per-row parameters (APGD-T's target classes) selects them.
using RowLossFn = std::function<torch::Tensor(const torch::Tensor& logits, const torch::Tensor& y,
                                              const torch::Tensor& rows)>;

/// One APGD run (the reference's attack_single_run for linf/l2): n_iter iterations from x_start
/// (inside the ε-ball of x and [0, 1]), maximizing `loss` for labels y.
/// x, x_start: [B, C, H, W] in the model's dtype and device; y: [B] int64; eps > 0; n_iter ≥ 1;
/// rho in (0, 1]. Input gradients only. With `prune`, a sample leaves the working batch once it
/// is misclassified (start included): its x_fooled is that iterate, its x_best, loss_best,
/// step_size and nonfinite are those at that point, and it is not halved at later checkpoints;
/// every other sample's results are those of the run without pruning, up to the rounding of
/// batched forwards of another size. Without `prune`, every sample runs all n_iter iterations (as
/// the reference does). `group` ([B] int64, optional): with `prune`, when a row is fooled every
/// row of its group leaves too (not fooled, its state at that point): the rows of one sample
/// against several targets, of which one success is enough.
ApgdRun apgd_run(models::Classifier& model, const torch::Tensor& x, const torch::Tensor& y,
                 const torch::Tensor& x_start, const RowLossFn& loss, Norm norm, double eps,
                 int64_t n_iter, double rho, bool prune = true,
                 const torch::Tensor& group = torch::Tensor());
/// The same for a loss without per-row parameters.
ApgdRun apgd_run(models::Classifier& model, const torch::Tensor& x, const torch::Tensor& y,
                 const torch::Tensor& x_start, const LossFn& loss, Norm norm, double eps,
                 int64_t n_iter, double rho, bool prune = true,
                 const torch::Tensor& group = torch::Tensor());

/// The reference's random start, per sample keyed by (seed, kStreamApgd, index, key):
/// linf: x + ε·t/‖t‖_∞ with t = 2u − 1, u uniform; l2: x + ε·g/‖g‖₂ with g standard normal
/// (Box–Muller from keyed uniforms); both then clipped to [0, 1]. x: [B, C, H, W] any dtype and
/// device; index: [B] int64 CPU. Returns x's shape, dtype and device.
torch::Tensor apgd_random_start(const torch::Tensor& x, const torch::Tensor& index, uint64_t seed,
                                int64_t key, Norm norm, double eps);

}  // namespace sfb::attacks::detail
