#!/usr/bin/env bash
# expect_named.sh NAME CMD...: CMD must fail (exit 1) and name NAME as an undeclared package.
set -uo pipefail
name=$1
shift
out=$("$@" 2>&1)
rc=$?
echo "$out"
[[ $rc -eq 1 ]] || { echo "expect_named: expected exit 1, got $rc" >&2; exit 1; }
grep -q "undeclared .* package $name:" <<<"$out" ||
  { echo "expect_named: the failure does not name $name" >&2; exit 1; }
echo "expect_named: the check failed naming $name, as it must"
