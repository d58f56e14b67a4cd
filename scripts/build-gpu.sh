#!/usr/bin/env bash
# Builds sfbench on a GPU node against that node's PyTorch (LibTorch with CUDA) and CUDA toolkit.
#
#   scripts/build-gpu.sh                        # MPI, HDF5 and libraries from the system
#   scripts/build-gpu.sh --deps .gpu-deps       # ... from a folder of Debian packages (see below)
#   SFB_DEPS_DIR=.gpu-deps scripts/build-gpu.sh # the same
#
# LibTorch: $Torch_DIR when set, else the CMake prefix of the PyTorch that `python3` (or
# $SFB_PYTHON) imports (`torch.utils.cmake_prefix_path`). CUDA and NCCL are required
# (SFB_WITH_CUDA=ON, SFB_WITH_NCCL=ON); the CUDA runtime and NCCL linked are those the torch install
# loads. At the end the script prints what the build used, read from the CMake cache and the
# configure log: torch, nvcc, cudart, NCCL, MPI, HDF5 and every other library's path.
#
# Nodes without MPI, HDF5, the header libraries or a network (step by step):
#   1. On a networked Debian 12 amd64 machine, in the source tree:
#        scripts/fetch-gpu-deps.sh             # -> .gpu-deps/: 77 .debs, ~26 MiB, manifest.tsv
#      It fetches Open MPI 4.1, parallel HDF5 1.10 and every library the build links, with the
#      closure of their runtime libraries, leaving out the C library, the compiler runtime and
#      Essential packages (the rule is in that script's header and in .gpu-deps/excluded.txt).
#   2. Carry the tree with .gpu-deps/ to the GPU node (it is git-ignored: copy it explicitly).
#   3. On the node: SFB_DEPS_DIR=.gpu-deps scripts/build-gpu.sh
#      The script checks SHA256SUMS, unpacks every .deb with `dpkg-deb -x` (Python's tarfile where
#      dpkg-deb is missing) into a private prefix, <build>/deps-prefix (SFB_DEPS_PREFIX to choose;
#      nothing is installed system-wide), and repairs what a relocated Debian install lacks: the
#      update-alternatives links the packages' postinst scripts would create (mpicc, mpirun,
#      h5pcc, libmpi.so, hdf5.pc, ...), absolute symlinks, /lib merged into /usr/lib, the prefix in
#      h5pcc and the pkg-config files. Open MPI finds itself through OPAL_PREFIX, OPAL_SYSCONFDIR
#      and PMIX_PKGLIBDIR. CMake is pointed at the prefix first (CMAKE_PREFIX_PATH, MPI_C_COMPILER,
#      HDF5_C_COMPILER_EXECUTABLE, OPENSSL_ROOT_DIR, pkgconf with PKG_CONFIG_LIBDIR limited to the
#      prefix), so a node that has some of the libraries still builds against the prefix's copies.
#   4. Before running anything built this way: source <build>/sfb-env.sh (PATH, LD_LIBRARY_PATH,
#      OPAL_PREFIX, OPAL_SYSCONFDIR, PMIX_PKGLIBDIR, ...), then
#        mpirun -np <GPUs> <build>/sfbench commbench --device cuda
#      <build>/sfb-env.sh is written by every run; without a deps folder it sets nothing.
#
# An already unpacked prefix (`dpkg-deb -x pkg.deb DIR` for each package) works too:
# SFB_DEPS_PREFIX=DIR without SFB_DEPS_DIR repairs and uses it as it is.
#
# Environment: SFB_BUILD_DIR (default build-gpu), SFB_DEPS_DIR, SFB_DEPS_PREFIX,
#   TORCH_CUDA_ARCH_LIST (default "9.0" = Hopper), SFB_CMAKE_ARGS (extra CMake arguments),
#   SFB_TARGETS (targets to build; default all), SFB_JOBS (default: cores).
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
deps_dir=${SFB_DEPS_DIR:-}
while (($#)); do
  case "$1" in
    --deps) deps_dir=${2:?--deps needs a folder}; shift 2 ;;
    --deps=*) deps_dir=${1#--deps=}; shift ;;
    -h|--help) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "build-gpu: unknown argument $1 (try --help)" >&2; exit 2 ;;
  esac
