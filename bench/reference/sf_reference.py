#!/usr/bin/env python3
"""The SF stage's per-batch work (SPEC.md §2) written directly in PyTorch, timed the way
bench/bench_sf.cpp times sfbench's SfStage::add, so bench/ratios.py can pair the two.

Per batch (the same as SfStage::add with the default config; sfbench additionally checks labels and
values for NaN/inf, which is not done here):
  a = features(x) under no_grad                                 [B, k]
  closed form: logits = b + a W^T, c = a * W[y]                 (sf.fast_path = true)
  autograd:    leaf = a.requires_grad_(); logits = head(leaf); g = d(sum z_y)/d leaf; c = a * g
  pred = argmax(logits); c64 = float64(c); sum += Σ c64; class_sum.index_add_(y, c64); class count
  w ~ Poisson(1) [R = 200, B] float64; boot_sum.addmm_(w, c64); boot_weight += Σ_j w
  correct += Σ [pred == y]; per-sample index, label and prediction kept on the CPU
(sfbench draws w from its counter-based RNG keyed by (seed, global index, replicate); here
torch.poisson draws them, which is what a plain PyTorch implementation would do.)

Besides, BM_FeaturesPyTorch/<arch>/<batch> times the features forward alone (C++: BM_Features),
and BM_SfAccumulatorAddPyTorch/<k> the float64 sums alone (the Accumulator below, SfAccumulator::add
in C++: BM_SfAccumulatorAdd) for a random c [B, k], without a model.

The models mirror the C++ zoo (src/sfb/models/cifar_nets.cpp): normalization inside the model,
ReLU, BatchNorm in eval mode, bias-free convolutions, the same random initialisation scheme, and
modules named and registered in the same order (conv1, bn1, ..., block1.0.conv1, ..., fc); the
parameter counts are those `sfbench info --model zoo:<arch>` prints (bench/ratios.py compares the
counter params of the two sides).

Output: Google-Benchmark-style JSON (--out) with one entry per repetition and the aggregates
mean/median/stddev, named BM_SfStagePyTorch/<arch>/<closed-form|autograd>/<batch>/process_time/
manual_time (the C++ names with BM_SfStage), with the counters images_per_s, torch_threads, k and
params; real_time is the wall time and cpu_time the process CPU time (all threads) per batch, as
in the C++ benchmark. Each repetition runs N timed batches with N = max(1, ceil(min_time / time of
the warm-up batch)); the timed region is the per-batch work only, as on the C++ side
(SetIterationTime around SfStage::add).

--quick: cnn-small, batch 16, 1 repetition of 1 batch, and a check that the closed form and
autograd give the same Shapley values (a smoke test for ctest).
"""
import argparse
import datetime
import json
import math
import os
import platform
import re
import statistics
import subprocess
import sys
import time

import torch
from torch import nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import devices  # noqa: E402

CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR10_STD = (0.2470, 0.2435, 0.2616)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
NUM_CLASSES = 10
REPLICATES = 200
SEED = 20261122
PATHS = ("closed-form", "autograd")


def conv3x3(cin, cout, stride=1):
    return nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)


def conv1x1(cin, cout, stride=1):
    return nn.Conv2d(cin, cout, 1, stride=stride, bias=False)


class NativeModel(nn.Module):
    """Normalization buffers, the Linear head "fc", features()/head() as in NativeModel."""

    def __init__(self, num_classes=NUM_CLASSES, mean=CIFAR10_MEAN, std=CIFAR10_STD):
        super().__init__()
        self.register_buffer("mean", torch.tensor(mean).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(std).view(1, 3, 1, 1))
        self.num_classes = num_classes

    def make_head(self, k):
        self.k = k
        self.fc = nn.Linear(k, self.num_classes)

    def init_weights(self):
        """He-normal (fan_out, ReLU) convolutions, BN γ = 1 and β = 0, zero Linear bias."""
        with torch.no_grad():
            for m in self.modules():
                if isinstance(m, nn.Conv2d):
                    nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                elif isinstance(m, nn.BatchNorm2d):
                    m.weight.fill_(1.0)
                    m.bias.zero_()
                elif isinstance(m, nn.Linear):
                    m.bias.zero_()

    def features(self, x):
        return self.body((x - self.mean) / self.std)

    def head(self, a):
        return self.fc(a)

    def forward(self, x):
        return self.head(self.features(x))


