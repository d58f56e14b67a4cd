#!/usr/bin/env python3
"""Independent PyTorch reference for sfbench's PGD (test_attacks_pgd_reference.cpp).

usage: pgd_reference.py OUT_DIR

Writes into OUT_DIR:
  model.pt  a small CIFAR-like classifier (normalization inside; features -> [B, 16], linear head
            -> [B, 10]) compiled with torch.jit.script, float32, with methods features/head/forward
            as sfbench's `torchscript:` models need (SPEC §1);
  data.pt   a scripted holder whose buffers are
              x       [B, 3, 16, 16] float64 (values exactly representable in float32)
              y       [B] int64 (the clean prediction, except every 7th sample: a wrong label)
              x_adv   [B, 3, 16, 16] float64: plain PGD-linf (textbook form, below) in float64
              robust  [B] uint8: clean prediction correct and prediction at x_adv == y
              margin  [B] float64: z_y − max_{j≠y} z_j at x_adv

PGD here: cross-entropy, no random start, ε = 8/255, α = 2/255, 10 steps,
x ← min(max(x + α·sign(∇x CE), x − ε), x + ε) clipped to [0, 1]; samples misclassified when clean
are not attacked (x_adv = x), as sfbench's attack contract says.
"""
import os
import sys

import torch
import torch.nn.functional as F
from torch import nn

EPS = 8.0 / 255
ALPHA = 2.0 / 255
STEPS = 10
BATCH = 32
SHAPE = (3, 16, 16)


class RefNet(nn.Module):
    """normalize, conv-BN-ReLU, strided conv-BN-ReLU, global average pool, Linear fc."""

    def __init__(self):
        super().__init__()
        self.register_buffer("mean", torch.tensor([0.49, 0.48, 0.45]).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor([0.25, 0.24, 0.26]).view(1, 3, 1, 1))
        self.conv1 = nn.Conv2d(3, 8, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(8)
        self.conv2 = nn.Conv2d(8, 16, 3, stride=2, padding=1)
        self.bn2 = nn.BatchNorm2d(16)
        self.fc = nn.Linear(16, 10)

    @torch.jit.export
    def features(self, x: torch.Tensor) -> torch.Tensor:
        x = (x - self.mean) / self.std
        x = torch.relu(self.bn1(self.conv1(x)))
        x = torch.relu(self.bn2(self.conv2(x)))
        return x.mean(dim=(2, 3))

    @torch.jit.export
    def head(self, a: torch.Tensor) -> torch.Tensor:
        return self.fc(a)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


class Holder(nn.Module):
    """Carries named tensors as buffers of a TorchScript module (readable with torch::jit::load)."""

    def __init__(self, tensors):
        super().__init__()
        for name, t in tensors.items():
            self.register_buffer(name, t.detach().clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


def build() -> RefNet:
    gen = torch.Generator().manual_seed(424242)
    model = RefNet()
    with torch.no_grad():
        for m in (model.conv1, model.conv2, model.fc):
            fan_in = m.weight[0].numel()
            m.weight.copy_(torch.randn(m.weight.shape, generator=gen) * (1.5 / fan_in ** 0.5))
            m.bias.copy_(torch.randn(m.bias.shape, generator=gen) * 0.1)
        for bn in (model.bn1, model.bn2):
            bn.running_mean.copy_(torch.rand(bn.num_features, generator=gen) * 0.4 - 0.2)
            bn.running_var.copy_(torch.rand(bn.num_features, generator=gen) * 1.5 + 0.5)
            bn.weight.copy_(torch.rand(bn.num_features, generator=gen) * 0.8 + 0.6)
            bn.bias.copy_(torch.rand(bn.num_features, generator=gen) * 0.4 - 0.1)
    return model.eval()


def pgd_linf(model, x, y):
    x_adv = x.clone()
    for _ in range(STEPS):
        x_adv.requires_grad_(True)
        loss = F.cross_entropy(model(x_adv), y, reduction="sum")
        (g,) = torch.autograd.grad(loss, x_adv)
        x_adv = x_adv.detach() + ALPHA * g.sign()
        x_adv = torch.min(torch.max(x_adv, x - EPS), x + EPS).clamp(0.0, 1.0)
    return x_adv


def main(out_dir: str) -> int:
    os.makedirs(out_dir, exist_ok=True)
    model = build()
    torch.jit.script(model).save(os.path.join(out_dir, "model.pt"))

    model64 = build().double()
    for p in model64.parameters():
        p.requires_grad_(False)
    gen = torch.Generator().manual_seed(7)
    x = torch.rand(BATCH, *SHAPE, generator=gen).double()
    with torch.no_grad():
        y = model64(x).argmax(1)
    y[::7] = (y[::7] + 1) % 10
    with torch.no_grad():
        correct = model64(x).argmax(1) == y
    x_adv = torch.where(correct.view(-1, 1, 1, 1), pgd_linf(model64, x, y), x)
    with torch.no_grad():
        z = model64(x_adv)
    robust = correct & (z.argmax(1) == y)
    zy = z.gather(1, y.unsqueeze(1)).squeeze(1)
    other = z.scatter(1, y.unsqueeze(1), float("-inf")).amax(1)
    data = {"x": x, "y": y, "x_adv": x_adv, "robust": robust.to(torch.uint8),
            "margin": zy - other}
    torch.jit.script(Holder(data)).save(os.path.join(out_dir, "data.pt"))
    print(f"pgd_reference: {int(correct.sum())}/{BATCH} clean correct, "
          f"{int(robust.sum())} robust")
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    sys.exit(main(sys.argv[1]))
