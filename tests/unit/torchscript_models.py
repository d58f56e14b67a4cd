"""Writes the TorchScript files that tests/unit/test_torchscript_models.cpp loads, and computes
Python's logits of a TorchScript file for it.

usage: torchscript_models.py OUTDIR
       torchscript_models.py --logits MODEL.pt INPUTS.pt OUT.pt
       torchscript_models.py --protocol-one OUT.pt

OUTDIR receives: rb_preact.pt, the state_dict of RobustBench's PreActResNet-18 with the final
BatchNorm (PreActBlockV2, bn_before_fc; the robustbench wheel's resnet.py, loaded by path;
random initialisation, BatchNorm statistics calibrated on random images); ts.pt, the same model
exported with scripts/export_torchscript.py (protocol 2); p1.pt, a protocol-1 file (forward,
features and head only); inputs.pt, a dict holding a probe batch "x" [4, 3, 32, 32] in [0, 1];
reference.pt, the original model's SF and PGD on that batch in float64 (reference()).
With --logits, OUT.pt holds {"logits": torch.jit.load(MODEL.pt).eval()(x)} in float64; with
--protocol-one, OUT.pt is a protocol-1 file (tests/cli/cli_test.sh own-torchscript).
"""
import importlib.util
import os
import sys

import torch
from torch import nn

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "scripts"))

BUILDER = '''import importlib.util, os
spec = importlib.util.find_spec("robustbench")
path = os.path.join(spec.submodule_search_locations[0], "model_zoo", "architectures", "resnet.py")
s = importlib.util.spec_from_file_location("rb_resnet", path)
resnet = importlib.util.module_from_spec(s)
s.loader.exec_module(resnet)


def build():
    return resnet.PreActResNet(resnet.PreActBlockV2, [2, 2, 2, 2], bn_before_fc=True)
'''


class ProtocolOne(nn.Module):
    """The three methods of the first TorchScript protocol, without taps or switchable ReLUs."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.fc = nn.Linear(4, 10)

    @torch.jit.export
    def features(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.conv(x)).mean((2, 3))

    @torch.jit.export
    def head(self, a: torch.Tensor) -> torch.Tensor:
        return self.fc(a)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def write(out):
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "builder.py"), "w") as f:
        f.write(BUILDER)
    spec = importlib.util.spec_from_file_location("builder", os.path.join(out, "builder.py"))
    builder = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(builder)
    torch.manual_seed(0)
    model = builder.build()
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.momentum = None
    model.train()
    with torch.no_grad():
        for _ in range(2):
            model(torch.rand(8, 3, 32, 32))
    torch.save(model.state_dict(), os.path.join(out, "rb_preact.pt"))

    import export_torchscript
    rc = export_torchscript.main([
        "--model", os.path.join(out, "builder.py") + ":build",
        "--weights", os.path.join(out, "rb_preact.pt"),
        "--input-shape", "3", "32", "32",
        "--out", os.path.join(out, "ts.pt")])
    if rc:
        sys.exit(f"torchscript_models: export failed ({rc})")
    torch.jit.script(ProtocolOne().eval()).save(os.path.join(out, "p1.pt"))
    gen = torch.Generator().manual_seed(5)
    x = torch.rand(4, 3, 32, 32, generator=gen)
    torch.save({"x": x}, os.path.join(out, "inputs.pt"))
    torch.save(reference(model, x), os.path.join(out, "reference.pt"))


def reference(model, x):
    """SF (logit target) and PGD of the original PyTorch model in float64, independent of
    sfbench: labels y are the clean predictions with the first one shifted (a misclassified
    sample); c = a ⊙ W[y] with a the input of the final Linear (a forward hook), C = mean over
    the batch, SF = the population SD of C; PGD-linf with cross-entropy, no random start,
    ε = 0.25/255, α = 0.0625/255, 5 steps, x ← clip(proj(x + α·sign ∇CE)), misclassified samples not
    attacked; robust = clean correct and still correct at x_adv."""
    model = model.double().eval()
    x = x.double()
    feats = []
    hook = model.linear.register_forward_hook(lambda m, i, o: feats.append(i[0].detach()))
    with torch.no_grad():
        y = model(x).argmax(1)
    y[0] = (y[0] + 1) % 10
    feats.clear()
    with torch.no_grad():
        clean = model(x).argmax(1) == y
    hook.remove()
    c = feats[0] * model.linear.weight[y].detach()
    big_c = c.mean(0)
    sf = big_c.std(unbiased=False).detach()
    eps, alpha = 0.25 / 255, 0.0625 / 255  # a random network: larger radii break every sample
    xa = x.clone()
    for _ in range(5):
        xa.requires_grad_(True)
        loss = torch.nn.functional.cross_entropy(model(xa), y, reduction="sum")
        g, = torch.autograd.grad(loss, xa)
        with torch.no_grad():
            step = xa + alpha * g.sign()
            xa = torch.min(torch.max(step, x - eps), x + eps).clamp(0, 1)
    xa = torch.where(clean.view(-1, 1, 1, 1), xa.detach(), x)
    with torch.no_grad():
        robust = clean & (model(xa).argmax(1) == y)
    return {"y": y, "C": big_c, "sf": sf.reshape(1), "x_adv": xa, "robust": robust.to(torch.uint8)}


def logits(model_file, inputs_file, out_file):
    m = torch.jit.load(model_file, map_location="cpu").eval()
    x = torch.load(inputs_file)["x"]
    with torch.no_grad():
        torch.save({"logits": m(x.to(next(m.parameters()).dtype)).double()}, out_file)


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "--logits":
        logits(*sys.argv[2:])
    elif len(sys.argv) == 3 and sys.argv[1] == "--protocol-one":
        torch.jit.script(ProtocolOne().eval()).save(sys.argv[2])
    elif len(sys.argv) == 2:
        write(sys.argv[1])
    else:
        sys.exit(__doc__)
