#!/usr/bin/env python3
"""Wraps a trained PyTorch classifier into the TorchScript file sfbench loads with
`--model torchscript:FILE` (sfbench protocol 2, scripts/sfb_protocol.py). Run it through
scripts/export-model, which uses the project's .venv and puts the current directory on PYTHONPATH.

The file's methods: features(x) -> [B, k], head(a) -> [B, C], forward(x) = head(features(x)),
x: [B, C, H, W] in [0, 1]. features() is the model's own forward with its final linear layer
(--fc, or found: the last nn.Linear whose output is the logits) replaced by the identity,
flattened to [B, k]; head() is that layer. With --mean/--std, features() normalizes first
(torchvision's ImageNet models need it; most RobustBench models take [0, 1] inputs directly).

Protocol 2 adds, for attribution:
  - an SfbTap after each tapped layer (record its output, or replace it): by default after every
    direct child module whose output is 4-D, and after the last 4-D tensor before the global
    pooling (the feature map of Grad-CAM, named in sfb_export); --layer NAME taps the named
    submodules instead (the feature map stays tapped);
  - every ReLU (nn.ReLU modules, F.relu, torch.relu, Tensor.relu and their in-place forms)
    replaced by an SfbReLU whose outputs can be recorded (guided backprop);
  - sfb_export: JSON of the model spec, the weights' SHA-256, the final layer, the replacements,
    the feature map, torch's version, mean/std, input shape and how it was compiled.
The ReLUs and taps are found with torch.fx on the model's forward (scripts/sfb_instrument.py).
When torch.fx cannot trace it (data-dependent control flow), nn.ReLU modules are replaced and
child modules wrapped instead; functional ReLUs then stay as they are, and the script says so.

Custom autograd activations that torch.jit.script rejects and that the script knows are replaced
by their scriptable equivalents and printed: RobustBench's Swish (dm_wide_resnet.py, dm_rn.py)
becomes nn.SiLU.

Weights: --weights takes what torch.save wrote: a state_dict, or a dict holding one under
state_dict, model_state_dict, model or net (nested), with or without `module.` prefixes; it is
read with weights_only=True. Without --weights the script refuses, unless --random-init.

Checks before saving, on a probe batch of --input-shape (seed --seed): head(features(x)) and
forward(x) equal the original model's logits, and the gradient of the summed logits w.r.t. x
equals the original's (relative, --rtol); each tap records the shape torch.fx's ShapeProp found;
replacing the last tap's output by its own recorded value gives the same logits, and a value of
another shape raises.

Compilation: torch.jit.script. If the model cannot be scripted, the model body (and the final
layer) are traced with torch.jit.trace on the probe batch instead, saying so (taps and ReLUs
stay scripted); control flow is then frozen for that input shape. --trace forces tracing.

Reproducible output: the same command with the same files and the same torch writes the same
bytes, in another process and from another working directory. To that end the model is built
after torch.manual_seed(--seed) (its random init is fixed); the file is saved through a buffer,
so the zip's internal folder is always `archive/` (torch.jit.save to a path names it after the
file); the source-location comments torch.fx writes into its generated code are dropped, so the
debug records (code/*.debug_pkl) carry no path of the model's source when torch.fx traced it
(they do name torch's own files and this script's); probe tensors and tap/ReLU state are
cleared before saving. TorchScript class names carry ___torch_mangle_N suffixes and torch.fx
code an <eval_with_key>.N name, both numbered per process: a fresh process numbers them alike;
a second export inside one Python process (main() called twice) may not.

Errors: one line `export_torchscript: error: ...` and exit code 2 (SFB_EXPORT_TRACEBACK=1 shows
the traceback of an unexpected one).

Example:
  scripts/export-model --model mypkg.nets:build --weights my_state_dict.pt \\
      --input-shape 3 32 32 --out model.pt
  scripts/export-model --model torchvision.models:resnet18 --weights resnet18.pth \\
      --input-shape 3 224 224 --mean 0.485 0.456 0.406 --std 0.229 0.224 0.225 --out rn18.pt
"""
import os
import secrets
import sys

