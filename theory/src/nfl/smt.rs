//! The SMT encodings of T2 over the neural parameterization (z3 =0.20.0 on libz3 4.8.12,
//! exact rationals).
//!
//! The network is `f(x) = a + b·x + Σ_{j≤B} c_j relu(w_j x + β_j)`: one hidden layer with
//! `B` kept ReLUs and, for [`Architecture::KeptPlusLinear`], one linearized unit whose
//! identity supplies `b·x` (`v·(w_0 x + β_0)` is a line); for [`Architecture::AllKept`]
//! there is no linear term. Point `i` is classified when `y_i f(x_i) ≥ 1`, and the query is
//! "at least `K` points classified" (a pseudo-Boolean constraint over one Boolean per point).
//!
//! **Linear encoding** ([`query_linear`]). ReLU is positively homogeneous:
//! `c relu(w x + β) = c|w| relu(sign(w) x + β/|w|)`, so first-layer weights are `±1`
//! without loss of generality (a unit with `w = 0` is a constant, absorbed in `a`), the
//! scale moving into the output weight. With `w_j = ±1` and breakpoint `t_j`, the unit's
//! term is `c_j (x − t_j)` on one side of `t_j` and `0` on the other. The product `c_j t_j`
//! becomes its own unknown `e_j`, and the case split "does `t_j` lie left of `x_i`?" is one
//! Boolean per unit and point, tied to the arithmetic by implications (`c_j x_i − e_j ≥ 0` on
//! the right when `c_j ≥ 0`, a sign Boolean, `≤ 0` when `c_j ≤ 0`): in every case of the
//! split the constraints are linear (QF_LRA with Booleans), so z3 decides them. Without loss
//! of generality the units are sorted by breakpoint within each direction (they are
//! interchangeable), and with the linearized unit every direction is `+1`
//! (`c relu(t − x) = c relu(x − t) − c (x − t)`, the line absorbed by `a + b·x`). The witness
//! recovers `t_j = e_j / c_j` and is re-evaluated exactly.
//!
//! **Direct encoding** ([`query_direct`]): every weight an unknown real, products of unknowns
//! (nonlinear real arithmetic): a cross-check where z3 4.8.12 answers.
//!
//! Timeouts: z3 4.8.12's `timeout` parameter can deadlock, so a watchdog thread calls the
//! context's interrupt instead; an interrupted check is [`Decision::Unknown`]. The NRA solver
//! may ignore the interrupt, so callers that need a hard limit on [`query_direct`] should run
//! it in a child process (as `snl-verify theorem` does).
use std::sync::mpsc;
use std::time::Duration;

use num_bigint::BigInt;
use num_rational::BigRational;
use num_traits::{One, Signed, Zero};
use z3::ast::{Bool, Real};
use z3::{Context, Model, SatResult, Solver};

use super::{label, Architecture, Decision, ExactNet, NeuralWitness};

fn real(v: i64) -> Real {
    Real::from_rational(v, 1)
}

/// `solver.check()` with a watchdog that interrupts the context after `timeout`.
fn check_with_watchdog(solver: &Solver, timeout: Duration) -> SatResult {
    let ctx = Context::thread_local();
    let handle = ctx.handle();
    let (tx, rx) = mpsc::channel::<()>();
    std::thread::scope(|s| {
        let h = &handle;
        s.spawn(move || {
            if let Err(mpsc::RecvTimeoutError::Timeout) = rx.recv_timeout(timeout) {
                h.interrupt();
            }
        });
        let r = solver.check();
        let _ = tx.send(());
        r
    })
}

