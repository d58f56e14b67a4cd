#!/usr/bin/env bash
# Runs the benchmark binaries under mpirun with 5 repetitions, writes Google Benchmark JSON (with
# its context block: commit, versions, world size, devices) to bench/results/, and prints the
# median time of each sfbench benchmark over its reference measured in the same run.
# The SF stage (sf) and PGD-10 (pgd) run with 1 rank (the work per rank is what is compared), not
# bound to a core, against their PyTorch references (bench/reference/{sf,pgd}_reference.py, run by
# SFB_PYTHON, the Python of the same torch install, with the same thread count), alternating: each
# round runs every benchmark once on each side, back to back (which side goes first alternates
# between rounds), so that the two sides of a pair see the same load on a shared machine.
# SFB_SF_ROUNDS rounds (default 3); merge_runs.py gathers them; medians are over the rounds and
# ratios.py also gives the per-round (paired) speedups. Each run times batches for at least
# SFB_SF_MIN_TIME seconds (default 2; at least one batch: a wrn-28-10 batch takes longer).
# Output: results/<name>${SFB_SF_TAG}_np1.json and <name>${SFB_SF_TAG}_pytorch_np1.json (a tag
# names a run under a different environment, e.g. malloc settings exported for both sides).
# usage: bench/run_benchmarks.sh [NP] [NAME...]   NAME: allreduce hdf5_write data imagenet sf pgd
#        train train_scaling interactions attribution
#        (default: all)   env: SFB_BUILD_DIR, SFB_PYTHON, SFB_SF_ROUNDS, SFB_SF_MIN_TIME,
#        SFB_SF_TAG
# Sourced (bench/run_gpu_benchmarks.sh does), it only defines its variables and functions.
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${SFB_BUILD_DIR:-$repo/build}
if [[ $(id -u) -eq 0 ]]; then export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1; fi
results="$repo/bench/results"
outs=()
py_extra=()  # more arguments for the reference scripts (run_gpu_benchmarks.sh: device, precision)

# The pairs of each paired benchmark, one regular expression each that selects it on both sides.
pgd_pairs=("Pgd.*/cnn-small/" "Pgd.*/wrn-28-10/")
train_pairs=("TrainStep.*/standard/" "TrainStep.*/pgd-at/")
interactions_pairs=("Interactions.*/cnn-small/" "Interactions.*/wrn-28-10/")
attribution_pairs=("Attribution.*/integrated-gradients/cnn-small/"
                   "Attribution.*/integrated-gradients/wrn-28-10/")
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

# run_paired NAME [PAIRS]: bench/bench_NAME against bench/reference/NAME_reference.py over the
# array named PAIRS (default ${NAME}_pairs), writing to $results; sfbench's first run tells the
# reference the intra-op thread count sfbench's rank uses.
run_paired() {
  local name=$1 py rounds min_time tmp threads r i
  local -n pairs="${2:-${name}_pairs}"
  py=${SFB_PYTHON:-$(sed -n 's/^SFB_PYTHON:FILEPATH=//p' "$build/CMakeCache.txt")}
  rounds=${SFB_SF_ROUNDS:-3}
  min_time=${SFB_SF_MIN_TIME:-2}
  tmp=$(mktemp -d)
  # --bind-to none: Open MPI binds a lone rank to one core, while Context gives it a thread per
  # core of the node; unbound, its threads can use the cores the reference's threads use.
  local sfbench=(mpirun --oversubscribe --bind-to none -np 1 "$build/bench/bench_$name"
                 --benchmark_min_time="$min_time" --benchmark_out_format=json)
  threads=""  # learnt from sfbench's first run (round 1 runs sfbench first anyway)
  for ((r = 1; r <= rounds; ++r)); do
    for i in "${!pairs[@]}"; do
      local side_a=(quiet "${sfbench[@]}" --benchmark_filter="${pairs[$i]}"
                    --benchmark_out="$tmp/sfbench_${r}_$((i + 1)).json")
      if [[ -z $threads ]]; then
        # The intra-op thread count sfbench's rank uses (Context: node cores / ranks on the node).
        "${side_a[@]}"
        threads=$(python3 -c 'import json, sys
print(int(json.load(open(sys.argv[1]))["benchmarks"][0]["torch_threads"]))' \
          "$tmp/sfbench_${r}_$((i + 1)).json")
        side_a=(true)
      fi
      local side_b=(quiet "$py" "$repo/bench/reference/${name}_reference.py" --filter "${pairs[$i]}"
                    --repetitions 1 --min-time "$min_time" --threads "$threads"
                    --out "$tmp/pytorch_${r}_$((i + 1)).json" "${py_extra[@]}")
      if ((r % 2)); then "${side_a[@]}"; "${side_b[@]}"; else "${side_b[@]}"; "${side_a[@]}"; fi
    done
    echo "$name round $r/$rounds done"
  done
  local out="$results/$name${SFB_SF_TAG:-}_np1.json"
  local ref="$results/$name${SFB_SF_TAG:-}_pytorch_np1.json"
  python3 "$repo/bench/merge_runs.py" "$out" $(ls -v "$tmp"/sfbench_*.json)
  python3 "$repo/bench/merge_runs.py" "$ref" $(ls -v "$tmp"/pytorch_*.json)
  rm -r "$tmp"
  echo "wrote $out $ref"
  outs+=("$out" "$ref")
}

# Weak scaling of a training step: bench_train at 1 and 2 ranks, the same 64 images per rank and
# one intra-op thread per rank (so each rank has the same resources); efficiency = per-rank
# images/s at 2 ranks over that at 1 rank (printed by ratios.py's scaling section).
run_train_scaling() {
  local n
  for n in 1 2; do
    SFB_BENCH_THREADS=1 mpirun --oversubscribe -np "$n" "$build/bench/bench_train" \
      --benchmark_repetitions=3 --benchmark_report_aggregates_only=true \
      --benchmark_out="$results/train_scaling_np$n.json" --benchmark_out_format=json >/dev/null
    echo "wrote $results/train_scaling_np$n.json"
  done
  python3 - "$results/train_scaling_np1.json" "$results/train_scaling_np2.json" <<'PY'
import json, sys
def per_rank(path):
    return {b["run_name"]: b["images_per_s_per_rank"] for b in json.load(open(path))["benchmarks"]
            if b.get("aggregate_name") == "median"}
one, two = per_rank(sys.argv[1]), per_rank(sys.argv[2])
print(f"{'weak scaling (1 thread per rank)':<50} {'1 rank':>10} {'2 ranks':>10} {'efficiency':>10}")
for name in one:
    print(f"{name:<50} {one[name]:>10.1f} {two[name]:>10.1f} {two[name] / one[name]:>10.3f}")
PY
}

main() {
  local np=${1:-2} name b out
  shift || true
  local names=("$@")
  [[ ${#names[@]} -gt 0 ]] || names=(allreduce hdf5_write data imagenet sf pgd train train_scaling
                                    interactions attribution)
  mkdir -p "$results"
  for name in "${names[@]}"; do
    b="bench_${name%_scaling}"
    [[ -x "$build/bench/$b" ]] || { echo "run_benchmarks: no $build/bench/$b" >&2; exit 1; }
    if [[ $name == train_scaling ]]; then
      run_train_scaling
      continue
    fi
    if [[ $name == sf || $name == pgd || $name == interactions || $name == train ||
          $name == attribution ]]; then
      run_paired "$name"
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
}

if [[ ${BASH_SOURCE[0]} == "$0" ]]; then main "$@"; fi
