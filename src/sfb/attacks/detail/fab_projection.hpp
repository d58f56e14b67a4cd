#pragma once
#include <torch/types.h>

namespace sfb::attacks::detail {

/// FAB's projection step (Croce & Hein 2020, Eq. 6 with the box constraint): for each row i, the
/// smallest step d_i in the linf norm such that <w_i, t_i + d_i> = b_i and t_i + d_i ∈ [0, 1]^d.
/// When no point of the box reaches the hyperplane, d_i moves every coordinate with w_ij ≠ 0 to
/// the bound that brings <w_i, ·> closest to b_i. Coordinates with w_ij = 0 are never moved.
/// t: [N, d] points in [0, 1]; w: [N, d] normals; b: [N] offsets; all of one floating dtype and
/// device. Returns d: [N, d] (same dtype/device).
/// Same solution as the reference's projection_linf (fra31/auto-attack, fab_projections.py);
/// written independently. On CUDA (and in fab_project_linf_sorted) the breakpoints of the
/// piecewise-linear function λ ↦ <w, d(λ)> are sorted once and the segment holding the solution
/// is found by counting breakpoints (the reference bisects the same sorted array): O(d log d) per
/// row. On the CPU each row's step λ is found by selection instead (quickselect-style pivoting on
/// the breakpoints, float64 sums): expected O(d) per row, the same λ up to rounding.
torch::Tensor fab_project_linf(const torch::Tensor& t, const torch::Tensor& w,
                               const torch::Tensor& b);

/// fab_project_linf by sorting, on any device (what CUDA runs; tests compare the two paths).
torch::Tensor fab_project_linf_sorted(const torch::Tensor& t, const torch::Tensor& w,
                                      const torch::Tensor& b);

/// The same projection in the l2 norm: the smallest ‖d_i‖₂ with <w_i, t_i + d_i> = b_i and
/// t_i + d_i ∈ [0, 1]^d (the clipped solution d_ij = clip(−α w_ij, −t_ij, 1 − t_ij) for the one
/// α ≥ 0 that meets the hyperplane); when the box cannot reach the hyperplane, the box corner
/// closest to it. Coordinates with |w_ij| ≤ 1e-8 are treated as w_ij = 0 and never moved (as in
/// the reference's projection_l2). Shapes as fab_project_linf. As there, CUDA sorts the
/// breakpoints and the CPU selects the multiplier α (expected O(d) per row).
torch::Tensor fab_project_l2(const torch::Tensor& t, const torch::Tensor& w,
                             const torch::Tensor& b);

/// fab_project_l2 by sorting, on any device (what CUDA runs; tests compare the two paths).
torch::Tensor fab_project_l2_sorted(const torch::Tensor& t, const torch::Tensor& w,
                                    const torch::Tensor& b);

}  // namespace sfb::attacks::detail
