#!/usr/bin/env python3
"""The argmax verdict on one box: snl-verify's branch-and-bound against Marabou, on one random
MLP linearized to several budgets.

Usage (from the repository root, after `cargo build --release -p snl-verify`):

    python3 papers/bench-verify/marabou_compare.py --out /tmp/bench-verify \\
        [--bin target/release/snl-verify] [--hidden 32,32] [--budgets 0,8,16,24,32,48,64] \\
        [--radius 0.5] [--radius-frac F] [--timeout 120] [--no-milp] [--tightness]

Step 1 runs `snl-verify bench --solve milp,bab`: it writes `mlp-k{K}.safetensors`,
`mlp-k{K}.box.json` and `mlp-k{K}.dense.json` (the dense network, the box, the class C = the
argmax at the centre), and, for reference, our MILP verdict and the stage / domain counts of
our branch-and-bound (in-process runs).

Step 2, per model and back to back on this machine, answers one question twice: is C the
strict argmax of the network on the whole box?
  * ours: `snl-verify bound --model M --input-box B --method bab --property argmax=C
    --timeout T --output-format json` (attack, CROWN, alpha-CROWN, then beta-CROWN
    branch-and-bound); the time is its `verify_seconds`;
  * Marabou (maraboupy 2.0.0, in a venv under ~/.cache/snl/marabou-venv, created here with
    `pip install maraboupy==2.0.0 numpy`): for each j != C, is `y_j - y_C >= 0` satisfiable in
    the box? The first sat whose witness passes the f64 re-check refutes; all unsat proves.
    Each query gets the time left of T; the time is the sum of the `solve` calls.
Every witness (Marabou's and ours) is re-evaluated with the f64 forward pass of the dense
network here. A disagreement is printed loudly with both witness checks.

`--tightness` also runs the old probes: the 6 exact MILP bounds (`bench --solve bounds`) and,
with d = 1e-4 * max(1, |bound|), whether Marabou finds `y_i` beyond each bound by d (must be
unsat) and inside it by d (must be sat).
"""
import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

VENV = Path.home() / ".cache" / "snl" / "marabou-venv"
# the input box is met by Marabou's witnesses up to this (then clamped into it)
BOX_SLACK = 1e-9
# a witness whose f64 margin y_j - y_C is in [-BOUNDARY, 0) lies on the decision boundary up
# to rounding: Marabou's "sat" is then reported as refuted~ (not a strict f64 counterexample)
BOUNDARY = 1e-9


def ensure_venv():
    py = VENV / "bin" / "python"
    if not py.exists():
        VENV.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
        subprocess.run([str(py), "-m", "pip", "install", "-q", "maraboupy==2.0.0", "numpy"], check=True)
    return py


def models(out_dir):
    """The dense.json files of `out_dir`, by budget."""
    return sorted(Path(out_dir).glob("mlp-k*.dense.json"), key=lambda p: int(p.name[5:].split(".")[0]))


# ---------------------------------------------------------------- the network, in f64 and in Marabou

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


def check_witness(dense, x, c):
    """Re-checks an argmax counterexample `x` in f64: (in the box, clamped x, y, worst j, y_j - y_c).

    `x` counts as a counterexample (`ok`) iff it is in the box (up to BOX_SLACK) and, clamped
    into the box, some j != c has y_j - y_c >= 0 exactly; `boundary` when the largest such
    margin is in [-BOUNDARY * max(1, |y_c|), 0) instead.
    """
    lo, hi = dense["lower"], dense["upper"]
    inside = all(a - BOX_SLACK <= v <= b + BOX_SLACK for v, a, b in zip(x, lo, hi))
    xc = [min(max(v, a), b) for v, a, b in zip(x, lo, hi)]
    y = forward(dense, xc)
    j = max((j for j in range(len(y)) if j != c), key=lambda j: y[j])
    m = y[j] - y[c]
    return dict(inside=inside, x=xc, y=y, j=j, margin=m, ok=inside and m >= 0.0,
                boundary=inside and -BOUNDARY * max(1.0, abs(y[c])) <= m < 0.0)


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


def solve(dense, prop, timeout):
    """One Marabou query: (code, seconds of `solve`, the input values when sat)."""
    from maraboupy import Marabou

    net = build(dense, prop)
    # timeoutInSeconds = 0 means no limit: at least 1 s
    opts = Marabou.createOptions(verbosity=0, timeoutInSeconds=max(1, int(round(timeout))))
    t = time.perf_counter()
    code, vals, _ = net.solve(options=opts, verbose=False)
    elapsed = time.perf_counter() - t
    x = [vals[v] for v in range(len(dense["lower"]))] if code == "sat" else None
    return code, elapsed, x


