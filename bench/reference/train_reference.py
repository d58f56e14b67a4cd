#!/usr/bin/env python3
"""One training step (SPEC.md §6) written directly in PyTorch, timed the way bench/bench_train.cpp
times sfbench's Trainer::step, so bench/ratios.py can pair the two.

Per step, on B = 64 random CIFAR-sized images with random labels (one process, no communication):
  standard: model.train(); loss = CE(model(x), y) (mean); zero_grad; backward; SGD step
  pgd-at:   model.eval(); x' = PGD-10 on the CE loss (linf, eps 8/255, alpha 2/255, uniform random
            start, every sample perturbed); model.train(); loss = CE(model(x'), y); backward; step
SGD: lr 0.01, momentum 0.9, no weight decay (TrainConfig's defaults with lr 0.01). sfbench also
logs the SF term of the batch and all-reduces the loss terms (a NaN guard); not done here.

Benchmarks: BM_TrainStepPyTorch/cnn-small/<standard|pgd-at>/64/process_time/manual_time with the
counters images_per_s, world_size (1), torch_threads and params; the model is sf_reference.py's mirror of the C++ zoo's cnn-small.

With --gpu-configs: BM_TrainStepPyTorch/gpu/<arch>/<res>px/pgd-at/<batch>/manual_time (PGD-AT, the
configurations of devices.py) on --device.

--quick: 3 standard steps on a batch of 16 must lower the loss on that batch (a smoke test).
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

BATCH = 64
EPS = 8 / 255
ALPHA = 2 / 255
STEPS = 10
LOSSES = ("standard", "pgd-at")


def adversarial(model, x, y):
    """PGD-10 in eval mode from a uniform random start, every sample perturbed."""
    model.eval()
    x_adv = (x + torch.empty_like(x).uniform_(-EPS, EPS)).clamp(0, 1)
    for _ in range(STEPS):
        x_adv.requires_grad_(True)
        (g,) = torch.autograd.grad(F.cross_entropy(model(x_adv), y), x_adv)
        x_adv = x_adv.detach() + ALPHA * g.sign()
        x_adv = (x + (x_adv - x).clamp(-EPS, EPS)).clamp(0, 1)
    return x_adv


def make_step(model, opt, loss_name):
    dev = next(model.parameters()).device

    def step(x, y):
        x, y = x.to(dev), y.to(dev)  # the batch arrives on the CPU, as in Trainer::step
        inputs = adversarial(model, x, y) if loss_name == "pgd-at" else x
        model.train()
        loss = F.cross_entropy(model(inputs), y)
        opt.zero_grad(set_to_none=False)
        loss.backward()
        opt.step()
        return loss.item()
    return step


def setup(loss_name, batch, arch="cnn-small", resolution=32, device="cpu"):
    torch.manual_seed(SEED)
    model = MODELS[arch]().to(device)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    x = torch.rand(batch, 3, resolution, resolution)
    y = torch.randint(0, model.num_classes, (batch,))
    return model, make_step(model, opt, loss_name), x, y


def quick_check():
    _, step, x, y = setup("standard", 16)
    losses = [step(x, y) for _ in range(4)]
    if not losses[-1] < losses[0]:
        sys.exit(f"train_reference: 3 steps did not lower the loss: {losses}")
    print(f"train_reference: loss {losses[0]:.4g} -> {losses[-1]:.4g}")


def main():
    p = reference_parser(__doc__, "steps")
    args = p.parse_args()
    devices.configure(args)
    torch.set_num_threads(args.threads)
    if args.quick:
        quick_check()
        return
    benchmarks = []
    wanted = re.compile(args.filter)
    print(f"{'benchmark':<64} {'time/iter':>12} {'images/s':>11}")
    configs = [("cnn-small", 32, BATCH, loss, f"cnn-small/{loss}/{BATCH}/process_time/manual_time")
               for loss in LOSSES]
    if args.gpu_configs:
        configs = [(arch, res, batch, "pgd-at", f"{tag}/pgd-at/{batch}/manual_time")
                   for arch, res, batch, tag in devices.gpu_configs()]
    for arch, res, batch, loss_name, suffix in configs:
        name = f"BM_TrainStepPyTorch/{suffix}"
        if not wanted.search(name):
            continue
        model, step, x, y = setup(loss_name, batch, arch, res, devices.device())
        if args.gpu_configs:
            devices.calibrate_bn(model, res)
        params = sum(t.numel() for t in model.parameters())
        counters = {"world_size": 1, "torch_threads": torch.get_num_threads(), "params": params}
        if args.count_flops:  # one extra SGD step; the model's state does not affect the timing
            counters["flops_per_image"] = devices.count_flops(lambda: step(x, y), batch)
        runs = time_runs(lambda _index: step(x, y), batch, args.repetitions, args.min_time,
                         args.warmup)
        record_entries(benchmarks, name, runs, counters, batch, 64)
    if args.out:
        write_results(args.out, benchmarks, __file__)


if __name__ == "__main__":
    main()
