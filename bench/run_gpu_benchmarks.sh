#!/usr/bin/env bash
# The GPU benchmark table (issue 10) in one command on a GPU node: images/s on one GPU of the SF
# stage, PGD-10, the interactions' masked forwards and a PGD-AT training step for wrn-28-10 at
# 32×32 and resnet-50 at 224×224 (bench/bench_gpu.hpp), each against the same computation in
# PyTorch (bench/reference/*_reference.py --gpu-configs) in the same run, with the FLOPs per image
# the reference counts, plus `sfbench commbench` on the GPU (NCCL, 1 rank) and with MPI (2 ranks
# sharing the GPU; CUDA buffers staged through the host).
#
# The pairs alternate as in run_benchmarks.sh (its run_paired: each round runs each stage once on
# each side, the side that goes first alternating between rounds): SFB_GPU_ROUNDS rounds (default
# 3), each side timing batches for at least SFB_GPU_MIN_TIME seconds per configuration (default 1).
# Expected wall time on one H200 in fp32: about 5–6 minutes (8 processes of ~10 s per round).
#
# Output, in OUT_DIR (default bench/results), three files named after the GPU (and the precision
# when not fp32): gpu_<gpu>.md (the table), gpu_<gpu>.json (table rows, environment, the merged
# Google-Benchmark-style runs of both sides, commbench output) and gpu_<gpu>.log (everything the
# run printed).
#
# usage: bench/run_gpu_benchmarks.sh [--cpu-smoke] [OUT_DIR]
#   --cpu-smoke: no GPU needed: the small stand-in configurations (SFB_BENCH_GPU_SMOKE=1: cnn-small
#   at 32×32 batch 4, resnet-50 at 64×64 batch 2) on the CPU, 1 round, no minimum time, commbench
#   on CPU buffers; proves the pipeline and the table, measures nothing.
# env: SFB_BUILD_DIR (default build-gpu; build with --cpu-smoke), SFB_PYTHON (default
#   /opt/torch/.venv/bin/python3 when present, else python3), SFB_GPU_ROUNDS, SFB_GPU_MIN_TIME,
#   SFB_BENCH_PRECISION (fp32|tf32|bf16, both sides; default fp32), SFB_GPU_PEAK_TFLOPS.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
smoke=0
if [[ ${1:-} == --cpu-smoke ]]; then smoke=1; shift; fi
out_dir=$(mkdir -p "${1:-$here/results}" && cd "${1:-$here/results}" && pwd)
if ((smoke)); then
  export SFB_BUILD_DIR=${SFB_BUILD_DIR:-$here/../build} SFB_BENCH_GPU_SMOKE=1 SFB_BENCH_DEVICE=cpu
  device=cpu rounds=1 min_time=0
else
  export SFB_BUILD_DIR=${SFB_BUILD_DIR:-$here/../build-gpu} SFB_BENCH_DEVICE=cuda
  device=cuda rounds=${SFB_GPU_ROUNDS:-3} min_time=${SFB_GPU_MIN_TIME:-1}
fi
default_py=python3
[[ -x /opt/torch/.venv/bin/python3 ]] && default_py=/opt/torch/.venv/bin/python3
export SFB_PYTHON=${SFB_PYTHON:-$default_py}
precision=${SFB_BENCH_PRECISION:-fp32}
export SFB_BENCH_GPU=1 SFB_BENCH_PRECISION=$precision
# run_paired's settings: rounds, minimum time per configuration, and where the merged runs go.
export SFB_SF_ROUNDS=$rounds SFB_SF_MIN_TIME=$min_time SFB_SF_TAG=_gpu
# shellcheck source=bench/run_benchmarks.sh
source "$here/run_benchmarks.sh"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
results=$work  # run_paired writes <stage>_gpu_np1.json and <stage>_gpu_pytorch_np1.json here
py_extra=(--gpu-configs --count-flops --device "$device" --precision "$precision")
# shellcheck disable=SC2034  # read by run_paired through its PAIRS argument
gpu_pairs=("/gpu/")  # one "pair" per stage: all its GPU configurations in one process per side
sfbench_bin=$build/sfbench

