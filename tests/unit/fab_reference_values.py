#!/usr/bin/env python3
"""Golden values of test_attacks_fab_square.cpp (FabT.MatchesTheReferenceImplementation).

Runs the reference FAB-T (fra31/auto-attack, autoattack.fab_pt.FABAttack_PT; targeted, 3 target
classes, 1 restart, 20 iterations, eps = 100 so that every point found passes the final check) on
a small conv net whose weights and inputs are closed-form functions of their flat index (the C++
test builds the same net), and prints the norm of every returned perturbation. The weights and
inputs are rounded to float32, then everything runs in float64: the reference casts its inputs
with Tensor.float(), which this script maps to double() while it runs (in float32 the two
implementations' rounding differs by up to ~2e-4 relative after 20 iterations).
Usage: PYTHONPATH=<checkout of fra31/auto-attack> python3 fab_reference_values.py
"""
import torch
from torch import nn
from pyautoattack.fab_pt import FABAttack_PT


def fill(shape, freq, phase, scale, offset=0.0):
    """offset + scale * sin(freq * k + phase) over the flat index k, computed in float64."""
    n = 1
    for s in shape:
        n *= s
    k = torch.arange(n, dtype=torch.float64)
    return (offset + scale * torch.sin(freq * k + phase)).to(torch.float32).reshape(shape)


class FormulaNet(nn.Module):
    """conv 3->8 (3x3, pad 1), ReLU, 2x2 average pool, x4, Linear 32->4."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.fc = nn.Linear(32, 4)
        with torch.no_grad():
            self.conv.weight.copy_(fill([8, 3, 3, 3], 0.7, 0.1, 0.3))
            self.conv.bias.copy_(fill([8], 1.1, 0.3, 0.05))
            self.fc.weight.copy_(fill([4, 32], 3.3, 0.1, 0.5))
            self.fc.bias.copy_(fill([4], 2.3, 0.0, 0.1))

    def forward(self, x):
        a = nn.functional.adaptive_avg_pool2d(torch.relu(self.conv(x)), (2, 2)).flatten(1) * 4
        return self.fc(a)


def main():
    torch.set_default_dtype(torch.float64)
    torch.Tensor.float = torch.Tensor.double  # the reference's x.float() keeps float64
    model = FormulaNet().double().eval()
    x = fill([12, 3, 8, 8], 0.913, 0.2, 0.45, 0.5).double()
    with torch.no_grad():
        y = model(x).argmax(1)
    print("labels", y.tolist())
    for norm in ("Linf", "L2"):
        fab = FABAttack_PT(model, norm=norm, n_restarts=1, n_iter=20, eps=100.0, targeted=True,
                           n_target_classes=3, device="cpu")
        adv = fab.perturb(x, y)
        d = (adv - x).flatten(1)
        n = d.abs().amax(1) if norm == "Linf" else d.norm(dim=1)
        print(norm, ", ".join(f"{v:.10g}" for v in n.tolist()))


if __name__ == "__main__":
    main()