class CnnSmall(NativeModel):
    """conv3×3-BN-ReLU ×3 (32, 64, 128), 2×2 max pool after the first two, global mean."""

    def __init__(self):
        super().__init__()
        widths = (3, 32, 64, 128)
        for i in range(3):
            setattr(self, f"conv{i + 1}", conv3x3(widths[i], widths[i + 1]))
            setattr(self, f"bn{i + 1}", nn.BatchNorm2d(widths[i + 1]))
        self.make_head(128)
        self.init_weights()

    def body(self, h):
        for i in range(3):
            h = torch.relu(getattr(self, f"bn{i + 1}")(getattr(self, f"conv{i + 1}")(h)))
            if i < 2:
                h = torch.max_pool2d(h, 2)
        return h.mean((2, 3))


class PreActBlock(nn.Module):
    """relu(bn1(x)) feeds the 1×1 projection (shape change) and conv1 -> bn2 -> relu -> conv2."""

    def __init__(self, cin, cout, stride):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(cin)
        self.conv1 = conv3x3(cin, cout, stride)
        self.bn2 = nn.BatchNorm2d(cout)
        self.conv2 = conv3x3(cout, cout)
        self.shortcut = conv1x1(cin, cout, stride) if stride != 1 or cin != cout else None

    def forward(self, x):
        pre = torch.relu(self.bn1(x))
        sc = self.shortcut(pre) if self.shortcut is not None else x
        h = self.conv1(pre)
        h = self.conv2(torch.relu(self.bn2(h)))
        return h + sc


class WideResNet(NativeModel):
    """WRN-depth-widen: 16-channel stem, 3 stages of (depth-4)/6 blocks (16w, 32w, 64w; strides
    1, 2, 2), final BN-ReLU, global mean."""

    def __init__(self, depth=28, widen=10):
        super().__init__()
        n = (depth - 4) // 6
        self.conv1 = conv3x3(3, 16)
        cin = 16
        for s, stride in enumerate((1, 2, 2)):
            cout = (16 << s) * widen
            blocks = [PreActBlock(cin if i == 0 else cout, cout, stride if i == 0 else 1)
                      for i in range(n)]
            setattr(self, f"block{s + 1}", nn.ModuleList(blocks))
            cin = cout
        self.bn = nn.BatchNorm2d(cin)
        self.make_head(cin)
        self.init_weights()

    def body(self, h):
        h = self.conv1(h)
        for s in range(3):
            for b in getattr(self, f"block{s + 1}"):
                h = b(h)
        return torch.relu(self.bn(h)).mean((2, 3))


class Bottleneck(nn.Module):
    """conv1x1-BN-ReLU-conv3x3(stride)-BN-ReLU-conv1x1-BN, plus the shortcut, then ReLU; expansion
    4, the stride on the 3x3 conv (ResNet v1.5); projection "downsample" = conv1x1 + BN."""

    def __init__(self, cin, planes, stride):
        super().__init__()
        out = planes * 4
        self.conv1 = conv1x1(cin, planes)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = conv3x3(planes, planes, stride)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = conv1x1(planes, out)
        self.bn3 = nn.BatchNorm2d(out)
        self.downsample = (nn.Sequential(conv1x1(cin, out, stride), nn.BatchNorm2d(out))
                           if stride != 1 or cin != out else None)

    def forward(self, x):
        h = torch.relu(self.bn1(self.conv1(x)))
        h = torch.relu(self.bn2(self.conv2(h)))
        h = self.bn3(self.conv3(h))
        return torch.relu(h + (self.downsample(x) if self.downsample is not None else x))


