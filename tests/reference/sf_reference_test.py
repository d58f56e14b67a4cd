#!/usr/bin/env python3
"""Independent Python reference for `sfbench sf` (SPEC.md §2; results contract in DESIGN.md).

The test
  1. builds a small conv classifier in PyTorch (sf_reference_model.py: normalization inside the
     wrapper, BatchNorm with non-trivial statistics, k = 20, C = 10, Linear head), centres its
     logits on the train images so predictions vary, and exports it with
     scripts/export_torchscript.py --weights (TorchScript with features/head/forward);
  2. writes a CIFAR-10 binary directory (data_batch_1..5.bin, test_batch.bin) plus subset files
     that pick 37 structured images from every train file (185 samples, class 9 left empty) and
     41 from the test file; sfbench's CIFAR reader insists on the official 10,000 records per
     file (the CLI does not expose a smaller count), so every other record is noise that a
     correct run never reads;
  3. computes, in float64 eager PyTorch and NumPy, independently of sfbench: c = a · ∂t/∂a at the
     features layer by autograd (and checks it against the closed form), C, SF (population SD),
     C sorted, per-class C / SF / counts, predictions; and the Poisson bootstrap by re-implementing
     the documented random stream in pure Python integers (SplitMix64 derive_seed, CounterRng
     53-bit uniforms, Knuth's Poisson(1)) with replicate SFs and the linear-interpolation
     percentile interval;
  4. runs `mpiexec -np 2 sfbench sf` (uneven shards of 93/92 and 21/20 samples, several batches
     per rank) and compares the HDF5 output with h5py: float32 runs at relative error < 1e-6,
     float64 runs (`--set sf.dtype=float64`) at < 1e-10; a linear (logit) and two non-linear
     (logprob, prob) targets; the train and the test split;
  5. checks that the comparison would catch a wrong sfbench (C with the wrong sign, a missing
     sample, bootstrap weights keyed differently): each must exceed the float32 tolerance.

usage: sf_reference_test.py --sfbench PATH --mpiexec PATH --workdir DIR [--keep]
The environment is passed to mpiexec as is (ctest sets SFB_TEST_ENV: oversubscription, root).
Exit status: 0 pass, 1 fail, 77 skipped (h5py/numpy/torch missing).
"""
import argparse
import math
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
except ImportError as e:  # the test needs the project's virtual environment (SFB_PYTHON)
    print(f"sf_reference_test: SKIP: {e}")
    sys.exit(77)

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import sf_reference_model  # noqa: E402
from reference_data import (RECORDS_PER_FILE, CounterStream, derive_seed, export,  # noqa: E402
                            images_as_read, normalize, structured_images, write_cifar_file)

TRAIN_PER_FILE = 37           # structured samples taken from each of the 5 train files
TEST_SAMPLES = 41
TRAIN_CLASSES = 9             # train labels 0..8: class 9 has no samples (NaN rows expected)
SEED = 987654321              # sfbench --seed: keys the bootstrap stream
BATCH = 16                    # several batches per rank, the last one partial
TOL32 = 1e-6                  # float32 sfbench vs float64 reference (the bound)
TOL64 = 1e-10                 # float64 sfbench vs float64 reference

# --------------------------------------------------------------------------------------------
# The documented random stream (SPEC §2; shapley/bootstrap.{hpp,cpp}) on top of SplitMix64,
# derive_seed and CounterStream (reference_data.py), in pure Python integer arithmetic.
BOOTSTRAP_STREAM = 0x5346424F4F54  # "SFBOOT" (shapley/bootstrap.hpp kBootstrapStream)
EXP_MINUS_1 = math.exp(-1.0)


def poisson1(seed, index, replicate):
    """Knuth: count the uniforms whose running product stays above e^-1."""
    rng = CounterStream(derive_seed(seed, [BOOTSTRAP_STREAM, index, replicate]))
    k = 0
    p = rng.uniform()
    while p > EXP_MINUS_1:
        k += 1
        p *= rng.uniform()
    return k


