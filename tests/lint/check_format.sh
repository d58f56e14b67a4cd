#!/usr/bin/env bash
# Format check (ctest label `lint`): every C++ file of the project is as clang-format (the version
# scripts/setup-deps.sh installs, with the committed .clang-format) writes it.
# usage: check_format.sh ROOT [FILE...]   (no FILE: every *.cpp *.hpp *.h *.cu *.cuh under src/,
# apps/, bench/ and tests/ of ROOT). Prints each file that differs with the first lines of the
# difference, and exits 1 when any does; the fix is `clang-format -i FILE`.
set -uo pipefail
root=$1
shift
command -v clang-format >/dev/null || { echo "check_format: clang-format is not installed (scripts/setup-deps.sh installs it)" >&2; exit 2; }
[[ -f "$root/.clang-format" ]] || { echo "check_format: $root/.clang-format is missing" >&2; exit 2; }
files=("$@")
if [[ ${#files[@]} -eq 0 ]]; then
  mapfile -t files < <(cd "$root" && find src apps bench tests -type f \
    \( -name '*.cpp' -o -name '*.hpp' -o -name '*.h' -o -name '*.cu' -o -name '*.cuh' \) | sort)
fi
bad=0
for f in "${files[@]}"; do
  path=$f
  [[ $path = /* ]] || path=$root/$f
  if ! diff -q <(clang-format --style="file:$root/.clang-format" "$path") "$path" >/dev/null; then
    echo "check_format: $f is not clang-format clean:"
    diff <(clang-format --style="file:$root/.clang-format" "$path") "$path" | head -n 8 | sed 's/^/    /'
    bad=$((bad + 1))
  fi
done
echo "check_format: ${#files[@]} files, $bad not formatted ($(clang-format --version))"
[[ $bad -eq 0 ]]