# ---------------------------------------------------------------- Marabou side (runs in the venv)

def marabou_verdict(dense, c, timeout):
    """The argmax verdict by Marabou: one query `y_j - y_c >= 0` per j != c, stopping at the
    first sat whose witness passes the f64 re-check."""
    n = len(dense["nodes"][-1]["bias"])
    queries, spent, verdict, witness, reasons = [], 0.0, None, None, []
    for j in range(n):
        if j == c:
            continue
        left = timeout - spent
        if left <= 0:
            reasons.append(f"j={j}: no time left")
            continue
        code, t, x = solve(margin_net(dense, c, j), lambda net, y: net.setLowerBound(y[0], 0.0), left)
        spent += t
        q = dict(j=j, code=code, seconds=t)
        if code == "sat":
            w = check_witness(dense, x, c)
            q["witness"] = w
            if w["ok"] or w["boundary"]:
                verdict, witness = "refuted" if w["ok"] else "refuted~", w
                queries.append(q)
                break
            reasons.append(f"j={j}: sat, but its witness fails the f64 re-check")
        elif code != "unsat":
            reasons.append(f"j={j}: {code}")
        queries.append(q)
    if verdict is None:
        verdict = "unknown" if reasons else "proved"
    return dict(verdict=verdict, seconds=spent, queries=queries, witness=witness, reasons=reasons)


def marabou_tightness(dense, ours_bounds, timeout):
    """The old probes: is each of our exact bounds tight according to Marabou?"""
    n = len(ours_bounds["upper"])
    confirmed, sound, spurious, violated, t_bounds = 0, 0, 0, 0, 0.0
    for i in range(n):
        for side, b in (("upper", ours_bounds["upper"][i]), ("lower", ours_bounds["lower"][i])):
            d = 1e-4 * max(1.0, abs(b))
            if side == "upper":  # y_i >= b + d must be unsat, y_i >= b - d sat
                beyond, t1, x = solve(dense, lambda net, y: net.setLowerBound(y[i], b + d), timeout)
                within, t2, _ = solve(dense, lambda net, y: net.setLowerBound(y[i], b - d), timeout)
            else:  # y_i <= b - d must be unsat, y_i <= b + d sat
                beyond, t1, x = solve(dense, lambda net, y: net.setUpperBound(y[i], b - d), timeout)
                within, t2, _ = solve(dense, lambda net, y: net.setUpperBound(y[i], b + d), timeout)
            t_bounds += t1 + t2
            if beyond == "sat":
                # re-check Marabou's witness with the f64 forward pass (1e-6: Tolerance::Sound)
                inside = all(lo - BOX_SLACK <= v <= hi + BOX_SLACK
                             for v, lo, hi in zip(x, dense["lower"], dense["upper"]))
                y = forward(dense, x)[i]
                past = y > b + 1e-6 if side == "upper" else y < b - 1e-6
                if inside and past:
                    violated += 1
                else:
                    spurious += 1
                    print(f"output {i} {side} {b!r}: Marabou says sat beyond it, but its "
                          f"witness gives y = {y!r} (in box: {inside})", file=sys.stderr)
            confirmed += beyond == "unsat" and within == "sat"
            sound += beyond == "unsat"
    return dict(seconds=t_bounds, confirmed=confirmed, sound=sound, spurious=spurious,
                violated=violated, total=2 * n)


def marabou_main(dense_path, timeout, tightness):
    dense = json.loads(Path(dense_path).read_text())
    c = dense["ours"]["class"]
    r = marabou_verdict(dense, c, timeout)
    if tightness:
        r["tightness"] = marabou_tightness(dense, dense["ours"]["bounds"], timeout)
    print(json.dumps(r))


# ---------------------------------------------------------------- our side and the comparison

def ours_bab(binary, dense_path, dense, timeout):
    """`snl-verify bound --method bab --property argmax=C`: its verdict, verify_seconds, report."""
    c = dense["ours"]["class"]
    cmd = [binary, "bound", "--model", dense["model"], "--input-box", dense["input_box"],
           "--method", "bab", "--property", f"argmax={c}", "--timeout", str(timeout),
           "--output-format", "json"]
    t = time.perf_counter()
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wall = time.perf_counter() - t
    if p.returncode not in (0, 1, 3):
        sys.exit(f"{' '.join(cmd)} failed (exit {p.returncode}):\n{p.stderr}")
    r = json.loads(p.stdout)
    v = r["verdict"]
    out = dict(verdict=v["verdict"], seconds=r["verify_seconds"], wall=wall, exit=p.returncode,
               unstable_kept=r["unstable_kept"], reason=v.get("reason"), command=" ".join(cmd))
    if v["verdict"] == "refuted":
        out["witness"] = check_witness(dense, v["input"], c)
    return out


