//! Exact SMT encoding with z3 (linear real arithmetic): weights and box corners enter as
//! the exact rationals their f64 values denote, a kept ReLU is `y = ite(x >= 0, x, 0)` and a
//! linearized one `y = x`.
//!
//! z3 4.8.12's solver `timeout` parameter can deadlock, so every check runs under a
//! watchdog thread that calls the context's interrupt at the deadline, and again every
//! [`REINTERRUPT`] until the checks return (an interrupt that lands between two checks
//! could be lost); no check starts after the deadline. An interrupted check is `Unknown`,
//! never proved. Models are re-checked on the network itself (its f64 forward pass).
use std::sync::mpsc;
use std::time::{Duration, Instant};

use z3::ast::{Bool, Real};
use z3::{Config, Context, SatResult, Solver};

use crate::bound::interval::{self, check_dense};
use crate::bound::{remaining, Bounded, Counterexample, InputBox, Method, OutputBounds, Verdict};
use crate::{Error, Layer, Network, Result};

/// The reason of a check that the deadline stopped or kept from starting.
const TIMEOUT: &str = "timeout";

/// Whether the deadline has passed.
fn past(deadline: Option<Instant>) -> bool {
    remaining(deadline).is_some_and(|t| t.is_zero())
}

/// The most kept ReLUs the SMT method accepts.
pub const SMT_MAX_KEPT: usize = 64;

/// The exact rational value of a finite f64 as `(numerator, denominator)` decimal strings.
pub fn exact_rational(x: f64) -> (String, String) {
    assert!(x.is_finite(), "exact_rational of {x}");
    if x == 0.0 {
        return ("0".into(), "1".into());
    }
    let bits = x.to_bits();
    let negative = bits >> 63 == 1;
    let exp_bits = ((bits >> 52) & 0x7ff) as i64;
    let frac = bits & ((1u64 << 52) - 1);
    let (mut mant, mut exp) = if exp_bits == 0 {
        (frac, -1074)
    } else {
        (frac | (1u64 << 52), exp_bits - 1075)
    };
    while exp < 0 && mant % 2 == 0 {
        mant /= 2;
        exp += 1;
    }
    let num = times_pow2(mant, exp.max(0) as u32);
    let den = times_pow2(1, (-exp).max(0) as u32);
    (if negative { format!("-{num}") } else { num }, den)
}

/// `m · 2^k` in decimal.
fn times_pow2(m: u64, k: u32) -> String {
    // little-endian base 1e9 limbs
    let mut limbs: Vec<u64> = vec![
        m % 1_000_000_000,
        m / 1_000_000_000 % 1_000_000_000,
        m / 1_000_000_000_000_000_000,
    ];
    for _ in 0..k {
        let mut carry = 0;
        for l in &mut limbs {
            let v = *l * 2 + carry;
            *l = v % 1_000_000_000;
            carry = v / 1_000_000_000;
        }
        if carry > 0 {
            limbs.push(carry);
        }
    }
    while limbs.len() > 1 && *limbs.last().expect("limb") == 0 {
        limbs.pop();
    }
    let mut s = limbs.last().expect("limb").to_string();
    for l in limbs.iter().rev().skip(1) {
        s.push_str(&format!("{l:09}"));
    }
    s
}

fn real(x: f64) -> Real {
    let (n, d) = exact_rational(x);
    Real::from_rational_str(&n, &d).expect("a valid numeral")
}

/// The z3 terms of every output, with the input constants and the box asserted on `assert`.
fn encode(dense: &Network, input: &InputBox, assert: &dyn Fn(&Bool)) -> (Vec<Real>, Vec<Real>) {
    let xs: Vec<Real> = (0..input.dim())
        .map(|i| Real::new_const(format!("x{i}")))
        .collect();
    for (i, x) in xs.iter().enumerate() {
        assert(&x.ge(real(input.lower[i])));
        assert(&x.le(real(input.upper[i])));
    }
    let mut values: Vec<Vec<Real>> = vec![xs.clone()];
    for (k, node) in dense.nodes.iter().enumerate() {
        let x = &values[node.inputs[0]];
        let out: Vec<Real> = match &node.layer {
            Layer::Dense(a) => (0..a.weight.nrows())
                .map(|r| {
                    let mut terms = vec![real(a.bias[r])];
                    for (j, xj) in x.iter().enumerate() {
                        let w = a.weight[(r, j)];
                        if w != 0.0 {
                            terms.push(real(w) * xj);
                        }
                    }
                    let y = Real::new_const(format!("v{}_{r}", k + 1));
                    assert(&y.eq(Real::add(&terms)));
                    y
                })
                .collect(),
            Layer::Add => x
                .iter()
                .zip(&values[node.inputs[1]])
                .map(|(a, b)| a + b)
                .collect(),
            Layer::Relu(m) => x
                .iter()
                .enumerate()
                .map(|(i, xi)| {
                    if m.is_kept(i) {
                        let y = Real::new_const(format!("v{}_{i}", k + 1));
                        let zero = Real::from_rational(0, 1);
                        assert(&y.eq(xi.ge(&zero).ite(xi, &zero)));
                        y
                    } else {
                        xi.clone()
                    }
                })
                .collect(),
            _ => unreachable!("check_dense rejects other layers"),
        };
        values.push(out);
    }
    (xs, values.pop().expect("output"))
}

