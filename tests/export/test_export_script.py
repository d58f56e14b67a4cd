#!/usr/bin/env python3
"""Checks scripts/export_torchscript.py and scripts/export-model on real models: RobustBench's
WideResNet (nn.ReLU modules), PreActResNet18 (F.relu) and DMWideResNet (its custom-autograd
Swish), torchvision's resnet18 (--mean/--std, a ReLU module called twice per block), a small
model saved as a DataParallel checkpoint dict, and one torch.fx cannot trace.

Each exported file is compared with the model it came from, in Python:
  - logits of forward(x) and head(features(x)) (a batch other than the script's probe batch);
  - input gradients (DMWideResNet: Swish replaced by nn.SiLU against the original's own backward);
  - protocol 2: the attributes, each tap's recorded output against the original module's output,
    the feature-map tap replaced by a random map giving fc(global average of it), replace mode
    with a tap's own value, a wrongly shaped value raising, the saved state cleared;
  - guided backprop through the SfbReLUs (record + gradient hooks clamping to >= 0) against an
    independent one: the original model with every ReLU a custom autograd Function;
  - refusal without --weights, the final linear layer found, state_dict checkpoints with
    `module.` prefixes, a mismatched key named, byte-identical files from two processes in two
    working directories, and scripts/export-model in an empty environment.

usage: .venv/bin/python tests/export/test_export_script.py [TEST_NAME ...]
       (all tests by default; exit 1 when a check fails)
"""
import contextlib
import hashlib
import importlib.util
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
import traceback

import torch
import torch.nn.functional as F

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPT = os.path.join(REPO, "scripts", "export_torchscript.py")
WRAPPER = os.path.join(REPO, "scripts", "export-model")
sys.path.insert(0, os.path.join(REPO, "scripts"))
import export_torchscript  # noqa: E402

NETS = '''
import importlib.util
import os

import torch
import torch.nn.functional as F
from torch import nn


def _arch(name):
    spec = importlib.util.find_spec("robustbench")
    path = os.path.join(spec.submodule_search_locations[0], "model_zoo", "architectures", name)
    s = importlib.util.spec_from_file_location("rb_" + name[:-3], path)
    mod = importlib.util.module_from_spec(s)
    s.loader.exec_module(mod)
    return mod


def wrn():
    return _arch("wide_resnet.py").WideResNet(depth=16, num_classes=10, widen_factor=1)


def preact():
    return _arch("resnet.py").PreActResNet18()


def dm():
    a = _arch("dm_wide_resnet.py")
    return a.DMWideResNet(num_classes=10, depth=10, width=1, activation_fn=a.Swish)


def rn18():
    import torchvision
    return torchvision.models.resnet18(num_classes=10)


class Custom(nn.Module):
    """nn.ReLU in place, F.relu, a final Linear inside a Sequential and, after it in module
    order, an auxiliary Linear whose output is not the logits."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(8)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(8, 16, 3, stride=2, padding=1)
        self.classifier = nn.Sequential(nn.Dropout(0.5), nn.Linear(16, 5))
        self.aux = nn.Linear(16, 3)

    def forward(self, x):
        x = self.relu(self.bn1(self.conv1(x)))
        x = F.relu(self.conv2(x))
        a = x.mean((2, 3))
        self.aux(a)
        return self.classifier(a)


def custom():
    return Custom()


class Dyn(nn.Module):
    """Data-dependent control flow: torch.fx cannot trace it."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.relu = nn.ReLU()
        self.fc = nn.Linear(8, 4)

    def forward(self, x):
        x = self.relu(self.conv(x))
        if x.sum() > 0:
            x = x * 2
        return self.fc(F.relu(x).mean((2, 3)))


def dyn():
    return Dyn()
'''

MYPKG = '''
from torch import nn


def build():
    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                         nn.Linear(4, 3))
'''


