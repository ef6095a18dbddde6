#!/usr/bin/env python3
"""Cactus plots: papers/vnncomp/cactus-<bench>.png and .svg.

    python cactus.py [--results DIR] [--published DIR] [--no-published] [--out-dir DIR] [--note TEXT]

Run with $SNL_CACHE/plot-venv/bin/python (matplotlib). Reads results.json (written by summarize.py)
for the per-instance correctness if it is there: a row counts as solved when it is sat/unsat and not
judged wrong there; without results.json every sat/unsat counts.

x: number of instances solved, y: the run time of the k-th fastest solved instance (per-instance
times sorted ascending, log scale) — the usual VNN-COMP cactus plot. One solid line per tool run
here ("this machine, 2 CPU cores"); the published 2022 tools dashed, labelled as such (their times
come from the competition's hardware, with a GPU for α,β-CROWN and MN-BaB). When the local runs cover
only part of a benchmark (a --limit run), published rows are restricted to those instances.
"""
import argparse
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE / "peers"))
import common  # noqa: E402
from summarize import BENCHES, instance_index, read_results, tool_bench  # noqa: E402


def wrong_keys(bench, out_dir):
    """(tool-name, onnx, vnnlib) judged wrong in <out_dir>/results.json."""
    p = out_dir / "results.json"
    if not p.exists():
        return set()
    data = json.loads(p.read_text()).get("benchmarks", {}).get(bench, {}).get("tools", {})
    return {(n, w["onnx"], w["vnnlib"]) for n, s in data.items() for w in s.get("wrong_list", [])}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--results", default=str(common.RESULTS))
    ap.add_argument("--published", default="/work/shared/vnncomp2022/results")
    ap.add_argument("--no-published", action="store_true")
    ap.add_argument("--out-dir", default=str(HERE), help="where the plots go; results.json is read from there")
    ap.add_argument("--note", default="", help="appended to each title (e.g. the cap of the local runs)")
    a = ap.parse_args()
    out_dir = Path(a.out_dir)
    import matplotlib
    matplotlib.use("Agg")
    matplotlib.rcParams["svg.hashsalt"] = "snl-vnncomp"
    import matplotlib.pyplot as plt
    import matplotlib.ticker  # noqa: F401

    for bench in BENCHES:
        keyidx = instance_index(bench)
        lines = []  # (name, label, dashed, times)
        local = {}
        for p in sorted(Path(a.results).glob(f"*-{bench}.csv")):
            t, b = tool_bench(p)
            if b == bench:
                local[t] = read_results(p)
        pub = {}
        if not a.no_published:
            for p in sorted(Path(a.published).glob(f"*-{bench}.csv")):
                t, b = tool_bench(p)
                if b == bench:
                    pub[t + " (published)"] = read_results(p)
        if not local:
            continue  # nothing run here: no plot (published-only figures belong to the competition)
        local_keys = {(r["onnx"], r["vnnlib"]) for rows in local.values() for r in rows}
        restrict = bool(local_keys) and len(local_keys) < len(keyidx)
        wrong = wrong_keys(bench, out_dir)
        for name, rows, dashed in [(n, r, False) for n, r in local.items()] + [(n, r, True) for n, r in pub.items()]:
            times = sorted(r["time"] for r in rows
                           if (r["onnx"], r["vnnlib"]) in keyidx
                           and (not restrict or (r["onnx"], r["vnnlib"]) in local_keys)
                           and r["result"] in ("sat", "unsat")
                           and (name, r["onnx"], r["vnnlib"]) not in wrong)
            label = (f"{name.replace(' (published)', '')} — published 2022, competition hardware (GPU for α,β-CROWN, MN-BaB)"
                     if dashed else f"{name} — this machine, 2 CPU cores")
            ran = len({(r["onnx"], r["vnnlib"]) for r in rows} & set(keyidx))
            if not dashed and ran < (len(local_keys) if restrict else len(keyidx)):
                label += f", only {ran} instances run so far"
            lines.append((name, label, dashed, times))

        fig, ax = plt.subplots(figsize=(7.5, 4.5 + 0.22 * len(lines)))
        for name, label, dashed, times in lines:
            xs = list(range(1, len(times) + 1))
            ys = [max(t, 1e-3) for t in times]
            ax.plot(xs, ys, linestyle="--" if dashed else "-", linewidth=1.2 if dashed else 2.0,
                    marker=None if len(xs) > 20 else ".", alpha=0.75 if dashed else 1.0,
                    label=f"{label} ({len(times)})")
        n_inst = len(local_keys) if restrict else len(keyidx)
        ax.set_yscale("log")
        ax.set_xlabel("instances solved" + (f" (of the {n_inst} run here)" if restrict else f" (of {n_inst})"))
        ax.set_ylabel("time per instance (s), sorted")
        ax.set_title(f"VNN-COMP 2022 {bench}" + (f" — {a.note}" if a.note else ""))
        ax.set_xlim(0, max(n_inst, 1) + 0.5)
        ax.grid(True, which="both", alpha=0.3)
        ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
        ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=1, frameon=False)
        fig.tight_layout()
        for ext in ("png", "svg"):
            out = out_dir / f"cactus-{bench}.{ext}"
            # no date, fixed ids: the same data gives the same file
            fig.savefig(out, dpi=130, metadata={"Date": None} if ext == "svg" else {"Software": None})
        plt.close(fig)
        print(f"wrote {out_dir / f'cactus-{bench}.png'} and .svg", file=sys.stderr)


if __name__ == "__main__":
    main()
