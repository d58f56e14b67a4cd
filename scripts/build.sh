#!/usr/bin/env bash
# Configures and builds sfbench (Release) against the LibTorch of the project's virtual environment.
# Configures when the build folder has no finished configuration (no build.ninja or Makefile, e.g.
# after a configure that failed), otherwise lets the build tool rerun CMake when CMake files changed.
# Environment: SFB_BUILD_DIR (default build), SFB_VENV (default .venv), SFB_CMAKE_ARGS (extra args),
# SFB_JOBS (default: number of cores), SFB_TARGETS (space-separated targets; default: all).
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${SFB_BUILD_DIR:-$repo/build}
venv=${SFB_VENV:-$repo/.venv}
jobs=${SFB_JOBS:-$(nproc)}

[[ -x "$venv/bin/python" ]] || { echo "build: no virtual environment at $venv; run scripts/setup-deps.sh" >&2; exit 1; }
torch_prefix=$("$venv/bin/python" -c 'import torch.utils; print(torch.utils.cmake_prefix_path)')

generator=()
command -v ninja >/dev/null && generator=(-G Ninja)
if [[ -f "$build/build.ninja" || -f "$build/Makefile" ]]; then
  echo "build: building in $build (configured before)"
else
  if [[ -f "$build/CMakeCache.txt" ]]; then
    echo "build: the last configure of $build did not finish; configuring it again from scratch"
    rm -rf "$build/CMakeCache.txt" "$build/CMakeFiles"
  else
    echo "build: configuring $build (Release)"
  fi
  mkdir -p "$build"
  log="$build/configure.log"
  cmake -S "$repo" -B "$build" "${generator[@]}" -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_PREFIX_PATH="$torch_prefix" -DSFB_PYTHON="$venv/bin/python" ${SFB_CMAKE_ARGS:-} >"$log" 2>&1 || {
    tail -n 40 "$log" >&2; echo "build: cmake configure failed (log: $log)" >&2; exit 1; }
  echo "build: configured (log: $log); building with $jobs jobs"
fi
targets=()
for t in ${SFB_TARGETS:-}; do targets+=(--target "$t"); done
cmake --build "$build" -j "$jobs" "${targets[@]}"
