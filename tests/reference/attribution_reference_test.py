#!/usr/bin/env python3
"""Conformance of `sfbench attribution` with Captum (SPEC.md §5, issue 21 item 6).

The test
  1. trains a small CNN for a few seconds (reference_data.train_small_cnn: 10 classes, every ReLU
     its own nn.ReLU module, feature map = the output of `relu3`, 16x16), exports it with
     scripts/export_torchscript.py and writes N_IMAGES fresh images as a CIFAR-10 binary test
     split with a subset file;
  2. runs `mpiexec -np 2 sfbench attribution` with every method, float64 evaluation
     (attribution.dtype), the maps of every image saved (/attribution/maps/<method>: channel-sum,
     float32), STEPS integrated-gradients steps, SAMPLES SmoothGrad/GradientShap samples,
     Grad-CAM on the export's feature map relu3 (attribution.layer) and layer-wise IG on relu2
     (attribution.ig_layer: after relu3 the network is linear, where every Riemann rule is exact);
  3. computes the same maps with Captum 0.9 on the eager PyTorch model (the same weights, the
     normalization in front, float64), for the ground-truth class as target, each summed over
     channels: Saliency (abs), InputXGradient, IntegratedGradients (zeros baseline,
     method="riemann_middle", n_steps = STEPS), GuidedBackprop, LayerGradCam on relu3 with
     relu_attributions and bilinear LayerAttribution.interpolate, GuidedGradCam on relu3 with
     interpolate_mode="bilinear", LayerIntegratedGradients on relu2 (riemann_middle, STEPS,
     zeros baseline) summed over channels and upsampled bilinearly (align_corners=False, as
     sfbench does);
  4. deterministic methods: the largest |sfbench − Captum| of each map relative to the largest
     |Captum| of that map must stay below REL_TOL = 1e-4 for every image (float32 storage and
     Captum's float32 Riemann coefficients give ~1e-7);
  5. SmoothGrad (σ = 0.15) and GradientShap (baseline 0, input noise σ = 0.1): Monte Carlo
     estimates from different random draws, compared statistically. Captum's map averages
     CAPTUM_SAMPLES draws, sfbench's SAMPLES; the per-pixel variance v of one draw's
     channel-summed term is estimated from VAR_DRAWS extra draws computed with plain PyTorch
     autograd. With z = (sfbench − Captum) / sqrt(v/SAMPLES + v/CAPTUM_SAMPLES), mean z² over all
     pixels has expectation 1 when both estimate the same map and must stay below Z2_MAX; the
     same z of each image's map total (sum over pixels) must stay within ±Z_TOTAL_MAX;
  6. checks that every comparison can fail: Captum maps for another target class, Riemann left
     instead of middle, nearest instead of bilinear upsampling, SmoothGrad with σ = 0.1,
     GradientShap without input noise must each exceed the tolerance.

usage: attribution_reference_test.py --sfbench PATH --mpiexec PATH --workdir DIR [--keep]
Exit status: 0 pass, 1 fail, 77 skipped (h5py/numpy/torch/captum missing).
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import warnings

try:
    import h5py
    import numpy as np
    import torch
    import torch.nn.functional as F
    from captum.attr import (GradientShap, GuidedBackprop, GuidedGradCam, InputXGradient,
                             IntegratedGradients, LayerAttribution, LayerGradCam,
                             LayerIntegratedGradients, NoiseTunnel, Saliency)
except ImportError as e:  # the test needs the project's virtual environment (SFB_PYTHON)
    print(f"attribution_reference_test: SKIP: {e}")
    sys.exit(77)

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import reference_data as rd  # noqa: E402

N_IMAGES = 16
SEED = 424242
BATCH = 4                   # two batches per rank
STEPS = 32                  # integrated gradients (both kinds)
SAMPLES = 256               # sfbench's SmoothGrad / GradientShap draws per image
CAPTUM_SAMPLES = 256        # Captum's
VAR_DRAWS = 256             # plain PyTorch draws per image for the per-pixel variance
CHUNK = 32                  # draws per forward/backward pass of the Monte Carlo references
NOISE_STD = 0.15            # SmoothGrad σ (sfbench's default), pixel units
SHAP_NOISE_STD = 0.1        # GradientShap input noise σ (Captum's stdevs)
REL_TOL = 1e-4              # deterministic methods
Z2_MAX = 1.5                # mean z² over pixels (expectation 1)
Z_TOTAL_MAX = 4.5           # |z| of each image's map total
METHODS = ["saliency", "input-x-gradient", "integrated-gradients", "guided-backprop",
           "grad-cam", "guided-grad-cam", "layer-integrated-gradients", "smoothgrad",
           "gradient-shap"]
STATISTICAL = ["smoothgrad", "gradient-shap"]
CAM_LAYER = "relu3"         # Grad-CAM: the feature map before the global pooling
IG_LAYER = "relu2"          # layer IG: a layer with non-linear layers after it (after relu3 the
                            # network is linear, so every Riemann rule gives the exact integral)
# Methods with a second mutant: Riemann left sums (IG, layer IG), nearest upsampling (Grad-CAM,
# guided Grad-CAM), SmoothGrad σ = 0.1, GradientShap without input noise.
RULE_MUTANTS = ["integrated-gradients", "layer-integrated-gradients", "grad-cam",
                "guided-grad-cam", "smoothgrad", "gradient-shap"]


# --------------------------------------------------------------------------------------------
# Captum, float64, channel-summed maps [n, H, W].

def upsample(a, size):
    """[n, 1, h, w] -> [n, 1, H, W], bilinear, align_corners=False (sfbench's interpolate)."""
    return F.interpolate(a, size=size, mode="bilinear", align_corners=False)


def captum_maps(model, x, y, methods, target=None, ig_method="riemann_middle",
                cam_mode="bilinear", smooth_std=NOISE_STD, shap_std=SHAP_NOISE_STD):
    """{method: [n, H, W] float64} for `methods`; `target` (default y) and the other arguments
    let the mutation checks ask for a deliberately different map."""
    t = y if target is None else target
    cam_layer, ig_layer = model.net.relu3, model.net.relu2
    zeros = torch.zeros_like(x)
    size = x.shape[2:]

    def smoothgrad():
        torch.manual_seed(SEED)
        return NoiseTunnel(Saliency(model)).attribute(
            x, nt_type="smoothgrad", nt_samples=CAPTUM_SAMPLES, nt_samples_batch_size=CHUNK,
            stdevs=smooth_std, target=t)

    def gradient_shap():
        # The mean of CAPTUM_SAMPLES / CHUNK independent calls of CHUNK samples each: the same
        # estimator as one call of CAPTUM_SAMPLES, without its 4096-row tensors.
        torch.manual_seed(SEED)
        np.random.seed(SEED)  # GradientShap draws its α with numpy
        gs = GradientShap(model)
        return sum(gs.attribute(x, baselines=torch.zeros_like(x[:1]), n_samples=CHUNK,
                                stdevs=shap_std, target=t)
                   for _ in range(CAPTUM_SAMPLES // CHUNK)) / (CAPTUM_SAMPLES // CHUNK)

    make = {
        "saliency": lambda: Saliency(model).attribute(x, target=t, abs=True),
        "input-x-gradient": lambda: InputXGradient(model).attribute(x, target=t),
        "integrated-gradients": lambda: IntegratedGradients(model).attribute(
            x, baselines=zeros, target=t, n_steps=STEPS, method=ig_method),
        "guided-backprop": lambda: GuidedBackprop(model).attribute(x, target=t),
        "grad-cam": lambda: LayerAttribution.interpolate(
            LayerGradCam(model, cam_layer).attribute(x, target=t, relu_attributions=True), size,
            interpolate_mode=cam_mode),
        "guided-grad-cam": lambda: GuidedGradCam(model, cam_layer).attribute(
            x, target=t, interpolate_mode=cam_mode),
        "layer-integrated-gradients": lambda: upsample(LayerIntegratedGradients(
            model, ig_layer).attribute(x, baselines=zeros, target=t, n_steps=STEPS,
                                    method=ig_method).sum(1, keepdim=True), size),
        "smoothgrad": smoothgrad,
        "gradient-shap": gradient_shap,
    }
    return {m: make[m]().detach().sum(1).numpy() for m in methods}


# --------------------------------------------------------------------------------------------
# Per-draw variance of the stochastic methods, plain PyTorch autograd.

def draw_terms(model, x, y, method, draws, gen):
    """[n, draws, H, W] channel-summed single-draw terms: SmoothGrad |∇x z_y(x + σε)|;
    GradientShap (x + σ'ε) ⊙ ∇x z_y(α (x + σ'ε)), α ~ U(0, 1), baseline 0."""
    terms = []
    for i in range(x.shape[0]):
        for s in range(0, draws, CHUNK):
            xr = x[i:i + 1].expand(min(CHUNK, draws - s), *x.shape[1:])
            noise = torch.randn(xr.shape, generator=gen, dtype=x.dtype)
            if method == "smoothgrad":
                p, weights = xr + NOISE_STD * noise, None
            else:
                weights = xr + SHAP_NOISE_STD * noise
                p = torch.rand((xr.shape[0], 1, 1, 1), generator=gen, dtype=x.dtype) * weights
            p.requires_grad_(True)
            (g,) = torch.autograd.grad(model(p)[:, int(y[i])].sum(), p)
            terms.append((g.abs() if weights is None else g * weights).sum(1))
    return torch.cat(terms).view(x.shape[0], draws, *x.shape[2:]).numpy()


def z_statistics(got, want, terms):
    """(mean z² over pixels, max |z| of the per-image totals) of got − want, each a Monte Carlo
    mean (SAMPLES resp. CAPTUM_SAMPLES draws) of terms like `terms` [n, draws, H, W]."""
    scale = 1 / SAMPLES + 1 / CAPTUM_SAMPLES
    var = terms.var(1, ddof=1)
    ok = var > 0
    z2 = (got - want) ** 2 / (var * scale)
    var_total = terms.sum((2, 3)).var(1, ddof=1)
    z_total = (got - want).sum((1, 2)) / np.sqrt(var_total * scale)
    return float(z2[ok].mean()), float(np.abs(z_total).max())


# --------------------------------------------------------------------------------------------

def rel_error(got, want):
    """max over images of max |got − want| / max |want| (a map's error in units of its scale;
    inf where `want` is all zero and `got` is not)."""
    num = np.abs(got - want).reshape(len(want), -1).max(1)
    den = np.abs(want).reshape(len(want), -1).max(1)
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = np.where(num == 0, 0.0, num / den)
    return float(np.max(rel))


def run_sfbench(args, work, data_dir, subset, model_file):
    out = os.path.join(work, "attribution.h5")
    cmd = [args.mpiexec, "-np", "2", args.sfbench, "attribution", "--data", f"cifar10:{data_dir}",
           "--subset", f"file:{subset}", "--split", "test", "--model",
           f"torchscript:{model_file}", "--out", out, "--seed", str(SEED), "--batch-size",
           str(BATCH), "--threads", "1", "--methods", json.dumps(METHODS), "--steps", str(STEPS),
           "--samples", str(SAMPLES), "--maps", str(N_IMAGES), "--montage", "0",
           "--occlusion-colors", "[]", "--internal-batch", "64",
           "--set", "attribution.noise=false", "--set", "attribution.agreement=false",
           "--set", "attribution.dtype=float64", "--set", f"attribution.noise_std={NOISE_STD}",
           "--set", f"attribution.shap_noise_std={SHAP_NOISE_STD}",
           "--set", f"attribution.layer={CAM_LAYER}", "--set", f"attribution.ig_layer={IG_LAYER}"]
    t0 = time.time()
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=240)
    if p.returncode != 0:
        raise SystemExit(f"FAIL: exit {p.returncode}: {' '.join(cmd)}\n"
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
    # Captum's notes that it set requires_grad on the inputs and hooks the ReLUs: expected here.
    warnings.filterwarnings("ignore", message="Input Tensor 0 did not already require gradients")
    warnings.filterwarnings("ignore", message="Setting backward hooks on ReLU activations")
    torch.set_num_threads(1)  # two threads are several times slower on a busy 2-core machine
    os.makedirs(args.workdir, exist_ok=True)
    work = tempfile.mkdtemp(prefix="attribution_reference_", dir=args.workdir)
    failed = False

    print("training the model:")
    net = rd.train_small_cnn(seed=3)
    model_file = rd.export(net.state_dict(), os.path.join(HERE, "reference_data.py") + ":small_cnn",
                           os.path.join(work, "model.pt"), work)
    feature_map = json.loads(torch.jit.load(model_file).sfb_export)["feature_map"]
    if feature_map != CAM_LAYER:
        raise SystemExit(f"FAIL: the export's feature map is '{feature_map}', not {CAM_LAYER}")
    rng = np.random.default_rng(4)
    labels = rng.permutation(np.arange(N_IMAGES) % rd.CLASSES)
    images = rd.structured_images(rng, labels)
    data_dir, (subset,) = rd.write_cifar_test_split(work, [(images, labels)])
    t_setup = time.time() - t_start

    out, secs = run_sfbench(args, work, data_dir, subset, model_file)
    with h5py.File(out, "r") as h5:
        maps = h5["attribution"]["maps"]
        if not np.array_equal(maps["index"][()], np.arange(N_IMAGES)):
            raise SystemExit(f"FAIL: /attribution/maps/index is {maps['index'][()]}")
        got = {m: maps[m][()].astype(np.float64) for m in METHODS}
        attrs = h5["attribution"].attrs
        for key, want in (("layer", CAM_LAYER), ("ig_layer", IG_LAYER), ("dtype", "float64")):
            v = attrs[key]
            v = v.decode() if isinstance(v, bytes) else str(v)
            if v != want:
                print(f"FAIL: /attribution attribute {key} = {v!r}, expected {want!r}")
                failed = True

    t0 = time.time()
    model = rd.Normalized(net).double().eval()
    x = rd.images_as_read(images, torch.float64)
    y = torch.from_numpy(labels).long()
    want = captum_maps(model, x, y, METHODS)
    t_captum = time.time() - t0
    print(f"\nsfbench attribution (mpiexec -np 2, float64): {secs:.1f} s; Captum: {t_captum:.1f} s")

    # Mutants: what a wrong convention would give; each must be caught.
    t0 = time.time()
    deterministic = [m for m in METHODS if m not in STATISTICAL]
    wrong_target = captum_maps(model, x, y, deterministic,
                               target=(y + 1) % rd.CLASSES)
    wrong_rule = captum_maps(model, x, y, RULE_MUTANTS,
                             ig_method="riemann_left", cam_mode="nearest", smooth_std=0.1,
                             shap_std=0.0)
    t_mut = time.time() - t0

    print(f"\n{'method':<28} {'max rel. error':>14} {'tolerance':>9}  mutants (another target; "
          f"another rule)")
    for m in METHODS:
        if m in STATISTICAL:
            continue
        err = rel_error(got[m], want[m])
        e_target = rel_error(got[m], wrong_target[m])
        e_rule = rel_error(got[m], wrong_rule[m]) if m in RULE_MUTANTS else None
        print(f"{m:<28} {err:>14.2e} {REL_TOL:>9.0e}  {e_target:.2e}" +
              (f"; {e_rule:.2e}" if e_rule is not None else ""))
        if not err <= REL_TOL:
            print(f"FAIL [{m}]: sfbench and Captum differ by {err:.3g} (relative) > {REL_TOL:g}")
            failed = True
        for what, e in (("another target class", e_target), ("another rule", e_rule)):
            if e is not None and not e > REL_TOL:
                print(f"FAIL [{m}]: Captum's map for {what} is within the tolerance ({e:.3g}): "
                      f"the comparison cannot fail")
                failed = True
        spread = got[m].reshape(N_IMAGES, -1).std(1)
        if not (spread > 0).all():
            print(f"FAIL [{m}]: constant maps for images {np.flatnonzero(spread == 0)}")
            failed = True

    t0 = time.time()
    gen = torch.Generator().manual_seed(SEED + 1)
    print(f"\n{'method':<28} {'mean z^2':>9} {'max |z| total':>13} {'corr':>6}  "
          f"(limits {Z2_MAX}, {Z_TOTAL_MAX}); mutant (σ changed)")
    for m in STATISTICAL:
        terms = draw_terms(model, x, y, m, VAR_DRAWS, gen)
        z2, zt = z_statistics(got[m], want[m], terms)
        mz2, mzt = z_statistics(got[m], wrong_rule[m], terms)
        corr = float(np.corrcoef(got[m].ravel(), want[m].ravel())[0, 1])
        print(f"{m:<28} {z2:>9.3f} {zt:>13.2f} {corr:>6.3f}  mean z^2 {mz2:.1f}, "
              f"max |z| total {mzt:.1f}")
        if not (z2 <= Z2_MAX and zt <= Z_TOTAL_MAX):
            print(f"FAIL [{m}]: sfbench and Captum disagree beyond Monte Carlo noise: mean z^2 "
                  f"{z2:.3f} (limit {Z2_MAX}), max |z| of a map total {zt:.2f} (limit "
                  f"{Z_TOTAL_MAX})")
            failed = True
        if mz2 <= Z2_MAX and mzt <= Z_TOTAL_MAX:
            print(f"FAIL [{m}]: Captum with another σ passes too: the comparison cannot fail")
            failed = True
    t_stat = time.time() - t0

    print(f"attribution_reference_test: {'FAIL' if failed else 'PASS'} in "
          f"{time.time() - t_start:.1f} s (set-up and training {t_setup:.1f} s, mutants "
          f"{t_mut:.1f} s, variances {t_stat:.1f} s)")
    if failed or args.keep:
        print(f"attribution_reference_test: files kept in {work}")
    else:
        shutil.rmtree(work, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
