"""A small VNN-LIB reader (the VNN-COMP 2022 grammar) and counterexample checks. Standard library only.

Grammar read: s-expressions; `(declare-const X_i Real)`, `(declare-const Y_j Real)`,
`(assert F)` with F := (and F...) | (or F...) | (<= T T) | (>= T T) | (< T T) | (> T T) | (= T T),
T := number | X_i | Y_j | (+ T...) | (- T...) | (* T...) with linear terms (a product has at most one
variable factor). Comments start with `;`. The asserts together describe the *violation*: the
property holds iff no (X, Y = net(X)) satisfies all of them.

    spec = read_vnnlib(path)          # Spec(n_inputs, n_outputs, asserts)
    spec.holds(x, y, tol_in=1e-6, tol_out=1e-4)   # does (x, y) satisfy the violation formula?

An atom whose terms mention only X_i is an input constraint (slack tol_in); any atom that mentions a
Y_j is an output constraint (slack tol_out). `a <= b` holds up to slack t iff a - b <= t; `=` iff |a-b| <= t.
"""
import re

_TOKEN = re.compile(r"\(|\)|[^\s()]+")


def tokenize(text):
    out = []
    for line in text.splitlines():
        line = line.split(";", 1)[0]
        out.extend(_TOKEN.findall(line))
    return out


def parse_sexprs(text):
    """All top-level s-expressions of text as nested lists of strings."""
    stack, top = [], []
    for tok in tokenize(text):
        if tok == "(":
            stack.append([])
        elif tok == ")":
            if not stack:
                raise ValueError("unbalanced ')'")
            e = stack.pop()
            (stack[-1] if stack else top).append(e)
        else:
            (stack[-1] if stack else top).append(tok)
    if stack:
        raise ValueError("unbalanced '('")
    return top


_VAR = re.compile(r"^([XY])_(\d+)$")


def _linear(t):
    """Term -> (coeffs {('X'|'Y', i): c}, constant)."""
    if isinstance(t, str):
        m = _VAR.match(t)
        if m:
            return {(m.group(1), int(m.group(2))): 1.0}, 0.0
        return {}, float(t)
    op, args = t[0], [_linear(a) for a in t[1:]]
    if op == "+":
        c, k = {}, 0.0
        for ci, ki in args:
            for v, a in ci.items():
                c[v] = c.get(v, 0.0) + a
            k += ki
        return c, k
    if op == "-":
        if len(args) == 1:
            c0, k0 = args[0]
            return {v: -a for v, a in c0.items()}, -k0
        c, k = dict(args[0][0]), args[0][1]
        for ci, ki in args[1:]:
            for v, a in ci.items():
                c[v] = c.get(v, 0.0) - a
            k -= ki
        return c, k
    if op == "*":
        c, k = {}, 1.0
        for ci, ki in args:
            if ci and c:
                raise ValueError("nonlinear term in VNN-LIB")
            if ci:
                c = {v: a * k for v, a in ci.items()}
                k = ki * k
            else:
                c = {v: a * ki for v, a in c.items()}
                k *= ki
        return c, k
    raise ValueError(f"unsupported term operator {op!r}")


class Atom:
    """lhs - rhs  (op)  0, as coeffs + constant."""

    def __init__(self, op, lhs, rhs):
        self.op = op
        c1, k1 = _linear(lhs)
        c2, k2 = _linear(rhs)
        self.coeffs = dict(c1)
        for v, a in c2.items():
            self.coeffs[v] = self.coeffs.get(v, 0.0) - a
        self.const = k1 - k2
        self.is_output = any(v[0] == "Y" for v in self.coeffs)

    def value(self, x, y):
        s = self.const
        for (kind, i), a in self.coeffs.items():
            s += a * (x[i] if kind == "X" else y[i])
        return s

    def holds(self, x, y, tol_in, tol_out):
        t = tol_out if self.is_output else tol_in
        d = self.value(x, y)
        if self.op in ("<=", "<"):
            return d <= t
        if self.op in (">=", ">"):
            return d >= -t
        if self.op == "=":
            return abs(d) <= t
        raise ValueError(self.op)


