#!/usr/bin/env bash
# One command from a clean clone on Debian 12: install dependencies, build, and run the main job on
# built-in data under `mpirun -np 2`: train a small model zoo on synthetic-shapes (standard,
# FGSM-AT, PGD-AT, and PGD-AT + SF fine-tune), evaluate each with SF and attacks on the test split,
# compute attribution maps, Gini, inductive attacks and agreement for the standard and PGD-AT
# models, print the `sfbench compare` tables, and end with the HTML report of every result
# (runs/quickstart/report.html, `sfbench report`). Results go to runs/quickstart/. Training is cached: a
# rerun resumes each model from its checkpoint and skips the finished ones (--resume).
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
scripts/setup-deps.sh
scripts/build.sh >/dev/null
if [[ $(id -u) -eq 0 ]]; then export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1; fi
np=${SFB_NP:-2}
mpirun=(mpirun --oversubscribe -np "$np")
out=runs/quickstart
mkdir -p "$out"
sfbench=build/sfbench
train=(--config configs/quickstart-train.toml)

echo "== sfbench info: versions, hosts, each rank's device and communicator"
"${mpirun[@]}" "$sfbench" info --data synthetic-shapes:3000 --model zoo:cnn-small
echo
echo "== sfbench train: a zoo of cnn-small models on synthetic-shapes (configs/quickstart-train.toml)"
echo "-- standard training, 10 epochs"
"${mpirun[@]}" "$sfbench" train "${train[@]}" --loss standard --epochs 10 --lr 0.05 \
  --out "$out/standard.h5" --resume
echo "-- FGSM-AT (paper 003 Eq. 1, random start, step 10/255): 3 epochs from the standard model"
"${mpirun[@]}" "$sfbench" train "${train[@]}" --model "zoo:cnn-small@$out/standard.ckpt" \
  --loss fgsm-at --epochs 3 --lr 0.01 --set train.fgsm_random_start=true \
  --set train.fgsm_step=step_size --set train.step_size=0.0392156862745098 \
  --out "$out/fgsm-at.h5" --resume
echo "-- PGD-AT (PGD-3, eps 8/255): 3 epochs from the standard model"
"${mpirun[@]}" "$sfbench" train "${train[@]}" --model "zoo:cnn-small@$out/standard.ckpt" \
  --loss pgd-at --epochs 3 --lr 0.01 --out "$out/pgd-at.h5" --resume
echo "-- PGD-AT + lambda*SF (paper 000's fine-tuning, lambda = 1): 2 epochs from the PGD-AT model"
"${mpirun[@]}" "$sfbench" train "${train[@]}" --model "zoo:cnn-small@$out/pgd-at.ckpt" \
  --loss pgd-at --sf-lambda 1 --epochs 2 --lr 0.001 --set train.schedule=constant \
  --out "$out/pgd-at-sf.h5" --resume
echo
echo "== sfbench eval: SF and FGSM/PGD-10 (eps 8/255) for each model, on 1000 test images"
evals=()
for run in standard fgsm-at pgd-at pgd-at-sf; do
  echo "-- $run"
  "${mpirun[@]}" "$sfbench" eval --data synthetic-shapes:1000 --split test \
    --model "zoo:cnn-small@$out/$run.ckpt" --attacks fgsm,pgd --eps 8/255 \
    --out "$out/eval-$run.h5" --log-level warn
  evals+=("$out/eval-$run.h5")
done
echo
echo "== sfbench attribution (papers 002, 003): standard vs PGD-AT on 300 test images"
atts=()
for run in standard pgd-at; do
  echo "-- $run"
  "${mpirun[@]}" "$sfbench" attribution --data synthetic-shapes:300 --split test \
    --model "zoo:cnn-small@$out/$run.ckpt" \
    --set 'attribution.methods=["saliency","integrated-gradients","grad-cam"]' \
    --top-pixels '[51,102]' --out "$out/att-$run.h5" --log-level warn
  atts+=("$out/att-$run.h5")
done
echo
echo "== sfbench validate: every results file and summary against results_schema/"
for f in "$out"/*.h5; do
  [[ $f == *.checkpoint.h5 ]] || "$sfbench" validate "$f" "${f%.h5}.json" >/dev/null
done
echo "all results files valid"
echo
echo "== sfbench compare: the zoo (markdown; --format csv|json also)"
"$sfbench" compare "${evals[@]}" | tee "$out/compare.md"
echo
echo "== sfbench compare: attribution, with the model x model agreement of the saved maps"
"$sfbench" compare "${atts[@]}" | tee "$out/compare-attribution.md"
echo
echo "heat-map montages: $out/att-standard.montage.png $out/att-pgd-at.montage.png"
echo
echo "== sfbench report: one HTML page of every result (leaderboard, figures, provenance)"
results=()
for f in "$out"/*.h5; do
  [[ $f == *.checkpoint.h5 ]] || results+=("$f")
done
"$sfbench" report "${results[@]}" --out "$out/report.html"
echo "open in a browser: $out/report.html"
