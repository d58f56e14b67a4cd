#!/usr/bin/env bash
# One command from a clean clone on Debian 12: install dependencies, build, and run the main job on
# built-in data under `mpirun -np 2`, ending with its results table. Results go to runs/quickstart/.
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

echo "== sfbench info: versions, hosts, each rank's device and communicator, the built-in data and a zoo model"
"${mpirun[@]}" "$sfbench" info --data synthetic-shapes:10000 --model zoo:cnn-small
echo
echo "== sfbench commbench: all-reduce sweep over the ranks (results in $out/commbench.h5)"
"${mpirun[@]}" "$sfbench" commbench --config configs/quickstart.toml --out "$out/commbench.h5"
echo
echo "== sfbench sf: SF robustness of zoo:cnn-small on the built-in training split (results in $out/sf.h5)"
echo "   (the model is randomly initialised until training lands; the numbers show the pipeline, not a claim)"
"${mpirun[@]}" "$sfbench" sf --config configs/quickstart.toml --out "$out/sf.h5"
echo
echo "== sfbench validate: the results files and their summaries against results_schema/"
"$sfbench" validate "$out/commbench.h5" "$out/commbench.json" "$out/sf.h5" "$out/sf.json"
