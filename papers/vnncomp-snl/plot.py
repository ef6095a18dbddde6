#!/usr/bin/env python3
"""Verification effort against the ReLU budget: papers/vnncomp-snl/budget.{png,svg}.

    python plot.py [--results DIR] [--models CSV] [--out STEM]

Run with $SNL_CACHE/plot-venv/bin/python (matplotlib; run.sh makes the venv as papers/vnncomp does).

Reads every results/<tool>.csv (one per verifier, no header, the competition's columns
`benchmark,onnx,vnnlib,prepare time,result,run time`; the tool's name is the file name without
.csv) and models.csv (written by run.sh: one row per network with its clean test accuracy and kept
ReLUs). A network is identified by its ONNX file name, `fmnist-256xL-<budget>.onnx`, budget `full`
(the teacher, every ReLU kept) or `bNN` (NN% of the ReLUs).

One column per architecture (256x2, 256x4, 256x6); x = kept ReLUs as a fraction of the teacher's
(log scale, 5% ... 100%), one line per tool:
  top:    instances solved (sat + unsat) out of the network's instances; right axis (grey, dashed):
          clean test accuracy of the network;
  bottom: mean run time per instance over all of the network's instances, an unsolved one
          (timeout / unknown / error) counted at the run time its row records (≈ the cap).
Every row counts as the tool wrote it: no counterexample check is done here.
"""
import argparse
import csv
import re
import sys
from collections import defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
NAME = re.compile(r"fmnist-(256x\d+)-(full|b\d+)\.onnx$")
ARCHS = ["256x2", "256x4", "256x6"]


def parse_net(onnx):
    """('256x4', 0.2) from '.../fmnist-256x4-b20.onnx'; budget 1.0 for the teacher."""
    m = NAME.search(Path(onnx.strip()).name)
    if not m:
        return None
    arch, b = m.groups()
    return arch, 1.0 if b == "full" else int(b[1:]) / 100.0


def read_results(path):
    """{(arch, budget): [(result, run time), ...]} of one tool's CSV."""
    out = defaultdict(list)
    with open(path, newline="") as f:
        for row in csv.reader(f):
            if not row or (len(row) > 4 and row[4].strip() == "result"):
                continue  # blank line or a header (the benchmark column itself may read "benchmark")
            if len(row) < 6:
                sys.exit(f"{path}: a row with {len(row)} columns, expected 6: {row}")
            net = parse_net(row[1])
            if net is None:
                sys.exit(f"{path}: unknown network {row[1]!r}")
            out[net].append((row[4].strip(), float(row[5])))
    return out


def read_models(path):
    """{(arch, budget): accuracy} from models.csv."""
    acc = {}
    if not Path(path).exists():
        print(f"note: {path} not found, no accuracy axis", file=sys.stderr)
        return acc
    with open(path, newline="") as f:
        for r in csv.DictReader(f):
            net = parse_net(r["onnx"])
            if net:
                acc[net] = float(r["accuracy"])
    return acc


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--results", default=str(HERE / "results"), help="folder of <tool>.csv files")
    ap.add_argument("--models", default=str(HERE / "models.csv"))
    ap.add_argument("--out", default=str(HERE / "budget"), help="output stem: STEM.png and STEM.svg")
    a = ap.parse_args()

    tools = {p.stem: read_results(p) for p in sorted(Path(a.results).glob("*.csv"))}
    if not tools:
        sys.exit(f"no result CSVs in {a.results}")
    acc = read_models(a.models)

    import matplotlib
    matplotlib.use("Agg")
    matplotlib.rcParams["svg.hashsalt"] = "snl-vnncomp-snl"
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, len(ARCHS), figsize=(4.2 * len(ARCHS), 6.4), sharex=True, squeeze=False)
    for j, arch in enumerate(ARCHS):
        top, bot = axes[0][j], axes[1][j]
        for k, (tool, res) in enumerate(sorted(tools.items())):
            budgets = sorted(b for (ar, b) in res if ar == arch)
            if not budgets:
                continue
            solved = [sum(r in ("sat", "unsat") for r, _ in res[(arch, b)]) for b in budgets]
            mean_t = [sum(t for _, t in res[(arch, b)]) / len(res[(arch, b)]) for b in budgets]
            n = [len(res[(arch, b)]) for b in budgets]
            label = tool if len(set(n)) == 1 else f"{tool} (n = {min(n)}–{max(n)})"
            top.plot(budgets, solved, marker="o", color=f"C{k}", label=label)
            bot.plot(budgets, mean_t, marker="o", color=f"C{k}", label=tool)
        nets = sorted(b for (ar, b) in acc if ar == arch)
        handles = top.get_legend_handles_labels()
        if nets:
            ax2 = top.twinx()
            ax2.plot(nets, [100 * acc[(arch, b)] for b in nets], ls="--", marker="s", ms=3,
                     color="0.5", label="clean accuracy")
            ax2.set_ylabel("clean test accuracy (%)", color="0.4")
            ax2.tick_params(axis="y", colors="0.4")
            h2 = ax2.get_legend_handles_labels()
            handles = (handles[0] + h2[0], handles[1] + h2[1])
        if j == 0 and handles[0]:
            (ax2 if nets else top).legend(*handles, loc="best", fontsize=8)
        top.set_title(f"784 → {arch} → 10")
        n_max = max((len(v) for res in tools.values() for (ar, _), v in res.items() if ar == arch), default=0)
        top.set_ylim(0, max(n_max, 1) * 1.05)
        bot.set_ylim(bottom=0)
        bot.set_xscale("log")
        bot.set_xticks([0.05, 0.1, 0.2, 0.5, 1.0])
        bot.set_xticklabels(["5%", "10%", "20%", "50%", "100%"])
        bot.set_xlabel("kept ReLUs (fraction of the teacher's)")
        if j == 0:
            top.set_ylabel("instances solved")
            bot.set_ylabel("mean run time per instance (s)")
        top.grid(alpha=0.3)
        bot.grid(alpha=0.3)
    fig.suptitle("Fashion-MNIST mnist_fc protocol: verification against the ReLU budget "
                 "(unsolved counted at their recorded time)", fontsize=10)
    fig.tight_layout()
    for ext in ("png", "svg"):
        fig.savefig(f"{a.out}.{ext}", dpi=120, metadata={"Date": None} if ext == "svg" else None)
    print(f"wrote {a.out}.png, {a.out}.svg")


if __name__ == "__main__":
    main()
