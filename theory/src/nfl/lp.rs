//! The MILP encoding of T2 over the CPWL parameterization (good_lp, CBC backend).
//!
//! `f(x) = a + b·x + Σ_j c_j relu(x − t_j)` with at most `P − 1` breakpoints, evaluated at
//! the points `x_i = i`. Breakpoints below `x_1` or above `x_n` act on the points as a line
//! or as zero, so only breakpoints in a gap `[x_g, x_{g+1}]` matter. There, a breakpoint at
//! `t = λ x_g + (1 − λ) x_{g+1}` with size `c` equals, on the points,
//! `α relu(x − x_g) + β relu(x − x_{g+1})` with `(α, β) = (λc, (1 − λ)c)`: same signs.
//! Conversely any same-sign `(α, β)` is one breakpoint (`c = α + β`,
//! `t = (α x_g + β x_{g+1})/c`), and any `(α, β)` at all is two. So per gap `g`:
//!
//! - continuous `α_g, β_g ∈ [−M, M]`; binaries `y_g` (≥ 1 breakpoint), `z_g` (2 breakpoints),
//!   `σ_g` (the sign when there is one);
//! - `|α_g|, |β_g| ≤ M y_g`, `z_g ≤ y_g`; when `z_g = 0`, `α_g, β_g ≥ 0` if `σ_g = 1` and
//!   `≤ 0` if `σ_g = 0`; `Σ_g (y_g + z_g) ≤ P − 1`;
//! - one binary `k_i` per point: `y_i f(x_i) ≥ 1 − M_f (1 − k_i)`; maximise `Σ k_i`.
//!
//! This is exact for CPWL functions whose coefficients lie in the box `|a|, |b|, |α|, |β| ≤
//! M` ([`COEFF_BOX`]): a refutation holds inside the box only (the SMT encoding has no box).
//! CBC solves it with `singlethread-cbc`; a time limit reached is reported as unknown. The
//! optimal solution is converted to a [`CpwlWitness`] (f64 to exact rationals, entries below
//! [`ZERO_SNAP`] set to zero) and re-checked exactly: the witness must have at most `P`
//! pieces and classify the claimed number of points.
use good_lp::{
    coin_cbc, constraint, variable, Expression, ProblemVariables, ResolutionError, Solution,
    SolutionStatus, SolverModel, Variable, WithTimeLimit,
};
use num_rational::BigRational;
use num_traits::{Signed, Zero};

use super::{label, rat, CeilingSearch, CpwlWitness, Decision};

/// The box on the CPWL coefficients: `|a|, |b|, |α_g|, |β_g| ≤ COEFF_BOX`.
pub const COEFF_BOX: f64 = 64.0;

/// Solver values with magnitude below this are read as zero before the exact re-check.
pub const ZERO_SNAP: f64 = 1e-9;

/// The result of [`max_classified`].
#[derive(Clone, Debug, PartialEq)]
pub struct LpCeiling {
    /// The search summary (the one MILP: `K*` proved, `K* + 1` refuted by optimality).
    pub search: CeilingSearch,
    /// The re-checked witness for `K*`, when solved.
    pub witness: Option<CpwlWitness>,
}

/// The encoding: variables and constraints for `n` points and `pieces` pieces.
struct Encoding {
    vars: ProblemVariables,
    a: Variable,
    b: Variable,
    /// `(α_g, β_g)` for gaps `g = 1..n−1` (index `g − 1`).
    kinks: Vec<(Variable, Variable)>,
    /// `k_i` for points `i = 1..n` (index `i − 1`).
    hit: Vec<Variable>,
    constraints: Vec<good_lp::Constraint>,
}

