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
//! [`OutputSpec`](super::OutputSpec) is the disjunction of their output constraints (a term
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

use super::{Conjunction, Constraint, OutputSpec, Region, Spec};
use crate::bound::InputBox;
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
