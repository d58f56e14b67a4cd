#!/usr/bin/env python3
"""The GPU benchmark table (issue 10) from the merged runs of bench/run_gpu_benchmarks.sh: one
markdown file and one combined JSON file.

Rows: every sfbench benchmark named .../gpu/<arch>/<res>px/... (bench/bench_gpu.hpp) with its
PyTorch reference (the same name with "PyTorch" after the benchmark's name) measured in the same
run. Columns: images/s of each side (median over rounds), their ratio (> 1: sfbench faster) and the
median [min, max] of the per-round ratios, GFLOP per image (counted by the reference with
torch.utils.flop_counter's formulas, forward and backward as the computation does them; the same
count serves both sides), achieved TFLOP/s = FLOPs per image × images/s, and that as a fraction of
the GPU's dense bf16 peak (PEAK_BF16_TFLOPS, keyed by torch.cuda.get_device_name; SFB_GPU_PEAK_TFLOPS
overrides it).
usage: gpu_table.py --env ENV.json --md OUT.md --json OUT.json [--commbench NAME=FILE ...] MERGED...
"""
import argparse
import json
import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ratios import medians, paired  # noqa: E402

# Dense (no sparsity) bf16 tensor-core peaks in TFLOP/s, from NVIDIA's datasheets: H200 SXM 989.4
# (the "NVIDIA H200 Tensor Core GPU" datasheet lists 1,979 TFLOPS *with sparsity*), H100 SXM the
# same. On this workplace's H200 an 8192³ bf16 matmul reached about 790 TFLOP/s (80% of the peak),
# the practical ceiling to read "fraction of peak" against. Other GPUs: SFB_GPU_PEAK_TFLOPS.
PEAK_BF16_TFLOPS = {
    "NVIDIA H200": 989.4,
    "NVIDIA H100 80GB HBM3": 989.4,
}
LABELS = {
    "BM_SfStage": "SF stage (closed form)",
    "BM_Pgd": "PGD-10",
    "BM_Interactions": "interaction masked forwards",
    "BM_TrainStep": "PGD-AT training step",
}


def parse(run_name):
    """BM_X/gpu/<arch>/<res>px/.../<batch>/manual_time -> (base, arch, res, batch)."""
    parts = run_name.split("/")
    base, arch, res = parts[0], parts[2], parts[3].removesuffix("px")
    batch = next(p for p in reversed(parts) if p.isdigit())
    return base, arch, int(res), int(batch)


def rows(paths):
    """One dict per sfbench GPU benchmark found with its reference among the merged files."""
    files = [(path, *medians(path)) for path in paths]
    everything = {}
    for _, _, med in files:
        everything.update(med)
    out = []
    for path, ctx, med in files:
        if "torch" in ctx:  # a reference's file
            continue
        for name, mine in med.items():
            if "/gpu/" not in name:
                continue
            base, arch, res, batch = parse(name)
            ref = everything.get(name.replace(base, base + "PyTorch", 1))
            if ref is None:
                continue
            flops = ref.get("flops_per_image")
            per_round = sorted(paired(mine, ref))
            row = {"benchmark": LABELS.get(base, base), "name": name, "model": arch,
                   "resolution": res, "batch": batch,
                   "sfbench_images_per_s": mine["images_per_s"],
                   "pytorch_images_per_s": ref["images_per_s"],
                   "ratio": mine["images_per_s"] / ref["images_per_s"],
                   "ratio_per_round": per_round,
                   "flops_per_image": flops,
                   "params_sfbench": mine.get("params"), "params_pytorch": ref.get("params")}
            if flops:
                row["sfbench_tflops"] = flops * mine["images_per_s"] / 1e12
                row["pytorch_tflops"] = flops * ref["images_per_s"] / 1e12
            out.append(row)
    order = list(LABELS)
    out.sort(key=lambda r: (order.index(next(k for k, v in LABELS.items()
                                             if v == r["benchmark"])), r["resolution"]))
    return out


def contexts(paths):
    """(sfbench context, reference context): the first of each kind among the merged files."""
    ctxs = [json.load(open(p))["context"] for p in paths]
    return (next((c for c in ctxs if "torch" not in c), {}),
            next((c for c in ctxs if "torch" in c), {}))


def fmt(x, spec):
    return "n/a" if x is None else format(x, spec)