/// Parses a z3 real numeral as printed in SMT-LIB (`3`, `3.0`, `(- 3)`, `(/ 1.0 3.0)`, …).
fn parse_numeral(s: &str) -> Option<BigRational> {
    fn atom(tok: &str) -> Option<BigRational> {
        let (int, frac) = match tok.split_once('.') {
            Some((i, f)) => (i, f),
            None => (tok, ""),
        };
        let digits = format!("{int}{frac}");
        let num: BigInt = digits.parse().ok()?;
        let den = BigInt::from(10u32).pow(frac.len() as u32);
        Some(BigRational::new(num, den))
    }
    fn expr(toks: &[String], pos: &mut usize) -> Option<BigRational> {
        let t = toks.get(*pos)?.clone();
        *pos += 1;
        if t != "(" {
            return atom(&t);
        }
        let op = toks.get(*pos)?.clone();
        *pos += 1;
        let mut args = Vec::new();
        while toks.get(*pos)? != ")" {
            args.push(expr(toks, pos)?);
        }
        *pos += 1;
        match (op.as_str(), args.as_slice()) {
            ("-", [x]) => Some(-x.clone()),
            ("-", [x, y]) => Some(x - y),
            ("/", [x, y]) if !y.is_zero() => Some(x / y),
            ("+", xs) => Some(xs.iter().cloned().sum()),
            _ => None,
        }
    }
    let spaced = s.replace('(', " ( ").replace(')', " ) ");
    let toks: Vec<String> = spaced.split_whitespace().map(str::to_string).collect();
    let mut pos = 0;
    let v = expr(&toks, &mut pos)?;
    (pos == toks.len()).then_some(v)
}

fn value(model: &Model, x: &Real) -> Option<BigRational> {
    let v = model.eval(x, true)?;
    match v.as_rational() {
        Some((n, d)) if d != 0 => Some(BigRational::new(n.into(), d.into())),
        _ => parse_numeral(&v.to_string()),
    }
}

fn bool_value(model: &Model, b: &Bool) -> Option<bool> {
    model.eval(b, true)?.as_bool()
}

/// "At least `k` of the `n` points classified", given the output expressions.
fn assert_classified(solver: &Solver, outputs: &[Real], k: usize) {
    let hits: Vec<Bool> = (1..=outputs.len())
        .map(|i| Bool::new_const(format!("hit_{i}")))
        .collect();
    for (i0, (h, f)) in hits.iter().zip(outputs).enumerate() {
        let margin = Real::mul(&[real(label(i0 + 1)), f.clone()]).ge(real(1));
        solver.assert(h.implies(&margin));
    }
    let weighted: Vec<(&Bool, i32)> = hits.iter().map(|h| (h, 1)).collect();
    solver.assert(Bool::pb_ge(&weighted, k as i32));
}

fn finish<W>(
    solver: &Solver,
    timeout: Duration,
    read: impl FnOnce(&Model) -> Option<W>,
    recheck: impl FnOnce(&W) -> bool,
) -> Decision<W> {
    match check_with_watchdog(solver, timeout) {
        SatResult::Unsat => Decision::Unsat,
        SatResult::Unknown => Decision::Unknown {
            reason: solver
                .get_reason_unknown()
                .unwrap_or_else(|| "unknown".to_string()),
        },
        SatResult::Sat => match solver.get_model().as_ref().and_then(read) {
            Some(w) if recheck(&w) => Decision::Sat(w),
            Some(_) => Decision::Unknown {
                reason: "witness failed the exact re-check".into(),
            },
            None => Decision::Unknown {
                reason: "could not read the model".into(),
            },
        },
    }
}

/// "∃ weights: at least `k` of the `n` alternating points classified with margin" for a
/// one-hidden-layer net with `b` kept ReLUs of the given architecture, by the linear
/// (homogeneity + case split) encoding. A sat answer carries a witness re-checked exactly.
pub fn query_linear(
    n: usize,
    b: usize,
    arch: Architecture,
    k: usize,
    timeout: Duration,
) -> Decision<NeuralWitness> {
    let solver = Solver::new();
    let a = Real::new_const("a");
    let slope = Real::new_const("b");
    let linear = arch == Architecture::KeptPlusLinear;
    let units = LinearUnits::new(n, b);
    units.assert_cases(&solver, linear);
    let outputs: Vec<Real> = (1..=n)
        .map(|i| units.output(i, &a, linear.then_some(&slope)))
        .collect();
    assert_classified(&solver, &outputs, k);
    finish(
        &solver,
        timeout,
        |m| {
            let ws = units.read(m)?;
            Some(NeuralWitness {
                architecture: arch,
                a: value(m, &a)?,
                b: if arch == Architecture::KeptPlusLinear {
                    value(m, &slope)?
                } else {
                    BigRational::zero()
                },
                units: ws,
            })
        },
        |w| w.classified(n).len() >= k,
    )
}

