#pragma once
#include <torch/types.h>

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "comm/communicator.hpp"

namespace sfb::interactions {

/// The per-image quantities of the stage, one row each, per order (SPEC §4). I = E_{i≠j} I_ij^(m)
/// (estimated from the pairs), D = E_{i≠j} |E_S Δv| / E_S |Δv|, phi = E_i φ^(m)(i); "nor": the
/// clean image with c = the label, "adv": the adversarial example with c = the label,
/// "adv_advclass": the adversarial example with c = its adversarial class (the top class other
/// than the label), "dI"/"dphi": nor − adv of the same image (paired).
enum Row : int64_t {
  kINor,
  kDNor,
  kIAdv,
  kDAdv,
  kIAdvClass,
  kDAdvClass,
  kDeltaI,
  kPhiNor,
  kPhiAdv,
  kDeltaPhi,
  kNumRows
};
/// Names of the rows ("I_nor", "D_nor", ...), as used in the results file.
const std::array<const char*, kNumRows>& row_names();

/// The per-image values that do not depend on the order: v(N) of the clean image (c = label),
/// v(∅) (every patch masked: the same image for clean and adversarial inputs), and v(N) of the
/// adversarial example (c = label; NaN without the attack). With them, efficiency (paper 001 §3)
/// and Eq. 5 can be checked on the written results.
enum Scalar : int64_t { kVFullNor, kVEmpty, kVFullAdv, kNumScalars };
/// Names of the scalars ("v_full_nor", "v_empty", "v_full_adv"), as used in the results file.
const std::array<const char*, kNumScalars>& scalar_names();

/// Dataset-level estimates (all float64 CPU tensors [kNumRows, M], rows as in Row).
struct InteractionStatistics {
  std::vector<int64_t> orders;  ///< the M orders m
  int64_t num_players = 0;      ///< n_p
  torch::Tensor mean;           ///< mean over images of the per-image values (NaN where count = 0)
  torch::Tensor stderr_;        ///< standard error of `mean`: sample SD over images / √count (NaN
                                ///< where count < 2)
  torch::Tensor count;          ///< images contributing (finite per-image values)
  torch::Tensor scalar_mean;    ///< [kNumScalars]: mean over images of each Scalar (NaN: none)
  torch::Tensor scalar_stderr;  ///< [kNumScalars]: its standard error (NaN where count < 2)
  torch::Tensor scalar_count;   ///< [kNumScalars] int64: images contributing
  int64_t n = 0;                ///< images evaluated
  int64_t correct = 0;          ///< clean images classified correctly
  int64_t adv_reached = 0;      ///< adversarial examples within the utility tolerance
  int64_t adv_flipped = 0;      ///< adversarial examples classified other than the label
  double adv_utility_mean = 0;  ///< mean attacking utility z_y(x) − z_y(x_adv) (NaN: no attack)
  int64_t masked_forwards = 0;  ///< masked images through the model (all ranks)
  /// J^(m) = (n_p − 1 − m)/(n_p(n_p − 1)) · I^(m) for an I-type row ([M], and its SE).
  torch::Tensor J(Row row) const;
  torch::Tensor J_stderr(Row row) const;
};

/// Running float64 sums (Σ, Σ², count per row and order, skipping NaN) of one rank's per-image
/// values, and the scalar totals; reduce() all-reduces them once, so N ranks give what one gives.
class InteractionAccumulator {
 public:
  /// `orders`: the M orders; `num_players`: n_p.
  InteractionAccumulator(std::vector<int64_t> orders, int64_t num_players);
  /// Adds one image: values [kNumRows, M] float64 CPU (NaN = not computed for this image) and
  /// scalars [kNumScalars] float64 CPU (likewise).
  void add(const torch::Tensor& values, const torch::Tensor& scalars);
  /// Adds the scalar totals of one batch.
  void add_totals(int64_t correct, int64_t adv_reached, int64_t adv_flipped, double utility_sum,
                  int64_t attacked, int64_t masked_forwards);
  /// One all-reduce of 3·(kNumRows·M + kNumScalars) + 7 doubles through `comm` (collective);
  /// identical on all ranks.
  InteractionStatistics reduce(comm::Communicator& comm) const;

 private:
  std::vector<int64_t> orders_;
  int64_t num_players_;
  torch::Tensor sum_, sum_sq_, count_;                       // [kNumRows, M] float64
  torch::Tensor scalar_sum_, scalar_sum_sq_, scalar_count_;  // [kNumScalars] float64
  double images_ = 0, correct_ = 0, reached_ = 0, flipped_ = 0, utility_ = 0, attacked_ = 0,
         forwards_ = 0;
};

}  // namespace sfb::interactions
