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
  config-scope)
    # A command's resolved config holds only its own sections: another command's key changes
    # nothing of an sf run (same config_sha256) when it comes from a config file, and is refused
    # when set on the command line.
    # (Both runs write the same --out: the output path is a top-level key of the config.)
    run_sf() { expect_exit 0 "$sfb" sf --data synthetic-shapes:40 --model zoo:cnn-small --bootstrap 0 --out "$dir/r.h5" "$@"; }
    run_sf
    cp "$dir/r.json" "$dir/a.json"
    printf '[train]\nlr = 0.5\n[attack]\neps = 0.1\n[sf]\ntarget = "logit"\n' >"$dir/other.toml"
    run_sf --config "$dir/other.toml"
    cp "$dir/r.json" "$dir/b.json"
    python3 - "$dir/a.json" "$dir/b.json" <<'PY' || fail "another command's section changed the sf config"
import json, sys
a, b = (json.load(open(f)) for f in sys.argv[1:3])
assert a["config_sha256"] == b["config_sha256"], (a["config_sha256"], b["config_sha256"])
assert "[train]" not in a["config_toml"] and "[attack]" not in a["config_toml"], a["config_toml"]
assert "[sf]" in a["config_toml"] and "data = " in a["config_toml"], a["config_toml"]
PY
    expect_exit 2 $mpi -np 2 "$sfb" sf --data synthetic-shapes:40 --model zoo:cnn-small --set train.lr=0.1
    once "config key 'train.lr' (--set train.lr=0.1) belongs to another command; sfbench sf reads only"
    printf '[train]\nlr = -1\n' >"$dir/badother.toml"
    expect_exit 2 "$sfb" sf --data synthetic-shapes:40 --model zoo:cnn-small --config "$dir/badother.toml"
    once "config key 'train.lr'"
    # attack reads sf.dtype (its --dtype) and no other key of [sf].
    expect_exit 2 "$sfb" attack --data synthetic-shapes:40 --model zoo:cnn-small --set sf.bootstrap=3
    once "belongs to another command; sfbench attack reads only its top-level keys, \[attack\], \[imagenet\], \[sf\]" ;;
  versions)
    # Results of the previous schema_version (tests/data/results_v1, written by sfbench at
    # schema_version 1) are still valid and compare reads them; a version 2 summary must have the
    # uniform timing record.
    v1=$(cd "$(dirname "${BASH_SOURCE[0]}")/../data/results_v1" && pwd)
    expect_exit 0 "$sfb" validate "$v1/sf.h5" "$v1/sf.json" "$v1/eval.h5" "$v1/eval.json" "$v1/attr.h5" "$v1/attr.json"
    expect_exit 0 "$sfb" compare "$v1/sf.h5" "$v1/eval.h5" "$v1/attr.h5"
    python3 - "$v1" "$dir/out" <<'PY' || fail "compare of version 1 files"
import json, sys
v1, out = sys.argv[1], open(sys.argv[2]).read()
rows = [l for l in out.splitlines() if l.startswith("| zoo:cnn-small |")]
assert len(rows) == 3, out  # sf, eval, and the attribution file (no SF or attack cells)
assert rows[2].split(" | ")[1:4] == ["", "", ""], rows[2]
for name, row in zip(("sf", "eval"), rows):
    sf = json.load(open(f"{v1}/{name}.json"))["metrics"]["sf"]["value"]
    assert row.split(" | ")[1] == f"{sf:.4g}", (row, sf)
assert "| attr | 8 |" in out and "saliency" in out, out
PY
    expect_exit 0 "$sfb" sf --data synthetic-shapes:16 --model zoo:cnn-small --bootstrap 0 --out "$dir/v2.h5"
    python3 - "$dir/v2.json" "$dir/nounit.json" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
assert s["schema_version"] == 2
del s["timing"]["sf"]["unit"]
json.dump(s, open(sys.argv[2], "w"))
PY
    expect_exit 0 "$sfb" validate "$dir/v2.h5" "$dir/v2.json"
    expect_exit 2 "$sfb" validate "$dir/nounit.json"
    grep -q "unit" "$dir/out" || fail "a version 2 summary without timing.sf.unit is not reported: $(cat "$dir/out")" ;;
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
    grep -q "no such file" "$dir/out" || fail "missing file not named"
    # A command's own outputs are required: an sf file without /sf/value (or /samples/pred), and
    # an sf summary without metrics.sf.value, are invalid; so is a commbench file without its table.
    expect_exit 0 "$sfb" sf --data synthetic-shapes:16 --model zoo:cnn-small --bootstrap 0 --out "$dir/s.h5"
    expect_exit 0 "$sfb" validate "$dir/s.h5" "$dir/s.json"
    "${SFB_PYTHON:-python3}" - "$dir" <<'PY' || fail "cannot delete datasets with h5py"
import json, shutil, sys
import h5py
d = sys.argv[1]
for src, dst, paths in [("s.h5", "nov.h5", ["/sf/value", "/samples/pred"]), ("r.h5", "nocb.h5", ["/commbench/wrong"])]:
    shutil.copy(f"{d}/{src}", f"{d}/{dst}")
    with h5py.File(f"{d}/{dst}", "a") as f:
        for p in paths:
            del f[p]
s = json.load(open(f"{d}/s.json")); del s["metrics"]["sf"]["value"]
json.dump(s, open(f"{d}/nov.json", "w"))
PY
    expect_exit 2 "$sfb" validate "$dir/nov.h5"
    grep -q "missing dataset /sf/value, which \`sfbench sf\` always writes" "$dir/out" &&
      grep -q "missing dataset /samples/pred, which" "$dir/out" || fail "missing sf outputs not named: $(cat "$dir/out")"
    expect_exit 2 "$sfb" validate "$dir/nocb.h5"
    grep -q "missing dataset /commbench/wrong, which \`sfbench commbench\` always writes" "$dir/out" ||
      fail "missing commbench output not named: $(cat "$dir/out")"
    expect_exit 2 "$sfb" validate "$dir/nov.json"
    grep -q "\[metrics\]\[sf\]: Missing required property 'value'" "$dir/out" || fail "summary without the SF value: $(cat "$dir/out")"
    # A results file and a summary of another run side by side: both are named as mixed up.
    cp "$dir/s.h5" "$dir/mix.h5"
    cp "$dir/r.json" "$dir/mix.json"
    expect_exit 2 "$sfb" validate "$dir/mix.h5"
    grep -q "differs from run_id .* of '$dir/mix.json' next to it: the results file and its summary are from different runs" "$dir/out" ||
      fail "a summary of another run next to the file: $(cat "$dir/out")"
    expect_exit 2 "$sfb" validate "$dir/mix.json"
    grep -q "of '$dir/mix.h5' next to it" "$dir/out" || fail "mixed pair from the summary's side: $(cat "$dir/out")"
    # The input is read once, so a summary through a pipe or a FIFO validates; an HDF5 file
    # through a pipe is refused saying why.
    expect_exit 0 "$sfb" validate <(cat "$dir/r.json") <(cat "$dir/s.json")
    [ "$(grep -c "^OK      summary /dev/fd/" "$dir/out")" -eq 2 ] || fail "piped summaries: $(cat "$dir/out")"
    mkfifo "$dir/fifo"
    cat "$dir/r.json" >"$dir/fifo" &
    writer=$!
    expect_exit 0 timeout 60 "$sfb" validate "$dir/fifo"  # a second open of the FIFO would block
    kill "$writer" 2>/dev/null
    wait "$writer"
    expect_exit 2 "$sfb" validate <(cat "$dir/nov.json")
    grep -q "Missing required property 'value'" "$dir/out" || fail "a piped invalid summary passed"
    expect_exit 2 "$sfb" validate <(cat "$dir/r.h5")
    grep -q "is an HDF5 file read through a pipe or FIFO; .*give its path" "$dir/out" || fail "piped HDF5: $(cat "$dir/out")" ;;
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
  sf)
    expect_exit 0 $mpi -np 2 "$sfb" sf --data synthetic-shapes:40 --model zoo:cnn-small --batch-size 16 \
      --bootstrap 50 --save-per-sample --out "$dir/sf.h5"
    grep -q "^# sfbench sf: zoo:cnn-small" "$dir/out" || fail "no sf table"
    expect_exit 0 "$sfb" validate "$dir/sf.h5" "$dir/sf.json"
    "${SFB_PYTHON:-python3}" - "$dir/sf.h5" "$dir/sf.json" <<'PY' || fail "sf results incomplete"
