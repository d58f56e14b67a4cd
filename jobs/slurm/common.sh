# shellcheck shell=bash
# Helpers shared by the sfbench batch scripts in jobs/slurm/ (sourced, not run).
#
# A batch script runs from a copy in slurmd's spool directory, so it finds this file through the
# path Slurm recorded at submission (`scontrol show job` Command=, or SFB_JOBS_DIR when set); see
# sfb_source_common in each script.
#
# Environment read here (all optional):
#   SFB           sfbench binary (default: `sfbench` on PATH, else <repo>/build/sfbench)
#   SFB_DEVICE    cuda | cpu (default cuda: one rank per GPU, rank r of a node on cuda:SLURM_LOCALID)
#   SFB_LAUNCHER  auto | srun | mpirun (default auto: `srun --mpi=pmix` when `srun --mpi=list`
#                 lists pmix, else Open MPI's `mpirun`, which reads the allocation from Slurm)
#   SFB_OUT_DIR   folder of the results files (default runs/slurm under the submission folder)

sfb_die() { echo "sfbench job ${SLURM_JOB_ID:-?}: error: $*" >&2; exit 2; }
sfb_note() { echo "sfbench job ${SLURM_JOB_ID:-?}: $*"; }

# sfb_binary: prints the sfbench binary to run.
sfb_binary() {
  if [[ -n "${SFB:-}" ]]; then
    [[ -x "$SFB" ]] || command -v "$SFB" >/dev/null || sfb_die "SFB=$SFB is not an executable"
    echo "$SFB"
  elif command -v sfbench >/dev/null; then
    command -v sfbench
  elif [[ -x "$SFB_REPO/build/sfbench" ]]; then
    echo "$SFB_REPO/build/sfbench"
  else
    sfb_die "no sfbench: set SFB=/path/to/sfbench, put it on PATH, or build $SFB_REPO/build/sfbench"
  fi
}

# sfb_out_dir: creates and prints the results folder.
sfb_out_dir() {
  local dir=${SFB_OUT_DIR:-runs/slurm}
  mkdir -p "$dir" || sfb_die "cannot create the output folder $dir"
  echo "$dir"
}

# sfb_device_args: prints the --device flag for SFB_DEVICE. On GPUs sfbench binds each rank to
# cuda:(local rank mod visible GPUs), the local rank being SLURM_LOCALID under srun (and
# OMPI_COMM_WORLD_LOCAL_RANK under mpirun): run one rank per GPU, --ntasks-per-node equal to
# --gpus-per-node. GPUs are requested per node, not per task: --gpus-per-task puts every task in
# its own device cgroup, which hides the other GPUs (and so NVLink peer access) from NCCL.
sfb_device_args() {
  local dev=${SFB_DEVICE:-cuda}
  case $dev in
    cpu) ;;
    cuda)
      if [[ -n "${SLURM_GPUS_PER_NODE:-}" && -n "${SLURM_NTASKS_PER_NODE:-}" &&
            "${SLURM_GPUS_PER_NODE##*:}" != "$SLURM_NTASKS_PER_NODE" ]]; then
        echo "sfbench job ${SLURM_JOB_ID:-?}: warning: --ntasks-per-node=$SLURM_NTASKS_PER_NODE" \
             "differs from --gpus-per-node=$SLURM_GPUS_PER_NODE (one rank per GPU is intended)" >&2
      fi ;;
    *) sfb_die "SFB_DEVICE=$dev is not one of cuda|cpu" ;;
  esac
  echo "--device $dev"
}

# sfb_launcher NAME: fills the array NAME with the MPI launcher command (srun or mpirun and its
# options) for all tasks of the allocation.
sfb_launcher() {
  local -n cmd=$1
  local mode=${SFB_LAUNCHER:-auto}
  if [[ $mode == auto ]]; then
    if command -v srun >/dev/null && srun --mpi=list 2>&1 | grep -qw pmix; then
      mode=srun
    else
      mode=mpirun
    fi
  fi
  case $mode in
    srun)
      cmd=(srun --mpi=pmix --kill-on-bad-exit=1)
      # Since Slurm 22.05 srun does not inherit --cpus-per-task from the batch job.
      [[ -n "${SLURM_CPUS_PER_TASK:-}" ]] && cmd+=(--cpus-per-task="$SLURM_CPUS_PER_TASK")
      [[ "${SFB_DEVICE:-cuda}" == cuda ]] && cmd+=(--gpu-bind=none) ;;
    mpirun)
      # Open MPI takes nodes and slots from the Slurm allocation; no binding, so that each rank
      # may use its share of the node's cores as intra-op threads.
      cmd=(mpirun -np "${SLURM_NTASKS:-1}" --bind-to none) ;;
    *) sfb_die "SFB_LAUNCHER=$mode is not one of auto|srun|mpirun" ;;
  esac
}

# sfb_eval_main STEM CONFIG [sfbench options...]: runs `sfbench $SFB_CMD` (default eval) on all
# tasks of the job with --config CONFIG and the remaining options, writing $SFB_OUT_DIR/STEM.h5
# (and STEM.json). Returns sfbench's exit code.
sfb_eval_main() {
  local stem=$1
  shift
  (($# >= 1)) || sfb_die "usage: sbatch SCRIPT CONFIG.toml [sfbench options...]"
  local config=$1
  shift
  [[ -r "$config" ]] || sfb_die "config file $config is not readable"
  local sfb out_dir dev launcher=()
  sfb=$(sfb_binary) || exit 2
  out_dir=$(sfb_out_dir) || exit 2
  dev=$(sfb_device_args) || exit 2
  sfb_launcher launcher
  local out="$out_dir/$stem.h5"
  sfb_note "${SLURM_JOB_NUM_NODES:-1} node(s), ${SLURM_NTASKS:-1} rank(s), $dev, launcher ${launcher[0]}"
  # shellcheck disable=SC2086  # $dev is "--device X", split on purpose
  "${launcher[@]}" "$sfb" "${SFB_CMD:-eval}" --config "$config" $dev --out "$out" "$@"
  local rc=$?
  sfb_note "sfbench ${SFB_CMD:-eval} exited with $rc; results: $out"
  return "$rc"
}
