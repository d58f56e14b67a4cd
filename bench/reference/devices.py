"""What the paired references share for the GPU configurations (issue 10): the device and the
precision they run under, device-correct timing, FLOP counting, and the GPU configurations
themselves (bench/bench_gpu.hpp is the C++ side; names and batch sizes must agree).

Precision follows sfbench's Context (src/sfb/comm/context.cpp apply_precision): fp32 turns the
CUDA TF32 switches off (PyTorch's default leaves cuDNN's on, sfbench's fp32 does not), tf32 turns
both on, bf16 runs the work under autocast to bfloat16 on the device with the cast cache off.
"""
import contextlib
import os

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import flop_registry

# The GPU configurations: (architecture, resolution H = W, batch). bench_gpu.hpp explains the batch
# sizes. SMOKE_CONFIGS: the stand-ins of the CPU smoke test (SFB_BENCH_GPU_SMOKE=1), as in C++.
GPU_CONFIGS = (("wrn-28-10", 32, 256), ("resnet-50", 224, 128))
SMOKE_CONFIGS = (("cnn-small", 32, 4), ("resnet-50", 64, 2))

_device = torch.device("cpu")
_precision = "fp32"


def add_device_args(p):
    """--device, --precision, --gpu-configs and --count-flops (bench/run_gpu_benchmarks.sh)."""
    p.add_argument("--device", default="cpu", help="cpu | cuda (the GPU configurations' device)")
    p.add_argument("--precision", default="fp32", choices=("fp32", "tf32", "bf16"),
                   help="as sfbench's --precision (SFB_BENCH_PRECISION for the C++ side)")
    p.add_argument("--gpu-configs", action="store_true",
                   help="run the GPU configurations (names .../gpu/<arch>/<res>px/...) instead of "
                        "the CPU ones, on --device")
    p.add_argument("--count-flops", action="store_true",
                   help="count the FLOPs of one untimed call per configuration "
                        "(torch.utils.flop_counter) into the counter flops_per_image")


def configure(args):
    """Applies --device and --precision process-wide; returns the device."""
    global _device, _precision
    _device = torch.device(args.device)
    _precision = args.precision
    tf32 = args.precision == "tf32"
    torch.backends.cuda.matmul.allow_tf32 = tf32
    torch.backends.cudnn.allow_tf32 = tf32
    return _device


def device():
    """The device configure() set (CPU before)."""
    return _device


def sync():
    """Waits for the work queued on the device (CUDA kernels are asynchronous); no-op on the CPU."""
    if _device.type == "cuda":
        torch.cuda.synchronize(_device)


def precision_scope():
    """The context the timed work runs in: autocast to bf16 on the device for bf16 (cast cache
    off, as sfbench), else nothing."""
    if _precision == "bf16":
        return torch.autocast(_device.type, dtype=torch.bfloat16, cache_enabled=False)
    return contextlib.nullcontext()


def smoke():
    """SFB_BENCH_GPU_SMOKE=1: the CPU smoke test's small stand-ins (bench_gpu.hpp)."""
    return os.environ.get("SFB_BENCH_GPU_SMOKE") == "1"


def gpu_configs():
    """[(arch, resolution, batch, tag)] with tag = "gpu/<arch>/<res>px" (the names' middle part)."""
    configs = SMOKE_CONFIGS if smoke() else GPU_CONFIGS
    return [(arch, res, batch, f"gpu/{arch}/{res}px") for arch, res, batch in configs]


def calibrate_bn(model, resolution):
    """Sets every BatchNorm's running statistics to those of 8 random images (one train-mode
    forward without a graph, momentum 1) and leaves the model in eval mode, as bench_gpu.hpp's
    calibrate_bn does for sfbench (values only; the work timed does not change)."""
    bns = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    saved = [bn.momentum for bn in bns]
    for bn in bns:
        bn.momentum = 1.0
    model.train()
    with torch.no_grad():
        model(torch.rand(8, 3, resolution, resolution).to(next(model.parameters()).device))
    for bn, m in zip(bns, saved):
        bn.momentum = m
    model.eval()


class _FlopCount(TorchDispatchMode):
    """Sums torch.utils.flop_counter's formulas (flop_registry: matmuls and convolutions forward
    and backward, 2 FLOPs per multiply-add) over the ATen calls made under it. FlopCounterMode
    itself is not used: its per-module tracking hooks refuse torch.autograd.grad with respect to a
    leaf input ("A leaf node was passed to _will_engine_execute_node"), which PGD does."""

    def __init__(self):
        super().__init__()
        self.total = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        formula = flop_registry.get(func._overloadpacket)
        if formula is not None:
            self.total += formula(*args, **kwargs, out_val=out)
        return out


def count_flops(work, items):
    """FLOPs per item of one call of work() (forward and backward as work() does them), the call
    run once (untimed) on the configured device and precision."""
    with _FlopCount() as counter, precision_scope():
        work()
    sync()
    return counter.total / items


def device_context():
    """Fields for the reference's JSON context: device, its name, precision, CUDA and cuDNN."""
    out = {"device": str(_device), "precision": _precision,
           "cuda": torch.version.cuda or "none"}
    if _device.type == "cuda":
        out["gpu_name"] = torch.cuda.get_device_name(_device)
        out["cudnn"] = str(torch.backends.cudnn.version())
        try:
            out["nccl"] = ".".join(str(v) for v in torch.cuda.nccl.version())
        except (AttributeError, RuntimeError):
            pass
    return out
