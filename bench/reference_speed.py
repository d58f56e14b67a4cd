#!/usr/bin/env python3
"""sfbench against the reference implementations users trust, on the same work, machine and
thread count (issue 21 item 7): AutoAttack standard (`sfbench attack --attacks autoattack`)
against the reference AutoAttack (PyPI pyautoattack, Croce & Hein's code), and integrated
gradients (`sfbench attribution --methods integrated-gradients`) against Captum.

Set-up (once): the small CNN of tests/reference/reference_data.py, trained for a few seconds,
exported to TorchScript; N images of reference_data.blended_images (each blended 0-30% with
another class's image, so margins spread: some samples fall at once, some late, some never, and
the later stages run their full budget on the survivors) written as a CIFAR-10 binary test split.
Both sides see the same float32 model and the same images. AutoAttack runs its full standard
budget on both sides (APGD-CE 100 iterations, APGD-T and FAB-T 9 targets, Square 5000 queries).

Each round runs every benchmark once on each of three sides, back to back, the side that goes
first rotating between rounds (a shared machine loads the sides of a round alike): sfbench with
its defaults (on a CPU rank channels_last = auto, i.e. NHWC convolution weights), the reference
on the model as loaded (NCHW, what a user of the reference runs), and the reference on the same
model with NHWC weights (model.to(memory_format=torch.channels_last): the layout sfbench uses;
for integrated gradients also with sfbench's 64 rows per forward/backward instead of Captum's
default of all n·steps rows at once), so the gain that is sfbench's own shows apart from that of
its defaults. Times:
  - sfbench: the stage's own seconds from the results file (/timing <stage>_seconds: the attack
    or attribution work, without process start-up, model loading and writing), and the wall time
    of the whole command;
  - reference: the seconds of run_standard_evaluation / IntegratedGradients.attribute.
Both sides run one process with `--threads` intra-op threads (sfbench: mpirun -np 1, unbound).
The script also checks that the work is the same: AutoAttack's robust count after every stage on
both sides (the two draw different random starts and squares, so counts may differ by a few
samples; both are printed) and the largest relative difference of the IG maps.

usage: bench/reference_speed.py [--rounds 3] [--n 64] [--threads 1] [--out FILE]
       (defaults: SFB_BUILD_DIR or build/, the venv's python; writes
       bench/results/reference_speed.json)
"""
import argparse
import json
import logging
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import h5py
import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(REPO, "tests", "reference"))
import reference_data as rd  # noqa: E402

SEED = 7
SFB_INTERNAL_BATCH = 64  # sfbench's default attribution.internal_batch
AA_STAGES = ["apgd-ce", "apgd-t", "fab-t", "square"]


