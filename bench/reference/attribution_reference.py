#!/usr/bin/env python3
"""Integrated gradients (SPEC.md §5, the "integrated-gradients" attribution method) written
directly in PyTorch, timed the way bench/bench_attribution.cpp times sfbench's registered method,
so bench/ratios.py can pair the two.

Per batch of B images x [B, 3, 32, 32] in [0, 1] with labels y [B] (what sfbench's
IntegratedGradients::attribute and detail::sample_sum do with steps m = 20, the zeros baseline and
internal_batch = 64):
  baseline b = 0; delta = x - b
  the B * m rows (image-major: row r is image r // m at step k = r % m, alpha_k = (k + 1/2) / m)
  are processed in chunks of 64 rows: points p = b[img] + alpha * delta[img] (a leaf that needs
  its gradient); t = sum of the ground-truth logits z_y(p); g = d t / d p (input gradient only);
  sum.index_add_(img, g)
  attributions = delta * sum / m                                           [B, 3, 32, 32]
No captum: the plain autograd computation a PyTorch user would write.

Benchmarks: BM_AttributionPyTorch/integrated-gradients/<arch>/<batch>/process_time/manual_time for
cnn-small at batch 32 and wrn-28-10 at batch 2 (bench_attribution.cpp explains the batch sizes),
with the counters images_per_s (images attributed per second), passes_per_image (20),
torch_threads and params; the models are sf_reference.py's mirrors of the C++ zoo. Output:
Google-Benchmark-style JSON (--out), as sf_reference.py writes.

--quick: a completeness check on cnn-small (16 random images, the random-init model): the sum of
each image's attributions approximates z_y(x) - z_y(0). The relative error
sum_i |sum(a_i) - gap_i| / sum_i |gap_i| must be below 0.02 at 20 steps (measured: 0.0064; it is
0.010 at 10 steps and 0.0012 at 80 on this seed, the Riemann error shrinking about as 1/m), and
smaller at 80 steps than at 10 (the computation converges to the integral).
"""
import os
import re
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from sf_reference import (MODELS, NUM_CLASSES, SEED, record_entries,  # noqa: E402
                          reference_parser, time_runs, write_results)

STEPS = 20
INTERNAL_BATCH = 64
CONFIGS = {"cnn-small": 32, "wrn-28-10": 2}
QUICK_IMAGES = 16
QUICK_TOLERANCE = 0.02


def integrated_gradients(model, x, y, steps=STEPS, chunk=INTERNAL_BATCH):
    """x: [B, C, H, W] float in [0, 1]; y: [B] int64 -> [B, C, H, W] attributions (detached)."""
    x = x.detach()
    base = torch.zeros_like(x)
    delta = x - base
    rows = x.size(0) * steps
    total = torch.zeros_like(x)
    for start in range(0, rows, chunk):
        r = torch.arange(start, min(rows, start + chunk), dtype=torch.int64)
        img = torch.div(r, steps, rounding_mode="floor")
        alpha = ((r.remainder(steps).to(x.dtype) + 0.5) / steps).view(-1, 1, 1, 1)
        points = (base.index_select(0, img) + alpha * delta.index_select(0, img)).requires_grad_()
        with torch.enable_grad():
            t = model(points).gather(1, y.index_select(0, img).view(-1, 1)).sum()
            (g,) = torch.autograd.grad(t, points)
        total.index_add_(0, img, g)
    return delta * total / steps


def setup(arch, batch):
    torch.manual_seed(SEED)
    model = MODELS[arch]().eval()
    images = torch.rand(batch, 3, 32, 32)
    labels = torch.randint(0, NUM_CLASSES, (batch,), dtype=torch.int64)
    return model, images, labels


def completeness_error(model, x, y, steps):
    """sum_i |sum(a_i) - (z_y(x_i) - z_y(0))| / sum_i |z_y(x_i) - z_y(0)|."""
    with torch.no_grad():
        z = model(torch.cat([x, torch.zeros_like(x)])).gather(1, y.repeat(2).view(-1, 1))
    gap = (z[: x.size(0)] - z[x.size(0):]).squeeze(1)
    total = integrated_gradients(model, x, y, steps).flatten(1).sum(1)
    return ((total - gap).abs().sum() / gap.abs().sum()).item()


def quick_check():
    model, x, y = setup("cnn-small", QUICK_IMAGES)
    err = {m: completeness_error(model, x, y, m) for m in (10, STEPS, 80)}
    if not err[STEPS] < QUICK_TOLERANCE:
        sys.exit(f"attribution_reference: completeness error {err[STEPS]:.4g} at {STEPS} steps "
                 f"(tolerance {QUICK_TOLERANCE})")
    if not err[80] < err[10]:
        sys.exit(f"attribution_reference: completeness error does not shrink with the steps "
                 f"({err[10]:.4g} at 10, {err[80]:.4g} at 80)")
    print("attribution_reference --quick: completeness relative error "
          + ", ".join(f"{e:.4g} at {m} steps" for m, e in err.items()) + ": OK")


def main():
    p = reference_parser(__doc__, "batches")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    if args.quick:
        quick_check()
        return
    benchmarks = []
    wanted = re.compile(args.filter)
    print(f"{'benchmark':<76} {'time/iter':>12} {'images/s':>10}")
    for arch, batch in CONFIGS.items():
        name = (f"BM_AttributionPyTorch/integrated-gradients/{arch}/{batch}/"
                "process_time/manual_time")
        if not wanted.search(name):
            continue
        model, images, labels = setup(arch, batch)
        runs = time_runs(lambda _index: integrated_gradients(model, images, labels), batch,
                         args.repetitions, args.min_time, args.warmup)
        params = sum(t.numel() for t in model.parameters())
        counters = {"passes_per_image": STEPS, "torch_threads": torch.get_num_threads(),
                    "params": params}
        record_entries(benchmarks, name, runs, counters, batch, 76)
    if args.out:
        write_results(args.out, benchmarks, __file__)


if __name__ == "__main__":
    main()