def bootstrap_weights(seed, n, replicates):
    """[replicates, n] float64: w[b, i] = Poisson(1) keyed by (seed, global index i, b)."""
    return np.array([[poisson1(seed, i, b) for i in range(n)] for b in range(replicates)],
                    dtype=np.float64)


def percentile_linear(values, q):
    """q-quantile of the finite values, linear interpolation between order statistics."""
    x = sorted(v for v in values if math.isfinite(v))
    if not x:
        return math.nan
    pos = q * (len(x) - 1)
    lo = int(math.floor(pos))
    hi = min(lo + 1, len(x) - 1)
    return x[lo] + (pos - lo) * (x[hi] - x[lo])


# --------------------------------------------------------------------------------------------
# Data: a CIFAR-10 binary directory and subset files.

def write_dataset(root):
    """Writes root/cifar (5 train files, test_batch.bin) and the subset files. Returns
    {split: (subset_file, images [n, 3072] uint8, labels [n] int64)} in subset (= sfbench global
    index) order."""
    rng = np.random.default_rng(1)
    data_dir = os.path.join(root, "cifar")
    os.makedirs(data_dir)
    out = {}
    for split, files, per_file, classes in (
            ("train", [f"data_batch_{i}.bin" for i in range(1, 6)], TRAIN_PER_FILE, TRAIN_CLASSES),
            ("test", ["test_batch.bin"], TEST_SAMPLES, 10)):
        base_index, images, labels = [], [], []
        for f, name in enumerate(files):
            chosen = rng.choice(RECORDS_PER_FILE, size=per_file, replace=False)
            lab = (np.arange(per_file) + 3 * f) % classes
            rng.shuffle(lab)
            img = structured_images(rng, lab)
            write_cifar_file(os.path.join(data_dir, name), rng, chosen, img, lab)
            base_index.append(f * RECORDS_PER_FILE + chosen)
            images.append(img)
            labels.append(lab)
        base_index, images, labels = (np.concatenate(v) for v in (base_index, images, labels))
        order = rng.permutation(len(labels))  # subset order mixes the files
        subset = os.path.join(root, f"subset_{split}.txt")
        with open(subset, "w") as fh:
            fh.write("".join(f"{i}\n" for i in base_index[order]))
        out[split] = (subset, images[order], labels[order].astype(np.int64))
    return data_dir, out


# --------------------------------------------------------------------------------------------
# The float64 reference.

def target_value(logits, labels, target):
    cls = labels.view(-1, 1)
    if target == "logit":
        return logits.gather(1, cls).squeeze(1)
    if target == "logprob":
        return torch.log_softmax(logits, 1).gather(1, cls).squeeze(1)
    if target == "prob":
        return torch.softmax(logits, 1).gather(1, cls).squeeze(1)
    raise ValueError(target)


def closed_form_gradient(logits, labels, weight, target):
    """∂t/∂a for a linear head: W[y], W[y] − Σ_j p_j W[j], or p_y (W[y] − Σ_j p_j W[j])."""
    wy = weight[labels]
    if target == "logit":
        return wy
    p = torch.softmax(logits, 1)
    g = wy - p @ weight
    return g if target == "logprob" else p.gather(1, labels.view(-1, 1)) * g


def per_sample_reference(model64, images_u8, labels, target):
    """c [n, k], logits [n, C] in float64, from the images as sfbench reads them."""
    x = images_as_read(images_u8, torch.float64)
    y = torch.from_numpy(labels)
    with torch.no_grad():
        a = model64.embed(normalize(x))
    a.requires_grad_(True)
    logits = model64.fc(a)
    (g,) = torch.autograd.grad(target_value(logits, y, target).sum(), a)
    c = (a * g).detach()
    cf = a.detach() * closed_form_gradient(logits.detach(), y, model64.fc.weight.detach(), target)
    err = float((c - cf).norm() / cf.norm())
    assert err < 1e-12, f"reference autograd and closed form disagree ({err:.3g}, {target})"
    return c.numpy(), logits.detach().numpy()


