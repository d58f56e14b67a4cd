#!/usr/bin/env python3
"""Conformance of `sfbench attack` with references users trust (SPEC.md §3, issue 21 item 6).

The test
  1. trains a small CNN on synthetic CIFAR-shaped images for a few seconds
     (reference_data.train_small_cnn, 10 classes), exports it with scripts/export_torchscript.py
     and writes two sets of N_EVAL fresh images into a CIFAR-10 binary test split, one subset
     file each: every image its class's structured image blended with another class's (weights
     BLEND), so that margins spread and roughly half of the correctly classified samples survive
     APGD-CE: one set for linf, one for l2;
  2. FGSM and PGD (linf, ε = 8/255) against plain PyTorch: `mpiexec -np 2 sfbench attack --dtype
     float64` with `fgsm`, `pgd:random_start=false` (10 steps of 2/255) and `pgd:restarts=2`
     (random start) on the linf set, and the same algorithms written out in float64 PyTorch on
     the TorchScript file loaded with torch.jit.load: x ← Π(x + α·sign(∇x Σ CE)), Π = clip to
     the ε-ball, then to [0, 1]; success judged at each restart's last iterate; misclassified
     samples not attacked. The random start is sfbench's documented stream (stage seed =
     derive_seed(run seed, {SHA-256 key of the attack's label, stage}); per pixel in C order
     u = CounterRng(derive_seed(stage seed, {PGD stream, global index, restart})).uniform_float(),
     δ = ε(2u − 1)), re-implemented in Python. The per-sample fooled flags must be identical;
  3. AutoAttack standard (APGD-CE → APGD-T → FAB-T → Square, each on the survivors), linf
     ε = 8/255 and l2 ε = 0.5, against pyautoattack's AutoAttack(version='standard') run on the
     same TorchScript model and images, float32 on both sides, with the same reduced budget on
     both sides: APGD-T and FAB-T AA_TARGETS target classes (`targets=` in sfbench's spec,
     n_target_classes of the reference's objects), Square AA_QUERIES queries (`queries=`,
     n_queries); 100 iterations, one restart, ρ = 0.75, p_init = 0.8 as the standard version.
     Compared: the number of robust samples after each stage (sfbench: /samples/correct and
     /attacks/<label>/broken_by, checked against the stage_adv_acc attribute; the reference:
     the robust accuracy its run_standard_evaluation reports after each attack), and, because
     few samples survive APGD-CE and then fall to a later stage, under linf APGD-T, FAB-T and
     Square each run alone on every correctly classified sample (the reference's
     run_standard_evaluation_individual way: one attack in attacks_to_run). Each count must be
     within AA_TOL of N_EVAL: the implementations draw different random numbers (APGD's and
     Square's starts, Square's squares, FAB's restarts; per sample in sfbench, per batch in the
     reference), so only samples near the ε boundary may differ (docs/testing.md gives the
     spread measured between seeds);
  4. checks that the comparisons can fail: the FGSM/PGD flags include fooled and robust samples
     and differ from those of the same attacks at ε = 7/255; every AutoAttack and single-attack
     run of the reference breaks more than AA_TOL samples (an attack that does nothing would not
     pass).

usage: attack_reference_test.py --sfbench PATH --mpiexec PATH --workdir DIR [--keep]
Exit status: 0 pass, 1 fail, 77 skipped (h5py/numpy/torch/pyautoattack missing).
"""
import argparse
import hashlib
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time

try:
    import h5py
    import numpy as np
    import torch
    import torch.nn.functional as F
    from pyautoattack import AutoAttack
except ImportError as e:  # the test needs the project's virtual environment (SFB_PYTHON)
    print(f"attack_reference_test: SKIP: {e}")
    sys.exit(77)

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import reference_data as rd  # noqa: E402