/// The unknowns of [`query_linear`]'s units: per unit its direction (`w = +1`), the sign of
/// `c`, `c` and `e = c·t`; per unit and point the case "`x_i ≥ t_j`".
struct LinearUnits {
    /// `(dir, pos, c, e)` per unit.
    units: Vec<(Bool, Bool, Real, Real)>,
    /// `right[j][i−1]`: the case "x_i ≥ t_j" (false: "x_i ≤ t_j"; at equality both agree).
    right: Vec<Vec<Bool>>,
    zero: Real,
}

impl LinearUnits {
    /// The constants of `b` units over `n` points.
    fn new(n: usize, b: usize) -> Self {
        let zero = real(0);
        let units = (0..b)
            .map(|j| {
                (
                    Bool::new_const(format!("dir_{j}")),
                    Bool::new_const(format!("pos_{j}")),
                    Real::new_const(format!("c_{j}")),
                    Real::new_const(format!("e_{j}")),
                )
            })
            .collect();
        let right = (0..b)
            .map(|j| {
                (1..=n)
                    .map(|i| Bool::new_const(format!("right_{j}_{i}")))
                    .collect()
            })
            .collect();
        Self { units, right, zero }
    }

    /// Ties the cases to the arithmetic, and breaks the units' symmetry; with a `linear`
    /// term every direction is `+1`.
    fn assert_cases(&self, solver: &Solver, linear: bool) {
        let (units, right, zero) = (&self.units, &self.right, &self.zero);
        let (b, n) = (units.len(), right.first().map_or(0, Vec::len));
        for (j, (dir, pos, c, e)) in units.iter().enumerate() {
            solver.assert(pos.implies(c.ge(zero)));
            solver.assert(pos.not().implies(c.le(zero)));
            solver.assert(c.eq(zero).implies(e.eq(zero)));
            if linear {
                // c relu(−(x − t)) = c relu(x − t) − c (x − t): with a free linear term the
                // direction is immaterial, so w_j = +1
                solver.assert(dir);
            }
            for i in 1..=n {
                // s = c x_i − e = c (x_i − t_j): the case fixes its sign
                let s = Real::sub(&[Real::mul(&[c.clone(), real(i as i64)]), e.clone()]);
                let r = &right[j][i - 1];
                solver.assert(Bool::and(&[r, pos]).implies(s.ge(zero)));
                solver.assert(Bool::and(&[r.clone(), pos.not()]).implies(s.le(zero)));
                solver.assert(Bool::and(&[r.not(), pos.clone()]).implies(s.le(zero)));
                solver.assert(Bool::and(&[r.not(), pos.not()]).implies(s.ge(zero)));
                if i < n {
                    // monotone in i
                    solver.assert(r.implies(&right[j][i]));
                }
            }
            // symmetry breaking: units of one direction are sorted by breakpoint
            // (t_j ≤ t_{j+1}: x_i ≥ t_{j+1} implies x_i ≥ t_j), and the −1 units come first
            if j + 1 < b {
                let next_dir = &units[j + 1].0;
                solver.assert(dir.implies(next_dir));
                let same = dir.iff(next_dir);
                for i in 1..=n {
                    solver.assert(same.implies(right[j + 1][i - 1].implies(&right[j][i - 1])));
                }
            }
        }
    }

