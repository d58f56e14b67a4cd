#!/usr/bin/env bash
# build_rerun_test.sh REPO WORKDIR VENV: scripts/build.sh after a configure that failed configures
# again (it used to skip configure whenever CMakeCache.txt existed and then fail in ninja).
set -uo pipefail
repo=$1 work=$2 venv=$3
fail() { echo "build_rerun_test: FAIL: $*" >&2; exit 1; }
rm -rf "$work"
export SFB_BUILD_DIR=$work SFB_VENV=$venv SFB_TARGETS=sfb_version_info

# 1. A configure that fails for real: NCCL required while CUDA is switched off.
out=$(SFB_CMAKE_ARGS="-DSFB_WITH_CUDA=OFF -DSFB_WITH_NCCL=ON" "$repo/scripts/build.sh" 2>&1)
rc=$?
echo "$out" | tail -n 5
[[ $rc -ne 0 ]] || fail "the broken configure exited 0"
grep -q "cmake configure failed" <<<"$out" || fail "no 'cmake configure failed' message"
[[ -f "$work/CMakeCache.txt" && ! -f "$work/build.ninja" ]] ||
  fail "expected a CMakeCache.txt without build.ninja after the failed configure"

# 2. The rerun configures again, says so, and builds.
out=$("$repo/scripts/build.sh" 2>&1)
rc=$?
echo "$out" | tail -n 5
[[ $rc -eq 0 ]] || fail "the rerun after a failed configure exited $rc"
grep -q "did not finish; configuring it again" <<<"$out" || fail "the rerun did not say it reconfigures"
[[ -f "$work/build.ninja" || -f "$work/Makefile" ]] || fail "no build.ninja after the rerun"

# 3. A configured folder is built without configuring again.
out=$("$repo/scripts/build.sh" 2>&1)
rc=$?
[[ $rc -eq 0 ]] || fail "the third run exited $rc"
grep -q "configured before" <<<"$out" || fail "the third run did not reuse the configuration"
rm -rf "$work"
echo "build_rerun_test: ok"
