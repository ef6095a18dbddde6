"""Plots results.json as plot.svg and plot.png: test accuracy against the share of kept
ReLUs (log scale), one line per method, the seeds' spread as error bars."""
import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

here = sys.argv[1] if len(sys.argv) > 1 else "papers/pareto"
r = json.load(open(f"{here}/results.json"))
rows = r["rows"]
total = rows[0]["total"]
fig, ax = plt.subplots(figsize=(6, 4))
for m, c in [("snl", "C3"), ("snip", "C2"), ("uniform", "C1"), ("random", "C0")]:
    bs = sorted({x["budget"] for x in rows if x["method"] == m})
    xs, ys, err = [], [], []
    for b in bs:
        v = [100 * x["final_test"] for x in rows if x["method"] == m and x["budget"] == b]
        xs.append(100 * b / total)
        ys.append(sum(v) / len(v))
        err.append((max(v) - min(v)) / 2)
    ax.errorbar(xs, ys, yerr=err, marker="o", color=c, label=m, capsize=3)
ax.axhline(100 * r["teacher_test"], color="gray", ls="--", lw=1, label="teacher (all ReLUs)")
ax.set_xscale("log")
ax.set_xlabel(f"kept ReLUs (% of {total:,})")
ax.set_ylabel("test accuracy (%)")
ax.set_title("Fashion-MNIST CNN: accuracy against ReLU budget")
ax.grid(True, which="both", alpha=0.3)
ax.legend()
fig.tight_layout()
fig.savefig(f"{here}/plot.svg")
fig.savefig(f"{here}/plot.png", dpi=120)