class Env:
    """The scratch folder, the builders (tmp/nets.py) and a fixed test batch."""

    def __init__(self):
        self.tmp = tempfile.mkdtemp(prefix="sfb_export_test_")
        self.nets_file = os.path.join(self.tmp, "nets.py")
        with open(self.nets_file, "w") as f:
            f.write(NETS)
        spec = importlib.util.spec_from_file_location("sfb_test_nets", self.nets_file)
        self.nets = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(self.nets)

    def path(self, *parts):
        return os.path.join(self.tmp, *parts)

    def build(self, name, seed=1):
        torch.manual_seed(seed)
        model = getattr(self.nets, name)()
        calibrate(model)
        return model.eval()


def calibrate(model):
    """Non-trivial BatchNorm statistics, so that the exported weights matter."""
    gen = torch.Generator().manual_seed(7)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.2, 0.2, generator=gen)
                m.running_var.uniform_(0.5, 1.5, generator=gen)
                m.weight.uniform_(0.6, 1.4, generator=gen)
                m.bias.uniform_(-0.1, 0.1, generator=gen)


def export(args):
    """export_torchscript.main(args) in this process: (exit code, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = export_torchscript.main(args)
    return rc, out.getvalue(), err.getvalue()


def export_ok(args):
    rc, out, err = export(args)
    assert rc == 0, f"export {' '.join(args)} failed ({rc}):\n{out}{err}"
    return out + err


def rel(a, b):
    return float((a - b).abs().max()) / max(1.0, float(b.abs().max()))


def grad_rel(a, b):
    return float((a - b).abs().max()) / float(b.abs().max())


def sub(module, dotted):
    for part in dotted.split("."):
        module = getattr(module, part)
    return module


def sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def record(loaded):
    return json.loads(loaded.sfb_export)


class GuidedReLUFn(torch.autograd.Function):
    """relu forward; backward passes only positive gradients where the input was positive."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x.clamp(min=0)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g.clamp(min=0) * (x > 0).to(g.dtype)


@contextlib.contextmanager
def guided_relus():
    """Every F.relu and torch.relu (nn.ReLU calls F.relu) runs as GuidedReLUFn."""
    saved = F.relu, torch.relu

    def guided(x, inplace=False):
        return GuidedReLUFn.apply(x)
    torch.nn.functional.relu = guided
    torch.relu = guided
    try:
        yield
    finally:
        torch.nn.functional.relu, torch.relu = saved


def guided_exported(loaded, x, cls):
    """Guided backprop as sfbench does it: SfbReLU record on, hooks clamping the gradient of every
    recorded output to >= 0."""
    relus = [sub(loaded, p) for p in loaded.sfb_relus]
    for r in relus:
        r.record = True
    xg = x.clone().requires_grad_(True)
    out = loaded(xg)
    n = 0
    for r in relus:
        for t in r.outputs:
            t.register_hook(lambda g: g.clamp(min=0))
            n += 1
    (g,) = torch.autograd.grad(out[:, cls].sum(), xg)
    for r in relus:
        r.record, r.outputs = False, []
    assert n > 0, "no SfbReLU recorded an output"
    return g


