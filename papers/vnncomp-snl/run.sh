#!/usr/bin/env bash
# VNN-COMP 2022 mnist_fc's protocol on Fashion-MNIST, with SNL-linearized networks (README.md).
#
#   papers/vnncomp-snl/run.sh                     # build, train, linearize, eval, export, instances
#   VERIFY=1 CAP=60 papers/vnncomp-snl/run.sh     # ... then the verification runs, plot, results.md
#   VERIFY=1 SUBSET=1 CAP=20 papers/vnncomp-snl/run.sh        # the run in README.md (75 instances)
#   VERIFY=1 TOOLS="snl" LIMIT=5 papers/vnncomp-snl/run.sh   # a smoke test of ours only
#
# Idempotent: a step whose output exists is skipped; from scratch:
#   rm -rf papers/vnncomp-snl/{work,benchmark-*/onnx,benchmark-*/vnnlib,models.csv,images.csv}
# Run folders and intermediate files live in work/ (git-ignored); the benchmarks' ONNX and VNN-LIB
# files (benchmark-{masked,split}/{onnx,vnnlib}/*.gz, ≈ 22 MB each) are git-ignored and regenerated;
# instances.csv, subset.csv, MANIFEST.sha256 (sha256 of every .gz), models.csv and images.csv are
# committed.
# Env: CARGO_TARGET_DIR (default <repo>/target), SNL_CACHE (default ~/.cache/snl), VERIFY, CAP,
# LIMIT, SUBSET, TOOLS (subset of "snl marabou abcrown"), RUN_ENCODINGS (subset of "masked split").
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
HERE="$ROOT/papers/vnncomp-snl"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
export SNL_CACHE="${SNL_CACHE:-$HOME/.cache/snl}"
SNL="$CARGO_TARGET_DIR/release/snl"
SNLV="$CARGO_TARGET_DIR/release/snl-verify"
W="$HERE/work"
# one benchmark folder per ONNX encoding of the networks (README): benchmark-masked/ and
# benchmark-split/, the same VNN-LIB files and instances in both
ENCODINGS="masked split"
bdir() { echo "$HERE/benchmark-$1"; }
ARCHS="${ARCHS:-256x2 256x4 256x6}"   # override only for a partial test run
BUDGETS="0.5,0.2,0.1,0.05"
EPSILONS="0.03 0.05"
NIMG=15
SEED=0
mkdir -p "$W"; for enc in $ENCODINGS; do mkdir -p "$(bdir "$enc")/onnx" "$(bdir "$enc")/vnnlib"; done
say() { echo "[vnncomp-snl] $*" >&2; }

(cd "$ROOT" && cargo build --release -p snl-linearize -p snl-verify)

