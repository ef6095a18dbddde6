//! Reading VNN-LIB (the SMT-LIB subset of VNN-COMP) into a [`Spec`].
//!
//! # Grammar
//!
//! ```text
//! file    := command*                      ; `;` starts a comment to the end of the line
//! command := (declare-const X_i Real) | (declare-const Y_j Real) | (assert F)
//!          | (check-sat) | (get-model) | (exit) | (set-logic …) | (set-info …) | (set-option …)
//! F       := (and F*) | (or F*) | (<= t t+) | (< t t+) | (>= t t+) | (> t t+) | (= t t+)
//!          | true | false
//! t       := number | X_i | Y_j | (+ t+) | (- t) | (- t t+) | (* t+)   ; at most one factor
//!                                                                       ; of `*` not constant
//! ```
//!
//! Numbers are decimals as Rust's `str::parse::<f64>` reads them (`1`, `-0.5`, `.5`,
//! `1e-05`), each the nearest f64 to the decimal; a non-finite one is an error. The inputs are
//! `X_0 … X_{n−1}` and the outputs `Y_0 … Y_{m−1}`, `n` and `m` the numbers declared (the
//! indices must be exactly `0..n` and `0..m`); a variable must be declared before it is used.
//! The `check-sat`, `get-model`, `exit` and `set-*` commands are accepted and ignored.
//! Parentheses nest at most [`MAX_DEPTH`] deep.
//!
//! # Semantics
//!
//! As VNN-LIB prescribes, the assertions (a conjunction) describe the **violation** of the
//! property. Their conjunction is expanded into disjunctive normal form (at most
//! [`MAX_TERMS`] terms). In each term:
//!
//! - an atom over one input, `a·X_i + c ≤ d`, is a bound of the input box (several bounds
//!   of one input intersect);
//! - an atom over outputs only is a [`Constraint`] `a·y ≤ b`, variables on the left and
//!   constants on the right (`>=` flips the signs);
//! - an atom over constants only is true or false; a false one makes the term vacuous;
//! - an atom that mixes inputs and outputs, or is linear in several inputs, is an error.
//!
//! Every input must be bounded below and above in every term; a term whose box is empty is
//! vacuous and dropped. Terms with the same box make one [`Region`], whose
//! [`OutputSpec`] is the disjunction of their output constraints (a term
//! without output atoms is the empty conjunction: every output violates). Regions and
//! disjuncts keep the order in which they first appear.
//!
//! **Strict inequalities** `<` and `>` are read as `≤` and `≥`. That only makes the violation
//! set larger (it adds its boundary), which is sound for an `unsat` (property holds) answer; a
//! counterexample found on the boundary is one of the non-strict reading.
//!
//! **Arithmetic.** Constants are folded in f64 with directed rounding, in the direction that
//! enlarges the violation set (an upper bound of an input or the right-hand side of an output
//! constraint rounds up, a lower bound down); coefficients must come out exact in f64 (they
//! do when they are literals or sums and products of literals without rounding), otherwise
//! the atom is refused. No VNN-COMP 2022 file folds anything: their bounds are the literals.
use std::collections::HashMap;
use std::io::Read;
use std::path::Path;

use crate::bound::InputBox;
use crate::spec::{Conjunction, Constraint, OutputSpec, Region, Spec};
use crate::{Error, Result};

/// The deepest parenthesis nesting accepted (the parser and the evaluation recurse this deep).
pub const MAX_DEPTH: usize = 256;
/// The most terms the disjunctive normal form of the assertions may have.
pub const MAX_TERMS: usize = 100_000;
/// The most atom occurrences over all terms of the disjunctive normal form together.
pub const MAX_ATOMS: usize = 20_000_000;

/// Reads a VNN-LIB file, plain or gzip-compressed (recognised by its magic bytes, as a
/// `.vnnlib.gz` file is). I/O, gzip and UTF-8 problems of the file as a whole are reported on
/// line 0.
pub fn read(path: &Path) -> Result<Spec> {
    let name = path.display().to_string();
    let whole = |reason: String| Error::Vnnlib {
        path: name.clone(),
        line: 0,
        reason,
    };
    let raw = std::fs::read(path).map_err(|e| whole(format!("cannot read the file: {e}")))?;
    let bytes = if raw.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        flate2::read::MultiGzDecoder::new(raw.as_slice())
            .read_to_end(&mut out)
            .map_err(|e| whole(format!("not a valid gzip stream: {e}")))?;
        out
    } else {
        raw
    };
    let text = String::from_utf8(bytes).map_err(|e| {
        let ok = e.utf8_error().valid_up_to();
        let line = 1 + e.as_bytes()[..ok].iter().filter(|&&b| b == b'\n').count();
        Error::Vnnlib {
            path: name.clone(),
            line,
            reason: "not valid UTF-8".into(),
        }
    })?;
    parse(&text, &name)
}

/// Parses VNN-LIB text; `path` names it in errors (`<string>` for text that has no file).
pub fn parse(text: &str, path: &str) -> Result<Spec> {
    let commands = sexps(text, path)?;
    let mut p = Parser {
        path,
        xs: HashMap::new(),
        ys: HashMap::new(),
        atoms: Vec::new(),
    };
    let mut asserts = Vec::new();
    for c in &commands {
        p.command(c, &mut asserts)?;
    }
    let xs = p.declared('X')?;
    let ys = p.declared('Y')?;
    let terms = p.dnf(&Form::And(asserts, 1))?;
    p.assemble(&terms, &xs, ys.len())
}

// === S-expressions ===

/// An S-expression with the line of its first token.
enum Sexp<'a> {
    Atom(&'a str, usize),
    List(Vec<Sexp<'a>>, usize),
}

fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n' | 0x0b | 0x0c)
}

/// The top-level S-expressions, in one linear pass with an explicit stack.
fn sexps<'a>(text: &'a str, path: &str) -> Result<Vec<Sexp<'a>>> {
    let err = |line, reason: String| Error::Vnnlib {
        path: path.into(),
        line,
        reason,
    };
    let b = text.as_bytes();
    let mut line = 1;
    let mut i = 0;
    // the lists being read: their opening line and the items read so far
    let mut open: Vec<(usize, Vec<Sexp<'a>>)> = Vec::new();
    let mut cur: Vec<Sexp<'a>> = Vec::new();
    while i < b.len() {
        match b[i] {
            b'\n' => {
                line += 1;
                i += 1;
            }
            c if is_space(c) => i += 1,
            b';' => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
            }
            b'(' => {
                if open.len() >= MAX_DEPTH {
                    return Err(err(
                        line,
                        format!("parentheses nested deeper than {MAX_DEPTH} levels"),
                    ));
                }
                open.push((line, std::mem::take(&mut cur)));
                i += 1;
            }
            b')' => {
                let Some((at, parent)) = open.pop() else {
                    return Err(err(line, "unbalanced `)`: no `(` to close".into()));
                };
                let items = std::mem::replace(&mut cur, parent);
                cur.push(Sexp::List(items, at));
                i += 1;
            }
            _ => {
                let start = i;
                while i < b.len() && !is_space(b[i]) && !matches!(b[i], b'(' | b')' | b';') {
                    i += 1;
                }
                // the delimiters are ASCII, so both ends are character boundaries
                cur.push(Sexp::Atom(&text[start..i], line));
            }
        }
    }
    if let Some((at, _)) = open.first() {
        return Err(err(
            *at,
            "unbalanced `(`: not closed before the end of the file".into(),
        ));
    }
    Ok(cur)
}