import json, sys
import h5py, numpy as np
f = h5py.File(sys.argv[1], "r")
s = json.load(open(sys.argv[2]))["metrics"]["sf"]
assert f.attrs["complete"] == 1 and f.attrs["world_size"] == 2
c, ps = f["/sf/global_shapley"][()], f["/sf/per_sample"][()]
assert c.shape == (128,) and ps.shape == (40, 128) and f["/sf/per_class"].shape == (10, 128)
assert np.allclose(ps.astype(np.float64).mean(0), c, rtol=1e-5, atol=1e-9), "C is not the mean of c"
v = f["/sf/value"]
assert abs(v[()] - c.std()) <= 1e-12 * max(1.0, abs(v[()])), "SF is not the population SD of C"
assert v.attrs["n"] == 40 and v.attrs["bootstrap"] == 50 and v.attrs["split"] in (b"train", "train")
assert v.attrs["ci_low"] < v.attrs["ci_high"] and s["value"] == v[()] and s["n"] == 40
assert list(f["/samples/index"][()]) == list(range(40))
assert (np.sort(c)[::-1] == f["/sf/sorted"][()]).all()
PY
    # Bad input: every case exits 2 with one clear message and leaves no complete-looking result.
    expect_exit 2 $mpi -np 2 "$sfb" sf --data synthetic-shapes:20 --model zoo:cnn-small --layer conv9 --out "$dir/bad.h5"
    once "has no layer 'conv9'; valid layers: block1, block2, block3, features"
    expect_exit 2 $mpi -np 2 "$sfb" sf --data synthetic-shapes:20 --subset 0 --model zoo:cnn-small --out "$dir/bad.h5"
    once "has no samples (split train, subset '0')"
    expect_exit 2 "$sfb" sf --data synthetic-shapes:20 --model zoo:cnn-small --target margin
    once "not one of logit|logprob|prob|pred-logit"
    expect_exit 2 "$sfb" sf --model zoo:cnn-small
    once "needs a dataset"
    if [ -x "${SFB_PYTHON:-}" ]; then
      # A 5-class model on 10-class data; and a model whose features are NaN for dark images.
      cat >"$dir/models.py" <<'PY'
import sys, torch
class Net(torch.nn.Module):
    def __init__(self, classes: int, nan_below: float):
        super().__init__()
        self.fc = torch.nn.Linear(3, classes)
        self.nan_below = nan_below
    def forward(self, x):
        return self.head(self.features(x))
    @torch.jit.export
    def features(self, x):
        m = x.mean(dim=(2, 3))
        return torch.sqrt(m - self.nan_below)
    @torch.jit.export
    def head(self, a):
        return self.fc(a)
torch.jit.script(Net(5, -1.0)).save(sys.argv[1])
torch.jit.script(Net(10, float(sys.argv[3]))).save(sys.argv[2])
PY
      "$SFB_PYTHON" "$dir/models.py" "$dir/five.pt" "$dir/nan.pt" -1.0 || fail "could not script the test modules"
      expect_exit 2 $mpi -np 2 "$sfb" sf --data synthetic-shapes:20 --model torchscript:"$dir/five.pt" --out "$dir/bad.h5"
      once "has 10 classes but model torchscript:.*five.pt outputs 5"
      # The loader's own probe batch is bright enough; pick a threshold that only some images cross.
      "$SFB_PYTHON" "$dir/models.py" "$dir/five.pt" "$dir/nan.pt" 0.45 || fail "could not script the NaN module"
      expect_exit 2 $mpi -np 2 "$sfb" sf --data synthetic-shapes:60 --model torchscript:"$dir/nan.pt" --out "$dir/bad.h5"
      once "sample [0-9]*: the activation at layer 'features' is NaN or infinite"
      # The results file is created only after the pass: the failed pass leaves none, not even a
      # partial one.
      [ -z "$(ls "$dir" | grep '^bad\.h5.*\.partial')" ] || fail "the run that failed in its pass left a bad.h5 .partial file"
    fi
    [ ! -e "$dir/bad.h5" ] || fail "a failed run left a complete-looking bad.h5"
    expect_exit 0 "$sfb" validate "$dir/sf.h5" ;;
  attack)
    common=(--data synthetic-shapes:48 --model zoo:cnn-small --batch-size 16 --eps 4/255)
    atk="fgsm,pgd:steps=3,autoattack:steps=4:queries=20"
    expect_exit 0 $mpi -np 2 "$sfb" attack "${common[@]}" --attacks "$atk" --out "$dir/full.h5"
    grep -q "^ autoattack_steps-4_queries-20 " "$dir/out" || fail "no autoattack row"
    grep -q "^#   pgd_steps-3 \[pgd\] .* forward .* backward$" "$dir/out" || fail "no stage cost line"
    expect_exit 0 "$sfb" validate "$dir/full.h5" "$dir/full.json"
    # Stage cost per attacked (clean-correct) sample: PGD-k makes k + 2 forward passes (clean, one
    # per step, final) and k backward passes; FGSM is k = 1; Square makes no backward pass.
    "${SFB_PYTHON:-python3}" - "$dir/full.json" <<'PY' || fail "stage costs do not count passes"
import json, sys
cost = json.load(open(sys.argv[1]))["metrics"]["attack_stage_cost"]
for name, k in [("fgsm [fgsm]", 1), ("pgd_steps-3 [pgd]", 3)]:
    fwd, back = cost[name]["passes_per_sample"], cost[name]["backward_passes_per_sample"]
    assert cost[name]["samples"] > 0 and (fwd, back) == (k + 2, k), (name, fwd, back)
aa = cost["autoattack_steps-4_queries-20 [square]"]
assert aa["backward_passes_per_sample"] == 0 and aa["passes_per_sample"] > 0, aa
PY
    [ ! -e "$dir/full.checkpoint.h5" ] || fail "checkpoint left behind after a complete run"
    # Interrupted after 3 of 6 stages (fgsm, pgd, apgd-ce), then resumed on 3 ranks: same flags.
    SFB_FAULT_STOP_AFTER_STAGES=3 expect_exit 3 $mpi -np 2 "$sfb" attack "${common[@]}" --attacks "$atk" --out "$dir/r.h5"
    [ -e "$dir/r.checkpoint.h5" ] && [ ! -e "$dir/r.h5" ] && [ -z "$(ls "$dir" | grep '^r\.h5\..*partial')" ] || fail "no checkpoint (or a result, or a partial one) after the interruption"
    expect_exit 0 $mpi -np 3 "$sfb" attack "${common[@]}" --attacks "$atk" --out "$dir/r.h5"
    grep -q "resumed after 3 stages" "$dir/out" || fail "the rerun did not resume"
    "${SFB_PYTHON:-python3}" - "$dir/full.h5" "$dir/r.h5" <<'PY' || fail "resumed run differs from the uninterrupted one"
import sys, h5py, numpy as np
a, b = (h5py.File(p, "r") for p in sys.argv[1:])
for g in ["fgsm", "pgd_steps-3", "autoattack_steps-4_queries-20", "worst_case"]:
    assert (a[f"/attacks/{g}/robust"][()] == b[f"/attacks/{g}/robust"][()]).all(), g
    if g != "worst_case":
        assert a[f"/attacks/{g}"].attrs["adv_acc"] == b[f"/attacks/{g}"].attrs["adv_acc"], g
n = a["/samples/correct"][()].astype(bool)
for g in ["fgsm", "pgd_steps-3", "autoattack_steps-4_queries-20"]:
    r = a[f"/attacks/{g}/robust"][()].astype(bool)
    assert not (r & ~n).any(), "robust but clean-misclassified"
