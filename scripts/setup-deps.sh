#!/usr/bin/env bash
# Installs everything sfbench needs on Debian 12: Debian packages through apt-get, and LibTorch from the
# pip `torch` wheel in a project virtual environment (.venv). Idempotent and quiet; loud on failure.
#
# Environment:
#   SFB_VENV           virtual environment path (default: <repo>/.venv)
#   SFB_TORCH_VERSION  torch wheel to pin (default 2.11.0, the version on the GPU nodes)
#   SFB_SKIP_APT=1     skip apt-get (e.g. on a cluster where modules provide MPI/HDF5)
#   SFB_WITH_SLURM=0   do not install slurm-wlm/munge/shellcheck (only the Slurm tests need them)
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
venv=${SFB_VENV:-$repo/.venv}
torch_version=${SFB_TORCH_VERSION:-2.11.0}

die() { echo "setup-deps: error: $*" >&2; exit 1; }
note() { echo "setup-deps: $*"; }

apt_packages=(
  build-essential cmake ninja-build pkg-config git ca-certificates
  openmpi-bin libopenmpi-dev
  libhdf5-openmpi-dev hdf5-tools
  libcli11-dev libtomlplusplus-dev nlohmann-json3-dev libspdlog-dev libfmt-dev
  libssl-dev libjpeg62-turbo-dev libpng-dev
  libgtest-dev libgmock-dev googletest libbenchmark-dev
  python3 python3-venv python3-pip
)
if [[ "${SFB_WITH_SLURM:-1}" != 0 ]]; then
  # slurm-wlm and munge: the private cluster of tests/slurm; shellcheck: the lint of jobs/slurm.
  apt_packages+=(slurm-wlm munge shellcheck)
fi

if [[ "${SFB_SKIP_APT:-0}" != 1 ]]; then
  missing=()
  for p in "${apt_packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if ((${#missing[@]})); then
    sudo=""
    [[ $(id -u) -eq 0 ]] || sudo="sudo"
    note "installing Debian packages: ${missing[*]}"
    log=$(mktemp)
    if ! { $sudo apt-get update -q && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q \
        --no-install-recommends "${missing[@]}"; } >"$log" 2>&1; then
      tail -n 40 "$log" >&2
      die "apt-get failed (full log: $log)"
    fi
    rm -f "$log"
  fi
fi

# Python: prefer the interpreter on PATH; the venv holds torch (its LibTorch is what we link).
python=${SFB_PYTHON:-python3}
command -v "$python" >/dev/null || die "no python3 on PATH"
if [[ ! -x "$venv/bin/python" ]]; then
  note "creating virtual environment $venv"
  "$python" -m venv "$venv" || die "python3 -m venv failed (is python3-venv installed?)"
fi
vpy="$venv/bin/python"
have=$("$vpy" -c 'import torch; print(torch.__version__.split("+")[0])' 2>/dev/null || true)
if [[ "$have" != "$torch_version" ]]; then
  note "installing torch==$torch_version into $venv (large download, once)"
  log=$(mktemp)
  if ! { "$vpy" -m pip install -q --upgrade pip &&
         "$vpy" -m pip install -q "torch==$torch_version" numpy h5py jsonschema; } >"$log" 2>&1; then
    tail -n 40 "$log" >&2
    die "pip install torch==$torch_version failed (full log: $log)"
  fi
  rm -f "$log"
fi
"$vpy" - <<'PY' || die "the torch install in $venv does not import"
import torch, numpy, h5py, jsonschema  # noqa: F401
PY
note "ok: torch $("$vpy" -c 'import torch; print(torch.__version__, "cuda", torch.version.cuda)')"
