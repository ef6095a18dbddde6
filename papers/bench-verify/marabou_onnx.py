"""bench-verify from files: Marabou reads the exported ONNX + VNN-LIB pair, snl-verify reads
the model file, and the argmax verdicts are compared (issue 10, item 2).

Per model `mlp-k{K}.safetensors` of a `snl-verify bench --out DIR` folder (with its
`mlp-k{K}.box.json` and the class in the bench JSON), this runs
  snl-verify vnnlib --model M --input-box BOX --property argmax=C --out q.vnnlib \
      --onnx m.onnx --encoding masked
(masked: Marabou's ONNX parser has no Gather), then Marabou
  Marabou.read_onnx(m.onnx).solve(propertyFilename=q.vnnlib)   # sat = violated
and snl-verify bound --method bab on the same box. Not a test: CI does not run it.

usage:
  target/debug/snl-verify bench --out /tmp/bv --hidden 16,16 --budgets 0,8,16,32 \
      --radius 0.3 --solve bab --output-format json > /tmp/bv.json
  PYTHONPATH=~/.cache/snl/marabou-venv/lib/python3.11/site-packages \
      ~/.cache/snl/onnx-venv/bin/python papers/bench-verify/marabou_onnx.py \
      --dir /tmp/bv --bench-json /tmp/bv.json --bin target/debug/snl-verify
"""
import argparse
import json
import os
import subprocess
import time


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dir", required=True)
    ap.add_argument("--bench-json", required=True)
    ap.add_argument("--bin", default="target/debug/snl-verify")
    ap.add_argument("--timeout", type=int, default=120)
    ap.add_argument("--encoding", default="masked")
    a = ap.parse_args()
    from maraboupy import Marabou

    rows = []
    for b in json.load(open(a.bench_json)):
        k, c = b["kept"], b["class"]
        m = os.path.join(a.dir, f"mlp-k{k}.safetensors")
        box = os.path.join(a.dir, f"mlp-k{k}.box.json")
        q = os.path.join(a.dir, f"mlp-k{k}.vnnlib")
        onnx_path = os.path.join(a.dir, f"mlp-k{k}-{a.encoding}.onnx")
        subprocess.run(
            [a.bin, "vnnlib", "--model", m, "--input-box", box, "--property", f"argmax={c}",
             "--out", q, "--onnx", onnx_path, "--encoding", a.encoding],
            check=True, stdout=subprocess.DEVNULL,
        )
        net = Marabou.read_onnx(onnx_path)
        opts = Marabou.createOptions(timeoutInSeconds=a.timeout, verbosity=0)
        t = time.time()
        code, vals, _ = net.solve(propertyFilename=q, options=opts, verbose=False)
        mt = time.time() - t
        marabou = {"sat": "refuted", "unsat": "proved"}.get(code, f"unknown ({code})")
        ours = json.loads(
            subprocess.run(
                [a.bin, "bound", "--model", m, "--input-box", box, "--method", "bab",
                 "--property", f"argmax={c}", "--timeout", str(a.timeout), "--output-format", "json"],
                capture_output=True, text=True,
            ).stdout
        )
        v = ours["verdict"]
        ours_v = v["verdict"] if isinstance(v, dict) else str(v)
        rows.append({"kept": k, "class": c, "marabou": marabou, "marabou_seconds": mt,
                     "ours": ours_v, "ours_seconds": ours["verify_seconds"]})
        print(json.dumps(rows[-1]), flush=True)
    agree = all(r["marabou"] == r["ours"] for r in rows
                if not r["marabou"].startswith("unknown") and r["ours"] != "unknown")
    print("verdicts agree where both decide:", agree)


if __name__ == "__main__":
    main()
