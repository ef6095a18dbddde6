#!/usr/bin/env bash
# Certified robust accuracy and verification time against the ReLU budget (Fashion-MNIST CNN).
#
#   papers/verify-budget/run.sh [COUNT=100] [TIMEOUT=5]
#
# The quickstart's pretrained CNN (the teacher: 100% of 18,944 ReLUs kept) is linearized with
# the quickstart's settings (λ₀ = 1e-3, ≤ 20 epochs, 3 KD fine-tune epochs at lr 1e-3) to 20%
# (with the budget-aware λ schedule, see below), 10%, 5% and 2%; the first COUNT test images
# are verified at two ε (pixel space) with
# `snl-verify robust --method bab --timeout TIMEOUT`. Writes results.json and results.md here.
set -euo pipefail
cd "$(dirname "$0")/../.."
count=${1:-100}
timeout=${2:-5}
here=papers/verify-budget
runs=runs/verify-budget
mkdir -p "$runs"
cargo build --release -q -p snl-verify -p snl-linearize
bin=target/release
pre=runs/quickstart/pretrain/model.safetensors
[ -f "$pre" ] || "$bin/snl" quickstart
"$bin/snl" export-data --data fashion-mnist --split test --count "$count" --out "$runs/test.safetensors" 2>/dev/null
models=("100:$pre")
for f in 0.2 0.1 0.05 0.02; do
  out="$runs/lin-$f"
  if [ ! -f "$out/model.safetensors" ]; then
    rm -rf "$out"
    # the paper's λ schedule checks the budget once an epoch and overshoots 20% down to
    # ~10% with these settings: the 20% model uses the budget-aware schedule instead
    sched=()
    [ "$f" = 0.2 ] && sched=(--lambda-schedule budget --target-epochs 10)
    "$bin/snl" linearize --model "$pre" --data fashion-mnist --budget-fraction "$f" --lambda0 1e-3 \
      --max-epochs 20 --finetune-epochs 3 --finetune-lr 1e-3 "${sched[@]}" --out "$out" >/dev/null \
      || [ $? = 1 ] # 1: budget not reached in 20 epochs; the state reached is written
  fi
  models+=("$(python3 -c "print(round($f * 100, 3))"):$out/model.safetensors")
done
for eps in 0.004 0.01; do
  for m in "${models[@]}"; do
    pct=${m%%:*}
    file=${m#*:}
    # kept if there: delete runs/verify-budget/robust-*.json to verify again
    [ -f "$runs/robust-$pct-$eps.json" ] && continue
    echo "verify-budget: ${pct}% kept, eps $eps" >&2
    "$bin/snl-verify" robust --model "$file" --inputs "$runs/test.safetensors" --eps "$eps" \
      --method bab --timeout "$timeout" --output-format json > "$runs/robust-$pct-$eps.json"
  done
done
python3 - "$runs" "$here" <<'PY'
import json, glob, os, sys
runs, here = sys.argv[1], sys.argv[2]
rows = []
for f in sorted(glob.glob(f"{runs}/robust-*.json")):
    r = json.load(open(f))
    ex = r["examples"]
    checked = [e for e in ex if e["status"] != "misclassified"]
    rows.append({
        "kept": r["kept_relus"], "total": r["total_relus"], "eps": r["eps"],
        "count": r["count"], "clean": r["clean_accuracy"], "certified": r["certified_accuracy"],
        **r["counts"], "seconds": r["total_seconds"],
        "mean_seconds": sum(e["seconds"] for e in checked) / max(len(checked), 1),
        "mean_unstable_kept": r["mean_unstable_kept"],
        "bab_decided": sum(1 for e in ex if e["decided_by"] == "bab"),
    })
rows.sort(key=lambda x: (x["eps"], -x["kept"]))
json.dump(rows, open(f"{here}/results.json", "w"), indent=1)
with open(f"{here}/results.md", "w") as md:
    md.write("| ε | kept ReLUs | clean | certified | verified | falsified | unknown | misclassified | mean unstable kept | by BaB | total s | mean s |\n")
    md.write("|---|---|---|---|---|---|---|---|---|---|---|---|\n")
    for x in rows:
        u = x["mean_unstable_kept"]
        md.write(f"| {x['eps']} | {x['kept']} ({100 * x['kept'] / x['total']:.0f}%) | {100 * x['clean']:.0f}% | "
                 f"**{100 * x['certified']:.0f}%** | {x['verified']} | {x['falsified']} | {x['unknown']} | "
                 f"{x['misclassified']} | {u if u is None else round(u, 1)} | {x['bab_decided']} | "
                 f"{x['seconds']:.1f} | {x['mean_seconds']:.2f} |\n")
print(open(f"{here}/results.md").read())
PY
python3 "$here/plot.py" "$here"
