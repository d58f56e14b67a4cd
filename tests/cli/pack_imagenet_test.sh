#!/usr/bin/env bash
# sfbench pack-imagenet under mpirun -np 2 and 3: the packed file equals the folder's transformed
# images; bad input (label out of range, missing folder, wrong --data) exits 2 naming the problem.
# Arguments: MPIEXEC SFBENCH TOOL
set -uo pipefail
mpi="$1 --oversubscribe"; sfb=$2; tool=$3
dir=$(mktemp -d); trap 'rm -rf "$dir"' EXIT
fail() { echo "FAIL: $*"; cat "$dir/err" 2>/dev/null; exit 1; }
"$tool" write "$dir" 7 || fail "cannot write the test folder"
for np in 2 3; do
  out="$dir/packed_$np.h5"
  $mpi -np $np "$sfb" pack-imagenet --data "imagenet-folder:$dir/images" --labels "$dir/labels.txt" \
    --num-classes 4 --chunk-rows 2 --out "$out" >"$dir/out" 2>"$dir/err" || fail "pack-imagenet -np $np failed"
  [[ -f "$out" && -z "$(find "$dir" -maxdepth 1 -name '*.partial*')" ]] ||
    fail "no packed file (or a temporary file left) for -np $np"
  "$tool" check "$dir" "$out" || fail "packed file of -np $np differs from the folder"
done
printf 'n00000000/img_0.JPEG 0\nn00000001/img_1.JPEG 9\n' >"$dir/bad_labels.txt"
$mpi -np 2 "$sfb" pack-imagenet --data "imagenet-folder:$dir/images" --labels "$dir/bad_labels.txt" \
  --num-classes 4 --out "$dir/bad.h5" >"$dir/out" 2>"$dir/err"
[[ $? == 2 ]] || fail "label out of range: exit code is not 2"
grep -q "bad_labels.txt' line 2" "$dir/err" || fail "error does not name the label file and line"
[[ $(grep -c "error:" "$dir/err") == 1 ]] || fail "error printed more than once"
[[ ! -e "$dir/bad.h5" ]] || fail "output written despite the error"
$mpi -np 2 "$sfb" pack-imagenet --data "imagenet-folder:$dir/nope" --out "$dir/bad.h5" >"$dir/out" 2>"$dir/err"
[[ $? == 2 ]] && grep -q "$dir/nope" "$dir/err" || fail "missing folder: not exit 2 naming it"
$mpi -np 2 "$sfb" pack-imagenet --data "cifar10:$dir" --out "$dir/bad.h5" >"$dir/out" 2>"$dir/err"
[[ $? == 2 ]] && grep -q "imagenet-folder:DIR" "$dir/err" || fail "wrong --data: not exit 2"
echo "pack-imagenet CLI: OK"
