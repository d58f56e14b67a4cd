#!/usr/bin/env bash
# Runs the benchmark binaries under mpirun with 5 repetitions, writes Google Benchmark JSON (with
# its context block: commit, versions, world size, devices) to bench/results/, and prints the
# median time of each sfbench benchmark over its reference measured in the same run.
# The SF stage (sf) runs with 1 rank and 3 repetitions (a wrn-28-10 batch takes seconds on a
# CPU), followed right away by its PyTorch reference (bench/reference/sf_reference.py, run by
# SFB_PYTHON: the Python of the same torch install) with the same thread count.
# usage: bench/run_benchmarks.sh [NP] [NAME...]   NAME: allreduce hdf5_write data imagenet sf
#        (default: all)   env: SFB_BUILD_DIR, SFB_PYTHON
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${SFB_BUILD_DIR:-$repo/build}
np=${1:-2}
shift || true
names=("$@")
[[ ${#names[@]} -gt 0 ]] || names=(allreduce hdf5_write data imagenet sf)
if [[ $(id -u) -eq 0 ]]; then export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1; fi
results="$repo/bench/results"
mkdir -p "$results"
outs=()
for name in "${names[@]}"; do
  b="bench_$name"
  [[ -x "$build/bench/$b" ]] || { echo "run_benchmarks: no $build/bench/$b" >&2; exit 1; }
  if [[ $name == sf ]]; then
    out="$results/sf_np1.json"
    mpirun --oversubscribe -np 1 "$build/bench/$b" --benchmark_repetitions=3 \
      --benchmark_report_aggregates_only=true --benchmark_out="$out" --benchmark_out_format=json \
      >/dev/null
    echo "wrote $out"
    # The same intra-op thread count as sfbench's one rank (Context: node cores / local ranks).
    threads=$(python3 -c 'import json,sys; print(int(json.load(open(sys.argv[1]))["benchmarks"][0]["threads"]))' "$out")
    py=${SFB_PYTHON:-$(sed -n 's/^SFB_PYTHON:FILEPATH=//p' "$build/CMakeCache.txt")}
    ref="$results/sf_pytorch_np1.json"
    "$py" "$repo/bench/reference/sf_reference.py" --repetitions 3 --threads "$threads" \
      --out "$ref" >/dev/null
    echo "wrote $ref"
    outs+=("$out" "$ref")
  else
    out="$results/${name}_np${np}.json"
    mpirun --oversubscribe -np "$np" "$build/bench/$b" --benchmark_repetitions=5 \
      --benchmark_report_aggregates_only=true --benchmark_out="$out" --benchmark_out_format=json \
      >/dev/null
    echo "wrote $out"
    outs+=("$out")
  fi
done
python3 "$repo/bench/ratios.py" "${outs[@]}"