if __name__ == "__main__" and os.environ.get("PYTHONHASHSEED") != "0":
    # TorchScript writes a class's constants in the order of a Python set of strings: fix the
    # string hashes so that the file's bytes do not vary from one process to the next.
    os.environ["PYTHONHASHSEED"] = "0"
    os.execv(sys.executable, [sys.executable] + sys.argv)

import argparse  # noqa: E402
import hashlib  # noqa: E402
import importlib  # noqa: E402
import importlib.util  # noqa: E402
import io  # noqa: E402
import json  # noqa: E402
import traceback  # noqa: E402
import warnings  # noqa: E402
from typing import Dict, List, Optional, Tuple  # noqa: E402

import torch  # noqa: E402
from torch import nn  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from sfb_instrument import (PROG, ExportError, Instrumented, get_attr_path,  # noqa: E402
                            instrument_fx, instrument_modules, note, set_attr_path)
from sfb_protocol import SfbModel  # noqa: E402

STATE_DICT_KEYS = ("state_dict", "model_state_dict", "model", "net")
# Custom activations replaced by scriptable equivalents: (module class name, the name of the
# torch.autograd.Function its forward applies, the replacement). RobustBench's Swish
# (model_zoo/architectures/dm_wide_resnet.py, dm_rn.py) applies _Swish, x * sigmoid(x).
KNOWN_ACTIVATIONS = [("Swish", "_Swish", nn.SiLU)]


def first_line(e: BaseException) -> str:
    """'Type: first line of the message'; for an error inside TorchScript, its last line (the
    error raised there: the first only says that the interpreter failed)."""
    lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()]
    if lines and lines[0].startswith("The following operation failed in the TorchScript"):
        return lines[-1].replace("builtins.", "")
    return f"{type(e).__name__}: {lines[0] if lines else ''}"


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        raise ExportError(f"{message} (see --help)")


def parse_args(argv):
    p = _Parser(prog=PROG, description=__doc__,
                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True,
                   help="module:callable (or file.py:callable) that returns the nn.Module")
    p.add_argument("--weights", help="the trained weights: a file torch.save wrote (state_dict or "
                                     "a checkpoint dict holding one)")
    p.add_argument("--random-init", action="store_true",
                   help="export without --weights: the model's own initialisation, seeded by "
                        "--seed (for tests)")
    p.add_argument("--fc", help="path of the final linear layer, e.g. fc, linear, logits, "
                                "classifier.1 (default: found and printed)")
    p.add_argument("--input-shape", type=int, nargs=3, required=True, metavar=("C", "H", "W"),
                   help="image shape, used for the probe batch (and for tracing)")
    p.add_argument("--mean", type=float, nargs="+",
                   help="per-channel mean: the wrapper normalizes [0,1] inputs inside features()")
    p.add_argument("--std", type=float, nargs="+", help="per-channel std (with --mean)")
    p.add_argument("--layer", action="append", default=[], metavar="NAME",
                   help="tap this submodule's output (repeatable); replaces the default taps "
                        "(direct child modules with 4-D outputs); the feature map stays tapped")
    p.add_argument("--trace", action="store_true", help="trace instead of script")
    p.add_argument("--out", required=True, help="output TorchScript file")
    p.add_argument("--probe", help="also save a TorchScript module whose attributes `input` "
                                   "[B,C,H,W] and `logits` [B,C] hold a probe batch and the "
                                   "original model's logits (for tests)")
    p.add_argument("--probe-batch", type=int, default=4, help="probe batch size (default 4)")
    p.add_argument("--seed", type=int, default=0,
                   help="seed of the model's construction and of the probe batch (default 0)")
    p.add_argument("--rtol", type=float, default=1e-4,
                   help="relative tolerance of the logits and gradient checks (default 1e-4)")
    args = p.parse_args(argv)
    if args.weights is None and not args.random_init:
        raise ExportError("no --weights: pass the trained weights (--weights FILE, a file "
                          "torch.save wrote), or --random-init to export the untrained model")
    if args.weights is not None and args.random_init:
        raise ExportError("--weights and --random-init exclude each other")
    if (args.mean is None) != (args.std is None):
        raise ExportError("--mean and --std go together")
    if args.mean is not None:
        c = args.input_shape[0]
        if len(args.mean) != c or len(args.std) != c:
            raise ExportError(f"--mean/--std need {c} values (one per channel)")
        if any(s <= 0 for s in args.std):
            raise ExportError("--std values must be > 0")
    for flag, path in (("--out", args.out), ("--probe", args.probe)):
        if path is not None and not os.path.isdir(os.path.dirname(os.path.abspath(path))):
            raise ExportError(f"{flag} {path}: its folder does not exist")
    if args.probe_batch < 1:
        raise ExportError("--probe-batch must be >= 1")
    return args


