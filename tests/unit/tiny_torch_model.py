"""A small torchvision-free PyTorch classifier for the TorchScript round-trip test
(test_models_io.cpp exports it with scripts/export_torchscript.py --random-init: build() sets its
weights itself)."""
import torch
from torch import nn


class TinyNet(nn.Module):
    """conv-BN-ReLU x2, global average pool, flatten, final Linear named `logits` (k = 16, C = 5)."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(8)
        self.conv2 = nn.Conv2d(8, 16, 3, stride=2, padding=1)
        self.bn2 = nn.BatchNorm2d(16)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.logits = nn.Linear(16, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.bn1(self.conv1(x)))
        x = torch.relu(self.bn2(self.conv2(x)))
        return self.logits(torch.flatten(self.pool(x), 1))


def build() -> nn.Module:
    """TinyNet with fixed random weights and non-trivial BatchNorm statistics."""
    torch.manual_seed(1234)
    model = TinyNet()
    with torch.no_grad():
        for bn in (model.bn1, model.bn2):
            bn.running_mean.uniform_(-0.2, 0.2)
            bn.running_var.uniform_(0.5, 1.5)
    return model
