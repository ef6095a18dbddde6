#!/usr/bin/env bash
# Reproduces papers/theorem: the T2 grid as JSON (grid.json) and the plot (ceiling.png),
# then checks that the LP and SMT results equal the ceiling on every instance.
# Expected: "28 of 28 instances: lp == smt == ceiling".
set -euo pipefail
cd "$(dirname "$0")/../.."
cargo build -q -p snl-verify
./target/debug/snl-verify theorem --max-n 8 --output-format json \
  --plot papers/theorem/ceiling.png > papers/theorem/grid.json
python3 - <<'PY'
import json
rows = json.load(open("papers/theorem/grid.json"))
ok = sum(1 for r in rows if r["lp"] == r["smt"] == r["ceiling"])
print(f"{ok} of {len(rows)} instances: lp == smt == ceiling")
raise SystemExit(0 if ok == len(rows) else 1)
PY
