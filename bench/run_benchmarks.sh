#!/usr/bin/env bash
# Runs the benchmark binaries under mpirun with 5 repetitions, writes Google Benchmark JSON (with
# its context block: commit, versions, world size, devices) to bench/results/, and prints the
# median time of each sfbench benchmark over its reference measured in the same run.
# The SF stage (sf) runs with 1 rank (the stage per rank is what is compared), not bound to a core,
# against its PyTorch reference (bench/reference/sf_reference.py, run by SFB_PYTHON, the Python of
# the same torch install, with the same thread count), alternating: each round runs every
# benchmark once on each side, back to back (which side goes first alternates between rounds), so
# that the two sides of a pair see the same load on a shared machine. SFB_SF_ROUNDS rounds
# (default 3); merge_runs.py gathers them; medians are over the rounds and ratios.py also gives
# the per-round (paired) speedups. Each run times batches for
# at least SFB_SF_MIN_TIME seconds (default 2; at least one batch: a wrn-28-10 batch takes longer).
# Output: results/sf${SFB_SF_TAG}_np1.json and sf${SFB_SF_TAG}_pytorch_np1.json (a tag names a run
# under a different environment, e.g. malloc settings exported for both sides).
# usage: bench/run_benchmarks.sh [NP] [NAME...]   NAME: allreduce hdf5_write data imagenet sf
#        (default: all)   env: SFB_BUILD_DIR, SFB_PYTHON, SFB_SF_ROUNDS, SFB_SF_MIN_TIME,
#        SFB_SF_TAG
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

# The SF pairs, one regular expression each that selects the benchmark on both sides.
sf_pairs=("SfStage.*/cnn-small/closed-form/" "SfStage.*/cnn-small/autograd/" "Features.*/cnn-small/"
          "SfAccumulatorAdd.*/128/" "SfAccumulatorAdd.*/640/" "SfStage.*/wrn-28-10/closed-form/"
          "SfStage.*/wrn-28-10/autograd/" "Features.*/wrn-28-10/")

# Runs a command with its output kept out of the way, and shows it only if the command fails.
quiet() {
  local log rc=0
  log=$(mktemp)
  "$@" >"$log" 2>&1 || rc=$?
  if [[ $rc -ne 0 ]]; then cat "$log" >&2; echo "run_benchmarks: failed ($rc): $*" >&2; fi
  rm -f "$log"
  return "$rc"
}

run_sf() {
  local py rounds min_time tmp threads r i
  py=${SFB_PYTHON:-$(sed -n 's/^SFB_PYTHON:FILEPATH=//p' "$build/CMakeCache.txt")}
  rounds=${SFB_SF_ROUNDS:-3}
  min_time=${SFB_SF_MIN_TIME:-2}
  tmp=$(mktemp -d)
  # --bind-to none: Open MPI binds a lone rank to one core, while Context gives it a thread per
  # core of the node; unbound, its threads can use the cores the reference's threads use.
  local sfbench=(mpirun --oversubscribe --bind-to none -np 1 "$build/bench/bench_sf"
                 --benchmark_min_time="$min_time" --benchmark_out_format=json)
  for ((r = 1; r <= rounds; ++r)); do
    quiet "${sfbench[@]}" --benchmark_filter=BootstrapWeights \
      --benchmark_out="$tmp/sfbench_${r}_0.json"
    # The intra-op thread count sfbench's rank used (Context: node cores / ranks on the node).
    threads=$(python3 -c 'import json, sys
print(int(json.load(open(sys.argv[1]))["benchmarks"][0]["torch_threads"]))' \
      "$tmp/sfbench_${r}_0.json")
    for i in "${!sf_pairs[@]}"; do
      local side_a=(quiet "${sfbench[@]}" --benchmark_filter="${sf_pairs[$i]}"
                    --benchmark_out="$tmp/sfbench_${r}_$((i + 1)).json")
      local side_b=(quiet "$py" "$repo/bench/reference/sf_reference.py" --filter "${sf_pairs[$i]}"
                    --repetitions 1 --min-time "$min_time" --threads "$threads"
                    --out "$tmp/pytorch_${r}_$((i + 1)).json")
      if ((r % 2)); then "${side_a[@]}"; "${side_b[@]}"; else "${side_b[@]}"; "${side_a[@]}"; fi
    done
    echo "sf round $r/$rounds done"
  done
  local out="$results/sf${SFB_SF_TAG:-}_np1.json" ref="$results/sf${SFB_SF_TAG:-}_pytorch_np1.json"
  python3 "$repo/bench/merge_runs.py" "$out" $(ls -v "$tmp"/sfbench_*.json)
  python3 "$repo/bench/merge_runs.py" "$ref" $(ls -v "$tmp"/pytorch_*.json)
  rm -r "$tmp"
  echo "wrote $out $ref"
  outs+=("$out" "$ref")
}

for name in "${names[@]}"; do
  b="bench_$name"
  [[ -x "$build/bench/$b" ]] || { echo "run_benchmarks: no $build/bench/$b" >&2; exit 1; }
  if [[ $name == sf ]]; then
    run_sf
    continue
  fi
  out="$results/${name}_np${np}.json"
  mpirun --oversubscribe -np "$np" "$build/bench/$b" --benchmark_repetitions=5 \
    --benchmark_report_aggregates_only=true --benchmark_out="$out" --benchmark_out_format=json \
    >/dev/null
  echo "wrote $out"
  outs+=("$out")
done
python3 "$repo/bench/ratios.py" "${outs[@]}"
