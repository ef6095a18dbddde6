#!/usr/bin/env python3
"""Pick the benchmark's images as mnist_fc's generate.py does, without its random permutation.

    select_images.py TESTSET N ONNX... > images.csv

TESTSET is an snl test-set file (safetensors: `inputs` [n, 1, 28, 28] raw pixels, `labels` [n];
`snl export-data` writes it). Walks the examples in file order and keeps the first N that every
ONNX network classifies correctly (argmax of onnxruntime's output), as generate.py keeps the
first 15 of its seeded permutation that all three mnist_fc networks classify correctly.
Prints `index,label` per kept example (index = position in TESTSET), and to stderr each network's
accuracy on the examples walked (onnxruntime, f32).

Run with $SNL_CACHE/onnx-venv/bin/python (numpy + onnxruntime). The safetensors file is read with
the standard library and numpy: 8-byte little-endian header length, JSON header, raw data.
"""
import json
import struct
import sys

import numpy as np
import onnxruntime as ort

DTYPES = {"F32": np.float32, "F64": np.float64, "I64": np.int64, "I32": np.int32, "U8": np.uint8}


def load_safetensors(path):
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, t in header.items():
        if name == "__metadata__":
            continue
        a, b = t["data_offsets"]
        out[name] = np.frombuffer(data[a:b], dtype=DTYPES[t["dtype"]]).reshape(t["shape"])
    return out


def main():
    if len(sys.argv) < 4:
        sys.exit(__doc__)
    tensors = load_safetensors(sys.argv[1])
    want = int(sys.argv[2])
    x, y = tensors["inputs"].astype(np.float32), tensors["labels"].astype(np.int64)
    sessions = [ort.InferenceSession(p, providers=["CPUExecutionProvider"]) for p in sys.argv[3:]]
    preds = []
    for s in sessions:
        inp = s.get_inputs()[0]
        shape = [d if isinstance(d, int) and d > 0 else 1 for d in inp.shape]
        preds.append(np.array([int(np.argmax(s.run(None, {inp.name: x[i].reshape(shape)})[0]))
                               for i in range(len(x))]))
    kept = []
    for i in range(len(x)):
        if all(p[i] == y[i] for p in preds):
            kept.append(i)
            if len(kept) == want:
                break
    if len(kept) < want:
        sys.exit(f"only {len(kept)} of {len(x)} examples are classified correctly by every network")
    walked = kept[-1] + 1
    for path, p in zip(sys.argv[3:], preds):
        print(f"{path}: {np.mean(p[:walked] == y[:walked]):.4f} on the first {walked} examples "
              f"({np.mean(p == y):.4f} on all {len(x)})", file=sys.stderr)
    print("index,label")
    for i in kept:
        print(f"{i},{y[i]}")


if __name__ == "__main__":
    main()