    /// `f(x_i)` at point `i`: `a`, plus `slope · x_i` with a linear term, plus every unit.
    fn output(&self, i: usize, a: &Real, slope: Option<&Real>) -> Real {
        let zero = &self.zero;
        let xi = real(i as i64);
        let mut terms = vec![a.clone()];
        if let Some(slope) = slope {
            terms.push(Real::mul(&[slope.clone(), xi.clone()]));
        }
        for (j, (dir, _, c, e)) in self.units.iter().enumerate() {
            let s = Real::sub(&[Real::mul(&[c.clone(), xi.clone()]), e.clone()]);
            let r = &self.right[j][i - 1];
            // w = +1: c (x_i − t) on the right of t; w = −1: c (t − x_i) on the left
            let on_right = r.ite(&s, zero);
            let on_left = r.ite(zero, &s.unary_minus());
            terms.push(dir.ite(&on_right, &on_left));
        }
        Real::add(&terms)
    }

    /// The units `(w, β, c)` of a model, with `t_j = e_j / c_j` and `β = −w t`.
    fn read(&self, m: &Model) -> Option<Vec<(BigRational, BigRational, BigRational)>> {
        let mut ws = Vec::new();
        for (dir, _, c, e) in &self.units {
            let (d, c, e) = (bool_value(m, dir)?, value(m, c)?, value(m, e)?);
            let w = if d {
                BigRational::one()
            } else {
                -BigRational::one()
            };
            if c.is_zero() {
                ws.push((w, BigRational::zero(), c));
            } else {
                let t = &e / &c;
                ws.push((w.clone(), -(w * t), c));
            }
        }
        Some(ws)
    }
}

/// The same question by the direct encoding: every weight (`w_j, β_j, c_j`, and the
/// linearized unit's `v·(w_0 x + β_0)`) an unknown real, so the constraints multiply
/// unknowns (nonlinear real arithmetic). Often unknown on the unsat side: a cross-check only.
pub fn query_direct(
    n: usize,
    b: usize,
    arch: Architecture,
    k: usize,
    timeout: Duration,
) -> Decision<NeuralWitness> {
    let solver = Solver::new();
    let a = Real::new_const("a");
    let (v0, w0, b0) = (
        Real::new_const("v0"),
        Real::new_const("w0"),
        Real::new_const("beta0"),
    );
    let zero = real(0);
    let units: Vec<(Real, Real, Real)> = (0..b)
        .map(|j| {
            (
                Real::new_const(format!("w_{j}")),
                Real::new_const(format!("beta_{j}")),
                Real::new_const(format!("c_{j}")),
            )
        })
        .collect();
    let mut outputs = Vec::new();
    for i in 1..=n {
        let xi = real(i as i64);
        let mut terms = vec![a.clone()];
        if arch == Architecture::KeptPlusLinear {
            let pre = Real::add(&[Real::mul(&[w0.clone(), xi.clone()]), b0.clone()]);
            terms.push(Real::mul(&[v0.clone(), pre]));
        }
        for (w, beta, c) in &units {
            let pre = Real::add(&[Real::mul(&[w.clone(), xi.clone()]), beta.clone()]);
            let act = pre.ge(&zero).ite(&pre, &zero);
            terms.push(Real::mul(&[c.clone(), act]));
        }
        outputs.push(Real::add(&terms));
    }
    assert_classified(&solver, &outputs, k);
    finish(
        &solver,
        timeout,
        |m| {
            let (a, lin) = if arch == Architecture::KeptPlusLinear {
                let (v0, w0, b0) = (value(m, &v0)?, value(m, &w0)?, value(m, &b0)?);
                (value(m, &a)? + &v0 * b0, v0 * w0)
            } else {
                (value(m, &a)?, BigRational::zero())
            };
            let mut ws = Vec::new();
            for (w, beta, c) in &units {
                ws.push((value(m, w)?, value(m, beta)?, value(m, c)?));
            }
            Some(NeuralWitness {
                architecture: arch,
                a,
                b: lin,
                units: ws,
            })
        },
        |w| w.classified(n).len() >= k,
    )
}

