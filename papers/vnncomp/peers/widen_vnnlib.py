#!/usr/bin/env python3
"""Write a VNN-LIB property whose input box is K times as wide about the same centre.

    python3 widen_vnnlib.py IN.vnnlib OUT.vnnlib K

Only single-box properties whose input part is `(assert (<= X_i v))` / `(assert (>= X_i v))` lines
(the 2022 robustness benchmarks) are handled. A wider box holds every point of the original one, so
a counterexample found on the original stays one on the wider box; a tool that still answers
`unsat` on the wider box, where a validated counterexample lies, is wrong there
(`marabou_vnnlib_check.py` then says where the answer comes from).
"""
import re
import sys

BOUND = re.compile(r"\(assert\s+\((<=|>=)\s+X_(\d+)\s+([^()\s]+)\)\)")


def main(src, dst, k):
    try:
        text = open(src).read()
    except OSError as e:
        sys.exit(f"{src}: {e.strerror}")
    lo, hi = {}, {}
    for op, i, v in BOUND.findall(text):
        (hi if op == "<=" else lo)[int(i)] = float(v)
    if not lo or set(lo) != set(hi):
        sys.exit(f"{src}: every X_i needs one lower and one upper bound")

    def wider(m):
        op, i = m.group(1), int(m.group(2))
        centre, half = (lo[i] + hi[i]) / 2, (hi[i] - lo[i]) / 2 * k
        return f"(assert ({op} X_{i} {centre + half if op == '<=' else centre - half!r}))"

    try:
        with open(dst, "w") as f:
            f.write(BOUND.sub(wider, text))
    except OSError as e:
        sys.exit(f"{dst}: {e.strerror}")


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit(__doc__.strip().splitlines()[2].strip())
    try:
        k = float(sys.argv[3])
    except ValueError:
        k = float("nan")
    if not k >= 1.0 or k == float("inf"):
        sys.exit(f"K must be a finite number >= 1 (got {sys.argv[3]!r})")
    main(sys.argv[1], sys.argv[2], k)
