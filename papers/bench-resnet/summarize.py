"""Summarizes the `snl-verify bound --method crown` runs of papers/bench-resnet/run.sh.

    python3 summarize.py LIST OUT_DIR EPS TIMEOUT

LIST has one tab-separated line per model: `tag budget model-file bound-json exit-code`
(budget 1 = all ReLUs kept; `snl` = the SNL mask). Writes OUT_DIR/results.json, results.csv and results.md: per model the kept
ReLUs, bound seconds, the CROWN statistics (candidates, refined, unstable kept, timed out),
the refinement rate (refined units per second) and each time over the 100% model's time
measured in the same run. Plain Python, no packages.
"""
import csv
import json
import sys

list_file, out_dir, eps, timeout = sys.argv[1], sys.argv[2], float(sys.argv[3]), float(sys.argv[4])
rows = []
for line in open(list_file):
    if not line.strip():
        continue
    tag, budget, model, path, rc = line.rstrip("\n").split("\t")
    r = json.load(open(path))
    lbp = r.get("lbp") or {}
    width = [b["upper"] - b["lower"] for b in r["bounds"]]
    rows.append({
        "model": tag,
        "mask": "all" if budget == "1" else ("SNL" if budget == "snl" else "random"),
        "kept": r["relus"]["kept"],
        "total": r["relus"]["total"],
        "kept_percent": round(100 * r["relus"]["kept"] / r["relus"]["total"], 3),
        "eps": eps,
        "timeout": timeout,
        "load_seconds": r["load_seconds"],
        "bound_seconds": r["bound_seconds"],
        "candidates": lbp.get("candidates"),
        "refined": lbp.get("refined"),
        "unstable_kept": r["unstable_kept"],
        "timed_out": lbp.get("timed_out"),
        "exit_code": int(rc),
        "refined_per_second": (lbp["refined"] / r["bound_seconds"]) if lbp.get("refined") else None,
        "mean_logit_width": sum(width) / len(width),
        # a timed-out run: the time all candidates would take at the rate measured
        "projected_seconds": (r["bound_seconds"] * lbp["candidates"] / lbp["refined"])
        if lbp.get("timed_out") and lbp.get("refined") else None,
        "fp_allowance": lbp.get("fp_allowance"),
    })
rows.sort(key=lambda x: -x["kept"])
base = next((x for x in rows if x["mask"] == "all"), rows[0])
for x in rows:
    x["time_over_100"] = x["bound_seconds"] / base["bound_seconds"]
    full = lambda y: y["projected_seconds"] or y["bound_seconds"]
    x["full_time_over_100"] = full(x) / full(base)
    x["kept_over_100"] = x["kept"] / base["kept"]
json.dump({"rows": rows}, open(f"{out_dir}/results.json", "w"), indent=1)
with open(f"{out_dir}/results.csv", "w", newline="") as f:
    w = csv.DictWriter(f, fieldnames=list(rows[0]))
    w.writeheader()
    w.writerows(rows)


def opt(v, fmt):
    return "–" if v is None else fmt.format(v)


md = ["| model | kept ReLUs | candidates | refined | unstable kept | timed out | bound s | "
      "projected s (all candidates) | full time / 100% | kept / 100% | refined / s | mean logit width |",
      "|---|---|---|---|---|---|---|---|---|---|---|---|"]
for x in rows:
    md.append(
        f"| {x['model']} | {x['kept']:,} ({x['kept_percent']:.3g}%) | {opt(x['candidates'], '{:,}')} | "
        f"{opt(x['refined'], '{:,}')} | {x['unstable_kept']:,} | {'**yes**' if x['timed_out'] else 'no'} | "
        f"{x['bound_seconds']:.1f} | {opt(x['projected_seconds'], '{:,.0f}')} | "
        f"{x['full_time_over_100']:.3g} | {x['kept_over_100']:.3g} | "
        f"{opt(x['refined_per_second'], '{:.1f}')} | {x['mean_logit_width']:.3g} |")
open(f"{out_dir}/results.md", "w").write("\n".join(md) + "\n")
print("\n".join(md))
