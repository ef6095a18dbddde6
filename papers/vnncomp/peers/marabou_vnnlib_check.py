#!/usr/bin/env python3
"""Does Marabou's answer on an instance follow from the network, or from how the property was read?

    $SNL_CACHE/marabou-venv/bin/python marabou_vnnlib_check.py ONNX CEX VNNLIB

CEX is a counterexample file in the VNN-COMP format (`sat` then `((X_0 v) ... (Y_0 v))`), e.g. one of
results/cex/snl/<bench>/<row>.txt, which summarize.py has validated under onnxruntime. The input is
held at the counterexample's X (after step 0), and Marabou is asked:

0. the instance itself, the VNN-LIB file's whole input box through Marabou's loader;
1. with no property (the input fixed at X exactly): is the network's output at X, as Marabou's
   ONNX parser built it, the one onnxruntime gives? (the parse is right if so);
2. with the VNN-LIB file, through Marabou's own loader (`propertyFilename=`, as run_marabou.py runs
   it): the answer must be `sat`, since X violates the property;
2b. the same, with the file's input asserts left out (the input box is then only the one around X):
   `sat` here and `unsat` in 2 puts the fault in how the loader reads the input bounds;
2c. the same, with the file's tab characters replaced by spaces (oval21 and sri_resnet_a indent
   the disjuncts of their output constraint with tabs, mnist_fc with spaces);
2d. the same, with each `(<= Y_a Y_b)` written `(>= Y_b Y_a)` (as mnist_fc writes them);
2e. each disjunct that X satisfies, alone, as a one-assert VNN-LIB file through the loader;
3. with each disjunct of the property's output constraint that X satisfies, added through the
   Python API (`addInequality`) instead of the loader: again `sat` is the only right answer;
4. each disjunct that X satisfies, alone, over the file's *whole* input box (the file with its
   output constraint replaced by that one assert), through the loader: X lies in the box and
   satisfies the disjunct, so `sat` is the only right answer; `unsat` here is a wrong answer with
   no disjunction involved.

If 1 agrees with onnxruntime, Marabou's network is right. If 2e and 3 say `sat` and 2 says `unsat`,
each disjunct alone is answered right near X but their disjunction is not; 2b-2d rule out the input
bounds and the file's spelling. If 4 says `unsat`, the fault is not (only) the disjunction: one
linear output constraint over the box is answered wrong. Only properties whose output
part is a disjunction of single `(<= Y_a Y_b)` / `(>= Y_a Y_b)` constraints (oval21, mnist_fc,
sri_resnet_a) are handled in steps 2e and 3.
"""
import os
import re
import sys
import tempfile
import time
import warnings

import numpy as np

from marabou_disjuncts import disjuncts  # the same split of the output block, this folder

# input slack around the counterexample in steps 2 and 3: far below the violations checked
# (oval21 row 14: Y_5 - Y_3 = 2.7e-3), far above the rounding of a parsed bound
SLACK = 1e-6


