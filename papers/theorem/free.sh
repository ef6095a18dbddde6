#!/usr/bin/env bash
# Certified free linearization (theory/README.md, T3) on the quickstart model: for test
# examples 0..4 and three pixel radii, how many kept ReLUs are provably stable on the ball
# and are removed exactly by `snl-verify free`. Writes papers/theorem/free.json (one JSON
# report per line) and prints a table.
# Paths: MODEL (default runs/quickstart/linearize/model.safetensors, from scripts/quickstart)
# and INPUTS (default runs/verify-budget/test.safetensors, from `snl export-data`).
set -euo pipefail
cd "$(dirname "$0")/../.."
MODEL=${MODEL:-runs/quickstart/linearize/model.safetensors}
INPUTS=${INPUTS:-runs/verify-budget/test.safetensors}
cargo build -q -p snl-verify
out=papers/theorem/free.json
tmp=$(mktemp -d)
: > "$out.tmp"
for eps in 0.001 0.01 0.03; do
  for i in 0 1 2 3 4; do
    ./target/debug/snl-verify free --model "$MODEL" --inputs "$INPUTS" --index "$i" \
      --eps "$eps" --out "$tmp/m2.safetensors" --output-format json \
      | python3 -c "import json,sys; r=json.load(sys.stdin); r['eps']=$eps; r['index']=$i; r.pop('out'); r['model']='$MODEL'; print(json.dumps(r))" >> "$out.tmp"
  done
done
mv "$out.tmp" "$out"
rm -rf "$tmp"
python3 - "$out" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
print(f"{'eps':>6} {'ex':>3} {'kept':>5} {'active':>7} {'zeroed':>7} {'by scale':>10} {'unstable':>9} {'kept now':>9} {'saved':>6} {'max|diff|':>10} {'s':>6}")
for r in rows:
    L = r["layers"]
    s = lambda k: sum(l[k] for l in L)
    print(f"{r['eps']:>6} {r['index']:>3} {r['kept_before']:>5} {s('active'):>7} {s('inactive_zeroed'):>7} {s('zeroed_by_scale'):>10} {s('unstable'):>9} {r['kept_after']:>9} {r['saved']:>6} {r['max_abs_diff']:>10.1e} {r['seconds']:>6.1f}")
PY