gpu=$("$SFB_PYTHON" -c 'import sys, torch
print(torch.cuda.get_device_name(0) if sys.argv[1] == "cuda" else "cpu-smoke")' "$device")
slug=$(echo "$gpu" | tr 'A-Z ' 'a-z-' | tr -cd 'a-z0-9-')
[[ $precision == fp32 ]] || slug+="_$precision"
log=$out_dir/gpu_$slug.log
exec > >(tee "$log") 2>&1
echo "run_gpu_benchmarks: $gpu, device $device, precision $precision, $rounds round(s)," \
     "min time ${min_time}s, build $build, python $SFB_PYTHON, $(date -u +%FT%TZ)"
for b in sfbench bench/bench_sf bench/bench_pgd bench/bench_interactions bench/bench_train; do
  [[ -x $build/$b ]] || { echo "run_gpu_benchmarks: no $build/$b (scripts/build-gpu.sh)" >&2; exit 1; }
done

# The environment: nvidia-smi's view of the GPU and the reference's torch (the benchmark JSON
# contexts add sfbench's own CUDA, NCCL, LibTorch and MPI versions).
smi=none
if command -v nvidia-smi >/dev/null; then
  smi=$(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | head -1)
fi
"$SFB_PYTHON" - "$smi" "$rounds" "$min_time" "$device" >"$work/env.json" <<'PY'
import json, platform, sys, torch
smi, rounds, min_time, device = sys.argv[1:]
env = {"nvidia_smi": smi, "rounds": f"{rounds} × {min_time} s", "device": device,
       "torch": torch.__version__, "torch_cuda": torch.version.cuda or "none",
       "python": platform.python_version(), "host": platform.node()}
if device == "cuda":
    env["gpu_name"] = torch.cuda.get_device_name(0)
    env["cudnn"] = str(torch.backends.cudnn.version())
    env["torch_nccl"] = ".".join(str(v) for v in torch.cuda.nccl.version())
print(json.dumps(env))
PY
cat "$work/env.json"

SECONDS=0
for stage in sf pgd interactions train; do
  # A stage that fails (e.g. out of memory) is reported and left out of the table; the others run.
  run_paired "$stage" gpu_pairs || echo "run_gpu_benchmarks: stage $stage failed; see above"
done
echo "paired benchmarks: ${SECONDS}s"

# commbench: all-reduce on the GPU through NCCL (1 rank), and through MPI with 2 ranks sharing it.
SECONDS=0
if ((smoke)); then
  cb_sizes=(-b 8 -e 64K -f 8 -n 5 -w 1)
  mpirun --oversubscribe -np 1 "$sfbench_bin" --device cpu --comm mpi commbench "${cb_sizes[@]}" \
    | tee "$work/commbench_1.txt"
  mpirun --oversubscribe -np 2 "$sfbench_bin" --device cpu --comm mpi commbench "${cb_sizes[@]}" \
    | tee "$work/commbench_2.txt"
  cb_names=("mpi-cpu-np1=$work/commbench_1.txt" "mpi-cpu-np2=$work/commbench_2.txt")
else
  mpirun --oversubscribe -np 1 "$sfbench_bin" --device cuda --comm nccl commbench -b 8 -e 256M -f 4 \
    -n 20 -w 5 | tee "$work/commbench_1.txt" || echo "commbench nccl failed" | tee -a "$work/commbench_1.txt"
  mpirun --oversubscribe -np 2 "$sfbench_bin" --device cuda --comm mpi commbench -b 8 -e 64M -f 8 \
    -n 10 -w 2 | tee "$work/commbench_2.txt" || echo "commbench mpi failed" | tee -a "$work/commbench_2.txt"
  cb_names=("nccl-cuda-np1=$work/commbench_1.txt" "mpi-cuda-np2=$work/commbench_2.txt")
fi
echo "commbench: ${SECONDS}s"

python3 "$here/gpu_table.py" --env "$work/env.json" --md "$out_dir/gpu_$slug.md" \
  --json "$out_dir/gpu_$slug.json" --commbench "${cb_names[@]}" -- "${outs[@]}"
cat "$out_dir/gpu_$slug.md"
