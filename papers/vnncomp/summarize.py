#!/usr/bin/env python3
"""Summarize VNN-COMP 2022 runs: tools run here (papers/vnncomp/results/<tool>-<bench>.csv) and the
published 2022 results (/work/shared/vnncomp2022/results/<tool>-<bench>.csv).

    python summarize.py [--ref TOOL] [--published DIR] [--no-published]

Run with a Python that has onnxruntime + numpy (~/.cache/snl/onnx-venv/bin/python): every `sat`
of a tool run here is checked by running its counterexample input through the ONNX network.
Writes papers/vnncomp/results.md and results.json and prints the tables.

Wrong answers:
  * a `sat` of a tool run here whose counterexample file is missing or unreadable, whose input is not
    in the VNN-LIB's input region (slack 1e-6 per bound), or whose onnxruntime output does not satisfy
    the VNN-LIB's output (violation) constraints within an absolute 1e-4;
  * an `unsat` (of any tool, published included) on an instance where some tool run here has a
    validated sat (published sats have no counterexample files here, so they cannot validate);
  * "disputed" (listed, not counted as wrong): a sat that could not be validated here (a published
    sat) on an instance that is unsat by published consensus (at least two other published tools say
    unsat and no other published tool says sat).
Solved = sat + unsat - wrong. Score: VNN-COMP 2022's points (vnncomp_scores), within each group
(the tools run here; the published rows). Time ratios (tool / ref) use instances both solve correctly: the ratio
of the summed times and the geometric mean of per-instance ratios. Published times come from the
competition's hardware (α,β-CROWN and MN-BaB on a GPU) and are not comparable with times here.
"""
import argparse
import csv
import json
import math
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE / "peers"))
import common  # noqa: E402
import vnnlib  # noqa: E402

BENCHES = ["acasxu", "mnist_fc", "oval21", "sri_resnet_a"]
TOL_IN, TOL_OUT = 1e-6, 1e-4
PUBLISHED_LABEL = "published 2022 (competition hardware: α,β-CROWN and MN-BaB on GPU)"
LOCAL_LABEL = "this machine, 2 CPU cores"


def read_results(path):
    rows = []
    with open(path) as f:
        for r in csv.reader(f):
            if not r or r[0].strip() == "benchmark" or len(r) < 6:
                continue
            res = r[4].strip().lower()
            if res not in common.RESULT_VALUES:
                # published: run_instance_timeout -> timeout; error_exit_code_1, no_result_in_file,
                # prepare_instance_error_1 -> error
                res = "timeout" if "timeout" in res else "error"
            try:
                t = float(r[5])
            except ValueError:
                t = float("nan")
            rows.append({"onnx": norm(r[1]), "vnnlib": norm(r[2]), "result": res, "time": t})
    return rows


def norm(p):
    """'./benchmarks/acasxu/onnx/X.onnx' -> 'onnx/X.onnx' (drop .gz too)."""
    p = p.strip()
    if p.endswith(".gz"):
        p = p[:-3]
    parts = p.split("/")
    for i, part in enumerate(parts):
        if part in ("onnx", "vnnlib"):
            return "/".join(parts[i:])
    return p


def tool_bench(path, benches=BENCHES):
    stem = path.stem
    for b in sorted(benches, key=len, reverse=True):
        if stem.endswith("-" + b):
            return stem[: -len(b) - 1], b
    return None, None


class Checker:
    def __init__(self):
        import numpy as np
        import onnxruntime as ort
        self.np, self.ort = np, ort
        self.sessions, self.specs = {}, {}

    def session(self, onnx_path):
        if onnx_path not in self.sessions:
            so = self.ort.SessionOptions()
            so.intra_op_num_threads = 1
            self.sessions[onnx_path] = self.ort.InferenceSession(str(onnx_path), so, providers=["CPUExecutionProvider"])
        return self.sessions[onnx_path]

    def spec(self, path):
        if path not in self.specs:
            self.specs[path] = vnnlib.read_vnnlib(str(path))
        return self.specs[path]

    def check(self, onnx_path, vnnlib_path, cex_file):
        """-> (ok: bool, reason: str, detail dict)"""
        np = self.np
        if not cex_file.exists():
            return False, "no counterexample file", {}
        try:
            x, y_claimed = vnnlib.read_cex(cex_file.read_text())
        except Exception as e:  # noqa: BLE001
            return False, f"unreadable counterexample ({e})", {}
        spec = self.spec(vnnlib_path)
        if len(x) != spec.n_inputs:
            return False, f"counterexample has {len(x)} inputs, VNN-LIB declares {spec.n_inputs}", {}
        if not spec.input_ok(x, TOL_IN):
            return False, "input outside the VNN-LIB input region (slack 1e-6)", {}
        sess = self.session(onnx_path)
        inp = sess.get_inputs()[0]
        shape = [d if isinstance(d, int) and d > 0 else 1 for d in inp.shape]
        dtype = np.float64 if "double" in inp.type else np.float32
        arr = np.asarray(x, dtype=dtype).reshape(shape)
        y = sess.run(None, {inp.name: arr})[0].reshape(-1).astype(np.float64).tolist()
        detail = {}
        if len(y_claimed) == len(y):
            detail["max |Y_claimed - Y_onnxruntime|"] = max((abs(a - b) for a, b in zip(y, y_claimed)), default=0.0)
        if not spec.output_ok(x, y, TOL_OUT):
            return False, "onnxruntime output does not satisfy the violation (abs 1e-4)", detail
        return True, "ok", detail