PY
    # eval: SF and attacks in one run, activation differences ordered by C; then compare.
    for s in 1 2 3; do
      expect_exit 0 $mpi -np 2 "$sfb" eval --data synthetic-shapes:40 --model zoo:cnn-small --seed $s \
        --bootstrap 20 --attacks fgsm --eps 8/255 --out "$dir/e$s.h5"
    done
    "${SFB_PYTHON:-python3}" - "$dir/e1.h5" <<'PY' || fail "eval results incomplete"
import sys, h5py, numpy as np
f = h5py.File(sys.argv[1], "r")
order = f["/attacks/activation_diff_order"][()]
c = f["/sf/global_shapley"][()]
assert (np.diff(c[order]) <= 0).all(), "activation_diff_order is not C descending"
assert f["/attacks/fgsm/activation_diff"].shape == c.shape and f["/sf/value"].attrs["n"] == 40
PY
    expect_exit 0 "$sfb" compare "$dir/e1.h5" "$dir/e2.h5" "$dir/e3.h5" --format csv
    grep -q '^fgsm,3,"Spearman rho(SF, dAcc)",' "$dir/out" || fail "compare has no correlation rows"
    grep -q '^model,SF,SF 95% CI,clean_acc' "$dir/out" && grep -q ',"\[' "$dir/out" ||
      fail "compare --format csv does not quote the CI cells"
    expect_exit 0 "$sfb" compare "$dir/e1.h5" "$dir/e2.h5" "$dir/e3.h5" --format json
    "${SFB_PYTHON:-python3}" -c 'import json,sys; d=json.load(open(sys.argv[1])); assert len(d["models"])==3 and d["correlations"][0]["models"]==3' "$dir/out" \
      || fail "compare --format json"
    # Bad input.
    expect_exit 2 $mpi -np 2 "$sfb" attack "${common[@]}" --attacks "pgd:stepz=3"
    once "unknown key 'stepz'"
    expect_exit 2 $mpi -np 2 "$sfb" attack "${common[@]}" --attacks "pgdd"
    once "unknown attack 'pgdd'"
    expect_exit 2 $mpi -np 2 "$sfb" attack "${common[@]}" --attacks "pgd:eps=8"
    once "eps 8 is outside (0, 1\] for the linf threat model"
    expect_exit 2 $mpi -np 2 "$sfb" attack "${common[@]}" --attacks "apgd-t:targets=10"
    once "targets=10 but the model has 10 classes (at most 9 targets)"
    expect_exit 2 "$sfb" compare "$dir/r.checkpoint.h5.missing"
    once "not a valid, complete sfbench results file" ;;
  train-errors)
    tr=(train --data synthetic-shapes:64 --threads 1 --set train.epochs=1
        --batch-size 16 --set train.lr=0.01 --set train.sf_lambda=0)
    printf '[train]\nlos = "mart"\n' >"$dir/bad.toml"
    expect_exit 2 $mpi -np 2 "$sfb" "${tr[@]}" --model zoo:cnn-small --out "$dir/t.h5" --config "$dir/bad.toml"
    once "unknown config key 'train.los'"
    for kv in train.loss=trades train.optimizer=rmsprop train.schedule=linear train.sf_lambda=-1; do
      expect_exit 2 $mpi -np 2 "$sfb" "${tr[@]}" --model zoo:cnn-small --out "$dir/t.h5" --set "$kv"
      once "${kv%%=*}"
    done
    expect_exit 0 "$sfb" "${tr[@]}" --model zoo:cnn-small --out "$dir/t.h5"
    expect_exit 0 "$sfb" validate "$dir/t.h5" "$dir/t.json"
    # A checkpoint of another architecture, and a corrupt one, given to --resume.
    expect_exit 2 $mpi -np 2 "$sfb" "${tr[@]}" --model zoo:preact-resnet-18 --out "$dir/u.h5" \
      --checkpoint "$dir/t.ckpt" --resume
    once "holds a 'cnn-small' model, cannot load it into 'preact-resnet-18'"
    head -c 3000 "$dir/t.ckpt" >"$dir/corrupt.ckpt"
    expect_exit 2 $mpi -np 2 "$sfb" "${tr[@]}" --model zoo:cnn-small --out "$dir/u.h5" \
      --checkpoint "$dir/corrupt.ckpt" --resume
    once "corrupt.ckpt: not a readable LibTorch archive"
    # A diverging loss stops the run naming the step and terms; the last checkpoint is untouched.
    sum=$(sha256sum <"$dir/t.ckpt")
    expect_exit 3 "$sfb" "${tr[@]}" --model zoo:cnn-small --out "$dir/t.h5" --resume --set train.epochs=5 \
      --set train.lr=1e6 --set train.weight_decay=1000 --resume-allow train.lr,train.weight_decay
    grep -q "training diverged at epoch [2-5], step [1-4] (global step [0-9]*): non-finite loss: ce = .*sf = .*total = " "$dir/err" \
      || fail "no divergence message naming the step and terms"
    [ "$(sha256sum <"$dir/t.ckpt")" = "$sum" ] || fail "the last good checkpoint was modified" ;;
  train-resume)
    tr=(train --data synthetic-shapes:96 --model zoo:cnn-small --threads 1 --set train.epochs=3
        --set train.batch_size=16 --set train.loss=pgd-at --set train.attack_steps=2 --set train.lr=0.02
        --set train.optimizer=sgd --set train.schedule=cosine)
    expect_exit 0 $mpi -np 2 "$sfb" "${tr[@]}" --out "$dir/full.h5"
    full=$(grep weights_sha256 "$dir/out")
    # SIGUSR1 before global step 8 (epoch 2 of 3, 6 steps per epoch): checkpoint, exit 75, resume.
    SFB_TRAIN_STOP_AT_STEP=8 expect_exit 75 $mpi -np 2 -x SFB_TRAIN_STOP_AT_STEP "$sfb" "${tr[@]}" --out "$dir/part.h5"
    [ -f "$dir/part.ckpt" ] || fail "no checkpoint after SIGUSR1"
    [ -e "$dir/part.h5" ] || [ -n "$(ls "$dir" | grep '^part\.h5.*\.partial')" ] && fail "an interrupted run left a results file (or a partial one)"
    # Another lr, seed and batch size: refused with one message naming each key with both values
    # (and the keys --resume-allow lets through are not named); epochs of a cosine schedule too.
    sum=$(sha256sum <"$dir/part.ckpt")
    expect_exit 2 $mpi -np 2 "$sfb" "${tr[@]}" --out "$dir/part.h5" --resume --set train.lr=0.5 --seed 3 \
      --set train.batch_size=32
    once "checkpoint .*part.ckpt was written under another training configuration: seed = 0 (checkpoint) vs 3 (now); train.batch_size = 16 (checkpoint) vs 32 (now); train.lr = 0.02 (checkpoint) vs 0.5 (now)\. .*--resume-allow seed,train.batch_size,train.lr"
    expect_exit 2 "$sfb" "${tr[@]}" --out "$dir/part.h5" --resume --set train.lr=0.5 --seed 3 \
      --set train.batch_size=32 --resume-allow seed,train.lr
    once "configuration: train.batch_size = 16 (checkpoint) vs 32 (now)\. "
    expect_exit 2 "$sfb" "${tr[@]}" --out "$dir/part.h5" --resume --set train.epochs=4
    once "configuration: train.epochs = 3 (checkpoint) vs 4 (now)\. "
    expect_exit 2 "$sfb" "${tr[@]}" --out "$dir/part.h5" --resume --resume-allow train.lrr
    once "train.resume_allow: 'train.lrr' is not a config key"
    [ "$(sha256sum <"$dir/part.ckpt")" = "$sum" ] || fail "a refused resume modified the checkpoint"
    # The same configuration (another thread count and output path may differ) resumes.
    expect_exit 0 $mpi -np 2 "$sfb" "${tr[@]}" --out "$dir/part.h5" --resume
    grep -q "resumed from .*part.ckpt: 1 epochs done, step 2 of the next" "$dir/err" || fail "did not resume mid-epoch"
    [ "$(grep weights_sha256 "$dir/out")" = "$full" ] || fail "resumed weights differ: $full"
    expect_exit 0 "$sfb" validate "$dir/part.h5" "$dir/part.json"
    # The result records what it resumed from: the checkpoint's configuration and its SHA-256.
    "${SFB_PYTHON:-python3}" - "$dir/part.h5" "$dir/part.json" <<'PY' || fail "the result does not record the resume"
