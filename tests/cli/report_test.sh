#!/usr/bin/env bash
# `sfbench report` end to end, checked in a real browser (issue 23). Makes small results files of
# three models (two trained for 3 epochs, with eval, attribution and interactions runs of one;
# a randomly initialised third with eval only), writes the report, renders it with headless
# Chromium (screenshot and DOM), and checks: every section and figure is there, the screenshot is
# not blank, and the plotted numbers (the data-* attributes) equal the HDF5 values. Also the
# refusals: a foreign file at --out (also on 2 ranks), an incomplete results file.
# usage: report_test.sh   (env: SFBENCH, MPIEXEC, SFB_PYTHON; exit 77 = skipped: no chromium)
set -u
sfb=${SFBENCH:?}
py=${SFB_PYTHON:?}
mpi="${MPIEXEC:?} --oversubscribe"
chromium=$(command -v chromium || command -v chromium-browser) || {
  echo "SKIP: no chromium (scripts/setup-deps.sh installs it)"
  exit 77
}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
cd "$dir" || exit 1
fail() { echo "FAIL [report]: $*"; [ -f err ] && sed 's/^/  stderr: /' err; exit 1; }
expect_exit() {
  local want=$1; shift
  "$@" >out 2>err
  local rc=$?
  [ "$rc" -eq "$want" ] || fail "exit $rc, expected $want: $*"
}
start=$(date +%s)
q=(--threads 1 --log-level warn)
aa=autoattack:steps=2:queries=10
# Model A: standard training; model B: FGSM-AT; each 3 epochs on 256 images -> a.ckpt, b.ckpt.
expect_exit 0 "$sfb" train "${q[@]}" --data synthetic-shapes:256 --model zoo:cnn-small --epochs 3 \
  --batch-size 32 --lr 0.05 --sf-lambda 0.1 --out a.h5
expect_exit 0 "$sfb" train "${q[@]}" --data synthetic-shapes:256 --model zoo:cnn-small --seed 2 \
  --epochs 3 --batch-size 32 --lr 0.05 --loss fgsm-at --out b.h5
for m in a b; do
  expect_exit 0 "$sfb" eval "${q[@]}" --data synthetic-shapes:32 --split test \
    --model "zoo:cnn-small@$m.ckpt" --bootstrap 20 --attacks "fgsm,$aa" --eps 8/255 --out "eval-$m.h5"
  expect_exit 0 "$sfb" attribution "${q[@]}" --data synthetic-shapes:16 --split test \
    --model "zoo:cnn-small@$m.ckpt" --steps 2 --maps 4 --top-pixels '[8,32]' \
    --set 'attribution.methods=["saliency","grad-cam"]' --out "att-$m.h5"
done
expect_exit 0 "$sfb" interactions "${q[@]}" --data synthetic-shapes:4 --split test \
  --model zoo:cnn-small@a.ckpt --preset quick --grid 4 --pairs 4 --contexts 3 \
  --set interactions.orders=[0.0,0.5,1.0] --set interactions.adv_max_steps=5 --out int-a.h5
# Model C: a randomly initialised cnn-small (eval only): three models give the correlations.
expect_exit 0 "$sfb" eval "${q[@]}" --data synthetic-shapes:32 --split test --model zoo:cnn-small \
  --seed 3 --bootstrap 20 --attacks "fgsm,$aa" --eps 8/255 --out eval-c.h5
made=$(date +%s)