def check_model(loaded, model, x, norm, feature_pool, guided=True):
    """The protocol-2 checks shared by every model; norm: the model's input transform."""
    with torch.no_grad():
        ref = model(norm(x))
        assert rel(loaded(x), ref) <= 1e-5, f"forward differs by {rel(loaded(x), ref):.3g}"
        split = loaded.head(loaded.features(x))
        assert rel(split, ref) <= 1e-5, f"head(features(x)) differs by {rel(split, ref):.3g}"

    # Attributes of a freshly loaded file.
    assert loaded.sfb_protocol == 2
    layers, taps = list(loaded.sfb_layers), list(loaded.sfb_taps)
    assert layers and len(layers) == len(taps) and len(set(layers)) == len(layers), (layers, taps)
    assert "features" not in layers
    exp = record(loaded)
    assert exp["feature_map"] in layers, (exp["feature_map"], layers)
    for p in taps:
        t = sub(loaded, p)
        assert t.mode == 0 and t.stored.numel() == 0 and t.value.numel() == 0, p
    for p in loaded.sfb_relus:
        r = sub(loaded, p)
        assert r.record is False and len(r.outputs) == 0, p

    # Record: each tap holds its layer's output (direct children: the original module's output).
    seen = {}
    hooks = [m.register_forward_hook(lambda mod, i, o, n=n: seen.__setitem__(n, o.clone()))
             for n, m in model.named_children() if n in layers]
    with torch.no_grad():
        model(norm(x))
        for p in taps:
            sub(loaded, p).mode = 1
        logits = loaded(x)
    for h in hooks:
        h.remove()
    assert rel(logits, ref) <= 1e-5, "record mode changed the logits"
    for name, p in zip(layers, taps):
        stored = sub(loaded, p).stored
        if name in seen:
            assert stored.shape == seen[name].shape and rel(stored, seen[name]) <= 1e-5, (
                f"tap '{name}' recorded {list(stored.shape)}, not the layer's output")
    for p in taps:
        sub(loaded, p).mode = 0

    # Replace: the feature map by a random map r gives fc(global average of r); a tap by its own
    # recorded value gives the same logits; a value of another shape raises.
    fm = sub(loaded, taps[layers.index(exp["feature_map"])])
    r = torch.rand(list(fm.stored.shape), generator=torch.Generator().manual_seed(5))
    fm.mode, fm.value = 2, r
    with torch.no_grad():
        got = loaded(x)
        want = loaded.fc(feature_pool(r))
    assert rel(got, want) <= 1e-5, f"replacing the feature map: logits differ by {rel(got, want)}"
    fm.mode = 0
    for p in taps:
        t = sub(loaded, p)
        t.mode = 1
        with torch.no_grad():
            loaded(x)
        t.mode, t.value = 2, t.stored
        with torch.no_grad():
            assert rel(loaded(x), ref) <= 1e-5, f"tap {p} replaced by its own value"
        t.value = torch.zeros(1, 2, 3)
        try:
            with torch.no_grad():
                loaded(x)
            raise AssertionError(f"tap {p}: a value of the wrong shape did not raise")
        except (RuntimeError, torch.jit.Error) as e:
            assert "replacement shape differs from the layer output" in str(e), str(e)[:200]
        t.mode, t.stored, t.value = 0, torch.empty(0), torch.empty(0)

    if guided:
        g = guided_exported(loaded, x, 1)
        xr = x.clone().requires_grad_(True)
        with guided_relus():
            (g_ref,) = torch.autograd.grad(model(norm(xr))[:, 1].sum(), xr)
        (g_plain,) = torch.autograd.grad(model(norm(xr))[:, 1].sum(), xr)
        assert grad_rel(g_plain, g_ref) > 1e-2, "guided backprop equals plain backprop here"
        assert grad_rel(g, g_ref) <= 1e-4, f"guided backprop differs by {grad_rel(g, g_ref):.3g}"
    return exp


def mean_pool(a):
    return a.mean((2, 3))


def identity(x):
    return x


def batch(shape, seed=11):
    return torch.rand(shape, generator=torch.Generator().manual_seed(seed))


# ---- the checks ---------------------------------------------------------------------------------

def test_refuses_without_weights(env):
    out = env.path("refused.pt")
    p = subprocess.run([sys.executable, SCRIPT, "--model", f"{env.nets_file}:custom",
                        "--input-shape", "3", "16", "16", "--out", out],
                       capture_output=True, text=True, cwd=env.tmp)
    lines = p.stderr.strip().splitlines()
    assert p.returncode == 2, p.returncode
    assert len(lines) == 1 and lines[0].startswith("export_torchscript: error: "), p.stderr
    assert "--weights" in lines[0] and "--random-init" in lines[0], lines[0]
    assert not os.path.exists(out)