def fmt_s(s):
    return "-" if s is None else f"{s:.3g}"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", help="the folder of the models and results (required)")
    ap.add_argument("--bin", default="target/release/snl-verify")
    ap.add_argument("--hidden", default="32,32")
    ap.add_argument("--budgets", default="0,8,16,24,32,48,64")
    ap.add_argument("--radius", default="0.5")
    ap.add_argument("--radius-frac", help="per model, this fraction of its PGD attack radius "
                    "(bisection in (0, --radius]; see snl-verify bench --help)")
    ap.add_argument("--timeout", default="120", help="seconds per verdict, each side")
    ap.add_argument("--no-milp", action="store_true", help="skip our MILP verdict (reference column)")
    ap.add_argument("--tightness", action="store_true",
                    help="also compute our 6 exact MILP bounds and probe their tightness with Marabou")
    ap.add_argument("--skip-bench", action="store_true", help="reuse the models and step-1 results in --out")
    ap.add_argument("--marabou-one", help=argparse.SUPPRESS)
    a = ap.parse_args()
    timeout = float(a.timeout)
    if a.marabou_one:
        marabou_main(a.marabou_one, timeout, a.tightness)
        return
    if not a.out:
        ap.error("--out is required")
    binary = str(Path(a.bin).resolve())
    if not a.skip_bench:
        solve_what = ["bab"] + ([] if a.no_milp else ["milp"]) + (["bounds"] if a.tightness else [])
        print(f"# step 1: {a.bin} bench --solve {','.join(solve_what)} (models, our MILP verdict, "
              f"our BaB stages; in-process)", flush=True)
        subprocess.run([binary, "bench", "--out", a.out, "--hidden", a.hidden, "--budgets", a.budgets,
                        "--radius", a.radius, "--timeout", a.timeout, "--solve", ",".join(solve_what)]
                       + (["--radius-frac", a.radius_frac] if a.radius_frac else []),
                       check=True)
    py = ensure_venv()
    print("# step 2: per model, back to back: snl-verify bound --method bab, then Marabou "
          "(maraboupy 2.0.0), the same argmax question on the same box", flush=True)
    rows = []
    for path in models(a.out):
        dense = json.loads(path.read_text())
        ours = ours_bab(binary, path, dense, timeout)
        extra = ["--tightness"] if a.tightness else []
        r = subprocess.run([str(py), __file__, "--marabou-one", str(path), "--timeout", a.timeout] + extra,
                           check=True, stdout=subprocess.PIPE, text=True,
                           env={**os.environ, "PYTHONWARNINGS": "ignore"})
        mar = json.loads(r.stdout.strip().splitlines()[-1])
        rows.append(dict(path=str(path), dense=dense, ours=ours, mar=mar))
        print(f"  k={dense['ours']['kept']}: ours {ours['verdict']} {ours['seconds']:.3g} s, "
              f"Marabou {mar['verdict']} {mar['seconds']:.3g} s", flush=True)

    print()
    print(f"{'kept':>5} {'unst':>5} {'C':>2} {'radius':>8} | {'bab':>8} {'bab s':>8} {'by':>6} {'doms':>6} | "
          f"{'milp':>8} {'milp s':>8} | {'Marabou':>8} {'Mar s':>8} {'q':>2} | {'bab/Mar':>8} {'agree':>5}")
    disagreements = []
    for w in rows:
        o, m, d = w["ours"], w["mar"], w["dense"]["ours"]
        bab = d.get("bab") or {}
        decided = {o["verdict"], m["verdict"]} <= {"proved", "refuted", "refuted~"}
        if not decided:
            mark = "open"  # one side (or both) unknown: nothing to compare
        elif o["verdict"] == m["verdict"]:
            mark = "yes"
        elif o["verdict"] == "refuted" and m["verdict"] == "refuted~":
            mark = "yes~"  # both sat; Marabou's witness on the boundary up to rounding
        else:
            mark = "NO"
            disagreements.append(w)
        w["mark"] = mark
        ratio = f"{o['seconds'] / max(m['seconds'], 1e-9):.3g}" if decided else "-"
        print(f"{d['kept']:>5} {o['unstable_kept']:>5} {d['class']:>2} {d['radius']:>8.4g} | "
              f"{o['verdict']:>8} {o['seconds']:>8.3g} "
              f"{bab.get('decided_by', '-'):>6} {bab.get('domains', '-'):>6} | "
              f"{d.get('verdict') or '-':>8} {fmt_s(d.get('verify_seconds')):>8} | "
              f"{m['verdict']:>8} {m['seconds']:>8.3g} {len(m['queries']):>2} | "
              f"{ratio:>8} {mark:>5}")
    count = {k: sum(w["mark"] == k for w in rows) for k in ("yes", "yes~", "open", "NO")}
    print(f"verdicts: {count['yes'] + count['yes~']}/{len(rows)} decided by both and equal "
          f"({count['yes~']} through a Marabou witness on the boundary: refuted~), {count['open']} "
          f"unknown on at least one side, {count['NO']} DISAGREEMENTS")
    for w in rows:
        if w["mark"] == "open" and w["ours"]["verdict"] != w["mar"]["verdict"]:
            print(f"  k={w['dense']['ours']['kept']}: ours {w['ours']['verdict']}, Marabou {w['mar']['verdict']} "
                  f"({'; '.join(w['mar']['reasons']) or w['ours'].get('reason')})")
    both = [w for w in rows if w["mark"] in ("yes", "yes~")]
    ours_t = sum(w["ours"]["seconds"] for w in both)
    mar_t = sum(w["mar"]["seconds"] for w in both)
    print(f"total verdict time where both decided: ours (bab) {ours_t:.3g} s, Marabou {mar_t:.3g} s")
    bad_wit = [(w, q) for w in rows for q in w["mar"]["queries"] if "witness" in q and not q["witness"]["ok"]]
    n_bw = sum(q["witness"]["boundary"] for _, q in bad_wit)
    bad_ours = [w for w in rows if "witness" in w["ours"] and not w["ours"]["witness"]["ok"]]
    print(f"{len(bad_wit)} Marabou sat answers whose witness fails the strict f64 re-check "
          f"({n_bw} of them on the boundary up to {BOUNDARY:g}: refuted~); "
          f"{len(bad_ours)} of our counterexamples that fail it")
    for w, q in bad_wit:
        x = q["witness"]
        print(f"  k={w['dense']['ours']['kept']} j={q['j']}: Marabou sat, f64 gives y_{x['j']} - y_C = "
              f"{x['margin']!r} at x = {x['x']} (in box: {x['inside']}; boundary: {x['boundary']})")
    for w in disagreements:
        o, m, d = w["ours"], w["mar"], w["dense"]["ours"]
        print("!" * 78)
        print(f"!!! DISAGREEMENT k={d['kept']} class {d['class']}: ours {o['verdict']}, Marabou {m['verdict']}")
        print(f"!!! ours: {o['command']}")
        if o.get("reason"):
            print(f"!!! ours unknown: {o['reason']}")
        if "witness" in o:
            x = o["witness"]
            print(f"!!! our counterexample, re-checked here: y_{x['j']} - y_C = {x['margin']!r} "
                  f"(counterexample: {x['ok']}) at x = {x['x']}")
        for q in m["queries"]:
            line = f"!!! Marabou j={q['j']}: {q['code']} in {q['seconds']:.3f} s"
            if "witness" in q:
                x = q["witness"]
                line += f"; witness y_{x['j']} - y_C = {x['margin']!r} (counterexample: {x['ok']}) at x = {x['x']}"
            print(line)
        for r in m["reasons"]:
            print(f"!!! Marabou: {r}")
        print("!" * 78)
    if a.tightness:
        print()
        print(f"{'kept':>5} {'bin':>4} | {'ours MILP s':>11} {'Marabou s':>10} {'tight':>6} {'sound':>6}")
        for w in rows:
            b, t = w["dense"]["ours"]["bounds"], w["mar"]["tightness"]
            print(f"{w['dense']['ours']['kept']:>5} {b['binaries']:>4} | {b['milp_seconds']:>11.3f} "
                  f"{t['seconds']:>10.3f} {t['confirmed']:>3}/{t['total']:<2} {t['sound']:>3}/{t['total']:<2}")
        ts = [w["mar"]["tightness"] for w in rows]
        print(f"Marabou confirms {sum(t['confirmed'] for t in ts)}/{sum(t['total'] for t in ts)} of our bounds "
              f"tight and {sum(t['sound'] for t in ts)} sound; {sum(t['spurious'] for t in ts)} 'sat beyond' "
              f"answers whose witness does not pass our bound in f64; {sum(t['violated'] for t in ts)} that do")
    Path(a.out, "compare.json").write_text(json.dumps(
        [dict(kept=w["dense"]["ours"]["kept"], ours=w["ours"], marabou=w["mar"], bench=w["dense"]["ours"])
         for w in rows], indent=1))


if __name__ == "__main__":
    main()