/// How often the watchdog interrupts z3 again after the deadline, until `f` returns.
pub const REINTERRUPT: Duration = Duration::from_millis(20);

/// Runs `f` in a fresh z3 context; a watchdog interrupts the context at `limit`, and again
/// every [`REINTERRUPT`] until `f` returns.
fn with_watchdog<R: Send + Sync>(
    limit: Option<Duration>,
    f: impl FnOnce() -> R + Send + Sync,
) -> R {
    z3::with_z3_config(&Config::new(), move || {
        let ctx = Context::thread_local();
        let handle = ctx.handle();
        let (done, wait) = mpsc::channel::<()>();
        std::thread::scope(|s| {
            if let Some(limit) = limit {
                s.spawn(move || {
                    let mut next = limit;
                    while let Err(mpsc::RecvTimeoutError::Timeout) = wait.recv_timeout(next) {
                        handle.interrupt();
                        next = REINTERRUPT;
                    }
                });
            }
            let r = f();
            let _ = done.send(());
            r
        })
    })
}

fn check_size(dense: &Network) -> Result<()> {
    check_dense(dense, "smt")?;
    let kept = dense.relu_counts()?.kept;
    if kept > SMT_MAX_KEPT {
        return Err(Error::TooManyKept {
            method: "smt",
            kept,
            limit: SMT_MAX_KEPT,
        });
    }
    Ok(())
}

/// Largest f64 `<= x` for a decimal string from z3 (`approx` rounds to nearest).
fn down(s: &str) -> f64 {
    let v: f64 = s.parse().unwrap_or(f64::NEG_INFINITY);
    next_toward(v, f64::NEG_INFINITY)
}

/// The f64 next to `v` in the direction of `to` (one ulp outward).
fn next_toward(v: f64, to: f64) -> f64 {
    if !v.is_finite() || v == to {
        return v;
    }
    if v == 0.0 {
        return if to > 0.0 {
            f64::from_bits(1)
        } else {
            -f64::from_bits(1)
        };
    }
    let b = v.to_bits();
    let away = (to > v) == (v > 0.0);
    f64::from_bits(if away { b + 1 } else { b - 1 })
}

/// Relative gap at which the SMT bisection stops.
pub const SMT_GAP: f64 = 1e-7;

/// Exact output bounds with z3 by bisection: `y >= t` satisfiable raises the attained value
/// to the model's, unsatisfiable proves `t` a bound; stops when the gap is below
/// [`SMT_GAP`] (relative, at least absolute 1e-9); the first lower end is the best
/// f64 forward value over deterministic samples of the box. The reported bound is the proved side.
///
/// z3 4.8.12's `Optimize` is not used: on a 3→3→1 net with one kept ReLU it returned a
/// non-optimal point (0.4993 where the maximum is 1.0314, found by `smt_and_milp_agree`).
///
/// A bound whose check is interrupted or unknown falls back to interval propagation and
/// the result says so.
///
/// `hint` (for example MILP bounds) only steers the bisection: the first probes are just
/// outside and just inside it, so a correct hint ends the search in two checks; a wrong one
/// costs more checks, never a wrong bound.
pub fn bounds(
    dense: &Network,
    input: &InputBox,
    deadline: Option<Instant>,
    hint: Option<&OutputBounds>,
) -> Result<Bounded> {
    check_size(dense)?;
    let values = interval::propagate(dense, input)?;
    let out = values.last().expect("output").clone();
    let mut lower = Vec::new();
    let mut upper = Vec::new();
    let mut unknown = Vec::new();
    for (i, iv) in out.iter().enumerate() {
        for maximise in [false, true] {
            // bisect on y or -y, so that both directions are maximisations
            let side = Side {
                output: i,
                maximise,
                start: if maximise { iv.hi } else { -iv.lo },
                guess: hint.map(|h| if maximise { h.upper[i] } else { -h.lower[i] }),
            };
            let r = if past(deadline) {
                Err(TIMEOUT.to_string())
            } else {
                with_watchdog(remaining(deadline), || {
                    bisect(dense, input, &side, deadline)
                })
            };
            match r {
                Ok(v) if maximise => upper.push(v),
                Ok(v) => lower.push(-v),
                Err(reason) => {
                    unknown.push(reason);
                    if maximise {
                        upper.push(iv.hi)
                    } else {
                        lower.push(iv.lo)
                    }
                }
            }
        }
    }
    Ok(Bounded {
        bounds: OutputBounds { lower, upper },
        method: Method::Smt,
        exact: unknown.is_empty(),
        unknown: (!unknown.is_empty()).then(|| {
            format!(
                "{}z3 gave no answer for {} of {} bounds ({}): those are interval bounds",
                if past(deadline) { "timeout: " } else { "" },
                unknown.len(),
                2 * out.len(),
                unknown[0]
            )
        }),
        unstable_kept: interval::unstable_kept(dense, &values),
        tightening_lps: 0,
        lbp: None,
    })
}

