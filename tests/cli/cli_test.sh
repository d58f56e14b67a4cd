#!/usr/bin/env bash
# Tests of the real sfbench binary. usage: cli_test.sh CASE  (env: SFBENCH, MPIEXEC)
set -u
case_name=$1
sfb=${SFBENCH:?}
mpi="${MPIEXEC:?} --oversubscribe"
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
fail() { echo "FAIL [$case_name]: $*"; [ -f "$dir/err" ] && sed 's/^/  stderr: /' "$dir/err"; exit 1; }
# expect_exit CODE CMD...: runs CMD, stdout -> $dir/out, stderr -> $dir/err
expect_exit() {
  local want=$1; shift
  "$@" >"$dir/out" 2>"$dir/err"
  local rc=$?
  [ "$rc" -eq "$want" ] || fail "exit $rc, expected $want: $*"
}
# once PATTERN: the error line appears exactly once in stderr (rank 0 only, not per rank)
once() {
  local n
  n=$(grep -c -- "$1" "$dir/err")
  [ "$n" -eq 1 ] || fail "expected one line matching '$1' in stderr, found $n"
}

case $case_name in
  help)
    expect_exit 0 "$sfb" --help
    grep -q commbench "$dir/out" || fail "help does not list commbench"
    expect_exit 2 "$sfb" no-such-command
    expect_exit 2 "$sfb" commbench --no-such-flag ;;
  info)
    expect_exit 0 $mpi -np 2 "$sfb" info
    grep -q "rank 0: cpu" "$dir/out" && grep -q "rank 1: cpu" "$dir/out" || fail "ranks missing"
    grep -q "libtorch" "$dir/out" || fail "no versions"
    expect_exit 0 "$sfb" info --json
    python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["world_size"]==1 and d["hdf5"]' "$dir/out" \
      || fail "info --json is not the provenance JSON" ;;
  config-errors)
    printf 'seed = 1\n[commbench]\niter = 3\n' >"$dir/bad.toml"
    expect_exit 2 $mpi -np 2 "$sfb" commbench --config "$dir/bad.toml"
    once "unknown config key 'commbench.iter'"
    expect_exit 2 $mpi -np 2 "$sfb" commbench --set commbench.iters=abc
    once "commbench.iters"
    expect_exit 2 $mpi -np 2 "$sfb" commbench --set commbench.iters=1.5
    once "expected an integer"
    expect_exit 2 $mpi -np 2 "$sfb" commbench --config "$dir/missing.toml"
    once "missing.toml"
    printf 'seed = \n' >"$dir/syntax.toml"
    expect_exit 2 $mpi -np 2 "$sfb" commbench --config "$dir/syntax.toml"
    once "syntax.toml' line 1"
    expect_exit 2 $mpi -np 2 "$sfb" commbench --device cuda-ish
    once "not one of auto|cpu|cuda"
    if ! command -v nvidia-smi >/dev/null; then
      expect_exit 2 $mpi -np 2 "$sfb" info --device cpu --comm nccl
      once "needs device 'cuda'"
      expect_exit 2 $mpi -np 2 "$sfb" info --device cuda
      once "no CUDA device is visible"
    fi ;;
  output-errors)
    expect_exit 2 $mpi -np 2 "$sfb" commbench -e 64 --out "$dir/nodir/r.h5"
    once "does not exist"
    echo "precious" >"$dir/mine.h5"
    expect_exit 2 $mpi -np 2 "$sfb" commbench -e 64 --out "$dir/mine.h5"
    once "not an sfbench results file"
    grep -q precious "$dir/mine.h5" || fail "a foreign file was overwritten"
    mkdir "$dir/ro" && chmod 555 "$dir/ro"
    if [ "$(id -u)" -ne 0 ]; then
      expect_exit 2 $mpi -np 2 "$sfb" commbench -e 64 --out "$dir/ro/r.h5"
      once "not writable"
    fi ;;
  commbench)
    expect_exit 0 $mpi -np 2 "$sfb" commbench -b 8 -e 4M -n 3 -w 1 --out "$dir/cb.h5"
    rows=$(grep -c '^ ' "$dir/out")
    [ "$rows" -eq 20 ] || fail "expected 20 size rows (8 B .. 4 MiB), got $rows"
    awk '/^ /{ if ($8 != 0) bad=1 } END { exit bad }' "$dir/out" || fail "nonzero #wrong"
    grep -q "Out of bounds values : 0 OK" "$dir/out" || fail "no summary line"
    expect_exit 0 "$sfb" validate "$dir/cb.h5" "$dir/cb.json"
    h5dump -a /commbench/wrong_total "$dir/cb.h5" | grep -q "(0): 0" || fail "wrong_total not 0"
    for d in float64 int64; do
      expect_exit 0 $mpi -np 3 "$sfb" commbench -b 8 -e 64K -n 2 -d $d -o max
      awk '/^ /{ if ($8 != 0) bad=1 } END { exit bad }' "$dir/out" || fail "nonzero #wrong for $d"
    done ;;
  validate)
    expect_exit 0 $mpi -np 2 "$sfb" commbench -e 1K -n 2 --out "$dir/r.h5"
    expect_exit 0 "$sfb" validate "$dir/r.h5" "$dir/r.json"
    size=$(stat -c %s "$dir/r.h5")
    head -c $((size / 2)) "$dir/r.h5" >"$dir/t.h5"
    expect_exit 2 "$sfb" validate "$dir/t.h5"
    grep -q "truncated file" "$dir/out" || fail "truncated copy not reported as truncated: $(cat "$dir/out")"
    head -c 300 "$dir/r.json" >"$dir/t.json"
    expect_exit 2 "$sfb" validate "$dir/t.json"
    grep -q "not valid JSON" "$dir/out" || fail "truncated JSON not reported"
    python3 - "$dir/r.json" "$dir/m.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1])); del d["provenance"]["hdf5"]; d["seed"] = -1
