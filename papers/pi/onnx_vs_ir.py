"""The exported ONNX of a real model against snl's own f64 reference, in onnxruntime.

The reference is `snl-verify bound --method interval` on a point box {x} (outward-rounded
interval propagation of one point: width ~5e-9 here), so no shared code between the two
sides but the model file. Prints per example the argmaxes and the largest difference.

usage: ~/.cache/snl/onnx-venv/bin/python papers/pi/onnx_vs_ir.py \
    --model runs/quickstart/linearize/model.safetensors --inputs test.safetensors [--count 5]
(test.safetensors: `snl export-data --data fashion-mnist --split test --out test.safetensors`)
"""
import argparse
import json
import os
import struct
import subprocess
import tempfile

import numpy as np
import onnxruntime as ort

ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
ap.add_argument("--model", required=True)
ap.add_argument("--inputs", required=True)
ap.add_argument("--count", type=int, default=5)
ap.add_argument("--snl", default="target/debug/snl")
ap.add_argument("--snl-verify", default="target/debug/snl-verify")
a = ap.parse_args()

raw = open(a.inputs, "rb").read()
(n,) = struct.unpack("<Q", raw[:8])
header = json.loads(raw[8 : 8 + n])
t = header["inputs"]
lo, hi = t["data_offsets"]
X = np.frombuffer(raw[8 + n + lo : 8 + n + hi], dtype={"F32": "<f4", "F64": "<f8"}[t["dtype"]])
X = X.reshape(t["shape"]).astype(np.float64)
tmp = tempfile.mkdtemp()
worst = 0.0
for enc in ["gathered", "masked"]:
    p = os.path.join(tmp, f"{enc}.onnx")
    subprocess.run([a.snl, "export", "--from", a.model, "--format", "onnx", "--encoding", enc,
                    "--out", p], check=True, stdout=subprocess.DEVNULL)
    s = ort.InferenceSession(p, providers=["CPUExecutionProvider"])
    for i in range(a.count):
        x = X[i].reshape(-1)
        box = os.path.join(tmp, "pt.json")
        json.dump({"lower": x.tolist(), "upper": x.tolist()}, open(box, "w"))
        r = json.loads(subprocess.run([a.snl_verify, "bound", "--model", a.model, "--input-box", box,
                                       "--method", "interval", "--output-format", "json"],
                                      capture_output=True, text=True, check=True).stdout)
        ref = np.array([(o["lower"] + o["upper"]) / 2 for o in r["bounds"]])
        y = s.run(None, {"input": X[i][None].astype(np.float32)})[0].reshape(-1)
        d = float(np.max(np.abs(y - ref)))
        worst = max(worst, d)
        print(f"{enc} example {i}: argmax onnx {int(y.argmax())} ref {int(ref.argmax())}, max |diff| {d:.2e}")
print(f"largest difference {worst:.2e}")
