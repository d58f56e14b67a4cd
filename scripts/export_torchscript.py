#!/usr/bin/env python3
"""Wraps a PyTorch classifier into the TorchScript module sfbench loads with
`--model torchscript:FILE`: methods features(x) -> [B, k], head(a) -> [B, C] and
forward(x) = head(features(x)) (SPEC.md §1).

features(x) is the model's own forward with its final linear layer (named by --fc) replaced by
the identity, flattened to [B, k]; head is that linear layer.

Normalization: sfbench feeds images in [0, 1]. If the model expects normalized inputs (e.g. the
torchvision ImageNet models), pass --mean and --std: the wrapper then computes (x - mean) / std
inside features(). Models that take [0, 1] inputs directly (most RobustBench models) need neither.

Compilation: the wrapper is compiled with torch.jit.script. If the model cannot be scripted
(unsupported Python in its forward), the script falls back to torch.jit.trace on a probe batch of
--input-shape, and says so: a traced module records the operations run for that input, so
data-dependent control flow is frozen and other input sizes may not work. --trace forces tracing.

Example:
  export_torchscript.py --model torchvision.models:resnet18 --fc fc --input-shape 3 224 224 \\
      --mean 0.485 0.456 0.406 --std 0.229 0.224 0.225 --out resnet18.pt
"""
import argparse
import importlib
import importlib.util
import os
import sys
from typing import List, Optional

import torch
from torch import nn


def load_callable(spec: str):
    """'package.module:callable' or 'path/to/file.py:callable' -> the callable."""
    if ":" not in spec:
        raise SystemExit(f"--model '{spec}': expected module:callable (or file.py:callable)")
    mod_name, attr = spec.rsplit(":", 1)
    if mod_name.endswith(".py"):
        if not os.path.isfile(mod_name):
            raise SystemExit(f"--model: no such file {mod_name}")
        loader_spec = importlib.util.spec_from_file_location(
            os.path.splitext(os.path.basename(mod_name))[0], mod_name)
        module = importlib.util.module_from_spec(loader_spec)
        loader_spec.loader.exec_module(module)
    else:
        module = importlib.import_module(mod_name)
    if not hasattr(module, attr):
        raise SystemExit(f"--model: {mod_name} has no attribute '{attr}'")
    return getattr(module, attr)


def get_attr_path(root: nn.Module, dotted: str) -> nn.Module:
    obj = root
    for part in dotted.split("."):
        if not hasattr(obj, part):
            raise SystemExit(f"--fc '{dotted}': the model has no submodule '{part}'")
        obj = getattr(obj, part)
    return obj


def set_attr_path(root: nn.Module, dotted: str, value: nn.Module) -> None:
    parent = get_attr_path(root, dotted.rsplit(".", 1)[0]) if "." in dotted else root
    setattr(parent, dotted.rsplit(".", 1)[-1], value)


def make_wrapper(body: nn.Module, fc: nn.Module, mean: Optional[List[float]],
                 std: Optional[List[float]], for_script: bool) -> nn.Module:
    """The three-method module sfbench expects; x: [B, C, H, W] in [0, 1]. For scripting,
    features/head carry @torch.jit.export; for tracing they must not (trace_module would script
    exported methods and then clash with the traced ones)."""
    export = torch.jit.export if for_script else (lambda f: f)

    class FeaturesHeadWrapper(nn.Module):
        def __init__(self):
            super().__init__()
            self.body = body
            self.fc = fc
            channels = len(mean) if mean is not None else 1
            self.normalize = mean is not None
            m = torch.tensor(mean if mean is not None else [0.0], dtype=torch.float32)
            s = torch.tensor(std if std is not None else [1.0], dtype=torch.float32)
            self.register_buffer("mean", m.view(1, channels, 1, 1))
            self.register_buffer("std", s.view(1, channels, 1, 1))

        @export
        def features(self, x: torch.Tensor) -> torch.Tensor:
            if self.normalize:
                x = (x - self.mean) / self.std
            return torch.flatten(self.body(x), 1)

        @export
        def head(self, a: torch.Tensor) -> torch.Tensor:
            return self.fc(a)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.head(self.features(x))

    return FeaturesHeadWrapper().eval()


