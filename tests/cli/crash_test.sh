#!/usr/bin/env bash
# A run killed before finish() leaves no complete-looking file and keeps an older complete result.
# usage: crash_test.sh MPIEXEC WRITER SFBENCH
set -u
mpiexec=$1 writer=$2 sfbench=$3
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
out=$dir/run.h5

"$mpiexec" --oversubscribe -np 2 "$writer" "$out" 111 complete || fail "complete run failed"
"$sfbench" validate "$out" >/dev/null || fail "first result does not validate"
before=$(sha256sum "$out" | cut -d' ' -f1)

"$mpiexec" --oversubscribe -np 2 "$writer" "$out" 222 crash >"$dir/log" 2>&1
rc=$?
[ $rc -ne 0 ] || fail "the killed run exited 0"
[ -f "$out.partial" ] || fail "the killed run left no .partial file (did it write at all?)"
after=$(sha256sum "$out" | cut -d' ' -f1)
[ "$before" = "$after" ] || fail "the earlier complete result was modified"
"$sfbench" validate "$out" >/dev/null || fail "the earlier result no longer validates"
h5dump -d /marker "$out" | grep -q "111" || fail "the earlier result lost its marker"
if "$sfbench" validate "$out.partial" >"$dir/v" 2>&1; then fail "validate accepted the partial file"; fi
grep -q "did not finish\|not a readable HDF5 file" "$dir/v" || { cat "$dir/v"; fail "unclear message"; }

# A fresh run after the crash replaces both: the result and no partial left behind.
"$mpiexec" --oversubscribe -np 2 "$writer" "$out" 333 complete || fail "rerun failed"
[ ! -e "$out.partial" ] || fail "the rerun left its .partial file"
h5dump -d /marker "$out" | grep -q "333" || fail "the rerun did not replace the result"
echo "crash test: 3 passed, 0 failed"
