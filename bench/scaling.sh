#!/usr/bin/env bash
# Strong and weak scaling of the metric stages, measured with the real `sfbench` commands.
#
# For each stage (sf; attack with PGD-10; interactions: quick preset shrunk to a 4x4 grid, P=4, K=8)
# it runs `sfbench` on synthetic-shapes with 1 rank and with every N in RANKS:
#   strong scaling: the same n at N ranks        efficiency E_s(N) = T1 / (N * T_N)
#   weak scaling:   n = N * n1 (fixed n per rank) efficiency E_w(N) = T1 / T_N
# T is the stage's time from its JSON summary (timing.<stage>.seconds: the stage and its
# reduction, max over ranks); also recorded: items/s, wall time, and the bytes each rank passed to
# collectives during the stage (timing.<stage>.bytes_communicated, counted by the Communicator).
# Every rank uses THREADS intra-op threads (default 1), so N ranks use N cores: the efficiencies
# are those of adding ranks, not of trading threads for ranks.
# Output: a table on stdout and OUT (default bench/results/scaling_np1-<max N>.json) with the
# machine description (the summaries' "system" object), every run and the efficiencies.
#
# usage: bench/scaling.sh [RANKS...]      (default: 2; any N elsewhere, e.g. 2 4 8 16)
# env:   SFB_BUILD_DIR, SFB_PYTHON, SFB_LAUNCHER (default "mpirun -np"; under Slurm e.g.
#        "srun --mpi=pmix -n"), SFB_SCALING_OUT, SFB_SCALING_THREADS, SFB_SCALING_{SF,PGD,INT}_N
#        (n at 1 rank; defaults 2048, 2048, 4), SFB_SCALING_KEEP=1 keeps the run directory.
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${SFB_BUILD_DIR:-$repo/build}
sfb=$build/sfbench
py=${SFB_PYTHON:-python3}
launcher=${SFB_LAUNCHER:-mpirun -np}
threads=${SFB_SCALING_THREADS:-1}
ranks=("$@")
[[ ${#ranks[@]} -gt 0 ]] || ranks=(2)
max=1
for r in "${ranks[@]}"; do
  [[ $r =~ ^[1-9][0-9]*$ ]] || { echo "scaling.sh: RANKS must be positive integers, got '$r'" >&2; exit 2; }
  (( r > max )) && max=$r
done
out=${SFB_SCALING_OUT:-$repo/bench/results/scaling_np1-$max.json}
[[ -x $sfb ]] || { echo "scaling.sh: $sfb not built" >&2; exit 2; }
if [[ $(id -u) -eq 0 ]]; then export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1; fi
work=$(mktemp -d)
[[ ${SFB_SCALING_KEEP:-0} == 1 ]] || trap 'rm -rf "$work"' EXIT

# stage name -> "n at 1 rank" and the sfbench arguments after --data/--model.
declare -A n1=([sf]=${SFB_SCALING_SF_N:-2048} [attacks]=${SFB_SCALING_PGD_N:-2048}
               [interactions]=${SFB_SCALING_INT_N:-4})
declare -A args=(
  [sf]="sf --bootstrap 200"
  [attacks]="attack --attacks pgd:steps=10 --no-resume"
  [interactions]="interactions --preset quick --grid 4 --pairs 4 --contexts 8 --no-adversarial")
stages=(sf attacks interactions)

# run STAGE MODE RANKS N: one sfbench run; its summary is $work/STAGE_MODE_npRANKS.json.
run() {
  local stage=$1 mode=$2 np=$3 n=$4 name="$1_$2_np$3" cmd
  # shellcheck disable=SC2206  # the launcher and stage arguments are word lists
  cmd=(${args[$stage]} --data "synthetic-shapes:$n" --model zoo:cnn-small --batch-size 64
       --set "threads=$threads" --out "$work/$name.h5")
  if (( np == 1 )); then
    "$sfb" "${cmd[@]}" >"$work/$name.log" 2>&1
  else
    # shellcheck disable=SC2206
    local l=($launcher)
    "${l[@]}" "$np" "$sfb" "${cmd[@]}" >"$work/$name.log" 2>&1
  fi || { cat "$work/$name.log" >&2; echo "scaling.sh: $name failed" >&2; exit 3; }
  "$sfb" validate "$work/$name.json" >/dev/null || { echo "scaling.sh: $name.json invalid" >&2; exit 3; }
  echo "$stage $mode $np $n $work/$name.json" >>"$work/runs.txt"
}

read -r load_start _ </proc/loadavg
for stage in "${stages[@]}"; do
  run "$stage" base 1 "${n1[$stage]}"
  for r in "${ranks[@]}"; do
    (( r == 1 )) && continue
    run "$stage" strong "$r" "${n1[$stage]}"
    run "$stage" weak "$r" $(( r * n1[$stage] ))
  done
done

"$py" - "$work/runs.txt" "$out" "$threads" "$launcher" "$load_start" <<'PY'
import json, os, sys
runs_file, out, threads, launcher = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
load_start = float(sys.argv[5])
runs, system, commit = [], None, None
for line in open(runs_file):
    stage, mode, np, n, path = line.split()
    s = json.load(open(path))
    t = s["timing"][stage]
    # schema_version 2: every stage records items_per_s and the unit of its items
    runs.append({"stage": stage, "mode": mode, "ranks": int(np), "n": int(n),
                 "seconds": t["seconds"], "items_per_s": t["items_per_s"],
                 "rate_unit": t["unit"] + "/s",
                 "wall_time_s": s["wall_time_s"],
                 "bytes_communicated_per_rank": t["bytes_communicated"],
                 "bytes_communicated_all_ranks": t["bytes_communicated_all_ranks"],
                 "collectives_per_rank": t["collectives"],
                 "command": s["command"]})
    if int(np) == 1:
        system, commit = s["system"], (s["git_commit"], s["git_dirty"])
    elif system is not None:
        system = dict(system, hosts=sorted(set(system["hosts"]) | set(s["system"]["hosts"])))
eff = {}
for r in runs:
    if r["mode"] == "base":
        continue
    base = next(b for b in runs if b["stage"] == r["stage"] and b["mode"] == "base")
    N, T1, TN = r["ranks"], base["seconds"], r["seconds"]
    e = T1 / (N * TN) if r["mode"] == "strong" else T1 / TN
    eff.setdefault(r["stage"], {}).setdefault(r["mode"], {})[str(N)] = e
    r["efficiency"] = e
doc = {"description": "bench/scaling.sh: strong (same n) and weak (n per rank fixed) scaling of "
                      "sfbench stages on synthetic-shapes with zoo:cnn-small; seconds = "
                      "timing.<stage>.seconds (max over ranks); strong E = T1/(N*TN), weak E = T1/TN",
       "git_commit": commit[0], "git_dirty": commit[1], "threads_per_rank": threads,
       "launcher": launcher, "load_average_1min": {"start": load_start, "end": os.getloadavg()[0]},
       "machine": system, "runs": runs, "efficiency": eff}
with open(out, "w") as f:
    json.dump(doc, f, indent=2)
    f.write("\n")
print(f"# scaling: {system['cpu_model']}, {system['cpu_cores']} CPUs, hosts {system['hosts']}, "
      f"interconnect {system['interconnect']}, {threads} thread(s) per rank, "
      f"load average {load_start:.2f} -> {os.getloadavg()[0]:.2f}")
print(f"# {'stage':<13}{'mode':<7}{'ranks':>5}{'n':>7}{'seconds':>9}{'rate':>11}"
      f"{'efficiency':>11}{'bytes/rank':>11}{'collectives':>12}")
for r in runs:
    e = f"{r['efficiency']:.2f}" if "efficiency" in r else "-"
    print(f"  {r['stage']:<13}{r['mode']:<7}{r['ranks']:>5}{r['n']:>7}{r['seconds']:>9.3f}"
          f"{r['items_per_s']:>11.1f}{e:>11}{r['bytes_communicated_per_rank']:>11}"
          f"{r['collectives_per_rank']:>12}")
print(f"# written: {out}")
PY