import hashlib, json, sys
import h5py
f, t = h5py.File(sys.argv[1], "r"), json.load(open(sys.argv[2]))["train"]
r = t["resumed_from"]
assert r["checkpoint"].endswith("part.ckpt") and (r["epochs_done"], r["step_in_epoch"], r["global_step"]) == (1, 2, 8), r
(rec,) = t["resumes"]
stored = rec["checkpoint_config_toml"]
assert hashlib.sha256(stored.encode()).hexdigest() == r["config_sha256"] == rec["checkpoint_config_sha256"]
assert "resume = false" in stored and [c["key"] for c in rec["changed"]] == ["train.resume"], rec["changed"]
text = lambda v: v.decode() if isinstance(v, bytes) else v
assert rec["config_sha256"] == text(f.attrs["config_sha256"])
assert text(f["/train"].attrs["resumed_from_config_sha256"]) == r["config_sha256"]
assert json.loads(text(f["/train"].attrs["resumes"])) == t["resumes"]
PY
    for k in ce_adv sf total accuracy adv_accuracy lr epoch; do
      h5dump -d /train/epoch/$k -m %.6g "$dir/full.h5" | grep -A4 DATA >"$dir/a" || fail "no /train/epoch/$k"
      h5dump -d /train/epoch/$k -m %.6g "$dir/part.h5" | grep -A4 DATA >"$dir/b"
      grep -q "(2): " "$dir/a" || fail "/train/epoch/$k does not hold 3 epochs"
      cmp -s "$dir/a" "$dir/b" || fail "/train/epoch/$k differs after resuming"
    done
    # A finished checkpoint: --resume writes the results without training.
    expect_exit 0 "$sfb" "${tr[@]}" --out "$dir/again.h5" --checkpoint "$dir/full.ckpt" --resume
    grep -q "3 epochs done" "$dir/err" || fail "finished checkpoint not recognized"
    [ "$(grep weights_sha256 "$dir/out")" = "$full" ] || fail "weights changed on a finished rerun" ;;
  interactions)
    # A quick run on 2 ranks: 4×4 grid, 3 orders, P = 4, K = 3, the adversarial side on.
    common=(--data synthetic-shapes:6 --model zoo:cnn-small --batch-size 32 --preset quick)
    expect_exit 0 $mpi -np 2 "$sfb" interactions "${common[@]}" --grid 4 --pairs 4 --contexts 3 \
      --set interactions.orders=[0.0,0.5,1.0] --set interactions.adv_max_steps=10 --save-per-image \
      --out "$dir/int.h5"
    grep -q "^# sfbench interactions: zoo:cnn-small.*sampled, P = 4, K = 3, D jackknifed over K" "$dir/out" ||
      fail "no interactions table (or its header does not name P, K and the jackknife)"
    grep -q "^# v(N) = .*, v(empty) = .*, v_adv(N) = " "$dir/out" || fail "no v(N)/v(empty) line"
    for p in I dJ D; do [ -s "$dir/int.interactions_$p.svg" ] || fail "no $p plot"; done
    expect_exit 0 "$sfb" validate "$dir/int.h5" "$dir/int.json"
    "${SFB_PYTHON:-python3}" - "$dir/int.h5" "$dir/int.json" <<'PY' || fail "interactions results incomplete"
import json, sys
import h5py, numpy as np
f = h5py.File(sys.argv[1], "r")
s = json.load(open(sys.argv[2]))["metrics"]["interactions"]
g = f["/interactions"]
assert f.attrs["complete"] == 1 and f.attrs["world_size"] == 2
assert list(g["orders"][()]) == [0, 7, 14] and s["orders"] == [0, 7, 14]
assert g.attrs["n"] == 6 and g.attrs["pairs"] == 4 and g.attrs["contexts"] == 3
# 4 forwards per context (P·K·M of them) and v(N), v(∅), on both sides of 6 images
assert g.attrs["masked_forwards"] == 6 * 2 * (4 * 3 * 3 * 4 + 2), g.attrs["masked_forwards"]
assert g.attrs["estimator"] == "sampled" and g.attrs["D_estimator"].startswith("jackknife")
for name in ["v_full_nor", "v_empty", "v_full_adv"]:
    assert g[name].shape == () and np.isfinite(g[name][()]), name
    assert np.isclose(g[name][()], g["per_image/" + name][()].mean(), rtol=1e-12), name
assert g["v_full_nor"][()] > g["v_full_adv"][()]  # the attack lowers log p(label)
for name in ["I_nor", "I_adv", "J_nor", "J_adv", "D_nor", "D_adv", "dI", "dJ"]:
    assert g[name].shape == (3,) and g[name + "_stderr"].shape == (3,), name
per = g["per_image/I_nor"][()]
assert per.shape == (6, 3)
assert np.allclose(per.mean(0), g["I_nor"][()], rtol=1e-12, atol=1e-15)
assert np.allclose(per.std(0, ddof=1) / np.sqrt(6), g["I_nor_stderr"][()], rtol=1e-9, atol=1e-15)
assert np.allclose(g["dI"][()], g["I_nor"][()] - g["I_adv"][()], rtol=1e-9, atol=1e-12)
n = 16
assert np.allclose(g["J_nor"][()], (n - 1 - np.array([0, 7, 14])) / (n * (n - 1)) * g["I_nor"][()])
assert s["I_nor"] == list(g["I_nor"][()])
PY
    # Exact mode on a 3×3 grid, which does not divide 32×32 (bands of 10, 11, 11 pixels), every
    # order 0..8 (φ^(8) needs --shapley): the efficiency identity and Eq. 5 on the written file.
    expect_exit 0 $mpi -np 2 "$sfb" interactions --data synthetic-shapes:4 --model zoo:cnn-small \
      --batch-size 128 --grid 3 --exact --shapley --no-adversarial --pair-sampling uniform \
      --dtype float64 --set interactions.order_values=[0,1,2,3,4,5,6,7,8] --out "$dir/exact.h5"
    grep -q "^# sfbench interactions: .*exact (all 2^9 subsets), uniform pairs" "$dir/out" ||
      fail "the exact-mode header does not say exact"
    ! grep -q "P = \|K = " "$dir/out" || fail "the exact-mode header names P or K, which it does not use"
    expect_exit 0 "$sfb" validate "$dir/exact.h5" "$dir/exact.json"
    "${SFB_PYTHON:-python3}" - "$dir/exact.h5" <<'PY' || fail "exact interactions break an identity"
import sys
import h5py, numpy as np
g = h5py.File(sys.argv[1], "r")["/interactions"]
n = 9
assert g.attrs["estimator"] == "exact" and g.attrs["D_estimator"].startswith("exact")
for k in ["pairs", "contexts", "preset"]:
    assert k not in g.attrs, k + " is written in exact mode"
