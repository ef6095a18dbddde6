#!/usr/bin/env bash
# Benchmark (not a test): bound time and unstable kept ReLUs on the quickstart CNN around real
# Fashion-MNIST test images, the 10%-budget model against its all-ReLU teacher, measured in
# the same run. Needs the quickstart's models (cargo run -p snl-linearize --bin snl -- quickstart).
#
#   papers/bench-crown/run.sh [IMAGES=5] [EPS=0.004]
set -euo pipefail
cd "$(dirname "$0")/../.."
images=${1:-5}
eps=${2:-0.004}
lin=runs/quickstart/linearize/model.safetensors
pre=runs/quickstart/pretrain/model.safetensors
for f in "$lin" "$pre"; do
  [ -f "$f" ] || { echo "bench-crown: $f missing: run the quickstart first" >&2; exit 2; }
done
cargo build --release -q -p snl-verify -p snl-linearize
bin=target/release
out=$(mktemp -d)
"$bin/snl" export-data --data fashion-mnist --split test --count "$images" --out "$out/test.safetensors" >/dev/null
printf '%-9s %5s %-8s %9s %9s %9s\n' model image method seconds unstable refined
for model in lin pre; do
  file=$lin; [ "$model" = pre ] && file=$pre
  for ((i = 0; i < images; i++)); do
    for method in interval crown alpha; do
      json=$("$bin/snl-verify" bound --model "$file" --inputs "$out/test.safetensors" --index "$i" \
        --eps "$eps" --method "$method" --output-format json || true)
      python3 - "$model" "$i" "$method" <<PY
import json, sys
r = json.loads('''$json''')
l = r.get("lbp") or {}
print(f"{sys.argv[1]:<9} {sys.argv[2]:>5} {sys.argv[3]:<8} {r['bound_seconds']:9.3f} {r['unstable_kept']:9d} {l.get('refined', 0):9d}")
PY
    done
  done
done | tee "$out/table.txt"
python3 - "$out/table.txt" <<'PY'
import sys, collections
rows = [l.split() for l in open(sys.argv[1])]
agg = collections.defaultdict(list)
for m, i, meth, s, u, r in rows:
    agg[(m, meth)].append((float(s), int(u)))
print()
print(f"{'method':<9} {'lin s':>8} {'teacher s':>10} {'teacher/lin':>12} {'lin unstable':>13} {'teacher unstable':>17} {'ratio':>6}")
for meth in ["interval", "crown", "alpha"]:
    a, b = agg[("lin", meth)], agg[("pre", meth)]
    ls, ps = sum(x for x, _ in a) / len(a), sum(x for x, _ in b) / len(b)
    lu, pu = sum(u for _, u in a) / len(a), sum(u for _, u in b) / len(b)
    print(f"{meth:<9} {ls:8.3f} {ps:10.3f} {ps / ls:12.2f} {lu:13.1f} {pu:17.1f} {pu / max(lu, 1e-9):6.2f}")
PY
