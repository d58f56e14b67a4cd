#!/usr/bin/env python3
"""Golden values of test_attacks_fab_square.cpp (Square.MatchesTheReferenceImplementation).

Runs the reference Square Attack (fra31/auto-attack, autoattack.square.SquareAttack,
attack_single_run) one sample at a time on fab_reference_values.py's FormulaNet in float64, with
its random draws replaced by sfbench's keyed stream, so that both implementations see the same
randomness:
  - sample j, restart 0, iteration it draws from CounterRng(derive_seed(seed, {kStreamSquare, j,
    0, it})) in this order: row and column of window 1, of window 2 (each uniform below
    max(h − s, 1)), the η orientation (top bit), one ±1 colour per channel (top bit);
  - the starting point draws from the key it = 2^64 − 1: linf one ±1 per (channel, column); l2
    per grid cell the η orientation, then one colour per channel.
The reference's own code then does everything else (schedule, square side, proposals, acceptance,
query counts). Prints, per norm, each sample's query count, whether it was broken, and for broken
samples ‖x_best − x‖ and sum(x_best − x).
Both schedules: in raw iterations (resc_schedule=False, what AutoAttack builds; sfbench's
"square") and rescaled to the query budget (resc_schedule=True; sfbench's "square-rescaled").
Usage: python3 square_reference_values.py (the reference from pyautoattack, scripts/setup-deps.sh)
"""
import math

import torch
import pyautoattack.square as square_mod
from pyautoattack.square import SquareAttack

from fab_reference_values import FormulaNet, fill

MASK64 = (1 << 64) - 1
GOLDEN = 0x9E3779B97F4A7C15
STREAM_SQUARE = 0x7067640003
INIT_KEY = MASK64
SEED = 0
QUERIES = 100
EPS = {"Linf": 0.02, "L2": 0.15}


def mix64(z):
    z = (z + GOLDEN) & MASK64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
    return z ^ (z >> 31)


def derive_seed(seed, keys):
    h = mix64(seed & MASK64)
    for k in keys:
        h = mix64(h ^ (k & MASK64))
    return h


class Stream:
    """sfb::CounterRng: SplitMix64 from a start state."""

    def __init__(self, state):
        self.state = state

    def next(self):
        self.state = (self.state + GOLDEN) & MASK64
        z = self.state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
        return z ^ (z >> 31)

    def below(self, n):
        limit = MASK64 - (MASK64 % n)
        x = self.next()
        while x >= limit:
            x = self.next()
        return x % n

    def bit(self):
        return (self.next() >> 63) != 0

    def coin(self):
        return 1.0 if self.bit() else -1.0


class _TorchWithKeyedRand:
    """The torch module as square.py sees it, except rand([1]) (η's orientation), which
    returns 1 or 0 from the active draw."""

    def __init__(self, owner):
        self._owner = owner

    def __getattr__(self, name):
        return getattr(torch, name)

    def rand(self, *args, **kwargs):
        return torch.tensor([1.0 if self._owner.next_flip() else 0.0])


class KeyedSquare(SquareAttack):
    """SquareAttack whose random_int / random_choice / η orientation come from the keyed stream
    of one sample."""

    def __init__(self, *args, index, **kwargs):
        super().__init__(*args, **kwargs)
        self.index = index
        self.init_rng = Stream(derive_seed(SEED, [STREAM_SQUARE, index, 0, INIT_KEY]))
        self.in_init = True

    def p_selection(self, it):
        p = super().p_selection(it)
        c, h, w = self.orig_dim
        n_features = c * h * w
        if self.norm == "Linf":
            s = max(int(round(math.sqrt(p * n_features / c))), 1)
        else:
            s = max(int(round(math.sqrt(p * n_features / c))), 3)
            if s % 2 == 0:
                s += 1
        s = min(s, min(h, w))
        rng = Stream(derive_seed(SEED, [STREAM_SQUARE, self.index, 0, it]))
        self.ints = [rng.below(max(h - s, 1)), rng.below(max(w - s, 1)),
                     rng.below(max(h - s, 1)), rng.below(max(w - s, 1))]
        self.flip = rng.bit()
        self.colours = [rng.coin() for _ in range(c)]
        self.in_init = False
        return p

    def next_flip(self):
        return self.init_rng.bit() if self.in_init else self.flip

    def random_int(self, low=0, high=1, shape=[1]):
        v = self.ints.pop(0)
        assert v < max(high, 1)
        return v

    def random_choice(self, shape):
        n = 1
        for s in shape:
            n *= s
        if self.in_init:
            vals = [self.init_rng.coin() for _ in range(n)]
        else:
            assert n == len(self.colours)
            vals = self.colours
        return torch.tensor(vals, dtype=torch.float64).reshape(shape)


def main(rescaled):
    torch.set_default_dtype(torch.float64)
    model = FormulaNet().double().eval()
    x = fill([12, 3, 8, 8], 0.913, 0.2, 0.45, 0.5).double()
    with torch.no_grad():
        y = model(x).argmax(1)
    print("schedule", "rescaled to the queries (resc_schedule=True, sfbench 'square-rescaled')"
          if rescaled else "in raw iterations (resc_schedule=False, AutoAttack's, sfbench 'square')")
    for norm in ("Linf", "L2"):
        print(norm, "eps", EPS[norm])
        for j in range(x.shape[0]):
            att = KeyedSquare(model, norm=norm, n_queries=QUERIES, eps=EPS[norm], p_init=0.8,
                              n_restarts=1, seed=SEED, device="cpu", index=j,
                              resc_schedule=rescaled)
            square_mod.torch = _TorchWithKeyedRand(att)
            xj, yj = x[j:j + 1], y[j:j + 1]
            att.init_hyperparam(xj)
            queries, x_best = att.attack_single_run(xj, yj)
            square_mod.torch = torch
            with torch.no_grad():
                broken = bool(model(x_best).argmax(1) != yj)
            d = (x_best - xj).flatten()
            size = d.abs().max() if norm == "Linf" else d.norm()
            print(f"  {j}: queries {int(queries.item())}, broken {int(broken)}, "
                  f"norm {size.item():.12g}, sum {d.sum().item():.12g}")


if __name__ == "__main__":
    main(rescaled=False)
    main(rescaled=True)