N_EVAL = 40                 # evaluated images per set (sfbench: 20 per rank)
SEED = 20261207             # sfbench --seed and the reference AutoAttack's seed
BATCH = 16                  # several batches per rank
EPS_LINF = 8 / 255
EPS_L2 = 0.5
PGD_STEP = 2 / 255
PGD_STEPS = 10
PGD_STREAM = 0x7067640001   # attacks/common.hpp kStreamPgd
MUTANT_EPS = 7 / 255        # FGSM/PGD at this radius must give other flags
AA_TARGETS = 3              # APGD-T and FAB-T target classes (standard: 9)
AA_QUERIES = 1000           # Square queries (standard: 5000)
AA_TOL = 4                  # robust samples (of N_EVAL) the two may differ by
AA_STAGES = ["apgd-ce", "apgd-t", "fab-t", "square"]
# Also run alone under linf (APGD-CE alone is stage 1). Not under l2: there the 20 samples APGD-CE
# leaves are robust to every stage, and Square alone breaks only 3 to 5 at this budget.
INDIVIDUAL = ["apgd-t", "fab-t", "square"]
# Blend weight w ~ U(lo, hi) of each set; l2 ε = 0.5 is a much smaller ball than linf 8/255 for
# these smooth images, so its set lies closer to the decision boundary.
BLEND = {"linf": (0.0, 0.3), "l2": (0.2, 0.45)}


# --------------------------------------------------------------------------------------------
# FGSM and PGD in plain PyTorch (float64).

def project(x_adv, x, eps):
    """The ε-ball (linf) first, then the [0, 1] box."""
    return (x + (x_adv - x).clamp(-eps, eps)).clamp(0, 1)


def pgd_linf(model, x, y, eps, alpha, steps, starts):
    """(correct, fooled) [n] bool of PGD-linf on CE with one run per entry of `starts` (None:
    start at x; else the start point [n, ...]). A sample is fooled when the prediction at the last
    iterate of some run differs from y and it was classified correctly when clean. Each run is
    computed on every sample: in sfbench a later run attacks only the samples still robust, and
    per-sample results do not depend on which others share the batch."""
    with torch.no_grad():
        correct = model(x).argmax(1) == y
    fooled = torch.zeros_like(correct)
    for start in starts:
        cur = x.clone() if start is None else start
        for _ in range(steps):
            cur = cur.detach().requires_grad_(True)
            loss = F.cross_entropy(model(cur), y, reduction="none").sum()
            (g,) = torch.autograd.grad(loss, cur)
            g = torch.where(torch.isfinite(g), g, torch.zeros_like(g))
            cur = project(cur.detach() + alpha * g.sign(), x, eps)
        with torch.no_grad():
            fooled |= correct & (model(cur).argmax(1) != y)
    return correct, fooled


def label_key(label):
    """attacks/plan.cpp: the first 15 hex digits of SHA-256(label) as an integer."""
    return int(hashlib.sha256(label.encode()).hexdigest()[:15], 16)


def random_starts(x, label, seed, restarts, eps):
    """sfbench's PGD-linf random start of every restart for the attack group `label` (stage 0):
    u = CounterRng(derive_seed(stage seed, {PGD stream, global index i, restart})).uniform_float()
    per pixel in C order, δ = (2u − 1)·ε, start = Π(x + δ)."""
    stage_seed = rd.derive_seed(seed, [label_key(label), 0])
    per = x[0].numel()
    out = []
    for r in range(restarts):
        u = np.stack([rd.uniform_floats(rd.derive_seed(stage_seed, [PGD_STREAM, i, r]), per)
                      for i in range(x.shape[0])])
        delta = (torch.from_numpy(u).to(x.dtype) * 2.0 - 1.0) * eps
        out.append(project(x + delta.view_as(x), x, eps))
    return out


# --------------------------------------------------------------------------------------------
# The reference AutoAttack.

