#!/usr/bin/env bash
# Benchmark records of the real sfbench binary: every summary (sf, attack, eval, train) carries the
# system block, wall time, Slurm job id and per-stage bytes communicated, and validates against
# results_schema/ (a summary without "system" does not); `compare --format robustbench` and
# `--out-dir` give RobustBench model_info objects whose fields match the results files.
# usage: records_test.sh   (env: SFBENCH, MPIEXEC, SFB_PYTHON)
set -u
sfb=${SFBENCH:?}
mpi="${MPIEXEC:?} --oversubscribe"
py=${SFB_PYTHON:-python3}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
fail() { echo "FAIL [records]: $*"; [ -f "$dir/err" ] && sed 's/^/  stderr: /' "$dir/err"; exit 1; }
expect_exit() {
  local want=$1; shift
  "$@" >"$dir/out" 2>"$dir/err"
  local rc=$?
  [ "$rc" -eq "$want" ] || fail "exit $rc, expected $want: $*"
}

common=(--data synthetic-shapes:32 --model zoo:cnn-small --batch-size 16)
expect_exit 0 "$sfb" sf "${common[@]}" --out "$dir/sf.h5"
expect_exit 0 $mpi -np 2 "$sfb" attack "${common[@]}" --attacks fgsm,pgd:steps=2 --out "$dir/at.h5"
expect_exit 0 $mpi -np 2 "$sfb" eval "${common[@]}" --eps 4/255 \
  --attacks fgsm,autoattack:steps=2:queries=5 --out "$dir/ev.h5"
expect_exit 0 $mpi -np 2 "$sfb" train "${common[@]}" --epochs 1 --out "$dir/tr.h5"
expect_exit 0 "$sfb" validate "$dir/sf.json" "$dir/at.json" "$dir/ev.json" "$dir/tr.json"

SLURM_JOB_ID=4242 expect_exit 0 "$sfb" sf "${common[@]}" --out "$dir/slurm.h5"
"$py" - "$dir" <<'PY' || fail "summaries lack the system block, per-stage traffic or device time"
import json, os, sys
import h5py
d = sys.argv[1]
stages = {"sf": ["sf"], "at": ["attacks"], "ev": ["sf", "attacks"], "tr": ["train"]}
for name, ranks in [("sf", 1), ("at", 2), ("ev", 2), ("tr", 2)]:
    s = json.load(open(os.path.join(d, name + ".json")))
    sy = s["system"]
    assert sy["world_size"] == s["world_size"] == ranks, name
    assert len(sy["gpu_models"]) == ranks and sy["num_hosts"] == len(sy["hosts"]) >= 1, name
    assert sy["cpu_model"] == s["provenance"]["cpu_model"] and sy["cpu_cores"] >= 1, name
    assert sy["gpus_per_node"] >= 0 and sy["ranks_per_node"] >= 1 and sy["interconnect"], name
    assert s["slurm_job_id"] == sy["slurm_job_id"] == "", name
    assert s["wall_time_s"] > 0 and len(s["config_sha256"]) == 64 and s["seed"] == 0, name
    assert len(s["dataset"]["sha256"]) == 64 and len(s["model"]["sha256"]) == 64, name
    for st in stages[name]:
        t = s["timing"][st]
        assert t["seconds"] >= 0 and t["bytes_communicated"] > 0 and t["collectives"] > 0, (name, st)
        assert t["bytes_communicated_all_ranks"] >= t["bytes_communicated"], (name, st)
        # schema_version 2: one timing record with the same keys for every stage
        assert s["schema_version"] == 2, name
        assert t["unit"] and t["items"] > 0, (name, st, t)
        assert abs(t["items_per_s"] - t["items"] / t["seconds"]) <= 1e-9 * t["items_per_s"], (name, st, t)
        # The stage's device time (DeviceClock; the steady clock around each batch on a CPU):
        # inside the stage's wall time, and the same number in the results file's /timing.
        assert 0 < t["device_seconds"] <= t["seconds"] + 0.05, (name, st, t)
        with h5py.File(os.path.join(d, name + ".h5"), "r") as f:
            assert f["/timing"].attrs[st + "_device_seconds"] == t["device_seconds"], (name, st)
            for k in ("seconds", "items", "items_per_s"):
                assert f["/timing"].attrs[st + "_" + k] == t[k], (name, st, k)
            assert f["/timing"].attrs[st + "_unit"] == t["unit"], (name, st)
assert json.load(open(os.path.join(d, "slurm.json")))["system"]["slurm_job_id"] == "4242"
# The schema requires the system block: a summary without it is invalid.
s = json.load(open(os.path.join(d, "sf.json")))
del s["system"]
json.dump(s, open(os.path.join(d, "nosystem.json"), "w"))
PY
expect_exit 2 "$sfb" validate "$dir/nosystem.json"
grep -q "system" "$dir/out" || fail "validate did not name the missing system block"

mkdir "$dir/mi"
expect_exit 0 "$sfb" compare --format robustbench --out-dir "$dir/mi" "$dir/at.h5" "$dir/ev.h5"
cp "$dir/out" "$dir/rb.json"
"$py" - "$dir" <<'PY' || fail "RobustBench model_info does not match the results files"
import json, os, sys
import h5py
d = sys.argv[1]
printed = json.load(open(os.path.join(d, "rb.json")))
assert [m["name"] for m in printed] == ["at", "ev"]
for m in printed:
    assert json.load(open(os.path.join(d, "mi", m["name"] + ".json"))) == m, m["name"]
    f = h5py.File(os.path.join(d, m["name"] + ".h5"), "r")
    assert m["architecture"] == "cnn-small" and m["dataset"] == "synthetic-shapes"
    assert m["additional_data"] is False and m["number_forward_passes"] is None
    assert m["threat_model"] == "Linf"
    groups = [g for g in f["/attacks"] if g != "worst_case" and isinstance(f["/attacks"][g], h5py.Group)]
    for g in groups:
        a = f["/attacks"][g].attrs
        assert abs(m["sfbench"]["accuracy_drop"][g] - a["accuracy_drop"]) < 1e-12, g
        assert abs(m["sfbench"]["adv_acc"][g] - a["adv_acc"]) < 1e-12, g
        assert m["clean_acc"] == f"{100 * a['clean_acc']:.2f}", (m["clean_acc"], a["clean_acc"])
    sb = m["sfbench"]
    assert sb["git_commit"] == f.attrs["git_commit"] and sb["config_sha256"] == f.attrs["config_sha256"]
    assert sb["n"] == 32 and sb["results_file"].endswith(m["name"] + ".h5")
    if m["name"] == "at":
        assert m["eps"] == "8/255" and m["autoattack_acc"] is None and sb["sf"] is None
    else:
        aa = "autoattack_steps-2_queries-5"
        assert m["eps"] == "4/255" and sb["autoattack_group"] == aa
        assert m["autoattack_acc"] == f"{100 * f['/attacks'][aa].attrs['adv_acc']:.2f}"
        v = f["/sf/value"]
        assert sb["sf"]["value"] == v[()] and sb["sf"]["ci_low"] == v.attrs["ci_low"]
        assert sb["sf"]["ci_high"] == v.attrs["ci_high"]
PY
# Two results files with one stem cannot share an --out-dir.
mkdir "$dir/b" && cp "$dir/at.h5" "$dir/b/at.h5"
expect_exit 2 "$sfb" compare --format robustbench --out-dir "$dir/mi" "$dir/at.h5" "$dir/b/at.h5"
grep -q "two results files are named 'at'" "$dir/err" || fail "no message for a name clash"
echo "cli records: 1 passed, 0 failed"