assert g.attrs["masked_forwards"] == 4 * 2**9, g.attrs["masked_forwards"]
assert list(g["orders"][()]) == list(range(9))
gain = g["v_full_nor"][()] - g["v_empty"][()]
assert abs(gain) > 1e-6, gain
J, phi = g["J_nor"][()], g["phi_nor"][()]
assert np.isnan(J[8]) and np.isnan(g["I_nor"][()][8]) and np.isfinite(phi[8])
eff = n * (n - 1) * J[:8].sum()  # efficiency: ordered pairs, uniform weights
assert abs(eff - (gain - n * phi[0])) < 1e-9 * max(1, abs(gain)), (eff, gain - n * phi[0])
assert abs(phi.sum() - gain) < 1e-9 * max(1, abs(gain)), (phi.sum(), gain)  # Eq. 5
PY
    # Bad input: exit 2, one message, no result file.
    expect_exit 2 $mpi -np 2 "$sfb" interactions "${common[@]}" --grid 33 --out "$dir/bad.h5"
    once "interactions.grid = 33: a 33×33 grid of patches does not fit the 32×32 image"
    expect_exit 2 $mpi -np 2 "$sfb" interactions "${common[@]}" --grid 4 --set interactions.order_values=[15] --out "$dir/bad.h5"
    once "order n_p - 1 needs interactions.shapley = true"
    expect_exit 2 "$sfb" interactions "${common[@]}" --grid 4 --shapley --set interactions.order_values=[16] --out "$dir/bad.h5"
    once "order 16 is outside \[0, n_p - 2\] = \[0, 14\]"
    expect_exit 2 "$sfb" interactions "${common[@]}" --grid 5 --exact --out "$dir/bad.h5"
    once "interactions.exact = true needs n_p <= 16 players (2^n_p subsets); grid 5 has 25"
    expect_exit 2 "$sfb" interactions "${common[@]}" --set interactions.orders=[1.5] --out "$dir/bad.h5"
    once "interactions.orders: ratio 1.5 gives an order outside"
    expect_exit 2 $mpi -np 2 "$sfb" interactions "${common[@]}" --pairs 0 --out "$dir/bad.h5"
    once "interactions.pairs = 0: P must be >= 1"
    expect_exit 2 "$sfb" interactions "${common[@]}" --contexts -2 --out "$dir/bad.h5"
    once "interactions.contexts = -2: K must be >= 1"
    [ ! -e "$dir/bad.h5" ] && [ -z "$(ls "$dir" | grep '^bad\.h5.*\.partial')" ] || fail "a failed run left a result file" ;;
  attribution)
    # A quick run on 2 ranks: three methods, 4 IG steps, masks of synthetic-shapes give the SNR.
    common=(--data synthetic-shapes:6 --model zoo:cnn-small --batch-size 2)
    expect_exit 0 $mpi -np 2 "$sfb" attribution "${common[@]}" --steps 4 \
      --set 'attribution.methods=["saliency","integrated-gradients","grad-cam"]' --out "$dir/att.h5"
    grep -q "^# sfbench attribution: zoo:cnn-small" "$dir/out" || fail "no attribution table"
    expect_exit 0 "$sfb" validate "$dir/att.h5" "$dir/att.json"
    "${SFB_PYTHON:-python3}" - "$dir/att.h5" "$dir/att.json" <<'PY' || fail "attribution results incomplete"
import json, sys
import h5py, numpy as np
f = h5py.File(sys.argv[1], "r")
s = json.load(open(sys.argv[2]))["metrics"]["attribution"]
assert f.attrs["complete"] == 1 and f.attrs["world_size"] == 2
a = f["/attribution"]
assert a.attrs["n"] == 6 and a.attrs["region"] == 4 and a.attrs["steps"] == 4 and a.attrs["masks"] == 1
assert set(a["confidence_group"][()]) <= {0, 1, 2}
for m in ["saliency", "integrated-gradients", "grad-cam"]:
    g = a[m]
    gini = g["gini"][()]
    assert gini.shape == (6,) and np.all((gini >= 0) & (gini < 1)), m
    assert np.isclose(gini.mean(), g.attrs["gini"], rtol=1e-12) and np.isclose(s["methods"][m]["gini"], gini.mean())
    assert np.isclose(gini.std(ddof=1) / np.sqrt(6), g.attrs["gini_stderr"], rtol=1e-9)
    assert g["gini_regional"].shape == (6,) and g["snr_db"].shape == (6,)
    assert g["count_by_class"][()].sum() == 6 and g["snr_count_by_group"][()].sum() <= 6
    lab = f["/samples/label"][()]
    for c in set(lab):
        assert np.isclose(g["gini_by_class"][c], gini[lab == c].mean(), rtol=1e-9)
# Inductive attacks (defaults: T = 102 of 1024 pixels, three occlusion colours, N = 10, R = 4):
# flags only on correctly classified images, rates = flips / correct.
correct = f["/samples/correct"][()].astype(bool)
assert list(f["/attribution/top_pixels"][()]) == [102] and a.attrs["occlusion_radius"] == 4
for m in ["saliency", "integrated-gradients", "grad-cam", "random"]:
    g = a[m]
    for k in ["noise1", "noise2"]:
        fl = g[k + "_flip"][()]
        assert fl.shape == (6, 1) and not fl[~correct].any(), (m, k)
        want = fl[correct].mean(0) if correct.any() else np.full(1, np.nan)
        assert np.allclose(g[k + "_error_rate"][()], want, equal_nan=True), (m, k)
        lo, hi = g[k + "_error_ci"][()].T
        assert correct.sum() == 0 or np.all((lo <= want) & (want <= hi)), (m, k)
    if m == "random":
        continue
    rates = []
    for c in ["black", "grey", "white"]:
        fl, cnt, rad = (g["occlusion_%s_%s" % (c, x)][()] for x in ("flip", "count", "radius"))
        assert not fl[~correct].any() and np.all((cnt > 0) == (fl == 1)) and np.all(cnt <= 10) and np.all(rad <= 4)
        rates.append(fl[correct].mean() if correct.any() else np.nan)
    assert np.allclose(g["occlusion_error_rate"][()], rates, equal_nan=True), m
# Agreement between methods: per-image Spearman of the saved maps (all 6 images are saved).
def ranks(v):
    return np.argsort(np.argsort(v, kind="stable"), kind="stable").astype(float)
def spearman(p, q):
    return np.corrcoef(ranks(p.ravel()), ranks(q.ravel()))[0, 1]
assert list(a["maps/index"][()]) == list(range(6)) and a["maps/saliency"].shape == (6, 32, 32)
assert a["agreement"].attrs["pairs"] == "saliency~integrated-gradients,saliency~grad-cam,integrated-gradients~grad-cam"
rho = a["agreement/spearman"][()]
assert rho.shape == (6, 3)
for i in range(6):
    p = spearman(a["maps/saliency"][i], a["maps/integrated-gradients"][i])
    assert abs(p - rho[i, 0]) < 1e-4, (i, p, rho[i, 0])
assert np.isclose(a["agreement/mean"][0], np.nanmean(rho[:, 0]))
assert [x["a"] + "~" + x["b"] for x in s["agreement"]] == a["agreement"].attrs["pairs"].split(",")
PY
    # The montage: 6 rows of 96-px cells (image + 3 methods, 2-px gaps), a two-line header band of
    # 23 px ("integrated-gradients" is wider than 16 characters) and a 13-px label band above each
    # row: 390 x (23 + 6 * (13 + 96) + 5 * 2) = 390 x 687 RGB.
    "${SFB_PYTHON:-python3}" -c 'import struct,sys; d=open(sys.argv[1],"rb").read(33); assert d[:8]==b"\x89PNG\r\n\x1a\n"; w,h,bits,ct=struct.unpack(">IIBB",d[16:26]); assert (w,h,bits,ct)==(390,687,8,2),(w,h,bits,ct)' \
      "$dir/att.montage.png" || fail "attribution montage missing or of the wrong size"
    # Layer-wise IG through the command (paper 003 Fig. 5): a hidden block, upsampled to the image.
    expect_exit 0 "$sfb" attribution "${common[@]}" --steps 4 --set 'attribution.methods=["layer-integrated-gradients"]' \
      --set attribution.ig_layer=block2 --set attribution.noise=false --occlusion-colors '[]' --out "$dir/lig.h5"
    "${SFB_PYTHON:-python3}" -c 'import h5py,sys; f=h5py.File(sys.argv[1]); a=f["/attribution"]; assert a.attrs["ig_layer"]=="block2" and f["/attribution/maps/layer-integrated-gradients"].shape==(6,32,32) and "noise1_flip" not in f["/attribution/layer-integrated-gradients"]' \
      "$dir/lig.h5" || fail "layer-integrated-gradients run incomplete"
    # A second model on the same images: compare prints the model x model agreement per method.
    expect_exit 0 "$sfb" attribution --data synthetic-shapes:6 --model zoo:preact-resnet-18 --batch-size 2 --steps 4 \
      --set 'attribution.methods=["integrated-gradients","saliency"]' --occlusion-colors '[]' --out "$dir/att2.h5"
    expect_exit 0 "$sfb" compare "$dir/att.h5" "$dir/att2.h5"
    grep -q "^| Spearman rho saliency | att | att2 |" "$dir/out" || fail "no saliency agreement matrix"
    grep -q "^| att | 6 | [0-9.]* | saliency | " "$dir/out" || fail "no per-model attribution row"
    grep -q "^| att | 6 | [0-9.]* | (random pixels) |  |  | " "$dir/out" || fail "no random-control row"
    expect_exit 0 "$sfb" compare "$dir/att.h5" "$dir/att2.h5" --format json
    "${SFB_PYTHON:-python3}" - "$dir/out" "$dir/att.h5" "$dir/att2.h5" <<'PY' || fail "agreement matrix wrong"
