#!/usr/bin/env python3
"""Median time of each sfbench benchmark over its reference from Google Benchmark JSON files.

Pairs (sfbench benchmark, reference) are listed in PAIRS; arguments must match between the two
(e.g. BM_AllreduceCommunicator/65536 with BM_AllreduceRawMpi/65536). Ratio < 1: sfbench is faster.
The reference is looked up in the same file first, then in the other files given (the PyTorch
reference of the SF stage is written by bench/reference/sf_reference.py into a file of its own).
Pairs whose both sides report an images_per_s counter are also listed as throughput (speedup > 1:
sfbench is faster) with their CPU time per iteration, and the structural counters in CHECKED (neurons, parameters, threads) must
agree between the two sides: a mismatch is printed as such, since the two would not be computing
the same thing.
"""
import json
import statistics
import sys

PAIRS = {
    "BM_AllreduceCommunicator": "BM_AllreduceRawMpi",
    "BM_ResultsFileWrite": "BM_RawMpiIoWrite",
    "BM_SfStage": "BM_SfStagePyTorch",
    "BM_SfAccumulatorAdd": "BM_SfAccumulatorAddPyTorch",
    "BM_Features": "BM_FeaturesPyTorch",
    "BM_Pgd": "BM_PgdPyTorch",
    "BM_TrainStep": "BM_TrainStepPyTorch",
    "BM_Interactions": "BM_InteractionsPyTorch",
    "BM_Attribution": "BM_AttributionPyTorch",
}
CHECKED = ("k", "params", "torch_threads", "passes_per_image")
TO_SECONDS = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0}


def medians(path):
    """-> (context, {run_name: median aggregate entry}); each entry gets "_runs", the per-
    repetition entries of that benchmark in the file (in order), when the file has them."""
    data = json.load(open(path))
    out, runs = {}, {}
    for b in data["benchmarks"]:
        if b.get("aggregate_name") == "median":
            out[b["run_name"]] = b
        elif b.get("run_type", "iteration") == "iteration":
            runs.setdefault(b["run_name"], []).append(b)
    for name, b in out.items():
        b["_runs"] = runs.get(name, [])
    return data["context"], out


def paired(mine, ref):
    """Per-repetition speedups (sfbench images/s over the reference's) when both sides have the
    same number of repetitions, e.g. rounds run alternately by run_benchmarks.sh: under a load that
    changes between rounds, their median is steadier than the ratio of the two medians."""
    a, b = mine["_runs"], ref["_runs"]
    if not a or len(a) != len(b):
        return []
    return [x["images_per_s"] / y["images_per_s"] for x, y in zip(a, b)]


def sort_key(name):
    base, _, arg = name.partition("/")
    num = arg.split("/")[0]
    return (base, int(num) if num.isdigit() else 0, arg)


def main(paths):
    files = [(path, *medians(path)) for path in paths]
    throughput = []
    print(f"{'benchmark':<64} {'sfbench':>12} {'reference':>12} {'ratio':>7}")
    for path, ctx, med in files:
        others = [m for p, _, m in files if p != path]
        printed = False
        for name in sorted(med, key=sort_key):
            base, _, arg = name.partition("/")
            ref = PAIRS.get(base)
            if not ref:
                continue
            ref_name = ref + ("/" + arg if arg else "")
            found = next((m[ref_name] for m in [med] + others if ref_name in m), None)
            if found is None:
                continue
            mine = med[name]
            t, unit = mine["real_time"], mine["time_unit"]
            r = found["real_time"] * TO_SECONDS[found["time_unit"]] / TO_SECONDS[unit]
            print(f"{name:<64} {t:>10.2f}{unit:>2} {r:>10.2f}{unit:>2} {t / r:>7.3f}")
            printed = True
            if "images_per_s" in mine and "images_per_s" in found:
                throughput.append((name, mine, found))
        if printed:
            print(f"  ({path}: {ctx.get('world_size')} ranks, {ctx.get('communicator')}, "
                  f"commit {ctx.get('git_commit', '')[:12]}, {ctx.get('num_cpus')} CPUs)")
    if throughput:
        print(f"\n{'images/s (medians)':<64} {'sfbench':>10} {'reference':>10} {'speedup':>7}"
              f" {'cpu/batch sfbench':>18} {'reference':>10}  paired speedups: median [min, max]")
        for name, mine, ref in throughput:
            a, b = mine["images_per_s"], ref["images_per_s"]
            unit = mine["time_unit"]
            rc = ref["cpu_time"] * TO_SECONDS[ref["time_unit"]] / TO_SECONDS[unit]
            pairs = sorted(paired(mine, ref))
            spread = (f"  {statistics.median(pairs):.3f} [{pairs[0]:.3f}, {pairs[-1]:.3f}]"
                      if pairs else "")
            print(f"{name:<64} {a:>10.1f} {b:>10.1f} {a / b:>7.3f}"
                  f" {mine['cpu_time']:>16.1f}{unit:>2} {rc:>8.1f}{unit:>2}{spread}")
            for c in CHECKED:
                if c in mine and c in ref and mine[c] != ref[c]:
                    print(f"  MISMATCH {c}: sfbench {mine[c]:g}, reference {ref[c]:g}")
    for path, ctx, _ in files:
        if "torch" in ctx:  # a reference written by a Python script: say what it ran on
            print(f"  ({path}: PyTorch {ctx['torch']}, Python {ctx.get('python')}, "
                  f"{ctx.get('threads')} threads, commit {ctx.get('git_commit', '')[:12]}, "
                  f"{ctx.get('num_cpus')} CPUs)")


if __name__ == "__main__":
    main(sys.argv[1:])
