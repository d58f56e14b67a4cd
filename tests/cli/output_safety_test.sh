#!/usr/bin/env bash
# How sfbench writes its results, under misuse and faults (issue 22, items 1-4 and 7):
#   concurrent  a second run with the same --out is refused at once (exit 2, one line naming the
#               file and the other run) and writes nothing; a lock dies with its holder
#   symlinks    symbolic links at the old fixed temporary names are never followed
#   siblings    a foreign file where sfbench would write a summary, checkpoint or figure is refused
#               before any work (exit 2, naming it), like a foreign .h5
#   long-paths  a 240-byte file name and a path over 256 bytes work on 2 ranks
#   disk-full   a full file system: one error line naming the file and "No space left on device",
#               exit 3, the earlier result intact, nothing half-written left (needs root for a
#               small tmpfs; exit 77 = skipped otherwise)
# usage: output_safety_test.sh CASE  (env: SFBENCH, MPIEXEC, RESULTS_WRITER)
set -u
case_name=$1
sfb=${SFBENCH:?}
writer=${RESULTS_WRITER:?}
mpi=("${MPIEXEC:?}" --oversubscribe)
unset OMPI_MCA_sharedfp  # what sfbench chooses by itself is tested
dir=$(mktemp -d)
mnt=""
holder=""
cleanup() {
  if [ -n "$holder" ] && kill -0 "$holder" 2>/dev/null; then
    touch "$dir/release"  # a holding run left by a failed check ends instead of waiting forever
    sleep 1
    kill "$holder" 2>/dev/null
    wait "$holder" 2>/dev/null
  fi
  if [ -n "$mnt" ]; then
    # The ranks' processes may take a moment to let go of the file system.
    for _ in 1 2 3 4 5; do umount "$mnt" 2>/dev/null && break; sleep 1; done
    mountpoint -q "$mnt" && umount -l "$mnt"
  fi
  rm -rf "$dir"
}
trap cleanup EXIT
fail() {
  echo "FAIL [$case_name]: $*"
  [ -f "$dir/err" ] && sed 's/^/  stderr: /' "$dir/err"
  exit 1
}
# expect_exit CODE CMD...: runs CMD, stdout -> $dir/out, stderr -> $dir/err
expect_exit() {
  local want=$1
  shift
  "$@" >"$dir/out" 2>"$dir/err"
  local rc=$?
  [ "$rc" -eq "$want" ] || fail "exit $rc, expected $want: $*"
}
# one_error PATTERN...: stderr has exactly one "error:" line, and it matches every PATTERN
one_error() {
  local n line p
  n=$(grep -c "error:" "$dir/err")
  [ "$n" -eq 1 ] || fail "expected one error line, found $n"
  line=$(grep "error:" "$dir/err")
  for p in "$@"; do
    grep -q -- "$p" <<<"$line" || fail "the error line does not say '$p': $line"
  done
}
sum() { sha256sum "$1" | cut -d' ' -f1; }
run_id_h5() { h5dump -a /run_id "$1" | grep -o '"[0-9a-f]\{12\}"' | tr -d '"'; }
json_key() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$1" "$2"; }
no_partials() {
  local left
  left=$(find "$1" -maxdepth 1 -name '*.partial*')
  [ -z "$left" ] || fail "temporary files left behind: $left"
}
# Everything in $dir but the captured output of the last command.
listing() { find "$dir" -mindepth 1 -maxdepth 1 ! -name out ! -name err | sort; }
sf=("$sfb" sf --data synthetic-shapes:16 --model zoo:cnn-small --bootstrap 0)