import json, sys
import h5py, numpy as np
doc = json.load(open(sys.argv[1]))
mats = {m["method"]: m for m in doc["attribution"]["agreement"]}
assert sorted(mats) == ["integrated-gradients", "saliency"]  # grad-cam: one file only
def ranks(v):
    return np.argsort(np.argsort(v, kind="stable"), kind="stable").astype(float)
for meth, m in mats.items():
    a = h5py.File(sys.argv[2])["/attribution/maps/" + meth][()]
    b = h5py.File(sys.argv[3])["/attribution/maps/" + meth][()]
    r = [np.corrcoef(ranks(a[i].ravel()), ranks(b[i].ravel()))[0, 1] for i in range(6)]
    assert m["count"] == [[6, 6], [6, 6]] and m["spearman"][0][0] == 1.0 and m["spearman"][1][1] == 1.0
    assert abs(m["spearman"][0][1] - np.mean(r)) < 1e-4 and m["spearman"][0][1] == m["spearman"][1][0], meth
    assert m["ci_low"][0][1] < m["spearman"][0][1] < m["ci_high"][0][1]
PY
    # Bad input: exit 2, one message, no result file.
    expect_exit 2 $mpi -np 2 "$sfb" attribution "${common[@]}" --set 'attribution.methods=["lime"]' --out "$dir/bad.h5"
    once "unknown attribution method 'lime'"
    expect_exit 2 $mpi -np 2 "$sfb" attribution "${common[@]}" --region 5 --out "$dir/bad.h5"
    once "attribution.region = 5 does not divide the 32x32 image"
    expect_exit 2 "$sfb" attribution "${common[@]}" --steps 0 --out "$dir/bad.h5"
    once "attribution.steps must be > 0"
    expect_exit 2 "$sfb" attribution "${common[@]}" --top-pixels '[0]' --out "$dir/bad.h5"
    once "attribution.top_pixels: 0 is outside \[1, 1024\]"
    expect_exit 2 "$sfb" attribution "${common[@]}" --occlusion-colors '["red"]' --out "$dir/bad.h5"
    once "unknown colour 'red'"
    expect_exit 2 "$sfb" attribution "${common[@]}" --set 'attribution.map_indices=[2,6]' --out "$dir/bad.h5"
    once "attribution.map_indices: 6 is outside the 6 images"
    expect_exit 2 "$sfb" attribution "${common[@]}" --maps 2 --montage 3 --out "$dir/bad.h5"
    once "attribution.montage = 3 must be in \[0, 2\]"
    expect_exit 2 $mpi -np 2 "$sfb" attribution "${common[@]}" --set 'attribution.methods=["layer-integrated-gradients"]' \
      --set attribution.ig_layer=block9 --out "$dir/bad.h5"
    once "attribution.ig_layer = 'block9': model zoo:cnn-small: unknown layer 'block9'"
    expect_exit 2 "$sfb" attribution "${common[@]}" --set 'attribution.methods=["layer-integrated-gradients"]' \
      --set attribution.ig_layer=features --out "$dir/bad.h5"
    once "attribution.ig_layer = 'features' is not a convolutional feature map"
    expect_exit 2 "$sfb" attribution "${common[@]}" --set 'attribution.methods=["grad-cam"]' \
      --set attribution.layer=nope --out "$dir/bad.h5"
    once "attribution.layer = 'nope'"
    # User masks (h5:FILE): a good square, masks of the wrong size, an empty mask (sample 3).
    "${SFB_PYTHON:-python3}" - "$dir" <<'PY' || fail "cannot write masks"
import sys
import h5py, numpy as np
m = np.zeros((6, 32, 32), np.uint8); m[:, 8:24, 8:24] = 1
h5py.File(sys.argv[1] + "/mgood.h5", "w")["masks"] = m
h5py.File(sys.argv[1] + "/m16.h5", "w")["masks"] = np.ones((6, 16, 16), np.uint8)
m[3] = 0
h5py.File(sys.argv[1] + "/mempty.h5", "w")["masks"] = m
PY
    expect_exit 0 "$sfb" attribution "${common[@]}" --masks "h5:$dir/mgood.h5" --out "$dir/um.h5"
    expect_exit 0 "$sfb" validate "$dir/um.h5"
    expect_exit 2 $mpi -np 2 "$sfb" attribution "${common[@]}" --masks "h5:$dir/m16.h5" --out "$dir/bad.h5"
    once "masks are 16"
    expect_exit 2 $mpi -np 2 "$sfb" attribution "${common[@]}" --masks "h5:$dir/mempty.h5" --out "$dir/bad.h5"
    once "no foreground pixel"
    expect_exit 2 "$sfb" attribution "${common[@]}" --masks "$dir/mgood.h5" --out "$dir/bad.h5"
    once "is not png:DIR or h5:FILE"
    [ ! -e "$dir/bad.h5" ] && [ -z "$(ls "$dir" | grep '^bad\.h5.*\.partial')" ] || fail "a failed run left a result file" ;;
  own-model)
    # README "Evaluate your own model", run as written: the commands of its bash block in a
    # scratch folder, with cifar10:DIR -> synthetic-shapes:12 and the attacks' and training's
    # sizes cut. The weights: a RobustBench PreActResNet-18 (the robustbench wheel's resnet.py,
    # PreActBlockV2, bn_before_fc) saved with torch.save(model.state_dict()).
    repo=$(cd "$(dirname "$0")/../.." && pwd)
    "${SFB_PYTHON:-python3}" - "$dir/my_state_dict.pt" <<'PY' || fail "could not write the state_dict"
import importlib.util, os, sys
import torch
spec = importlib.util.find_spec("robustbench")
path = os.path.join(spec.submodule_search_locations[0], "model_zoo", "architectures", "resnet.py")
s = importlib.util.spec_from_file_location("rb_resnet", path)
m = importlib.util.module_from_spec(s)
s.loader.exec_module(m)
torch.manual_seed(1)
net = m.PreActResNet(m.PreActBlockV2, [2, 2, 2, 2], bn_before_fc=True)
torch.save(net.state_dict(), sys.argv[1])
PY
    "${SFB_PYTHON:-python3}" - "$repo/README.md" >"$dir/cmds" <<'PY' || fail "no README block"
import sys
block = open(sys.argv[1]).read().split("## Evaluate your own model", 1)[1]
block = block.split("```bash\n", 1)[1].split("```", 1)[0]
cmd = ""
for line in block.splitlines():
    if line.startswith("#") or not line.strip():
        continue
    if line.endswith("\\"):
        cmd += line[:-1]
        continue
    print(cmd + line)
    cmd = ""
