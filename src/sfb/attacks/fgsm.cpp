// FGSM (Goodfellow et al. 2015; SPEC §3): x' = clip(x + ε·sign(∇x CE(g(x), y))) under linf.
// Under l2 it is the normalized gradient step of length ε: x' = clip(x + ε·∇/‖∇‖₂) (x' = x where
// the gradient is zero). Both are exactly one PGD step of size α = ε from x without a random start,
// so FGSM runs the PGD engine (pgd.cpp, whose file comment gives the shared rules: misclassified
// samples are not attacked, robust, zero_grad, nonfinite). Always the cross-entropy loss; reads
// only norm and eps from AttackOptions.
#include <memory>

#include "attacks/attack.hpp"
#include "attacks/detail/factories.hpp"
#include "attacks/detail/pgd_engine.hpp"

namespace sfb::attacks::detail {

std::unique_ptr<Attack> make_fgsm(const AttackOptions& opts) {
  AttackOptions o = opts;
  o.steps = 1;
  o.restarts = 1;
  check_common("fgsm", o);
  PgdConfig c;
  c.norm = o.norm;
  c.eps = o.eps;
  c.step_size = o.eps;
  c.steps = 1;
  c.restarts = 1;
  c.random_start = false;
  c.cw_loss = false;
  return make_pgd_attack("fgsm", c);
}

}  // namespace sfb::attacks::detail