def _formula(e):
    if isinstance(e, str):
        if e == "true":
            return ("and", [])
        if e == "false":
            return ("or", [])
        raise ValueError(f"bad formula {e!r}")
    op = e[0]
    if op in ("and", "or"):
        return (op, [_formula(a) for a in e[1:]])
    if op in ("<=", ">=", "<", ">", "="):
        if len(e) != 3:
            # chained comparison (<= a b c): pairwise conjunction
            return ("and", [Atom(op, e[i], e[i + 1]) for i in range(1, len(e) - 1)])
        return Atom(op, e[1], e[2])
    raise ValueError(f"unsupported formula operator {op!r}")


def _eval(f, x, y, tol_in, tol_out):
    if isinstance(f, Atom):
        return f.holds(x, y, tol_in, tol_out)
    op, args = f
    if op == "and":
        return all(_eval(a, x, y, tol_in, tol_out) for a in args)
    return any(_eval(a, x, y, tol_in, tol_out) for a in args)


def _eval_part(f, x, y, tol_in, tol_out, want_output):
    """Evaluate with every atom of the other kind taken as true (for the input-only / output-only check)."""
    if isinstance(f, Atom):
        if f.is_output != want_output:
            return True
        return f.holds(x, y, tol_in, tol_out)
    op, args = f
    vals = [_eval_part(a, x, y, tol_in, tol_out, want_output) for a in args]
    return all(vals) if op == "and" else any(vals)


class Spec:
    def __init__(self, n_inputs, n_outputs, asserts):
        self.n_inputs, self.n_outputs, self.asserts = n_inputs, n_outputs, asserts

    def holds(self, x, y, tol_in=1e-6, tol_out=1e-4):
        return all(_eval(a, x, y, tol_in, tol_out) for a in self.asserts)

    def input_ok(self, x, tol_in=1e-6):
        """x lies in (one of) the input region(s), output constraints ignored. Exact for the 2022
        benchmarks, where each assert is input-only or output-only."""
        return all(_eval_part(a, x, None, tol_in, 0.0, False) for a in self.asserts)

    def output_ok(self, x, y, tol_out=1e-4):
        return all(_eval_part(a, x, y, 0.0, tol_out, True) for a in self.asserts)


def read_vnnlib(path_or_text):
    text = path_or_text
    if "\n" not in path_or_text and "(" not in path_or_text:
        with open(path_or_text) as f:
            text = f.read()
    nx = ny = 0
    asserts = []
    for e in parse_sexprs(text):
        if not isinstance(e, list) or not e:
            continue
        if e[0] == "declare-const":
            m = _VAR.match(e[1])
            if not m:
                raise ValueError(f"unexpected variable {e[1]!r}")
            if m.group(1) == "X":
                nx = max(nx, int(m.group(2)) + 1)
            else:
                ny = max(ny, int(m.group(2)) + 1)
        elif e[0] == "assert":
            asserts.append(_formula(e[1]))
        else:
            raise ValueError(f"unsupported command {e[0]!r}")
    return Spec(nx, ny, asserts)


def read_cex(text):
    """A VNN-COMP counterexample ('sat' then ((X_0 v) ... (Y_0 v) ...)) -> (x list, y list).
    Missing indices raise ValueError."""
    xs, ys = {}, {}

    def walk(e):
        if isinstance(e, list):
            if len(e) == 2 and isinstance(e[0], str) and isinstance(e[1], str) and _VAR.match(e[0]):
                m = _VAR.match(e[0])
                (xs if m.group(1) == "X" else ys)[int(m.group(2))] = float(e[1])
            else:
                for a in e:
                    walk(a)

    walk(parse_sexprs(text))
    x = [xs[i] for i in range(len(xs))]
    y = [ys[i] for i in range(len(ys))]
    return x, y


if __name__ == "__main__":
    import sys
    s = read_vnnlib(sys.argv[1])
    print(f"{s.n_inputs} inputs, {s.n_outputs} outputs, {len(s.asserts)} asserts")
