#!/usr/bin/env bash
# A run killed before finish() leaves no complete-looking file and keeps an older complete result.
# usage: crash_test.sh MPIEXEC WRITER SFBENCH
set -u
mpiexec=$1 writer=$2 sfbench=$3
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
out=$dir/run.h5
# The temporary files of run.h5: run.h5.<12 hex digits>.partial, one per run.
partials() { find "$dir" -maxdepth 1 -name 'run.h5.*.partial' | sort; }

"$mpiexec" --oversubscribe -np 2 "$writer" "$out" 111 complete || fail "complete run failed"
"$sfbench" validate "$out" >/dev/null || fail "first result does not validate"
before=$(sha256sum "$out" | cut -d' ' -f1)

"$mpiexec" --oversubscribe -np 2 "$writer" "$out" 222 crash >"$dir/log" 2>&1
rc=$?
[ $rc -ne 0 ] || fail "the killed run exited 0"
[ "$(partials | wc -l)" -eq 1 ] || fail "the killed run left not one .partial file: $(partials)"
partial=$(partials)
after=$(sha256sum "$out" | cut -d' ' -f1)
[ "$before" = "$after" ] || fail "the earlier complete result was modified"
"$sfbench" validate "$out" >/dev/null || fail "the earlier result no longer validates"
h5dump -d /marker "$out" | grep -q "111" || fail "the earlier result lost its marker"
if "$sfbench" validate "$partial" >"$dir/v" 2>&1; then fail "validate accepted the partial file"; fi
grep -q "did not finish\|not a readable HDF5 file" "$dir/v" || { cat "$dir/v"; fail "unclear message"; }

# A fresh run after the crash replaces the result, and the dead run's temporary file goes (the
# rerun holds the output's lock, so nothing else can be writing it).
"$mpiexec" --oversubscribe -np 2 "$writer" "$out" 333 complete || fail "rerun failed"
[ -z "$(partials)" ] || fail "a .partial file is left after the rerun: $(partials)"
h5dump -d /marker "$out" | grep -q "333" || fail "the rerun did not replace the result"
echo "crash test: 3 passed, 0 failed"
