#!/usr/bin/env bash
# Benchmark: one linearization epoch of the Fashion-MNIST CNN in snl and in a PyTorch
# reference (same model, data, batch size, losses, plain-ReLU teacher and thread count), back
# to back, REPS times. Every masked-ReLU formula is timed on both sides; prints
#   snl/PyTorch against the official formula (torch.optim.Adam defaults), and against the
#   best PyTorch formulation (fastest masked formula with fused Adam)   target <= 0.6
#   masked/plain for snl and for PyTorch                                 target <= 1.1 (snl)
#   papers/bench/run.sh                 # full epochs, all cores, 3 repetitions
#   BATCHES=100 REPS=3 THREADS=2 papers/bench/run.sh
# Needs scripts/setup.sh first. The reference runs under $TORCH_PYTHON when set (any Python
# with torch 2.11.0, e.g. a venv with the full wheel); otherwise it creates its own venv in
# ~/.cache/snl: torch 2.11.0, the wheel snl links, with its dependencies (`import torch` loads
# the CUDA libraries even on CPU: about 2.6 GB download, once).
set -euo pipefail
cd "$(dirname "$0")/../.."
threads=${THREADS:-$(nproc)}
reps=${REPS:-3}
batches=${BATCHES:-}
formulas=prelu,neg-relu,addcmul,official
cache=${SNL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/snl}
py=${TORCH_PYTHON:-}
if [ -z "$py" ]; then
  venv="$cache/bench-torch-2.11.0"
  if [ ! -f "$venv/.snl-ok" ]; then
    echo "bench: creating the PyTorch reference venv at $venv" >&2
    rm -rf "$venv"; python3 -m venv "$venv"
    "$venv/bin/pip" install -q --no-cache-dir torch==2.11.0
    touch "$venv/.snl-ok"
  fi
  py="$venv/bin/python"
fi
cargo build -q --release -p snl-linearize --bin snl
args=(--threads "$threads"); [ -n "$batches" ] && args+=(--batches "$batches")
ours=(); theirs=()
load0=$(cut -d' ' -f1-3 /proc/loadavg)
for r in $(seq "$reps"); do
  ours+=("$(target/release/snl bench "${args[@]}" --formulas "$formulas" --output-format json 2>/dev/null)")
  theirs+=("$("$py" papers/bench/bench_torch.py "${args[@]}" 2>/dev/null)")
done
load1=$(cut -d' ' -f1-3 /proc/loadavg)
python3 - "$reps" "$load0" "$load1" "${ours[@]}" "${theirs[@]}" <<'PY'
import json, sys
n, load0, load1 = int(sys.argv[1]), sys.argv[2], sys.argv[3]
ours = [json.loads(s) for s in sys.argv[4:4 + n]]; ref = [json.loads(s) for s in sys.argv[4 + n:]]
med = lambda v: sorted(v)[len(v) // 2]
snl = {f: med([o["formulas"][f] for o in ours]) for f in ours[0]["formulas"]}
snl["plain"] = med([o["plain_s"] for o in ours])
torch = {r: med([t["rows"][r] for t in ref]) for r in ref[0]["rows"]}
default = ours[0]["default_formula"]  # the formula snl trains with
o = ours[0]
print(f"Fashion-MNIST CNN, one linearization epoch: {o['batches']} batches of {o['batch']}, {o['threads']} threads, "
      f"median of {n} (torch {ref[0]['torch']}); load average {load0} before, {load1} after")
print(f"{'masked ReLU formula':22}{'snl (s)':>9}{'PyTorch (s)':>13}{'snl/PyTorch':>13}   PyTorch optimizer")
for f in ["neg-relu", "prelu", "addcmul"]:
    mark = "  <- snl's default" if f == default else ""
    print(f"{f:22}{snl[f]:>9.2f}{torch[f]:>13.2f}{snl[f] / torch[f]:>13.3f}   Adam(fused=True){mark}")
print(f"{'official c*relu+(1-c)x':22}{snl['official']:>9.2f}{torch['official']:>13.2f}"
      f"{snl['official'] / torch['official']:>13.3f}   Adam()")
print(f"{'plain ReLU':22}{snl['plain']:>9.2f}{torch['plain']:>13.2f}{snl['plain'] / torch['plain']:>13.3f}   Adam(fused=True)")
print(f"{'plain ReLU':22}{'':>9}{torch['plain-default']:>13.2f}{snl['plain'] / torch['plain-default']:>13.3f}   Adam()")
best = min(["neg-relu", "prelu", "addcmul"], key=lambda f: torch[f])
s = snl[default]
met = lambda ok: "met" if ok else "NOT met"
r_off, r_best = s / torch["official"], s / torch[best]
mp_snl = s / snl["plain"]
print()
print(f"snl ({default}) / PyTorch official formula, Adam()        {r_off:6.3f}")
print(f"snl ({default}) / best PyTorch ({best}, fused Adam){'':>{max(0, 9 - len(best))}}{r_best:6.3f}   target <= 0.6: {met(r_best <= 0.6)}")
print(f"masked/plain, snl ({default})                          {mp_snl:6.3f}   target <= 1.1: {met(mp_snl <= 1.1)}")
print(f"masked/plain, PyTorch ({best} / plain, fused Adam){'':>{max(0, 6 - len(best))}}{torch[best] / torch['plain']:6.3f}")
print(f"masked/plain, PyTorch (official / plain, Adam())        {torch['official'] / torch['plain-default']:6.3f}")
PY