case $case_name in
  concurrent)
    out=$dir/conc.h5
    # A run that holds conc.h5 (the results writer waits, lock held, until told to finish).
    "${mpi[@]}" -np 2 "$writer" "$out" 111 hold "$dir" >"$dir/holder.log" 2>&1 &
    holder=$!
    for _ in $(seq 600); do [ -e "$dir/ready" ] && break; sleep 0.1; done
    [ -e "$dir/ready" ] || fail "the holding run never got going: $(cat "$dir/holder.log")"
    before=$(listing)
    for np in 1 2; do
      expect_exit 2 "${mpi[@]}" -np $np "${sf[@]}" --seed 2 --out "$out"
      one_error "conc.h5" "being written by another sfbench run" "pid $(tr -d '\n' <"$dir/ready")"
      [ "$(listing)" = "$before" ] ||
        fail "the refused run ($np ranks) wrote something: $(listing)"
    done
    touch "$dir/release"
    wait $holder || fail "the holding run failed: $(cat "$dir/holder.log")"
    # The pair is the holder's alone: same run id in the file and the summary, its marker.
    [ "$(run_id_h5 "$out")" = "$(json_key "$dir/conc.json" run_id)" ] || fail "mixed pair"
    h5dump -d /marker "$out" | grep -q "111" || fail "the result is not the holder's"
    expect_exit 0 "$sfb" validate "$out" "$dir/conc.json"
    # Released at exit: the next run goes ahead and writes its own pair.
    expect_exit 0 "${mpi[@]}" -np 2 "${sf[@]}" --seed 2 --out "$out"
    [ "$(run_id_h5 "$out")" = "$(json_key "$dir/conc.json" run_id)" ] || fail "mixed pair"
    [ "$(json_key "$dir/conc.json" seed)" = 2 ] || fail "the summary is not the seed-2 run's"
    # A holder killed with SIGKILL leaves no lock behind that blocks the next run.
    rm -f "$dir/ready" "$dir/release"
    "${mpi[@]}" -np 2 "$writer" "$out" 222 hold "$dir" >"$dir/holder.log" 2>&1 &
    holder=$!
    for _ in $(seq 600); do [ -e "$dir/ready" ] && break; sleep 0.1; done
    [ -e "$dir/ready" ] || fail "the second holding run never got going"
    kill -9 "$(cat "$dir/ready")"
    wait $holder && fail "the killed holder exited 0"
    expect_exit 0 "${sf[@]}" --seed 3 --out "$out"
    [ "$(json_key "$dir/conc.json" seed)" = 3 ] || fail "the run after the crash did not write"
    no_partials "$dir"
    echo "concurrent: passed" ;;

  symlinks)
    printf 'precious\n' >"$dir/target"
    want=$(sum "$dir/target")
    # The names sfbench used to write through: <out>.partial and <stem>.json.partial.
    ln -s target "$dir/r.h5.partial"
    ln -s target "$dir/r.json.partial"
    ln -s target "$dir/t.ckpt.partial"
    expect_exit 0 "${mpi[@]}" -np 2 "${sf[@]}" --out "$dir/r.h5"
    expect_exit 0 "$sfb" train --data synthetic-shapes:16 --model zoo:cnn-small --epochs 1 \
      --batch-size 8 --out "$dir/t.h5"
    [ "$(sum "$dir/target")" = "$want" ] || fail "a symlink's target was overwritten"
    for f in r.h5 r.json t.ckpt; do
      [ -f "$dir/$f" ] && [ ! -L "$dir/$f" ] || fail "$f is not a regular file"
    done
    expect_exit 0 "$sfb" validate "$dir/r.h5" "$dir/r.json"
    # A symlink at a final name is judged by what it points to: a foreign file is refused.
    ln -s target "$dir/u.json"
    expect_exit 2 "${sf[@]}" --out "$dir/u.h5"
    one_error "u.json" "not sfbench's JSON summary"
    [ "$(sum "$dir/target")" = "$want" ] && [ ! -e "$dir/u.h5" ] || fail "u.h5 run wrote"
    echo "symlinks: passed" ;;

  siblings)
    printf '{"mine": 1}\n' >"$dir/r.json"
    printf 'my notes\n' >"$dir/t.ckpt"
    printf 'not a montage\n' >"$dir/a.montage.png"
    printf '<svg xmlns="http://www.w3.org/2000/svg"/>\n' >"$dir/i.interactions_D.svg"
    printf 'my notes\n' >"$dir/k.checkpoint.h5"
    for f in r.json t.ckpt a.montage.png i.interactions_D.svg k.checkpoint.h5; do
      cp "$dir/$f" "$dir/$f.orig"
    done
    expect_exit 2 "${mpi[@]}" -np 2 "${sf[@]}" --out "$dir/r.h5"
    one_error "'$dir/r.json' exists and is not sfbench's JSON summary" "refusing to overwrite"
    expect_exit 2 "$sfb" train --data synthetic-shapes:16 --model zoo:cnn-small --epochs 1 \
      --out "$dir/t.h5"
    one_error "'$dir/t.ckpt' exists and is not sfbench's training checkpoint"
    expect_exit 2 "$sfb" attribution --data synthetic-shapes:8 --model zoo:cnn-small \
      --methods '["saliency"]' --out "$dir/a.h5"
    one_error "'$dir/a.montage.png' exists and is not sfbench's attribution montage"
    expect_exit 2 "$sfb" interactions --data synthetic-shapes:4 --model zoo:cnn-small --grid 4 \
      --pairs 2 --contexts 2 --out "$dir/i.h5"
    one_error "'$dir/i.interactions_D.svg' exists and is not sfbench's interactions figure"
    expect_exit 2 "$sfb" attack --data synthetic-shapes:8 --model zoo:cnn-small --attacks fgsm \
      --out "$dir/k.h5"
    one_error "'$dir/k.checkpoint.h5' exists and is not sfbench's attack checkpoint"
    for f in r.json t.ckpt a.montage.png i.interactions_D.svg k.checkpoint.h5; do
      cmp -s "$dir/$f" "$dir/$f.orig" || fail "$f was modified"
    done
    for f in r t a i k; do [ ! -e "$dir/$f.h5" ] || fail "a refused run wrote $f.h5"; done
    # sfbench's own files of an earlier run are replaced.
    rm "$dir/r.json" "$dir/t.ckpt"
    expect_exit 0 "${sf[@]}" --out "$dir/r.h5"
    first=$(json_key "$dir/r.json" run_id)
    expect_exit 0 "${sf[@]}" --out "$dir/r.h5"
    [ "$(json_key "$dir/r.json" run_id)" != "$first" ] || fail "the summary was not replaced"
    [ "$(run_id_h5 "$dir/r.h5")" = "$(json_key "$dir/r.json" run_id)" ] || fail "mixed pair"
    # compare --out-dir names its model_info files after the stem: r.json is r.h5's summary.
    cp "$dir/r.json" "$dir/r.json.orig"
    expect_exit 2 "$sfb" compare "$dir/r.h5" --out-dir "$dir"
    one_error "'$dir/r.json' exists and is not sfbench's RobustBench model_info"
    cmp -s "$dir/r.json" "$dir/r.json.orig" || fail "compare --out-dir replaced the summary"
    mkdir "$dir/infos"
    expect_exit 0 "$sfb" compare "$dir/r.h5" --out-dir "$dir/infos"
    expect_exit 0 "$sfb" compare "$dir/r.h5" --out-dir "$dir/infos"  # its own file is replaced
    [ "$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["name"])' "$dir/infos/r.json")" = r ] ||
      fail "no model_info written"
    for _ in 1 2; do
      expect_exit 0 "$sfb" train --data synthetic-shapes:16 --model zoo:cnn-small --epochs 1 \
        --batch-size 8 --out "$dir/t.h5"
    done
    echo "siblings: passed" ;;

  long-paths)
    # 240 bytes: Open MPI's 'lockedfile' component overflowed a 256-byte buffer on this path.
    name=$(printf 'n%.0s' $(seq 237)).h5
    expect_exit 0 "${mpi[@]}" -np 2 "${sf[@]}" --out "$dir/$name"
    expect_exit 0 "$sfb" validate "$dir/$name" "$dir/${name%.h5}.json"
    # A directory path over 256 bytes with a short name.
    deep=$dir/$(printf 'd%.0s' $(seq 120))/$(printf 'e%.0s' $(seq 120))
    mkdir -p "$deep"
    expect_exit 0 "${mpi[@]}" -np 2 "${sf[@]}" --out "$deep/r.h5"
    expect_exit 0 "$sfb" validate "$deep/r.h5" "$deep/r.json"
    no_partials "$dir"
    no_partials "$deep"
    # A name whose summary would not fit the file system is refused before any work.
    long=$(printf 'm%.0s' $(seq 252)).h5
    expect_exit 2 "${mpi[@]}" -np 2 "${sf[@]}" --out "$dir/$long"
    one_error "${long%.h5}.json" "JSON summary" "its file system allows at most"
    echo "long-paths: passed" ;;

  disk-full)
    mnt=$dir/small
    mkdir -p "$mnt"
    if ! mount -t tmpfs -o size=200k tmpfs "$mnt" 2>/dev/null; then
      mnt=""
      echo "disk-full: skipped (cannot mount a tmpfs here)"
      exit 77
    fi
    # An earlier complete result, then a file system filled up to ~60 KiB free.
    expect_exit 0 "${sf[@]}" --out "$mnt/r.h5"
    h5=$(sum "$mnt/r.h5")
    js=$(sum "$mnt/r.json")
    head -c 100k /dev/zero >"$mnt/fill" 2>/dev/null
    # --save-per-sample of 256 samples needs 256 x 128 float32 = 128 KiB more than fits.
    for np in 1 2; do
      expect_exit 3 "${mpi[@]}" -np $np "$sfb" sf --data synthetic-shapes:256 --model zoo:cnn-small \
        --bootstrap 0 --save-per-sample --out "$mnt/r.h5"
      one_error "results file '$mnt/r.h5'" "No space left on device" "nothing was replaced"
      grep -q "H5D__\|H5FD_" "$dir/err" && fail "HDF5's raw error stack was printed"
      [ "$(sum "$mnt/r.h5")" = "$h5" ] && [ "$(sum "$mnt/r.json")" = "$js" ] ||
        fail "the earlier result was modified ($np ranks)"
      expect_exit 0 "$sfb" validate "$mnt/r.h5" "$mnt/r.json"
      no_partials "$mnt"
    done
    echo "disk-full: passed" ;;

  *)
    echo "unknown case $case_name"
    exit 2 ;;
esac