# --- 1. teachers: 784 -> 256 x L -> 10, 6 epochs SGD (lr 0.05, cosine), seed 0 ----------------------
for a in $ARCHS; do
  L=${a#256x}
  hidden=$(printf '256,%.0s' $(seq "$L")); hidden=${hidden%,}
  if [ ! -f "$W/$a/teacher/model.safetensors" ]; then
    say "train $a"
    "$SNL" train --data fashion-mnist --arch mlp --hidden "$hidden" --epochs 6 --lr 0.05 --cosine \
      --seed "$SEED" --out "$W/$a/teacher"
  fi
done

# --- 2. linearize each teacher to 50/20/10/5% of its ReLUs (one run, four snapshots) ---------------
# Short on purpose (2 shared CPU cores): 12,000 training examples (seeded choice), λ₀ 1e-3 and Adam
# lr 3e-3 so the masks can fall within a few epochs, the budget-aware λ schedule (target 4 epochs,
# give up after 15), then 2 epochs of KD fine-tuning (SGD lr 0.01, cosine) per budget.
for a in $ARCHS; do
  if [ ! -f "$W/$a/snl/model.safetensors" ]; then
    say "linearize $a"
    "$SNL" linearize --model "$W/$a/teacher/model.safetensors" --data fashion-mnist --seed "$SEED" \
      --limit-train 12000 --budgets "$BUDGETS" --lambda-schedule budget --target-epochs 4 \
      --lambda0 1e-3 --lr 3e-3 --max-epochs 15 --finetune-epochs 2 --finetune-lr 0.01 \
      --out "$W/$a/snl"
  fi
done

# The 15 networks: name (fmnist-<arch>-<full|bNN>) and snl model file.
nets() {
  for a in $ARCHS; do
    echo "fmnist-$a-full $W/$a/teacher/model.safetensors"
    # linearize writes the larger budgets to budget-<ReLU count>/ (512 ReLUs: 256, 102, 51) and
    # the smallest (5%) to --out itself
    set -- $(ls -d "$W/$a/snl"/budget-* | sed 's/.*budget-//' | sort -rn)
    [ $# = 3 ] || { say "$W/$a/snl: expected 3 budget-* folders, found $#"; exit 1; }
    echo "fmnist-$a-b50 $W/$a/snl/budget-$1/model.safetensors"
    echo "fmnist-$a-b20 $W/$a/snl/budget-$2/model.safetensors"
    echo "fmnist-$a-b10 $W/$a/snl/budget-$3/model.safetensors"
    echo "fmnist-$a-b05 $W/$a/snl/model.safetensors"
  done
}

# --- 3. clean test accuracy and kept ReLUs (snl eval, full test set) -> models.csv ------------------
if [ ! -f "$HERE/models.csv" ]; then
  tmp="$HERE/models.csv.part"
  echo "onnx,arch,budget,kept,total,accuracy" > "$tmp"
  while read -r name model; do
    "$SNL" eval --model "$model" --data fashion-mnist --output-format json > "$W/eval-$name.json"
    python3 - "$name" "$W/eval-$name.json" >> "$tmp" <<'EOF'
import json, sys
name, path = sys.argv[1], sys.argv[2]
e = json.load(open(path))
arch, b = name.split("-")[1:]
print(f"onnx/{name}.onnx,{arch},{1.0 if b == 'full' else int(b[1:]) / 100},{e['relus']['kept']},{e['relus']['total']},{e['top1']:.4f}")
EOF
  done < <(nets)
  mv "$tmp" "$HERE/models.csv"
fi
column -s, -t < "$HERE/models.csv" >&2

# --- 4. ONNX, in both encodings of a partially linearized layer (docs/onnx.md, README): masked
# (x + m ⊙ relu(−x): a Relu on every unit, the original SNL form) and split (the dense layers around
# the ReLU as Gemms on the kept and the linear units: a Relu on the kept units only) ---------------
for enc in $ENCODINGS; do
  while read -r name model; do
    out="$(bdir "$enc")/onnx/$name.onnx.gz"
    if [ ! -f "$out" ]; then
      "$SNL" export --from "$model" --format onnx --encoding "$enc" --out "$W/$enc-$name.onnx"
      gzip -n -9 -c "$W/$enc-$name.onnx" > "$out.part" && mv "$out.part" "$out"
    fi
  done < <(nets)
done

# --- 5. images: the first 15 test examples every teacher classifies correctly ---------------------
[ -f "$W/test.safetensors" ] || "$SNL" export-data --data fashion-mnist --split test --out "$W/test.safetensors"
if [ ! -f "$HERE/images.csv" ]; then
  for a in $ARCHS; do [ -f "$W/masked-fmnist-$a-full.onnx" ] || gunzip -c "$(bdir masked)/onnx/fmnist-$a-full.onnx.gz" > "$W/masked-fmnist-$a-full.onnx"; done
  "$SNL_CACHE/onnx-venv/bin/python" "$HERE/select_images.py" "$W/test.safetensors" "$NIMG" \
    $(for a in $ARCHS; do echo "$W/masked-fmnist-$a-full.onnx"; done) > "$HERE/images.csv.part"
  mv "$HERE/images.csv.part" "$HERE/images.csv"
fi

# --- 6. VNN-LIB: one per (image, ε), L∞ ball clipped to [0, 1], violation of argmax = label --------
# prop_<k>_<ε>.vnnlib, k = 0..14 the row of images.csv (as generate.py numbers its images). The box
# depends only on the image, so one file serves all 15 networks (their inputs are the same raw pixels)
# and both encodings (copied).
k=0
while IFS=, read -r idx label; do
  for e in $EPSILONS; do
    f="$(bdir masked)/vnnlib/prop_${k}_$e.vnnlib"
    if [ ! -f "$f.gz" ]; then
      # run from the repo root with repo-relative paths: the file's header names the model, and
      # MANIFEST.sha256 must not depend on where the checkout lives
      (cd "$ROOT" && "$SNLV" vnnlib --model "${W#"$ROOT"/}/256x2/teacher/model.safetensors" \
        --inputs "${W#"$ROOT"/}/test.safetensors" --index "$idx" --eps "$e" --property "argmax=$label" \
        --out "$W/prop.vnnlib")
      gzip -n -9 -c "$W/prop.vnnlib" > "$f.gz.part" && mv "$f.gz.part" "$f.gz"
    fi
    for enc in $ENCODINGS; do
      g="$(bdir "$enc")/vnnlib/prop_${k}_$e.vnnlib.gz"
      [ "$g" = "$f.gz" ] || cmp -s "$f.gz" "$g" || cp "$f.gz" "$g"
    done
  done
  k=$((k + 1))
done < <(tail -n +2 "$HERE/images.csv")

# --- 7. instances.csv (mnist_fc's order: network, then ε, then image; timeouts as mnist_fc), and
# subset.csv: its rows with the first 5 images at ε = 0.03 (75 instances) -------------------------
for enc in $ENCODINGS; do
  B="$(bdir "$enc")"
  tmp="$B/instances.csv.part"
  : > "$tmp"
  while read -r name model; do
    t=300; case "$name" in *256x2*) t=120;; esac
    for e in $EPSILONS; do
      for k in $(seq 0 $((NIMG - 1))); do echo "onnx/$name.onnx,vnnlib/prop_${k}_$e.vnnlib,$t" >> "$tmp"; done
    done
  done < <(nets)
  mv "$tmp" "$B/instances.csv"
  grep -E ',vnnlib/prop_[0-4]_0\.03\.vnnlib,' "$B/instances.csv" > "$B/subset.csv"
  (cd "$B" && sha256sum onnx/*.onnx.gz vnnlib/*.vnnlib.gz > MANIFEST.sha256)
  say "benchmark-$enc: $(wc -l < "$B/instances.csv") instances; files $(du -sh "$B" | cut -f1)"
done

# --- 8. VERIFICATION RUNS (off unless VERIFY=1) -------------------------------------------------------
# >>> VERIFY
if [ -n "${VERIFY:-}" ]; then
  TOOLS="${TOOLS:-snl marabou abcrown}"
  has() { case " $TOOLS " in *" $1 "*) return 0;; *) return 1;; esac; }
  RES="$HERE/results"
  mkdir -p "$RES"
  # The peer runners of papers/vnncomp take a benchmark *name* under $VNNCOMP_BENCHMARKS (here
  # this folder: benchmark-masked, benchmark-split) and write results/<tool>-<name>.csv and
  # results/cex/<tool>/<name>/<row>.txt under $VNNCOMP_RESULTS (here results/); they unzip the
  # files to $SNL_CACHE/vnncomp2022-unzipped/<name>/.
  export VNNCOMP_BENCHMARKS="$HERE" VNNCOMP_RESULTS="$RES"
  PEER="$ROOT/papers/vnncomp/peers"
  has marabou && "$PEER/setup_marabou.sh"
  has abcrown && "$PEER/setup_abcrown.sh"
  for enc in ${RUN_ENCODINGS:-$ENCODINGS}; do
    name="benchmark-$enc"
    B="$(bdir "$enc")"
    # SUBSET=1: only the rows of subset.csv; the peers' runners take them as 0-based rows of
    # instances.csv (--only)
    LIST="$B/instances.csv"
    ONLY=
    if [ -n "${SUBSET:-}" ]; then
      LIST="$B/subset.csv"
      ONLY=$(awk -F, 'NR == FNR { want[$0] = 1; next } ($0 in want) { printf "%s%d", sep, FNR - 1; sep = "," }' \
        "$B/subset.csv" "$B/instances.csv")
      [ -n "$ONLY" ] || { say "$B/subset.csv: no row found in instances.csv"; exit 1; }
    fi
    if has snl; then
      mkdir -p "$RES/cex/snl/$name"
      "$SNLV" vnncomp --batch "$LIST" --benchmark "$name" --out "$RES/snl-$name.csv" --cap "${CAP:-60}" \
        --cex-dir "$RES/cex/snl/$name" ${LIMIT:+--limit "$LIMIT"}
      if [ -n "$ONLY" ]; then
        # --cex-dir numbers by the rows of subset.csv; summarize.py reads instances.csv's rows
        d="$RES/cex/snl/$name"; i=0
        for r in ${ONLY//,/ }; do
          [ ! -f "$d/$i.txt" ] || mv "$d/$i.txt" "$d/renumbered-$r.txt"
          i=$((i + 1))
        done
        for f in "$d"/renumbered-*.txt; do [ ! -f "$f" ] || mv "$f" "$d/${f##*/renumbered-}"; done
      fi
    fi
    PEER_ARGS=(--cap "${CAP:-60}")
    [ -n "${LIMIT:-}" ] && PEER_ARGS+=(--limit "$LIMIT")
    [ -n "$ONLY" ] && PEER_ARGS+=(--only "$ONLY")
    if has marabou; then
      "$SNL_CACHE/marabou-venv/bin/python" "$PEER/run_marabou.py" "$name" "${PEER_ARGS[@]}"
    fi
    if has abcrown; then
      "$PEER/run_abcrown.sh" "$name" "${PEER_ARGS[@]}"
    fi
  done
  [ -x "$SNL_CACHE/plot-venv/bin/python" ] || { python3 -m venv "$SNL_CACHE/plot-venv" && "$SNL_CACHE/plot-venv/bin/pip" install -q matplotlib; }
  "$SNL_CACHE/plot-venv/bin/python" "$HERE/plot.py"
  # answers judged (every sat's counterexample through onnxruntime; wrong = a failed one, or unsat
  # where a validated sat exists) and VNN-COMP's points, per benchmark folder: results.md
  "$SNL_CACHE/onnx-venv/bin/python" "$ROOT/papers/vnncomp/summarize.py" --no-published \
    --benchmarks benchmark-masked,benchmark-split --results "$RES" --out-dir "$HERE"
fi
# <<< VERIFY
