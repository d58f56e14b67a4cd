#!/usr/bin/env python3
"""PGD-10 (SPEC.md §3's default PGD) written directly in PyTorch, timed the way
bench/bench_pgd.cpp times sfbench's registered "pgd" attack, so bench/ratios.py can pair the two.

Per batch (x in [0, 1], y = the model's clean predictions, so every sample is attacked):
  clean forward under no_grad; correct = argmax == y (all of them)
  x_adv = clamp(x + U(-eps, eps), 0, 1)                      (random start, torch.rand)
  10 times: loss = CE(model(x_adv), y) summed; g = d loss / d x_adv (input gradient only);
            x_adv = clamp(clamp(x_adv + alpha sign(g) - x, -eps, eps) + x, 0, 1)
  final forward under no_grad; robust = correct & (argmax == y); per-sample linf norm
eps = 8/255, alpha = 2/255. sfbench additionally checks logits for NaN/inf and gradients for zero
rows, and draws its random start from a counter-based RNG keyed by (seed, global index, restart);
this is what a plain PyTorch PGD does.

Benchmarks: BM_PgdPyTorch/<arch>/<batch>/process_time/manual_time for cnn-small at batch 256 and
wrn-28-10 at batch 16 (bench_pgd.cpp explains the batch sizes), with the counters images_per_s,
passes_per_image (12), torch_threads and params; the models are sf_reference.py's mirrors of the
C++ zoo. Output: Google-Benchmark-style JSON (--out), as sf_reference.py writes.

With --gpu-configs: BM_PgdPyTorch/gpu/<arch>/<res>px/<batch>/manual_time for the configurations
of devices.py on --device (bench_pgd.cpp's BM_Pgd/gpu/...).

--quick: cnn-small, batch 8, one batch, plus a check that every perturbation stays in the
eps-ball and [0, 1] and that PGD raises the mean cross-entropy (a smoke test).
"""
import os
import re
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import devices  # noqa: E402
from sf_reference import (MODELS, SEED, record_entries, reference_parser,  # noqa: E402
                          time_runs, write_results)

EPS = 8 / 255
ALPHA = 2 / 255
STEPS = 10
CONFIGS = {"cnn-small": 256, "wrn-28-10": 16}


def pgd(model, x, y):
    """PGD-10 linf with a random start. Returns (x_adv, robust [B] bool, linf norm [B])."""
    with torch.no_grad():
        correct = model(x).argmax(1).eq(y)
    x_adv = (x + torch.empty_like(x).uniform_(-EPS, EPS)).clamp(0, 1)
    for _ in range(STEPS):
        x_adv.requires_grad_(True)
        loss = F.cross_entropy(model(x_adv), y, reduction="sum")
        (g,) = torch.autograd.grad(loss, x_adv)
        x_adv = x_adv.detach() + ALPHA * g.sign()
        x_adv = (x + (x_adv - x).clamp(-EPS, EPS)).clamp(0, 1)
    with torch.no_grad():
        robust = correct & model(x_adv).argmax(1).eq(y)
    return x_adv, robust, (x_adv - x).flatten(1).abs().amax(1)


def setup(arch, batch, resolution=32, device="cpu", calibrate=False):
    torch.manual_seed(SEED)
    model = MODELS[arch]().eval().to(device)
    if calibrate:  # the GPU configurations, as bench_pgd.cpp
        devices.calibrate_bn(model, resolution)
    images = torch.rand(batch, 3, resolution, resolution).to(device)
    with torch.no_grad():
        labels = model(images).argmax(1)
    return model, images, labels


def quick_check():
    model, x, y = setup("cnn-small", 8)
    x_adv, robust, norm = pgd(model, x, y)
    if norm.max().item() > EPS + 1e-6 or x_adv.min().item() < 0 or x_adv.max().item() > 1:
        sys.exit("pgd_reference: a perturbation left the eps-ball or [0, 1]")
    with torch.no_grad():
        before, after = F.cross_entropy(model(x), y).item(), F.cross_entropy(model(x_adv), y).item()
    if not after > before:
        sys.exit(f"pgd_reference: PGD did not raise the loss ({before:g} -> {after:g})")
    print(f"pgd_reference: inside the ball; CE {before:.4g} -> {after:.4g}; "
          f"robust {int(robust.sum())}/8")


def main():
    p = reference_parser(__doc__, "batches")
    args = p.parse_args()
    devices.configure(args)
    torch.set_num_threads(args.threads)
    if args.quick:
        quick_check()
        return
    benchmarks = []
    wanted = re.compile(args.filter)
    print(f"{'benchmark':<60} {'time/iter':>12} {'images/s':>10}")
    configs = [(arch, 32, batch, f"{arch}/{batch}/process_time/manual_time")
               for arch, batch in CONFIGS.items()]
    if args.gpu_configs:
        configs = [(arch, res, batch, f"{tag}/{batch}/manual_time")
                   for arch, res, batch, tag in devices.gpu_configs()]
    for arch, res, batch, suffix in configs:
        name = f"BM_PgdPyTorch/{suffix}"
        if not wanted.search(name):
            continue
        model, images, labels = setup(arch, batch, res, devices.device(), args.gpu_configs)
        params = sum(t.numel() for t in model.parameters())
        counters = {"passes_per_image": 12, "torch_threads": torch.get_num_threads(),
                    "params": params}
        if args.count_flops:
            counters["flops_per_image"] = devices.count_flops(
                lambda: pgd(model, images, labels), batch)
        runs = time_runs(lambda _index: pgd(model, images, labels), batch, args.repetitions,
                         args.min_time, args.warmup)
        record_entries(benchmarks, name, runs, counters, batch, 60)
    if args.out:
        write_results(args.out, benchmarks, __file__)


if __name__ == "__main__":
    main()