def reference_autoattack(model, x, y, norm, eps, seed, alone):
    """pyautoattack's standard AutoAttack with the reduced budget: ({"autoattack": robust counts
    after each stage [4], and for each of `alone`: [its robust count run alone on every
    correctly classified sample]}, clean count, seconds)."""
    log = logging.getLogger("auto-attack")
    log.setLevel(logging.DEBUG)
    log.propagate = False
    handler = rd.StageLog()
    log.addHandler(handler)
    aa = AutoAttack(model, norm={"linf": "Linf", "l2": "L2"}[norm], eps=eps, seed=seed,
                    version="standard", device="cpu")
    aa.apgd_targeted.n_target_classes = AA_TARGETS
    aa.fab.n_target_classes = AA_TARGETS
    aa.square.n_queries = AA_QUERIES
    with torch.no_grad():
        clean = int((model(x).argmax(1) == y).sum())
    t0 = time.time()
    counts = {}
    try:
        for run in ["autoattack"] + alone:
            aa.attacks_to_run = AA_STAGES if run == "autoattack" else [run]
            handler.stages = []
            x_adv, _ = aa.run_standard_evaluation(x, y, batch_size=len(y))
            with torch.no_grad():
                final = int((model(x_adv).argmax(1) == y).sum())
            if run != "autoattack":
                counts[run] = [final]
                continue
            stages, last = [], clean
            by_name = dict(handler.stages)
            for st in AA_STAGES:  # a stage after the last robust sample was broken is not run
                if st in by_name:
                    last = int(round(by_name[st] * len(y)))
                stages.append(last)
            if stages[-1] != final:
                raise SystemExit(f"FAIL: the reference's last stage count {stages[-1]} != the "
                                 f"robust count {final} of its x_adv")
            counts[run] = stages
    finally:
        log.removeHandler(handler)
    return counts, clean, time.time() - t0


# --------------------------------------------------------------------------------------------
# sfbench.

def run_sfbench(args, work, name, data_dir, subset, model_file, attacks, extra):
    out = os.path.join(work, f"{name}.h5")
    cmd = [args.mpiexec, "-np", "2", args.sfbench, "attack", "--data", f"cifar10:{data_dir}",
           "--subset", f"file:{subset}", "--split", "test", "--model",
           f"torchscript:{model_file}", "--out", out, "--seed", str(SEED), "--batch-size",
           str(BATCH), "--threads", "1", "--no-resume", "--attacks", ",".join(attacks)] + extra
    t0 = time.time()
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=400)
    if p.returncode != 0:
        raise SystemExit(f"FAIL [{name}]: exit {p.returncode}: {' '.join(cmd)}\n"
                         f"stdout:\n{p.stdout}\nstderr:\n{p.stderr}")
    return out, time.time() - t0


def group_label(spec):
    """The /attacks/<label> of a spec (attacks/plan.cpp: ':' -> '_', '=' -> '-', '/' -> '|')."""
    return spec.replace(":", "_").replace("=", "-").replace("/", "|")


def sfbench_counts(h5, specs):
    """({run: robust counts}, clean count, problems) from a results file: for "autoattack" the
    count after each stage (/samples/correct and /attacks/<label>/broken_by, checked against
    stage_names and stage_adv_acc), for the others the robust count. specs: {run: spec}."""
    correct = h5["samples"]["correct"][()].astype(bool)
    counts, problems = {}, []
    for run, spec in specs.items():
        g = h5["attacks"][group_label(spec)]
        robust = int(g["robust"][()].astype(bool).sum())
        if run != "autoattack":
            counts[run] = [robust]
            continue
        broken_by = g["broken_by"][()]
        names = [s.decode() if isinstance(s, bytes) else str(s) for s in g.attrs["stage_names"]]
        if names != AA_STAGES:
            problems.append(f"{spec}: stage_names {names} != {AA_STAGES}")
        stages = [int((correct & ((broken_by == 0) | (broken_by > s + 1))).sum())
                  for s in range(len(AA_STAGES))]
        acc = [float(a) for a in g.attrs["stage_adv_acc"]]
        if [int(round(a * len(correct))) for a in acc] != stages:
            problems.append(f"{spec}: stage_adv_acc {acc} disagrees with broken_by ({stages})")
        if stages[-1] != robust:
            problems.append(f"{spec}: the last stage's count is not the number of robust samples")
        counts[run] = stages
    return counts, int(correct.sum()), problems


# --------------------------------------------------------------------------------------------
# The checks.

