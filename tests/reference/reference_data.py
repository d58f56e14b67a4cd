"""What the reference tests of tests/reference/ share: synthetic CIFAR-shaped images, the CIFAR-10
binary files sfbench's reader accepts, the images exactly as that reader makes them, a small CNN
trained in seconds, and the export of a PyTorch model to the TorchScript file sfbench loads
(scripts/export_torchscript.py, protocol 2).

Used by sf_reference_test.py (data, export), attack_reference_test.py (also StageLog) and
attribution_reference_test.py (data, the trained CNN, export).
"""
import logging
import math
import os
import re
import sys
import time

import numpy as np
import torch
from torch import nn

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(REPO, "scripts"))
import export_torchscript  # noqa: E402

CIFAR10_MEAN = [0.4914, 0.4822, 0.4465]
CIFAR10_STD = [0.2470, 0.2435, 0.2616]
RECORDS_PER_FILE = 10000      # what sfbench's CIFAR-10 reader requires of every file
PIXELS = 3 * 32 * 32
CLASSES = 10

# --------------------------------------------------------------------------------------------
# sfbench's documented random stream (src/sfb/core/rng.cpp, core/counter_rng.hpp), in pure
# Python integer arithmetic.
MASK64 = (1 << 64) - 1
GOLDEN = 0x9E3779B97F4A7C15


def splitmix64_output(z):
    """The SplitMix64 output function of a 64-bit state."""
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
    return z ^ (z >> 31)


def mix64(z):
    return splitmix64_output((z + GOLDEN) & MASK64)


def derive_seed(seed, keys):
    """h = mix64(seed); h = mix64(h ^ key) for each key."""
    h = mix64(seed & MASK64)
    for k in keys:
        h = mix64(h ^ (k & MASK64))
    return h


class CounterStream:
    """CounterRng: state += golden, output = mix(state); uniform = (bits >> 11) * 2^-53."""

    def __init__(self, state):
        self.state = state

    def uniform(self):
        self.state = (self.state + GOLDEN) & MASK64
        return (splitmix64_output(self.state) >> 11) * 2.0 ** -53


def uniform_floats(state, count):
    """The first `count` CounterRng(state).uniform_float() values, vectorized: [count] float64
    holding the float32 values (bits >> 40) * 2^-24 exactly."""
    with np.errstate(over="ignore"):
        z = np.uint64(state) + np.uint64(GOLDEN) * np.arange(1, count + 1, dtype=np.uint64)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    return (z >> np.uint64(40)).astype(np.float64) * 2.0 ** -24


# --------------------------------------------------------------------------------------------
# Images and the CIFAR-10 binary format.

def structured_images(rng, labels):
    """[n, 3072] uint8 CHW images: class-dependent oriented stripes and colour, a random bright
    blob and pixel noise, so features, logits and attributions vary across samples."""
    n = len(labels)
    yy, xx = np.meshgrid(np.arange(32.0), np.arange(32.0), indexing="ij")
    palette = 0.3 + 0.7 * np.random.default_rng(5).random((10, 3))
    out = np.empty((n, 3, 32, 32))
    for i, y in enumerate(labels):
        theta = y * math.pi / 10 + rng.uniform(-0.3, 0.3)
        freq = 1 + y % 4
        u = xx * math.cos(theta) + yy * math.sin(theta)
        img = 0.5 + 0.35 * np.sin(2 * math.pi * freq * u / 32 + rng.uniform(0, 2 * math.pi))
        cy, cx = rng.uniform(4, 28, 2)
        img = img + 0.4 * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * rng.uniform(2, 5) ** 2))
        out[i] = palette[y][:, None, None] * img[None] * rng.uniform(0.7, 1.2)
        out[i] += rng.normal(0, 0.06, (3, 32, 32))
    return np.clip(np.rint(out * 255), 0, 255).astype(np.uint8).reshape(n, PIXELS)


def blended_images(rng, labels, weights):
    """[n, 3072] uint8: structured_images of `labels` blended with those of other random classes,
    (1 − w)·own + w·other with w ~ U(weights[0], weights[1]) per image, so that the classifier's
    margins spread from large (w ≈ 0) to near the decision boundary (w ≈ 1/2)."""
    labels = np.asarray(labels)
    others = (labels + rng.integers(1, CLASSES, size=len(labels))) % CLASSES
    own = structured_images(rng, labels).astype(np.float64)
    other = structured_images(rng, others).astype(np.float64)
    w = rng.uniform(weights[0], weights[1], size=(len(labels), 1))
    return np.clip(np.rint((1 - w) * own + w * other), 0, 255).astype(np.uint8)


def write_cifar_file(path, rng, chosen, images, labels):
    """RECORDS_PER_FILE records (1 label byte + 3072 pixel bytes): noise with random labels,
    except record chosen[j], which holds images[j] with labels[j]."""
    rec = rng.integers(0, 256, size=(RECORDS_PER_FILE, 1 + PIXELS), dtype=np.uint8)
    rec[:, 0] = rng.integers(0, 10, size=RECORDS_PER_FILE, dtype=np.uint8)
    rec[chosen, 0] = labels
    rec[chosen, 1:] = images
    rec.tofile(path)


