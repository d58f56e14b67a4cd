"""The TorchScript modules of sfbench protocol 2, which scripts/export_torchscript.py writes and
`--model torchscript:FILE` reads (docs/usage.md, "Your own PyTorch model").

A file of protocol 2 is an SfbModel: features(x) -> [B, k], head(a) -> [B, C],
forward(x) = head(features(x)), plus these attributes of the top-level module:

  sfb_protocol: int        2
  sfb_layers:   List[str]  the tappable layers, in forward order ("features" not included)
  sfb_taps:     List[str]  for each of sfb_layers, the dotted path of its SfbTap submodule
  sfb_relus:    List[str]  the dotted paths of every SfbReLU submodule (may be empty)
  sfb_export:   str        JSON (sorted keys) saying how the file was made

The classes live in this module of their own so that their TorchScript names
(__torch__.sfb_protocol.*) are the same whether export_torchscript runs as a script or is imported.
"""
from typing import List, Optional

import torch
from torch import nn

PROTOCOL = 2
TAP_SHAPE_ERROR = "sfbench tap: replacement shape differs from the layer output"


class SfbTap(nn.Module):
    """Sits right after a tapped layer; x: the layer's output, any shape, dtype and device.

    mode 0 passes x through; 1 records it in `stored` and passes it through; 2 returns `value`
    instead of x (`value` must have x's shape: otherwise x is stored and a RuntimeError raised).
    A saved file has mode 0 and empty `stored` and `value`.
    """
    mode: int
    stored: torch.Tensor
    value: torch.Tensor

    def __init__(self):
        super().__init__()
        self.mode = 0
        self.stored = torch.empty(0)
        self.value = torch.empty(0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.mode == 2:
            if self.value.shape != x.shape:
                self.stored = x
                raise RuntimeError("sfbench tap: replacement shape differs from the layer output")
            x = self.value
        if self.mode == 1:
            self.stored = x
        return x


class SfbReLU(nn.Module):
    """relu(x), never in place. With `record` set, every output is appended to `outputs` (one
    entry per call), so that a caller can hook their gradients (guided backprop clamps them to
    >= 0). A saved file has record False and no outputs."""
    record: bool
    outputs: List[torch.Tensor]

    def __init__(self):
        super().__init__()
        self.record = False
        self.outputs = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.relu(x)
        if self.record:
            self.outputs.append(y)
        return y


class SfbTapped(nn.Module):
    """A submodule with an SfbTap on its output: how layers are tapped when torch.fx cannot
    trace the model (the module-level fallback). x: the layer's single tensor input."""

    def __init__(self, layer: nn.Module):
        super().__init__()
        self.layer = layer
        self.tap = SfbTap()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.tap(self.layer(x))


class SfbModel(nn.Module):
    """The module sfbench loads. x: [B, C, H, W] float in [0, 1]; with `normalize`, features()
    computes (x - mean) / std first. body(x) is the model without its final linear layer; fc is
    that layer."""
    sfb_protocol: int
    sfb_layers: List[str]
    sfb_taps: List[str]
    sfb_relus: List[str]
    sfb_export: str
    normalize: bool

    def __init__(self, body: nn.Module, fc: nn.Module, mean: Optional[List[float]],
                 std: Optional[List[float]], layers: List[str], taps: List[str],
                 relus: List[str]):
        super().__init__()
        self.body = body
        self.fc = fc
        channels = len(mean) if mean is not None else 1
        self.normalize = mean is not None
        m = torch.tensor(mean if mean is not None else [0.0], dtype=torch.float32)
        s = torch.tensor(std if std is not None else [1.0], dtype=torch.float32)
        self.register_buffer("mean", m.view(1, channels, 1, 1))
        self.register_buffer("std", s.view(1, channels, 1, 1))
        self.sfb_protocol = PROTOCOL
        self.sfb_layers = list(layers)
        self.sfb_taps = list(taps)
        self.sfb_relus = list(relus)
        self.sfb_export = "{}"

    @torch.jit.export
    def features(self, x: torch.Tensor) -> torch.Tensor:
        if self.normalize:
            x = (x - self.mean) / self.std
        return torch.flatten(self.body(x), 1)

    @torch.jit.export
    def head(self, a: torch.Tensor) -> torch.Tensor:
        return self.fc(a)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))