PY
    [ "$(wc -l <"$dir/cmds")" -eq 7 ] || fail "the README block has other commands: $(cat "$dir/cmds")"
    cd "$dir" || fail "no scratch folder"
    while IFS= read -r c; do
      c=${c//cifar10:DIR/synthetic-shapes:12}
      c=${c//build\/sfbench/$sfb}
      c=${c//mpirun -np 2/$mpi -np 2}
      c=${c//configs\//$repo/configs/}
      c=${c//fgsm,pgd,autoattack/fgsm,pgd:steps=2,autoattack:steps=2:queries=10}
      case $c in
        *" train "*) c="$c --set train.epochs=1 --set train.batch_size=6 --set train.attack_steps=2" ;;
        *" attribution "*) c="$c --steps 2 --maps 8" ;;
      esac
      eval "expect_exit 0 $c" </dev/null  # mpirun would read the rest of the list
      case $c in
        *" info "*) grep -q "read as RobustBench .*resnet.py PreActResNet" "$dir/err" \
          || fail "info did not name the layout" ;;
      esac
    done <"$dir/cmds"
    grep -q "^| zoo:preact-resnet-18@my_state_dict.pt | " "$dir/out" \
      && grep -q "^| checkpoint:mine-ft.ckpt | " "$dir/out" || fail "compare lacks a model"
    for r in mine-sf mine-eval mine-att mine-ft mine-ft-eval; do
      expect_exit 0 "$sfb" validate "$r.h5" "$r.json"
    done
    [ -f mine-ft.ckpt ] || fail "the fine-tune wrote no checkpoint"
    "${SFB_PYTHON:-python3}" - <<'PY' || fail "the runs did not use the state_dict's weights"
import hashlib, json
sha = hashlib.sha256(open("my_state_dict.pt", "rb").read()).hexdigest()
for r in ("mine-sf", "mine-eval", "mine-att", "mine-ft"):
    assert json.load(open(r + ".json"))["model"]["sha256"] == sha, r
PY
    ;;
  own-torchscript)
    # Your own PyTorch code through TorchScript (issue 20 items 2 and 5): a RobustBench
    # PreActResNet-18 state_dict exported with scripts/export-model (protocol 2), then info, all
    # nine attribution methods at 2 ranks, an SF-regularized PGD-AT fine-tune at 1 and 2 ranks that
    # matches the native model's fine-tune of the same state_dict, the fine-tuned file in eval and
    # in Python's torch.jit.load; a protocol-1 file refuses guided backprop before any file exists.
    repo=$(cd "$(dirname "$0")/../.." && pwd)
    cd "$dir" || fail "no scratch folder"
    cat >mynet.py <<'PY'
import importlib.util, os
spec = importlib.util.find_spec("robustbench")
path = os.path.join(spec.submodule_search_locations[0], "model_zoo", "architectures", "resnet.py")
s = importlib.util.spec_from_file_location("rb_resnet", path)
resnet = importlib.util.module_from_spec(s)
s.loader.exec_module(resnet)


def build():
    return resnet.PreActResNet(resnet.PreActBlockV2, [2, 2, 2, 2], bn_before_fc=True)


def build_pooled():  # ends in an nn.AdaptiveAvgPool2d module, a tap with a 1x1 output
    import torch.nn as nn
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(),
                         nn.Conv2d(8, 8, 3, stride=2, padding=1), nn.ReLU(),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 10))


if __name__ == "__main__":  # the user's own weights: a random initialisation here
    import torch
    torch.manual_seed(1)
    torch.save(build().state_dict(), "my_state_dict.pt")
PY
    "${SFB_PYTHON:-python3}" mynet.py || fail "could not write the state_dict"
    expect_exit 0 "$repo/scripts/export-model" --model mynet:build --weights my_state_dict.pt \
      --input-shape 3 32 32 --out mine.pt
    expect_exit 0 "$sfb" info --json --data synthetic-shapes:12 --model torchscript:mine.pt
    cp "$dir/out" info.json
    "${SFB_PYTHON:-python3}" - "$dir/out" <<'PY' || fail "info does not list what the file offers"
import hashlib, json, sys
m = json.load(open(sys.argv[1]))["model"]
sha = hashlib.sha256(open("my_state_dict.pt", "rb").read()).hexdigest()
assert m["protocol"] == 2 and m["switchable_relus"] >= 17, m
assert "layer4" in m["layers"] and m["layers"][-1] == "features", m["layers"]
assert m["export"]["weights_sha256"] == sha, m["export"]
PY
    all9='["saliency","integrated-gradients","smoothgrad","gradient-shap","input-x-gradient",'
    all9+='"guided-backprop","grad-cam","guided-grad-cam","layer-integrated-gradients"]'
    expect_exit 0 $mpi -np 2 "$sfb" attribution --data synthetic-shapes:12 \
      --model torchscript:mine.pt --methods "$all9" --steps 2 --maps 4 --out ts-att.h5 </dev/null
    expect_exit 0 "$sfb" validate ts-att.h5 ts-att.json
    "${SFB_PYTHON:-python3}" - info.json <<'PY' || fail "Grad-CAM's default layer is not the feature map"
import json, sys
import h5py, numpy as np
fm = json.load(open(sys.argv[1]))["model"]["export"]["feature_map"]  # the export's own choice
with h5py.File("ts-att.h5") as f:
    a = f["/attribution"].attrs
    assert a["layer"] == fm and a["ig_layer"] == fm, (a["layer"], a["ig_layer"], fm)
    for m in ["grad-cam", "guided-grad-cam", "layer-integrated-gradients"]:
        maps = f["/attribution/maps/" + m][()]
        spread = maps.reshape(len(maps), -1).std(1)
        assert (spread > 0).all(), (m, spread)  # a 1x1 layer gives constant maps
PY
    # A model whose last tap before the features is a global pool: the default layer skips it.
    expect_exit 0 "$repo/scripts/export-model" --model mynet:build_pooled --random-init \
      --input-shape 3 32 32 --out pooled.pt
    expect_exit 0 "$sfb" info --json --data synthetic-shapes:4 --model torchscript:pooled.pt
    cp "$dir/out" info-pooled.json
    expect_exit 0 "$sfb" attribution --data synthetic-shapes:4 --model torchscript:pooled.pt \
      --methods '["grad-cam","layer-integrated-gradients"]' --steps 2 --maps 4 --out pooled-att.h5 \
      </dev/null
    "${SFB_PYTHON:-python3}" - info-pooled.json <<'PY' || fail "Grad-CAM's default layer is the pool"
import json, sys
import h5py
m = json.load(open(sys.argv[1]))["model"]
fm = m["export"]["feature_map"]
assert m["layers"][-2:] == ["4", "features"] and fm == "3", m  # "4" is the pool, [B, 8, 1, 1]
with h5py.File("pooled-att.h5") as f:
    a = f["/attribution"].attrs
    assert a["layer"] == fm and a["ig_layer"] == fm, (a["layer"], a["ig_layer"], fm, m["layers"])
    for k in ["grad-cam", "layer-integrated-gradients"]:
        maps = f["/attribution/maps/" + k][()]
        assert (maps.reshape(len(maps), -1).std(1) > 0).all(), k
PY
    ft=(--data synthetic-shapes:12 --set train.loss=\"pgd-at\" --set train.sf_lambda=0.1
        --set train.epochs=1 --set train.batch_size=6 --set train.attack_steps=2)
    for np in 1 2; do
      expect_exit 0 $mpi -np $np "$sfb" train --model torchscript:mine.pt "${ft[@]}" \
        --out ts-ft$np.h5 </dev/null
      grep -q "evaluate it with --model torchscript:ts-ft$np.ckpt" "$dir/out" \
        || fail "train does not say how to load its result"
      expect_exit 0 "$sfb" validate ts-ft$np.h5 ts-ft$np.json
    done
    expect_exit 0 $mpi -np 2 "$sfb" train --model zoo:preact-resnet-18@my_state_dict.pt "${ft[@]}" \
      --out native-ft2.h5 </dev/null
    "${SFB_PYTHON:-python3}" - <<'PY' || fail "the TorchScript fine-tune differs from the native one"
import json
import h5py, torch
t, n = (json.load(open(f + ".json"))["train"] for f in ("ts-ft2", "native-ft2"))
assert t["final_terms"].keys() == n["final_terms"].keys()
for k, v in n["final_terms"].items():
    assert abs(t["final_terms"][k] - v) <= 1e-4 * max(1.0, abs(v)), (k, t["final_terms"][k], v)
