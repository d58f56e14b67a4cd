#!/usr/bin/env bash
# Downloads, on a networked Debian 12 (bookworm, amd64) machine, the Debian packages that
# scripts/build-gpu.sh needs on a GPU node that has PyTorch, CUDA, CMake and a C/C++ compiler but no
# MPI, no HDF5, no header libraries and no network. Nothing is installed; the packages land in one
# folder that travels with the source tree to the node:
#
#   scripts/fetch-gpu-deps.sh [DIR]        # default DIR: <repo>/.gpu-deps (git-ignored)
#   SFB_DEPS_DIR=DIR scripts/build-gpu.sh  # on the GPU node
#
# What is fetched:
#   * the packages the build uses directly ("roots" below): Open MPI (wrappers, mpirun, headers),
#     parallel HDF5 (h5pcc, headers, libhdf5_openmpi) and the libraries its h5pcc links (libcurl,
#     libcrypto, libsz, libz), CLI11, toml++, nlohmann-json, spdlog + fmt, valijson, OpenSSL, libpng,
#     libjpeg, GoogleTest/GoogleMock, Google Benchmark, and pkgconf (CMake's pkg_check_modules);
#   * the Depends closure of every runtime (non -dev) package among them: the shared libraries they
#     load, and what those load in turn.
# A -dev package's Depends on other -dev packages are not followed (they name static-link
# dependencies, Fortran compilers and other bindings this build does not use); the -dev packages it
# needs are roots. Its Depends on runtime packages are followed, less the exclusions below.
#
# Exclusion rule (never fetched, never followed):
#   1. the C library and the compiler's runtime: they must be the node's own, matching its compiler
#      and kernel interface (libc6, libc6-dev, libc-dev-bin, linux-libc-dev, libcrypt1, libcrypt-dev,
#      libnsl*, libtirpc*, gcc-*-base, libgcc-s1, libstdc++6, libatomic1, libgomp1, libquadmath0,
#      libgfortran5);
#   2. packages Debian marks Essential: yes, and package-management programs (dpkg, debconf,
#      adduser, passwd, install-info, ...): only maintainer scripts run them, and we run none;
#   3. optional extras that a single-node run never loads: openssh-client (multi-node launcher),
#      libhwloc-plugins (X11/OpenCL/CUDA probes; drags in libX11), ocl-icd-libopencl1, and the HDF5
#      C++/Fortran/high-level libraries (sfbench uses the C library only).
# Every other shared library is fetched, including ones most systems already have (zlib, zstd, ...):
# a relocated prefix must not depend on what the node happens to carry.
#
# Output in DIR: the .deb files, manifest.tsv (package, version, architecture, file, bytes, sha256),
# excluded.txt (packages met in the closure and left out, with the rule that excluded them) and
# SHA256SUMS (verified by build-gpu.sh before unpacking).
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
out=${1:-${SFB_DEPS_DIR:-$repo/.gpu-deps}}

die() { echo "fetch-gpu-deps: error: $*" >&2; exit 1; }
note() { echo "fetch-gpu-deps: $*"; }

if ! command -v apt-get >/dev/null || ! command -v apt-cache >/dev/null; then
  die "needs apt-get and apt-cache (Debian 12)"
fi
arch=$(dpkg --print-architecture)
[[ "$arch" == amd64 ]] || die "the GPU nodes are x86-64; this machine is $arch"
codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
[[ "$codename" == bookworm ]] || note "warning: this is '$codename', not Debian 12 (bookworm)"

roots=(
  # Open MPI: libraries, wrappers (mpicc), mpirun, headers, help and wrapper data files
  libopenmpi3 libopenmpi-dev openmpi-bin openmpi-common
  # parallel HDF5 and what its h5pcc puts on the link line (-lcrypto -lcurl -lsz -lz)
  libhdf5-openmpi-103-1 libhdf5-openmpi-dev libcurl4-openssl-dev libaec-dev zlib1g-dev libssl-dev
  # libraries of sfbench itself
  libcli11-dev libtomlplusplus-dev nlohmann-json3-dev libspdlog-dev libfmt-dev libvalijson-dev
  libpng-dev libjpeg62-turbo-dev
  # tests and micro-benchmarks
  libgtest-dev libgmock-dev libbenchmark-dev
  # pkg-config for CMake's pkg_check_modules (toml++)
  pkgconf pkgconf-bin
)
# Rule 1: the C library and the compiler runtime.
exclude_re='^(libc6|libc6-dev|libc-dev-bin|linux-libc-dev|libcrypt1|libcrypt-dev|libnsl[0-9]*|libnsl-dev'
exclude_re+='|libtirpc[0-9]*|libtirpc-dev|libtirpc-common|gcc-[0-9]+-base|libgcc-s1|libstdc\+\+6'
exclude_re+='|libatomic1|libgomp1|libquadmath0|libgfortran5'
# Rule 2: package management (Essential: yes packages are added at run time below).
exclude_re+='|dpkg|debconf|cdebconf|adduser|passwd|install-info|debianutils|lsb-base|sysvinit-utils'
# Rule 3: optional extras, and the -dev Depends that are not libraries this build links.
exclude_re+='|openssh-client|libhwloc-plugins|ocl-icd-libopencl1|libhdf5-openmpi-(cpp|fortran|hl|hl-cpp|hl-fortran)-[0-9-]+'
exclude_re+='|catch2|googletest|gfortran.*|libjs-.*)$'

