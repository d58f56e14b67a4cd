#!/usr/bin/env python3
"""The interactions stage's masked-forward sampling (SPEC.md §4) written directly in PyTorch, timed
the way bench/bench_interactions.cpp times sfbench's InteractionsStage::estimate, so
bench/ratios.py can pair the two.

Per estimate (one 3x32x32 image, label c, 8x8 grid of 4x4 patches, n = 64 players, the 14 default
order ratios m = floor(r (n - 2)), P pairs, K contexts; the same as the C++ benchmark):
  pairs: i uniform, j uniform among i's (up to 8) grid neighbours           (torch.randint)
  for each block of B // 4 contexts of the flattened (pair, order, context) list:
    S: m players uniform without replacement from N \\ {i, j}: the m smallest of uniform keys
       (torch.rand + argsort, vectorized over the block)
    members [4c, n]: S, S+{i}, S+{j}, S+{i,j}; keep = members[:, pixel_player] -> [4c, 1, 32, 32]
    x_masked = baseline + keep * (x - baseline); v = log_softmax(model(x_masked))[:, c] (float64)
    dv = v(S+ij) - v(S+i) - v(S+j) + v(S); sum[pair, order] += dv; abs_sum += |dv|
  I = mean over pairs of sum / K; D = mean over pairs of |sum| / abs_sum
sfbench draws pairs and contexts from its counter-based RNG keyed by (seed, image index, pair,
order, context) (a Fisher-Yates draw per context on the CPU); here torch's generator draws them,
which is what a plain PyTorch implementation would do.

Benchmarks: BM_InteractionsPyTorch/<arch>/<batch>/process_time/manual_time (cnn-small: P = 4,
K = 8, blocks of 256; wrn-28-10: P = 1, K = 2, blocks of 32), with the counters images_per_s
(masked forwards per second), passes_per_image, torch_threads and params; the models are
sf_reference.py's mirrors of the C++ zoo. Output: Google-Benchmark-style JSON (--out).

With --gpu-configs: BM_InteractionsPyTorch/gpu/<arch>/<res>px/<batch>/manual_time (P = 4, K = 8,
blocks of the configuration's batch; the 8x8 grid's patches are res/8 pixels wide) on --device.

--quick: cnn-small, P = 2, K = 2, one estimate, plus checks (context sizes, pairs adjacent,
D in [0, 1]) as a smoke test.
"""
import math
import os
import re
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import devices  # noqa: E402
from sf_reference import (MODELS, SEED, record_entries, reference_parser,  # noqa: E402
                          time_runs, write_results)

GRID = 8
RATIOS = [0.0, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95, 1.0]
CONFIGS = {"cnn-small": (256, 4, 8), "wrn-28-10": (32, 1, 2)}  # batch, P, K
GPU_PAIRS, GPU_CONTEXTS = 4, 8  # P and K of the GPU configurations (bench_interactions.cpp)