def check_pgd(args, work, data_dir, subset, model_file, images, labels):
    """FGSM and PGD flags against the float64 PyTorch reference. Returns True on failure."""
    failed = False
    specs = ["fgsm", "pgd:random_start=false", "pgd:restarts=2"]
    out, secs = run_sfbench(args, work, "pgd", data_dir, subset, model_file, specs,
                            ["--eps", "8/255", "--dtype", "float64"])
    model = torch.jit.load(model_file).double().eval()
    x = rd.images_as_read(images, torch.float64)
    y = torch.from_numpy(labels).long()
    t0 = time.time()
    rs_label = group_label("pgd:restarts=2")
    reference, mutants = {}, {}
    for eps, table in ((EPS_LINF, reference), (MUTANT_EPS, mutants)):
        table["fgsm"] = pgd_linf(model, x, y, eps, eps, 1, [None])
        table["pgd:random_start=false"] = pgd_linf(model, x, y, eps, PGD_STEP, PGD_STEPS, [None])
        table["pgd:restarts=2"] = pgd_linf(model, x, y, eps, PGD_STEP, PGD_STEPS,
                                           random_starts(x, rs_label, SEED, 2, eps))
    print(f"\nFGSM/PGD linf eps 8/255, float64, {len(y)} samples: sfbench {secs:.1f} s "
          f"(mpiexec -np 2), PyTorch {time.time() - t0:.1f} s")
    print(f"{'attack':<24} {'clean':>5} {'fooled sfb':>10} {'fooled ref':>10} {'differ':>6}  "
          f"differ at eps 7/255")
    with h5py.File(out, "r") as h5:
        correct_sfb = h5["samples"]["correct"][()].astype(bool)
        for spec in specs:
            correct, fooled = (t.numpy() for t in reference[spec])
            robust_sfb = h5["attacks"][group_label(spec)]["robust"][()].astype(bool)
            fooled_sfb = correct_sfb & ~robust_sfb
            diff = np.flatnonzero(fooled_sfb != fooled)
            mutant_diff = int((mutants[spec][1].numpy() != fooled_sfb).sum())
            print(f"{spec:<24} {int(correct.sum()):>5} {int(fooled_sfb.sum()):>10} "
                  f"{int(fooled.sum()):>10} {len(diff):>6}  {mutant_diff}")
            if not np.array_equal(correct_sfb, correct):
                print(f"FAIL [{spec}]: clean correctness differs at "
                      f"{np.flatnonzero(correct_sfb != correct).tolist()}")
                failed = True
            if len(diff):
                print(f"FAIL [{spec}]: fooled flags differ at samples {diff.tolist()} "
                      f"(sfbench {fooled_sfb[diff].astype(int).tolist()}, "
                      f"PyTorch {fooled[diff].astype(int).tolist()})")
                failed = True
            if not 0 < fooled.sum() < correct.sum():
                print(f"FAIL [{spec}]: the reference fooled {int(fooled.sum())} of "
                      f"{int(correct.sum())}: the comparison cannot tell attacks apart")
                failed = True
            if mutant_diff == 0:
                print(f"FAIL [{spec}]: the attack at eps 7/255 gives sfbench's flags too: the "
                      f"comparison cannot fail")
                failed = True
    return failed