def pop_sd(rows):
    """Population standard deviation over the last axis (SPEC §2 Eq. 13)."""
    m = rows.mean(-1, keepdims=True)
    return np.sqrt(((rows - m) ** 2).mean(-1))


def statistics(c, labels, logits, classes, seed, replicates, ci_level):
    """Every quantity sfbench writes under /sf and /samples, from per-sample c [n, k]."""
    n = c.shape[0]
    C = c.sum(0) / n
    count = np.bincount(labels, minlength=classes)
    with np.errstate(invalid="ignore", divide="ignore"):
        per_class = np.stack([c[labels == j].sum(0) for j in range(classes)]) / count[:, None]
    w = bootstrap_weights(seed, n, replicates)
    with np.errstate(invalid="ignore", divide="ignore"):
        boot_sf = pop_sd((w @ c) / w.sum(1, keepdims=True))
    tail = (1 - ci_level) / 2
    finite = boot_sf[np.isfinite(boot_sf)]
    top2 = np.sort(logits, 1)[:, -2:]
    pred = logits.argmax(1)
    return {
        "n": n, "k": c.shape[1], "per_sample": c, "global_shapley": C, "sorted": np.sort(C)[::-1],
        "value": float(pop_sd(C)), "per_class": per_class, "per_class_sf": pop_sd(per_class),
        "class_count": count, "bootstrap_sf": boot_sf, "weights": w,
        "ci_low": percentile_linear(boot_sf, tail), "ci_high": percentile_linear(boot_sf, 1 - tail),
        "bootstrap_se": float(finite.std(ddof=1)) if finite.size >= 2 else math.nan,
        "label": labels, "pred": pred, "margin": top2[:, 1] - top2[:, 0],
        "accuracy": float((pred == labels).mean()),
    }


# --------------------------------------------------------------------------------------------
# Comparison.

def rel_err(got, want):
    """‖got − want‖ / ‖want‖ over the entries finite in `want` (NaN where the NaN patterns
    differ, so a mismatch always fails)."""
    got = np.asarray(got, dtype=np.float64)
    want = np.asarray(want, dtype=np.float64)
    if got.shape != want.shape or not np.array_equal(np.isnan(got), np.isnan(want)):
        return math.inf
    ok = np.isfinite(want)
    den = np.linalg.norm(want[ok])
    num = np.linalg.norm(got[ok] - want[ok])
    return num / den if den > 0 else num


