#!/bin/bash
# Submits a model-zoo evaluation: a job array with one model per task (zoo-array.sbatch) and a
# job running `sfbench compare` over all its results once every task succeeded
# (zoo-compare.sbatch, --dependency=afterok:<array job id>).
#
# usage: jobs/slurm/submit-zoo.sh [--wait] [--max-parallel K] [--sbatch OPT]... [--compare-sbatch OPT]...
#            MODELS.txt CONFIG.toml [sfbench options for every model...]
#   --wait              block until the compare job ends (sbatch --wait); exit with its status,
#                       or 1 when it ended without completing (cancelled after a failed task)
#   --max-parallel K    at most K array tasks at a time (--array=0-<N-1>%K; default 4)
#   --sbatch OPT        an sbatch option for the array tasks (repeatable), e.g. --sbatch=--gpus-per-node=8
#   --compare-sbatch OPT  an sbatch option for the compare job (repeatable)
# MODELS.txt: see zoo-array.sbatch. Prints "array <A> tasks <N>" and "compare <B>". Results and
# environment: see zoo-array.sbatch and zoo-compare.sbatch. If a task fails, the compare job is
# cancelled (--kill-on-invalid-dep=yes) instead of waiting forever.
set -uo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
die() { echo "submit-zoo: error: $*" >&2; exit 2; }

wait_opt=() max_parallel=4 array_opts=() compare_opts=()
while (($#)); do
  case $1 in
    --wait) wait_opt=(--wait); shift ;;
    --max-parallel) max_parallel=${2:?}; shift 2 ;;
    --max-parallel=*) max_parallel=${1#*=}; shift ;;
    --sbatch) array_opts+=("${2:?}"); shift 2 ;;
    --sbatch=*) array_opts+=("${1#*=}"); shift ;;
    --compare-sbatch) compare_opts+=("${2:?}"); shift 2 ;;
    --compare-sbatch=*) compare_opts+=("${1#*=}"); shift ;;
    -h|--help) sed -n '2,17s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"; exit 0 ;;
    -*) die "unknown option $1 (see --help)" ;;
    *) break ;;
  esac
done
(($# >= 2)) || die "usage: submit-zoo.sh [options] MODELS.txt CONFIG.toml [sfbench options...]"
models=$1 config=$2
[[ -r "$models" ]] || die "model list $models is not readable"
[[ -r "$config" ]] || die "config $config is not readable"
[[ $max_parallel =~ ^[1-9][0-9]*$ ]] || die "--max-parallel $max_parallel is not a positive integer"
n=$(grep -c -v -e '^[[:space:]]*#' -e '^[[:space:]]*$' "$models" || true)
((n > 0)) || die "$models lists no model"

# Jobs run from copies in the spool folder; tell them where common.sh is.
export SFB_JOBS_DIR="$here"
array=$(sbatch --parsable --array="0-$((n - 1))%$max_parallel" "${array_opts[@]}" \
  "$here/zoo-array.sbatch" "$@")
array=${array%%;*}
[[ $array =~ ^[0-9]+$ ]] || die "sbatch did not return an array job id: $array"

echo "array $array tasks $n"
compare_cmd=(sbatch --parsable "${wait_opt[@]}" --dependency="afterok:$array" --kill-on-invalid-dep=yes
  "${compare_opts[@]}" "$here/zoo-compare.sbatch" "$array" "$n")
if ((${#wait_opt[@]} == 0)); then
  compare=$("${compare_cmd[@]}") || die "sbatch of the compare job failed"
  echo "compare ${compare%%;*}"
  exit 0
fi
# sbatch --wait prints the job id at once and exits when the job ends, with its exit code; a job
# cancelled before it ran (a failed array task: DependencyNeverSatisfied) also gives 0, so the
# job's final state decides.
ids=$(mktemp)
trap 'rm -f "$ids"' EXIT
"${compare_cmd[@]}" >"$ids" &
waiter=$!
while [[ ! -s "$ids" ]] && kill -0 "$waiter" 2>/dev/null; do sleep 0.2; done
compare=$(head -n 1 "$ids")
compare=${compare%%;*}
[[ $compare =~ ^[0-9]+$ ]] || die "sbatch did not return the compare job's id: $compare"
echo "compare $compare"
rc=0
wait "$waiter" || rc=$?
state=$(scontrol show job -o "$compare" 2>/dev/null | tr ' ' '\n' | sed -n 's/^JobState=//p')
reason=$(scontrol show job -o "$compare" 2>/dev/null | tr ' ' '\n' | sed -n 's/^Reason=//p')
if ((rc == 0)) && [[ -n "$state" && "$state" != COMPLETED ]]; then
  echo "submit-zoo: compare job $compare ended $state (reason: ${reason:-none}); see the array's logs" >&2
  exit 1
fi
exit "$rc"