class Sampler:
    """The sampling of one estimate: grid, neighbours, orders, baseline. image [3, H, W] (H = W) on
    the model's device; the players' draws are made on the CPU, the masks built on the device."""

    def __init__(self, model, image, label, batch, pairs, contexts):
        self.model, self.x, self.label = model, image, label
        self.batch, self.pairs, self.contexts = batch, pairs, contexts
        n = GRID * GRID
        self.n = n
        self.res = image.size(-1)
        self.orders = sorted({math.floor(r * (n - 2) + 1e-9) for r in RATIOS})
        rows = torch.arange(self.res) // (self.res // GRID)
        self.pixel_player = (rows[:, None] * GRID + rows[None, :]).flatten().to(image.device)
        self.neighbours = []
        for g in range(GRID):
            for h in range(GRID):
                self.neighbours.append([a * GRID + b for a in range(g - 1, g + 2) for b in range(h - 1, h + 2)
                                        if (a, b) != (g, h) and 0 <= a < GRID and 0 <= b < GRID])
        self.baseline = image.mean(dim=(1, 2), keepdim=True).expand_as(image).clone()
        self.forwards = 0

    def estimate(self):
        n, P, K, M = self.n, self.pairs, self.contexts, len(self.orders)
        i = torch.randint(0, n, (P,))
        j = torch.tensor([self.neighbours[a][torch.randint(0, len(self.neighbours[a]), ()).item()]
                          for a in i.tolist()])
        orders = torch.tensor(self.orders)
        total = P * M * K
        t = torch.arange(total)
        p_of, m_of = t // (M * K), (t // K) % M
        dev, res = self.x.device, self.res
        sums = torch.zeros(P * M, dtype=torch.float64, device=dev)
        abs_sums = torch.zeros(P * M, dtype=torch.float64, device=dev)
        per_block = max(1, self.batch // 4)
        diff = (self.x - self.baseline).unsqueeze(0)
        for t0 in range(0, total, per_block):
            p, mi = p_of[t0:t0 + per_block], m_of[t0:t0 + per_block]
            c = p.numel()
            ii, jj, m = i[p], j[p], orders[mi]
            keys = torch.rand(c, n)
            keys[torch.arange(c), ii] = 2.0  # i and j are never in S
            keys[torch.arange(c), jj] = 2.0
            rank = keys.argsort(1).argsort(1)
            s = rank < m[:, None]
            members = s.repeat_interleave(4, 0).view(c, 4, n)
            members[torch.arange(c), 1, ii] = True
            members[torch.arange(c), 2, jj] = True
            members[torch.arange(c), 3, ii] = True
            members[torch.arange(c), 3, jj] = True
            members = members.view(4 * c, n).to(dev)
            keep = members[:, self.pixel_player].view(4 * c, 1, res, res).float()
            with torch.no_grad():
                logits = self.model(self.baseline.unsqueeze(0) + keep * diff)
            self.forwards += 4 * c
            v = torch.log_softmax(logits.double(), 1)[:, self.label].view(c, 4)
            dv = v[:, 3] - v[:, 1] - v[:, 2] + v[:, 0]
            g = (p * M + mi).to(dev)
            sums.index_add_(0, g, dv)
            abs_sums.index_add_(0, g, dv.abs())
        mean = (sums / K).view(P, M)
        ratio = (mean.abs() / (abs_sums / K).view(P, M))
        return mean.mean(0), torch.nanmean(ratio, 0), (i, j)


def setup(arch, batch, pairs, contexts, resolution=32, device="cpu"):
    torch.manual_seed(SEED)
    model = MODELS[arch]().eval().to(device)
    image = torch.rand(3, resolution, resolution).to(device)
    return Sampler(model, image, 3, batch, pairs, contexts)


def quick_check():
    s = setup("cnn-small", 64, 2, 2)
    I, D, (i, j) = s.estimate()
    assert I.shape == (len(s.orders),) and torch.isfinite(I).all()
    assert ((D >= 0) & (D <= 1 + 1e-12)).all(), D
    for a, b in zip(i.tolist(), j.tolist()):
        assert b in s.neighbours[a], (a, b)
    assert s.forwards == 2 * len(s.orders) * 2 * 4
    print("interactions_reference --quick: OK")


def main():
    p = reference_parser(__doc__, "estimates")
    args = p.parse_args()
    devices.configure(args)
    torch.set_num_threads(args.threads)
    if args.quick:
        quick_check()
        return
    benchmarks = []
    wanted = re.compile(args.filter)
    print(f"{'benchmark':<64} {'time/iter':>12} {'forwards/s':>11}")
    configs = [(arch, 32, batch, p_, k_, f"{arch}/{batch}/process_time/manual_time")
               for arch, (batch, p_, k_) in CONFIGS.items()]
    if args.gpu_configs:
        pk = (1, 1) if devices.smoke() else (GPU_PAIRS, GPU_CONTEXTS)  # as the C++ side
        configs = [(arch, res, batch, *pk, f"{tag}/{batch}/manual_time")
                   for arch, res, batch, tag in devices.gpu_configs()]
    for arch, res, batch, pairs, contexts, suffix in configs:
        name = f"BM_InteractionsPyTorch/{suffix}"
        if not wanted.search(name):
            continue
        s = setup(arch, batch, pairs, contexts, res, devices.device())
        if args.gpu_configs:
            devices.calibrate_bn(s.model, res)
        per = pairs * len(s.orders) * contexts * 4
        # time_runs counts `batch` items per call; pass the masked forwards per estimate instead.
        runs = time_runs(lambda _index: s.estimate(), per, args.repetitions, args.min_time,
                         args.warmup)
        params = sum(t.numel() for t in s.model.parameters())
        counters = {"passes_per_image": per, "torch_threads": torch.get_num_threads(),
                    "params": params}
        if args.count_flops:  # per masked forward
            counters["flops_per_image"] = devices.count_flops(s.estimate, per)
        record_entries(benchmarks, name, runs, counters, per, 64)
    if args.out:
        write_results(args.out, benchmarks, __file__)


if __name__ == "__main__":
    main()