// === Linear terms with exact coefficients and an outward-rounded constant ===

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum Var {
    X(usize),
    Y(usize),
}

impl std::fmt::Display for Var {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Var::X(i) => write!(f, "X_{i}"),
            Var::Y(j) => write!(f, "Y_{j}"),
        }
    }
}

/// `Σ coef·var + c` with `c` somewhere in `[lo, hi]` (an exact constant has `lo == hi`).
#[derive(Clone, Debug)]
struct Lin {
    vars: Vec<(Var, f64)>,
    lo: f64,
    hi: f64,
}

fn next_up(x: f64) -> f64 {
    if x.is_nan() || x == f64::INFINITY {
        return x;
    }
    if x == 0.0 {
        return f64::from_bits(1);
    }
    let bits = x.to_bits();
    f64::from_bits(if x > 0.0 { bits + 1 } else { bits - 1 })
}

fn next_down(x: f64) -> f64 {
    -next_up(-x)
}

/// Results this small may have lost bits to underflow that the error terms do not see.
const TINY: f64 = 1e-290;

/// `a + b` rounded down (`up = false`) or up.
fn add_dir(a: f64, b: f64, up: bool) -> f64 {
    let s = a + b;
    let bb = s - a;
    let e = (a - (s - bb)) + (b - bb); // exact: a + b = s + e
    if up && e > 0.0 {
        next_up(s)
    } else if !up && e < 0.0 {
        next_down(s)
    } else {
        s
    }
}

/// `a · b` rounded down or up.
fn mul_dir(a: f64, b: f64, up: bool) -> f64 {
    let p = a * b;
    if a == 0.0 || b == 0.0 {
        return p;
    }
    let e = a.mul_add(b, -p); // a·b − p (exact unless it underflows)
    let tiny = p.abs() < TINY;
    if up && (e > 0.0 || tiny) {
        next_up(p)
    } else if !up && (e < 0.0 || tiny) {
        next_down(p)
    } else {
        p
    }
}

/// `a · b` if it is exact in f64.
fn mul_exact(a: f64, b: f64) -> Option<f64> {
    let p = a * b;
    if a == 0.0 || b == 0.0 {
        return Some(p);
    }
    (p.is_finite() && p.abs() >= TINY && a.mul_add(b, -p) == 0.0).then_some(p)
}

/// `a + b` if it is exact in f64.
fn add_exact(a: f64, b: f64) -> Option<f64> {
    let s = a + b;
    let bb = s - a;
    (s.is_finite() && (a - (s - bb)) + (b - bb) == 0.0).then_some(s)
}

/// `r / a` rounded down or up (`a ≠ 0`).
fn div_dir(r: f64, a: f64, up: bool) -> f64 {
    let q = r / a;
    if r == 0.0 {
        return q;
    }
    let rem = (-q).mul_add(a, r); // r − q·a, exact for a correctly rounded quotient
                                  // the true quotient is q + rem/a
    let above = rem != 0.0 && ((rem > 0.0) == (a > 0.0));
    let below = rem != 0.0 && !above;
    let tiny = q.abs() < TINY;
    if up && (above || tiny) {
        next_up(q)
    } else if !up && (below || tiny) {
        next_down(q)
    } else {
        q
    }
}

impl Lin {
    fn constant(v: f64) -> Self {
        Self {
            vars: Vec::new(),
            lo: v,
            hi: v,
        }
    }

    fn var(v: Var) -> Self {
        Self {
            vars: vec![(v, 1.0)],
            lo: 0.0,
            hi: 0.0,
        }
    }

    fn add(mut self, other: Lin) -> Self {
        self.vars.extend(other.vars);
        self.lo = add_dir(self.lo, other.lo, false);
        self.hi = add_dir(self.hi, other.hi, true);
        self
    }

    fn neg(mut self) -> Self {
        for (_, a) in &mut self.vars {
            *a = -*a;
        }
        (self.lo, self.hi) = (-self.hi, -self.lo);
        self
    }

    /// The product; `Err` says why it is refused.
    fn mul(self, other: Lin) -> std::result::Result<Lin, String> {
        let (k, mut t) = match (self.vars.is_empty(), other.vars.is_empty()) {
            (false, false) => {
                return Err(format!(
                    "nonlinear term: a product of {} and {}",
                    self.vars[0].0, other.vars[0].0
                ))
            }
            (true, _) => (self, other),
            (false, true) => (other, self),
        };
        if !t.vars.is_empty() && k.lo != k.hi {
            return Err("a factor of a variable is not exact in f64".into());
        }
        for (v, a) in &mut t.vars {
            *a = mul_exact(*a, k.lo)
                .ok_or_else(|| format!("the coefficient of {v} is not exact in f64"))?;
        }
        let (tlo, thi) = (t.lo, t.hi);
        let corners = |up: bool| {
            [
                mul_dir(k.lo, tlo, up),
                mul_dir(k.lo, thi, up),
                mul_dir(k.hi, tlo, up),
                mul_dir(k.hi, thi, up),
            ]
        };
        t.lo = corners(false).into_iter().fold(f64::INFINITY, f64::min);
        t.hi = corners(true).into_iter().fold(f64::NEG_INFINITY, f64::max);
        Ok(t)
    }

    /// Sorts the variables, adds up repeated ones (exactly) and drops zero coefficients.
    fn merge(&mut self) -> std::result::Result<(), String> {
        self.vars.sort_by_key(|&(v, _)| v);
        let mut out: Vec<(Var, f64)> = Vec::with_capacity(self.vars.len());
        for &(v, a) in &self.vars {
            match out.last_mut() {
                Some((w, b)) if *w == v => {
                    *b = add_exact(*b, a)
                        .ok_or_else(|| format!("the coefficient of {v} is not exact in f64"))?;
                }
                _ => out.push((v, a)),
            }
        }
        out.retain(|&(_, a)| a != 0.0);
        self.vars = out;
        Ok(())
    }
}

// === Formulas ===

/// An atom after normalisation.
enum Atom {
    /// `X_i ≥ v`.
    Lower(usize, f64),
    /// `X_i ≤ v`.
    Upper(usize, f64),
    /// `Σ a_j·Y_j ≤ b`, sparse.
    Output(Vec<(usize, f64)>, f64),
}

/// A formula; `And`/`Or` carry their line.
enum Form {
    True,
    False,
    Atom(usize),
    And(Vec<Form>, usize),
    Or(Vec<Form>, usize),
}

