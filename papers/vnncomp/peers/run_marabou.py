#!/usr/bin/env python3
"""Run Marabou (PyPI maraboupy 2.0.0) on a VNN-COMP 2022 benchmark.

    run_marabou.py BENCH [--cap S] [--limit N] [--workers W] [--out CSV]

Run it with the venv's python ($SNL_CACHE/marabou-venv/bin/python, made by setup_marabou.sh).
Each instance runs in its own process (this file with --child), killed (whole process group) at
min(instance timeout, --cap) seconds of wall clock; Marabou's own timeout is set to the same limit.
The network is read by maraboupy's ONNX parser (Marabou.read_onnx) and the property by Marabou's
own VNN-LIB parser (MarabouCore.loadProperty on a *.vnnlib file -> C++ VnnLibParser), so this
runner has no VNN-LIB code of its own. A sat answer's input and output values are Marabou's
(its solver's assignment); summarize.py re-runs the input through onnxruntime.

Result: results/marabou-<bench>.csv; run time = wall clock of the whole child process (Python
start, ONNX parse, solve), prepare time 0. Killed -> timeout; Marabou TIMEOUT -> timeout;
UNKNOWN/QUIT -> unknown; a crash or ERROR -> error.
"""
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402

TOOL = "marabou"


def child(onnx, vnnlib, limit, workers, out_json):
    import warnings
    warnings.filterwarnings("ignore")
    from maraboupy import Marabou
    t0 = time.time()
    net = Marabou.read_onnx(onnx)
    t_parse = time.time() - t0
    kw = dict(timeoutInSeconds=max(1, int(limit)), verbosity=0)
    if workers > 1:
        kw.update(snc=True, numWorkers=workers)
    opts = Marabou.createOptions(**kw)
    code, vals, _stats = net.solve(verbose=False, options=opts, propertyFilename=str(vnnlib))
    res = {"code": code, "parse_s": t_parse}
    if code == "sat":
        xs = [vals[int(v)] for arr in net.inputVars for v in arr.flatten()]
        ys = [vals[int(v)] for arr in net.outputVars for v in arr.flatten()]
        res.update(x=xs, y=ys)
    with open(out_json, "w") as f:
        json.dump(res, f)


def run_one(inst, limit, workers):
    with tempfile.TemporaryDirectory() as td:
        out_json = Path(td) / "res.json"
        cmd = [sys.executable, __file__, "--child", str(inst.onnx), str(inst.vnnlib), str(limit), str(workers), str(out_json)]
        t0 = time.time()
        p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            log, _ = p.communicate(timeout=limit)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            p.communicate()
            return "timeout", time.time() - t0, None
        wall = time.time() - t0
        if p.returncode != 0 or not out_json.exists():
            tail = log.decode(errors="replace")[-800:]
            print(f"  child rc={p.returncode}: {tail}", file=sys.stderr)
            return "error", wall, None
        res = json.loads(out_json.read_text())
    code = res["code"].lower()
    if code == "sat":
        return "sat", wall, common.format_cex(res["x"], res["y"])
    if code == "unsat":
        return "unsat", wall, None
    if code == "timeout":
        return "timeout", wall, None
    if code == "error":
        return "error", wall, None
    return "unknown", wall, None


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        onnx, vnnlib, limit, workers, out_json = sys.argv[2:7]
        child(onnx, vnnlib, float(limit), int(workers), out_json)
        return
    p = common.parse_common_args(sys.argv[1:], "run_marabou.py")
    p.add_argument("--workers", type=int, default=1,
                   help="Marabou threads; >1 turns on its split-and-conquer mode (snc) with that many workers")
    a = p.parse_args()
    insts = common.instances(a.bench, a.limit, a.only)
    tool = a.name or TOOL
    w = common.ResultWriter(tool, a.bench, insts, a.out)
    for inst in w.todo:
        limit = min(inst.timeout, a.cap) if a.cap else inst.timeout
        result, wall, cex = run_one(inst, limit, a.workers)
        if result == "sat":
            common.write_cex(tool, a.bench, inst.index, cex)
        w.row(inst, result, wall)
    w.close()
    print(f"wrote {w.path}", file=sys.stderr)


if __name__ == "__main__":
    main()