/// One bound of [`bounds`], as a maximisation of `y` (upper) or `−y` (lower).
struct Side {
    /// The output.
    output: usize,
    /// Upper bound (maximise `y`) or lower bound (maximise `−y`).
    maximise: bool,
    /// The interval bound of the maximised term.
    start: f64,
    /// The hint's bound of the maximised term.
    guess: Option<f64>,
}

/// A quarter of the bisection's stopping gap at `v`: the hint probes this far from it.
fn tiny(v: f64) -> f64 {
    0.25 * (SMT_GAP * v.abs()).max(1e-9)
}

/// The proved upper end of one [`Side`] by bisection, in the current z3 context; an error
/// says why z3 gave no answer.
fn bisect(
    dense: &Network,
    input: &InputBox,
    side: &Side,
    deadline: Option<Instant>,
) -> std::result::Result<f64, String> {
    let (i, maximise, start) = (side.output, side.maximise, side.start);
    let solver = Solver::new();
    let (_, ys) = encode(dense, input, &|b: &Bool| solver.assert(b));
    let obj = if maximise {
        ys[i].clone()
    } else {
        -ys[i].clone()
    };
    let guess = side.guess;
    let mut hi = match guess {
        Some(g) if g.is_finite() => g + tiny(g),
        _ => start + 1.0 + start.abs() * 1e-6,
    };
    // attained values (f64 forward) only steer the bisection; the result is `hi`
    let mut lo = super::samples(input, 64, 11)
        .iter()
        .filter_map(|x| dense.forward(x).ok())
        .map(|y| if maximise { y[i] } else { -y[i] })
        .fold(f64::NEG_INFINITY, f64::max);
    let check = |t: f64| probe(&solver, &obj, t, deadline);
    if let Some(g) = guess.filter(|g| g.is_finite() && g - tiny(*g) > lo) {
        // an attained value just below the hint, if there is one
        if let Some(v) = check(g - tiny(g))? {
            lo = lo.max(v);
        }
    }
    // a first point, and an upper end proved by unsat
    while let Some(v) = check(hi)? {
        lo = lo.max(v);
        hi = v + 2.0 * (hi - start).abs() + 1.0;
    }
    if lo == f64::NEG_INFINITY {
        lo = check(f64::MIN)?.ok_or_else(|| "the encoding is unsatisfiable".to_string())?;
    }
    let gap = |lo: f64, hi: f64| (SMT_GAP * hi.abs().max(lo.abs())).max(1e-9);
    while hi - lo > gap(lo, hi) {
        let mid = 0.5 * (lo.max(hi - 1e6) + hi);
        match check(mid)? {
            Some(v) => lo = lo.max(v),
            None => hi = mid,
        }
    }
    Ok(hi)
}

