#!/usr/bin/env bash
# Integration test of jobs/slurm/ under a private Slurm on this machine.
#
# Starts munged, slurmctld and slurmd (Debian's munge and slurm-wlm) as this user's background
# processes, with a generated slurm.conf, munge key and socket, state, spool and logs in one temp
# folder and free TCP ports; nothing system-wide is read or changed. Then submits, in CPU mode and
# with `sbatch --wait`:
#   - eval-single-node.sbatch (sfbench eval, 2 ranks),
#   - eval-multi-node.sbatch on one node (sfbench sf) with the mpirun fallback launcher,
#   - submit-zoo.sh: a 3-task array (%A_%a outputs) and its dependent `sfbench compare` job, and
#     a zoo whose model fails: the compare job must be cancelled, not left pending,
#   - train-requeue.sbatch, sent SIGUSR1 (as --signal=B:USR1 would) once its first checkpoint
#     exists: it must checkpoint, requeue itself, resume from the checkpoint and complete,
#   - the same with the mpirun launcher, sent SIGTERM in every process of the job (as at the time
#     limit; mpirun then exits 1): it must checkpoint, requeue, resume and complete too,
# and checks job states (scontrol), logs and the HDF5/JSON outputs (sfbench validate + contents).
# The daemons are stopped on exit, whatever happens (and by a watchdog if this shell is killed).
#
# usage: slurm_test.sh   (env: SFBENCH = the sfbench binary, SFB_REPO = the source tree;
#                         SFB_KEEP_SLURM_DIR=1 keeps the temp folder for inspection)
# Exit: 0 pass, 1 fail, 77 skip: only when the daemons cannot be started here.
set -u
sfb=${SFBENCH:?SFBENCH must name the sfbench binary}
repo=${SFB_REPO:?SFB_REPO must name the source tree}
jobs_dir=$repo/jobs/slurm
[[ -x "$sfb" ]] || { echo "FAIL: $sfb is not an executable"; exit 1; }
t0=$SECONDS
deadline=$((SECONDS + ${SFB_SLURM_TEST_BUDGET:-330}))  # below the ctest TIMEOUT, so cleanup runs

log() { printf '[slurm-test %3ds] %s\n' $((SECONDS - t0)) "$*"; }
skip() { echo "SKIP: the private Slurm cluster cannot start: $*"; exit 77; }

dir=$(mktemp -d "${TMPDIR:-/tmp}/sfb-slurm.XXXXXX") || { echo "FAIL: mktemp"; exit 1; }
chmod 755 "$dir"  # munged wants its socket folder (and the path to it) open to everyone
munge_pid="" ctld_pid="" slurmd_pid="" watchdog_pid="" waiters=()
node=$(hostname -s)