class ResNet50(NativeModel):
    """The C++ zoo's resnet-50 (src/sfb/models/resnet.cpp, torchvision's ImageNet layout and
    module names): 7x7/2 stem conv, BN, ReLU, 3x3/2 max pool, stages layer1..layer4 of 3, 4, 6, 3
    bottlenecks (64, 128, 256, 512 planes; strides 1, 2, 2, 2), global mean, fc 2048 -> 1000;
    ImageNet normalization inside the model."""

    def __init__(self):
        super().__init__(1000, IMAGENET_MEAN, IMAGENET_STD)
        self.conv1 = nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        cin = 64
        for s, n in enumerate((3, 4, 6, 3)):
            planes = 64 << s
            blocks = [Bottleneck(cin if i == 0 else planes * 4, planes,
                                 (1 if s == 0 else 2) if i == 0 else 1) for i in range(n)]
            setattr(self, f"layer{s + 1}", nn.ModuleList(blocks))
            cin = planes * 4
        self.make_head(cin)
        self.init_weights()

    def body(self, h):
        h = torch.max_pool2d(torch.relu(self.bn1(self.conv1(h))), 3, 2, 1)
        for s in range(4):
            for b in getattr(self, f"layer{s + 1}"):
                h = b(h)
        return h.mean((2, 3))


MODELS = {"cnn-small": CnnSmall, "wrn-28-10": lambda: WideResNet(28, 10), "resnet-50": ResNet50}
# Parameter counts of the C++ zoo (`sfbench info --model zoo:<arch>`); --quick checks the mirrors.
ZOO_PARAMS = {"resnet-50": 25557032}


class Accumulator:
    """The float64 sums of SfAccumulator: Σ c, per-class Σ c and counts, the Poisson bootstrap
    weighted sums and weights, and the number of correct predictions."""

    def __init__(self, k, num_classes, replicates=REPLICATES, device="cpu"):
        f64 = {"dtype": torch.float64, "device": device}
        self.replicates = replicates
        self.sum = torch.zeros(k, **f64)
        self.class_sum = torch.zeros(num_classes, k, **f64)
        self.class_count = torch.zeros(num_classes, **f64)
        self.boot_sum = torch.zeros(replicates, k, **f64)
        self.boot_weight = torch.zeros(replicates, **f64)
        self.count = self.correct = 0

    def add(self, c, labels, correct):
        """c [B, k] float; labels [B] int64; correct [B] bool."""
        c64 = c.to(torch.float64)
        n = c64.size(0)
        self.sum += c64.sum(0)
        self.class_sum.index_add_(0, labels, c64)
        self.class_count.index_add_(0, labels, torch.ones_like(c64[:, 0]))
        if self.replicates > 0:
            w = torch.poisson(torch.ones(self.replicates, n, dtype=torch.float64, device=c64.device))
            self.boot_sum.addmm_(w, c64)
            self.boot_weight += w.sum(1)
        self.count += n
        self.correct += int(correct.sum().item())


class SfReference:
    """SfStage::add: the probe's c(x), the Accumulator and the per-sample columns."""

    def __init__(self, model, fast_path, replicates=REPLICATES):
        self.model, self.fast_path = model, fast_path
        device = next(model.parameters()).device
        self.acc = Accumulator(model.k, model.num_classes, replicates, device)
        self.index, self.labels, self.preds = [], [], []

    def add(self, images, labels, index):
        """images [B, 3, H, W] float32 in [0, 1]; labels, index [B] int64. Returns c [B, k]."""
        dev = self.acc.sum.device
        images, labels = images.to(dev), labels.to(dev)
        with torch.no_grad():
            a = self.model.features(images)
        if self.fast_path:
            with torch.no_grad():
                w, b = self.model.fc.weight, self.model.fc.bias
                logits = torch.addmm(b, a, w.t())
                c = a * w.index_select(0, labels)
        else:
            with torch.enable_grad():
                leaf = a.detach().requires_grad_(True)
                logits = self.model.head(leaf)
                t = logits.gather(1, labels.unsqueeze(1)).squeeze(1)
                (g,) = torch.autograd.grad(t.sum(), leaf)
            logits = logits.detach()
            c = a * g
        pred = logits.argmax(1)
        self.acc.add(c, labels, pred.eq(labels))
        self.index.append(index)
        self.labels.append(labels.cpu())
        self.preds.append(pred.cpu())
        return c