def parse_args(argv):
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True,
                   help="module:callable (or file.py:callable) that returns the nn.Module")
    p.add_argument("--fc", required=True,
                   help="attribute name of the final linear layer, e.g. fc, linear, logits, "
                        "classifier.1")
    p.add_argument("--weights", help="optional state_dict file (torch.save) to load")
    p.add_argument("--input-shape", type=int, nargs=3, required=True, metavar=("C", "H", "W"),
                   help="image shape, used for the probe batch (and for tracing)")
    p.add_argument("--mean", type=float, nargs="+",
                   help="per-channel mean: the wrapper normalizes [0,1] inputs inside features()")
    p.add_argument("--std", type=float, nargs="+", help="per-channel std (with --mean)")
    p.add_argument("--trace", action="store_true", help="trace instead of script")
    p.add_argument("--out", required=True, help="output TorchScript file")
    p.add_argument("--probe", help="also save a TorchScript module whose attributes `input` "
                                   "[B,C,H,W] and `logits` [B,C] hold a probe batch and the "
                                   "original model's logits (for tests)")
    p.add_argument("--probe-batch", type=int, default=4, help="probe batch size (default 4)")
    p.add_argument("--seed", type=int, default=0, help="seed of the probe batch (default 0)")
    p.add_argument("--rtol", type=float, default=1e-4,
                   help="relative tolerance of the head(features(x)) == model(x) check")
    args = p.parse_args(argv)
    if (args.mean is None) != (args.std is None):
        p.error("--mean and --std go together")
    if args.mean is not None:
        c = args.input_shape[0]
        if len(args.mean) != c or len(args.std) != c:
            p.error(f"--mean/--std need {c} values (one per channel)")
        if any(s <= 0 for s in args.std):
            p.error("--std values must be > 0")
    return args


def max_rel_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).abs().max()) / max(1.0, float(b.abs().max()))


def main(argv=None) -> int:
    args = parse_args(argv)
    model = load_callable(args.model)()
    if not isinstance(model, nn.Module):
        raise SystemExit(f"--model: {args.model} returned {type(model).__name__}, not nn.Module")
    if args.weights:
        model.load_state_dict(torch.load(args.weights, map_location="cpu"))
    model.eval()

    gen = torch.Generator().manual_seed(args.seed)
    x = torch.rand(args.probe_batch, *args.input_shape, generator=gen)
    with torch.no_grad():
        xn = x
        if args.mean is not None:
            xn = (x - torch.tensor(args.mean).view(1, -1, 1, 1)) / torch.tensor(args.std).view(
                1, -1, 1, 1)
        reference = model(xn)

    fc = get_attr_path(model, args.fc)
    if not isinstance(fc, nn.Linear):
        print(f"export_torchscript: note: --fc '{args.fc}' is a {type(fc).__name__}, not nn.Linear",
              file=sys.stderr)
    set_attr_path(model, args.fc, nn.Identity())
    compiled = None
    if not args.trace:
        try:
            compiled = torch.jit.script(make_wrapper(model, fc, args.mean, args.std, True))
        except Exception as e:  # scripting rejects many Python constructs; tracing may still work
            lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()]
            print(f"export_torchscript: note: torch.jit.script failed ({type(e).__name__}: "
                  f"{lines[0] if lines else ''}); falling back to torch.jit.trace: "
                  "control flow is frozen for inputs of shape "
                  f"{list(x.shape[1:])}", file=sys.stderr)
    if compiled is None:
        wrapper = make_wrapper(model, fc, args.mean, args.std, False)
        try:
            with torch.no_grad():
                a = wrapper.features(x)
        except RuntimeError as e:
            raise SystemExit(f"export_torchscript: the model without '{args.fc}' fails on the "
                             f"probe batch ({e}); is --fc the final layer?")
        compiled = torch.jit.trace_module(
            wrapper, {"forward": x, "features": x, "head": a}, check_trace=False)

    with torch.no_grad():
        feats = compiled.features(x)
        split = compiled.head(feats)
        whole = compiled.forward(x)
    if feats.dim() != 2:
        raise SystemExit(f"export_torchscript: features() returned shape {list(feats.shape)}, "
                         "expected [B, k]")
    for what, out in (("head(features(x))", split), ("forward(x)", whole)):
        d = max_rel_diff(out, reference)
        if not d <= args.rtol:
            raise SystemExit(f"export_torchscript: {what} differs from the original model(x) by "
                             f"{d:.3g} (relative; allowed {args.rtol}); is --fc the final layer?")

    compiled.save(args.out)
    if args.probe:
        probe = torch.jit.script(ProbeHolder(x, reference))
        probe.save(args.probe)
    print(f"export_torchscript: wrote {args.out}: k = {feats.shape[1]}, C = {split.shape[1]}")
    return 0


class ProbeHolder(nn.Module):
    """Carries a probe batch and reference logits as TorchScript attributes (readable from C++)."""

    def __init__(self, x: torch.Tensor, logits: torch.Tensor):
        super().__init__()
        self.register_buffer("input", x.detach().clone())
        self.register_buffer("logits", logits.detach().clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


if __name__ == "__main__":
    sys.exit(main())
