#!/usr/bin/env python3
"""Compare snl-verify's MILP (CBC) with Marabou on one random MLP linearized to several budgets.

Usage (from the repository root, after `cargo build --release -p snl-verify`):

    python3 papers/bench-verify/marabou_compare.py --out /tmp/bench-verify \
        [--bin target/release/snl-verify] [--hidden 32,32] [--budgets 0,8,16,24,32,48,64] \
        [--radius 0.1] [--timeout 300]

Step 1 runs `snl-verify bench` (our MILP bounds and argmax verdicts; it writes
`mlp-k{K}.safetensors` and `mlp-k{K}.dense.json`). Step 2 re-runs this script inside a venv
under ~/.cache/snl/marabou-venv (created here: `pip install maraboupy==2.0.0 numpy`) and, for
each model, asks Marabou
  * the argmax verdict: for each j != C, is `y_j >= y_C` satisfiable in the box?
    (all unsat: proved; one sat: refuted);
  * whether each of our exact MILP bounds is tight: `y_i >= ub_i + d` must be unsat and
    `y_i >= ub_i - d` sat (and the same for lower bounds), with d = 1e-4 * max(1, |bound|).
It prints one table row per model and our time / Marabou's time, measured in the same run.
"""
import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

VENV = Path.home() / ".cache" / "snl" / "marabou-venv"


def ensure_venv():
    py = VENV / "bin" / "python"
    if not py.exists():
        VENV.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
        subprocess.run([str(py), "-m", "pip", "install", "-q", "maraboupy==2.0.0", "numpy"], check=True)
    return py


def build(dense, prop=None):
    """A Marabou query of the dense network on its box; `prop(builder, outputs)` adds the property."""
    import warnings

    warnings.filterwarnings("ignore")
    import numpy as np
    from maraboupy import MarabouNetwork

    net = MarabouNetwork.MarabouNetwork()
    xs = [net.getNewVariable() for _ in dense["lower"]]
    for v, lo, hi in zip(xs, dense["lower"], dense["upper"]):
        net.setLowerBound(v, lo)
        net.setUpperBound(v, hi)
    net.inputVars = [np.array(xs)]
    values = [xs]
    for node in dense["nodes"]:
        x = values[node["inputs"][0]]
        if node["op"] == "dense":
            out = []
            for row, b in zip(node["weight"], node["bias"]):
                y = net.getNewVariable()
                terms = [(w, xv) for w, xv in zip(row, x) if w != 0.0]
                # sum w x - y = -b
                net.addEquality([xv for _, xv in terms] + [y], [w for w, _ in terms] + [-1.0], -b)
                out.append(y)
        elif node["op"] == "relu":
            out = []
            for xv, kept in zip(x, node["kept"]):
                if kept:
                    f = net.getNewVariable()
                    net.addRelu(xv, f)
                    out.append(f)
                else:
                    # linearized: y = x, as its own variable
                    y = net.getNewVariable()
                    net.addEquality([xv, y], [1.0, -1.0], 0.0)
                    out.append(y)
        else:  # add
            z = values[node["inputs"][1]]
            out = []
            for a, b in zip(x, z):
                y = net.getNewVariable()
                net.addEquality([a, b, y], [1.0, 1.0, -1.0], 0.0)
                out.append(y)
        values.append(out)
    net.outputVars = [np.array(values[-1])]
    if prop is not None:
        prop(net, values[-1])
    return net


def margin_net(dense, c, j):
    """The same network with one output y_j - y_c: the last dense layer's rows subtracted.

    (The margin is folded into the last layer instead of being added as a new variable:
    with maraboupy 2.0.0, a fresh variable m = y_0 with the bound m >= 3.4 was unsat on
    mlp-k8 of a 16,16 run with the input fixed to the corner where Marabou itself computes
    y_0 = 3.4221, while the bound y_0 >= 3.4 on the output variable itself was sat; so every
    property here is a bound on an output variable.)
    """
    d = json.loads(json.dumps(dense))
    last = d["nodes"][-1]
    assert last["op"] == "dense"
    w, b = last["weight"], last["bias"]
    last["weight"] = [[wj - wc for wj, wc in zip(w[j], w[c])]]
    last["bias"] = [b[j] - b[c]]
    return d


def forward(dense, x):
    """The f64 forward pass of the dense network (the same function as Network::forward)."""
    vals = [list(x)]
    for n in dense["nodes"]:
        a = vals[n["inputs"][0]]
        if n["op"] == "dense":
            vals.append([sum(w * v for w, v in zip(row, a)) + b for row, b in zip(n["weight"], n["bias"])])
        elif n["op"] == "relu":
            vals.append([max(0.0, v) if k else v for v, k in zip(a, n["kept"])])
        else:
            vals.append([p + q for p, q in zip(a, vals[n["inputs"][1]])])
    return vals[-1]


def solve(dense, prop, timeout, witness=False):
    from maraboupy import Marabou

    net = build(dense, prop)
    opts = Marabou.createOptions(verbosity=0, timeoutInSeconds=int(timeout))
    t = time.perf_counter()
    code, vals, _ = net.solve(options=opts, verbose=False)
    elapsed = time.perf_counter() - t
    if witness:
        x = [vals[v] for v in range(len(dense["lower"]))] if code == "sat" else None
        return code, elapsed, x
    return code, elapsed


