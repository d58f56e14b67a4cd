#!/usr/bin/env python3
"""Merges Google Benchmark JSON files of separate runs (rounds) of the same benchmarks into one
file: every per-repetition entry of every file, renumbered, then the aggregates mean, median and
stddev of real_time, cpu_time and each numeric counter over all of them (existing aggregates in
the inputs are dropped). The context is the first file's, with "merged_files" added.

run_benchmarks.sh runs each SF benchmark and its PyTorch reference alternately, one repetition per
process, so that both see the same load on a shared machine; this puts the runs back together
(repetitions in the order of the files given).
usage: merge_runs.py OUT IN...
"""
import json
import statistics
import sys

KEYS = ("name", "run_name", "run_type", "repetitions", "repetition_index", "threads",
        "iterations", "real_time", "cpu_time", "time_unit", "family_index",
        "per_family_instance_index", "aggregate_name", "aggregate_unit")


def main(out, paths):
    runs, context = {}, None
    for path in paths:
        data = json.load(open(path))
        context = context or dict(data["context"])
        for b in data["benchmarks"]:
            if b.get("run_type", "iteration") == "iteration":
                runs.setdefault(b["run_name"], []).append(b)
    context["merged_files"] = str(len(paths))
    merged = []
    stats = {"mean": statistics.mean, "median": statistics.median,
             "stddev": lambda v: statistics.stdev(v) if len(v) > 1 else 0.0}
    for name, rows in runs.items():
        for i, r in enumerate(rows):
            merged.append({**r, "repetitions": len(rows), "repetition_index": i})
        numeric = [k for k, v in rows[0].items()
                   if isinstance(v, (int, float)) and not isinstance(v, bool)
                   and (k not in KEYS or k in ("real_time", "cpu_time"))]
        for agg, fn in stats.items():
            entry = {"name": f"{name}_{agg}", "run_name": name, "run_type": "aggregate",
                     "repetitions": len(rows), "threads": rows[0].get("threads", 1),
                     "aggregate_name": agg, "iterations": len(rows),
                     "time_unit": rows[0]["time_unit"]}
            for k in numeric:
                entry[k] = fn([float(r[k]) for r in rows])
            merged.append(entry)
    with open(out, "w") as f:
        json.dump({"context": context, "benchmarks": merged}, f, indent=2)
        f.write("\n")


if __name__ == "__main__":
    if len(sys.argv) < 3:
        sys.exit(__doc__.strip().splitlines()[-1])
    main(sys.argv[1], sys.argv[2:])