def test_wide_resnet(env):
    model = env.build("wrn")
    weights = env.path("wrn_sd.pt")
    torch.save(model.state_dict(), weights)
    out = env.path("wrn.pt")
    export_ok(["--model", f"{env.nets_file}:wrn", "--weights", weights, "--input-shape", "3",
               "32", "32", "--probe-batch", "2", "--out", out])
    loaded = torch.jit.load(out)
    exp = check_model(loaded, model, batch((3, 3, 32, 32)), identity, mean_pool)
    assert exp["fc"] == {"path": "fc", "auto_detected": True}, exp["fc"]
    assert exp["weights_sha256"] == sha256(weights)
    assert exp["model"] == f"{env.nets_file}:wrn" and exp["compiled"] == "script"
    assert exp["torch"] == torch.__version__ and exp["input_shape"] == [3, 32, 32]
    assert exp["mean"] is None and exp["std"] is None and exp["fx_traced"] is True
    assert list(loaded.sfb_layers) == ["conv1", "block1", "block2", "block3", "bn1", "relu"]
    assert exp["feature_map"] == "relu"
    relus = [m for n, m in model.named_modules() if isinstance(m, torch.nn.ReLU)]
    assert len(loaded.sfb_relus) == len(relus) == 13, len(loaded.sfb_relus)
    for p in loaded.sfb_relus:
        assert sub(loaded, p).original_name == "SfbReLU", p


def test_preact_resnet18(env):
    model = env.build("preact")
    weights = env.path("preact_sd.pt")
    torch.save(model.state_dict(), weights)
    out = env.path("preact.pt")
    export_ok(["--model", f"{env.nets_file}:preact", "--weights", weights, "--input-shape", "3",
               "32", "32", "--probe-batch", "2", "--out", out])
    loaded = torch.jit.load(out)
    exp = check_model(loaded, model, batch((2, 3, 32, 32)), identity, mean_pool)
    assert exp["fc"] == {"path": "linear", "auto_detected": True}, exp["fc"]
    assert exp["feature_map"] == "layer4"
    functional = [r for r in exp["replaced"] if r.endswith(": F.relu -> SfbReLU")]
    assert len(functional) == 16 == len(loaded.sfb_relus), (len(functional), exp["replaced"])


def test_dm_wide_resnet_swish(env):
    model = env.build("dm")
    weights = env.path("dm_sd.pt")
    torch.save(model.state_dict(), weights)
    out = env.path("dm.pt")
    log = export_ok(["--model", f"{env.nets_file}:dm", "--weights", weights, "--input-shape",
                     "3", "32", "32", "--probe-batch", "2", "--out", out])
    loaded = torch.jit.load(out)
    x = batch((3, 3, 32, 32))
    exp = check_model(loaded, model, x, identity, mean_pool, guided=False)
    swish = [n for n, m in model.named_modules() if type(m).__name__ == "Swish"]
    assert sorted(exp["replaced"]) == sorted(f"{n}: Swish -> SiLU" for n in swish), exp["replaced"]
    assert len(swish) == 7 and "replaced layer.0.block.0.relu_0: Swish -> SiLU" in log, log
    assert list(loaded.sfb_relus) == []
    xa, xb = x.clone().requires_grad_(True), x.clone().requires_grad_(True)
    (g_ref,) = torch.autograd.grad(model(xa).sum(), xa)  # the original's custom _Swish backward
    (g,) = torch.autograd.grad(loaded(xb).sum(), xb)
    assert grad_rel(g, g_ref) <= 1e-4, f"input gradients differ by {grad_rel(g, g_ref):.3g}"


def test_torchvision_resnet18(env):
    model = env.build("rn18")
    weights = env.path("rn18_sd.pt")
    torch.save(model.state_dict(), weights)
    out = env.path("rn18.pt")
    mean, std = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]
    export_ok(["--model", f"{env.nets_file}:rn18", "--weights", weights, "--input-shape", "3",
               "32", "32", "--mean", *map(str, mean), "--std", *map(str, std), "--probe-batch",
               "2", "--out", out])
    loaded = torch.jit.load(out)
    m, s = torch.tensor(mean).view(1, 3, 1, 1), torch.tensor(std).view(1, 3, 1, 1)
    exp = check_model(loaded, model, batch((2, 3, 32, 32)), lambda t: (t - m) / s,
                      mean_pool)
    assert exp["fc"] == {"path": "fc", "auto_detected": True}, exp["fc"]
    assert exp["mean"] == mean and exp["std"] == std and exp["feature_map"] == "layer4"
    assert list(loaded.sfb_layers) == ["conv1", "bn1", "relu", "maxpool", "layer1", "layer2",
                                       "layer3", "layer4", "avgpool"], loaded.sfb_layers