def write_cifar_test_split(root, image_sets, seed=3):
    """Writes root/cifar/test_batch.bin holding every set of `image_sets` ([(images [n, 3072]
    uint8, labels [n]), ...]) at random records (every other record is noise that a correct run
    never reads) and, for set s, root/subset_<s>.txt listing its records in order, so that with
    `--split test --subset file:SUBSET` sfbench's global index i is images[i] of that set.
    Returns (data_dir, [subset file of each set])."""
    rng = np.random.default_rng(seed)
    data_dir = os.path.join(root, "cifar")
    os.makedirs(data_dir, exist_ok=True)
    images = np.concatenate([im for im, _ in image_sets])
    labels = np.concatenate([np.asarray(lab, dtype=np.uint8) for _, lab in image_sets])
    chosen = rng.choice(RECORDS_PER_FILE, size=len(labels), replace=False)
    write_cifar_file(os.path.join(data_dir, "test_batch.bin"), rng, chosen, images, labels)
    subsets, start = [], 0
    for s, (_, lab) in enumerate(image_sets):
        subsets.append(os.path.join(root, f"subset_{s}.txt"))
        with open(subsets[-1], "w") as fh:
            fh.write("".join(f"{i}\n" for i in chosen[start:start + len(lab)]))
        start += len(lab)
    return data_dir, subsets


def images_as_read(images_u8, dtype):
    """[n, 3, 32, 32] images exactly as sfbench's CIFAR reader makes them (byte / 255 in float32,
    correctly rounded), then converted to `dtype`."""
    x32 = images_u8.reshape(-1, 3, 32, 32).astype(np.float32) / np.float32(255)
    return torch.from_numpy(x32).to(dtype)


def normalize(x):
    """(x - mean) / std with the float32 CIFAR-10 statistics the export wrapper stores."""
    mean = torch.tensor(CIFAR10_MEAN, dtype=torch.float32).view(1, 3, 1, 1).to(x.dtype)
    std = torch.tensor(CIFAR10_STD, dtype=torch.float32).view(1, 3, 1, 1).to(x.dtype)
    return (x - mean) / std


# --------------------------------------------------------------------------------------------
# A small CNN, trained in seconds on structured_images.

class SmallCNN(nn.Module):
    """x: [B, 3, 32, 32] normalized -> logits [B, 10]. conv-BN-ReLU (32x32), strided
    conv-BN-ReLU (16x16), conv-ReLU (16x16, the feature map), global average pool, Linear `fc`.
    Every ReLU is its own nn.ReLU module, used once and not in place (Captum's guided
    backpropagation overrides the backward pass of nn.ReLU modules)."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(8)
        self.relu1 = nn.ReLU()
        self.conv2 = nn.Conv2d(8, 16, 3, stride=2, padding=1)
        self.bn2 = nn.BatchNorm2d(16)
        self.relu2 = nn.ReLU()
        self.conv3 = nn.Conv2d(16, 16, 3, padding=1)
        self.relu3 = nn.ReLU()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(16, CLASSES)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu1(self.bn1(self.conv1(x)))
        x = self.relu2(self.bn2(self.conv2(x)))
        x = self.relu3(self.conv3(x))
        return self.fc(torch.flatten(self.pool(x), 1))


def small_cnn() -> nn.Module:
    """An untrained SmallCNN (the callable scripts/export_torchscript.py --model builds)."""
    return SmallCNN()


class Normalized(nn.Module):
    """[0, 1] images -> the wrapped model's logits, normalizing with the CIFAR-10 statistics in
    the input's dtype: the eager twin of the exported file's forward()."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(normalize(x))


def train_small_cnn(seed=0, n_train=2000, epochs=6, batch=64, lr=3e-3, log=print):
    """A SmallCNN trained on `n_train` structured_images (labels uniform over 10 classes) with
    Adam: about 5 s on one core, training accuracy 1. Returns the model in eval mode (float32)."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed + 100)
    labels = rng.integers(0, CLASSES, size=n_train)
    x = images_as_read(structured_images(rng, labels), torch.float32)
    y = torch.from_numpy(labels).long()
    net = SmallCNN().train()
    model = Normalized(net)
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    loss_fn = nn.CrossEntropyLoss()
    t0 = time.time()
    for epoch in range(epochs):
        perm = torch.randperm(n_train)
        total, correct = 0.0, 0
        for s in range(0, n_train, batch):
            idx = perm[s:s + batch]
            xb, yb = x[idx], y[idx]
            out = model(xb)
            loss = loss_fn(out, yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item() * len(idx)
            correct += int((out.argmax(1) == yb).sum())
        log(f"  train epoch {epoch + 1}/{epochs}: loss {total / n_train:.3f}, "
            f"accuracy {correct / n_train:.3f} ({time.time() - t0:.1f} s)")
    return net.eval()


# --------------------------------------------------------------------------------------------
# Export.

def export(state_dict, builder, out, work, fc="fc"):
    """Exports the model `builder` ("file.py:callable" returning the untrained nn.Module) with
    `state_dict` through scripts/export_torchscript.py (protocol 2, CIFAR-10 mean/std inside the
    wrapper, 3x32x32 inputs) to `out`. Returns `out`."""
    weights = os.path.join(work, os.path.basename(out) + ".weights.pt")
    torch.save(state_dict, weights)
    rc = export_torchscript.main([
        "--model", builder, "--fc", fc, "--weights", weights, "--input-shape", "3", "32", "32",
        "--mean", *map(str, CIFAR10_MEAN), "--std", *map(str, CIFAR10_STD), "--out", out])
    if rc != 0:
        raise SystemExit(f"FAIL: scripts/export_torchscript.py exited {rc} for {builder}")
    return out


# --------------------------------------------------------------------------------------------
# The reference AutoAttack's log.

class StageLog(logging.Handler):
    """Collects (attack, robust accuracy) from the reference's 'robust accuracy after ...'
    records, the numbers its run_standard_evaluation reports after each attack (a percentage
    with two decimals: exact for N_EVAL = 40, where one sample is 2.5 %)."""

    def __init__(self):
        super().__init__(logging.DEBUG)
        self.stages = []

    def emit(self, record):
        m = re.match(r"robust accuracy after (\S+): ([0-9.]+)%", record.getMessage())
        if m:
            self.stages.append((m.group(1).lower(), float(m.group(2)) / 100))
