#!/usr/bin/env bash
# jobs/slurm/train-requeue.sbatch with the mpirun launcher, run as a plain script (no Slurm needed):
#   1. SIGTERM to the batch shell alone (what --signal=B:TERM and `scancel --batch` send),
#   2. SIGTERM to the batch shell, mpirun and every rank at once (what Slurm sends at the time
#      limit and on `scancel --full`; mpirun itself then ends with 1),
# must each end with a checkpoint and exit 75, the code on which the script requeues the job (run
# outside Slurm it exits with it), and the same command run again must resume from that checkpoint
# and finish every epoch with a valid result.
#
# usage: requeue_signal_test.sh   (env: SFBENCH = the sfbench binary, SFB_REPO = the source tree)
# Exit: 0 pass, 1 fail.
set -u
sfb=${SFBENCH:?SFBENCH must name the sfbench binary}
repo=${SFB_REPO:?SFB_REPO must name the source tree}
dir=$(mktemp -d "${TMPDIR:-/tmp}/sfb-requeue.XXXXXX") || { echo "FAIL: mktemp"; exit 1; }
job=""
cleanup() {
  # shellcheck disable=SC2046  # one pid per word
  [[ -n "$job" ]] && kill -KILL $(tree_of "$job") 2>/dev/null
  rm -rf "$dir"
}
trap cleanup EXIT
fail() {
  echo "FAIL: $*"
  for f in "$dir"/*.log; do [[ -s "$f" ]] && { echo "---- ${f##*/}"; tail -n 30 "$f"; }; done
  exit 1
}
tree_of() {  # tree_of PID: PID and all its descendants
  local p
  echo "$1"
  for p in $(ps -o pid= --ppid "$1"); do tree_of "$p"; done
}

epochs=20
cat >"$dir/recipe.toml" <<EOF
seed = 5
[train]
epochs = $epochs
batch_size = 32
lr = 0.01
sf_lambda = 0.1
checkpoint_every = 1
EOF
export SFB="$sfb" SFB_DEVICE=cpu SFB_LAUNCHER=mpirun SFB_OUT_DIR="$dir" SLURM_NTASKS=2
unset SLURM_JOB_ID SLURM_RESTART_COUNT
train=(bash "$repo/jobs/slurm/train-requeue.sbatch" "$dir/recipe.toml" --model zoo:cnn-small
       --data synthetic-shapes:320 --threads 1)

# signal_case NAME WHOM: starts the job script, sends SIGTERM to WHOM ("batch shell", else the
# shell and all its descendants) once the first checkpoint exists, and expects exit 75 with a
# newer checkpoint; then runs the same command again and expects it to resume and finish.
signal_case() {
  local name=$1 whom=$2 run=$dir/$1 rc i before
  export SFB_RUN=$run
  "${train[@]}" >"$dir/$name-1.log" 2>&1 &
  job=$!
  for ((i = 0; i < 600; i++)); do
    [[ -e "$run.ckpt" ]] && break
    kill -0 "$job" 2>/dev/null || fail "$name: the job script ended before its first checkpoint"
    sleep 0.1
  done
  [[ -e "$run.ckpt" ]] || fail "$name: no checkpoint after 60 s"
  before=$(stat -c '%i %Y %s' "$run.ckpt")
  if [[ $whom == "batch shell" ]]; then
    kill -TERM "$job"
  else
    # shellcheck disable=SC2046  # one pid per word
    kill -TERM $(tree_of "$job")
  fi
  wait "$job"
  rc=$?
  job=""
  [[ $rc == 75 ]] || fail "$name: SIGTERM to the $whom: the job script exited with $rc, not 75"
  grep -q "SIGTERM" "$dir/$name-1.log" || fail "$name: the job script did not report SIGTERM"
  grep -q "checkpoint $run.ckpt written" "$dir/$name-1.log" || fail "$name: no checkpoint reported"
  [[ "$(stat -c '%i %Y %s' "$run.ckpt")" != "$before" ]] || fail "$name: no checkpoint after the signal"
  [[ -e "$run.h5" ]] && fail "$name: a preempted start wrote results"
  "${train[@]}" >"$dir/$name-2.log" 2>&1
  rc=$?
  [[ $rc == 0 ]] || fail "$name: the second start exited with $rc"
  grep -q "resuming from $run.ckpt" "$dir/$name-2.log" || fail "$name: the second start found no checkpoint"
  grep -q "\[train\] resumed from" "$dir/$name-2.log" || fail "$name: the second start did not resume"
  "$sfb" validate "$run.h5" "$run.json" >"$dir/$name-validate.log" 2>&1 || fail "$name: invalid result"
  local n
  n=$(h5dump -H -d /train/epoch/epoch "$run.h5" | sed -n 's/.*DATASPACE *SIMPLE { ( \([0-9]*\) ).*/\1/p')
  [[ "$n" == "$epochs" ]] || fail "$name: the result logs ${n:-no} epochs, not $epochs"
  echo "$name: SIGTERM to the $whom -> checkpoint, exit 75; rerun resumed and finished $epochs epochs"
}

signal_case term-shell "batch shell"
signal_case term-all "batch shell, mpirun and ranks"
echo "requeue signal test: 2 passed, 0 failed"