dump_logs() {
  local f
  for f in "$dir"/log/*.log "$dir"/log/*.out "$dir"/run/*.out; do
    [[ -s "$f" ]] || continue
    echo "---- ${f#"$dir"/} (last 25 lines)"
    tail -n 25 "$f"
  done
}
fail() {
  echo "FAIL: $*"
  [[ -n "$ctld_pid" ]] && squeue -a 2>&1 | sed 's/^/  squeue: /'
  dump_logs
  exit 1
}

stop_pid() {  # stop_pid PID: TERM, up to 10 s, then KILL
  local pid=$1 i
  [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null
  for ((i = 0; i < 50; i++)); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.2; done
  kill -KILL "$pid" 2>/dev/null
}
cleanup() {
  local rc=$? i pid
  trap - EXIT INT TERM
  for pid in "${waiters[@]}"; do kill "$pid" 2>/dev/null; done
  if [[ -n "$ctld_pid" ]] && kill -0 "$ctld_pid" 2>/dev/null; then
    # End the jobs before slurmd, so that no job step outlives the cluster.
    scancel --full --quiet --user="$(id -un)" 2>/dev/null
    for ((i = 0; i < 40; i++)); do
      [[ -z "$(squeue -h -t all -o %i 2>/dev/null | head -1)" ]] && break
      [[ -z "$(squeue -h -o %i 2>/dev/null)" ]] && break
      sleep 0.5
    done
  fi
  stop_pid "$slurmd_pid"
  stop_pid "$ctld_pid"
  stop_pid "$munge_pid"
  stop_pid "$watchdog_pid"
  if [[ "${SFB_KEEP_SLURM_DIR:-0}" == 1 ]]; then
    echo "kept $dir"
  else
    rm -rf "$dir"
  fi
  log "daemons stopped"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---------------------------------------------------------------------------------------------
# The private cluster.
for c in munged slurmctld slurmd sbatch squeue scontrol scancel sinfo python3; do
  command -v "$c" >/dev/null || skip "'$c' is not installed (Debian: apt-get install slurm-wlm munge)"
done
mkdir -p "$dir"/{key,munge,state,log,run} "$dir/spool/$node" || fail "cannot create $dir"
chmod 700 "$dir/key"
chmod 755 "$dir/munge"
if command -v mungekey >/dev/null; then
  mungekey --create --keyfile="$dir/key/munge.key" || skip "mungekey failed"
else
  dd if=/dev/urandom of="$dir/key/munge.key" bs=1024 count=1 status=none || skip "no munge key"
fi
chmod 600 "$dir/key/munge.key"
sock=$dir/munge/munge.socket
munged --foreground --force --socket="$sock" --key-file="$dir/key/munge.key" \
  --pid-file="$dir/munge/munged.pid" --seed-file="$dir/key/munged.seed" \
  --log-file="$dir/log/munged.log" >"$dir/log/munged.out" 2>&1 &
munge_pid=$!
for ((i = 0; i < 50; i++)); do [[ -S "$sock" ]] && break; sleep 0.1; done
[[ -S "$sock" ]] || { dump_logs; skip "munged did not create its socket $sock"; }

read -r ctld_port slurmd_port < <(python3 - <<'PY'
import socket
socks = [socket.socket() for _ in range(2)]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(*(s.getsockname()[1] for s in socks))
PY
)
# GNU nproc obeys OMP_NUM_THREADS (ctest sets it to 1); the jobs need 2 CPUs, which a 1-CPU
# machine gets too (config_overrides: slurmd takes the node's description from slurm.conf).
cpus=$(env -u OMP_NUM_THREADS -u OMP_THREAD_LIMIT nproc)
((cpus >= 2)) || cpus=2
mem_mb=$(awk '/^MemTotal:/ { print int($2 / 1024 * 0.9) }' /proc/meminfo)
user=$(id -un)
export SLURM_CONF=$dir/slurm.conf
cat >"$SLURM_CONF" <<EOF
# Generated by tests/slurm/slurm_test.sh: a one-node Slurm on localhost, private to this test.
ClusterName=sfbtest
SlurmctldHost=$node(127.0.0.1)
SlurmctldPort=$ctld_port
SlurmdPort=$slurmd_port
SlurmUser=$user
SlurmdUser=$user
AuthType=auth/munge
CredType=cred/munge
# cred_expire also delays a requeued job's next start (default 120 s).
AuthInfo=socket=$sock,cred_expire=10
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool/%n
SlurmctldPidFile=$dir/run/slurmctld.pid
SlurmdPidFile=$dir/run/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
ReturnToService=2
SlurmdParameters=config_overrides
SchedulerType=sched/backfill
MailProg=/bin/true
SlurmctldTimeout=30
SlurmdTimeout=60
InactiveLimit=0
KillWait=5
# Finished jobs stay visible to scontrol for the whole test.
MinJobAge=900
NodeName=$node NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem_mb State=UNKNOWN
PartitionName=debug Nodes=$node Default=YES MaxTime=INFINITE State=UP
EOF
slurmctld -D -i -f "$SLURM_CONF" >"$dir/log/slurmctld.out" 2>&1 &
ctld_pid=$!
slurmd -D -N "$node" -f "$SLURM_CONF" >"$dir/log/slurmd.out" 2>&1 &
slurmd_pid=$!
# If this shell is killed (ctest's timeout sends SIGKILL), the watchdog stops the daemons.
(
  while kill -0 $$ 2>/dev/null; do sleep 1; done
  kill "$slurmd_pid" "$ctld_pid" "$munge_pid" 2>/dev/null
) >/dev/null 2>&1 &
watchdog_pid=$!
state=""
for ((i = 0; i < 120; i++)); do
  kill -0 "$ctld_pid" 2>/dev/null || break
  kill -0 "$slurmd_pid" 2>/dev/null || break
  state=$(sinfo -h -n "$node" -o %T 2>/dev/null)
  [[ "$state" == idle ]] && break
  sleep 0.5
done
if [[ "$state" != idle ]]; then
  dump_logs
  skip "node $node is '${state:-unknown}', not idle, after 60 s (slurmctld/slurmd logs above)"
fi
log "Slurm $(sinfo -V | awk '{print $2}') up: node $node, $cpus CPUs, ports $ctld_port/$slurmd_port, $dir"

# ---------------------------------------------------------------------------------------------
# Jobs. All are submitted up front and waited for in parallel: `sbatch --wait` polls with
# growing pauses (up to 32 s), which would otherwise add up.
run=$dir/run
cd "$run" || fail "cd $run"
export SFB="$sfb" SFB_DEVICE=cpu SFB_OUT_DIR="$run/out"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
cpu_opts=(--gpus-per-node=0 --cpus-per-task=1)

cat >eval.toml <<'EOF'
seed = 1
data = "synthetic-shapes:32"
model = "zoo:cnn-small"
batch_size = 16
[sf]
bootstrap = 20
EOF
cat >models.txt <<'EOF'
# the zoo: one model per line, numbered from 0 without comments and empty lines
zoo:cnn-small --seed 11

zoo:cnn-small --seed 12
zoo:cnn-small --seed 13
EOF
train_epochs=8
cat >recipe.toml <<EOF
seed = 3
[train]
epochs = $train_epochs
batch_size = 32
lr = 0.01
loss = "standard"
sf_lambda = 0.1
checkpoint_every = 1
EOF

# background NAME CMD...: runs CMD with the time left; output to $run/NAME.submit, exit code to
# $run/NAME.rc. Killing the waiter (cleanup) ends CMD too.
background() {
  local name=$1
  shift
  (
    timeout $((deadline - SECONDS)) "$@" >"$run/$name.submit" 2>&1 &
    child=$!
    trap 'kill "$child" 2>/dev/null' TERM
    wait "$child"
    rc=$?
    kill -0 "$child" 2>/dev/null && wait "$child"
    echo "$rc" >"$run/$name.rc"
  ) &
  waiters+=($!)
}
job_of() { sed -n 's/^Submitted batch job \([0-9]*\).*/\1/p' "$run/$1.submit" | head -1; }
await() {  # await NAME: waits for the waiter; prints its exit code
  while [[ ! -s "$run/$1.rc" ]]; do
    ((SECONDS < deadline + 5)) || fail "$1: no result before the test's deadline"
    sleep 1
  done
  cat "$run/$1.rc"
}
job_field() {  # job_field JOBID FIELD: the value of FIELD= in `scontrol show job` (first record)
  scontrol show job -o "$1" 2>/dev/null | head -1 | tr ' ' '\n' | sed -n "s/^$2=//p"
}

have_train=0
"$sfb" train --help >/dev/null 2>&1 && have_train=1
if ((have_train)); then
  background train sbatch --wait "${cpu_opts[@]}" --ntasks-per-node=2 --output="$run/train-%j.out" \
    "$jobs_dir/train-requeue.sbatch" recipe.toml --model zoo:cnn-small --data synthetic-shapes:320
  background trainterm env SFB_LAUNCHER=mpirun sbatch --wait "${cpu_opts[@]}" --ntasks-per-node=2 \
    --output="$run/train-term-%j.out" "$jobs_dir/train-requeue.sbatch" recipe.toml \
    --model zoo:cnn-small --data synthetic-shapes:320
fi
background eval env SFB_CMD=eval sbatch --wait "${cpu_opts[@]}" --ntasks-per-node=2 \
  --output="$run/eval-%j.out" "$jobs_dir/eval-single-node.sbatch" eval.toml --attacks fgsm
background evalmn env SFB_CMD=sf SFB_LAUNCHER=mpirun sbatch --wait "${cpu_opts[@]}" --nodes=1 --ntasks-per-node=1 \
  --output="$run/eval-mn-%j.out" "$jobs_dir/eval-multi-node.sbatch" eval.toml
background zoo "$jobs_dir/submit-zoo.sh" --wait --max-parallel 2 --sbatch=--gpus-per-node=0 \
  --sbatch=--cpus-per-task=1 --sbatch=--output="$run/sfb-zoo-%A_%a.out" \
  --compare-sbatch=--output="$run/sfb-compare-%j.out" models.txt eval.toml --attacks fgsm
printf 'zoo:no-such-net\n' >models-bad.txt
background zoobad "$jobs_dir/submit-zoo.sh" --wait --sbatch=--gpus-per-node=0 \
  --sbatch=--cpus-per-task=1 --sbatch=--output="$run/sfb-zoobad-%A_%a.out" \
  --compare-sbatch=--output="$run/sfb-comparebad-%j.out" models-bad.txt eval.toml

# The training jobs, whichever runs first: once the first checkpoint of the one with the default
# launcher exists (epoch 1 of $train_epochs done), signal its batch shell as Slurm's
# --signal=B:USR1@300 does; once the mpirun one's exists, send SIGTERM to every process of that job
# (batch shell, mpirun, ranks) as Slurm does at the time limit: mpirun then exits 1, and the job
# must still checkpoint and requeue.
if ((have_train)); then
  train_job="" term_job="" usr1_sent=0 term_sent=0
  while ((SECONDS < deadline)) && ((!usr1_sent || !term_sent)); do
    [[ -z "$train_job" ]] && train_job=$(job_of train)
    [[ -z "$term_job" ]] && term_job=$(job_of trainterm)
    if ((!usr1_sent)) && [[ -n "$train_job" && -e "$run/out/train-$train_job.ckpt" ]]; then
      [[ $(job_field "$train_job" JobState) == RUNNING ]] || fail "training job $train_job is not running"
      log "training job $train_job wrote its first checkpoint; sending SIGUSR1 to its batch shell"
      scancel --signal=USR1 --batch "$train_job" || fail "scancel --signal=USR1 --batch $train_job"
      usr1_sent=1
    fi
    if ((!term_sent)) && [[ -n "$term_job" && -e "$run/out/train-$term_job.ckpt" ]]; then
      [[ $(job_field "$term_job" JobState) == RUNNING ]] || fail "training job $term_job is not running"
      log "training job $term_job (mpirun) wrote its first checkpoint; sending SIGTERM to all its processes"
      scancel --signal=TERM --full "$term_job" || fail "scancel --signal=TERM --full $term_job"
      term_sent=1
    fi
    ((!usr1_sent)) && [[ -s "$run/train.rc" ]] &&
      fail "the training job ended before its first checkpoint: $(cat "$run/train.submit")"
    ((!term_sent)) && [[ -s "$run/trainterm.rc" ]] &&
      fail "the mpirun training job ended before its first checkpoint: $(cat "$run/trainterm.submit")"
    sleep 0.2
  done
  ((usr1_sent)) || fail "no checkpoint from training job ${train_job:-?}"
  ((term_sent)) || fail "no checkpoint from the mpirun training job ${term_job:-?}"
fi

# ---------------------------------------------------------------------------------------------
# Checks.
validate() {  # validate FILE.h5: sfbench validate on the results file and its summary
  [[ -f "$1" ]] || fail "missing result $1"
  "$sfb" validate "$1" "${1%.h5}.json" >"$run/validate.out" 2>&1 ||
    fail "sfbench validate $1: $(cat "$run/validate.out")"
}
h5attr() {  # h5attr FILE NAME: the value of root attribute NAME (h5dump)
  h5dump -a "/$2" "$1" 2>/dev/null | sed -n 's/^ *(0): *//p' | head -1
}
expect_completed() {  # expect_completed JOBID WHAT
  local st ec
  st=$(job_field "$1" JobState)
  ec=$(job_field "$1" ExitCode)
  [[ "$st" == COMPLETED && "$ec" == 0:0 ]] || fail "$2: job $1 is $st (exit $ec), not COMPLETED (0:0)"
}

rc=$(await eval)
job=$(job_of eval)
[[ "$rc" == 0 ]] || fail "eval-single-node.sbatch: sbatch --wait exit $rc: $(cat "$run/eval.submit")"
expect_completed "$job" eval-single-node
auto_launcher=mpirun
srun --mpi=list 2>&1 | grep -qw pmix && auto_launcher=srun
grep -q "2 rank(s), --device cpu, launcher $auto_launcher" "$run/eval-$job.out" ||
  fail "eval-$job.out: not 2 CPU ranks launched by $auto_launcher"
validate "$run/out/eval-$job.h5"
[[ $(h5attr "$run/out/eval-$job.h5" world_size) == 2 ]] || fail "eval-$job.h5: world_size is not 2"
h5dump -H -d /attacks/fgsm "$run/out/eval-$job.h5" >/dev/null 2>&1 ||
  h5dump -H -g /attacks/fgsm "$run/out/eval-$job.h5" >/dev/null 2>&1 || fail "eval-$job.h5 has no /attacks/fgsm"
log "eval-single-node.sbatch: job $job COMPLETED, 2 ranks ($auto_launcher), results valid"

rc=$(await evalmn)
job=$(job_of evalmn)
[[ "$rc" == 0 ]] || fail "eval-multi-node.sbatch: sbatch --wait exit $rc: $(cat "$run/evalmn.submit")"
expect_completed "$job" eval-multi-node
grep -q "launcher mpirun" "$run/eval-mn-$job.out" || fail "eval-mn-$job.out: SFB_LAUNCHER=mpirun not used"
validate "$run/out/eval-mn-$job.h5"
[[ $(h5attr "$run/out/eval-mn-$job.h5" world_size) == 1 ]] || fail "eval-mn-$job.h5: world_size is not 1"
log "eval-multi-node.sbatch (1 node, mpirun): job $job COMPLETED, results valid"

rc=$(await zoo)
[[ "$rc" == 0 ]] || fail "submit-zoo.sh --wait: exit $rc: $(cat "$run/zoo.submit")"
array=$(sed -n 's/^array \([0-9]*\) tasks 3$/\1/p' "$run/zoo.submit")
compare=$(sed -n 's/^compare \([0-9]*\)$/\1/p' "$run/zoo.submit")
[[ -n "$array" && -n "$compare" ]] || fail "submit-zoo.sh printed no array/compare ids: $(cat "$run/zoo.submit")"
for a in 0 1 2; do
  st=$(scontrol show job -o "${array}_$a" | tr ' ' '\n' | sed -n 's/^JobState=//p')
  [[ "$st" == COMPLETED ]] || fail "array task ${array}_$a is ${st:-gone}"
  [[ -s "$run/sfb-zoo-${array}_$a.out" ]] || fail "no log sfb-zoo-${array}_$a.out (%A_%a)"
  validate "$run/out/zoo-${array}_$a.h5"
done
expect_completed "$compare" "zoo compare"
for f in md csv json; do [[ -s "$run/out/compare-$array.$f" ]] || fail "no compare-$array.$f"; done
rows=$(grep -c '^| zoo:cnn-small |' "$run/out/compare-$array.md")
[[ "$rows" == 3 ]] || fail "compare-$array.md lists $rows models, not 3"
python3 - "$run/out" "$array" <<'PY' || fail "compare-$array.json does not match the array's results"
import json, sys
out, array = sys.argv[1], sys.argv[2]
cmp = json.load(open(f"{out}/compare-{array}.json"))
by_file = {m["file"].rsplit("/", 1)[-1]: m for m in cmp["models"]}
for a in range(3):
    name = f"zoo-{array}_{a}.h5"
    assert name in by_file, f"{name} not in compare: {sorted(by_file)}"
    sf = json.load(open(f"{out}/zoo-{array}_{a}.json"))["metrics"]["sf"]["value"]
    got = by_file[name]["sf"]["value"]
    assert abs(got - sf) <= 1e-12 * abs(sf), (name, got, sf)
seeds = {json.load(open(f"{out}/zoo-{array}_{a}.json"))["seed"] for a in range(3)}
assert seeds == {11, 12, 13}, seeds
assert cmp["correlations"], "no correlations for 3 models"
PY
log "zoo array $array: 3 tasks COMPLETED, compare job $compare COMPLETED, compare lists each model"

rc=$(await zoobad)
[[ "$rc" != 0 ]] || fail "submit-zoo.sh --wait succeeded although its only model does not exist"
array=$(sed -n 's/^array \([0-9]*\) tasks 1$/\1/p' "$run/zoobad.submit")
compare=$(sed -n 's/^compare \([0-9]*\)$/\1/p' "$run/zoobad.submit")
[[ -n "$array" && -n "$compare" ]] || fail "submit-zoo.sh (bad zoo) printed no ids: $(cat "$run/zoobad.submit")"
st=$(scontrol show job -o "${array}_0" | tr ' ' '\n' | sed -n 's/^JobState=//p')
[[ "$st" == FAILED ]] || fail "bad array task ${array}_0 is ${st:-gone}, not FAILED"
grep -q "no-such-net" "$run/sfb-zoobad-${array}_0.out" || fail "the failed task's log does not name the model"
[[ $(job_field "$compare" JobState) == CANCELLED ]] ||
  fail "compare job $compare after a failed task is $(job_field "$compare" JobState), not CANCELLED"
log "zoo array $array with a bad model: task FAILED, compare job $compare CANCELLED, submit-zoo.sh exit $rc"

if ((!have_train)); then
  fail "sfbench train missing: '$sfb train --help' does not succeed, so train-requeue.sbatch cannot be tested"
fi
rc=$(await train)
job=$train_job
tlog=$run/train-$job.out
[[ "$rc" == 0 ]] || fail "train-requeue.sbatch: sbatch --wait exit $rc"
expect_completed "$job" train-requeue
[[ $(job_field "$job" Restarts) == 1 ]] || fail "training job $job: Restarts=$(job_field "$job" Restarts), expected 1"
grep -q "SIGUSR1" "$tlog" || fail "$tlog: the batch shell did not report SIGUSR1"
grep -q "requeueing job $job" "$tlog" || fail "$tlog: no requeue"
grep -q "train start 2 .*resuming from" "$tlog" || fail "$tlog: the second start did not resume"
grep -q "\[train\] resumed from" "$tlog" || fail "$tlog: sfbench did not report resuming"
grep -q "training finished after 2 start(s)" "$tlog" || fail "$tlog: training did not finish"
validate "$run/out/train-$job.h5"
n_epochs=$(h5dump -H -d /train/epoch/epoch "$run/out/train-$job.h5" | sed -n 's/.*DATASPACE *SIMPLE { ( \([0-9]*\) ).*/\1/p')
[[ "$n_epochs" == "$train_epochs" ]] || fail "train-$job.h5 logs ${n_epochs:-no} epochs, not $train_epochs"
log "train-requeue.sbatch: job $job got SIGUSR1, checkpointed, requeued, resumed and COMPLETED ($train_epochs epochs)"

rc=$(await trainterm)
job=$term_job
tlog=$run/train-term-$job.out
[[ "$rc" == 0 ]] || fail "train-requeue.sbatch (mpirun, SIGTERM): sbatch --wait exit $rc"
expect_completed "$job" "train-requeue (mpirun, SIGTERM)"
[[ $(job_field "$job" Restarts) == 1 ]] || fail "training job $job: Restarts=$(job_field "$job" Restarts), expected 1"
grep -q "launcher mpirun" "$tlog" || fail "$tlog: SFB_LAUNCHER=mpirun not used"
grep -q "SIGTERM" "$tlog" || fail "$tlog: the batch shell did not report SIGTERM"
grep -q "requeueing job $job" "$tlog" || fail "$tlog: no requeue after SIGTERM"
grep -q "train start 2 .*resuming from" "$tlog" || fail "$tlog: the second start did not resume"
grep -q "training finished after 2 start(s)" "$tlog" || fail "$tlog: training did not finish"
validate "$run/out/train-$job.h5"
n_epochs=$(h5dump -H -d /train/epoch/epoch "$run/out/train-$job.h5" | sed -n 's/.*DATASPACE *SIMPLE { ( \([0-9]*\) ).*/\1/p')
[[ "$n_epochs" == "$train_epochs" ]] || fail "train-$job.h5 logs ${n_epochs:-no} epochs, not $train_epochs"
log "train-requeue.sbatch (mpirun): job $job got SIGTERM in every process, checkpointed, requeued, resumed and COMPLETED"

log "PASS"