struct Parser<'p> {
    path: &'p str,
    /// Declared inputs and outputs: index → line of the declaration.
    xs: HashMap<usize, usize>,
    ys: HashMap<usize, usize>,
    atoms: Vec<Atom>,
}

impl Parser<'_> {
    fn err(&self, line: usize, reason: impl Into<String>) -> Error {
        Error::Vnnlib {
            path: self.path.into(),
            line,
            reason: reason.into(),
        }
    }

    /// The head symbol and the arguments of a list.
    fn head<'s, 'a>(
        &self,
        items: &'s [Sexp<'a>],
        line: usize,
    ) -> Result<(&'a str, &'s [Sexp<'a>])> {
        match items.first() {
            Some(Sexp::Atom(h, _)) => Ok((*h, &items[1..])),
            Some(Sexp::List(..)) => Err(self.err(line, "a list must start with a symbol")),
            None => Err(self.err(line, "empty list `()`")),
        }
    }

    fn command<'a>(&mut self, c: &Sexp<'a>, asserts: &mut Vec<Form>) -> Result<()> {
        let (items, line) = match c {
            Sexp::List(items, line) => (items, *line),
            Sexp::Atom(t, line) => {
                return Err(self.err(
                    *line,
                    format!("expected a command such as `(assert …)`, found `{t}`"),
                ))
            }
        };
        let (head, args) = self.head(items, line)?;
        match head {
            "declare-const" => self.declare(args, line),
            "assert" => {
                if args.len() != 1 {
                    return Err(self.err(
                        line,
                        format!("`assert` takes one formula, found {}", args.len()),
                    ));
                }
                asserts.push(self.form(&args[0])?);
                Ok(())
            }
            "check-sat" | "get-model" | "exit" | "set-logic" | "set-info" | "set-option" => Ok(()),
            _ => Err(self.err(line, format!("unknown command `{head}`"))),
        }
    }

    fn declare(&mut self, args: &[Sexp<'_>], line: usize) -> Result<()> {
        let [Sexp::Atom(name, nl), Sexp::Atom(sort, sl)] = args else {
            return Err(self.err(line, "expected `(declare-const X_i Real)`"));
        };
        if *sort != "Real" {
            return Err(self.err(*sl, format!("the sort must be `Real`, found `{sort}`")));
        }
        let Some(v) = var_name(name) else {
            return Err(self.err(
                *nl,
                format!("`{name}`: variables are named X_i (inputs) or Y_j (outputs)"),
            ));
        };
        let (map, i) = match v {
            Var::X(i) => (&mut self.xs, i),
            Var::Y(j) => (&mut self.ys, j),
        };
        if let Some(first) = map.insert(i, *nl) {
            return Err(self.err(
                *nl,
                format!("{v} is declared twice (first on line {first})"),
            ));
        }
        Ok(())
    }

    /// The declaration lines of `X_0 …` (or `Y_0 …`), checking that no index is skipped.
    fn declared(&self, kind: char) -> Result<Vec<usize>> {
        let map = if kind == 'X' { &self.xs } else { &self.ys };
        let n = map.len();
        if let Some(missing) = (0..n).find(|k| !map.contains_key(k)) {
            // some index ≥ n is declared: name the smallest one above the gap
            let (i, l) = map
                .iter()
                .filter(|(&i, _)| i > missing)
                .min_by_key(|(&i, _)| i)
                .expect("n indices, one of them missing below n: one is above");
            return Err(self.err(
                *l,
                format!("{kind}_{i} is declared but {kind}_{missing} is not"),
            ));
        }
        let mut lines = vec![0; n];
        for (&i, &l) in map {
            lines[i] = l;
        }
        Ok(lines)
    }

    fn form(&mut self, s: &Sexp<'_>) -> Result<Form> {
        let (items, line) = match s {
            Sexp::Atom("true", _) => return Ok(Form::True),
            Sexp::Atom("false", _) => return Ok(Form::False),
            Sexp::Atom(t, line) => {
                return Err(self.err(*line, format!("expected a formula, found `{t}`")))
            }
            Sexp::List(items, line) => (items, *line),
        };
        let (head, args) = self.head(items, line)?;
        match head {
            "and" | "or" => {
                let fs = args
                    .iter()
                    .map(|a| self.form(a))
                    .collect::<Result<Vec<_>>>()?;
                Ok(if head == "and" {
                    Form::And(fs, line)
                } else {
                    Form::Or(fs, line)
                })
            }
            "<=" | "<" | ">=" | ">" | "=" => {
                if args.len() < 2 {
                    return Err(self.err(line, format!("`{head}` needs at least two terms")));
                }
                let ts = args
                    .iter()
                    .map(|a| self.term(a))
                    .collect::<Result<Vec<_>>>()?;
                let mut fs = Vec::new();
                for w in ts.windows(2) {
                    let (a, b) = (w[0].clone(), w[1].clone());
                    if head != ">=" && head != ">" {
                        fs.push(self.atom(a.clone().add(b.clone().neg()), line)?);
                        // a ≤ b
                    }
                    if head != "<=" && head != "<" {
                        fs.push(self.atom(b.add(a.neg()), line)?); // a ≥ b
                    }
                }
                Ok(if fs.len() == 1 {
                    fs.pop().expect("one")
                } else {
                    Form::And(fs, line)
                })
            }
            _ => Err(self.err(
                line,
                format!("unknown operator `{head}` (a formula is and, or, <=, <, >=, >, =)"),
            )),
        }
    }

    fn term(&self, s: &Sexp<'_>) -> Result<Lin> {
        let (items, line) = match s {
            Sexp::Atom(t, line) => return self.leaf(t, *line),
            Sexp::List(items, line) => (items, *line),
        };
        let (head, args) = self.head(items, line)?;
        if args.is_empty() && matches!(head, "+" | "-" | "*") {
            return Err(self.err(line, format!("`{head}` needs at least one term")));
        }
        let ts = || args.iter().map(|a| self.term(a));
        match head {
            "+" => ts().try_fold(Lin::constant(0.0), |acc, t| Ok(acc.add(t?))),
            "-" if args.len() == 1 => Ok(self.term(&args[0])?.neg()),
            "-" => {
                let first = self.term(&args[0])?;
                args[1..]
                    .iter()
                    .try_fold(first, |acc, a| Ok(acc.add(self.term(a)?.neg())))
            }
            "*" => ts().try_fold(Lin::constant(1.0), |acc, t| {
                acc.mul(t?).map_err(|r| self.err(line, r))
            }),
            _ => Err(self.err(
                line,
                format!("unknown operator `{head}` (a term is a number, a variable, +, - or *)"),
            )),
        }
    }

    /// A number or a declared variable.
    fn leaf(&self, t: &str, line: usize) -> Result<Lin> {
        let first = t.as_bytes()[0];
        if first.is_ascii_digit() || matches!(first, b'-' | b'+' | b'.') {
            return match t.parse::<f64>() {
                Ok(v) if v.is_finite() => Ok(Lin::constant(v)),
                Ok(_) => Err(self.err(line, format!("the number `{t}` is out of range"))),
                Err(_) => Err(self.err(line, format!("malformed number `{t}`"))),
            };
        }
        let Some(v) = var_name(t) else {
            return Err(self.err(line, format!("unknown symbol `{t}`")));
        };
        let declared = match v {
            Var::X(i) => self.xs.contains_key(&i),
            Var::Y(j) => self.ys.contains_key(&j),
        };
        if !declared {
            return Err(self.err(line, format!("undeclared variable {v}")));
        }
        Ok(Lin::var(v))
    }

    /// The atom `lin ≤ 0`.
    fn atom(&mut self, mut lin: Lin, line: usize) -> Result<Form> {
        lin.merge().map_err(|r| self.err(line, r))?;
        if !lin.lo.is_finite() || !lin.hi.is_finite() {
            return Err(self.err(line, "a constant of the atom is out of the f64 range"));
        }
        // Σ a·v ≤ −c for some c in [lo, hi]: the largest right-hand side is −lo
        let rhs = -lin.lo + 0.0;
        let mut xs = lin.vars.iter().filter(|(v, _)| matches!(v, Var::X(_)));
        let mut ys = lin.vars.iter().filter(|(v, _)| matches!(v, Var::Y(_)));
        let atom = match (xs.next(), ys.next(), xs.next()) {
            (None, None, _) => return Ok(if 0.0 <= rhs { Form::True } else { Form::False }),
            (Some((x, _)), Some((y, _)), _) => {
                return Err(self.err(
                    line,
                    format!("the atom mixes an input and an output ({x} and {y}): only bounds on single inputs and constraints on outputs are supported"),
                ))
            }
            (Some((x, _)), None, Some((x2, _))) => {
                return Err(self.err(
                    line,
                    format!("the atom is linear in several inputs ({x} and {x2}): only bounds on single inputs are supported"),
                ))
            }
            (Some(&(Var::X(i), a)), None, None) => {
                let up = a > 0.0;
                let v = div_dir(rhs, a, up) + 0.0;
                if !v.is_finite() {
                    return Err(self.err(line, "the bound is out of the f64 range"));
                }
                if up {
                    Atom::Upper(i, v)
                } else {
                    Atom::Lower(i, v)
                }
            }
            _ => Atom::Output(
                lin.vars
                    .iter()
                    .map(|&(v, a)| match v {
                        Var::Y(j) => (j, a),
                        Var::X(_) => unreachable!("no input in an output atom"),
                    })
                    .collect(),
                rhs,
            ),
        };
        self.atoms.push(atom);
        Ok(Form::Atom(self.atoms.len() - 1))
    }

    /// The disjunctive normal form: terms of atom indices.
    fn dnf(&self, f: &Form) -> Result<Vec<Vec<usize>>> {
        match f {
            Form::True => Ok(vec![vec![]]),
            Form::False => Ok(vec![]),
            Form::Atom(a) => Ok(vec![vec![*a]]),
            Form::Or(fs, line) => {
                let mut out = Vec::new();
                let mut size = 0;
                for g in fs {
                    let d = self.dnf(g)?;
                    size += d.iter().map(Vec::len).sum::<usize>();
                    out.extend(d);
                    self.limits(out.len(), size, *line)?;
                }
                Ok(out)
            }
            Form::And(fs, line) => {
                let mut acc: Vec<Vec<usize>> = vec![vec![]];
                let mut size = 0;
                for g in fs {
                    let d = self.dnf(g)?;
                    if d.is_empty() {
                        return Ok(vec![]);
                    }
                    // a limit crossed is reported on the line of the factor that crosses it
                    let line = match g {
                        Form::And(_, l) | Form::Or(_, l) => l,
                        _ => line,
                    };
                    let dsize: usize = d.iter().map(Vec::len).sum();
                    if let [one] = d.as_slice() {
                        // in place: no copy of the terms built so far
                        size += acc.len() * one.len();
                        self.limits(acc.len(), size, *line)?;
                        for t in &mut acc {
                            t.extend_from_slice(one);
                        }
                    } else {
                        let terms = acc.len().saturating_mul(d.len());
                        size = size
                            .saturating_mul(d.len())
                            .saturating_add(acc.len().saturating_mul(dsize));
                        self.limits(terms, size, *line)?;
                        let mut next = Vec::with_capacity(terms);
                        for t in &acc {
                            for u in &d {
                                let mut v = Vec::with_capacity(t.len() + u.len());
                                v.extend_from_slice(t);
                                v.extend_from_slice(u);
                                next.push(v);
                            }
                        }
                        acc = next;
                    }
                }
                Ok(acc)
            }
        }
    }

    fn limits(&self, terms: usize, atoms: usize, line: usize) -> Result<()> {
        if terms > MAX_TERMS {
            return Err(self.err(line, format!("the disjunctive normal form of the assertions would have more than {MAX_TERMS} terms")));
        }
        if atoms > MAX_ATOMS {
            return Err(self.err(line, format!("the disjunctive normal form of the assertions would hold more than {MAX_ATOMS} atoms")));
        }
        Ok(())
    }

    /// One region per distinct box, in order of first appearance.
    fn assemble(&self, terms: &[Vec<usize>], xs: &[usize], ny: usize) -> Result<Spec> {
        let n = xs.len();
        let mut regions: Vec<Region> = Vec::new();
        let mut index: HashMap<Vec<u64>, usize> = HashMap::new();
        let mut lo = vec![f64::NEG_INFINITY; n];
        let mut hi = vec![f64::INFINITY; n];
        for (k, term) in terms.iter().enumerate() {
            lo.fill(f64::NEG_INFINITY);
            hi.fill(f64::INFINITY);
            let mut constraints = Vec::new();
            for &a in term {
                match &self.atoms[a] {
                    Atom::Lower(i, v) => lo[*i] = lo[*i].max(*v),
                    Atom::Upper(i, v) => hi[*i] = hi[*i].min(*v),
                    Atom::Output(sparse, rhs) => {
                        let mut coef = vec![0.0; ny];
                        for &(j, a) in sparse {
                            coef[j] = a;
                        }
                        constraints.push(Constraint { coef, rhs: *rhs });
                    }
                }
            }
            if lo.iter().zip(&hi).any(|(l, h)| l > h) {
                continue; // an empty box: the term is vacuous
            }
            let which = if terms.len() > 1 {
                format!(
                    " (in term {} of {} of the disjunctive normal form of the assertions)",
                    k + 1,
                    terms.len()
                )
            } else {
                String::new()
            };
            for i in 0..n {
                for (v, side) in [(lo[i], "lower"), (hi[i], "upper")] {
                    if !v.is_finite() {
                        return Err(self.err(xs[i], format!("X_{i} has no {side} bound{which}")));
                    }
                }
            }
            let key: Vec<u64> = lo.iter().chain(&hi).map(|v| v.to_bits()).collect();
            let conj = Conjunction { constraints };
            match index.get(&key) {
                Some(&r) => regions[r].violation.disjuncts.push(conj),
                None => {
                    index.insert(key, regions.len());
                    let input = InputBox::new(lo.clone(), hi.clone())?;
                    regions.push(Region {
                        input,
                        violation: OutputSpec {
                            outputs: ny,
                            disjuncts: vec![conj],
                        },
                    });
                }
            }
        }
        Ok(Spec { regions })
    }
}

