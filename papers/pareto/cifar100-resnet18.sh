#!/usr/bin/env bash
# The paper's CIFAR-100 ResNet-18 protocol (Cho et al., ICML 2022, Table/Figure "SNL vs
# baselines"), for a GPU machine: pretrain 160 epochs (SGD 0.1, ×0.1 at 80 and 120, batch 256,
# crop+flip), one SNL linearization through the budgets 100K…12.9K (the paper's λ schedule,
# Adam 1e-3, ε = 1e-2), each snapshot fine-tuned 100 epochs (SGD 1e-3, cosine, KD T = 4),
# and the same fine-tune for the random, uniform and SNIP-style baselines. ReLUs are counted
# as the paper's code did (491,520: no stem ReLU).
#
#   papers/pareto/cifar100-resnet18.sh                 # GPU: --device cuda, data/cifar-100-binary
#   papers/pareto/cifar100-resnet18.sh --smoke         # CPU, synthetic CIFAR-shaped data, seconds
#
# --smoke runs the same commands at toy size (width 1/8, 64 synthetic 3×32×32 images, one
# epoch per phase, the budgets as the same fractions of the smaller net) so CI checks that the
# protocol runs; its numbers mean nothing. Environment: SNL (binary), RUNS (output folder),
# DEVICE (cuda), SEEDS ("0").
set -euo pipefail
cd "$(dirname "$0")/../.."
smoke=0
[ "${1:-}" = "--smoke" ] && smoke=1
runs=${RUNS:-runs/pareto-cifar100}
seeds=${SEEDS:-0}
say() { echo "cifar100-resnet18: $*" >&2; }
if [ -z "${SNL:-}" ]; then
  cargo build -q -p snl-linearize
  SNL=target/debug/snl
fi
mkdir -p "$runs"
if [ "$smoke" = 1 ]; then
  data=(--data synthetic --limit-train 64 --limit-test 32)
  device=(--device cpu)
  pre=(--width 0.125 --epochs 1 --batch 32)
  # 12.9K, 25K, 49.4K, 99.9K of 491,520, as fractions
  budgets=0.2032,0.1005,0.0509,0.02625
  lin=(--max-epochs 1 --batch 32 --finetune-epochs 1 --lambda0 1e-3)
  ft=(--finetune-epochs 1)
else
  data=(--data cifar100)
  device=(--device "${DEVICE:-cuda}")
  pre=(--epochs 160 --lr 0.1 --milestones 80,120 --batch 256)
  budgets=99900,49400,25000,12900
  lin=(--max-epochs 2000 --finetune-epochs 100)
  ft=(--finetune-epochs 100)
fi
if [ ! -f "$runs/teacher/model.safetensors" ]; then
  say "pretrain ResNet-18"
  "$SNL" train --arch resnet18 "${data[@]}" "${device[@]}" "${pre[@]}" --out "$runs/teacher" \
    --output-format json > "$runs/teacher.json"
fi
teacher=$runs/teacher/model.safetensors
for s in $seeds; do
  if [ ! -f "$runs/snl-$s.json" ]; then
    say "seed $s: SNL through budgets $budgets"
    rc=0
    "$SNL" linearize --model "$teacher" "${data[@]}" "${device[@]}" --seed "$s" \
      --budgets "$budgets" "${lin[@]}" --out "$runs/snl-$s" --output-format json \
      > "$runs/snl-$s.json" || rc=$?
    # 1: the smallest budget not reached (expected at toy size); the rest is written
    [ "$rc" = 0 ] || [ "$rc" = 1 ] || { say "snl linearize failed (exit $rc)"; exit 2; }
  fi
  for m in random uniform snip; do
    [ -f "$runs/$m-$s.json" ] && continue
    say "seed $s: $m masks"
    "$SNL" baseline --model "$teacher" "${data[@]}" "${device[@]}" --seed "$s" --method "$m" \
      --budgets "$budgets" "${ft[@]}" --out "$runs/$m-$s" --output-format json > "$runs/$m-$s.json"
  done
done
python3 - "$runs" <<'PY'
import glob, json, os, sys
runs = sys.argv[1]
# the paper's published CIFAR-100 numbers (PAPER-NOTES.md): SNL and its SNIP-style ablation
paper = {12900: (66.53, 56.83), 25000: (70.05, 60.88), 49400: (73.75, 63.69), 99900: (75.94, 66.50)}
print("method  seed  budget    kept  final test %   (paper SNL / SNIP at this budget)")
for f in sorted(glob.glob(f"{runs}/*-*.json")):
    method, seed = os.path.basename(f)[:-5].rsplit("-", 1)
    r = json.load(open(f))
    for b in (r["outcome"]["budgets"] if "outcome" in r else r["budgets"]):
        ref = paper.get(b["budget"])
        ref = f"({ref[0]} / {ref[1]})" if ref else ""
        print(f"{method:<7} {seed:>4} {b['budget']:>7} {b['kept']:>7} {100 * b['final_test']:>12.2f}   {ref}")
PY
say "done"