/// The two-layer variant by the direct encoding: hidden layer 1 has `b1` kept units and one
/// linearized unit, hidden layer 2 has `b2` kept units and one linearized unit, then a linear
/// output; every weight an unknown real (nonlinear). T1 bounds its pieces on the line by
/// `(b1 + 1)(b2 + 1)`, so T2 caps it at [`ceiling`](super::ceiling)`(n, (b1 + 1)(b2 + 1))`. A
/// cross-check only: z3 4.8.12 answers some sat sides; unknown is reported as such.
pub fn query_direct_two_layer(
    n: usize,
    b1: usize,
    b2: usize,
    k: usize,
    timeout: Duration,
) -> Decision<ExactNet> {
    let solver = Solver::new();
    let zero = real(0);
    let widths = [b1 + 1, b2 + 1];
    let mut layers_vars: Vec<(Vec<Vec<Real>>, Vec<Real>)> = Vec::new();
    let mut fan_in = 1;
    for (l, &w) in widths.iter().enumerate() {
        let wm: Vec<Vec<Real>> = (0..w)
            .map(|u| {
                (0..fan_in)
                    .map(|v| Real::new_const(format!("w{l}_{u}_{v}")))
                    .collect()
            })
            .collect();
        let bias: Vec<Real> = (0..w)
            .map(|u| Real::new_const(format!("b{l}_{u}")))
            .collect();
        layers_vars.push((wm, bias));
        fan_in = w;
    }
    let out_w: Vec<Real> = (0..fan_in)
        .map(|u| Real::new_const(format!("v_{u}")))
        .collect();
    let out_b = Real::new_const("a");
    // the last unit of each layer is the linearized one
    let kept = |w: usize| (0..w).map(|u| u + 1 < w).collect::<Vec<bool>>();
    let mut outputs = Vec::new();
    for i in 1..=n {
        let mut h = vec![real(i as i64)];
        for (wm, bias) in &layers_vars {
            let mask = kept(wm.len());
            h = wm
                .iter()
                .zip(bias)
                .zip(mask)
                .map(|((row, b), k)| {
                    let mut terms: Vec<Real> = row
                        .iter()
                        .zip(&h)
                        .map(|(a, v)| Real::mul(&[a.clone(), v.clone()]))
                        .collect();
                    terms.push(b.clone());
                    let z = Real::add(&terms);
                    if k {
                        z.ge(&zero).ite(&z, &zero)
                    } else {
                        z
                    }
                })
                .collect();
        }
        let mut terms: Vec<Real> = out_w
            .iter()
            .zip(&h)
            .map(|(a, v)| Real::mul(&[a.clone(), v.clone()]))
            .collect();
        terms.push(out_b.clone());
        outputs.push(Real::add(&terms));
    }
    assert_classified(&solver, &outputs, k);
    finish(
        &solver,
        timeout,
        |m| {
            let mut layers = Vec::new();
            for (wm, bias) in &layers_vars {
                let mut w = Vec::new();
                for row in wm {
                    w.push(
                        row.iter()
                            .map(|r| value(m, r))
                            .collect::<Option<Vec<_>>>()?,
                    );
                }
                let b = bias
                    .iter()
                    .map(|r| value(m, r))
                    .collect::<Option<Vec<_>>>()?;
                layers.push((w, b, kept(wm.len())));
            }
            Some(ExactNet {
                layers,
                out_weight: out_w
                    .iter()
                    .map(|r| value(m, r))
                    .collect::<Option<Vec<_>>>()?,
                out_bias: value(m, &out_b)?,
            })
        },
        |w| w.classified(n).len() >= k,
    )
}

