"""The small CIFAR-shaped classifier of the SF reference test (sf_reference_test.py).

build() returns it with fixed weights; the test centres the head's bias on its images, exports
that state with scripts/export_torchscript.py --weights (--fc fc, CIFAR-10 mean/std inside the
wrapper) and evaluates the same weights in float64 eager PyTorch. embed(x) is the penultimate
activation a ∈ R^{B×k} (k = 20), fc the linear head (C = 10).
"""
import torch
from torch import nn

K = 20
CLASSES = 10


class RefNet(nn.Module):
    """conv-BN-ReLU, strided conv-BN-ReLU, conv-BN-ReLU, global average pool, Linear `fc`."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(8)
        self.conv2 = nn.Conv2d(8, 16, 3, stride=2, padding=1)
        self.bn2 = nn.BatchNorm2d(16)
        self.conv3 = nn.Conv2d(16, K, 3, stride=2, padding=1)
        self.bn3 = nn.BatchNorm2d(K)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(K, CLASSES)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """x: [B, 3, 32, 32] normalized -> [B, K] (after global pooling)."""
        x = torch.relu(self.bn1(self.conv1(x)))
        x = torch.relu(self.bn2(self.conv2(x)))
        x = torch.relu(self.bn3(self.conv3(x)))
        return torch.flatten(self.pool(x), 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.embed(x))


def build() -> nn.Module:
    """RefNet in eval mode with fixed random weights and non-trivial BatchNorm statistics and
    affine parameters (so normalization and BN both matter)."""
    gen = torch.Generator().manual_seed(20250611)
    model = RefNet()
    with torch.no_grad():
        for m in (model.conv1, model.conv2, model.conv3, model.fc):
            fan_in = m.weight[0].numel()
            m.weight.copy_(torch.randn(m.weight.shape, generator=gen) * (1.5 / fan_in ** 0.5))
            m.bias.copy_(torch.randn(m.bias.shape, generator=gen) * 0.1)
        for bn in (model.bn1, model.bn2, model.bn3):
            bn.running_mean.copy_(torch.rand(bn.num_features, generator=gen) * 0.6 - 0.3)
            bn.running_var.copy_(torch.rand(bn.num_features, generator=gen) * 1.5 + 0.5)
            bn.weight.copy_(torch.rand(bn.num_features, generator=gen) * 0.8 + 0.6)
            bn.bias.copy_(torch.rand(bn.num_features, generator=gen) * 0.4 - 0.1)
    return model.eval()
