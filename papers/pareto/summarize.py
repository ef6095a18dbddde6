"""Reads the runs' JSON (snl linearize / snl baseline --output-format json) and writes
results.json (one row per method, seed and budget) and results.md (mean and spread over
seeds of the test accuracy of the epoch chosen on validation)."""
import glob
import json
import os
import sys

runs, here, settings = sys.argv[1], sys.argv[2], sys.argv[3]
teacher = json.load(open(f"{runs}/teacher.json"))
rows = []
for f in sorted(glob.glob(f"{runs}/*-*.json")):
    name = os.path.basename(f)[:-5]
    method, seed = name.rsplit("-", 1)
    r = json.load(open(f))
    results = r["outcome"]["budgets"] if "outcome" in r else r["budgets"]
    if "outcome" in r and not r["outcome"]["budget_reached"]:
        print(f"warning: {f}: the smallest budget was not reached", file=sys.stderr)
    for b in results:
        rows.append({
            "method": method, "seed": int(seed), "budget": b["budget"], "kept": b["kept"],
            "total": b["total"], "soft_val": b["soft_val"], "binarized_val": b["binarized_val"],
            "binarization_gap": b["binarization_gap"], "binarized_test": b["binarized_test"],
            "best_val": b["best_val"], "final_test": b["final_test"],
        })
rows.sort(key=lambda x: (x["method"] != "snl", x["method"], -x["budget"], x["seed"]))
json.dump({"settings": settings, "teacher_test": teacher["test_accuracy"], "rows": rows},
          open(f"{here}/results.json", "w"), indent=1)

methods = ["snl", "random", "uniform", "snip"]
budgets = sorted({x["budget"] for x in rows}, reverse=True)
total = rows[0]["total"]


def cell(xs):
    if not xs:
        return "–"
    m = sum(xs) / len(xs)
    return f"{100 * m:.2f} ± {100 * (max(xs) - min(xs)) / 2:.2f}" if len(xs) > 1 else f"{100 * m:.2f}"


with open(f"{here}/results.md", "w") as md:
    md.write(f"Settings: {settings}. Teacher (all {total} ReLUs): {100 * teacher['test_accuracy']:.2f}% test.\n\n")
    md.write("Test accuracy (%) of the fine-tune epoch chosen on validation, mean ± half the "
             "spread over seeds:\n\n")
    md.write("| budget | kept % | " + " | ".join(methods) + " |\n")
    md.write("|---|---|" + "---|" * len(methods) + "\n")
    for b in budgets:
        cells = [cell([x["final_test"] for x in rows if x["method"] == m and x["budget"] == b])
                 for m in methods]
        md.write(f"| {b} | {100 * b / total:.2f} | " + " | ".join(cells) + " |\n")
    md.write("\nSNL's binarization, validation accuracy (%) with the mask phase's soft masks, "
             "binarized, and the gap in points (mean over seeds):\n\n")
    md.write("| budget | soft | binarized | gap | binarized test | final test |\n|---|---|---|---|---|---|\n")
    for b in budgets:
        s = [x for x in rows if x["method"] == "snl" and x["budget"] == b]
        if not s:
            continue
        avg = lambda k: sum(x[k] for x in s) / len(s)
        md.write(f"| {b} | {100 * avg('soft_val'):.2f} | {100 * avg('binarized_val'):.2f} | "
                 f"{avg('binarization_gap'):.2f} | {100 * avg('binarized_test'):.2f} | "
                 f"{100 * avg('final_test'):.2f} |\n")
print(open(f"{here}/results.md").read())