def build(arch, batch, resolution=32, device="cpu"):
    """(model on `device` in eval mode, images [batch, 3, res, res] and labels on the CPU)."""
    torch.manual_seed(SEED)
    model = MODELS[arch]().eval().to(device)
    images = torch.rand(batch, 3, resolution, resolution)
    labels = torch.randint(0, model.num_classes, (batch,), dtype=torch.int64)
    return model, images, labels


def time_runs(work, batch, repetitions, min_time, warmup):
    """Times work(index) on consecutive global indices: `warmup` untimed calls, then per
    repetition N = max(1, ceil(min_time / last warm-up time)) timed calls. Returns one dict per
    repetition (iterations, wall seconds, process CPU seconds)."""
    next_index = 0

    def step():
        nonlocal next_index
        index = torch.arange(next_index, next_index + batch, dtype=torch.int64)
        next_index += batch
        devices.sync()
        t0, c0 = time.perf_counter(), time.process_time()
        with devices.precision_scope():
            work(index)
        devices.sync()
        return time.perf_counter() - t0, time.process_time() - c0

    warm = [step() for _ in range(max(1, warmup))][-1][0]
    iters = max(1, math.ceil(min_time / warm)) if min_time > 0 else 1
    runs = []
    for _ in range(repetitions):
        times = [step() for _ in range(iters)]
        runs.append({"iterations": iters, "seconds": sum(t for t, _ in times),
                     "cpu_seconds": sum(c for _, c in times)})
    return runs


def run_stage(path, data, args):
    """Times SfReference.add on one batch of `data` = (model, images, labels)."""
    model, images, labels = data
    ref = SfReference(model, path == "closed-form")
    runs = time_runs(lambda index: ref.add(images, labels, index), args.batch, args.repetitions,
                     args.min_time, args.warmup)
    params = sum(p.numel() for p in model.parameters())
    return runs, {"torch_threads": torch.get_num_threads(), "k": model.k, "params": params}


def run_features(data, args):
    """Times model.features under no_grad alone (the C++ BM_Features)."""
    model, images, _ = data

    def work(_index):
        with torch.no_grad():
            model.features(images)

    runs = time_runs(work, args.batch, args.repetitions, args.min_time, args.warmup)
    params = sum(p.numel() for p in model.parameters())
    return runs, {"torch_threads": torch.get_num_threads(), "params": params}


def run_accumulator(k, args):
    """Times Accumulator.add of a random c [batch, k] (the C++ BM_SfAccumulatorAdd)."""
    torch.manual_seed(SEED)
    c = torch.randn(args.batch, k)
    labels = torch.randint(0, NUM_CLASSES, (args.batch,), dtype=torch.int64)
    correct = torch.rand(args.batch) < 0.5
    acc = Accumulator(k, NUM_CLASSES)
    runs = time_runs(lambda index: acc.add(c, labels, correct), args.batch, args.repetitions,
                     args.min_time, args.warmup)
    return runs, {"torch_threads": torch.get_num_threads()}


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def git_commit():
    here = os.path.dirname(os.path.abspath(__file__))
    try:
        return subprocess.run(["git", "-C", here, "rev-parse", "HEAD"], capture_output=True,
                              text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return ""


def context_block(script):
    """The Google Benchmark "context" of a reference run by `script` (host, CPU, torch, threads,
    commit)."""
    return {
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "host_name": platform.node(),
        "executable": os.path.abspath(script),
        "num_cpus": os.cpu_count(),
        "cpu_model": cpu_model(),
        "library_build_type": "release",
        "python": platform.python_version(),
        "torch": torch.__version__,
        "threads": str(torch.get_num_threads()),
        "git_commit": git_commit(),
        "world_size": "1",
        "communicator": "none (PyTorch reference)",
        "allocator": allocator(),
        **devices.device_context(),
    }


def allocator():
    """The glibc malloc tunables in this process's environment (sfbench records its own)."""
    keys = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "GLIBC_TUNABLES")
    found = [f"{k}={os.environ[k]}" for k in keys if k in os.environ]
    return ", ".join(found) if found else "glibc defaults"