def marabou_main(out_dir, timeout):
    rows = []
    for path in sorted(Path(out_dir).glob("mlp-k*.dense.json"), key=lambda p: int(p.name[5:].split(".")[0])):
        dense = json.loads(path.read_text())
        ours = dense["ours"]
        c = ours["class"]
        n = len(ours["upper"])
        # argmax verdict
        verdict, t_verdict = "proved", 0.0
        for j in range(n):
            if j == c:
                continue
            code, t = solve(margin_net(dense, c, j), lambda net, y: net.setLowerBound(y[0], 0.0), timeout)
            t_verdict += t
            if code == "sat":
                verdict = "refuted"
                break
            if code != "unsat":
                verdict = "unknown"
        # tightness of our bounds
        confirmed, sound, spurious, violated, t_bounds = 0, 0, 0, 0, 0.0
        for i in range(n):
            for side, b in (("upper", ours["upper"][i]), ("lower", ours["lower"][i])):
                d = 1e-4 * max(1.0, abs(b))
                if side == "upper":  # y_i >= b + d must be unsat, y_i >= b - d sat
                    beyond, t1, x = solve(dense, lambda net, y: net.setLowerBound(y[i], b + d), timeout, True)
                    within, t2 = solve(dense, lambda net, y: net.setLowerBound(y[i], b - d), timeout)
                else:  # y_i <= b - d must be unsat, y_i <= b + d sat
                    beyond, t1, x = solve(dense, lambda net, y: net.setUpperBound(y[i], b - d), timeout, True)
                    within, t2 = solve(dense, lambda net, y: net.setUpperBound(y[i], b + d), timeout)
                t_bounds += t1 + t2
                if beyond == "sat":
                    # re-check Marabou's witness with the f64 forward pass (1e-6: Tolerance::Sound)
                    inside = all(lo - 1e-9 <= v <= hi + 1e-9 for v, lo, hi in zip(x, dense["lower"], dense["upper"]))
                    y = forward(dense, x)[i]
                    past = y > b + 1e-6 if side == "upper" else y < b - 1e-6
                    if inside and past:
                        violated += 1
                    else:
                        spurious += 1
                        print(f"k={ours['kept']} output {i} {side} {b!r}: Marabou says sat beyond it, but its "
                              f"witness gives y = {y!r} (in box: {inside})", file=sys.stderr)
                confirmed += beyond == "unsat" and within == "sat"
                sound += beyond == "unsat"
        rows.append(dict(kept=ours["kept"], binaries=ours["binaries"], ours_milp_s=ours["milp_seconds"],
                         marabou_bounds_s=t_bounds, confirmed=confirmed, sound=sound, spurious=spurious,
                         violated=violated, total=2 * n,
                         ours_verdict=ours["verdict"], marabou_verdict=verdict,
                         ours_verify_s=ours["verify_seconds"], marabou_verify_s=t_verdict))
    print(json.dumps(rows))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True)
    ap.add_argument("--bin", default="target/release/snl-verify")
    ap.add_argument("--hidden", default="32,32")
    ap.add_argument("--budgets", default="0,8,16,24,32,48,64")
    ap.add_argument("--radius", default="0.1")
    ap.add_argument("--timeout", default="300")
    ap.add_argument("--skip-bench", action="store_true", help="reuse the models and our results already in --out")
    ap.add_argument("--marabou-only", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.marabou_only:
        marabou_main(a.out, float(a.timeout))
        return
    if not a.skip_bench:
        print(f"# step 1: {a.bin} bench (MILP time against kept ReLUs)", flush=True)
        subprocess.run([a.bin, "bench", "--out", a.out, "--hidden", a.hidden, "--budgets", a.budgets,
                        "--radius", a.radius, "--timeout", a.timeout], check=True)
    py = ensure_venv()
    print("# step 2: Marabou (maraboupy 2.0.0) on the same networks and box", flush=True)
    r = subprocess.run([str(py), __file__, "--out", a.out, "--timeout", a.timeout, "--marabou-only"],
                       check=True, stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONWARNINGS": "ignore"})
    rows = json.loads(r.stdout.strip().splitlines()[-1])
    print(f"{'kept':>5} {'bin':>4} | {'ours MILP s':>11} {'Marabou s':>10} {'ours/Mar':>8} {'tight':>6} {'sound':>6} | "
          f"{'ours':>8} {'Marabou':>8} {'ours s':>7} {'Mar s':>7} {'ours/Mar':>8}")
    for w in rows:
        print(f"{w['kept']:>5} {w['binaries']:>4} | {w['ours_milp_s']:>11.3f} {w['marabou_bounds_s']:>10.3f} "
              f"{w['ours_milp_s'] / max(w['marabou_bounds_s'], 1e-9):>8.2f} {w['confirmed']:>3}/{w['total']:<2} {w['sound']:>3}/{w['total']:<2} | "
              f"{w['ours_verdict']:>8} {w['marabou_verdict']:>8} {w['ours_verify_s']:>7.3f} "
              f"{w['marabou_verify_s']:>7.3f} {w['ours_verify_s'] / max(w['marabou_verify_s'], 1e-9):>8.2f}")
    agree = sum(w["ours_verdict"] == w["marabou_verdict"] for w in rows)
    tight = sum(w["confirmed"] for w in rows), sum(w["total"] for w in rows)
    spurious = sum(w["spurious"] for w in rows)
    violated = sum(w["violated"] for w in rows)
    sound = sum(w["sound"] for w in rows)
    print(f"verdicts agree on {agree}/{len(rows)} models; Marabou confirms {tight[0]}/{tight[1]} of our bounds "
          f"tight (unsat beyond, sat within, d = 1e-4 max(1, |bound|)) and {sound} sound (unsat beyond); "
          f"{spurious} Marabou 'sat beyond' answers "
          f"whose witness does not pass our bound in f64; {violated} witnesses that do (our bound wrong)")


if __name__ == "__main__":
    main()