done
build=${SFB_BUILD_DIR:-$repo/build-gpu}
jobs=${SFB_JOBS:-$(nproc)}
python=${SFB_PYTHON:-python3}
multiarch=x86_64-linux-gnu   # the Debian packages' library folder

die() { echo "build-gpu: error: $*" >&2; exit 1; }
note() { echo "build-gpu: $*"; }
mkdir -p "$build"
build=$(cd "$build" && pwd)

# ---- LibTorch --------------------------------------------------------------------------------------
if [[ -n "${Torch_DIR:-}" ]]; then
  torch_prefix=""
  torch_args=(-DTorch_DIR="$Torch_DIR")
else
  torch_prefix=$("$python" -c 'import torch, torch.utils; assert torch.version.cuda, "torch has no CUDA"; print(torch.utils.cmake_prefix_path)') \
    || die "$python cannot import a CUDA-enabled torch; set Torch_DIR or SFB_PYTHON"
  torch_args=()
fi

# ---- Private prefix from Debian packages ----------------------------------------------------------
# Without dpkg-deb (nodes that are not Debian/Ubuntu), a few lines of Python: a .deb is an `ar`
# archive holding control.tar.* and data.tar.*; tarfile reads xz, gzip and bzip2.
deb_py() {  # deb_py FILE DEST data|postinst
  "$python" - "$@" <<'PY'
import io, sys, tarfile
deb, dest, what = sys.argv[1:4]
with open(deb, "rb") as f:
    if f.read(8) != b"!<arch>\n":
        sys.exit(f"{deb}: not a Debian package")
    while True:
        header = f.read(60)
        if len(header) < 60:
            break
        name, size = header[:16].decode().strip().rstrip("/"), int(header[48:58])
        body = f.read(size)
        f.read(size % 2)
        member = "data.tar" if what == "data" else "control.tar"
        if not name.startswith(member):
            continue
        with tarfile.open(fileobj=io.BytesIO(body)) as t:
            if what == "data":
                trusted = {"filter": "fully_trusted"} if hasattr(tarfile, "fully_trusted_filter") else {}
                t.extractall(dest, **trusted)
            elif "./postinst" in t.getnames():
                sys.stdout.write(t.extractfile("./postinst").read().decode())
PY
}
unpack_deb() {  # unpack_deb FILE DEST: the data part of a .deb
  if command -v dpkg-deb >/dev/null; then
    dpkg-deb -x "$1" "$2"
  else
    deb_py "$1" "$2" data || die "cannot unpack $1"
  fi
}
postinst_of() {  # postinst_of FILE: the package's postinst script, or nothing
  if command -v dpkg-deb >/dev/null; then
    dpkg-deb --ctrl-tarfile "$1" | tar -x -O -f - ./postinst 2>/dev/null || true
  else
    deb_py "$1" - postinst || true
  fi
}