def git_commit():
    try:
        return subprocess.run(["git", "-C", REPO, "rev-parse", "--short=12", "HEAD"],
                              capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def timing_seconds(h5_path, stage):
    with h5py.File(h5_path, "r") as f:
        return float(f["timing"].attrs[f"{stage}_seconds"])


def run_sfbench(args, work, cmd_args, name):
    out = os.path.join(work, f"{name}.h5")
    for suffix in [".h5", ".json"]:
        p = os.path.join(work, name + suffix)
        if os.path.exists(p):
            os.remove(p)
    cmd = ["mpirun", "--oversubscribe", "--bind-to", "none", "-np", "1", args.sfbench] + \
        cmd_args + ["--out", out, "--seed", str(SEED), "--threads", str(args.threads)]
    t0 = time.perf_counter()
    p = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if p.returncode != 0:
        raise SystemExit(f"sfbench failed ({p.returncode}): {' '.join(cmd)}\n{p.stderr}")
    return out, wall


# ---- AutoAttack -------------------------------------------------------------------------------

def reference_autoattack(model, x, y, eps):
    from pyautoattack import AutoAttack
    log = logging.getLogger("auto-attack")
    log.setLevel(logging.DEBUG)
    log.propagate = False
    handler = rd.StageLog()
    log.addHandler(handler)
    try:
        aa = AutoAttack(model, norm="Linf", eps=eps, seed=SEED, version="standard", device="cpu")
        t0 = time.perf_counter()
        x_adv, _ = aa.run_standard_evaluation(x, y, batch_size=len(y))
        secs = time.perf_counter() - t0
    finally:
        log.removeHandler(handler)
    with torch.no_grad():
        clean = int((model(x).argmax(1) == y).sum())
    counts, last, by_name = [], clean, dict(handler.stages)
    for st in AA_STAGES:
        last = int(round(by_name[st] * len(y))) if st in by_name else last
        counts.append(last)
    return secs, clean, counts


def sfbench_autoattack_counts(h5_path):
    with h5py.File(h5_path, "r") as f:
        g = f["attacks"]["autoattack"]
        correct = f["samples"]["correct"][()].astype(bool)
        broken_by = g["broken_by"][()]
        counts = [int((correct & ((broken_by == 0) | (broken_by > s + 1))).sum())
                  for s in range(len(AA_STAGES))]
        return int(correct.sum()), counts


# ---- Integrated gradients -----------------------------------------------------------------------

def reference_ig(model, x, y, steps, internal_batch=None):
    """Captum's IntegratedGradients; internal_batch None is Captum's default (all n·steps
    interpolation points in one forward/backward)."""
    from captum.attr import IntegratedGradients
    ig = IntegratedGradients(model)
    t0 = time.perf_counter()
    a = ig.attribute(x, baselines=torch.zeros_like(x), target=y, n_steps=steps,
                     method="riemann_middle", internal_batch_size=internal_batch)
    secs = time.perf_counter() - t0
    return secs, a.detach().sum(1).numpy()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--n", type=int, default=64, help="images")
    ap.add_argument("--threads", type=int, default=1, help="intra-op threads on both sides")
    ap.add_argument("--ig-steps", type=int, default=20)
    ap.add_argument("--only", choices=["autoattack", "ig"], help="run one benchmark")
    build = os.environ.get("SFB_BUILD_DIR", os.path.join(REPO, "build"))
    ap.add_argument("--sfbench", default=os.path.join(build, "sfbench"))
    ap.add_argument("--out", default=os.path.join(HERE, "results", "reference_speed.json"))
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args()
    if os.getuid() == 0:
        os.environ.setdefault("OMPI_ALLOW_RUN_AS_ROOT", "1")
        os.environ.setdefault("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1")
    torch.set_num_threads(args.threads)
    work = tempfile.mkdtemp(prefix="reference_speed_")
    try:
        print("set-up: training the small CNN")
        net = rd.train_small_cnn(seed=1, log=lambda s: None)
        model_file = rd.export(net.state_dict(),
                               os.path.join(REPO, "tests", "reference", "reference_data.py") +
                               ":small_cnn", os.path.join(work, "model.pt"), work)
        model = torch.jit.load(model_file).eval()
        # The same model with NHWC convolution weights: sfbench's default on a CPU rank
        # (channels_last = auto), so the reference is also timed with the layout sfbench uses.
        model_nhwc = torch.jit.load(model_file).eval().to(memory_format=torch.channels_last)
        rng = np.random.default_rng(2)
        labels = rng.permutation(np.arange(args.n) % rd.CLASSES)
        images = rd.blended_images(rng, labels, (0.0, 0.3))
        data_dir, (subset,) = rd.write_cifar_test_split(work, [(images, labels)])
        x = rd.images_as_read(images, torch.float32)
        y = torch.from_numpy(labels).long()
        common = ["--data", f"cifar10:{data_dir}", "--subset", f"file:{subset}", "--split",
                  "test", "--model", f"torchscript:{model_file}", "--batch-size", str(args.n)]
        benches = {}
        if args.only in (None, "autoattack"):
            benches["autoattack_standard_linf_8/255"] = (
                lambda: run_sfbench(args, work, ["attack"] + common + [
                    "--attacks", "autoattack", "--norm", "linf", "--eps", "8/255",
                    "--no-resume"], "aa"),
                "attacks",
                lambda: reference_autoattack(model, x, y, 8 / 255),
                lambda: reference_autoattack(model_nhwc, x, y, 8 / 255))
        if args.only in (None, "ig"):
            benches[f"integrated_gradients_{args.ig_steps}_steps"] = (
                lambda: run_sfbench(args, work, ["attribution"] + common + [
                    "--methods", '["integrated-gradients"]', "--steps", str(args.ig_steps),
                    "--maps", str(args.n), "--montage", "0", "--occlusion-colors", "[]",
                    "--set", "attribution.noise=false", "--set", "attribution.agreement=false"],
                    "ig"),
                "attribution",
                lambda: reference_ig(model, x, y, args.ig_steps),
                lambda: reference_ig(model_nhwc, x, y, args.ig_steps, SFB_INTERNAL_BATCH))
        rows = {}
        for name, (sfb, stage, ref, ref_nhwc) in benches.items():
            rec = {"sfbench_stage_s": [], "sfbench_wall_s": [], "reference_s": [],
                   "reference_nhwc_s": []}
            for r in range(args.rounds):
                order = [(side + r) % 3 for side in range(3)]  # who goes first rotates
                for side in order:
                    if side == 2:
                        rec["reference_nhwc_s"].append(ref_nhwc()[0])
                        continue
                    if side == 0:
                        h5, wall = sfb()
                        rec["sfbench_stage_s"].append(timing_seconds(h5, stage))
                        rec["sfbench_wall_s"].append(wall)
                        if stage == "attacks":
                            rec["sfbench_clean"], rec["sfbench_robust_after_stage"] = \
                                sfbench_autoattack_counts(h5)
                        else:
                            with h5py.File(h5, "r") as f:
                                rec["_sfb_maps"] = f["attribution"]["maps"][
                                    "integrated-gradients"][()]
                    else:
                        out = ref()
                        rec["reference_s"].append(out[0])
                        if stage == "attacks":
                            rec["reference_clean"], rec["reference_robust_after_stage"] = \
                                out[1], out[2]
                        else:
                            rec["_ref_maps"] = out[1]
                print(f"  {name} round {r + 1}: sfbench stage {rec['sfbench_stage_s'][-1]:.2f} s "
                      f"(wall {rec['sfbench_wall_s'][-1]:.2f} s), reference "
                      f"{rec['reference_s'][-1]:.2f} s (NHWC model "
                      f"{rec['reference_nhwc_s'][-1]:.2f} s)", flush=True)
            if "_sfb_maps" in rec:
                a, b = rec.pop("_sfb_maps"), rec.pop("_ref_maps")
                num = np.abs(a - b).reshape(len(b), -1).max(1)
                den = np.abs(b).reshape(len(b), -1).max(1)
                rec["ig_max_rel_diff"] = float(np.max(num / den))
            for k in ["sfbench_stage_s", "sfbench_wall_s", "reference_s", "reference_nhwc_s"]:
                rec[k[:-2] + "_median_s"] = statistics.median(rec[k])
            rec["paired_speedup_median"] = statistics.median(
                ref_t / sfb_t for ref_t, sfb_t in zip(rec["reference_s"], rec["sfbench_stage_s"]))
            rec["speedup_of_medians"] = rec["reference_median_s"] / rec["sfbench_stage_median_s"]
            rec["paired_speedup_vs_nhwc_median"] = statistics.median(
                ref_t / sfb_t
                for ref_t, sfb_t in zip(rec["reference_nhwc_s"], rec["sfbench_stage_s"]))
            rec["speedup_vs_nhwc_of_medians"] = \
                rec["reference_nhwc_median_s"] / rec["sfbench_stage_median_s"]
            with h5py.File(h5, "r") as f:
                rec["sfbench_channels_last"] = int(f["provenance"].attrs["channels_last"])
            rows[name] = rec
        result = {
            "context": {
                "commit": git_commit(), "date": time.strftime("%Y-%m-%d"),
                "host": platform.node(), "cpus": os.cpu_count(), "threads": args.threads,
                "torch": torch.__version__, "rounds": args.rounds, "images": args.n,
                "model": "tests/reference/reference_data.py SmallCNN (trained on clean "
                         "images, float32)",
                "images_kind": "blended_images (0-30%)",
                "sides": {
                    "sfbench": "defaults (channels_last auto: NHWC on a CPU rank; attribution "
                               "internal_batch 64)",
                    "reference": "the reference at its defaults (model as loaded, NCHW; Captum "
                                 "internal_batch_size None: all n*steps rows at once)",
                    "reference_nhwc": "the reference on NHWC weights (and, for integrated "
                                      f"gradients, internal_batch_size {SFB_INTERNAL_BATCH})"}},
            "benchmarks": rows}
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        with open(args.out, "w") as fh:
            json.dump(result, fh, indent=1)
        print(f"\n{'benchmark':<34} {'sfbench (stage)':>15} {'reference':>10} {'speedup':>8}"
              f" {'paired':>7} {'ref NHWC':>9} {'speedup':>8} {'paired':>7}")
        for name, rec in rows.items():
            print(f"{name:<34} {rec['sfbench_stage_median_s']:>14.2f}s "
                  f"{rec['reference_median_s']:>9.2f}s {rec['speedup_of_medians']:>7.2f}x "
                  f"{rec['paired_speedup_median']:>6.2f}x {rec['reference_nhwc_median_s']:>8.2f}s "
                  f"{rec['speedup_vs_nhwc_of_medians']:>7.2f}x "
                  f"{rec['paired_speedup_vs_nhwc_median']:>6.2f}x")
            if "sfbench_robust_after_stage" in rec:
                print(f"  robust after {AA_STAGES}: sfbench {rec['sfbench_robust_after_stage']} "
                      f"(clean {rec['sfbench_clean']}), reference "
                      f"{rec['reference_robust_after_stage']} (clean {rec['reference_clean']})")
            if "ig_max_rel_diff" in rec:
                print(f"  IG maps: largest relative difference {rec['ig_max_rel_diff']:.2e}")
        print(f"written: {args.out}")
        # The work must be the same: a timing of different work is no comparison.
        problems = []
        for name, rec in rows.items():
            if rec.get("ig_max_rel_diff", 0.0) > 1e-2:
                problems.append(f"{name}: IG maps differ by {rec['ig_max_rel_diff']:.2e}")
            if "sfbench_robust_after_stage" in rec:
                a, b = rec["sfbench_robust_after_stage"][-1], rec["reference_robust_after_stage"][-1]
                if rec["sfbench_clean"] != rec["reference_clean"] or abs(a - b) > max(2, args.n // 10):
                    problems.append(f"{name}: robust {a} vs {b} of clean "
                                    f"{rec['sfbench_clean']} vs {rec['reference_clean']}")
        if problems:
            raise SystemExit("reference_speed: the two sides did different work: " +
                             "; ".join(problems))
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
