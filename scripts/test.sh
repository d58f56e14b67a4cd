#!/usr/bin/env bash
# One command from a clean clone on Debian 12: install dependencies, build, run every test.
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
scripts/setup-deps.sh
scripts/build.sh
# mpirun refuses root unless told; CI and containers run as root.
if [[ $(id -u) -eq 0 ]]; then export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1; fi
cd "${SFB_BUILD_DIR:-$repo/build}"
ctest --output-on-failure -j "$(nproc)" "$@"