assert abs(t["final_accuracy"] - n["final_accuracy"]) < 1e-9, (t, n)
assert t["final_terms"]["sf"] > 0, t
m = torch.jit.load("ts-ft2.ckpt").eval()
x = torch.rand(2, 3, 32, 32)
assert m(x).shape == (2, 10) and torch.allclose(m(x), m.head(m.features(x)), atol=1e-5)
PY
    expect_exit 0 $mpi -np 2 "$sfb" eval --data synthetic-shapes:12 --model torchscript:ts-ft2.ckpt \
      --attacks fgsm --bootstrap 10 --out ts-ft2-eval.h5 </dev/null
    "${SFB_PYTHON:-python3}" "$repo/tests/unit/torchscript_models.py" --protocol-one p1.pt \
      || fail "could not write a protocol-1 file"
    expect_exit 2 $mpi -np 2 "$sfb" attribution --data synthetic-shapes:12 --model torchscript:p1.pt \
      --methods '["saliency","guided-backprop"]' --out p1-att.h5 </dev/null
    once "p1.pt: cannot run guided backprop"
    ls p1-att* >/dev/null 2>&1 && fail "a refused run left a file: $(ls p1-att*)"
    ;;
  precision)
    # --precision and --channels-last (issue 10 item 2; the CPU side): the same SF stage under
    # fp32, bf16 autocast, channels-last weights and tf32 (a CUDA mode: fp32 on CPUs).
    sfa=(sf --data synthetic-shapes:48 --model zoo:cnn-small --batch-size 16 --bootstrap 20)
    # channels_last: auto (the default) is NHWC on a CPU rank; false is NCHW; a TOML boolean is
    # taken; any other value is refused.
    expect_exit 0 "$sfb" "${sfa[@]}" --set channels_last=false --out "$dir/p32.h5"
    expect_exit 0 "$sfb" "${sfa[@]}" --out "$dir/pauto.h5"
    printf 'channels_last = false\n' >"$dir/cl.toml"
    expect_exit 0 "$sfb" "${sfa[@]}" --config "$dir/cl.toml" --out "$dir/pcf.h5"
    expect_exit 2 "$sfb" "${sfa[@]}" --set channels_last=maybe --out "$dir/pbad.h5"
    once "config key 'channels_last'"
    expect_exit 0 "$sfb" "${sfa[@]}" --precision bf16 --out "$dir/pbf.h5"
    expect_exit 0 $mpi -np 2 "$sfb" "${sfa[@]}" --channels-last --out "$dir/pcl.h5"
    expect_exit 0 "$sfb" "${sfa[@]}" --precision tf32 --out "$dir/ptf.h5"
    expect_exit 0 "$sfb" validate "$dir/pbf.h5" "$dir/pbf.json"
    "${SFB_PYTHON:-python3}" - "$dir" <<'PY' || fail "precision results wrong"
import json, sys
import h5py
d = sys.argv[1]
def sf(name):
    f = h5py.File(d + "/" + name + ".h5")
    return float(f["/sf/value"][()]), f["/provenance"].attrs, json.load(open(d + "/" + name + ".json"))["provenance"]
v32, a32, _ = sf("p32")
vbf, abf, jbf = sf("pbf")
vcl, acl, _ = sf("pcl")
vtf, atf, _ = sf("ptf")
assert a32["precision"] == "fp32" and a32["channels_last"] == 0
vau, aau, jau = sf("pauto")
assert aau["channels_last"] == 1 and jau["channels_last"] == 1, "auto is NHWC on a CPU rank"
assert sf("pcf")[1]["channels_last"] == 0, "channels_last = false in a TOML file"
assert abs(vau - v32) < 1e-5 * abs(v32), (vau, v32)
assert abf["precision"] == "bf16 (autocast on cpu)" and jbf["precision"] == abf["precision"]
assert acl["channels_last"] == 1 and atf["precision"].startswith("tf32 requested; fp32 on cpu")
# bf16 rounds the convolutions (8-bit mantissa): a different but close value
assert vbf != v32 and abs(vbf - v32) < 0.05 * abs(v32), (vbf, v32)
# NHWC changes only the memory order (and the 2-rank reduction order), TF32 nothing on a CPU
assert abs(vcl - v32) < 1e-5 * abs(v32), (vcl, v32)
assert vtf == vau, (vtf, vau)  # both NHWC (auto on a CPU rank)
PY
    # The other stages run under bf16 autocast too: their numbers move (bf16 keeps 8 mantissa bits,
    # ~0.4 % per rounding) but stay within a bound of the fp32 run's. Attack: CW-L2's minimal L2
    # norms of the attacked samples it found (50 steps per binary-search step, 4 search steps from
    # c = 0.1, keep bf16 on a CPU short);
    # attribution: per-image Gini of saliency and IG; train: the epoch's loss terms.
    for p in fp32 bf16; do
      expect_exit 0 "$sfb" attack --data synthetic-shapes:64 --model zoo:cnn-small --attacks cw-l2:steps=50:binary_steps=4:initial_const=0.1 --eps 8/255 \
        --precision $p --out "$dir/pa_$p.h5"
      expect_exit 0 "$sfb" attribution --data synthetic-shapes:8 --model zoo:cnn-small --steps 4 --precision $p \
        --occlusion-colors '[]' --out "$dir/pt_$p.h5"
      expect_exit 0 "$sfb" train --data synthetic-shapes:64 --model zoo:cnn-small --batch-size 16 --set train.epochs=1 \
        --set train.lr=0.01 --set train.sf_lambda=1 --precision $p --channels-last --out "$dir/ptr_$p.h5"
    done
    "${SFB_PYTHON:-python3}" - "$dir" <<'PY' || fail "bf16 attack/attribution/train numbers"
import sys
import h5py, numpy as np
d = sys.argv[1]
def h5(name, p):
    return h5py.File(f"{d}/{name}_{p}.h5", "r")
a, b = h5("pa", "fp32"), h5("pa", "bf16")
c = a["/samples/correct"][:].astype(bool)
assert c.sum() >= 3 and (b["/samples/correct"][:].astype(bool) == c).all(), c.sum()
k = "/attacks/cw-l2_steps-50_binary_steps-4_initial_const-0.1/norm"
na, nb = a[k][:][c], b[k][:][c]
found = np.isfinite(na) & np.isfinite(nb)  # inf: no adversarial example found
assert found.sum() >= 3, (na, nb)
rel = np.abs(nb - na)[found] / na[found]
assert (rel > 0).any(), ("bf16 did not change CW-L2's norms", na, nb)
assert rel.max() < 0.1, ("bf16 moved CW-L2's norms too far", na, nb)
a, b = h5("pt", "fp32"), h5("pt", "bf16")
for m in ("saliency", "integrated-gradients"):
    ga, gb = a[f"/attribution/{m}/gini"][:], b[f"/attribution/{m}/gini"][:]
    assert (ga != gb).any(), ("bf16 did not change the Gini of", m)
    assert np.abs(ga - gb).max() < 0.05, (m, ga, gb)
a, b = h5("ptr", "fp32"), h5("ptr", "bf16")
for t in ("ce", "sf", "total"):
    ta, tb = a[f"/train/epoch/{t}"][:], b[f"/train/epoch/{t}"][:]
    assert (ta != tb).any(), ("bf16 did not change the training term", t)
    assert (np.abs(tb - ta) <= 0.02 * np.abs(ta)).all(), (t, ta, tb)
assert a["/provenance"].attrs["precision"] == "fp32" and b["/provenance"].attrs["precision"].startswith("bf16")
PY
    expect_exit 2 "$sfb" "${sfa[@]}" --precision fp16 --out "$dir/bad.h5"
    once "precision"
    [ ! -e "$dir/bad.h5" ] || fail "a failed run left a result file" ;;
  *) echo "unknown case $case_name"; exit 2 ;;
esac
echo "cli $case_name: 1 passed, 0 failed"