def instance_index(bench):
    """key (onnx, vnnlib) -> list of instances.csv row indices (in order)."""
    idx = {}
    with open(common.BENCH_ROOT / bench / "instances.csv") as f:
        for i, r in enumerate(csv.reader(f)):
            if r and r[0].strip():
                idx.setdefault((norm(r[0]), norm(r[1])), []).append(i)
    return idx


# VNN-COMP 2022's per-instance points (its scoring script, process_results.py of the competition's
# results repository): a correct answer 10, an incorrect one -100, nothing otherwise; among the tools
# answering correctly, the fastest +2 and the second fastest +1, two times within 0.2 s counting as
# equal; a time is the run time minus the tool's overhead (its shortest run time on a solved instance
# of the benchmark), at least 1 s. Here only tools of one group score against each other: the local
# runs (same machine, same run) and, apart, the published rows.
POINTS_CORRECT, POINTS_WRONG, BONUS_FASTEST, BONUS_SECOND, SAME_TIME_S = 10, -100, 2, 1, 0.2


def vnncomp_scores(group, per, wrong_keys):
    """{tool: points} over the instances of `per` ({key: {tool: row}}) for the tools of `group`;
    `wrong_keys[tool]` holds the keys of that tool's wrong answers."""
    overhead = {}
    for d in per.values():
        for n, r in d.items():
            if n in group and r.get("correct"):
                overhead[n] = min(overhead.get(n, math.inf), r["time"])
    score = {n: 0 for n in group}
    for k, d in per.items():
        times = {}
        for n in group:
            r = d.get(n)
            if r is None:
                continue
            if k in wrong_keys.get(n, ()):
                score[n] += POINTS_WRONG
            elif r.get("correct"):
                score[n] += POINTS_CORRECT
                times[n] = max(1.0, r["time"] - overhead[n])
        ranked = sorted(times.values())
        for n, t in times.items():
            if t < ranked[0] + SAME_TIME_S:
                score[n] += BONUS_FASTEST
            elif len(ranked) > 1 and t < ranked[1] + SAME_TIME_S:
                score[n] += BONUS_SECOND
    return score