# ---- loading ------------------------------------------------------------------------------------

def load_callable(spec: str):
    """'package.module:callable' or 'path/to/file.py:callable' -> the callable."""
    if ":" not in spec:
        raise ExportError(f"--model '{spec}': expected module:callable (or file.py:callable)")
    mod_name, attr = spec.rsplit(":", 1)
    try:
        if mod_name.endswith(".py"):
            if not os.path.isfile(mod_name):
                raise ExportError(f"--model: no such file {mod_name}")
            loader_spec = importlib.util.spec_from_file_location(
                os.path.splitext(os.path.basename(mod_name))[0], mod_name)
            module = importlib.util.module_from_spec(loader_spec)
            loader_spec.loader.exec_module(module)
        else:
            module = importlib.import_module(mod_name)
    except ExportError:
        raise
    except Exception as e:
        hint = ("; is its folder on PYTHONPATH? (scripts/export-model adds the current directory)"
                if isinstance(e, ImportError) else "")
        raise ExportError(f"--model: importing {mod_name} failed ({first_line(e)}){hint}")
    if not hasattr(module, attr):
        raise ExportError(f"--model: {mod_name} has no attribute '{attr}'")
    return getattr(module, attr)


def sha256_file(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _is_state_dict(obj) -> bool:
    return (isinstance(obj, dict) and len(obj) > 0 and all(isinstance(k, str) for k in obj)
            and all(torch.is_tensor(v) for v in obj.values()))


def find_state_dict(obj, where: str = "") -> Optional[Tuple[Dict[str, torch.Tensor], str]]:
    """The state_dict in what torch.load returned: obj itself, or one under STATE_DICT_KEYS
    (nested). Returns (state_dict, where it was) or None."""
    if _is_state_dict(obj):
        return obj, where
    if isinstance(obj, dict):
        for key in STATE_DICT_KEYS:
            if key in obj:
                found = find_state_dict(obj[key], f"{where}['{key}']")
                if found is not None:
                    return found
    return None


def load_weights(model: nn.Module, path: str) -> None:
    """Loads the state_dict in `path` into model; a mismatch names the first tensor at fault."""
    if not os.path.isfile(path):
        raise ExportError(f"--weights {path}: no such file")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise ExportError(f"--weights {path}: torch.load(weights_only=True) cannot read it "
                          f"({first_line(e)}); save just the state_dict with torch.save")
    found = find_state_dict(obj)
    if found is None:
        keys = list(obj)[:8] if isinstance(obj, dict) else type(obj).__name__
        raise ExportError(f"--weights {path}: no state_dict in it (a dict of tensors, or one "
                          f"under {', '.join(STATE_DICT_KEYS)}); it holds {keys}")
    sd, where = found
    expected = model.state_dict()
    for prefix in ("module.", "model."):
        while all(k.startswith(prefix) for k in sd) and not all(
                k.startswith(prefix) for k in expected):
            sd = {k[len(prefix):]: v for k, v in sd.items()}
    src = f"--weights {path}{where}"
    missing = [k for k in expected if k not in sd and not k.endswith("num_batches_tracked")]
    unexpected = [k for k in sd if k not in expected]
    misshaped = [k for k in expected if k in sd and sd[k].shape != expected[k].shape]
    more = lambda keys: f" (and {len(keys) - 1} more)" if len(keys) > 1 else ""  # noqa: E731
    if missing:
        raise ExportError(f"{src}: the model's tensor '{missing[0]}' is missing from the file"
                          f"{more(missing)}")
    if unexpected:
        raise ExportError(f"{src}: unexpected tensor '{unexpected[0]}' (the model has none of "
                          f"that name){more(unexpected)}")
    if misshaped:
        k = misshaped[0]
        raise ExportError(f"{src}: tensor '{k}' has shape {list(sd[k].shape)} in the file, "
                          f"{list(expected[k].shape)} in the model{more(misshaped)}")
    model.load_state_dict(sd, strict=False)


# ---- the model's parts --------------------------------------------------------------------------

def max_rel_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    """max |a - b| relative to max(1, max |b|): the logits check."""
    return float((a - b).abs().max()) / max(1.0, float(b.abs().max()))


def grad_rel_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    """max |a - b| relative to max |b|: the gradient check."""
    return float((a - b).abs().max()) / max(float(b.abs().max()), 1e-30)


def find_fc(model: nn.Module, xn: torch.Tensor, reference: torch.Tensor) -> str:
    """The last nn.Linear (module order) whose output is the logits."""
    linears = [(n, m) for n, m in model.named_modules() if isinstance(m, nn.Linear)]
    outputs = {}
    hooks = [m.register_forward_hook(lambda mod, i, o, n=n: outputs.__setitem__(n, o))
             for n, m in linears]
    try:
        with torch.no_grad():
            model(xn)
    finally:
        for h in hooks:
            h.remove()
    for name, _ in reversed(linears):
        o = outputs.get(name)
        if torch.is_tensor(o) and o.shape == reference.shape and max_rel_diff(o, reference) <= 1e-6:
            return name
    raise ExportError(f"no nn.Linear of the model outputs its logits (it has "
                      f"{len(linears)}); name the final layer with --fc")


def _applies(module: nn.Module, function_name: str) -> bool:
    fn = getattr(type(module).forward, "__globals__", {}).get(function_name)
    return isinstance(fn, type) and issubclass(fn, torch.autograd.Function)


def replace_custom_activations(model: nn.Module) -> List[str]:
    """Replaces the KNOWN_ACTIVATIONS in place, after checking each on random values (output and
    gradient); returns 'path: Old -> New' lines."""
    replaced, done = [], {}
    for path, m in list(model.named_modules(remove_duplicate=False)):
        for cls_name, fn_name, new_cls in KNOWN_ACTIVATIONS:
            if not path or type(m).__name__ != cls_name or not _applies(m, fn_name):
                continue
            if id(m) not in done:
                new = new_cls()
                t = torch.linspace(-8, 8, 161, requires_grad=True)
                (g_old,) = torch.autograd.grad(m(t).sum(), t)
                (g_new,) = torch.autograd.grad(new(t).sum(), t)
                with torch.no_grad():
                    d = max_rel_diff(new(t), m(t))
                if d > 1e-6 or grad_rel_diff(g_new, g_old) > 1e-5:
                    raise ExportError(f"{path}: this {cls_name} does not compute what "
                                      f"{new_cls.__name__} does; cannot replace it")
                done[id(m)] = new
            set_attr_path(model, path, done[id(m)])
            replaced.append(f"{path}: {cls_name} -> {new_cls.__name__}")
    return replaced


# ---- compiling, checking, saving ----------------------------------------------------------------

def submodule(root, dotted: str):
    for part in dotted.split("."):
        root = getattr(root, part)
    return root


def compile_wrapper(args, inst: Instrumented, fc: nn.Module, xn: torch.Tensor):
    """(compiled SfbModel, "script" or "trace")."""
    def wrap(body, head):
        return SfbModel(body, head, args.mean, args.std, [t[0] for t in inst.taps],
                        [f"body.{t[1]}" for t in inst.taps],
                        [f"body.{p}" for p in inst.relus]).eval()
    if not args.trace:
        try:
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message=".*instance-level annotations.*")
                return torch.jit.script(wrap(inst.body, fc)), "script"
        except Exception as e:  # scripting rejects many Python constructs; tracing may still work
            note(f"torch.jit.script failed ({first_line(e)}); falling back to torch.jit.trace: "
                 f"control flow is frozen for inputs of shape {list(xn.shape[1:])}")
    body = inst.body
    for path in [t[1] for t in inst.taps] + inst.relus:  # keep their control flow
        set_attr_path(body, path, torch.jit.script(body.get_submodule(path)))
    try:
        with torch.no_grad():
            a = torch.flatten(body(xn), 1)
        traced_body = torch.jit.trace(body, xn, check_trace=False)
        traced_fc = torch.jit.trace(fc, a, check_trace=False)
        return torch.jit.script(wrap(traced_body, traced_fc)), "trace"
    except ExportError:
        raise
    except Exception as e:
        raise ExportError(f"torch.jit.trace failed ({first_line(e)})")


