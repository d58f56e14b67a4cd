#pragma once
#include <torch/types.h>

#include <cstdint>
#include <functional>

#include "attacks/attack.hpp"

namespace sfb::attacks {

/// Random stream ids, one per attack, keyed with the sample's global index (see Attack).
enum Stream : uint64_t {
  kStreamPgd = 0x7067640001ULL,
  kStreamApgd = 0x7067640002ULL,
  kStreamSquare = 0x7067640003ULL,
  kStreamFab = 0x7067640004ULL,
  kStreamCw = 0x7067640005ULL,
};

/// Per-sample uniform noise in [0, 1): row j drawn from CounterRng(derive_seed(seed, {stream,
/// index[j], restart})). index: [B] int64 CPU; returns [B, sample_shape...] float32 on the CPU.
torch::Tensor keyed_uniform(uint64_t seed, uint64_t stream, const torch::Tensor& index,
                            int64_t restart, at::IntArrayRef sample_shape);

/// Rows of a batch as [n] int64 indices, on the host and on the batch's device.
struct RowSet {
  torch::Tensor host;    ///< [n] int64, CPU
  torch::Tensor device;  ///< [n] int64, on the batch's device
};

/// One run of an attack's targets × restarts loop (see for_each_run).
struct RunRows {
  int64_t target = 0;   ///< target rank, from 0 (0 for an untargeted attack)
  int64_t restart = 0;  ///< restart within the target, from 0
  bool first = false;   ///< the batch's first run: every row, chosen without a wait
  RowSet rows;          ///< the rows (into the batch) this run attacks; never empty
};

/// The loop over targets (outer) × restarts (inner) that the attacks with restarts share (PGD,
/// APGD, FAB, Square), on a batch of n_rows rows on `device`: calls `run` once per run with the
/// rows it attacks. The first run attacks every row, chosen without waiting for the device (the
/// attack keeps only the results of the rows it counts: the rows classified correctly, which are
/// all the attack stage hands over). Each later run attacks the rows where `still_robust()`
/// ([n_rows] bool on `device`, evaluated just before the run) is set, chosen with one host wait
/// (the mask's copy). A check that finds no row skips that run and the rest of its target's
/// restarts; the next target checks again. Host waits: one per check, i.e. one per run after the
/// first plus one per check that finds no row; none for an empty batch, where nothing runs.
void for_each_run(int64_t n_rows, const torch::Device& device, int64_t targets, int64_t restarts,
                  const std::function<torch::Tensor()>& still_robust,
                  const std::function<void(const RunRows&)>& run);

/// Projects x_adv onto {‖x_adv − x‖ ≤ eps} ∩ [0, 1]^d (per sample; l2 by rescaling δ, then clip).
torch::Tensor project(const torch::Tensor& x_adv, const torch::Tensor& x, Norm norm, double eps);

/// Per-sample norms of d: [B, ...] -> [B] (linf: max |d|; l2: Euclidean), float32.
torch::Tensor per_sample_norm(const torch::Tensor& d, Norm norm);

/// Per-sample loss: logits [B, C], y [B] -> [B].
using LossFn = std::function<torch::Tensor(const torch::Tensor& logits, const torch::Tensor& y)>;
/// Cross-entropy per sample.
torch::Tensor ce_loss(const torch::Tensor& logits, const torch::Tensor& y);
/// CW margin loss max_{j≠y} z_j − z_y (SPEC §3; maximized by attacks).
torch::Tensor cw_margin_loss(const torch::Tensor& logits, const torch::Tensor& y);
/// DLR loss −(z_y − max_{j≠y} z_j) / (z_π1 − z_π3 + 1e-12) (Croce & Hein 2020, Eq. 6).
torch::Tensor dlr_loss(const torch::Tensor& logits, const torch::Tensor& y);
/// Targeted DLR −(z_y − z_t) / (z_π1 − (z_π3 + z_π4)/2 + 1e-12) (Eq. 7); t: [B] target classes.
torch::Tensor dlr_targeted_loss(const torch::Tensor& logits, const torch::Tensor& y,
                                const torch::Tensor& t);

/// logits and ∂(Σ loss)/∂x at x (input gradient only; the model's parameters get no gradient).
struct LossGrad {
  torch::Tensor logits;  ///< [B, C] detached
  torch::Tensor loss;    ///< [B] detached
  torch::Tensor grad;    ///< [B, C, H, W]
};
LossGrad loss_and_grad(models::Classifier& model, const torch::Tensor& x, const torch::Tensor& y,
                       const LossFn& loss);

/// The model's predictions on x without a graph: [B] int64.
torch::Tensor predict(models::Classifier& model, const torch::Tensor& x);

}  // namespace sfb::attacks
