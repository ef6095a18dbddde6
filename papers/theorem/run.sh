#!/usr/bin/env bash
# Reproduces papers/theorem: the T2 grid and the depth-2 rows as JSON (grid.json), the plot
# (ceiling.png), the text table (table.txt), then checks agreement.
# Expected: "28 of 28 instances: lp == smt == ceiling" and
# "24 of 24 two-layer rows: MILP == construction == ceiling", exit 0.
set -euo pipefail
cd "$(dirname "$0")/../.."
cargo build -q -p snl-verify
status=0
./target/debug/snl-verify theorem --max-n 8 --output-format json \
  --plot papers/theorem/ceiling.png > papers/theorem/grid.json || status=$?
python3 - <<'PY'
import json
g = json.load(open("papers/theorem/grid.json"))
rows, two = g["one_layer"], g["two_layer"]
print(f"{'n':>2} {'B':>2} {'P':>2} {'ceiling':>7} {'LP':>4} {'SMT':>4} {'LP ms':>6} {'SMT ms':>6} | {'ceil(kB)':>8} {'SMT(kB)':>7} | {'direct':>7} {'dir>c':>7} {'dir ms':>6}")
for r in rows:
    print(f"{r['n']:>2} {r['b']:>2} {r['pieces']:>2} {r['ceiling']:>7} {str(r['lp']):>4} {str(r['smt']):>4} {r['lp_ms']:>6} {r['smt_ms']:>6} | {r['ceiling_all_kept']:>8} {str(r['smt_all_kept']):>7} | {r['direct_at_ceiling']:>7} {r['direct_above']:>7} {r['direct_ms']:>6}")
ok = sum(1 for r in rows if r["lp"] == r["smt"] == r["ceiling"])
print(f"{ok} of {len(rows)} instances: lp == smt == ceiling")
ok2 = sum(1 for r in two if r["lp"] == r["construction"] == r["ceiling"])
print(f"{ok2} of {len(two)} two-layer rows: MILP == construction == ceiling")
for r in two:
    print(f"n={r['n']} B=({r['b1']},{r['b2']}) ceiling={r['ceiling']} one-layer={r['one_layer_ceiling']} "
          f"MILP={r['lp']} construction={r['construction']} direct={r['direct_at_ceiling']}/{r['direct_above']}")
raise SystemExit(0 if ok == len(rows) and ok2 == len(two) else 1)
PY
echo "snl-verify theorem exit status: $status (0 = everything decided and agreeing, 3 = some unknown, 1 = contradiction)"
