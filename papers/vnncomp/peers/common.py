"""Shared pieces of the peer runners: benchmark unpacking, instance lists, result rows.

Standard library only, so any Python (3.8+) can import it.

Result CSV: the competition's columns, no header,
    benchmark,onnx,vnnlib,prepare time,result,run time
with onnx/vnnlib written as in the published files (`./benchmarks/<bench>/onnx/X.onnx`), so rows of
every tool can be joined on (benchmark, onnx, vnnlib). result is one of sat/unsat/timeout/unknown/error.
A sat row comes with `results/cex/<tool>/<bench>/<row index>.txt` (row index = 0-based line of
instances.csv) in the VNN-COMP counterexample format.
"""
import csv
import gzip
import os
import shutil
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
PAPER = HERE.parent                      # papers/vnncomp
# result CSVs and counterexamples; VNNCOMP_RESULTS moves them (a side-by-side run in its own folder)
RESULTS = Path(os.environ.get("VNNCOMP_RESULTS", str(PAPER / "results"))).resolve()
BENCH_ROOT = Path(os.environ.get("VNNCOMP_BENCHMARKS", "/work/shared/vnncomp2022/benchmarks"))
CACHE = Path(os.environ.get("SNL_CACHE", str(Path.home() / ".cache" / "snl")))
UNZIPPED = CACHE / "vnncomp2022-unzipped"
RESULT_VALUES = ("sat", "unsat", "timeout", "unknown", "error")


def unzip_benchmark(bench):
    """Decompress benchmarks/<bench>/{onnx,vnnlib}/*.gz into $SNL_CACHE/vnncomp2022-unzipped/<bench>/
    (once; a file already there with a newer mtime is kept). Returns that folder."""
    src = BENCH_ROOT / bench
    if not (src / "instances.csv").is_file():
        sys.exit(f"no benchmark {bench!r}: {src / 'instances.csv'} not found (VNNCOMP_BENCHMARKS sets the folder)")
    dst = UNZIPPED / bench
    for sub in ("onnx", "vnnlib"):
        (dst / sub).mkdir(parents=True, exist_ok=True)
        for f in sorted((src / sub).iterdir()):
            if f.suffix == ".gz":
                out = dst / sub / f.name[:-3]
                if out.exists() and out.stat().st_mtime >= f.stat().st_mtime:
                    continue
                tmp = out.with_name(out.name + ".part")
                with gzip.open(f, "rb") as fi, open(tmp, "wb") as fo:
                    shutil.copyfileobj(fi, fo)
                tmp.replace(out)
            else:
                out = dst / sub / f.name
                if not out.exists():
                    shutil.copy2(f, out)
    return dst


class Instance:
    def __init__(self, bench, index, onnx_rel, vnnlib_rel, timeout, root):
        self.bench = bench
        self.index = index                  # 0-based row of instances.csv
        self.onnx_rel = onnx_rel            # as in instances.csv: onnx/X.onnx
        self.vnnlib_rel = vnnlib_rel
        self.timeout = float(timeout)
        self.onnx = root / onnx_rel         # unzipped file on disk
        self.vnnlib = root / vnnlib_rel

    @property
    def key(self):
        """The (onnx, vnnlib) strings as the published CSVs write them."""
        return (f"./benchmarks/{self.bench}/{self.onnx_rel}", f"./benchmarks/{self.bench}/{self.vnnlib_rel}")


def instances(bench, limit=None, only=None):
    root = unzip_benchmark(bench)
    out = []
    with open(BENCH_ROOT / bench / "instances.csv") as f:
        for i, row in enumerate(csv.reader(f)):
            if not row or not row[0].strip():
                continue
            out.append(Instance(bench, i, row[0].strip(), row[1].strip(), row[2].strip(), root))
    if only:
        keep = {int(i) for i in only.split(",")}
        out = [x for x in out if x.index in keep]
    return out[:limit] if limit else out


def cex_path(tool, bench, index):
    return RESULTS / "cex" / tool / bench / f"{index}.txt"


def format_cex(xs, ys):
    """VNN-COMP counterexample text: `sat` line would be added by the caller; this is the s-expression."""
    lines = [f"(X_{i} {float(v)!r})" for i, v in enumerate(xs)]
    lines += [f"(Y_{j} {float(v)!r})" for j, v in enumerate(ys)]
    return "(" + "\n ".join(lines) + ")\n"


def write_cex(tool, bench, index, text):
    p = cex_path(tool, bench, index)
    p.parent.mkdir(parents=True, exist_ok=True)
    if not text.lstrip().startswith("sat"):
        text = "sat\n" + text
    p.write_text(text)
    return p


class ResultWriter:
    """Writes results/<tool>-<bench>.csv row by row (flushed, so a killed run keeps its rows).

    Resume, as `snl-verify vnncomp --batch` does: rows already in the file that match the leading
    instances of this run, in order, are kept and those instances are skipped (`todo` lists the
    rest); when some instance is left to run, anything after the first row that does not match
    (another instance list, a cut-off line) is dropped, with its counterexample files. Delete the
    file to rerun from scratch."""

    def __init__(self, tool, bench, insts, out=None):
        self.tool, self.bench = tool, bench
        self.path = Path(out) if out else RESULTS / f"{tool}-{bench}.csv"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        rows = []
        if self.path.exists():
            with open(self.path, newline="") as f:
                rows = list(csv.reader(f))
        done = 0
        for row, inst in zip(rows, insts):
            if len(row) != 6 or row[0] != bench or tuple(row[1:3]) != inst.key or row[4] not in RESULT_VALUES:
                break
            done += 1
        # a run over a prefix of what the file holds (a --limit run after a full one) changes nothing
        kept = rows if done == len(insts) else rows[:done]
        self.todo = insts[done:]
        stale = RESULTS / "cex" / tool / bench
        for inst in self.todo:
            cex_path(tool, bench, inst.index).unlink(missing_ok=True)
        if stale.is_dir() and not kept:
            shutil.rmtree(stale)
        self.f = open(self.path, "w", newline="")
        self.w = csv.writer(self.f)
        self.w.writerows(kept)
        self.f.flush()
        if done:
            print(f"[{tool}] {bench}: resuming after {done} rows of {self.path}", file=sys.stderr, flush=True)

    def row(self, inst, result, run_time, prepare_time=0.0):
        assert result in RESULT_VALUES, result
        onnx, vnnlib = inst.key
        self.w.writerow([self.bench, onnx, vnnlib, f"{prepare_time:.6f}", result, f"{run_time:.6f}"])
        self.f.flush()
        print(f"[{self.tool}] {self.bench} #{inst.index} {Path(inst.onnx_rel).name} {Path(inst.vnnlib_rel).name}: "
              f"{result} {run_time:.2f}s", file=sys.stderr, flush=True)

    def close(self):
        self.f.close()


def parse_common_args(argv, prog):
    import argparse
    p = argparse.ArgumentParser(prog=prog)
    p.add_argument("bench", help="acasxu | mnist_fc | oval21 | sri_resnet_a")
    p.add_argument("--cap", type=float, default=None, help="uniform wall-clock cap per instance (s); min(cap, instance timeout) is used")
    p.add_argument("--limit", type=int, default=None, help="only the first N instances")
    p.add_argument("--only", default=None, help="comma-separated instances.csv row indices (0-based) to run")
    p.add_argument("--name", default=None, help="tool name for results/<name>-<bench>.csv and results/cex/<name>/ (default: the tool)")
    p.add_argument("--out", default=None, help="result CSV (default results/<tool>-<bench>.csv)")
    return p