/// `X_i` or `Y_j` with a canonical decimal index (no sign, no leading zero).
fn var_name(t: &str) -> Option<Var> {
    let (kind, digits) = (t.get(..2)?, t.get(2..)?);
    if digits.is_empty()
        || !digits.bytes().all(|b| b.is_ascii_digit())
        || (digits.len() > 1 && digits.starts_with('0'))
    {
        return None;
    }
    let i: usize = digits.parse().ok()?;
    match kind {
        "X_" => Some(Var::X(i)),
        "Y_" => Some(Var::Y(i)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bound::Property;
    use proptest::prelude::*;
    use std::path::PathBuf;
    use std::time::{Duration, Instant};

    /// Declarations of `n` inputs and `m` outputs.
    fn decl(n: usize, m: usize) -> String {
        let mut s = String::new();
        for i in 0..n {
            s += &format!("(declare-const X_{i} Real)\n");
        }
        for j in 0..m {
            s += &format!("(declare-const Y_{j} Real)\n");
        }
        s
    }

    fn ok(text: &str) -> Spec {
        parse(text, "<string>").unwrap_or_else(|e| panic!("{e}\n{text}"))
    }

    /// The line and reason of the error `text` must give.
    fn fails(text: &str) -> (usize, String) {
        match parse(text, "t.vnnlib") {
            Ok(s) => panic!("parsed: {s:?}\n{text}"),
            Err(Error::Vnnlib { path, line, reason }) => {
                assert_eq!(path, "t.vnnlib");
                (line, reason)
            }
            Err(e) => panic!("not a Vnnlib error: {e}"),
        }
    }

    fn c(coef: &[f64], rhs: f64) -> Constraint {
        Constraint {
            coef: coef.to_vec(),
            rhs,
        }
    }

    #[test]
    fn box_and_output_constraints() {
        let s = ok(
            "; a comment (with parens\n(declare-const X_0 Real) ; trailing\n\
             (declare-const X_1 Real)\n(declare-const Y_0 Real)\n(declare-const Y_1 Real)\n\
             (assert (<= X_0 0.5))\n(assert (>= X_0 -0.5))\n\
             (assert (<= X_1 1e-05))\n(assert (>= X_1 -2.5E-3))\n(assert (>= X_1 -1))\n\
             (assert (>= Y_0 3.991125645861615))\n(assert (<= Y_1 Y_0))\n(check-sat)\n",
        );
        assert_eq!(s.regions.len(), 1);
        let r = &s.regions[0];
        assert_eq!(r.input.lower, vec![-0.5, -0.0025]); // two lower bounds intersect
        assert_eq!(r.input.upper, vec![0.5, 1e-5]);
        assert_eq!(r.violation.outputs, 2);
        assert_eq!(
            r.violation.disjuncts,
            vec![Conjunction {
                constraints: vec![c(&[-1.0, 0.0], -3.991125645861615), c(&[-1.0, 1.0], 0.0)]
            }]
        );
        assert!(r.violation.disjuncts[0].constraints[1]
            .rhs
            .is_sign_positive());
    }

    #[test]
    fn terms_are_linear_and_folded() {
        let head = decl(1, 3);
        let one = |atom: &str| {
            let s = ok(&format!(
                "{head}(assert (<= X_0 1))(assert (>= X_0 0))(assert {atom})"
            ));
            assert_eq!(s.regions.len(), 1);
            let d = &s.regions[0].violation.disjuncts;
            assert_eq!(d.len(), 1);
            d[0].constraints.clone()
        };
        // 2·Y_0 − Y_1 + 1 ≤ Y_2 − 3
        assert_eq!(
            one("(<= (+ (* 2 Y_0) (- Y_1) 1) (- Y_2 3))"),
            vec![c(&[2.0, -1.0, -1.0], -4.0)]
        );
        // (t c) order, n-ary minus, repeated variables merged, strict read as non-strict
        assert_eq!(
            one("(> (- Y_0 Y_1 Y_1 0.5) (* Y_2 -0.25))"),
            vec![c(&[-1.0, 2.0, -0.25], -0.5)]
        );
        assert_eq!(one("(< Y_0 (+ Y_0 Y_1))"), vec![c(&[0.0, -1.0, 0.0], 0.0)]);
        // `=` is both directions; a chain is pairwise
        assert_eq!(
            one("(= Y_0 2)"),
            vec![c(&[1.0, 0.0, 0.0], 2.0), c(&[-1.0, 0.0, 0.0], -2.0)]
        );
        assert_eq!(
            one("(<= 0 Y_0 Y_1)"),
            vec![c(&[-1.0, 0.0, 0.0], 0.0), c(&[1.0, -1.0, 0.0], 0.0)]
        );
        // a constant atom: true adds nothing, false empties the term
        assert_eq!(
            one("(and (<= 1 2) (<= Y_0 0))"),
            vec![c(&[1.0, 0.0, 0.0], 0.0)]
        );
        let s = ok(&format!(
            "{head}(assert (<= X_0 1))(assert (>= X_0 0))(assert (<= 2 1))"
        ));
        assert!(s.regions.is_empty());
        // bounds with a coefficient and a constant on the input side
        let s = ok(&format!(
            "{}(assert (<= (* 2 X_0) 1))(assert (>= (+ X_0 0.25) 0.5))(assert (<= (* 4 (- X_1)) 2))(assert (<= X_1 0))",
            decl(2, 1)
        ));
        assert_eq!(s.regions[0].input.lower, vec![0.25, -0.5]);
        assert_eq!(s.regions[0].input.upper, vec![0.5, 0.0]);
        // no output atom: the empty conjunction (always violated)
        assert_eq!(
            s.regions[0].violation.disjuncts,
            vec![Conjunction {
                constraints: vec![]
            }]
        );
    }

    #[test]
    fn inexact_constants_round_outward() {
        // X_0 ≤ 1/3 rounds up, X_0 ≥ −1/3 rounds down, Y_0 ≤ 0.1 + 0.2 rounds up
        let s = ok(&format!(
            "{}(assert (<= (* 3 X_0) 1))(assert (>= (* 3 X_0) -1))(assert (<= Y_0 (+ 0.1 0.2)))",
            decl(1, 1)
        ));
        let r = &s.regions[0];
        assert!(r.input.upper[0] > 1.0 / 3.0 && r.input.upper[0] == next_up(1.0 / 3.0));
        assert!(r.input.lower[0] < -1.0 / 3.0);
        let rhs = r.violation.disjuncts[0].constraints[0].rhs;
        assert!(rhs >= 0.1 + 0.2); // 0.1 + 0.2 in f64 is already above 0.3; never below it
                                   // a coefficient that would round is refused
        let (line, reason) = fails(&format!(
            "{}\n(assert (<= (* 0.1 (* 3 Y_0)) 1))",
            decl(1, 1)
        ));
        assert_eq!(line, 4);
        assert!(reason.contains("coefficient of Y_0"), "{reason}");
    }

    #[test]
    fn dnf_with_two_boxes_mixing_inputs_and_outputs() {
        // ACAS Xu property 6 style: an or of two boxes, then an or of output conditions
        let s = ok(&format!(
            "{}(assert (or\n (and (<= X_0 1) (>= X_0 0) (<= X_1 1) (>= X_1 0.5))\n \
             (and (<= X_0 1) (>= X_0 0) (<= X_1 -0.5) (>= X_1 -1))))\n\
             (assert (or (and (<= Y_1 Y_0)) (and (<= Y_2 Y_0) (>= Y_2 1))))",
            decl(2, 3)
        ));
        assert_eq!(s.regions.len(), 2);
        assert_eq!(s.regions[0].input.lower, vec![0.0, 0.5]);
        assert_eq!(s.regions[1].input.upper, vec![1.0, -0.5]);
        for r in &s.regions {
            assert_eq!(
                r.violation.disjuncts,
                vec![
                    Conjunction {
                        constraints: vec![c(&[-1.0, 1.0, 0.0], 0.0)]
                    },
                    Conjunction {
                        constraints: vec![c(&[-1.0, 0.0, 1.0], 0.0), c(&[0.0, 0.0, -1.0], -1.0)]
                    },
                ]
            );
        }
        // an or-of-ands whose terms mix input bounds and output constraints; equal boxes
        // group into one region in order of first appearance, an empty box is dropped
        let s = ok(&format!(
            "{}(assert (or\n\
             (and (<= X_0 1) (>= X_0 0) (<= Y_0 0))\n\
             (and (<= X_0 3) (>= X_0 2) (>= Y_0 1) (<= Y_0 2))\n\
             (and (>= X_0 0) (<= X_0 1) (>= Y_0 5))\n\
             (and (>= X_0 2) (<= X_0 1) (>= Y_0 7))\n\
             (and (or (<= X_0 3) (<= X_0 1)) (>= X_0 2))))",
            decl(1, 1)
        ));
        assert_eq!(s.regions.len(), 2);
        assert_eq!(
            (s.regions[0].input.lower[0], s.regions[0].input.upper[0]),
            (0.0, 1.0)
        );
        assert_eq!(
            (s.regions[1].input.lower[0], s.regions[1].input.upper[0]),
            (2.0, 3.0)
        );
        assert_eq!(
            s.regions[0].violation.disjuncts,
            vec![
                Conjunction {
                    constraints: vec![c(&[1.0], 0.0)]
                },
                Conjunction {
                    constraints: vec![c(&[-1.0], -5.0)]
                },
            ]
        );
        assert_eq!(
            s.regions[1].violation.disjuncts,
            vec![
                Conjunction {
                    constraints: vec![c(&[-1.0], -1.0), c(&[1.0], 2.0)]
                },
                Conjunction {
                    constraints: vec![]
                },
            ]
        );
    }

    #[test]
    fn errors_name_the_line() {
        let head = "; header\n(declare-const X_0 Real)\n(declare-const Y_0 Real)\n";
        let bounded = format!("{head}(assert (<= X_0 1))\n(assert (>= X_0 0))\n");
        let cases: Vec<(String, usize, &str)> = vec![
            (
                format!("{bounded}(assert (<= Y_1 0))"),
                6,
                "undeclared variable Y_1",
            ),
            (
                format!("{bounded}\n(assert (<= X_2 0))"),
                7,
                "undeclared variable X_2",
            ),
            (
                format!("{bounded}(assert (<= Y_0 0)))\n"),
                6,
                "unbalanced `)`",
            ),
            (
                format!("{bounded}(assert (<= Y_0\n 0)\n"),
                6,
                "unbalanced `(`",
            ),
            (
                format!("{head}(assert (>= X_0 0))\n"),
                2,
                "X_0 has no upper bound",
            ),
            (
                format!("{head}(assert (<= X_0 0))\n"),
                2,
                "X_0 has no lower bound",
            ),
            (
                format!("{bounded}(assert (<= (* Y_0 Y_0) 1))"),
                6,
                "nonlinear term",
            ),
            (
                format!("{bounded}(assert (foo Y_0 1))"),
                6,
                "unknown operator `foo`",
            ),
            (
                format!("{bounded}(assert (<= (/ Y_0 2) 1))"),
                6,
                "unknown operator `/`",
            ),
            (
                format!("{bounded}(assert (not (<= Y_0 1)))"),
                6,
                "unknown operator `not`",
            ),
            (
                format!("{bounded}(assert (<= Y_0 1.2.3))"),
                6,
                "malformed number `1.2.3`",
            ),
            (
                format!("{bounded}(assert (<= Y_0 #))"),
                6,
                "unknown symbol `#`",
            ),
            (format!("{bounded}\n\ngarbage\n"), 8, "found `garbage`"),
            (
                format!("{bounded}(assert (<= Y_0 1e999))"),
                6,
                "out of range",
            ),
            (
                format!("{bounded}(assert (<= Y_0 X_0))"),
                6,
                "mixes an input and an output",
            ),
            (
                format!("{head}(declare-const X_1 Real)\n(assert (<= (+ X_0 X_1) 1))"),
                5,
                "several inputs",
            ),
            (
                format!("{head}(declare-const X_0 Real)"),
                4,
                "declared twice",
            ),
            (
                format!("{head}(declare-const X_2 Real)"),
                4,
                "X_2 is declared but X_1 is not",
            ),
            (
                format!("{head}(declare-const Z_1 Real)"),
                4,
                "variables are named",
            ),
            (
                format!("{head}(declare-const X_01 Real)"),
                4,
                "variables are named",
            ),
            (
                format!("{head}(declare-const X_1 Int)"),
                4,
                "sort must be `Real`",
            ),
            (format!("{head}(frobnicate)"), 4, "unknown command"),
            (format!("{head}()"), 4, "empty list"),
            (format!("{bounded}(assert X_0)"), 6, "expected a formula"),
            (
                format!("{bounded}(assert (<= Y_0))"),
                6,
                "at least two terms",
            ),
            (
                format!("{bounded}(assert (<= Y_0 1) (<= Y_0 2))"),
                6,
                "one formula",
            ),
        ];
        for (text, line, reason) in cases {
            let (l, r) = fails(&text);
            assert_eq!((l, r.contains(reason)), (line, true), "{r}\n{text}");
        }
        // the message is one line with the path and the line
        let e = parse(&format!("{bounded}(assert (<= Y_1 0))"), "p.vnnlib").unwrap_err();
        assert_eq!(e.to_string(), "p.vnnlib:6: undeclared variable Y_1");
        // a missing bound in one term of several says which
        let (_, r) = fails(&format!(
            "{head}(assert (or (and (<= X_0 1) (>= X_0 0)) (<= X_0 3)))"
        ));
        assert!(r.contains("X_0 has no lower bound (in term 2 of 2"), "{r}");
    }

    #[test]
    fn dnf_size_is_limited() {
        let mut s = decl(1, 1) + "(assert (<= X_0 1))(assert (>= X_0 0))\n";
        for _ in 0..17 {
            s += "(assert (or (<= Y_0 0) (>= Y_0 1)))\n"; // 2^17 > MAX_TERMS terms
        }
        let (line, reason) = fails(&s);
        assert_eq!(line, 20); // the 17th `or`
        assert!(reason.contains("more than 100000 terms"), "{reason}");
    }

    #[test]
    fn deep_nesting_is_refused_not_overflowed() {
        let deep = 100_000;
        let text = format!(
            "{}(assert {}{})",
            decl(1, 1),
            "(".repeat(deep),
            ")".repeat(deep)
        );
        let (line, reason) = fails(&text);
        assert_eq!(line, 3);
        assert!(reason.contains("nested deeper than 256"), "{reason}");
        let (_, reason) = fails(&"(".repeat(deep));
        assert!(reason.contains("nested deeper"), "{reason}");
        // nesting within the limit evaluates (in a test thread's stack)
        let nested = MAX_DEPTH - 3;
        let text = format!(
            "{}(assert (<= X_0 1))(assert (>= X_0 0))(assert (<= {}Y_0{} 1))",
            decl(1, 1),
            "(- ".repeat(nested),
            ")".repeat(nested)
        );
        let sign = (-1f64).powi(nested as i32);
        assert_eq!(
            ok(&text).regions[0].violation.disjuncts[0].constraints,
            vec![c(&[sign], 1.0)]
        );
    }

    #[test]
    fn read_plain_and_gzip_files() {
        use std::io::Write;
        let text = format!(
            "{}(assert (<= X_0 1))(assert (>= X_0 0))(assert (<= Y_0 0))",
            decl(1, 1)
        );
        let dir = tempfile::tempdir().unwrap();
        let plain = dir.path().join("p.vnnlib");
        std::fs::write(&plain, &text).unwrap();
        let gz = dir.path().join("p.vnnlib.gz");
        let mut enc = flate2::write::GzEncoder::new(
            std::fs::File::create(&gz).unwrap(),
            flate2::Compression::default(),
        );
        enc.write_all(text.as_bytes()).unwrap();
        enc.finish().unwrap();
        assert_eq!(read(&plain).unwrap(), read(&gz).unwrap());
        assert_eq!(read(&plain).unwrap(), ok(&text));
        let missing = dir.path().join("none.vnnlib");
        assert!(matches!(read(&missing), Err(Error::Vnnlib { line: 0, .. })));
        std::fs::write(&plain, b"(declare-const X_0 Real)\n(assert \xff)").unwrap();
        match read(&plain) {
            Err(Error::Vnnlib {
                line: 2, reason, ..
            }) => assert!(reason.contains("UTF-8")),
            other => panic!("{other:?}"),
        }
        std::fs::write(&gz, [0x1f, 0x8b, 0, 1, 2]).unwrap();
        assert!(matches!(read(&gz), Err(Error::Vnnlib { line: 0, .. })));
    }

    fn benchmarks() -> PathBuf {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/vnncomp2022/benchmarks");
        assert!(
            dir.is_dir(),
            "the VNN-COMP 2022 benchmarks are missing: expected at {} (the shared/ folder beside \
             the checkout, as in CI)",
            dir.display()
        );
        dir
    }

    /// All files of a benchmark folder, parsed, sorted by name; the slowest parse too.
    fn all(bench: &str) -> (Vec<(String, Spec)>, Duration) {
        let dir = benchmarks().join(bench).join("vnnlib");
        let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|e| e.unwrap().path())
            .filter(|p| p.to_string_lossy().ends_with(".vnnlib.gz"))
            .collect();
        files.sort();
        let mut slowest = Duration::ZERO;
        let specs = files
            .iter()
            .map(|p| {
                let t = Instant::now();
                let s = read(p).unwrap_or_else(|e| panic!("{e}"));
                slowest = slowest.max(t.elapsed());
                (p.file_name().unwrap().to_string_lossy().into_owned(), s)
            })
            .collect();
        (specs, slowest)
    }

    fn text_of(bench: &str, file: &str) -> String {
        let p = benchmarks().join(bench).join("vnnlib").join(file);
        let mut s = String::new();
        flate2::read::GzDecoder::new(std::fs::File::open(&p).unwrap())
            .read_to_string(&mut s)
            .unwrap();
        s
    }

    #[test]
    fn vnncomp2022_acasxu() {
        let (specs, slowest) = all("acasxu");
        assert_eq!(specs.len(), 10);
        for (name, s) in &specs {
            let regions = if name == "prop_6.vnnlib.gz" { 2 } else { 1 };
            assert_eq!(s.regions.len(), regions, "{name}");
            for r in &s.regions {
                assert_eq!((r.input.dim(), r.violation.outputs), (5, 5), "{name}");
                r.violation.validate().unwrap();
            }
        }
        let get = |n: &str| &specs.iter().find(|(f, _)| f == n).unwrap().1;
        let p1 = &get("prop_1.vnnlib.gz").regions[0];
        assert_eq!(p1.input.lower, vec![0.6, -0.5, -0.5, 0.45, -0.5]);
        assert_eq!(p1.input.upper, vec![0.679857769, 0.5, 0.5, 0.5, -0.45]);
        assert_eq!(
            p1.violation.disjuncts,
            vec![Conjunction {
                constraints: vec![c(&[-1.0, 0.0, 0.0, 0.0, 0.0], -3.991125645861615)]
            }]
        );
        let p2 = &get("prop_2.vnnlib.gz").regions[0].violation;
        assert_eq!(p2.disjuncts.len(), 1);
        assert_eq!(p2.disjuncts[0].constraints.len(), 4);
        assert_eq!(
            p2.disjuncts[0].constraints[3],
            c(&[-1.0, 0.0, 0.0, 0.0, 1.0], 0.0)
        );
        let p6 = get("prop_6.vnnlib.gz");
        assert_eq!(p6.regions[0].input.lower[1], 0.11140846);
        assert_eq!(p6.regions[0].input.upper[1], 0.499999896);
        assert_eq!(p6.regions[1].input.lower[1], -0.499999896);
        assert_eq!(p6.regions[1].input.upper[1], -0.11140846);
        assert_eq!(p6.regions[1].input.upper[0], 0.700434925);
        for r in &p6.regions {
            assert_eq!(r.violation.disjuncts.len(), 4);
            assert_eq!(
                r.violation.disjuncts[3].constraints,
                vec![c(&[-1.0, 0.0, 0.0, 0.0, 1.0], 0.0)]
            );
        }
        let p7 = &get("prop_7.vnnlib.gz").regions[0].violation;
        assert_eq!(p7.disjuncts.len(), 2);
        assert!(p7.disjuncts.iter().all(|d| d.constraints.len() == 3));
        let p8 = &get("prop_8.vnnlib.gz").regions[0].violation;
        assert_eq!(p8.disjuncts.len(), 3);
        assert_eq!(
            get("prop_10.vnnlib.gz").regions[0]
                .violation
                .disjuncts
                .len(),
            4
        );
        println!("acasxu: slowest parse {slowest:?}");
    }

    /// Every file of an image benchmark: one box of `inputs`, the argmax violation.
    fn image_bench(bench: &str, files: usize, inputs: usize) -> Vec<(String, Spec)> {
        let (specs, slowest) = all(bench);
        assert_eq!(specs.len(), files, "{bench}");
        for (name, s) in &specs {
            assert_eq!(s.regions.len(), 1, "{name}");
            let r = &s.regions[0];
            assert_eq!((r.input.dim(), r.violation.outputs), (inputs, 10), "{name}");
            assert_eq!(r.violation.disjuncts.len(), 9, "{name}");
            let class = r.violation.disjuncts[0].constraints[0]
                .coef
                .iter()
                .position(|&a| a == 1.0)
                .unwrap();
            assert_eq!(
                r.violation,
                OutputSpec::argmax(10, class).unwrap(),
                "{name}"
            );
        }
        // printed, not asserted: speed targets live in benchmarks, not in timed tests
        println!("{bench}: slowest parse {slowest:?}");
        specs
    }

    #[test]
    fn vnncomp2022_mnist_fc() {
        let specs = image_bench("mnist_fc", 30, 784);
        let s = &specs
            .iter()
            .find(|(f, _)| f == "prop_0_0.03.vnnlib.gz")
            .unwrap()
            .1;
        let r = &s.regions[0];
        assert_eq!(
            (r.input.lower[0], r.input.upper[0]),
            (0.0, 0.029999999329447746)
        );
        assert_eq!(r.violation, OutputSpec::argmax(10, 4).unwrap()); // "label: 4"
    }

    #[test]
    fn vnncomp2022_oval21() {
        let specs = image_bench("oval21", 30, 3072);
        let name = "cifar_base_kw-img2578-eps0.021176470588235297.vnnlib.gz";
        let r = &specs.iter().find(|(f, _)| f == name).unwrap().1.regions[0];
        assert_eq!(r.input.lower[0], 0.05098051577806473);
        assert_eq!(r.input.upper[0], 0.2392157018184662);
        assert_eq!(r.input.lower[3071], 0.19294129312038422);
        assert_eq!(r.input.upper[3071], 0.3811764717102051);
        assert_eq!(r.violation, OutputSpec::argmax(10, 8).unwrap());
        let text = text_of("oval21", name);
        let t = Instant::now();
        parse(&text, name).unwrap();
        println!(
            "oval21: {name} parsed (without gunzip) in {:?}",
            t.elapsed()
        );
    }

    #[test]
    fn vnncomp2022_sri_resnet_a() {
        let specs = image_bench("sri_resnet_a", 72, 3072);
        let name = "cifar10_spec_idx_1551_eps_0.00198.vnnlib.gz";
        let r = &specs.iter().find(|(f, _)| f == name).unwrap().1.regions[0];
        assert_eq!(
            (r.input.lower[0], r.input.upper[0]),
            (0.35257134, 0.37215337)
        );
        assert_eq!(r.input.lower[1], 0.27503169);
        assert_eq!(r.violation, OutputSpec::argmax(10, 4).unwrap());
    }

    #[test]
    fn truncations_never_panic() {
        // every byte position of two ACAS Xu files, a sample of a CIFAR one
        for file in ["prop_6.vnnlib.gz", "prop_7.vnnlib.gz"] {
            let text = text_of("acasxu", file);
            assert!(parse(&text, file).is_ok());
            for i in 0..text.len() {
                if text.is_char_boundary(i) {
                    let _ = parse(&text[..i], file);
                }
            }
        }
        let text = text_of(
            "oval21",
            "cifar_base_kw-img2578-eps0.021176470588235297.vnnlib.gz",
        );
        for i in (0..text.len()).step_by(text.len() / 200 + 1) {
            if text.is_char_boundary(i) {
                let _ = parse(&text[..i], "oval");
            }
        }
    }

    /// A valid file with every construct, for the mutations.
    const SAMPLE: &str = "; sample\n(declare-const X_0 Real)\n(declare-const X_1 Real)\n\
        (declare-const Y_0 Real)\n(declare-const Y_1 Real)\n(declare-const Y_2 Real)\n\
        (assert (or (and (<= X_0 0.5) (>= X_0 -5e-1) (<= X_1 1)) (and (<= X_0 2) (>= X_0 1) (<= X_1 3))))\n\
        (assert (>= (* 2 X_1) -1))\n\
        (assert (or (and (<= (+ Y_0 (* -2 Y_1)) (- 3)) (> Y_2 Y_0)) (and (= Y_1 (- Y_2 Y_0 1.5e2)))))\n";

    proptest! {
        #[test]
        fn mutations_never_panic(
            edits in prop::collection::vec(
                (any::<prop::sample::Index>(), 0u8..3, prop::sample::select(
                    b"()()  ;\n-+*.e0123456789XY_<=>anorlt\xff\xc3".to_vec())),
                1..8)
        ) {
            prop_assert!(parse(SAMPLE, "s").is_ok());
            let mut b = SAMPLE.as_bytes().to_vec();
            for (at, op, byte) in edits {
                let i = at.index(b.len() + 1);
                match op {
                    0 if i < b.len() => b[i] = byte,
                    1 if i < b.len() => { b.remove(i); }
                    _ => b.insert(i, byte),
                }
            }
            let _ = parse(&String::from_utf8_lossy(&b), "s");
        }

        #[test]
        fn argmax_queries_round_trip(
            bounds in prop::collection::vec(
                (prop_oneof![-1e6f64..1e6, -1e-9f64..1e-9, Just(0.0)], 0f64..1e3), 1..12),
            outputs in 2usize..12,
            class_seed in any::<prop::sample::Index>(),
        ) {
            let class = class_seed.index(outputs);
            let lower: Vec<f64> = bounds.iter().map(|b| b.0).collect();
            let upper: Vec<f64> = bounds.iter().map(|b| b.0 + b.1).collect();
            let input = InputBox::new(lower, upper).unwrap();
            let text = crate::io::vnnlib::write(
                &input, &Property::Argmax { class }, outputs, &["round trip".into()]).unwrap();
            let s = parse(&text, "w").unwrap();
            prop_assert_eq!(s.regions.len(), 1);
            let r = &s.regions[0];
            let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            prop_assert_eq!(bits(&r.input.lower), bits(&input.lower));
            prop_assert_eq!(bits(&r.input.upper), bits(&input.upper));
            let key = |c: &Conjunction| format!("{:?}", c);
            let mut got = r.violation.disjuncts.clone();
            let mut want = OutputSpec::argmax(outputs, class).unwrap().disjuncts;
            got.sort_by_key(key);
            want.sort_by_key(key);
            prop_assert_eq!(r.violation.outputs, outputs);
            prop_assert_eq!(got, want);
        }
    }
}