def compare(h5, ref, tol, want_attrs):
    """(errors {name: relative error}, problems [str]) of one results file against `ref`."""
    err, problems = {}, []
    sf = h5["sf"]
    for name in ("global_shapley", "sorted", "per_class", "bootstrap_sf"):
        err[name] = rel_err(sf[name][()], ref[name])
    # Each class's SF on its own (elementwise relative error), and the scalars.
    err["per_class_sf"] = max((rel_err(g, w) for g, w in zip(sf["per_class_sf"][()],
                                                            ref["per_class_sf"])), default=0.0)
    err["value"] = rel_err(sf["value"][()], ref["value"])
    attrs = sf["value"].attrs
    err["ci_low"] = rel_err(attrs["ci_low"], ref["ci_low"])
    err["ci_high"] = rel_err(attrs["ci_high"], ref["ci_high"])
    err["bootstrap_se"] = rel_err(attrs["bootstrap_se"], ref["bootstrap_se"])
    # Every run passes --save-per-sample. Stored as float32: compared at float32 resolution.
    if "per_sample" not in sf or sf["per_sample"].dtype != np.float32:
        problems.append("/sf/per_sample is missing or not float32")
    else:
        err["per_sample"] = rel_err(sf["per_sample"][()], ref["per_sample"].astype(np.float32))
    for name, e in err.items():
        if not e <= tol:
            problems.append(f"/sf/{name}: relative error {e:.3g} > {tol:g}")

    count = sf["class_count"][()]
    if count.dtype.kind != "i" or not np.array_equal(count, ref["class_count"]):
        problems.append(f"/sf/class_count {count} != {ref['class_count']}")
    n = ref["n"]
    s = h5["samples"]
    if not np.array_equal(s["index"][()], np.arange(n)):
        problems.append("/samples/index is not 0..n-1")
    if not np.array_equal(s["label"][()], ref["label"]):
        problems.append("/samples/label differs")
    pred = s["pred"][()]
    # Float32 evaluation may flip argmax only where the float64 top-2 gap is tiny.
    flip = (pred != ref["pred"]) & (ref["margin"] > 1e-4)
    if pred.shape != ref["pred"].shape or flip.any():
        problems.append(f"/samples/pred differs at {np.flatnonzero(flip)[:10]}")
    correct = (pred == ref["label"]).astype(np.uint8)
    if s["correct"].dtype != np.uint8 or not np.array_equal(s["correct"][()], correct):
        problems.append("/samples/correct is not uint8 pred == label")
    for key, want in want_attrs.items():
        got = attrs[key]
        got = got.decode() if isinstance(got, bytes) else got
        if (isinstance(want, float) and not abs(got - want) <= 1e-12) or \
                (not isinstance(want, float) and got != want):
            problems.append(f"/sf/value attr {key} = {got!r}, expected {want!r}")
    if abs(attrs["accuracy"] - float((pred == ref["label"]).mean())) > 1e-12:
        problems.append("/sf/value attr accuracy is not mean(correct)")
    if int(h5.attrs["complete"]) != 1:
        problems.append("root attribute complete != 1")
    return err, problems


