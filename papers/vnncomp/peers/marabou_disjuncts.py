#!/usr/bin/env python3
"""Marabou on each disjunct of a VNN-LIB property alone, over the file's whole input box.

    $SNL_CACHE/marabou-venv/bin/python marabou_disjuncts.py ONNX VNNLIB [--timeout S] [--keep DIR]

The property's output part must be one `(assert (or (and C) (and C) ...))` block whose disjuncts are
single constraints (oval21, mnist_fc and sri_resnet_a are written so). For each disjunct C the file
is rewritten with that block replaced by `(assert C)` and handed to Marabou's own VNN-LIB loader (as
run_marabou.py runs an instance); one line per disjunct: the constraint, Marabou's answer, seconds.
The property is `unsat` exactly when every disjunct alone is, so a fast `unsat` on the whole file
with slow or missing answers here, or an `unsat` here on a disjunct that a validated counterexample
satisfies, says the whole file's answer does not rest on the network. --keep DIR also writes the
one-disjunct files there (d0.vnnlib, d1.vnnlib, ...), e.g. for snl-verify.
"""
import argparse
import os
import re
import sys
import tempfile
import time
import warnings


def disjuncts(text):
    """(the file up to its output block, [constraint, ...]) or None when it has no such block."""
    at = text.rfind("(assert (or")
    if at < 0:
        return None
    cons = re.findall(r"\(and\s+(\([<>]=\s+[^()]+\))\s*\)", text[at:])
    return (text[:at], cons) if cons else None


def main():
    ap = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    ap.add_argument("onnx")
    ap.add_argument("vnnlib")
    ap.add_argument("--timeout", type=int, default=30, help="Marabou's timeout per disjunct (s)")
    ap.add_argument("--keep", default=None, help="also write the one-disjunct files to this folder")
    a = ap.parse_args()
    for path in (a.onnx, a.vnnlib):
        if not os.path.isfile(path):
            sys.exit(f"{path}: no such file")
    if a.timeout < 1:
        sys.exit(f"--timeout {a.timeout}: must be at least 1")
    try:
        text = open(a.vnnlib).read()
    except (OSError, UnicodeDecodeError) as e:
        sys.exit(f"{a.vnnlib}: cannot read ({e})")
    split = disjuncts(text)
    if split is None:
        sys.exit(f"{a.vnnlib}: no `(assert (or (and C) ...))` output block with single-constraint disjuncts")
    head, cons = split
    if a.keep:
        os.makedirs(a.keep, exist_ok=True)
        for i, c in enumerate(cons):
            with open(os.path.join(a.keep, f"d{i}.vnnlib"), "w") as f:
                f.write(f"{head}(assert {c})\n")

    warnings.filterwarnings("ignore")
    from maraboupy import Marabou
    opts = Marabou.createOptions(verbosity=0, timeoutInSeconds=a.timeout)
    for i, c in enumerate(cons):
        with tempfile.NamedTemporaryFile("w", suffix=".vnnlib", delete=False) as f:
            f.write(f"{head}(assert {c})\n")
        try:
            t = time.time()
            code, _, _ = Marabou.read_onnx(a.onnx).solve(verbose=False, options=opts, propertyFilename=f.name)
        finally:
            os.unlink(f.name)
        print(f"d{i} (assert {c}): {code} in {time.time() - t:.1f} s", flush=True)


if __name__ == "__main__":
    main()
