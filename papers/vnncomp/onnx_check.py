"""Cross-check of the ONNX importer: onnxruntime (f32) against snl's IR forward (f64).

usage: onnx_check.py [--bin snl-verify] [--per-net 5] [--seed 0] [FILE.onnx[.gz] ...]
Default files: /work/shared/vnncomp2022/benchmarks/{acasxu,mnist_fc,oval21,sri_resnet_a}/onnx.
For each network, draws --per-net inputs uniform in [0, 1) (fixed seed, rounded to f32 so
both sides see the same values), runs onnxruntime and `snl-verify forward`, and prints the
max absolute difference and the max relative one (|Δ| / max(1e-3, max |y|) per input).
The final line is the maximum over all networks. Exit 1 when a network fails to import or
a relative difference exceeds 1e-4.
"""
import argparse
import glob
import gzip
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import onnx
import onnxruntime as ort

BENCH = "/work/shared/vnncomp2022/benchmarks"
SETS = ["acasxu", "mnist_fc", "oval21", "sri_resnet_a"]

ap = argparse.ArgumentParser()
ap.add_argument("--bin", default="snl-verify")
ap.add_argument("--per-net", type=int, default=5)
ap.add_argument("--seed", type=int, default=0)
ap.add_argument("--tol", type=float, default=1e-4)
ap.add_argument("files", nargs="*")
a = ap.parse_args()
files = a.files or sorted(f for s in SETS for f in glob.glob(f"{BENCH}/{s}/onnx/*.onnx.gz"))
rng = np.random.default_rng(a.seed)
worst_abs = worst_rel = 0.0
failed = 0
for f in files:
    raw = gzip.open(f).read() if f.endswith(".gz") else open(f, "rb").read()
    model = onnx.load_from_string(raw)
    sess = ort.InferenceSession(raw, providers=["CPUExecutionProvider"])
    inp = sess.get_inputs()[0]
    shape = [d if isinstance(d, int) else 1 for d in inp.shape]
    xs = rng.random([a.per_net] + shape[1:], dtype=np.float32)
    want = [sess.run(None, {inp.name: xs[i : i + 1]})[0].reshape(-1).astype(np.float64) for i in range(a.per_net)]
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as t:
        json.dump([x.reshape(-1).astype(float).tolist() for x in xs], t)
    p = subprocess.run(
        [a.bin, "forward", "--model", f, "--inputs-json", t.name, "--output-format", "json"],
        capture_output=True,
        text=True,
    )
    os.unlink(t.name)
    name = os.path.relpath(f, BENCH) if f.startswith(BENCH) else f
    if p.returncode != 0:
        print(f"{name:70s} FAILED: {p.stderr.strip()}")
        failed += 1
        continue
    got = [np.array(o) for o in json.loads(p.stdout)["outputs"]]
    d_abs = max(float(np.max(np.abs(g - w))) for g, w in zip(got, want))
    d_rel = max(float(np.max(np.abs(g - w)) / max(1e-3, float(np.max(np.abs(w))))) for g, w in zip(got, want))
    worst_abs, worst_rel = max(worst_abs, d_abs), max(worst_rel, d_rel)
    flag = "" if d_rel <= a.tol else "  <-- above tolerance"
    print(f"{name:70s} max|d| {d_abs:.3e}  rel {d_rel:.3e}{flag}")
    if d_rel > a.tol:
        failed += 1
print(f"{len(files)} networks, {failed} failed; max abs diff {worst_abs:.3e}, max rel diff {worst_rel:.3e}")
sys.exit(1 if failed else 0)