def check_autoattack(args, work, data_dir, subset, model_file, images, labels, norm, alone):
    """AutoAttack's per-stage counts and the counts of the attacks `alone` (run alone) against
    pyautoattack. Returns (True on failure, {run: samples the reference broke})."""
    failed = False
    eps, eps_text = (EPS_LINF, "8/255") if norm == "linf" else (EPS_L2, "0.5")
    common = f"norm={norm}:eps={eps_text}"
    specs = {"autoattack": f"autoattack:{common}:targets={AA_TARGETS}:queries={AA_QUERIES}",
             "apgd-t": f"apgd-t:{common}:targets={AA_TARGETS}",
             "fab-t": f"fab-t:{common}:targets={AA_TARGETS}",
             "square": f"square:{common}:queries={AA_QUERIES}"}
    specs = {run: spec for run, spec in specs.items() if run == "autoattack" or run in alone}
    out, secs = run_sfbench(args, work, f"aa-{norm}", data_dir, subset, model_file,
                            list(specs.values()), [])
    model = torch.jit.load(model_file).eval()
    x = rd.images_as_read(images, torch.float32)
    y = torch.from_numpy(labels).long()
    want, clean_ref, ref_secs = reference_autoattack(model, x, y, norm, eps, SEED, alone)
    with h5py.File(out, "r") as h5:
        got, clean_sfb, problems = sfbench_counts(h5, specs)
    print(f"\n{norm} eps {eps_text}, float32, {len(y)} samples, correct when clean: sfbench "
          f"{clean_sfb}, pyautoattack {clean_ref}; sfbench {secs:.1f} s (mpiexec -np 2), "
          f"pyautoattack {ref_secs:.1f} s")
    print(f"{'run':<11} {'stage':<8} {'sfbench':>7} {'pyautoattack':>12}   (robust samples)")
    rows = [("autoattack", st, s) for s, st in enumerate(AA_STAGES)] + \
        [(run, "alone", 0) for run in alone]
    for run, st, s in rows:
        a, b = got[run][s], want[run][s]
        mark = "" if abs(a - b) <= AA_TOL else f"   more than {AA_TOL} apart"
        print(f"{run:<11} {st:<8} {a:>7} {b:>12}{mark}")
        if abs(a - b) > AA_TOL:
            print(f"FAIL [{norm} {run} {st}]: robust samples: sfbench {a}, pyautoattack {b} "
                  f"(tolerance {AA_TOL} of {len(y)})")
            failed = True
    for p in problems:
        print(f"FAIL [{norm}]: {p}")
        failed = True
    if clean_sfb != clean_ref:
        print(f"FAIL [{norm}]: clean counts differ: sfbench {clean_sfb}, pyautoattack {clean_ref}")
        failed = True
    return failed, {run: clean_ref - want[run][-1] for run in want}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sfbench", required=True)
    ap.add_argument("--mpiexec", required=True)
    ap.add_argument("--workdir", required=True, help="parent of the temporary directory")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = ap.parse_args()
    t_start = time.time()
    torch.set_num_threads(1)  # two threads are several times slower on a busy 2-core machine
    os.makedirs(args.workdir, exist_ok=True)
    work = tempfile.mkdtemp(prefix="attack_reference_", dir=args.workdir)

    print("training the model:")
    net = rd.train_small_cnn(seed=1)
    model_file = rd.export(net.state_dict(), os.path.join(HERE, "reference_data.py") + ":small_cnn",
                           os.path.join(work, "model.pt"), work)
    rng = np.random.default_rng(2)
    sets = {}
    for norm, weights in BLEND.items():
        labels = rng.permutation(np.arange(N_EVAL) % rd.CLASSES)
        sets[norm] = (rd.blended_images(rng, labels, weights), labels)
    data_dir, subsets = rd.write_cifar_test_split(work, list(sets.values()))
    subset = dict(zip(sets, subsets))
    t_setup = time.time() - t_start

    failed = check_pgd(args, work, data_dir, subset["linf"], model_file, *sets["linf"])
    print(f"\nAutoAttack standard ({AA_TARGETS} targets, {AA_QUERIES} Square queries); under "
          f"linf {', '.join(INDIVIDUAL)} also alone with the same budget")
    for norm in ("linf", "l2"):
        alone = INDIVIDUAL if norm == "linf" else []
        f, broken = check_autoattack(args, work, data_dir, subset[norm], model_file, *sets[norm],
                                     norm, alone)
        failed |= f
        for run, b in broken.items():  # an attack that does nothing must fail
            if b <= AA_TOL:
                print(f"FAIL [{norm} {run}]: the reference broke only {b} samples: an attack "
                      f"that does nothing would pass")
                failed = True

    print(f"attack_reference_test: {'FAIL' if failed else 'PASS'} in "
          f"{time.time() - t_start:.1f} s (set-up and training {t_setup:.1f} s)")
    if failed or args.keep:
        print(f"attack_reference_test: files kept in {work}")
    else:
        shutil.rmtree(work, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