inputs=(a.h5 eval-a.h5 att-a.h5 int-a.h5 b.h5 eval-b.h5 att-b.h5 eval-c.h5)
expect_exit 0 "$sfb" report "${inputs[@]}" --out report.html
grep -q "^report: report.html (3 models from 8 results files)" out || fail "no report line: $(cat out)"
# Rerun: an earlier report is replaced; a foreign file, an incomplete results file are refused.
expect_exit 0 "$sfb" report "${inputs[@]}" --out report.html
echo '<html>mine</html>' >foreign.html
expect_exit 2 "$sfb" report eval-a.h5 --out foreign.html
grep -q "foreign.html' exists and is not sfbench's report" err || fail "foreign file not named"
[ "$(cat foreign.html)" = '<html>mine</html>' ] || fail "the foreign file was changed"
expect_exit 2 "$sfb" report eval-a.h5 --out eval-b.h5
expect_exit 2 "$sfb" report eval-a.h5 ./eval-a.h5 --out r2.html
grep -q "eval-a.h5 is given twice" err || fail "a file given twice is not refused"
# Under mpirun: rank 0 writes, every rank agrees on an error, which is printed once.
expect_exit 0 $mpi -np 2 "$sfb" report eval-a.h5 eval-c.h5 --out two.html
grep -q "^report: two.html (2 models from 2 results files)" out || fail "no report from 2 ranks"
expect_exit 2 $mpi -np 2 "$sfb" report eval-a.h5 --out foreign.html
[ "$(grep -c "foreign.html' exists" err)" -eq 1 ] || fail "the refusal is not printed once on 2 ranks"
cp eval-a.h5 partial.h5
"$py" -c 'import h5py,sys; h5py.File(sys.argv[1], "r+").attrs["complete"] = 0' partial.h5
expect_exit 2 "$sfb" report eval-a.h5 partial.h5 --out r2.html
[ "$(grep -c 'partial.h5' err)" -eq 1 ] || fail "the incomplete file is not named once"
[ ! -e r2.html ] || fail "a refused report was written"
ls | grep -q 'partial$' && fail "a temporary file was left behind"

# Render in headless Chromium: a screenshot and the DOM after scripts ran.
chrome=("$chromium" --headless --no-sandbox --disable-gpu --disable-dev-shm-usage
        --user-data-dir="$dir/chrome" --hide-scrollbars)
timeout 120 "${chrome[@]}" --screenshot="$dir/shot.png" --window-size=1400,3000 \
  "file://$dir/report.html" >chrome.log 2>&1 || fail "chromium screenshot failed: $(tail -5 chrome.log)"
timeout 120 "${chrome[@]}" --dump-dom "file://$dir/report.html" >dom.html 2>chrome.log ||
  fail "chromium --dump-dom failed: $(tail -5 chrome.log)"
rendered=$(date +%s)

"$py" - dom.html shot.png <<'PY' || fail "the rendered report does not match the results files"
import re
import sys
from html.parser import HTMLParser

import h5py
import numpy as np
from PIL import Image

dom_file, shot = sys.argv[1:]


class Dom(HTMLParser):
    """Sections, figures, absent lines, and every element with data-* attributes, each with the
    data-figure of the figure around it."""

    def __init__(self):
        super().__init__()
        self.stack, self.sections, self.figures, self.absent, self.items = [], [], [], [], []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        fig = next((f for t, f in reversed(self.stack) if f is not None), None)
        if tag == "figure":
            fig = a.get("data-figure")
            self.figures.append(fig)
        if tag == "section":
            self.sections.append(a.get("data-section"))
        if "data-absent" in a:
            self.absent.append(a["data-absent"])
        cls = a.get("class") or ""
        if tag == "img" or any(k.startswith("data-") for k in a):
            self.items.append((tag, cls, fig, a, [t for t, _ in self.stack]))
        if tag not in ("meta", "link", "br", "img", "input", "hr", "col"):
            self.stack.append((tag, fig if tag == "figure" else None))

    def handle_endtag(self, tag):
        for i in range(len(self.stack) - 1, -1, -1):
            if self.stack[i][0] == tag:
                del self.stack[i:]
                break


dom = Dom()
dom.feed(open(dom_file, encoding="utf-8").read())
problems = []


def check(ok, what):
    if not ok:
        problems.append(what)


for s in ["leaderboard", "correlations", "sf", "stages", "interactions", "attribution",
          "training", "provenance"]:
    check(s in dom.sections, f"section {s} missing")
check(not dom.absent, f"lines saying data are absent, though every kind is there: {dom.absent}")
aa = "autoattack_steps-2_queries-10"
for f in ["leaderboard", "sf-vs-dacc:fgsm", f"sf-vs-dacc:{aa}", "sf-sorted",
          f"attack-stages:{aa}", "interactions-I", "interactions-J", "interactions-dJ",
          "interactions-D", "gini", "gini-regional", "agreement:saliency", "agreement:grad-cam",
          "train-sf", "train-accuracy"]:
    check(f in dom.figures, f"figure {f} missing")
for prefix in ["activation-diff:", "noise1:", "noise2:", "occlusion:", "snr:",
               "method-agreement:", "montage:", "run-montage:", "train-loss:"]:
    n = sum(1 for f in dom.figures if f and f.startswith(prefix))
    check(n >= 2, f"{n} figures {prefix}*, expected one per model with those results")
# Every figure has a caption, and the SVG charts axes and a title.
html = open(dom_file, encoding="utf-8").read()
check(html.count("<figcaption>") == len(dom.figures), "a figure without a caption")
check(re.search(r'<th[^>]*title="click to sort"', html) is not None,
      "the sorting script did not run (no header got its title)")

# Which model each file belongs to (the provenance table), and the model labels.
model = {a["data-file"]: a["data-model"] for t, c, f, a, _ in dom.items
         if t == "tr" and "data-file" in a}
A, B, C = model.get("eval-a.h5"), model.get("eval-b.h5"), model.get("eval-c.h5")
check(len({A, B, C}) == 3 and None not in (A, B, C), f"models: {model}")
for f in ["a.h5", "att-a.h5", "int-a.h5"]:
    check(model.get(f) == A, f"{f} is not in model {A}: {model}")
for f in ["b.h5", "att-b.h5"]:
    check(model.get(f) == B, f"{f} is not in model {B}: {model}")


def points(fig, series):
    pts = [(float(a["data-x"]), float(a["data-y"])) for t, c, f, a, _ in dom.items
           if f == fig and "sfb-point" in c.split() and a.get("data-series") == series]
    return sorted(pts)


def bars(fig, series):
    return {a["data-category"]: float(a["data-value"]) for t, c, f, a, _ in dom.items
            if f == fig and "sfb-bar" in c.split() and a.get("data-series") == series}


def same(xs, ys, what):
    ys = [float(y) for y in ys]
    check(len(xs) == len(ys) and all(x == y for x, y in zip(xs, ys)),
          f"{what}: plotted {xs[:6]}... != HDF5 {ys[:6]}... ({len(xs)} vs {len(ys)})")


# Leaderboard: clean, per-attack robust accuracy, ΔAcc and SF of each model = the attributes.
rows = {}
for t, c, f, a, stack in dom.items:
    if t == "tr" and "data-model" in a and f == "leaderboard":
        current = rows.setdefault(a["data-model"], {})
    elif t == "td" and "data-key" in a and f == "leaderboard":
        current[a["data-key"]] = float(a["data-value"])
for label, file in [(A, "eval-a.h5"), (B, "eval-b.h5"), (C, "eval-c.h5")]:
    with h5py.File(file) as h:
        r = rows.get(label, {})
        sfv = h["/sf/value"]
        check(r.get("clean_acc") == sfv.attrs["accuracy"], f"{label} clean accuracy")
        check(r.get("sf") == sfv[()], f"{label} SF")
        for g in ["fgsm", aa]:
            at = h[f"/attacks/{g}"].attrs
            check(r.get(f"adv_acc:{g}") == at["adv_acc"], f"{label} {g} robust accuracy")
            check(r.get(f"accuracy_drop:{g}") == at["accuracy_drop"], f"{label} {g} dAcc")
        # Sorted C_i (paper 000 Fig. 6).
        k = h["/sf/sorted"].shape[0]
        pts = points("sf-sorted", label)
        same([p[0] for p in pts], range(1, k + 1), f"{label} C_i ranks")
        same([p[1] for p in pts], h["/sf/sorted"][()], f"{label} sorted C_i")
        # AutoAttack per-stage bars.
        at = h[f"/attacks/{aa}"].attrs
        b = bars(f"attack-stages:{aa}", label)
        names = [s.decode() if isinstance(s, bytes) else s for s in at["stage_names"]]
        same([b.get(s) for s in ["clean"] + names],
             [at["clean_acc"]] + list(at["stage_adv_acc"]), f"{label} AutoAttack stage bars")
        # SF vs ΔAcc scatter.
        pts = points(f"sf-vs-dacc:{aa}", label)
        same(pts[0] if pts else [], [sfv[()], at["accuracy_drop"]], f"{label} SF vs dAcc point")

# Interactions (paper 001): I^(m) of clean and adversarial inputs over m / n_p.
with h5py.File("int-a.h5") as h:
    x = h["/interactions/order_ratio"][()]
    for name, series in [("I_nor", f"{A} clean"), ("I_adv", f"{A} adversarial")]:
        pts = points("interactions-I", series)
        y = h[f"/interactions/{name}"][()]
        keep = np.isfinite(y)
        same([p[0] for p in pts], x[keep], f"interactions {name} x")
        same([p[1] for p in pts], y[keep], f"interactions {name}")
    pts = points("interactions-dJ", A)
    y = h["/interactions/dJ"][()]
    same([p[1] for p in pts], y[np.isfinite(y)], "interactions dJ")

# Gini per method and model (paper 002).
for label, file in [(A, "att-a.h5"), (B, "att-b.h5")]:
    with h5py.File(file) as h:
        b = bars("gini", label)
        for m in ["saliency", "grad-cam"]:
            check(b.get(m) == h[f"/attribution/{m}"].attrs["gini"], f"{label} Gini {m}")

# Training curves.
for label, file in [(A, "a.h5"), (B, "b.h5")]:
    with h5py.File(file) as h:
        pts = points("train-sf", label)
        same([p[0] for p in pts], h["/train/epoch/epoch"][()], f"{label} train epochs")
        same([p[1] for p in pts], h["/train/epoch/sf"][()], f"{label} train SF")
        pts = points(f"train-loss:{label}", "total")
        same([p[1] for p in pts], h["/train/epoch/total"][()], f"{label} train total loss")

# Montages: embedded PNGs with their labels.
for prefix in ["montage:", "run-montage:"]:
    n = sum(1 for t, c, f, a, _ in dom.items if t == "img" and (f or "").startswith(prefix)
            and a.get("src", "").startswith("data:image/png;base64,iVBORw0KGgo"))
    check(n == 2, f"{n} embedded PNGs in {prefix}* figures, expected 2")
check('class="sfb-col-label">saliency<' in html, "montage column labels missing")
check("http://" not in html.replace("http://www.w3.org/", ""), "the page refers to the network")

# The screenshot is a rendered page, not a blank one.
img = np.asarray(Image.open(shot).convert("RGB"))
colours = np.unique(img.reshape(-1, 3), axis=0).shape[0]
check(img.shape[0] >= 1000 and img.shape[1] >= 1000, f"screenshot size {img.shape}")
check(colours >= 50, f"the screenshot has only {colours} distinct colours")
check((img.min(axis=2) < 128).mean() > 0.005, "the screenshot is nearly white")

for p in problems:
    print("  ", p)
sys.exit(1 if problems else 0)
PY
end=$(date +%s)
echo "report_test: ok (results files $((made - start)) s, report and refusals $((rendered - made)) s incl. chromium, checks $((end - rendered)) s)"
