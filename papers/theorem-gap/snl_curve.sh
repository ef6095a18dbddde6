#!/usr/bin/env bash
# The SNL half of papers/theorem-gap: on exactly the points of the certified curve (run.sh),
# train one hidden layer of H ReLUs with `snl` (all ReLUs kept), linearize it with SNL to B
# kept ReLUs, binarize, fine-tune, and count the points the result classifies.
# Writes papers/theorem-gap/snl.json (one row per data set, B and seed) and prints the table.
# The task is fitting the points: `snl --data points` trains, selects (validation) and
# tests on the same n points. Runs go to runs/theorem-gap/snl/ (ignored).
# INPUTS: as for run.sh (the Fashion-MNIST test examples for `fmnist`).
# B = 0 (`--budget 0`) linearizes every hidden unit: the affine row of the curve.
set -euo pipefail
cd "$(dirname "$0")/../.."
INPUTS=${INPUTS:-runs/verify-budget/test.safetensors}
SEEDS=${SEEDS:-"0 1 2"}
HIDDEN=${HIDDEN:-16}
SETS="moons rings fmnist checkerboard"
OUT=runs/theorem-gap/snl
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
cargo build -q -p snl-linearize -p snl-verify
SNL=./target/debug/snl
mkdir -p "$OUT"
# the same points as run.sh's MILP (same generators, seeds, n and inputs)
./target/debug/snl-verify theorem gap --data "${SETS// /,}" --n 16 --inputs "$INPUTS" \
  --dump "$OUT/points" > /dev/null
for d in $SETS; do
  pts=(--data points --data-dir "$OUT/points/$d.safetensors")
  for s in $SEEDS; do
    # pretrain: full batch, SGD with momentum, cosine schedule
    mkdir -p "$OUT/$d/s$s"
    $SNL train "${pts[@]}" --seed "$s" --arch mlp --hidden "$HIDDEN" --epochs 400 --batch 16 \
      --lr 0.1 --weight-decay 0 --cosine --out "$OUT/$d/s$s/pretrain" --output-format json \
      > "$OUT/$d/s$s/pretrain.json" 2> "$OUT/$d/s$s/pretrain.log"
    for b in 0 1 2 3; do
      # SNL: masks and weights under CE + KD + λ‖c‖₁ (budget-aware λ) down to B kept
      # ReLUs, binarize, fine-tune with KD; the status is 1 when B was not reached
      st=0
      $SNL linearize --model "$OUT/$d/s$s/pretrain/model.safetensors" "${pts[@]}" --seed "$s" \
        --budget "$b" --lambda-schedule budget --target-epochs 200 --lr 0.01 --batch 4 \
        --max-epochs 3000 --finetune-epochs 200 --finetune-lr 0.01 --finetune-batch 16 \
        --finetune-weight-decay 0 --out "$OUT/$d/s$s/b$b" --output-format json \
        > "$OUT/$d/s$s/b$b.json" 2> "$OUT/$d/s$s/b$b.log" || st=$?
      echo "$d seed $s B=$b: snl linearize exit status $st" >&2
      # re-check on the points with sound bounds (f64, outward rounding): an ε = 1e-9 ball
      # around a point verified means the point is classified correctly
      if [ -f "$OUT/$d/s$s/b$b/model.safetensors" ]; then
        ./target/debug/snl-verify robust --model "$OUT/$d/s$s/b$b/model.safetensors" \
          --inputs "$OUT/points/$d.safetensors" --eps 1e-9 --method crown --output-format json \
          > "$OUT/$d/s$s/b$b.robust.json" || true
      fi
    done
  done
done
python3 - "$OUT" "$SEEDS" "$SETS" <<'PY'
import json, os, struct, sys
out, seeds, sets = sys.argv[1], sys.argv[2].split(), sys.argv[3].split()

def points(d):
    # n from the safetensors header of the points file: labels [n]
    with open(f"{out}/points/{d}.safetensors", "rb") as f:
        (k,) = struct.unpack("<Q", f.read(8))
        return json.loads(f.read(k))["labels"]["shape"][0]

rows = []
for d in sets:
    n = points(d)
    for s in seeds:
        pre = json.load(open(f"{out}/{d}/s{s}/pretrain.json"))
        for b in (0, 1, 2, 3):
            path = f"{out}/{d}/s{s}/b{b}.json"
            text = open(path).read() if os.path.exists(path) else ""
            if not text.strip():
                rows.append({"dataset": d, "b": b, "seed": int(s), "error": f"no result, see {path[:-5]}.log"})
                continue
            o = json.load(open(path))["outcome"]
            rob = f"{out}/{d}/s{s}/b{b}.robust.json"
            verified = json.load(open(rob))["counts"]["verified"] if os.path.exists(rob) else None
            rows.append({
                "dataset": d, "n": n, "b": b, "seed": int(s), "hidden": o["total"],
                "budget_reached": o["budget_reached"], "kept": o["kept"],
                # train = validation = test = the n points: accuracies are on the points
                "pretrained_accuracy": pre["test_accuracy"],
                "binarized_accuracy": o["binarized_test"],
                "accuracy": o["final_test"],
                "correct": round(o["final_test"] * n),
                # points verified by `snl-verify robust --eps 1e-9` (sound, f64)
                "verified": verified,
                "linearize_epochs": o["linearize_epochs"],
            })
json.dump(rows, open("papers/theorem-gap/snl.json", "w"), indent=1)
print(f"{'data':>12} {'n':>3} {'B':>2} {'seed':>4} {'kept':>4} {'pretrained':>10} {'binarized':>9} {'final':>6} {'correct':>7} {'verified':>8}")
for r in rows:
    if "error" in r:
        print(f"{r['dataset']:>12} {r['b']:>2} {r['seed']:>4} {r['error']}")
        continue
    print(f"{r['dataset']:>12} {r['n']:>3} {r['b']:>2} {r['seed']:>4} {r['kept']:>4} {r['pretrained_accuracy']:>10.4f} {r['binarized_accuracy']:>9.4f} {r['accuracy']:>6.4f} {r['correct']:>7} {str(r['verified']):>8}")
PY
