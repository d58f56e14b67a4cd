#!/usr/bin/env bash
# Runs the benchmark binaries under mpirun with 5 repetitions, writes Google Benchmark JSON (with
# its context block: commit, versions, world size, devices) to bench/results/, and prints the
# median time of each sfbench benchmark over its reference measured in the same run.
# usage: bench/run_benchmarks.sh [NP]   (env: SFB_BUILD_DIR)
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${SFB_BUILD_DIR:-$repo/build}
np=${1:-2}
if [[ $(id -u) -eq 0 ]]; then export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1; fi
mkdir -p "$repo/bench/results"
for b in bench_allreduce bench_hdf5_write bench_data bench_imagenet; do
  out="$repo/bench/results/${b#bench_}_np${np}.json"
  mpirun --oversubscribe -np "$np" "$build/bench/$b" --benchmark_repetitions=5 \
    --benchmark_report_aggregates_only=true --benchmark_out="$out" --benchmark_out_format=json \
    >/dev/null
  echo "wrote $out"
done
python3 "$repo/bench/ratios.py" "$repo"/bench/results/*_np"${np}".json