def reset_state(compiled, inst: Instrumented) -> None:
    for _, path, _ in inst.taps:
        tap = submodule(compiled.body, path)
        tap.mode, tap.stored, tap.value = 0, torch.empty(0), torch.empty(0)
    for path in inst.relus:
        r = submodule(compiled.body, path)
        r.record, r.outputs = False, []


def verify(compiled, inst: Instrumented, x, reference, ref_grad, rtol: float, fc_name: str):
    try:
        with torch.no_grad():
            feats = compiled.features(x)
            split = compiled.head(feats)
            whole = compiled.forward(x)
    except (RuntimeError, torch.jit.Error) as e:
        raise ExportError(f"the exported module fails on the probe batch ({first_line(e)}); is "
                          f"'{fc_name}' the final layer?")
    if feats.dim() != 2:
        raise ExportError(f"features() returned shape {list(feats.shape)}, expected [B, k]")
    for what, out in (("head(features(x))", split), ("forward(x)", whole)):
        d = max_rel_diff(out, reference) if out.shape == reference.shape else float("inf")
        if not d <= rtol:
            raise ExportError(f"{what} differs from the original model(x) by {d:.3g} (relative; "
                              f"allowed {rtol}); is '{fc_name}' the final layer?")
    if ref_grad is not None:
        xg = x.clone().requires_grad_(True)
        (grad,) = torch.autograd.grad(compiled(xg).sum(), xg)
        d = grad_rel_diff(grad, ref_grad)
        if not d <= rtol:
            raise ExportError(f"the input gradient differs from the original model's by {d:.3g} "
                              f"(relative; allowed {rtol})")
    taps = [submodule(compiled.body, path) for _, path, _ in inst.taps]
    for t in taps:
        t.mode = 1
    with torch.no_grad():
        compiled(x)
    for (name, _, shape), t in zip(inst.taps, taps):
        if list(t.stored.shape) != shape:
            raise ExportError(f"tap '{name}' recorded shape {list(t.stored.shape)}, expected "
                              f"{shape}")
    if taps:
        last = taps[-1]
        for t in taps:
            t.mode = 0
        last.mode, last.value = 2, last.stored
        with torch.no_grad():
            d = max_rel_diff(compiled(x), whole)
        if not d <= rtol:
            raise ExportError(f"replacing tap '{inst.taps[-1][0]}' by its own output changes the "
                              f"logits by {d:.3g}")
        last.value = torch.zeros(1)
        try:
            with torch.no_grad():
                compiled(x)
            raise ExportError(f"tap '{inst.taps[-1][0]}' accepted a value of the wrong shape")
        except (RuntimeError, torch.jit.Error) as e:  # a scripted raise is a torch.jit.Error
            if "replacement shape differs" not in str(e):
                raise
    reset_state(compiled, inst)
    return feats, split