def main(onnx, cex, vnnlib):
    warnings.filterwarnings("ignore")
    from maraboupy import Marabou

    for path in (onnx, cex, vnnlib):
        if not os.path.isfile(path):
            sys.exit(f"{path}: no such file")
    txt = open(cex).read()
    try:
        xs = {int(i): float(v) for i, v in re.findall(r"\(X_(\d+) ([^)\s]+)\)", txt)}
        x = np.array([xs[i] for i in range(len(xs))])
    except (ValueError, KeyError):
        sys.exit(f"{cex}: not a counterexample file (X_0, X_1, ... with numbers)")
    if x.size == 0:
        sys.exit(f"{cex}: not a counterexample file (no X values)")
    opts = Marabou.createOptions(verbosity=0, timeoutInSeconds=120)

    def fixed(slack=0.0):
        net = Marabou.read_onnx(onnx)
        for v, val in zip(net.inputVars[0].flatten(), x):
            net.setLowerBound(int(v), float(val) - slack)
            net.setUpperBound(int(v), float(val) + slack)
        return net

    t = time.time()
    code, _, _ = Marabou.read_onnx(onnx).solve(verbose=False, options=opts, propertyFilename=vnnlib)
    print(f"0. the instance as run_marabou.py runs it (the VNN-LIB file's whole box): {code} in "
          f"{time.time() - t:.1f} s (right answer: sat)")

    net = fixed()
    ort = np.asarray(net.evaluateWithoutMarabou([x.reshape(net.inputVars[0].shape)])[0]).flatten()
    code, vals, _ = net.solve(verbose=False, options=opts)
    mar = np.array([vals[int(v)] for v in net.outputVars[0].flatten()]) if code == "sat" else None
    same = mar is not None and np.allclose(mar, ort, atol=1e-4)
    print(f"1. no property: {code}; Marabou's outputs {'match' if same else 'DIFFER from'} onnxruntime's "
          f"(max |diff| {np.abs(mar - ort).max() if mar is not None else float('nan'):.2e})")

    def loader(text):
        """Marabou's answer on the slack box around X with `text` as the VNN-LIB file."""
        with tempfile.NamedTemporaryFile("w", suffix=".vnnlib", delete=False) as f:
            f.write(text)
        try:
            code, _, _ = fixed(SLACK).solve(verbose=False, options=opts, propertyFilename=f.name)
        finally:
            os.unlink(f.name)
        return code

    # X may sit on the box's faces; the loader's bounds (parsed by Marabou) could then miss a
    # point box by a rounding, so the input gets a slack of SLACK around X from here on
    near = f"input within {SLACK:g} of X"
    prop = open(vnnlib).read()
    print(f"2. VNN-LIB file through Marabou's loader, {near}: {loader(prop)} (right answer: sat)")
    # its input asserts left out (the box is the slack box around X): if this says sat where
    # step 2 said unsat, the loader's input bounds are the culprit
    outputs_only = re.sub(r"\(assert\s+\([<>]=\s+X_\d+\s+[^()\s]+\)\)", "", prop)
    print(f"2b. the same file without its input asserts, {near}: {loader(outputs_only)} "
          "(right answer: sat)")
    # tabs written as spaces (oval21 and sri_resnet_a indent with tabs, mnist_fc with spaces)
    print(f"2c. the same file with its tabs replaced by spaces, {near}: "
          f"{loader(prop.replace(chr(9), '    '))} (right answer: sat)")
    # each (<= Y_a Y_b) written as (>= Y_b Y_a) (mnist_fc, where Marabou's answers hold,
    # writes its output constraints with >=)
    flipped = re.sub(r"\(<=\s+(Y_\d+)\s+(Y_\d+)\)", r"(>= \2 \1)", prop)
    print(f"2d. the same file with (<= Y_a Y_b) written (>= Y_b Y_a), {near}: {loader(flipped)} "
          "(right answer: sat)")

    # (a, b) for each disjunct Y_a <= Y_b
    pairs = [(int(a), int(b)) for a, b in re.findall(r"\(<=\s+Y_(\d+)\s+Y_(\d+)\)", prop)]
    pairs += [(int(b), int(a)) for a, b in re.findall(r"\(>=\s+Y_(\d+)\s+Y_(\d+)\)", prop)]
    held = [(a, b) for a, b in pairs if ort[a] <= ort[b]]
    # each disjunct that X satisfies, alone, as a VNN-LIB file through the loader
    declare = "".join(f"(declare-const Y_{j} Real)\n" for j in range(len(ort)))
    for a, b in held:
        code = loader(f"{declare}(assert (<= Y_{a} Y_{b}))\n")
        print(f"2e. only (assert (<= Y_{a} Y_{b})) as a VNN-LIB file through the loader: {code} "
              "(right answer: sat)")
    for a, b in held:
        net = fixed(SLACK)
        y = net.outputVars[0].flatten()
        net.addInequality([int(y[a]), int(y[b])], [1.0, -1.0], 0.0)
        code, _, _ = net.solve(verbose=False, options=opts)
        print(f"3. Y_{a} <= Y_{b} (onnxruntime: {ort[a]:.5f} <= {ort[b]:.5f}) through addInequality: "
              f"{code} (right answer: sat)")
    # each held disjunct alone over the whole box: the file's output constraint (the last assert,
    # the `(assert (or ...` block) replaced by the one disjunct
    split = disjuncts(prop)
    if split is None:
        print("4. skipped: the file has no `(assert (or` output block")
        return
    head = split[0]
    for a, b in held:
        with tempfile.NamedTemporaryFile("w", suffix=".vnnlib", delete=False) as f:
            f.write(f"{head}(assert (<= Y_{a} Y_{b}))\n")
        try:
            t = time.time()
            code, _, _ = Marabou.read_onnx(onnx).solve(verbose=False, options=opts, propertyFilename=f.name)
        finally:
            os.unlink(f.name)
        print(f"4. only (assert (<= Y_{a} Y_{b})) over the file's whole input box, through the loader: "
              f"{code} in {time.time() - t:.1f} s (right answer: sat)")


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit(__doc__.strip().splitlines()[2].strip())
    main(*sys.argv[1:])
