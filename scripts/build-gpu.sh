#!/usr/bin/env bash
# Builds sfbench on a GPU node against that node's PyTorch (LibTorch with CUDA) and CUDA toolkit.
#
#   scripts/build-gpu.sh            # build into build-gpu/
#
# LibTorch: $Torch_DIR when set, else the CMake prefix of the PyTorch that `python3` imports
# (`torch.utils.cmake_prefix_path`). CUDA and NCCL are required (SFB_WITH_CUDA=ON,
# SFB_WITH_NCCL=ON); the CUDA runtime and NCCL linked are those the torch install loads.
# MPI, parallel HDF5 and the header libraries come from the system, or from SFB_DEPS_PREFIX: a
# folder into which Debian packages were unpacked (`dpkg-deb -x pkg.deb "$SFB_DEPS_PREFIX"`), for
# nodes without a package manager or network. Environment:
#   SFB_BUILD_DIR (default build-gpu), SFB_DEPS_PREFIX, TORCH_CUDA_ARCH_LIST (default "9.0" = Hopper),
#   SFB_CMAKE_ARGS (extra CMake arguments), SFB_JOBS (default: cores).
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${SFB_BUILD_DIR:-$repo/build-gpu}
jobs=${SFB_JOBS:-$(nproc)}
python=${SFB_PYTHON:-python3}

if [[ -n "${Torch_DIR:-}" ]]; then
  torch_args=(-DTorch_DIR="$Torch_DIR")
else
  prefix=$("$python" -c 'import torch, torch.utils; assert torch.version.cuda, "torch has no CUDA"; print(torch.utils.cmake_prefix_path)') \
    || { echo "build-gpu: $python cannot import a CUDA-enabled torch; set Torch_DIR" >&2; exit 1; }
  torch_args=(-DCMAKE_PREFIX_PATH="$prefix${SFB_DEPS_PREFIX:+;$SFB_DEPS_PREFIX/usr}")
fi
deps_args=()
if [[ -n "${SFB_DEPS_PREFIX:-}" ]]; then
  p=$SFB_DEPS_PREFIX/usr
  export OPAL_PREFIX=$p   # relocated Open MPI finds its help files and plugins here
  export PATH=$p/bin:$PATH
  export LD_LIBRARY_PATH=$p/lib/x86_64-linux-gnu:$p/lib/x86_64-linux-gnu/hdf5/openmpi:${LD_LIBRARY_PATH:-}
  export PKG_CONFIG_PATH=$p/lib/x86_64-linux-gnu/pkgconfig:$p/share/pkgconfig:${PKG_CONFIG_PATH:-}
  deps_args=(-DMPI_C_COMPILER="$p/bin/mpicc" -DHDF5_ROOT="$p/lib/x86_64-linux-gnu/hdf5/openmpi"
             -DCMAKE_INCLUDE_PATH="$p/include" -DCMAKE_LIBRARY_PATH="$p/lib/x86_64-linux-gnu")
fi
generator=()
command -v ninja >/dev/null && generator=(-G Ninja)
cmake -S "$repo" -B "$build" "${generator[@]}" -DCMAKE_BUILD_TYPE=Release "${torch_args[@]}" \
  "${deps_args[@]}" -DSFB_WITH_CUDA=ON -DSFB_WITH_NCCL=ON \
  -DTORCH_CUDA_ARCH_LIST="${TORCH_CUDA_ARCH_LIST:-9.0}" ${SFB_CMAKE_ARGS:-}
cmake --build "$build" -j "$jobs"
echo "build-gpu: built $build/sfbench; try: mpirun -np <GPUs> $build/sfbench commbench --device cuda"
