#!/usr/bin/env bash
# α,β-CROWN on CPU over one VNN-COMP 2022 benchmark:  run_abcrown.sh BENCH [--cap S] [--limit N] [--out CSV]
# Needs setup_abcrown.sh first. Threads: ABCROWN_THREADS (default: all cores, `nproc`) for torch/OpenMP.
set -euo pipefail
CACHE="${SNL_CACHE:-$HOME/.cache/snl}"
HERE="$(cd "$(dirname "$0")" && pwd)"
export OMP_NUM_THREADS="${ABCROWN_THREADS:-$(nproc)}"
export MKL_NUM_THREADS="$OMP_NUM_THREADS"
exec "$CACHE/abcrown-venv/bin/python" "$HERE/run_abcrown.py" "$@"