def run_sfbench(args, work, name, data_dir, subset, model_file, split, extra):
    out = os.path.join(work, f"{name}.h5")
    cmd = [args.mpiexec, "-np", "2", args.sfbench, "sf", "--data", f"cifar10:{data_dir}",
           "--subset", f"file:{subset}", "--split", split, "--model", f"torchscript:{model_file}",
           "--out", out, "--seed", str(SEED), "--batch-size", str(BATCH), "--threads", "1",
           "--save-per-sample"] + extra
    t0 = time.time()
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=240)
    if p.returncode != 0:
        raise SystemExit(f"FAIL [{name}]: exit {p.returncode}: {' '.join(cmd)}\n"
                         f"stdout:\n{p.stdout}\nstderr:\n{p.stderr}")
    return out, time.time() - t0


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sfbench", required=True)
    ap.add_argument("--mpiexec", required=True)
    ap.add_argument("--workdir", required=True, help="parent of the temporary directory")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = ap.parse_args()
    t_start = time.time()
    torch.set_num_threads(1)
    os.makedirs(args.workdir, exist_ok=True)
    work = tempfile.mkdtemp(prefix="sf_reference_", dir=args.workdir)

    data_dir, splits = write_dataset(work)
    # The fixed random model predicts one class for every image; centring its logits on the
    # train images (bias = -W·mean(a)) makes predictions vary. The weights travel to the export
    # through --weights.
    model = sf_reference_model.build()
    with torch.no_grad():
        a = model.embed(normalize(images_as_read(splits["train"][1], torch.float32)))
        model.fc.bias.copy_(-model.fc.weight @ a.mean(0))
    model_file = export(model.state_dict(), os.path.join(HERE, "sf_reference_model.py") + ":build",
                        os.path.join(work, "model.pt"), work)
    model64 = model.double()
    classes = sf_reference_model.CLASSES

    # Sanity of the re-implemented stream itself: Poisson(1) has mean 1 and variance 1.
    w = bootstrap_weights(SEED, 185, 200)
    assert abs(w.mean() - 1) < 0.03 and abs(w.var() - 1) < 0.06, (w.mean(), w.var())

    runs = [  # name, split, target, dtype, tolerance, extra flags, bootstrap, ci_level
        ("train-logit-f32", "train", "logit", "float32", TOL32, [], 200, 0.95),
        ("train-logit-f64", "train", "logit", "float64", TOL64, ["--set", "sf.dtype=float64"],
         200, 0.95),
        ("test-logprob-f64", "test", "logprob", "float64", TOL64,
         ["--target", "logprob", "--set", "sf.dtype=float64", "--bootstrap", "57",
          "--set", "sf.ci_level=0.9"], 57, 0.9),
        ("test-prob-f32", "test", "prob", "float32", TOL32, ["--target", "prob"], 200, 0.95),
    ]
    refs = {}
    failed = False
    print(f"{'run':<18} {'seconds':>7}  max relative error per quantity")
    for name, split, target, dtype, tol, extra, boot, level in runs:
        subset, images, labels = splits[split]
        c, logits = per_sample_reference(model64, images, labels, target)
        ref = statistics(c, labels, logits, classes, SEED, boot, level)
        refs[name] = ref
        out, secs = run_sfbench(args, work, name, data_dir, subset, model_file, split, extra)
        want_attrs = {"n": ref["n"], "k": ref["k"], "target": target, "split": split,
                      "bootstrap": boot, "ci_level": level, "dtype": dtype, "layer": "features"}
        with h5py.File(out, "r") as h5:
            err, problems = compare(h5, ref, tol, want_attrs)
        worst = max(err, key=err.get)
        print(f"{name:<18} {secs:7.2f}  {worst} {err[worst]:.2e} (tolerance {tol:g}); " +
              ", ".join(f"{k} {v:.1e}" for k, v in err.items() if k != worst))
        for p in problems:
            print(f"FAIL [{name}]: {p}")
        failed |= bool(problems)

    # The comparison must catch a wrong sfbench: perturb the reference of the float64 train run
    # and require each perturbation to exceed even the float32 tolerance.
    name, split = "train-logit-f64", "train"
    subset, images, labels = splits[split]
    base = refs[name]
    c = base["per_sample"]
    logits = per_sample_reference(model64, images, labels, "logit")[1]
    mutants = {
        "C with the wrong sign": statistics(-c, labels, logits, classes, SEED, 200, 0.95),
        "one sample missing": statistics(c[:-1], labels[:-1], logits[:-1], classes, SEED, 200,
                                         0.95),
        "bootstrap keyed by seed+1": statistics(c, labels, logits, classes, SEED + 1, 200, 0.95),
    }
    # A missing sample changes n and the per-sample arrays; compare the /sf statistics only.
    with h5py.File(os.path.join(work, f"{name}.h5"), "r") as h5:
        for what, mutant in mutants.items():
            errs = {k: rel_err(h5["sf"][k][()], mutant[k])
                    for k in ("global_shapley", "per_class", "bootstrap_sf")}
            errs["value"] = rel_err(h5["sf"]["value"][()], mutant["value"])
            errs["ci_low"] = rel_err(h5["sf"]["value"].attrs["ci_low"], mutant["ci_low"])
            worst = max(errs, key=errs.get)
            verdict = "caught" if errs[worst] > TOL32 else "NOT CAUGHT"
            print(f"mutation check: {what}: {verdict} ({worst} {errs[worst]:.2e}; " +
                  ", ".join(f"{k} {v:.1e}" for k, v in errs.items() if k != worst) + ")")
            failed |= errs[worst] <= TOL32

    print(f"sf_reference_test: {'FAIL' if failed else 'PASS'} in {time.time() - t_start:.1f} s")
    if failed or args.keep:
        print(f"sf_reference_test: files kept in {work}")
    else:
        shutil.rmtree(work, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
