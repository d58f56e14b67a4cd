#!/usr/bin/env bash
# Installs everything sfbench needs on Debian 12: the Debian packages listed below through
# apt-get, and the Python packages of scripts/deps/python.txt (LibTorch from the pip `torch`
# wheel, and what tests and benchmarks import) in a project virtual environment (.venv).
# Idempotent and quiet; loud on failure. tests/setup/check_deps.py (ctest -L setup) checks that these
# lists cover every header, library and Python module the build and the tests really use.
#
# Environment:
#   SFB_VENV           virtual environment path (default: <repo>/.venv)
#   SFB_TORCH_VERSION  torch wheel to pin instead of the one in scripts/deps/python.txt
#   SFB_SKIP_APT=1     skip apt-get (e.g. on a cluster where modules provide MPI/HDF5)
#   SFB_WITH_SLURM=0   do not install debian_slurm_packages (only the Slurm tests need them)
# usage: scripts/setup-deps.sh [--list-debian]   (--list-debian: print the Debian packages, install nothing)
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
venv=${SFB_VENV:-$repo/.venv}
deps=$repo/scripts/deps

die() { echo "setup-deps: error: $*" >&2; exit 1; }
note() { echo "setup-deps: $*"; }
# The entries of a list file: one a line, '#' comments and blank lines dropped.
entries() { sed -e 's/#.*//' -e 's/[[:space:]]*$//' -e '/^$/d' "$1"; }

# The Debian 12 packages, named explicitly on the apt-get command lines below (also those the
# build reaches through another package's dependencies), in groups:
#   the build: build-essential cmake ninja-build pkg-config git ca-certificates and the C/C++
#     headers and runtimes (libc6-dev linux-libc-dev libgcc-12-dev libstdc++-12-dev);
#   MPI and parallel HDF5: openmpi-bin libopenmpi-dev libhdf5-openmpi-dev hdf5-tools libaec-dev
#     zlib1g-dev libcurl4-openssl-dev;
#   libraries sfbench links or includes: CLI11, toml++, nlohmann-json, valijson, spdlog, fmt,
#     OpenSSL, libjpeg-turbo, libpng;
#   tests and benchmarks: GoogleTest/GoogleMock, Google Benchmark, clang-format 14 (ctest -L lint),
#     chromium (renders `sfbench report` pages in tests/cli/report_test.sh);
#   Python for the project's virtual environment (.venv).
# The Slurm tests alone need slurm-wlm and munge (the private cluster of tests/slurm) and
# shellcheck (lints jobs/slurm): skipped with SFB_WITH_SLURM=0. tests/setup/check_deps.py reads
# the packages through --list-debian, which runs these same functions with apt-get printing its
# arguments instead, and fails when the build or the tests use a package they do not cover.
install_debian_packages() {
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends \
    build-essential cmake ninja-build pkg-config git ca-certificates \
    libc6-dev linux-libc-dev libgcc-12-dev libstdc++-12-dev \
    openmpi-bin libopenmpi-dev libhdf5-openmpi-dev hdf5-tools libaec-dev zlib1g-dev \
    libcurl4-openssl-dev \
    libcli11-dev libtomlplusplus-dev nlohmann-json3-dev libvalijson-dev \
    libspdlog-dev libspdlog1.10 libfmt-dev libfmt9 libssl-dev libjpeg62-turbo-dev libpng-dev \
    libgtest-dev libgmock-dev googletest libbenchmark-dev libbenchmark1debian clang-format \
    chromium \
    python3 python3-venv python3-pip
}
install_debian_slurm_packages() {
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends \
    slurm-wlm munge shellcheck
}
# The packages of those functions: each run with apt-get replaced by a printer of its
# non-option arguments (after `install`).
list_packages() {
  (
    apt-get() { shift; local a; for a in "$@"; do [[ $a == -* ]] || echo "$a"; done; }
    sudo=""
    "$@"
  )
}
if [[ "${1:-}" == --list-debian ]]; then
  list_packages install_debian_packages
  list_packages install_debian_slurm_packages
  exit 0
fi
installs=(install_debian_packages)
[[ "${SFB_WITH_SLURM:-1}" == 0 ]] || installs+=(install_debian_slurm_packages)

if [[ "${SFB_SKIP_APT:-0}" != 1 ]]; then
  sudo=""
  [[ $(id -u) -eq 0 ]] || sudo="sudo"
  for install in "${installs[@]}"; do
    missing=()
    for p in $(list_packages "$install"); do
      dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    # As root, every listed package goes to apt-get on every run, not only the missing ones: for
    # those already there it is a no-op that records them as installed on purpose (apt-mark
    # manual), so what the build needs is what this script installs on any machine. The package
    # index is refreshed only when that install fails (a fresh machine). Without root, sudo is
    # used only when something is missing.
    ((${#missing[@]})) || [[ $(id -u) -eq 0 ]] || continue
    ((${#missing[@]})) && note "installing Debian packages: ${missing[*]}"
    log=$(mktemp)
    if ! "$install" >"$log" 2>&1; then
      if ! { $sudo apt-get update -q && "$install"; } >>"$log" 2>&1; then
        tail -n 40 "$log" >&2
        die "apt-get failed (full log: $log)"
      fi
    fi
    rm -f "$log"
  done
fi

# Python: the interpreter on PATH makes the venv; the venv holds torch (its LibTorch is what we link).
python=${SFB_PYTHON:-python3}
command -v "$python" >/dev/null || die "no python3 on PATH"
if [[ ! -x "$venv/bin/python" ]]; then
  note "creating virtual environment $venv"
  "$python" -m venv "$venv" || die "python3 -m venv failed (is python3-venv installed?)"
fi
vpy="$venv/bin/python"
requirements=$(entries "$deps/python.txt")
if [[ -n "${SFB_TORCH_VERSION:-}" ]]; then
  requirements=$(sed "s/^torch==.*/torch==$SFB_TORCH_VERSION/" <<<"$requirements")
fi
# A stamp of the requirements installed last: pip runs again only when the list changed.
stamp="$venv/.sfb-requirements"
if [[ ! -f "$stamp" || "$(cat "$stamp")" != "$requirements" ]]; then
  note "installing Python packages into $venv: $(tr '\n' ' ' <<<"$requirements")(large download once)"
  log=$(mktemp)
  req=$(mktemp)
  # A line ending in --no-deps is installed without its dependencies, after the others.
  grep -v -- '--no-deps$' <<<"$requirements" >"$req" || true
  mapfile -t nodeps < <(grep -- '--no-deps$' <<<"$requirements" | sed 's/[[:space:]]*--no-deps$//')
  if ! { "$vpy" -m pip install -q --upgrade pip && "$vpy" -m pip install -q -r "$req" &&
         { [[ ${#nodeps[@]} -eq 0 ]] || "$vpy" -m pip install -q --no-deps "${nodeps[@]}"; }; } >"$log" 2>&1
  then
    tail -n 40 "$log" >&2
    die "pip install failed (full log: $log)"
  fi
  rm -f "$log" "$req"
  printf '%s\n' "$requirements" >"$stamp"
fi
"$vpy" - <<'PY' || die "the Python packages in $venv do not import (remove $venv and rerun)"
import importlib.util
import torch, numpy, h5py, jsonschema, pyautoattack, torchvision, captum  # noqa: F401
assert importlib.util.find_spec("robustbench") is not None, "robustbench is not installed"
PY
note "ok: torch $("$vpy" -c 'import torch; print(torch.__version__, "cuda", torch.version.cuda)')"
