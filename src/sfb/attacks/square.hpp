#pragma once
#include <torch/types.h>

#include <cstdint>
#include <string>

#include "attacks/attack.hpp"

namespace sfb::attacks {

/// Square Attack's schedule of p, the fraction of pixels a square covers, at iteration `it`
/// (0-based) of a run of `n_queries` iterations: the reference's p_selection (fra31/auto-attack,
/// square.py). With i = it (`rescale` false: the schedule in raw iterations, resc_schedule=False,
/// as AutoAttack builds Square) or i = int(it / n_queries · 10000) (`rescale` true: stretched to
/// the query budget, resc_schedule=True): p_init for i ≤ 10, p_init/2 for 10 < i ≤ 50, /4 up to
/// 200, /8 up to 500, /16 up to 1000, /32 up to 2000, /64 up to 4000, /128 up to 6000, /256 up
/// to 8000, /512 beyond.
double square_p(double p_init, int64_t it, int64_t n_queries, bool rescale);

/// Side of the square for fraction p on an image of c × h × w (the reference's
/// round(sqrt(p · c·h·w / c)), rounding halves to even as Python's round does): linf at least 1;
/// l2 at least 3 and odd. Never more than min(h, w).
int64_t square_side(double p, int64_t c, int64_t h, int64_t w, Norm norm);

/// Square Attack (Andriushchenko et al., ECCV 2020), untargeted, margin loss. Registered as
/// "square" with the schedule in raw iterations, as AutoAttack's `standard` run builds it
/// (`rescale_schedule` false), and as "square-rescaled" with the schedule stretched to the query
/// budget (the Square paper's own setting, true). Reads opts.norm, eps, queries (iterations per
/// restart), p_init, restarts, seed. Score-based: it only runs forward passes, never backward.
class SquareAttack final : public Attack {
 public:
  /// Throws ConfigError for queries < 1, restarts < 1, eps ≤ 0 or p_init outside (0, 1].
  explicit SquareAttack(const AttackOptions& opts, bool rescale_schedule = false);
  /// "square" or "square-rescaled".
  std::string name() const override { return rescale_ ? "square-rescaled" : "square"; }
  /// See Attack::run. l2 needs images of at least 5 × 5 pixels (DataError otherwise).
  AttackOutput run(models::Classifier& model, const torch::Tensor& x, const torch::Tensor& y,
                   const torch::Tensor& index) override;
  /// Model queries each sample of the last run() used: [B] int64, copied to the CPU (a wait). Per
  /// restart it attacks, a sample costs 1 query for its initial point plus 1 per iteration in which
  /// it was still robust (as the reference counts); samples misclassified when clean cost 0. The
  /// clean forward pass of the batch is not counted.
  torch::Tensor last_queries() const { return queries_.cpu(); }

 private:
  AttackOptions o_;
  bool rescale_;
  torch::Tensor queries_;
};

}  // namespace sfb::attacks