excluded_by() {  # prints the rule that excludes package $1, or nothing
  local p=$1
  if [[ " $essential " == *" $p "* ]]; then echo "Essential: yes"; return; fi
  [[ "$p" =~ $exclude_re ]] || return 0
  case "$p" in
    libc6*|libc-dev-bin|linux-libc-dev|libcrypt*|libnsl*|libtirpc*|gcc-*-base|libgcc-s1|libstdc++6|\
    libatomic1|libgomp1|libquadmath0|libgfortran5) echo "C library / compiler runtime" ;;
    openssh-client|libhwloc-plugins|ocl-icd-libopencl1|libhdf5-openmpi-*) echo "optional, never loaded" ;;
    catch2|googletest|gfortran*|libjs-*) echo "-dev dependency this build does not use" ;;
    *) echo "package management" ;;
  esac
}

# Depends and Pre-Depends of one package, one name per line: the first choice of each
# alternative group, and the first provider of a virtual package.
depends_of() {
  apt-cache depends --no-recommends --no-suggests --no-conflicts --no-breaks --no-replaces \
    --no-enhances "$1" | awk '
      /^ [ |](Pre)?Depends: / {
        alt = (substr($0, 2, 1) == "|"); name = $2
        if (in_group) { if (!alt) in_group = 0; want_provider = 0; next }
        if (alt) in_group = 1
        if (name ~ /^</) { want_provider = 1; next }
        print name; want_provider = 0; next
      }
      /^    [^ ]/ { if (want_provider) { print $1; want_provider = 0 } }'
}

note "reading the package lists (apt-cache)"
essential=$(apt-cache dumpavail 2>/dev/null | awk '/^Package: /{p=$2} /^Essential: yes/{print p}' | sort -u | tr '\n' ' ')

declare -A seen=() why_excluded=()
queue=()
for r in "${roots[@]}"; do
  apt-cache show "$r" >/dev/null 2>&1 || die "package $r is not in the apt lists (apt-get update?)"
  seen[$r]=1; queue+=("$r")
done
i=0
while ((i < ${#queue[@]})); do
  p=${queue[$i]}; i=$((i + 1))
  while read -r d; do
    [[ -n "$d" && -z "${seen[$d]:-}" && -z "${why_excluded[$d]:-}" ]] || continue
    [[ "$p" == *-dev && "$d" == *-dev ]] && continue   # -dev -> -dev: roots only (see the header)
    rule=$(excluded_by "$d")
    if [[ -n "$rule" ]]; then why_excluded[$d]=$rule; continue; fi
    seen[$d]=1; queue+=("$d")
  done < <(depends_of "$p")
done
mapfile -t pkgs < <(printf '%s\n' "${queue[@]}" | sort -u)
mkdir -p "$out"
note "downloading ${#pkgs[@]} packages into $out"
log=$(mktemp)
(cd "$out" && rm -f ./*.deb && apt-get download "${pkgs[@]}") >"$log" 2>&1 || {
  tail -n 30 "$log" >&2; die "apt-get download failed (log: $log)"; }
rm -f "$log"

{
  printf '# sfbench GPU-node dependencies, fetched %s on %s (%s)\n' "$(date -u +%FT%TZ)" \
    "$(hostname)" "$(. /etc/os-release && echo "$PRETTY_NAME")"
  printf 'package\tversion\tarchitecture\tfile\tbytes\tsha256\n'
  for f in "$out"/*.deb; do
    printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$(dpkg-deb -f "$f" Package)" "$(dpkg-deb -f "$f" Version)" \
      "$(dpkg-deb -f "$f" Architecture)" "$(basename "$f")" "$(stat -c %s "$f")" \
      "$(sha256sum "$f" | cut -d' ' -f1)"
  done
} >"$out/manifest.tsv"
(cd "$out" && sha256sum ./*.deb >SHA256SUMS)
for p in "${!why_excluded[@]}"; do printf '%s\t%s\n' "$p" "${why_excluded[$p]}"; done | sort \
  >"$out/excluded.txt"
debs=("$out"/*.deb)
n=${#debs[@]}
bytes=$(cat "$out"/*.deb | wc -c)
note "ok: $n packages, $((bytes / 1024)) KiB ($(du -sh "$out" | cut -f1) on disk) in $out"
note "manifest: $out/manifest.tsv; left out: $out/excluded.txt"
note "next: copy $out to the GPU node with the source tree, then run SFB_DEPS_DIR=$out scripts/build-gpu.sh"
