#!/usr/bin/env python3
"""Verification effort against the ReLU budget: papers/vnncomp-snl/budget.{png,svg}.

    python plot.py [--results DIR] [--models CSV] [--out STEM]

Run with $SNL_CACHE/plot-venv/bin/python (matplotlib; run.sh makes the venv as papers/vnncomp does).

Reads every results/<tool>-benchmark-<encoding>.csv (one per verifier and ONNX encoding, no
header, the competition's columns `benchmark,onnx,vnnlib,prepare time,result,run time`; a file
named otherwise is one line named by its stem) and models.csv (written by run.sh: one row per network with its clean test accuracy and kept
ReLUs). Colour: the tool; line: the encoding (solid split, dashed masked). A network is identified by its ONNX file name, `fmnist-256xL-<budget>.onnx`, budget `full`
(the teacher, every ReLU kept) or `bNN` (NN% of the ReLUs).

One column per architecture (256x2, 256x4, 256x6); x = kept ReLUs as a fraction of the teacher's
(log scale, 5% ... 100%), one line per tool:
  top:    instances solved (sat + unsat) out of the network's instances; right axis (grey, dashed):
          clean test accuracy of the network;
  bottom: mean run time per instance over all of the network's instances, an unsolved one
          (timeout / unknown / error) counted at the run time its row records (≈ the cap).
The same numbers as a Markdown table: printed, and written to STEM.md.
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


def split_stem(stem):
    """('marabou', 'split') from 'marabou-benchmark-split'; (stem, None) for any other name."""
    m = re.fullmatch(r"(.+)-benchmark-(\w+)", stem)
    return (m.group(1), m.group(2)) if m else (stem, None)


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


def solved_table(tools):
    """Markdown: per tool (and encoding) and network, solved of run (sat + unsat, as written)
    and mean run time per instance."""
    budgets = [1.0, 0.5, 0.2, 0.1, 0.05]
    head = ["tool", "net"] + ["teacher" if b == 1.0 else f"{round(100 * b)} %" for b in budgets]
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for stem, res in sorted(tools.items(), key=lambda kv: split_stem(kv[0])):
        tool, enc = split_stem(stem)
        name = f"{tool} ({enc})" if enc else tool
        for arch in ARCHS:
            cells = []
            for b in budgets:
                rows = res.get((arch, b), [])
                if not rows:
                    cells.append("–")
                    continue
                solved = sum(r in ("sat", "unsat") for r, _ in rows)
                mean = sum(t for _, t in rows) / len(rows)
                cells.append(f"{solved}/{len(rows)} · {mean:.2f} s")
            if any(c != "–" for c in cells):
                out.append(f"| {name} | {arch} | " + " | ".join(cells) + " |")
    return "\n".join(out) + "\n\nCells: solved / run · mean run time per instance (unsolved at their recorded time).\n"


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

    table = solved_table(tools)
    Path(f"{a.out}.md").write_text(table)
    print(table, end="")

    import matplotlib
    matplotlib.use("Agg")
    matplotlib.rcParams["svg.hashsalt"] = "snl-vnncomp-snl"
    import matplotlib.pyplot as plt

    colours = sorted({split_stem(t)[0] for t in tools})
    fig, axes = plt.subplots(2, len(ARCHS), figsize=(4.2 * len(ARCHS), 6.4), sharex=True, squeeze=False)
    for j, arch in enumerate(ARCHS):
        top, bot = axes[0][j], axes[1][j]
        for stem, res in sorted(tools.items()):
            tool, enc = split_stem(stem)
            style = {"color": f"C{colours.index(tool)}", "ls": "--" if enc == "masked" else "-",
                     "marker": "o" if enc != "masked" else "x"}
            name = f"{tool} ({enc})" if enc else tool
            budgets = sorted(b for (ar, b) in res if ar == arch)
            if not budgets:
                continue
            solved = [sum(r in ("sat", "unsat") for r, _ in res[(arch, b)]) for b in budgets]
            mean_t = [sum(t for _, t in res[(arch, b)]) / len(res[(arch, b)]) for b in budgets]
            n = [len(res[(arch, b)]) for b in budgets]
            label = name if len(set(n)) == 1 else f"{name} (n = {min(n)}–{max(n)})"
            top.plot(budgets, solved, label=label, **style)
            bot.plot(budgets, mean_t, label=name, **style)
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