def geomean(xs):
    xs = [x for x in xs if x > 0 and math.isfinite(x)]
    return math.exp(sum(math.log(x) for x in xs) / len(xs)) if xs else None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ref", default="snl", help="tool the time ratios are taken against (default snl; falls back to the local tool with most solved)")
    ap.add_argument("--published", default="/work/shared/vnncomp2022/results")
    ap.add_argument("--no-published", action="store_true")
    ap.add_argument("--all-published", action="store_true",
                    help="keep every published row even when the local runs cover only some instances")
    ap.add_argument("--results", default=str(common.RESULTS))
    ap.add_argument("--out-dir", default=str(HERE), help="where results.md and results.json go")
    ap.add_argument("--benchmarks", default=",".join(BENCHES),
                    help="comma-separated benchmark folder names under $VNNCOMP_BENCHMARKS (default: the four 2022 ones)")
    a = ap.parse_args()
    benches = [b for b in a.benchmarks.split(",") if b]

    runs = {}  # (bench, name) -> {"tool", "kind", "rows"}
    for p in sorted(Path(a.results).glob("*.csv")):
        t, b = tool_bench(p, benches)
        if t:
            runs[(b, t)] = {"tool": t, "kind": "local", "label": LOCAL_LABEL, "rows": read_results(p)}
    if not a.no_published:
        for p in sorted(Path(a.published).glob("*.csv")):
            t, b = tool_bench(p, benches)
            if t:
                runs[(b, t + " (published)")] = {"tool": t, "kind": "published", "label": PUBLISHED_LABEL, "rows": read_results(p)}

    checker = None
    out = {"tolerances": {"input": TOL_IN, "output_abs": TOL_OUT}, "benchmarks": {}}
    title = "VNN-COMP 2022 benchmarks" if benches == BENCHES else ", ".join(benches)
    md = [f"# {title}: results", "",
          f"Local runs: {LOCAL_LABEL}. Published rows: {PUBLISHED_LABEL}; their times are not comparable with ours.",
          f"Wrong = sat whose counterexample fails under onnxruntime (input slack {TOL_IN:g}, output abs {TOL_OUT:g}), "
          "or unsat where a tool run here has a validated sat. Disputed = unvalidated (published) sat against "
          "published unsat consensus (≥2 other published unsat, no other sat). Solved = sat + unsat − wrong.", ""]

    for bench in benches:
        names = [n for (b, n) in runs if b == bench]
        if not names:
            continue
        keyidx = instance_index(bench)
        # Rows of instances not in instances.csv (the competition's test_nano sanity instance) are dropped.
        for n in names:
            runs[(bench, n)]["rows"] = [r for r in runs[(bench, n)]["rows"] if (r["onnx"], r["vnnlib"]) in keyidx]
        # Published rows are restricted to the instances the local runs cover (a --limit run), unless
        # --all-published; then every count in the table is over the same instances.
        local_keys = {(r["onnx"], r["vnnlib"]) for n in names if runs[(bench, n)]["kind"] == "local"
                      for r in runs[(bench, n)]["rows"]}
        restricted = bool(local_keys) and not a.all_published and len(local_keys) < len(keyidx)
        if restricted:
            for n in names:
                if runs[(bench, n)]["kind"] == "published":
                    runs[(bench, n)]["rows"] = [r for r in runs[(bench, n)]["rows"] if (r["onnx"], r["vnnlib"]) in local_keys]
        local_root = None
        # per instance: who says what
        per = {}  # key -> {name: (result, time)}
        for n in names:
            seen = {}
            for r in runs[(bench, n)]["rows"]:
                k = (r["onnx"], r["vnnlib"])
                occ = seen.get(k, 0)
                seen[k] = occ + 1
                per.setdefault(k, {})[n] = r
                rows_idx = keyidx.get(k, [])
                r["index"] = rows_idx[occ] if occ < len(rows_idx) else None

        # validate local sats
        validated_sat = {}  # key -> [names]
        checks = {}
        for n in names:
            run = runs[(bench, n)]
            if run["kind"] != "local":
                continue
            for r in run["rows"]:
                if r["result"] != "sat":
                    continue
                if checker is None:
                    checker = Checker()
                if local_root is None:
                    local_root = common.unzip_benchmark(bench)
                k = (r["onnx"], r["vnnlib"])
                cex = (Path(a.results) / "cex" / run["tool"] / bench / f"{r['index']}.txt") if r["index"] is not None else Path("/nonexistent")
                try:
                    ok, why, detail = checker.check(local_root / r["onnx"], local_root / r["vnnlib"], cex)
                except Exception as e:  # noqa: BLE001
                    ok, why, detail = False, f"check failed: {e}", {}
                r["check"] = {"ok": ok, "reason": why, **detail}
                checks[(n, k)] = r["check"]
                if ok:
                    validated_sat.setdefault(k, []).append(n)

        # published consensus
        # (a published sat is disputed when >= 2 *other* published tools say unsat and none says sat)
        pub_counts = {}
        for k, d in per.items():
            pub = [v["result"] for nn, v in d.items() if runs[(bench, nn)]["kind"] == "published"]
            pub_counts[k] = (pub.count("unsat"), pub.count("sat"))
        consensus_unsat = {k for k, (u, sa) in pub_counts.items() if u >= 2 and sa == 0}

        def disputed_sat(k):
            u, sa = pub_counts.get(k, (0, 0))
            return u >= 2 and sa - 1 == 0

        # wrong / disputed
        stats = {}
        for n in names:
            run = runs[(bench, n)]
            s = {"label": run["label"], "kind": run["kind"], "instances": len(run["rows"]), "sat": 0, "unsat": 0,
                 "timeout": 0, "unknown": 0, "error": 0, "wrong": 0, "disputed": 0, "solved": 0,
                 "solved_time": 0.0, "wrong_list": [], "disputed_list": []}
            for r in run["rows"]:
                k = (r["onnx"], r["vnnlib"])
                s[r["result"]] += 1
                wrong = why = None
                if r["result"] == "sat" and run["kind"] == "local" and not r["check"]["ok"]:
                    wrong, why = True, r["check"]["reason"]
                elif r["result"] == "unsat" and k in validated_sat:
                    wrong, why = True, "unsat, but validated sat by " + ", ".join(validated_sat[k])
                r["correct"] = r["result"] in ("sat", "unsat") and not wrong
                if wrong:
                    s["wrong"] += 1
                    s["wrong_list"].append({"index": r["index"], "onnx": r["onnx"], "vnnlib": r["vnnlib"],
                                            "result": r["result"], "why": why})
                elif r["result"] == "sat" and run["kind"] == "published" and disputed_sat(k) and k not in validated_sat:
                    s["disputed"] += 1
                    s["disputed_list"].append({"index": r["index"], "onnx": r["onnx"], "vnnlib": r["vnnlib"]})
                if r["correct"]:
                    s["solved"] += 1
                    s["solved_time"] += r["time"]
            stats[n] = s

        wrong_keys = {n: {(w["onnx"], w["vnnlib"]) for w in stats[n]["wrong_list"]} for n in names}
        for kind in ("local", "published"):
            group = [n for n in names if runs[(bench, n)]["kind"] == kind]
            for n, pts in vnncomp_scores(group, per, wrong_keys).items():
                stats[n]["score"] = pts

        # time ratios vs ref
        local_names = [n for n in names if runs[(bench, n)]["kind"] == "local"]
        # fallback: the local tool with most solved instances
        ref = a.ref if a.ref in names else (max(local_names, key=lambda n: (stats[n]["solved"], n)) if local_names else None)
        for n in names:
            s = stats[n]
            s["ratio_ref"] = ref
            if ref is None or n == ref:
                s["common_solved"] = s["time_ratio_sum"] = s["time_ratio_geomean"] = None
                continue
            ta, tb = [], []
            for k, d in per.items():
                if n in d and ref in d and d[n].get("correct") and d[ref].get("correct"):
                    ta.append(d[n]["time"])
                    tb.append(d[ref]["time"])
            s["common_solved"] = len(ta)
            s["time_ratio_sum"] = (sum(ta) / sum(tb)) if ta and sum(tb) > 0 else None
            s["time_ratio_geomean"] = geomean([x / y for x, y in zip(ta, tb) if y > 0])

        out["benchmarks"][bench] = {"ratio_ref": ref, "tools": stats,
                                    "consensus_unsat_instances": len(consensus_unsat),
                                    "restricted_to_local_instances": restricted,
                                    "local_sat_checks": [{"tool": n, "onnx": k[0], "vnnlib": k[1], **v}
                                                         for (n, k), v in checks.items()]}
        md += [f"## {bench}", "",
               (f"Only the {len(local_keys)} instances run here (published rows restricted to them)." if restricted else ""), "",
               f"Time ratio: tool / {ref} on instances both solve correctly (sum of times; geometric mean of per-instance ratios)." if ref else "", "",
               "Score: VNN-COMP 2022's points (correct 10, wrong −100, fastest +2, second +1), among the "
               "tools run here and, apart, among the published rows.", "",
               "| tool | where | instances | solved | sat | unsat | timeout | unknown | error | wrong | disputed | score | time of solved (s) | both solved | ratio (sum) | ratio (geomean) |",
               "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
        order = sorted(names, key=lambda n: (runs[(bench, n)]["kind"] != "local", n))
        for n in order:
            s = stats[n]
            f = lambda v: "–" if v is None else (f"{v:.2f}" if isinstance(v, float) else str(v))  # noqa: E731
            md.append(f"| {n} | {s['label']} | {s['instances']} | {s['solved']} | {s['sat']} | {s['unsat']} | {s['timeout']} | "
                      f"{s['unknown']} | {s['error']} | {s['wrong']} | {s['disputed']} | {s['score']} | {s['solved_time']:.1f} | "
                      f"{f(s['common_solved'])} | {f(s['time_ratio_sum'])} | {f(s['time_ratio_geomean'])} |")
        for n in order:
            for w in stats[n]["wrong_list"]:
                md.append(f"- **wrong** {n}: row {w['index']} {w['onnx']} {w['vnnlib']}: {w['result']} — {w['why']}")
            for w in stats[n]["disputed_list"]:
                md.append(f"- disputed {n}: row {w['index']} {w['onnx']} {w['vnnlib']}: sat vs published unsat consensus")
        md.append("")

    md = [l for i, l in enumerate(md) if not (l == "" and i > 0 and md[i - 1] == "")]
    od = Path(a.out_dir)
    od.mkdir(parents=True, exist_ok=True)
    (od / "results.md").write_text("\n".join(md) + "\n")
    (od / "results.json").write_text(json.dumps(out, indent=1, ensure_ascii=False) + "\n")
    print("\n".join(md))
    print(f"wrote {od / 'results.md'} and {od / 'results.json'}", file=sys.stderr)


if __name__ == "__main__":
    main()