def entries(name, runs, counters, batch):
    """Google Benchmark JSON entries: one per repetition, then mean/median/stddev."""
    out = []
    rows = []
    for i, r in enumerate(runs):
        ms = r["seconds"] / r["iterations"] * 1e3
        cpu_ms = r["cpu_seconds"] / r["iterations"] * 1e3
        rate = r["iterations"] * batch / r["seconds"]
        row = {"name": name, "run_name": name, "run_type": "iteration",
               "repetitions": len(runs), "repetition_index": i, "threads": 1,
               "iterations": r["iterations"], "real_time": ms, "cpu_time": cpu_ms,
               "time_unit": "ms", "images_per_s": rate, **counters}
        rows.append(row)
    out.extend(rows)
    stats = {"mean": statistics.mean, "median": statistics.median,
             "stddev": lambda v: statistics.stdev(v) if len(v) > 1 else 0.0}
    for agg, fn in stats.items():
        out.append({"name": f"{name}_{agg}", "run_name": name, "run_type": "aggregate",
                    "repetitions": len(runs), "threads": 1, "aggregate_name": agg,
                    "iterations": len(runs),
                    "real_time": fn([r["real_time"] for r in rows]),
                    "cpu_time": fn([r["cpu_time"] for r in rows]), "time_unit": "ms",
                    "images_per_s": fn([r["images_per_s"] for r in rows]),
                    **(counters if agg != "stddev" else {k: 0.0 for k in counters})})
    return out


def reference_parser(doc, unit="batches"):
    """The command line every paired reference script shares (run_benchmarks.sh passes these)."""
    p = argparse.ArgumentParser(description=doc.split("\n")[0])
    p.add_argument("--repetitions", type=int, default=3)
    p.add_argument("--min-time", type=float, default=0.5,
                   help=f"seconds of timed {unit} per repetition (at least one)")
    p.add_argument("--warmup", type=int, default=1, help=f"untimed {unit} first")
    p.add_argument("--threads", type=int, default=os.cpu_count())
    p.add_argument("--filter", default=".", help="regular expression on the benchmark names")
    p.add_argument("--out", help="write Google-Benchmark-style JSON here")
    p.add_argument("--quick", action="store_true", help="smoke test (see the module doc)")
    devices.add_device_args(p)
    return p


def record_entries(benchmarks, name, runs, counters, items, width=60):
    """Appends the JSON entries of one benchmark (entries()) and prints its median row."""
    rows = entries(name, runs, counters, items)
    benchmarks.extend(rows)
    med = next(r for r in rows if r.get("aggregate_name") == "median")
    print(f"{name:<{width}} {med['real_time']:>10.3f}ms {med['images_per_s']:>11.1f}", flush=True)


def write_results(path, benchmarks, script):
    """Writes Google-Benchmark-style JSON (context_block(script) and `benchmarks`) to `path`."""
    with open(path, "w") as f:
        json.dump({"context": context_block(script), "benchmarks": benchmarks}, f, indent=2)
        f.write("\n")
    print(f"wrote {path}")


def quick_check(threads):
    """Closed form and autograd agree on the same batch (the reference computes what it claims)."""
    model, images, labels = build("cnn-small", 16)
    index = torch.arange(16)
    closed = SfReference(model, True, replicates=0).add(images, labels, index)
    auto = SfReference(model, False, replicates=0).add(images, labels, index)
    if not torch.allclose(closed, auto, rtol=1e-5, atol=1e-6):
        sys.exit(f"sf_reference: closed form and autograd differ by "
                 f"{(closed - auto).abs().max().item():g}")
    print(f"sf_reference: closed form == autograd on cnn-small (threads {threads})")
    for arch, want in ZOO_PARAMS.items():
        got = sum(t.numel() for t in MODELS[arch]().parameters())
        if got != want:
            sys.exit(f"sf_reference: the {arch} mirror has {got} parameters, the zoo {want}")
    print("sf_reference: parameter counts equal the C++ zoo's: "
          + ", ".join(f"{a} {n}" for a, n in ZOO_PARAMS.items()))


