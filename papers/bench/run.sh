#!/usr/bin/env bash
# Benchmark: one linearization epoch of the Fashion-MNIST CNN in snl and in a PyTorch
# reference (same model, data, batch size and thread count), back to back, REPS times.
# Prints ours/PyTorch (target <= 0.8) and masked/plain ReLU (target <= 1.05).
#   papers/bench/run.sh                 # full epochs, all cores, 3 repetitions
#   BATCHES=100 REPS=1 THREADS=2 papers/bench/run.sh
# Needs scripts/setup.sh first. Creates the reference's own venv in ~/.cache/snl: torch 2.11.0,
# the wheel snl links, with its dependencies (`import torch` loads the CUDA libraries even on
# CPU: about 2.6 GB download, once).
set -euo pipefail
cd "$(dirname "$0")/../.."
threads=${THREADS:-$(nproc)}
reps=${REPS:-3}
batches=${BATCHES:-}
cache=${SNL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/snl}
venv="$cache/bench-torch-2.11.0"
if [ ! -f "$venv/.snl-ok" ]; then
  echo "bench: creating the PyTorch reference venv at $venv" >&2
  rm -rf "$venv"; python3 -m venv "$venv"
  "$venv/bin/pip" install -q --no-cache-dir torch==2.11.0
  touch "$venv/.snl-ok"
fi
cargo build -q --release -p snl-linearize --bin snl
args=(--threads "$threads"); [ -n "$batches" ] && args+=(--batches "$batches")
ours=(); theirs=()
for r in $(seq "$reps"); do
  ours+=("$(target/release/snl bench "${args[@]}" --output-format json 2>/dev/null)")
  theirs+=("$("$venv/bin/python" papers/bench/bench_torch.py "${args[@]}" 2>/dev/null)")
done
python3 - "$reps" "${ours[@]}" "${theirs[@]}" <<'PY'
import json, sys
n = int(sys.argv[1]); ours = [json.loads(s) for s in sys.argv[2:2 + n]]; ref = [json.loads(s) for s in sys.argv[2 + n:]]
med = lambda v: sorted(v)[len(v) // 2]
om, op = med([o["masked_s"] for o in ours]), med([o["plain_s"] for o in ours])
rm, rp = med([r["masked_s"] for r in ref]), med([r["plain_s"] for r in ref])
o = ours[0]
print(f"Fashion-MNIST CNN, one linearization epoch: {o['batches']} batches of {o['batch']}, {o['threads']} threads, "
      f"median of {n} (torch {ref[0]['torch']})")
print(f"{'':14}{'snl (s)':>10}{'PyTorch (s)':>13}{'snl/PyTorch':>13}")
print(f"{'masked ReLU':14}{om:>10.2f}{rm:>13.2f}{om / rm:>13.3f}   target <= 0.8")
print(f"{'plain ReLU':14}{op:>10.2f}{rp:>13.2f}{op / rp:>13.3f}")
print(f"{'masked/plain':14}{om / op:>10.3f}{rm / rp:>13.3f}{'':>13}   target <= 1.05 (snl)")
PY