impl Encoding {
    fn new(n: usize, pieces: usize) -> Self {
        let m = COEFF_BOX;
        let mut vars = ProblemVariables::new();
        let a = vars.add(variable().min(-m).max(m));
        let b = vars.add(variable().min(-m).max(m));
        let mut kinks = Vec::new();
        let mut constraints = Vec::new();
        let mut budget = Expression::from(0.0);
        for _g in 1..n {
            let al = vars.add(variable().min(-m).max(m));
            let be = vars.add(variable().min(-m).max(m));
            let y = vars.add(variable().binary());
            let z = vars.add(variable().binary());
            let s = vars.add(variable().binary());
            for v in [al, be] {
                constraints.push(constraint!(v <= m * y));
                constraints.push(constraint!(v >= -m * y));
                // z = 0 and s = 1  =>  v >= 0 ;  z = 0 and s = 0  =>  v <= 0
                constraints.push(constraint!(v >= -m * (1.0 - s) - m * z));
                constraints.push(constraint!(v <= m * s + m * z));
            }
            constraints.push(constraint!(z <= y));
            budget += y + z;
            kinks.push((al, be));
        }
        constraints.push(constraint!(budget <= (pieces.saturating_sub(1)) as f64));
        // |f(x_i)| <= M (1 + n) + Σ_g M (2 n): the big-M of the margin constraints
        let big_f = m * (1.0 + n as f64) + m * 2.0 * (n * n) as f64 + 1.0;
        let mut hit = Vec::new();
        for i in 1..=n {
            let k = vars.add(variable().binary());
            let f = Self::value_at(a, b, &kinks, i);
            let y = label(i) as f64;
            constraints.push(constraint!(y * f >= 1.0 - big_f * (1.0 - k)));
            hit.push(k);
        }
        Encoding {
            vars,
            a,
            b,
            kinks,
            hit,
            constraints,
        }
    }

    /// `f(x_i)` as a linear expression.
    fn value_at(a: Variable, b: Variable, kinks: &[(Variable, Variable)], i: usize) -> Expression {
        let mut f = Expression::from(a) + (i as f64) * b;
        for (g0, &(al, be)) in kinks.iter().enumerate() {
            let g = g0 + 1;
            if i > g {
                f += ((i - g) as f64) * al;
            }
            if i > g + 1 {
                f += ((i - g - 1) as f64) * be;
            }
        }
        f
    }
}

fn exact(v: f64) -> BigRational {
    if v.abs() < ZERO_SNAP {
        BigRational::zero()
    } else {
        BigRational::from_float(v).unwrap_or_else(BigRational::zero)
    }
}

/// The witness from solver values: per gap one breakpoint when `α, β` share a sign,
/// otherwise two at the gap's ends.
fn witness(a: f64, b: f64, kinks: &[(f64, f64)]) -> CpwlWitness {
    let mut out = Vec::new();
    for (g0, &(al, be)) in kinks.iter().enumerate() {
        let (xg, xg1) = (rat(g0 as i64 + 1), rat(g0 as i64 + 2));
        let (al, be) = (exact(al), exact(be));
        if al.is_zero() && be.is_zero() {
            continue;
        }
        let opposite =
            (al.is_negative() && be.is_positive()) || (al.is_positive() && be.is_negative());
        if !opposite {
            let c = &al + &be;
            let t = (&al * &xg + &be * &xg1) / &c;
            out.push((c, t));
        } else {
            out.push((al, xg));
            out.push((be, xg1));
        }
    }
    CpwlWitness {
        a: exact(a),
        b: exact(b),
        kinks: out,
    }
}

/// The largest number of the `n` alternating points a CPWL function with `pieces` pieces
/// classifies with margin, by one MILP (maximise `Σ k_i`), with a time limit in seconds.
pub fn max_classified(n: usize, pieces: usize, time_limit_s: f64) -> LpCeiling {
    let t0 = std::time::Instant::now();
    let enc = Encoding::new(n, pieces);
    let objective: Expression = enc.hit.iter().map(|&k| Expression::from(k)).sum();
    let mut model = enc
        .vars
        .maximise(objective)
        .using(coin_cbc)
        .with_time_limit(time_limit_s);
    model.set_parameter("log", "0");
    model.set_parameter("slog", "0");
    // the time limit is wall-clock (CBC counts CPU seconds by default: a loaded machine
    // would stretch it)
    model.set_parameter("timeMode", "elapsed");
    for c in enc.constraints {
        model.add_constraint(c);
    }
    let (decision, witness) = match model.solve() {
        Ok(sol) if matches!(sol.status(), SolutionStatus::Optimal) => {
            let hits = enc.hit.iter().filter(|&&k| sol.value(k) > 0.5).count();
            let kv: Vec<(f64, f64)> = enc
                .kinks
                .iter()
                .map(|&(al, be)| (sol.value(al), sol.value(be)))
                .collect();
            let w = witness(sol.value(enc.a), sol.value(enc.b), &kv);
            let got = w.classified(n).len();
            if w.pieces() <= pieces.max(1) && got >= hits {
                (Ok(hits), Some(w))
            } else {
                (
                    Err(format!(
                        "witness failed the exact re-check: {} pieces, {got} of {hits} points",
                        w.pieces()
                    )),
                    None,
                )
            }
        }
        Ok(sol) => (Err(format!("CBC stopped: {:?}", sol.status())), None),
        Err(ResolutionError::Infeasible) => (Err("CBC: infeasible".to_string()), None),
        Err(e) => (Err(format!("CBC: {e}")), None),
    };
    let (max_classified, queries) = match decision {
        Ok(k) => {
            let mut q = vec![(k, "sat".to_string())];
            if k < n {
                q.push((k + 1, "unsat (optimality)".to_string()));
            }
            (Some(k), q)
        }
        Err(reason) => (None, vec![(0, format!("unknown: {reason}"))]),
    };
    LpCeiling {
        search: CeilingSearch {
            max_classified,
            queries,
            millis: t0.elapsed().as_millis(),
        },
        witness,
    }
}

