#!/usr/bin/env bash
# Benchmark: one linearization epoch of the Fashion-MNIST CNN in snl and in a PyTorch
# reference (same model, data, batch size, losses, plain-ReLU teacher and thread count), back
# to back, REPS times. snl: every masked-ReLU formula with the reference kernels, and the
# fused kernels (--kernels fused); PyTorch: the bench_torch.py rows in $ROWS (eager,
# channels-last, torch.compile). Prints every row and
#   snl fused / the best PyTorch masked row (the fastest in that run)    target <= 0.6
#   masked/plain for snl's fused kernels                                 target <= 1.1
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
# PyTorch rows (bench_torch.py --rows; ROWS=all for every row): eager NCHW, channels-last
# (-cl), and torch.compile (inductor; -compile, -cl-compile)
rows=${ROWS:-official,neg-relu,prelu,addcmul,plain,plain-default,neg-relu-cl,addcmul-cl,plain-cl,neg-relu-compile,prelu-compile,addcmul-compile,neg-relu-cl-compile,prelu-cl-compile,addcmul-cl-compile,plain-compile,plain-cl-compile}
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
  ours+=("$(target/release/snl bench "${args[@]}" --formulas "$formulas" --kernels fused --output-format json 2>/dev/null)")
  rowargs=(); [ "$rows" != all ] && rowargs=(--rows "$rows")
  theirs+=("$("$py" papers/bench/bench_torch.py "${args[@]}" "${rowargs[@]}" 2>/dev/null)")
done
load1=$(cut -d' ' -f1-3 /proc/loadavg)
python3 - "$reps" "$load0" "$load1" "${ours[@]}" "${theirs[@]}" <<'PY'
import json, sys
n, load0, load1 = int(sys.argv[1]), sys.argv[2], sys.argv[3]
ours = [json.loads(s) for s in sys.argv[4:4 + n]]; ref = [json.loads(s) for s in sys.argv[4 + n:]]
med = lambda v: sorted(v)[len(v) // 2]
snl = {r: med([o["rows"][r] for o in ours]) for r in ours[0]["rows"]}
torch = {r: med([t["rows"][r] for t in ref]) for r in ref[0]["rows"]}
default = ours[0]["default_formula"]  # the formula the reference kernels train with
o = ours[0]
print(f"Fashion-MNIST CNN, one linearization epoch: {o['batches']} batches of {o['batch']}, {o['threads']} threads, "
      f"median of {n} (torch {ref[0]['torch']}); load average {load0} before, {load1} after")
print()
print(f"{'snl row':28}{'seconds':>9}")
for r, s in snl.items():
    kind = "fused kernels" if r.startswith("fused") else "reference kernels"
    mark = "  <- trains with (default --kernels reference)" if r == default else ""
    print(f"{r:28}{s:>9.2f}   {kind}{mark}")
print()
print(f"{'PyTorch row':28}{'seconds':>9}")
for r, s in torch.items():
    print(f"{r:28}{s:>9.2f}")
masked = {r: s for r, s in torch.items() if not r.startswith("plain")}
plain = {r: s for r, s in torch.items() if r.startswith("plain")}
eager = {r: s for r, s in masked.items() if "compile" not in r}
best, best_eager = min(masked, key=masked.get), min(eager, key=eager.get)
best_plain = min(plain, key=plain.get)
met = lambda ok: "met" if ok else "NOT met"
f, fp, d, p = snl["fused"], snl["fused-plain"], snl[default], snl["plain"]
print()
print(f"best PyTorch masked row: {best} ({masked[best]:.2f} s); best eager: {best_eager} ({eager[best_eager]:.2f} s); "
      f"best plain: {best_plain} ({plain[best_plain]:.2f} s)")
print(f"snl fused / best PyTorch masked (any row)   {f / masked[best]:6.3f}   target <= 0.6: {met(f / masked[best] <= 0.6)}")
print(f"snl fused / best eager PyTorch masked       {f / eager[best_eager]:6.3f}   (<= 0.6: {met(f / eager[best_eager] <= 0.6)})")
print(f"snl reference ({default}) / best eager         {d / eager[best_eager]:6.3f}")
print(f"snl fused / PyTorch official formula        {f / torch['official']:6.3f}")
print(f"snl fused-plain / best PyTorch plain        {fp / plain[best_plain]:6.3f}")
print(f"masked/plain, snl fused                     {f / fp:6.3f}   target <= 1.1: {met(f / fp <= 1.1)}")
print(f"masked/plain, snl reference ({default})        {d / p:6.3f}")
print(f"masked/plain, PyTorch (best masked / best plain) {masked[best] / plain[best_plain]:6.3f}")
PY