# The links `update-alternatives --install LINK NAME PATH` and `--slave LINK NAME PATH` in the
# postinst scripts (literal paths only; the first package to claim a link wins, as with priorities
# among one MPI flavour). dpkg-deb -x does not create them.
make_alternatives() {  # make_alternatives PREFIX DEB...
  local pfx=$1; shift
  local deb link target
  for deb in "$@"; do
    postinst_of "$deb" | sed -e ':a' -e '/\\$/N; s/\\\n/ /; ta' | tr -d '"'"'" | awk '
      { for (i = 1; i <= NF; i++)
          if (($i == "--install" || $i == "--slave") && i + 3 <= NF + 0)
            print $(i + 1), $(i + 3) }' |
    while read -r link target; do
      [[ "$link" == /* && "$target" == /* && "$link$target" != *'$'* ]] || continue
      [[ -e "$pfx$target" || -L "$pfx$target" ]] || continue
      [[ -e "$pfx$link" || -L "$pfx$link" ]] && continue
      mkdir -p "$(dirname "$pfx$link")"
      ln -s "$(realpath -m --relative-to="$(dirname "$pfx$link")" "$pfx$target")" "$pfx$link"
    done
  done
}

repair_prefix() {  # repair_prefix PREFIX: make an unpacked Debian tree usable where it lies
  local pfx=$1 d l t
  # Merged /usr: one library and one program folder (bookworm still ships some files in /lib).
  for d in lib lib64 bin sbin; do
    if [[ -d "$pfx/$d" && ! -L "$pfx/$d" ]]; then
      mkdir -p "$pfx/usr/$d"
      cp -a "$pfx/$d/." "$pfx/usr/$d/"
      rm -rf "${pfx:?}/$d"
      ln -s "usr/$d" "$pfx/$d"
    fi
  done
  # Absolute symlinks point into the prefix instead of the host.
  while IFS= read -r -d '' l; do
    t=$(readlink "$l")
    [[ "$t" == /* && "$t" != "$pfx"/* ]] || continue
    if [[ -e "$pfx$t" || -L "$pfx$t" ]]; then
      ln -sfn "$(realpath -m --relative-to="$(dirname "$l")" "$pfx$t")" "$l"
    fi
  done < <(find "$pfx" -type l -print0)
  # Scripts and pkg-config files that name the install prefix /usr.
  local u=$pfx/usr
  for f in "$u"/bin/h5pcc.* "$u"/bin/h5cc.*; do
    # h5pcc links the static libhdf5 with -lcrypto -lcurl -lsz -lz: find those in the prefix too.
    [[ -f "$f" && ! -L "$f" ]] && sed -i -e "s|^prefix=\"/usr\"|prefix=\"$u\"|" \
      -e "\\#^H5BLD_LDFLAGS=.*-L$u/#!s|^H5BLD_LDFLAGS=\" |H5BLD_LDFLAGS=\" -L$u/lib/$multiarch |" "$f"
  done
  for f in "$u"/lib/"$multiarch"/pkgconfig/*.pc "$u"/share/pkgconfig/*.pc; do
    [[ -f "$f" && ! -L "$f" ]] && sed -i -e "s|^prefix=/usr\$|prefix=$u|" \
      -e "s|^\(libdir\|includedir\|exec_prefix\)=/usr/|\1=$u/|" "$f"
  done
  # PMIx's own configuration names its plugin folder.
  f=$u/lib/$multiarch/pmix2/share/pmix-mca-params.conf
  [[ -f "$f" ]] && sed -i -e "s|= /usr/|= $u/|" "$f"
  return 0
}

deps_prefix=${SFB_DEPS_PREFIX:-}
if [[ -n "$deps_dir" ]]; then
  deps_dir=$(cd "$deps_dir" 2>/dev/null && pwd) || die "no deps folder $deps_dir"
  debs=("$deps_dir"/*.deb)
  [[ -e "${debs[0]}" ]] || die "no .deb files in $deps_dir (run scripts/fetch-gpu-deps.sh first)"
  deps_prefix=${deps_prefix:-$build/deps-prefix}
  if [[ -f "$deps_dir/SHA256SUMS" ]]; then
    (cd "$deps_dir" && sha256sum --quiet -c SHA256SUMS) || die "checksums in $deps_dir/SHA256SUMS do not match"
  fi
  stamp=$( (cd "$deps_dir" && sha256sum ./*.deb) | sha256sum | cut -d' ' -f1)
  if [[ "$(cat "$deps_prefix/.sfb-stamp" 2>/dev/null)" != "$stamp" ]]; then
    note "unpacking ${#debs[@]} packages from $deps_dir into $deps_prefix"
    rm -rf "${deps_prefix:?}" && mkdir -p "$deps_prefix"
    for f in "${debs[@]}"; do unpack_deb "$f" "$deps_prefix"; done
    make_alternatives "$deps_prefix" "${debs[@]}"
    repair_prefix "$deps_prefix"
    echo "$stamp" >"$deps_prefix/.sfb-stamp"
  fi
elif [[ -n "$deps_prefix" ]]; then
  [[ -d "$deps_prefix/usr" ]] || die "SFB_DEPS_PREFIX=$deps_prefix has no usr/ folder"
  deps_prefix=$(cd "$deps_prefix" && pwd)
  repair_prefix "$deps_prefix"
fi

env_file=$build/sfb-env.sh
deps_args=()
if [[ -n "$deps_prefix" ]]; then
  u=$deps_prefix/usr
  lib=$u/lib/$multiarch
  for f in "$u/bin/mpicc" "$u/bin/mpiexec" "$u/bin/h5pcc"; do
    [[ -x "$f" ]] || die "$f is missing from the prefix (are openmpi-bin and libhdf5-openmpi-dev there?)"
  done
  cat >"$env_file" <<EOF
# Written by scripts/build-gpu.sh: Open MPI, HDF5 and libraries from the private prefix
# $deps_prefix. Source this before running mpirun, the tests or the binaries of $build.
export OPAL_PREFIX='$u'
export OPAL_SYSCONFDIR='$deps_prefix/etc/openmpi'
# PMIx (Open MPI's launcher interface) and hwloc look for plugins in compiled-in folders; point
# them into the prefix (hwloc's optional X11/OpenCL/PCI plugins are not fetched).
export PMIX_PKGLIBDIR='$lib/pmix2/lib/pmix'
export PMIX_PKGDATADIR='$lib/pmix2/share/pmix'
export HWLOC_PLUGINS_PATH='$lib/hwloc'
export PATH='$u/bin':\${PATH:-/usr/bin:/bin}
export LD_LIBRARY_PATH='$lib'\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}
EOF
  # shellcheck source=/dev/null
  source "$env_file"
  # pkg-config sees the prefix only; CMake searches the prefix before the system folders.
  export PKG_CONFIG_LIBDIR=$lib/pkgconfig:$u/share/pkgconfig
  unset PKG_CONFIG_PATH
  [[ -n "$torch_prefix" ]] && torch_args=(-DCMAKE_PREFIX_PATH="$torch_prefix;$u")
  [[ -z "$torch_prefix" ]] && torch_args+=(-DCMAKE_PREFIX_PATH="$u")
  deps_args=(
    -DCMAKE_LIBRARY_ARCHITECTURE="$multiarch"
    -DMPI_C_COMPILER="$u/bin/mpicc" -DMPIEXEC_EXECUTABLE="$u/bin/mpiexec"
    -DHDF5_C_COMPILER_EXECUTABLE="$u/bin/h5pcc" -DHDF5_ROOT="$lib/hdf5/openmpi"
    -DOPENSSL_ROOT_DIR="$u" -DPKG_CONFIG_EXECUTABLE="$u/bin/pkgconf"
    # Multiarch headers (openssl/configuration.h, jconfig.h) live in include/<triplet>, which only
    # the system compiler's own /usr/include/<triplet> would cover.
    -DCMAKE_C_STANDARD_INCLUDE_DIRECTORIES="$u/include/$multiarch"
    -DCMAKE_CXX_STANDARD_INCLUDE_DIRECTORIES="$u/include/$multiarch"
    # The linker resolves libmpi's and libhdf5's own dependencies in the prefix.
    -DCMAKE_EXE_LINKER_FLAGS="-Wl,-rpath-link,$lib"
    -DCMAKE_SHARED_LINKER_FLAGS="-Wl,-rpath-link,$lib"
  )
else
  [[ -n "$torch_prefix" ]] && torch_args=(-DCMAKE_PREFIX_PATH="$torch_prefix")
  cat >"$env_file" <<EOF
# Written by scripts/build-gpu.sh: MPI, HDF5 and the libraries come from the system; nothing to set.
EOF
fi

# ---- Configure and build --------------------------------------------------------------------------
generator=()
command -v ninja >/dev/null && generator=(-G Ninja)
log=$build/configure.log
note "configuring $build (log: $log)"
# shellcheck disable=SC2086  # SFB_CMAKE_ARGS is a list of words
cmake -S "$repo" -B "$build" "${generator[@]}" -DCMAKE_BUILD_TYPE=Release "${torch_args[@]}" \
  "${deps_args[@]}" -DSFB_WITH_CUDA=ON -DSFB_WITH_NCCL=ON -DSFB_PYTHON="$(command -v "$python")" \
  -DTORCH_CUDA_ARCH_LIST="${TORCH_CUDA_ARCH_LIST:-9.0}" ${SFB_CMAKE_ARGS:-} >"$log" 2>&1 || {
  tail -n 40 "$log" >&2; die "cmake configure failed (log: $log)"; }

# ---- What the build uses: the CMake cache and configure log, not guesses -------------------------
cache() { sed -n "s|^$1:[A-Z]*=||p" "$build/CMakeCache.txt" | head -n 1; }
logline() { grep -m1 -E "$1" "$log" | sed 's/^-- //' || true; }
{
  echo "== sfbench GPU build: what was used ($(date -u +%FT%TZ))"
  echo "torch:        $(dirname "$(cache TORCH_LIBRARY)")  ($("$python" -c 'import torch; print(torch.__version__, "CUDA", torch.version.cuda)' 2>/dev/null || echo "version: python cannot import it"))"
  echo "Torch_DIR:    $(cache Torch_DIR)"
  nvcc=$(cache CMAKE_CUDA_COMPILER); [[ -n "$nvcc" ]] || nvcc=$(cache CUDA_NVCC_EXECUTABLE)
  echo "nvcc:         $nvcc  ($("$nvcc" --version 2>/dev/null | grep -o 'release [0-9.]*' || echo '?'))"
  echo "cudart:       $(logline '^-- CUDA runtime: ' | sed 's/^CUDA runtime: //')"
  # Versions: CMake prints "Found X" only when a result changes, so read the headers it found.
  nccl_inc=$(cache NCCL_INCLUDE_DIR)
  nccl_v=$(sed -n 's/^#define NCCL_\(MAJOR\|MINOR\|PATCH\) \([0-9]*\).*/\2/p' "$nccl_inc/nccl.h" 2>/dev/null | paste -sd. || true)
  echo "NCCL:         $(cache NCCL_LIBRARY)  (version ${nccl_v:-?}, headers $nccl_inc)"
  mpiexec=$(cache MPIEXEC_EXECUTABLE)
  echo "MPI:          mpicc $(cache MPI_C_COMPILER), mpiexec $mpiexec  ($("$mpiexec" --version 2>/dev/null | head -n 1 || echo '?'))"
  echo "MPI headers:  $(cache MPI_C_HEADER_DIR)  (library $(cache MPI_mpi_LIBRARY))"
  h5cc=$(cache HDF5_C_COMPILER_EXECUTABLE)
  h5cfg=$("$h5cc" -showconfig 2>/dev/null || true)   # the installed libhdf5.settings
  h5_v=$(sed -n 's/^ *HDF5 Version: *//p' <<<"$h5cfg")
  h5_par=$(sed -n 's/^ *Parallel HDF5: *//p' <<<"$h5cfg")
  echo "HDF5:         $(cache HDF5_C_LIBRARY_hdf5)  (version ${h5_v:-?}, parallel: ${h5_par:-?}, h5pcc $h5cc)"
  echo "HDF5 extras:  $(for v in crypto curl sz z; do printf '%s ' "$(cache "HDF5_C_LIBRARY_$v")"; done)"
  echo "OpenSSL:      $(cache OPENSSL_CRYPTO_LIBRARY)  (headers $(cache OPENSSL_INCLUDE_DIR))"
  echo "CLI11:        $(cache CLI11_DIR)"
  echo "nlohmann:     $(cache nlohmann_json_DIR)"
  echo "spdlog/fmt:   $(cache spdlog_DIR)  $(cache fmt_DIR)"
  echo "toml++:       $(cache pkgcfg_lib_TOMLPP_tomlplusplus)  (pkg-config $(cache PKG_CONFIG_EXECUTABLE))"
  echo "valijson:     $(cache SFB_VALIJSON_INCLUDE)"
  echo "libpng:       $(cache PNG_LIBRARY_RELEASE)"
  echo "libjpeg:      $(cache JPEG_LIBRARY_RELEASE)"
  echo "zlib:         $(cache ZLIB_LIBRARY_RELEASE)"
  echo "GoogleTest:   $(cache GTest_DIR)"
  echo "benchmark:    $(cache benchmark_DIR)"
  echo "summary:      $(logline '^-- sfbench ')"
  if [[ -n "$deps_prefix" ]]; then
    echo "deps prefix:  $deps_prefix${deps_dir:+ (from $deps_dir, ${#debs[@]} packages; manifest $deps_dir/manifest.tsv)}"
  fi
} | tee "$build/sfb-used.txt"

# shellcheck disable=SC2086  # SFB_TARGETS is a list of words
cmake --build "$build" -j "$jobs" ${SFB_TARGETS:+--target $SFB_TARGETS}

# The libraries the built executable really loads.
if [[ -x "$build/sfbench" ]]; then
  echo "== $build/sfbench loads:" | tee -a "$build/sfb-used.txt"
  ldd "$build/sfbench" | grep -E 'libcudart|libnccl|libmpi\.|libhdf5|libtorch_cuda|libc10_cuda' \
    | sed 's/^[[:space:]]*/  /; s/ (0x[0-9a-f]*)//' | tee -a "$build/sfb-used.txt"
fi
note "done; what was used: $build/sfb-used.txt"
note "to run: source $env_file && mpirun -np <GPUs> $build/sfbench commbench --device cuda"
