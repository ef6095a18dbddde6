#!/usr/bin/env bash
# Benchmark (not a test): CROWN bound time against the ReLU budget on a CIFAR-shaped ResNet-18
# (3×32×32 input, 491,520 ReLUs with the paper's convention), all models bounded around the
# same input, back to back, in one run.
#
#   papers/bench-resnet/run.sh [EPS=0.001] [TIMEOUT=300]
#
# 1. builds the release binaries;
# 2. weights: `snl train --data synthetic --arch resnet18`, one epoch on 256 synthetic images
#    (runs/bench-resnet/pre; kept if there);
# 3. masks: (a) seeded random masks keeping 10%, 5% and 1% of every ReLU layer
#    (random_mask.py); (b) one SNL mask: `snl linearize` from the same weights on 64 synthetic
#    images asked for 10% — the paper's λ schedule on this short run drops from 100% to 253
#    kept ReLUs (0.05%) in one epoch, so that is the SNL point (see the README);
# 4. one synthetic test image (`snl export-data --data synthetic`), the ball's centre;
# 5. `snl-verify bound --method crown --inputs … --index 0 --eps EPS --timeout TIMEOUT
#    --output-format json` for the 100% model and each mask, back to back;
# 6. writes results.json, results.csv, results.md and plot.png/plot.svg here.
set -euo pipefail
cd "$(dirname "$0")/../.."
eps=${1:-0.001}
timeout=${2:-300}
here=papers/bench-resnet
runs=runs/bench-resnet
bin=target/release
# one torch thread unless told otherwise (libtorch's spin-waiting OpenMP threads collapse on a
# shared 2-core machine); snl-verify uses every core
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
t_start=$(date +%s)
say() { printf '[bench-resnet %4ds] %s\n' $(($(date +%s) - t_start)) "$*" >&2; }
data=(--data synthetic --device cpu --seed 0)

cargo build --release -q -p snl-verify -p snl-linearize
mkdir -p "$runs"

pre="$runs/pre/model.safetensors"
if [ ! -f "$pre" ]; then
  say "training ResNet-18 weights on synthetic data (1 epoch, 256 images)"
  rm -rf "$runs/pre"
  "$bin/snl" train "${data[@]}" --arch resnet18 --limit-train 256 --limit-test 64 --epochs 1 \
    --batch 32 --lr 0.05 --out "$runs/pre" >&2
fi

models=("100%:1:$pre")
for f in 0.1 0.05 0.01; do
  out="$runs/random-$f.safetensors"
  [ -f "$out" ] || python3 "$here/random_mask.py" "$pre" "$f" 0 "$out"
  models+=("random $(python3 -c "print(f'{100 * $f:g}%')"):$f:$out")
done
snl="$runs/lin-0.1"
if [ ! -f "$snl/model.safetensors" ]; then
  say "SNL mask: linearizing to 10% of the ReLUs into $snl (binarized, no fine-tuning)"
  rm -rf "$snl"
  "$bin/snl" linearize "${data[@]}" --model "$pre" --limit-train 64 --limit-test 64 \
    --budget-fraction 0.1 --lambda0 1e-2 --lr 1e-2 --eps 0.5 --batch 8 --max-epochs 40 \
    --finetune-epochs 0 --out "$snl" --output-format json > "$snl.linearize.json"
fi
snl_kept=$(python3 -c "import json; print(json.load(open('$snl.linearize.json'))['outcome']['kept'])" 2>/dev/null || echo "?")
models+=("SNL ($snl_kept kept):snl:$snl/model.safetensors")

# the centre: synthetic test image 0 (raw pixels in [0, 1]; node 0 of the model normalizes)
inputs="$runs/test1.safetensors"
if [ ! -f "$inputs" ]; then
  "$bin/snl" export-data --data synthetic --seed 0 --split test --count 1 --out "$inputs" >&2
fi

list="$runs/list-eps$eps-t$timeout.txt"
: > "$list"
for m in "${models[@]}"; do
  tag=${m%%:*}
  rest=${m#*:}
  file=${m##*:}
  json="$runs/bound-${rest%%:*}-eps$eps-t$timeout.json"
  say "bound --method crown: $tag kept ($file)"
  rc=0
  "$bin/snl-verify" bound --model "$file" --inputs "$inputs" --index 0 --eps "$eps" --method crown \
    --timeout "$timeout" --output-format json > "$json.tmp" || rc=$?
  # 0: bounded; 3: the deadline stopped the refinement (the bounds are still sound)
  [ "$rc" = 0 ] || [ "$rc" = 3 ] || { say "snl-verify bound failed (exit $rc)"; exit 2; }
  mv "$json.tmp" "$json"
  printf '%s\t%s\t%s\t%s\t%s\n' "$tag" "${rest%%:*}" "$file" "$json" "$rc" >> "$list"
done
python3 "$here/summarize.py" "$list" "$here" "$eps" "$timeout"

venv=${SNL_CACHE:-$HOME/.cache/snl}/papers-venv
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import matplotlib' 2>/dev/null; then
  say "creating $venv with matplotlib"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q matplotlib
fi
"$venv/bin/python" "$here/plot.py" "$here"
say "done"
