#!/usr/bin/env bash
# Mutation checks of the lints (ctest label `lint`): in a copy of the sources, a layering violation,
# HDF5 and MPI calls outside their modules and a misformatted file must each make the lint fail
# naming the file. usage: lint_mutation_test.sh ROOT PYTHON
set -uo pipefail
root=$1
python=$2
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
cp -r "$root/src" "$root/apps" "$root/bench" "$root/.clang-format" "$tmp/"

"$python" "$here/check_layering.py" --root "$tmp" >"$tmp/clean.out" || fail "the unmodified copy does not pass: $(cat "$tmp/clean.out")"

echo '#include "train/trainer.hpp"' >>"$tmp/src/sfb/core/rng.cpp"
printf 'static hid_t leaked = 0;\n' >>"$tmp/apps/cmd_sf.cpp"
printf '#include "io/hdf5/objects.hpp"\n' >>"$tmp/src/sfb/models/zoo.cpp"
printf 'void f() { MPI_Barrier(MPI_COMM_WORLD); }\n' >>"$tmp/src/sfb/shapley/sf_stage.cpp"
printf '// hid_t and MPI_Barrier(x) in a comment are fine\n' >>"$tmp/src/sfb/data/factory.cpp"
"$python" "$here/check_layering.py" --root "$tmp" >"$tmp/out"
rc=$?
cat "$tmp/out"
[[ $rc -eq 1 ]] || fail "layering lint exit $rc, expected 1"
grep -q "src/sfb/core/rng.cpp:.*module 'core' includes \"train/trainer.hpp\"" "$tmp/out" || fail "upward include not named"
grep -q "apps/cmd_sf.cpp:.*uses HDF5's C API (hid_t)" "$tmp/out" || fail "hid_t in apps not named"
grep -q "src/sfb/models/zoo.cpp:.*internal header of 'io'" "$tmp/out" || fail "io internals not named"
grep -q "src/sfb/shapley/sf_stage.cpp:.*calls MPI_Barrier(" "$tmp/out" || fail "MPI call not named"
grep -q "src/sfb/data/factory.cpp" "$tmp/out" && fail "a comment counted as code"
[[ $(grep -c "^src\|^apps" "$tmp/out") -eq 4 ]] || fail "expected exactly 4 violations"

printf 'int   badly_formatted (int x){return x;}\n' >"$tmp/src/sfb/core/unformatted.cpp"
bash "$here/check_format.sh" "$tmp" src/sfb/core/unformatted.cpp >"$tmp/fmt.out"
rc=$?
cat "$tmp/fmt.out"
[[ $rc -eq 1 ]] || fail "format check exit $rc, expected 1"
grep -q "src/sfb/core/unformatted.cpp is not clang-format clean" "$tmp/fmt.out" || fail "misformatted file not named"
echo "lint_mutation_test: every injected violation was named"