def test_checkpoint_with_module_prefix(env):
    model = env.build("custom")
    sd = {"module." + k: v for k, v in model.state_dict().items()}
    ckpt = env.path("custom_ckpt.pt")
    torch.save({"epoch": 7, "net": {"model_state_dict": sd, "lr": 0.1}}, ckpt)
    out = env.path("custom.pt")
    log = export_ok(["--model", f"{env.nets_file}:custom", "--weights", ckpt, "--input-shape",
                     "3", "16", "16", "--out", out])
    loaded = torch.jit.load(out)
    exp = check_model(loaded, model, batch((3, 3, 16, 16)), identity,
                      lambda a: a.mean((2, 3)))
    assert exp["fc"] == {"path": "classifier.1", "auto_detected": True}, exp["fc"]
    assert "final linear layer: 'classifier.1'" in log, log
    assert exp["weights_sha256"] == sha256(ckpt)

    # A key the model lacks, and a missing one: one line naming the key, exit code 2.
    bad = dict(sd)
    bad["module.extra.weight"] = torch.zeros(2)
    torch.save({"state_dict": bad}, env.path("bad1.pt"))
    del sd["module.conv2.bias"]
    torch.save(sd, env.path("bad2.pt"))
    for f, key in (("bad1.pt", "extra.weight"), ("bad2.pt", "conv2.bias")):
        rc, _, err = export(["--model", f"{env.nets_file}:custom", "--weights", env.path(f),
                             "--input-shape", "3", "16", "16", "--out", env.path("bad.pt")])
        lines = err.strip().splitlines()
        assert rc == 2 and len(lines) == 1 and lines[0].startswith("export_torchscript: error:"), (
            rc, err)
        assert f"'{key}'" in lines[0], lines[0]


def test_random_init(env):
    out = env.path("random.pt")
    export_ok(["--model", f"{env.nets_file}:custom", "--random-init", "--seed", "3",
               "--fc", "classifier.1", "--input-shape", "3", "16", "16", "--out", out])
    torch.manual_seed(3)
    model = env.nets.custom().eval()
    loaded = torch.jit.load(out)
    x = batch((2, 3, 16, 16))
    with torch.no_grad():
        assert rel(loaded(x), model(x)) <= 1e-5
    exp = record(loaded)
    assert exp["weights_sha256"] is None and exp["fc"] == {"path": "classifier.1",
                                                            "auto_detected": False}


def test_trace_and_layers(env):
    model = env.build("custom")
    weights = env.path("trace_sd.pt")
    torch.save(model.state_dict(), weights)
    out = env.path("traced.pt")
    log = export_ok(["--model", f"{env.nets_file}:custom", "--weights", weights, "--trace",
                     "--layer", "bn1", "--layer", "conv1", "--input-shape", "3", "16", "16",
                     "--out", out])
    loaded = torch.jit.load(out)
    exp = check_model(loaded, model, batch((2, 3, 16, 16)), identity, mean_pool)
    assert exp["compiled"] == "trace" and "(trace)" in log, (exp, log)
    # The named layers in forward order, then the feature map (the F.relu before the mean).
    assert list(loaded.sfb_layers) == ["conv1", "bn1", exp["feature_map"]], loaded.sfb_layers
    assert exp["feature_map"] not in ("conv1", "bn1")
    assert len(loaded.sfb_relus) == 2, loaded.sfb_relus