def save_module(module, path: str) -> None:
    """torch.jit.save through a buffer (the zip's folder is then `archive/`, whatever the file's
    name), written to a temporary file and renamed."""
    buf = io.BytesIO()
    try:
        torch.jit.save(module, buf)
    except Exception as e:
        raise ExportError(f"torch.jit.save cannot write the compiled module ({first_line(e)})")
    # A temporary name unique to this run, created exclusively and never through a symbolic
    # link, removed when anything fails (the rule sfbench's own files follow).
    tmp = f"{path}.{os.getpid()}.{secrets.token_hex(6)}.partial"
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(buf.getvalue())
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            try:
                os.remove(tmp)
            except OSError:
                pass
            raise
    except OSError as e:
        raise ExportError(f"--out {path}: cannot write it ({first_line(e)})")


class ProbeHolder(nn.Module):
    """Carries a probe batch and reference logits as TorchScript attributes (readable from C++)."""

    def __init__(self, x: torch.Tensor, logits: torch.Tensor):
        super().__init__()
        self.register_buffer("input", x.detach().clone())
        self.register_buffer("logits", logits.detach().clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


def export(args) -> None:
    torch.manual_seed(args.seed)
    build = load_callable(args.model)
    try:
        model = build()
    except Exception as e:
        raise ExportError(f"--model: {args.model}() failed ({first_line(e)})")
    if not isinstance(model, nn.Module):
        raise ExportError(f"--model: {args.model} returned {type(model).__name__}, not nn.Module")
    if args.weights:
        load_weights(model, args.weights)
    model.eval()

    gen = torch.Generator().manual_seed(args.seed)
    x = torch.rand(args.probe_batch, *args.input_shape, generator=gen)

    def normalized(t):
        if args.mean is None:
            return t
        return (t - torch.tensor(args.mean).view(1, -1, 1, 1)) / torch.tensor(args.std).view(
            1, -1, 1, 1)
    try:
        with torch.no_grad():
            reference = model(normalized(x))
    except Exception as e:
        raise ExportError(f"the model fails on a probe batch of shape {list(x.shape)} "
                          f"({first_line(e)}); check --input-shape")
    if not torch.is_tensor(reference) or reference.dim() != 2:
        raise ExportError("the model's output is not a [B, C] tensor of logits")
    try:
        xg = x.clone().requires_grad_(True)
        (ref_grad,) = torch.autograd.grad(model(normalized(xg)).sum(), xg)
    except Exception as e:
        ref_grad = None
        note(f"the original model has no input gradient ({first_line(e)}); not checked")

    xn = normalized(x)
    auto_fc = args.fc is None
    fc_name = find_fc(model, xn, reference) if auto_fc else args.fc
    fc = get_attr_path(model, fc_name, "--fc")
    if auto_fc:
        note(f"final linear layer: '{fc_name}' (the last nn.Linear whose output is the logits; "
             "--fc names another)")
    elif not isinstance(fc, nn.Linear):
        note(f"--fc '{fc_name}' is a {type(fc).__name__}, not nn.Linear")
    replaced = replace_custom_activations(model)
    for line in replaced:
        note(f"replaced {line}")
    set_attr_path(model, fc_name, nn.Identity())

    try:
        inst = instrument_fx(model, xn, args.layer)
    except ExportError:
        raise
    except Exception as e:
        note(f"torch.fx cannot trace the model ({first_line(e)})")
        inst = instrument_modules(model, xn, args.layer)
    inst.replaced = replaced + inst.replaced
    n_fn = sum(1 for r in inst.replaced if r.endswith("-> SfbReLU") and ": ReLU ->" not in r)
    print(f"{PROG}: {len(inst.relus)} switchable ReLUs ({n_fn} of them functional calls); "
          f"taps: {', '.join(f'{n} {s}' for n, _, s in inst.taps) or 'none'}; feature map: "
          f"{inst.feature_map}")

    compiled, how = compile_wrapper(args, inst, fc, xn)
    with torch.jit.optimized_execution(False):  # a few calls: the optimizing passes cost more
        feats, split = verify(compiled, inst, x, reference, ref_grad, args.rtol, fc_name)
    compiled.sfb_export = json.dumps({
        "model": args.model,
        "weights_sha256": sha256_file(args.weights) if args.weights else None,
        "fc": {"path": fc_name, "auto_detected": auto_fc},
        "replaced": inst.replaced,
        "feature_map": inst.feature_map,
        "torch": torch.__version__,
        "mean": args.mean, "std": args.std,
        "input_shape": list(args.input_shape),
        "compiled": how,
        "fx_traced": inst.fx_traced,
    }, sort_keys=True)
    save_module(compiled, args.out)
    if args.probe:
        save_module(torch.jit.script(ProbeHolder(x, reference)), args.probe)
    print(f"{PROG}: wrote {args.out}: k = {feats.shape[1]}, C = {split.shape[1]}, "
          f"{len(inst.taps)} taps, {len(inst.relus)} switchable ReLUs ({how})")


def main(argv=None) -> int:
    try:
        export(parse_args(argv))
        return 0
    except ExportError as e:
        print(f"{PROG}: error: {e}", file=sys.stderr)
    except Exception as e:  # one line, not a traceback; SFB_EXPORT_TRACEBACK=1 shows it
        if os.environ.get("SFB_EXPORT_TRACEBACK"):
            traceback.print_exc()
        print(f"{PROG}: error: unexpected {first_line(e)} (SFB_EXPORT_TRACEBACK=1 shows where)",
              file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
