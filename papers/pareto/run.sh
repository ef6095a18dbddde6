#!/usr/bin/env bash
# Fashion-MNIST Pareto: test accuracy against the ReLU budget, SNL against three baselines
# (random, per-layer uniform, SNIP-style saliency), every mask fine-tuned the same way, two
# seeds. Writes results.json, results.md, plot.svg and plot.png here.
#
#   papers/pareto/run.sh            # the committed numbers (about 60 min on 2 idle cores)
#
# Knobs (environment): LIMIT_TRAIN (training examples, default 8000), SEEDS ("0 1"),
# PRE_EPOCHS (3), TARGET_EPOCHS (15), MAX_EPOCHS (20), LIN_BATCH (32), FT_EPOCHS (2),
# BUDGETS (0.2,0.1,0.05,0.02,0.01,0.005), BINARIZE (ste: see README), RUNS (runs/pareto),
# SNL (the snl binary).
# A step whose JSON exists is not run again: rerunning after an interruption continues.
set -euo pipefail
cd "$(dirname "$0")/../.."
here=papers/pareto
limit=${LIMIT_TRAIN:-8000}
seeds=${SEEDS:-0 1}
pre_epochs=${PRE_EPOCHS:-3}
target=${TARGET_EPOCHS:-15}
max_epochs=${MAX_EPOCHS:-20}
lin_batch=${LIN_BATCH:-32}
ft=${FT_EPOCHS:-2}
budgets=${BUDGETS:-0.2,0.1,0.05,0.02,0.01,0.005}
binarize=${BINARIZE:-ste}
runs=${RUNS:-runs/pareto}
say() { echo "pareto: $*" >&2; }
if [ -z "${SNL:-}" ]; then
  cargo build -q -p snl-linearize
  SNL=target/debug/snl
fi
mkdir -p "$runs"
data=(--data fashion-mnist --limit-train "$limit")
start=$(date +%s)

# one teacher (split seed 0); the seeds below vary the linearization, the masks and the
# fine-tune batch order, not the teacher
if [ ! -f "$runs/teacher/model.safetensors" ]; then
  say "pretrain the CNN on $limit examples ($pre_epochs epochs)"
  "$SNL" train --arch cnn "${data[@]}" --epochs "$pre_epochs" --lr 0.05 --cosine --milestones "" \
    --batch 128 --out "$runs/teacher" --output-format json > "$runs/teacher.json"
fi
teacher=$runs/teacher/model.safetensors
for s in $seeds; do
  if [ ! -f "$runs/snl-$s.json" ]; then
    say "seed $s: SNL, one linearization for budgets $budgets"
    rc=0
    "$SNL" linearize --model "$teacher" "${data[@]}" --seed "$s" --budgets "$budgets" \
      --lambda-schedule budget --target-epochs "$target" --max-epochs "$max_epochs" --binarize "$binarize" \
      --batch "$lin_batch" --finetune-epochs "$ft" --out "$runs/snl-$s" --output-format json \
      > "$runs/snl-$s.json.tmp" || rc=$?
    [ "$rc" = 0 ] || [ "$rc" = 1 ] || { say "snl linearize failed (exit $rc)"; exit 2; }
    mv "$runs/snl-$s.json.tmp" "$runs/snl-$s.json"
  fi
  for m in random uniform snip; do
    if [ ! -f "$runs/$m-$s.json" ]; then
      say "seed $s: $m masks"
      "$SNL" baseline --model "$teacher" "${data[@]}" --seed "$s" --method "$m" \
        --budgets "$budgets" --finetune-epochs "$ft" --out "$runs/$m-$s" --output-format json \
        > "$runs/$m-$s.json.tmp"
      mv "$runs/$m-$s.json.tmp" "$runs/$m-$s.json"
    fi
  done
done
say "runs took $(( $(date +%s) - start )) s"
python3 "$here/summarize.py" "$runs" "$here" "limit_train=$limit seeds=[$seeds] pre_epochs=$pre_epochs target_epochs=$target max_epochs=$max_epochs lin_batch=$lin_batch ft_epochs=$ft binarize=$binarize"

venv=${SNL_CACHE:-$HOME/.cache/snl}/papers-venv
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import matplotlib' 2>/dev/null; then
  say "creating $venv with matplotlib"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q matplotlib
fi
"$venv/bin/python" "$here/plot.py" "$here"
say "done"