def markdown(table, env, mine_ctx, ref_ctx, peak, commbench):
    gpu = ref_ctx.get("gpu_name") or env.get("gpu_name") or f"no GPU (device {env.get('device')})"
    lines = [f"# GPU benchmarks: {gpu}", "",
             "Produced by `bench/run_gpu_benchmarks.sh` (bench/results/README.md, section GPU).", "",
             "| item | value |", "|---|---|"]
    facts = [("GPU (torch.cuda.get_device_name)", gpu),
             ("driver, memory (nvidia-smi)", env.get("nvidia_smi", "n/a")),
             ("CUDA (sfbench provenance)", mine_ctx.get("cuda", "n/a")),
             ("NCCL (sfbench provenance)", mine_ctx.get("nccl", "n/a")),
             ("LibTorch (sfbench)", mine_ctx.get("libtorch", "n/a")),
             ("torch (Python reference)", f"{ref_ctx.get('torch', 'n/a')}, CUDA "
              f"{ref_ctx.get('cuda', 'n/a')}, cuDNN {ref_ctx.get('cudnn', 'n/a')}, NCCL "
              f"{ref_ctx.get('nccl', 'n/a')}, Python {ref_ctx.get('python', 'n/a')}"),
             ("device (sfbench, reference)", f"{mine_ctx.get('device', 'n/a')}, "
              f"{ref_ctx.get('device', 'n/a')}"),
             ("precision (sfbench, reference)", f"{mine_ctx.get('precision', 'n/a')}, "
              f"{ref_ctx.get('precision', 'n/a')}"),
             ("MPI", mine_ctx.get("mpi", "n/a").splitlines()[0] if mine_ctx.get("mpi") else "n/a"),
             ("commit", f"{mine_ctx.get('git_commit', '')[:12]}"
              f"{' (dirty)' if mine_ctx.get('git_dirty') == 'true' else ''}"),
             ("date", ref_ctx.get("date", "n/a")),
             ("rounds × min time", env.get("rounds", "n/a")),
             ("bf16 dense peak used", f"{peak:g} TFLOP/s" if peak else "unknown GPU: n/a")]
    lines += [f"| {k} | {v} |" for k, v in facts]
    lines += ["", "| benchmark | model | resolution | batch | sfbench images/s | PyTorch images/s "
              "| ratio | per-round ratio median [min, max] | GFLOP/image | sfbench TFLOP/s "
              "| PyTorch TFLOP/s | sfbench % of bf16 peak | PyTorch % of bf16 peak |",
              "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in table:
        pr = r["ratio_per_round"]
        spread = (f"{statistics.median(pr):.3f} [{pr[0]:.3f}, {pr[-1]:.3f}]" if pr else "n/a")
        st, pt = r.get("sfbench_tflops"), r.get("pytorch_tflops")
        sp = 100 * st / peak if peak and st is not None else None
        pp = 100 * pt / peak if peak and pt is not None else None
        gf = r["flops_per_image"] / 1e9 if r["flops_per_image"] else None
        lines.append(f"| {r['benchmark']} | {r['model']} | {r['resolution']}×{r['resolution']} "
                     f"| {r['batch']} | {r['sfbench_images_per_s']:.1f} "
                     f"| {r['pytorch_images_per_s']:.1f} | {r['ratio']:.3f} | {spread} "
                     f"| {fmt(gf, '.2f')} | {fmt(st, '.2f')} | {fmt(pt, '.2f')} "
                     f"| {fmt(sp, '.1f')} | {fmt(pp, '.1f')} |")
        if r["params_sfbench"] != r["params_pytorch"]:
            lines.append(f"| MISMATCH params: sfbench {r['params_sfbench']}, "
                         f"PyTorch {r['params_pytorch']} | | | | | | | | | | | | |")
    lines += ["", "ratio = sfbench images/s over PyTorch images/s (> 1: sfbench faster). Interaction "
              "rows count masked forwards as images. TFLOP/s = GFLOP/image (counted on the "
              "reference) × images/s; % of peak against the dense bf16 peak above, whatever the "
              "precision the run used."]
    for name, text in commbench.items():
        lines += ["", f"## sfbench commbench: {name}", "", "```", text.rstrip(), "```"]
    return "\n".join(lines) + "\n"


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--env", required=True, help="JSON written by run_gpu_benchmarks.sh")
    p.add_argument("--md", required=True)
    p.add_argument("--json", required=True)
    p.add_argument("--commbench", nargs="*", default=[], help="NAME=FILE: commbench outputs")
    p.add_argument("merged", nargs="+", help="merge_runs.py outputs of both sides")
    args = p.parse_args()
    env = json.load(open(args.env))
    missing = [p for p in args.merged if not os.path.exists(p)]
    if missing:  # a stage that failed in run_gpu_benchmarks.sh wrote nothing
        print(f"gpu_table: left out (not written): {' '.join(missing)}")
    args.merged = [p for p in args.merged if os.path.exists(p)]
    table = rows(args.merged)
    mine_ctx, ref_ctx = contexts(args.merged)
    gpu = ref_ctx.get("gpu_name", "")
    peak = (float(os.environ["SFB_GPU_PEAK_TFLOPS"]) if os.environ.get("SFB_GPU_PEAK_TFLOPS")
            else PEAK_BF16_TFLOPS.get(gpu))
    commbench = {}
    for item in args.commbench:
        name, _, path = item.partition("=")
        commbench[name] = open(path).read() if os.path.exists(path) else "(not run)"
    with open(args.md, "w") as f:
        f.write(markdown(table, env, mine_ctx, ref_ctx, peak, commbench))
    combined = {"schema": "sfbench-gpu-table/1", "environment": env, "gpu_name": gpu,
                "peak_bf16_tflops": peak, "rows": table, "commbench": commbench,
                "runs": {os.path.basename(path): json.load(open(path)) for path in args.merged}}
    with open(args.json, "w") as f:
        json.dump(combined, f, indent=1)
        f.write("\n")
    print(f"wrote {args.md} {args.json}")


if __name__ == "__main__":
    main()
