"""Writes example 0 of a test-set file (safetensors `inputs`, F32 or F64) as a JSON array.

    python3 center.py TEST_SET.safetensors OUT.json

Plain Python: the safetensors layout is an 8-byte little-endian header length, a JSON header
(dtype, shape, data_offsets per tensor) and the raw little-endian data.
"""
import json
import struct
import sys

src, dst = sys.argv[1], sys.argv[2]
with open(src, "rb") as f:
    (n,) = struct.unpack("<Q", f.read(8))
    header = json.loads(f.read(n))
    data = f.read()
t = header["inputs"]
code, size = {"F32": ("f", 4), "F64": ("d", 8)}[t["dtype"]]
per = 1
for d in t["shape"][1:]:
    per *= d
start = t["data_offsets"][0]
x = struct.unpack(f"<{per}{code}", data[start:start + per * size])
json.dump(list(x), open(dst, "w"))
print(f"wrote {dst}: {per} values (shape {t['shape'][1:]}), range [{min(x):.3f}, {max(x):.3f}]",
      file=sys.stderr)