def test_fx_fallback(env):
    out = env.path("dyn.pt")
    log = export_ok(["--model", f"{env.nets_file}:dyn", "--random-init", "--input-shape", "3",
                     "8", "8", "--out", out])
    assert "functional ReLUs" in log and "not switchable" in log, log
    torch.manual_seed(0)
    model = env.nets.dyn().eval()
    loaded = torch.jit.load(out)
    exp = check_model(loaded, model, batch((2, 3, 8, 8)), identity,
                      lambda a: F.relu(2 * a).mean((2, 3)), guided=False)
    assert exp["fx_traced"] is False and list(loaded.sfb_relus) == ["body.relu.layer"], (
        exp, loaded.sfb_relus)


def test_reproducible_bytes(env):
    model = env.build("custom")
    weights = env.path("repro_sd.pt")
    torch.save(model.state_dict(), weights)
    files = []
    environ = {k: v for k, v in os.environ.items() if k != "PYTHONHASHSEED"}
    for d, name in (("a", "model.pt"), ("b", "other.pt")):
        os.makedirs(env.path(d))
        p = subprocess.run([sys.executable, SCRIPT, "--model", f"{env.nets_file}:custom",
                            "--weights", weights, "--input-shape", "3", "16", "16", "--out",
                            name], capture_output=True, text=True, cwd=env.path(d), env=environ)
        assert p.returncode == 0, p.stderr
        files.append(env.path(d, name))
    with open(files[0], "rb") as a, open(files[1], "rb") as b:
        assert a.read() == b.read(), "two exports of the same model differ"


def test_wrapper(env):
    work = env.path("user")
    os.makedirs(os.path.join(work, "mypkg"))
    with open(os.path.join(work, "mypkg", "nets.py"), "w") as f:
        f.write(MYPKG)
    clean = ["env", "-i", "PATH=/usr/bin:/bin", f"HOME={os.environ.get('HOME', '/')}",
             "OMP_NUM_THREADS=1"]
    p = subprocess.run(clean + [WRAPPER, "--model", "mypkg.nets:build", "--random-init",
                                "--input-shape", "3", "8", "8", "--out", "m.pt"],
                       capture_output=True, text=True, cwd=work)
    assert p.returncode == 0, p.stdout + p.stderr
    loaded = torch.jit.load(os.path.join(work, "m.pt"))
    assert loaded.sfb_protocol == 2 and loaded(torch.rand(1, 3, 8, 8)).shape == (1, 3)

    # Without .venv next to it: one line naming scripts/setup-deps.sh.
    fake = env.path("clone", "scripts")
    os.makedirs(fake)
    shutil.copy2(WRAPPER, fake)
    p = subprocess.run(clean + [os.path.join(fake, "export-model"), "--help"],
                       capture_output=True, text=True, cwd=work)
    assert p.returncode == 2 and "scripts/setup-deps.sh" in p.stderr, p.stderr


TESTS = [test_refuses_without_weights, test_wide_resnet, test_preact_resnet18,
         test_dm_wide_resnet_swish, test_torchvision_resnet18, test_checkpoint_with_module_prefix,
         test_random_init, test_trace_and_layers, test_fx_fallback, test_reproducible_bytes,
         test_wrapper]


def main(names):
    tests = [t for t in TESTS if not names or t.__name__ in names]
    if len(tests) != len(set(names)) and names:
        print(f"unknown test in {names}; the tests: {[t.__name__ for t in TESTS]}")
        return 2
    torch.set_num_threads(1)
    os.environ["OMP_NUM_THREADS"] = "1"
    env = Env()
    failed = []
    start = time.time()
    try:
        for test in tests:
            t0 = time.time()
            try:
                with torch.jit.optimized_execution(False):
                    test(env)
                print(f"ok    {test.__name__} ({time.time() - t0:.1f} s)")
            except Exception:
                failed.append(test.__name__)
                print(f"FAIL  {test.__name__} ({time.time() - t0:.1f} s)")
                print(textwrap.indent(traceback.format_exc(), "      "))
    finally:
        shutil.rmtree(env.tmp, ignore_errors=True)
    print(f"{len(tests) - len(failed)}/{len(tests)} passed in {time.time() - start:.1f} s")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