/// Whether `obj >= t` is satisfiable: `Some(value attained)` (rounded down), `None` when
/// unsatisfiable, an error when z3 gave no answer or the deadline has passed.
fn probe(
    solver: &Solver,
    obj: &Real,
    t: f64,
    deadline: Option<Instant>,
) -> std::result::Result<Option<f64>, String> {
    if !t.is_finite() {
        return Err(format!("bisection left the finite range ({t})"));
    }
    if past(deadline) {
        return Err(TIMEOUT.to_string());
    }
    solver.push();
    solver.assert(obj.ge(real(t)));
    let r = match solver.check() {
        SatResult::Sat => {
            let m = solver
                .get_model()
                .ok_or_else(|| "no model after sat (interrupted?)".to_string())?;
            let text = m.eval(obj, true).map(|v| v.approx(20));
            match text.as_deref().map(down) {
                Some(v) if v.is_finite() => Ok(Some(v)),
                _ => Err(format!(
                    "z3 returned a model without a numeric objective ({text:?}; interrupted?)"
                )),
            }
        }
        SatResult::Unsat => Ok(None),
        SatResult::Unknown => Err(solver
            .get_reason_unknown()
            .unwrap_or_else(|| "unknown".into())),
    };
    if r.is_ok() {
        // an error ends this bound and drops the solver: no pop (after an interrupt the pop
        // alone took up to 1 s)
        solver.pop(1);
    }
    r
}

/// Decides "every output of `margins` is > 0 on the box" exactly (for the dense form
/// `margins`, in rational arithmetic). A model is clamped into the box and handed to
/// `refute`, which re-checks it on the network itself (for an argmax property:
/// [`crate::bound::argmax_violation`] on the original network, not on its dense form) and
/// returns the counterexample it confirms; a model it does not confirm is `Unknown`.
pub fn verify_positive(
    margins: &Network,
    input: &InputBox,
    deadline: Option<Instant>,
    refute: &dyn Fn(&[f64]) -> Result<Option<Counterexample>>,
) -> Result<Verdict> {
    check_size(margins)?;
    if past(deadline) {
        return Ok(Verdict::Unknown {
            reason: format!("{TIMEOUT}: z3 did not start"),
        });
    }
    let r = with_watchdog(remaining(deadline), || {
        let solver = Solver::new();
        let (xs, ys) = encode(margins, input, &|b: &Bool| solver.assert(b));
        let zero = Real::from_rational(0, 1);
        let violated: Vec<Bool> = ys.iter().map(|y| y.le(&zero)).collect();
        solver.assert(Bool::or(&violated));
        match solver.check() {
            SatResult::Unsat => Ok(None),
            SatResult::Sat => {
                let m = solver
                    .get_model()
                    .ok_or_else(|| "no model after sat (interrupted?)".to_string())?;
                Ok(Some(
                    xs.iter()
                        .map(|x| {
                            m.eval(x, true)
                                .map_or(f64::NAN, |v| v.approx(20).parse().unwrap_or(f64::NAN))
                        })
                        .collect::<Vec<f64>>(),
                ))
            }
            SatResult::Unknown => Err(solver
                .get_reason_unknown()
                .unwrap_or_else(|| "unknown".into())),
        }
    });
    match r {
        Ok(None) => Ok(Verdict::Proved),
        Ok(Some(x)) => match refute(&input.clamp(&x))? {
            Some(cex) => Ok(Verdict::Refuted(cex)),
            None => Ok(Verdict::Unknown {
                reason: "z3 found a counterexample of the dense form that the network's own \
                         forward pass does not confirm (rounding)"
                    .into(),
            }),
        },
        Err(reason) => Ok(Verdict::Unknown {
            reason: match past(deadline) {
                true => format!("timeout: z3: {reason}"),
                false => format!("z3: {reason}"),
            },
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_rationals_of_f64() {
        assert_eq!(exact_rational(0.5), ("1".into(), "2".into()));
        assert_eq!(exact_rational(-3.0), ("-3".into(), "1".into()));
        // 0.1 = 3602879701896397 / 2^55
        assert_eq!(
            exact_rational(0.1),
            ("3602879701896397".into(), "36028797018963968".into())
        );
        assert_eq!(exact_rational(1e20).1, "1");
        assert_eq!(exact_rational(1e20).0, "100000000000000000000");
        // the smallest subnormal is 2^-1074; 2^1074 has 324 decimal digits
        let (n, d) = exact_rational(f64::from_bits(1));
        assert_eq!(n, "1");
        assert_eq!(d.len(), 324);
        assert!(d.ends_with("93494784")); // python: str(2**1074)[-8:]
    }

    #[test]
    fn one_ulp_outward() {
        assert!(down("1.5") < 1.5 && down("-1.5") < -1.5);
        assert!(down("0") < 0.0 && next_toward(0.0, 1.0) > 0.0);
        assert_eq!(next_toward(-1.0, f64::INFINITY), -1.0 + f64::EPSILON / 2.0);
    }
}