def run_gpu(args, benchmarks):
    """The GPU configurations (devices.gpu_configs(); bench_sf.cpp's BM_SfStage/gpu/...): the
    closed form, images handed over on the CPU, on --device."""
    wanted = re.compile(args.filter)
    for arch, res, batch, tag in devices.gpu_configs():
        name = f"BM_SfStagePyTorch/{tag}/closed-form/{batch}/manual_time"
        if not wanted.search(name):
            continue
        model, images, labels = build(arch, batch, res, devices.device())
        devices.calibrate_bn(model, res)
        ref = SfReference(model, True)
        counters = {"torch_threads": torch.get_num_threads(), "k": model.k,
                    "params": sum(p.numel() for p in model.parameters())}
        if args.count_flops:
            counters["flops_per_image"] = devices.count_flops(
                lambda: ref.add(images, labels, torch.arange(batch)), batch)
        runs = time_runs(lambda index: ref.add(images, labels, index), batch, args.repetitions,
                         args.min_time, args.warmup)
        record_entries(benchmarks, name, runs, counters, batch, 70)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--models", nargs="*", default=["cnn-small", "wrn-28-10"],
                   choices=list(MODELS))
    p.add_argument("--paths", nargs="*", default=list(PATHS), choices=PATHS)
    p.add_argument("--accumulator-k", nargs="*", type=int, default=[128, 640],
                   help="also time the float64 sums alone for c [batch, k] (no model)")
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--repetitions", type=int, default=3)
    p.add_argument("--min-time", type=float, default=0.5,
                   help="seconds of timed batches per repetition (at least one batch)")
    p.add_argument("--warmup", type=int, default=1, help="untimed batches first")
    p.add_argument("--threads", type=int, default=os.cpu_count(),
                   help="intra-op threads (sfbench: cores / ranks on the node)")
    p.add_argument("--filter", default=".",
                   help="run only the benchmarks whose name this regular expression matches "
                        "(like --benchmark_filter; the same expression can select both sides)")
    p.add_argument("--out", help="write Google-Benchmark-style JSON here")
    p.add_argument("--quick", action="store_true",
                   help="smoke test: cnn-small, batch 16, one batch, plus a consistency check")
    devices.add_device_args(p)
    args = p.parse_args()
    devices.configure(args)
    if args.quick:
        args.models, args.batch, args.repetitions, args.min_time = ["cnn-small"], 16, 1, 0.0
        args.accumulator_k = [128]
    torch.set_num_threads(args.threads)
    if args.quick:
        quick_check(args.threads)

    benchmarks = []
    print(f"{'benchmark':<70} {'time/iter':>12} {'images/s':>10}")

    def record(name, runs, counters):
        rows = entries(name, runs, counters, args.batch)
        benchmarks.extend(rows)
        med = next(r for r in rows if r.get("aggregate_name") == "median")
        print(f"{name:<70} {med['real_time']:>10.3f}ms {med['images_per_s']:>10.1f}", flush=True)

    suffix = "process_time/manual_time"
    wanted = re.compile(args.filter)
    if args.gpu_configs:
        run_gpu(args, benchmarks)
        args.models, args.accumulator_k = [], []
    for arch in args.models:
        stage = {path: f"BM_SfStagePyTorch/{arch}/{path}/{args.batch}/{suffix}"
                 for path in args.paths}
        features = f"BM_FeaturesPyTorch/{arch}/{args.batch}/{suffix}"
        if not any(wanted.search(n) for n in [*stage.values(), features]):
            continue
        data = build(arch, args.batch)
        for path, name in stage.items():
            if wanted.search(name):
                record(name, *run_stage(path, data, args))
        if wanted.search(features):
            record(features, *run_features(data, args))
    for k in args.accumulator_k:
        name = f"BM_SfAccumulatorAddPyTorch/{k}/{suffix}"
        if wanted.search(name):
            record(name, *run_accumulator(k, args))
    if args.out:
        context = context_block(__file__)
        with open(args.out, "w") as f:
            json.dump({"context": context, "benchmarks": benchmarks}, f, indent=2)
            f.write("\n")
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
