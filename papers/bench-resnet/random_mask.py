"""Writes a copy of an snl model file whose ReLU masks keep a seeded random `FRACTION` of
each ReLU layer's units (per layer: round(FRACTION * len) units, chosen uniformly).

    python3 random_mask.py IN.safetensors FRACTION SEED OUT.safetensors

Plain Python (no packages): the safetensors layout is an 8-byte little-endian header length,
a JSON header (tensors and the string metadata) and the raw tensor data, whose offsets are
relative to the end of the header, so a new header can be written over unchanged data. The
mask format is docs/model-format.md's (`bits`: flags packed eight a byte, LSB first).
"""
import json
import os
import random
import struct
import sys

src, fraction, seed, dst = sys.argv[1], float(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
if not 0.0 < fraction <= 1.0:
    sys.exit(f"error: FRACTION must be in (0, 1], got {fraction}")
with open(src, "rb") as f:
    (n,) = struct.unpack("<Q", f.read(8))
    header = json.loads(f.read(n))
    data = f.read()
meta = header["__metadata__"]
net = json.loads(meta["network"])
rng = random.Random(seed)
kept_total = total = 0
for node in net["nodes"]:
    if node["op"] != "relu":
        continue
    length = node["mask"]["len"] if "mask" in node else None
    if length is None:
        sys.exit("error: a relu node without a mask (its length is not in the file)")
    k = round(fraction * length)
    flags = bytearray((length + 7) // 8)
    for i in rng.sample(range(length), k):
        flags[i // 8] |= 1 << (i % 8)
    node["mask"] = {"len": length, "kept": k, "bits": flags.hex()}
    kept_total += k
    total += length
meta["network"] = json.dumps(net)
meta["stage"] = f"random mask {fraction:g} (seed {seed}) of {os.path.basename(src)}"
body = json.dumps(header, separators=(",", ":")).encode()
body += b" " * (-len(body) % 8)
tmp = dst + ".tmp"
with open(tmp, "wb") as f:
    f.write(struct.pack("<Q", len(body)))
    f.write(body)
    f.write(data)
os.replace(tmp, dst)
print(f"wrote {dst}: {kept_total} of {total} ReLUs kept ({100 * kept_total / total:.3g}%)",
      file=sys.stderr)