/// The feasibility question "≥ `k` of the `n` points classified with `pieces` pieces" as its
/// own MILP (no objective): [`Decision::Unsat`] when CBC proves it infeasible.
pub fn query(n: usize, pieces: usize, k: usize, time_limit_s: f64) -> Decision<CpwlWitness> {
    let enc = Encoding::new(n, pieces);
    let total: Expression = enc.hit.iter().map(|&h| Expression::from(h)).sum();
    let mut model = enc
        .vars
        .maximise(Expression::from(0.0))
        .using(coin_cbc)
        .with_time_limit(time_limit_s);
    model.set_parameter("log", "0");
    model.set_parameter("slog", "0");
    // the time limit is wall-clock (CBC counts CPU seconds by default: a loaded machine
    // would stretch it)
    model.set_parameter("timeMode", "elapsed");
    for c in enc.constraints {
        model.add_constraint(c);
    }
    model.add_constraint(constraint!(total >= k as f64));
    match model.solve() {
        Ok(sol) if matches!(sol.status(), SolutionStatus::Optimal) => {
            let kv: Vec<(f64, f64)> = enc
                .kinks
                .iter()
                .map(|&(al, be)| (sol.value(al), sol.value(be)))
                .collect();
            let w = witness(sol.value(enc.a), sol.value(enc.b), &kv);
            if w.pieces() <= pieces.max(1) && w.classified(n).len() >= k {
                Decision::Sat(w)
            } else {
                Decision::Unknown {
                    reason: "witness failed the exact re-check".into(),
                }
            }
        }
        Ok(sol) => Decision::Unknown {
            reason: format!("CBC stopped: {:?}", sol.status()),
        },
        Err(ResolutionError::Infeasible) => Decision::Unsat,
        Err(e) => Decision::Unknown {
            reason: format!("CBC: {e}"),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nfl::ceiling;

    #[test]
    fn lp_matches_the_ceiling_on_small_instances() {
        for n in 2..=6 {
            for pieces in 1..=n {
                let r = max_classified(n, pieces, 20.0);
                assert_eq!(
                    r.search.max_classified,
                    Some(ceiling(n, pieces)),
                    "n = {n}, P = {pieces}: {:?}",
                    r.search.queries
                );
                let w = r.witness.unwrap();
                assert!(w.pieces() <= pieces);
                assert_eq!(w.classified(n).len(), ceiling(n, pieces));
            }
        }
    }

    #[test]
    fn feasibility_query_refutes_one_above_the_ceiling() {
        // 6 points, 2 pieces: ceiling 4; 5 is infeasible, 4 feasible with a re-checked witness
        assert!(matches!(query(6, 2, 4, 20.0), Decision::Sat(_)));
        assert_eq!(query(6, 2, 5, 20.0), Decision::Unsat);
    }

    #[test]
    fn gap_witness_is_one_breakpoint_when_signs_agree() {
        // α = 1, β = 3 in gap 1: one kink of size 4 at t = (1·1 + 3·2)/4 = 7/4
        let w = witness(0.0, 0.0, &[(1.0, 3.0), (0.0, 0.0)]);
        assert_eq!(
            w.kinks,
            vec![(rat(4), BigRational::new(7.into(), 4.into()))]
        );
        let two = witness(0.0, 0.0, &[(1.0, -3.0)]);
        assert_eq!(two.kinks.len(), 2);
        assert_eq!(two.pieces(), 3);
    }
}
