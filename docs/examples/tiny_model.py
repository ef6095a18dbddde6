"""Write a minimal snl model file from Python (numpy + safetensors; PyTorch tensors work the
same way through .detach().numpy()). Usage: python tiny_model.py OUT.safetensors
Then: snl-verify info --model OUT.safetensors  ->  "ReLUs: 3 kept of 4"."""
import json
import sys

import numpy as np
from safetensors.numpy import save_file

rng = np.random.default_rng(0)
fc1_w, fc1_b = rng.normal(size=(4, 2)).astype(np.float32), np.zeros(4, np.float32)
fc2_w, fc2_b = rng.normal(size=(1, 4)).astype(np.float32), np.zeros(1, np.float32)

kept = np.array([1, 0, 1, 1], dtype=np.uint8)  # unit 1 linearized
mask = {"len": 4, "kept": int(kept.sum()),
        "bits": np.packbits(kept, bitorder="little").tobytes().hex()}
network = {"input_shape": [2], "nodes": [
    {"op": "dense", "weight": "fc1.weight", "bias": "fc1.bias"},
    {"op": "relu", "mask": mask},
    {"op": "dense", "weight": "fc2.weight", "bias": "fc2.bias"},
]}
save_file({"fc1.weight": fc1_w, "fc1.bias": fc1_b, "fc2.weight": fc2_w, "fc2.bias": fc2_b},
          sys.argv[1], metadata={"format_version": "1", "network": json.dumps(network)})
