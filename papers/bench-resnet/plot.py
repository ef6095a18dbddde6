"""Plots papers/bench-resnet/results.json as plot.png and plot.svg (matplotlib).

    python plot.py [DIR=papers/bench-resnet]

Left: CROWN bound seconds against kept ReLUs (log-log), a hollow marker where the deadline
stopped the refinement (with a cross at the time all candidates would take at the rate
measured), and the line `time ∝ kept` through the smallest model for reference.
Right: kept units interval propagation left unstable (candidates), those CROWN refined before
the deadline, and those still unstable at the end.
"""
import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

here = sys.argv[1] if len(sys.argv) > 1 else "papers/bench-resnet"
rows = sorted(json.load(open(f"{here}/results.json"))["rows"], key=lambda r: r["kept"])
kept = [r["kept"] for r in rows]
fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4.3))

secs = [r["bound_seconds"] for r in rows]
a.plot(kept, secs, "-", color="tab:blue")
for r in rows:
    a.plot(r["kept"], r["bound_seconds"], "o", color="tab:blue",
           mfc="white" if r["timed_out"] else "tab:blue", ms=8)
    if r.get("projected_seconds"):
        a.plot(r["kept"], r["projected_seconds"], "x", color="tab:purple", ms=8)
        a.plot([r["kept"]] * 2, [r["bound_seconds"], r["projected_seconds"]], ":",
               color="tab:purple")
a.plot([kept[0], kept[-1]], [secs[0], secs[0] * kept[-1] / kept[0]], ":", color="grey",
       label="time ∝ kept (through the smallest)")
a.plot([], [], "o", color="tab:blue", mfc="white", label="deadline reached (timed out)")
a.plot([], [], "x", color="tab:purple",
       label="projected: all candidates at the measured rate")
a.set_yscale("log")
a.set_ylabel("CROWN bound seconds")
a.set_title("bound time")
a.legend(fontsize=9)

for key, label, c in [("candidates", "candidates (interval-unstable kept)", "tab:orange"),
                      ("refined", "refined by back-substitution", "tab:green"),
                      ("unstable_kept", "unstable kept at the end", "tab:red")]:
    b.plot(kept, [max(r[key] or 0, 0.8) for r in rows], "-o", color=c, label=label)
b.set_yscale("log")
b.set_ylabel("kept units")
b.set_title("CROWN work")
b.legend(fontsize=9)

total = rows[0]["total"]
for ax in (a, b):
    ax.set_xscale("log")
    ax.set_xticks(kept)
    ax.set_xticklabels([f"{k:,}\n{100 * k / total:.3g}%" for k in kept], fontsize=8)
    ax.minorticks_off()
    ax.set_xlabel(f"kept ReLUs (of {total:,})")
    ax.grid(True, alpha=0.3)
fig.suptitle("CIFAR-shaped ResNet-18 (synthetic weights and masks): CROWN around one input, "
             f"L∞ ball ε = {rows[0]['eps']:g}, timeout {rows[0]['timeout']:g} s", fontsize=11)
fig.tight_layout()
for ext in ("png", "svg"):
    fig.savefig(f"{here}/plot.{ext}", dpi=110)
print(f"wrote {here}/plot.png and {here}/plot.svg")
