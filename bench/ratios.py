#!/usr/bin/env python3
"""Median time of each sfbench benchmark over its reference from Google Benchmark JSON files.

Pairs (sfbench benchmark, reference) are listed in PAIRS; arguments must match between the two
(e.g. BM_AllreduceCommunicator/65536 with BM_AllreduceRawMpi/65536). Ratio < 1: sfbench is faster.
"""
import json
import sys

PAIRS = {
    "BM_AllreduceCommunicator": "BM_AllreduceRawMpi",
    "BM_ResultsFileWrite": "BM_RawMpiIoWrite",
}


def medians(path):
    data = json.load(open(path))
    out = {}
    for b in data["benchmarks"]:
        if b.get("aggregate_name") == "median":
            out[b["run_name"]] = (b["real_time"], b["time_unit"])
    return data["context"], out


def main(paths):
    print(f"{'benchmark':<44} {'sfbench':>12} {'reference':>12} {'ratio':>7}")
    for path in paths:
        ctx, med = medians(path)
        def key(item):
            base, _, arg = item[0].partition("/")
            num = arg.split("/")[0]
            return (base, int(num) if num.isdigit() else 0)

        for name, (t, unit) in sorted(med.items(), key=key):
            base, _, arg = name.partition("/")
            ref = PAIRS.get(base)
            if not ref:
                continue
            ref_name = ref + ("/" + arg if arg else "")
            if ref_name not in med:
                continue
            r, _ = med[ref_name]
            print(f"{name:<44} {t:>10.2f}{unit:>2} {r:>10.2f}{unit:>2} {t / r:>7.3f}")
        print(f"  ({path}: {ctx.get('world_size')} ranks, {ctx.get('communicator')}, "
              f"commit {ctx.get('git_commit', '')[:12]}, {ctx.get('num_cpus')} CPUs)")


if __name__ == "__main__":
    main(sys.argv[1:])
