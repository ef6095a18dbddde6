#!/usr/bin/env bash
# VNN-COMP 2022 benchmarks: snl-verify against Marabou and α,β-CROWN on this machine, plus the
# published 2022 results. Whole reproduction:
#
#   CAP=60 papers/vnncomp/run.sh                 # every instance, each capped at min(timeout, CAP) s
#   CAP=60 LIMIT=3 BENCHES="acasxu mnist_fc" papers/vnncomp/run.sh     # smoke test
#   SKIP_SETUP=1 SKIP_PEERS=1 papers/vnncomp/run.sh                    # only ours + summary + plots
#
#   CAP=30 BENCHES=mnist_fc OUT=papers/vnncomp/side-by-side papers/vnncomp/run.sh   # all tools, one run
#
# Env: CAP (uniform per-instance cap in s; empty = the instance timeouts of instances.csv), LIMIT
# (first N instances per benchmark), BENCHES, TOOLS (subset of "snl marabou abcrown"), SNL_CACHE,
# OUT (folder for results/, results.md/json and the cactus plots; default papers/vnncomp).
# Every tool resumes its results/<tool>-<bench>.csv after the last row that matches this run's
# instance list (delete the file to rerun from scratch).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
HERE="$ROOT/papers/vnncomp"
export SNL_CACHE="${SNL_CACHE:-$HOME/.cache/snl}"
BENCH_ROOT="${VNNCOMP_BENCHMARKS:-/work/shared/vnncomp2022/benchmarks}"
BENCHES="${BENCHES:-acasxu mnist_fc oval21 sri_resnet_a}"
TOOLS="${TOOLS:-snl marabou abcrown}"
CAP="${CAP:-}"
LIMIT="${LIMIT:-}"
ARGS=()
[ -n "$CAP" ] && ARGS+=(--cap "$CAP")
[ -n "$LIMIT" ] && ARGS+=(--limit "$LIMIT")
OUTDIR="$(mkdir -p "${OUT:-$HERE}" && cd "${OUT:-$HERE}" && pwd)"
RES="$OUTDIR/results"
export VNNCOMP_RESULTS="$RES"
mkdir -p "$RES"
has() { case " $TOOLS " in *" $1 "*) return 0;; *) return 1;; esac; }

# --- setup -------------------------------------------------------------------------------------
if [ -z "${SKIP_SETUP:-}" ]; then
  has marabou && "$HERE/peers/setup_marabou.sh"
  has abcrown && "$HERE/peers/setup_abcrown.sh"
  # matplotlib for the cactus plots (PyPI), onnx + onnxruntime for the counterexample checks
  [ -x "$SNL_CACHE/plot-venv/bin/python" ] || { python3 -m venv "$SNL_CACHE/plot-venv" && "$SNL_CACHE/plot-venv/bin/pip" install -q matplotlib; }
  "$SNL_CACHE/onnx-venv/bin/python" -c 'import onnxruntime, numpy' 2>/dev/null \
    || { python3 -m venv "$SNL_CACHE/onnx-venv" && "$SNL_CACHE/onnx-venv/bin/pip" install -q onnx onnxruntime numpy; }
  (cd "$ROOT" && cargo build --release -p snl-verify)
fi
# the benchmark files, decompressed once to $SNL_CACHE/vnncomp2022-unzipped/<bench>/{onnx,vnnlib}
for b in $BENCHES; do python3 -c "import sys; sys.path.insert(0, '$HERE/peers'); import common; print(common.unzip_benchmark('$b'))"; done

# --- runs: one tool at a time, one instance at a time (2 cores) ---------------------------------
for b in $BENCHES; do
  UNZ="$SNL_CACHE/vnncomp2022-unzipped/$b"
  if has snl; then
    # ours: resumes an existing results/snl-$b.csv after its last complete row (delete the file
    # to rerun from scratch); gzip'd files are read as they are
    mkdir -p "$RES/cex/snl/$b"
    "$ROOT/target/release/snl-verify" vnncomp --batch "$BENCH_ROOT/$b/instances.csv" \
      --out "$RES/snl-$b.csv" --cex-dir "$RES/cex/snl/$b" ${CAP:+--cap "$CAP"} ${LIMIT:+--limit "$LIMIT"}
  fi
  if [ -z "${SKIP_PEERS:-}" ]; then
    has marabou && "$SNL_CACHE/marabou-venv/bin/python" "$HERE/peers/run_marabou.py" "$b" "${ARGS[@]}"
    has abcrown && "$HERE/peers/run_abcrown.sh" "$b" "${ARGS[@]}"
  fi
done

# --- summary and plots ----------------------------------------------------------------------------
"$SNL_CACHE/onnx-venv/bin/python" "$HERE/summarize.py" --results "$RES" --out-dir "$OUTDIR" ${REF:+--ref "$REF"}
"$SNL_CACHE/plot-venv/bin/python" "$HERE/cactus.py" --results "$RES" --out-dir "$OUTDIR" \
  ${CAP:+--note "runs here capped at $CAP s per instance"}
