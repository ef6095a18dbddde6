#!/usr/bin/env bash
# The certified half of papers/theorem-gap: for one hidden layer with B kept ReLUs (plus
# linearized units), the best accuracy on small 2-D data sets, by one MILP per (data, B)
# (`snl-verify theorem gap`), each solver network re-checked in exact rationals.
# Writes papers/theorem-gap/certified.json and certified.svg and prints the table.
# INPUTS: a test set with Fashion-MNIST classes 2 and 4 (default
# runs/verify-budget/test.safetensors, from `snl export-data`).
set -euo pipefail
cd "$(dirname "$0")/../.."
INPUTS=${INPUTS:-runs/verify-budget/test.safetensors}
TIMEOUT=${TIMEOUT:-30}   # CBC time limit per (data, B), seconds
cargo build -q -p snl-verify
status=0
./target/debug/snl-verify theorem gap --data moons,rings,fmnist,checkerboard --n 16 \
  --max-b 3 --timeout "$TIMEOUT" --inputs "$INPUTS" --output-format json \
  > papers/theorem-gap/certified.json || status=$?
python3 - <<'PY'
import json
rows = json.load(open("papers/theorem-gap/certified.json"))
print(f"{'data':>12} {'n':>3} {'B':>2} {'best (MILP)':>11} {'found (exact)':>13} {'status':>10} {'s':>6}")
for r in rows:
    best = r["best"] if r["best"] is not None else "unknown"
    print(f"{r['dataset']:>12} {r['n']:>3} {r['b']:>2} {best:>11} {r['found']:>13} {r['status']:>10} {r['millis']/1000:>6.1f}")
PY
# with snl.json (snl_curve.sh) present, SNL's curve goes into the same plot
SNL_JSON=()
[ -f papers/theorem-gap/snl.json ] && SNL_JSON=(papers/theorem-gap/snl.json)
python3 papers/theorem-gap/plot.py papers/theorem-gap/certified.json papers/theorem-gap/certified.svg "${SNL_JSON[@]}"
echo "snl-verify theorem gap exit status: $status (0 all optimal, 3 some time limit or failed re-check)"