/// Whether `w` has the shape the linear encoding promises (first-layer weights `±1`).
pub fn is_normalized(w: &NeuralWitness) -> bool {
    w.units
        .iter()
        .all(|(wj, _, _)| wj.abs() == BigRational::one())
        && (w.architecture == Architecture::KeptPlusLinear || w.b.is_zero())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nfl::{rat, search_max, Architecture};

    const T: Duration = Duration::from_secs(30);

    #[test]
    fn numerals_parse_exactly() {
        assert_eq!(parse_numeral("3"), Some(rat(3)));
        assert_eq!(parse_numeral("3.0"), Some(rat(3)));
        assert_eq!(
            parse_numeral("(- 2.5)"),
            Some(BigRational::new((-5).into(), 2.into()))
        );
        assert_eq!(
            parse_numeral("(/ 1.0 3.0)"),
            Some(BigRational::new(1.into(), 3.into()))
        );
        assert_eq!(
            parse_numeral("(- (/ 7 3))"),
            Some(BigRational::new((-7).into(), 3.into()))
        );
        assert_eq!(parse_numeral("(/ 1 0)"), None);
        assert_eq!(parse_numeral("x"), None);
    }

    #[test]
    fn linear_encoding_is_sat_at_and_unsat_above_the_ceiling() {
        // n = 6, B = 3 (the case the direct encoding leaves unknown on the unsat side)
        for (n, b) in [(6, 3), (5, 1), (6, 0)] {
            for arch in [Architecture::KeptPlusLinear, Architecture::AllKept] {
                let c = arch.ceiling(n, b);
                match query_linear(n, b, arch, c, T) {
                    Decision::Sat(w) => {
                        assert!(w.classified(n).len() >= c);
                        assert!(is_normalized(&w));
                        // the witness as an snl network classifies the same points in f64
                        let net = w.to_network();
                        let hits = (1..=n)
                            .filter(|&i| {
                                net.forward(&[i as f64]).unwrap()[0] * label(i) as f64 > 0.0
                            })
                            .count();
                        assert!(hits >= c, "{arch:?} n={n} b={b}: network hits {hits}");
                    }
                    other => panic!("{arch:?} n={n} b={b} K={c}: {other:?}"),
                }
                if c < n {
                    assert_eq!(
                        query_linear(n, b, arch, c + 1, T),
                        Decision::Unsat,
                        "{arch:?} n={n} b={b} K={}",
                        c + 1
                    );
                }
            }
        }
    }

    #[test]
    fn search_finds_the_ceiling() {
        // 6 points, B = 2: with the linearized unit 3 sign changes -> ⌈9/2⌉ = 5;
        // all kept, 2 sign changes -> ⌈8/2⌉ = 4
        let s = search_max(6, 3, |k| {
            query_linear(6, 2, Architecture::KeptPlusLinear, k, T)
        });
        assert_eq!(s.max_classified, Some(5), "{:?}", s.queries);
        let s = search_max(6, 3, |k| query_linear(6, 2, Architecture::AllKept, k, T));
        assert_eq!(s.max_classified, Some(4), "{:?}", s.queries);
    }

    /// Depth with the same ReLU budget: two layers of (1 kept + 1 linearized) units classify
    /// all 5 alternating points (T1: ≤ 4 pieces), while one layer with 2 kept units (+ 1
    /// linearized) is refuted at 5 (≤ 3 pieces, ceiling 4).
    #[test]
    fn two_layers_beat_one_layer_at_the_same_relu_budget() {
        match query_direct_two_layer(5, 1, 1, 5, T) {
            Decision::Sat(w) => {
                assert_eq!(w.classified(5), vec![1, 2, 3, 4, 5]);
                let kept: usize = w
                    .layers
                    .iter()
                    .map(|l| l.2.iter().filter(|&&k| k).count())
                    .sum();
                assert_eq!(kept, 2);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            query_linear(5, 2, Architecture::KeptPlusLinear, 5, T),
            Decision::Unsat
        );
    }

    /// Width 3, all kept, classifies all of 5 alternating points (4 sign changes): the
    /// all-kept net loses a sign change only for B <= 2. The witness is re-checked exactly.
    #[test]
    fn three_kept_units_without_a_linear_unit_still_reach_four_sign_changes() {
        match query_linear(5, 3, Architecture::AllKept, 5, T) {
            Decision::Sat(w) => {
                assert_eq!(w.classified(5), vec![1, 2, 3, 4, 5]);
                assert!(w.b.is_zero());
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn direct_encoding_answers_the_sat_side_of_a_small_instance() {
        // n = 4, B = 1 with the linearized unit: ceiling ⌈(4 + 2)/2⌉ = 3
        match query_direct(4, 1, Architecture::KeptPlusLinear, 3, T) {
            Decision::Sat(w) => assert!(w.classified(4).len() >= 3),
            other => panic!("direct encoding at n = 4, B = 1, K = 3: {other:?}"),
        }
    }
}