json.dump(d, open(sys.argv[2], "w"))
PY
    expect_exit 2 "$sfb" validate "$dir/m.json"
    grep -q "hdf5" "$dir/out" && grep -q "seed" "$dir/out" || fail "schema violations not named: $(cat "$dir/out")"
    expect_exit 2 "$sfb" validate "$dir/nonexistent.h5"
    grep -q "no such file" "$dir/out" || fail "missing file not named" ;;
  inputs)
    expect_exit 0 $mpi -np 2 "$sfb" info --json --data synthetic-shapes:50 --model zoo:cnn-small
    python3 - "$dir/out" <<'PY' || fail "info --json lacks the dataset/model description"
import json, sys
d = json.load(open(sys.argv[1]))
assert d["dataset"]["n"] == 50 and d["dataset"]["num_classes"] == 10 and d["dataset"]["masks"]
assert len(d["dataset"]["sha256"]) == 64 and len(d["model"]["sha256"]) == 64
assert d["model"]["num_features"] == 128 and d["model"]["layers"][-1] == "features"
PY
    cp "$dir/out" "$dir/np2.json"
    expect_exit 0 "$sfb" info --json --data synthetic-shapes:50 --model zoo:cnn-small
    python3 - "$dir/out" "$dir/np2.json" <<'PY' || fail "fingerprints depend on the number of ranks"
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:])
assert a["dataset"]["sha256"] == b["dataset"]["sha256"] and a["model"]["sha256"] == b["model"]["sha256"]
PY
    expect_exit 0 $mpi -np 2 "$sfb" info --data synthetic-shapes:50 --model zoo:cnn-small --out "$dir/card.h5"
    expect_exit 0 "$sfb" validate "$dir/card.h5" "$dir/card.json"
    sha=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["dataset"]["sha256"])' "$dir/np2.json")
    h5dump -a /dataset/sha256 "$dir/card.h5" | grep -q "$sha" || fail "/dataset/sha256 not recorded"
    h5dump -a /model/num_features "$dir/card.h5" | grep -q "(0): 128" || fail "/model not recorded"
    python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["model"]["arch"]=="cnn-small"' "$dir/card.json" \
      || fail "summary lacks the model"
    expect_exit 2 $mpi -np 2 "$sfb" info --data cifar11:/x
    once "valid forms: synthetic-shapes"
    expect_exit 2 $mpi -np 2 "$sfb" info --data cifar10:"$dir/nowhere"
    once "nowhere"
    expect_exit 2 $mpi -np 2 "$sfb" info --model zoo:resnet-5
    once "zoo names: cnn-small"
    expect_exit 2 "$sfb" info --data synthetic-shapes:10 --split validation
    once "not one of train|test"
    if [ -x "${SFB_PYTHON:-}" ]; then
      # torch.jit.script reads the class's source, so the script must live in a file.
      cat >"$dir/nohead.py" <<'PY'
import sys, torch
class NoHead(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = torch.nn.Linear(3, 2)
    def forward(self, x):
        return self.fc(self.features(x))
    @torch.jit.export
    def features(self, x):
        return x.mean(dim=(2, 3))
torch.jit.script(NoHead()).save(sys.argv[1])
PY
      "$SFB_PYTHON" "$dir/nohead.py" "$dir/nohead.pt" || fail "could not script the test module"
      expect_exit 2 $mpi -np 2 "$sfb" info --data synthetic-shapes:10 --model torchscript:"$dir/nohead.pt"
      once "missing method(s) head"
    fi ;;
  *) echo "unknown case $case_name"; exit 2 ;;
esac
echo "cli $case_name: 1 passed, 0 failed"
