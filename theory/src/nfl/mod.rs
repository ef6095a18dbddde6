//! The no-free-lunch ceiling on alternating data (T2) and its two independent checks.
//!
//! Data: `n` points `x_i = i` (`i = 1..=n`) with alternating labels `y_i = (−1)^(i+1)`
//! (`+1, −1, +1, …`). A function `f` *classifies point `i` with margin* when
//! `y_i · f(x_i) ≥ 1`; since every model family used here is closed under multiplying the
//! output by a positive constant, "with margin 1" is the same as "strictly correct sign".
//!
//! T2: a continuous piecewise-linear (CPWL) `f` with `P` pieces has at most `P` sign
//! changes, so it classifies at most [`ceiling`]`(n, P) = min(n, ⌈(n + P)/2⌉)` of the points.
//!
//! Two encodings search for the largest achievable `K` without using the formula:
//! - [`lp`] (feature `lp`): a MILP over the CPWL parameterization `a + b·x + Σ c_j relu(x − t_j)`
//!   with binaries choosing the gaps between points that hold breakpoints;
//! - [`smt`] (feature `smt`): z3 over the neural parameterization (one hidden layer, `B` kept
//!   ReLUs plus optionally one linearized unit), made linear by positive homogeneity and a
//!   case split on where each breakpoint falls; and the direct nonlinear encoding as a
//!   cross-check.
//!
//! Every witness either encoding returns is re-evaluated here in exact rational arithmetic
//! ([`CpwlWitness::classified`], [`NeuralWitness::classified`]).
//!
//! ```
//! use std::time::Duration;
//! use snl_theory::nfl::{ceiling, search_max, smt, Architecture};
//!
//! // 6 alternating points, 2 kept ReLUs + 1 linearized unit: 3 pieces, at most 5 points
//! assert_eq!(ceiling(6, 3), 5);
//! let found = search_max(6, 3, |k| {
//!     smt::query_linear(6, 2, Architecture::KeptPlusLinear, k, Duration::from_secs(30))
//! });
//! assert_eq!(found.max_classified, Some(5)); // 5 sat (witness re-checked), 6 unsat
//! ```
use num_bigint::BigInt;
use num_rational::BigRational;
use num_traits::{Signed, Zero};
use serde::Serialize;

pub mod depth;
#[cfg(feature = "lp")]
pub mod dim;
#[cfg(feature = "lp")]
pub mod lp;
#[cfg(feature = "smt")]
pub mod smt;

/// The T2 ceiling: the most of `n` alternating points a CPWL function with `pieces` pieces
/// (hence at most `pieces` sign changes) can classify: `min(n, ⌈(n + pieces)/2⌉)`.
pub fn ceiling(n: usize, pieces: usize) -> usize {
    n.min((n + pieces).div_ceil(2))
}

/// The label of point `i` (1-based): `+1` for odd `i`, `−1` for even `i`.
pub fn label(i: usize) -> i64 {
    if i % 2 == 1 {
        1
    } else {
        -1
    }
}

/// Which one-hidden-layer network the neural encodings search over.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Architecture {
    /// Width `B + 1`: `B` units keep their ReLU and one is linearized (what SNL produces);
    /// `f(x) = a + b·x + Σ_{j≤B} c_j relu(w_j x + β_j)`: at most `B + 1` pieces.
    KeptPlusLinear,
    /// Width `B`, every unit kept: `f(x) = a + Σ_{j≤B} c_j relu(w_j x + β_j)`. Also at most
    /// `B + 1` pieces, hence at most `B + 1` sign changes; for `B ≤ 2` one fewer, because
    /// every unit is zero on one side of its breakpoint and so some piece is flat or the
    /// slopes cannot alternate (proof in `theory/README.md`). For `B ≥ 3` the solver finds
    /// witnesses with `B + 1` sign changes (`snl-verify theorem`).
    AllKept,
}

impl Architecture {
    /// The number of sign changes T2 allows this architecture with `b` kept units.
    pub fn sign_changes(self, b: usize) -> usize {
        match self {
            Architecture::KeptPlusLinear => b + 1,
            Architecture::AllKept if b <= 2 => b,
            Architecture::AllKept => b + 1,
        }
    }

    /// The predicted ceiling for `n` points and `b` kept units.
    pub fn ceiling(self, n: usize, b: usize) -> usize {
        ceiling(n, self.sign_changes(b))
    }
}

/// A three-valued answer of one "≥ K points classified" query.
#[derive(Clone, Debug, PartialEq)]
pub enum Decision<W> {
    /// Achievable, with a witness that was re-checked in exact arithmetic.
    Sat(W),
    /// Refuted by the solver.
    Unsat,
    /// Timeout, solver unknown, or a witness that failed the exact re-check.
    Unknown {
        /// Why.
        reason: String,
    },
}

/// The result of a search for the largest achievable `K`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CeilingSearch {
    /// The largest `K` proved achievable with `K + 1` refuted (or `K = n`); `None` when a
    /// query on the way came back unknown.
    pub max_classified: Option<usize>,
    /// Each query made: `(K, "sat" | "unsat" | "unknown: …")`.
    pub queries: Vec<(usize, String)>,
    /// Wall time of the whole search in milliseconds.
    pub millis: u128,
}

/// Runs `query(K)` for `K = start, start + 1, …` until it is refuted, unknown, or `K = n`
/// is achieved. `start` must be achievable (e.g. `⌈n/2⌉`, a constant function); it is
/// queried like every other `K`.
pub fn search_max<W>(
    n: usize,
    start: usize,
    mut query: impl FnMut(usize) -> Decision<W>,
) -> CeilingSearch {
    let t0 = std::time::Instant::now();
    let mut queries = Vec::new();
    let mut best = None;
    let mut k = start.max(1);
    let max_classified = loop {
        if k > n {
            break best;
        }
        match query(k) {
            Decision::Sat(_) => {
                queries.push((k, "sat".to_string()));
                best = Some(k);
                k += 1;
            }
            Decision::Unsat => {
                queries.push((k, "unsat".to_string()));
                // K − 1 must have been proved achievable in this search
                break best.filter(|&b| b + 1 == k);
            }
            Decision::Unknown { reason } => {
                queries.push((k, format!("unknown: {reason}")));
                break None;
            }
        }
    };
    CeilingSearch {
        max_classified,
        queries,
        millis: t0.elapsed().as_millis(),
    }
}

/// An exact rational from an integer.
pub fn rat(v: i64) -> BigRational {
    BigRational::from_integer(BigInt::from(v))
}

fn relu(v: BigRational) -> BigRational {
    if v.is_negative() {
        BigRational::zero()
    } else {
        v
    }
}

/// The 1-based indices of the points `f` classifies strictly (`y_i f(x_i) > 0`), evaluated
/// exactly.
fn strictly_classified(n: usize, f: impl Fn(&BigRational) -> BigRational) -> Vec<usize> {
    (1..=n)
        .filter(|&i| {
            let v = f(&rat(i as i64)) * rat(label(i));
            v.is_positive()
        })
        .collect()
}

/// `f(x) = a + b·x + Σ c_j relu(x − t_j)` in exact rationals.
#[derive(Clone, Debug, PartialEq)]
pub struct CpwlWitness {
    /// Constant term.
    pub a: BigRational,
    /// Linear term.
    pub b: BigRational,
    /// `(c_j, t_j)`: kink of size `c_j` at `t_j`.
    pub kinks: Vec<(BigRational, BigRational)>,
}

impl CpwlWitness {
    /// Exact value at `x`.
    pub fn eval(&self, x: &BigRational) -> BigRational {
        let mut v = &self.a + &self.b * x;
        for (c, t) in &self.kinks {
            v += c * relu(x - t);
        }
        v
    }

    /// Number of pieces: one more than the number of distinct kink positions whose kinks do
    /// not cancel.
    pub fn pieces(&self) -> usize {
        let mut ts: Vec<&BigRational> = self.kinks.iter().map(|(_, t)| t).collect();
        ts.sort();
        ts.dedup();
        1 + ts
            .iter()
            .filter(|&&t| {
                let total: BigRational = self
                    .kinks
                    .iter()
                    .filter(|(_, s)| s == t)
                    .map(|(c, _)| c.clone())
                    .sum();
                !total.is_zero()
            })
            .count()
    }

    /// The points (1-based) classified strictly, evaluated exactly.
    pub fn classified(&self, n: usize) -> Vec<usize> {
        strictly_classified(n, |x| self.eval(x))
    }
}

/// A one-hidden-layer network `f(x) = a + b·x + Σ c_j relu(w_j x + β_j)` in exact rationals;
/// `b` is the contribution of the linearized unit (zero for [`Architecture::AllKept`]).
#[derive(Clone, Debug, PartialEq)]
pub struct NeuralWitness {
    /// The architecture it belongs to.
    pub architecture: Architecture,
    /// Output bias.
    pub a: BigRational,
    /// Linear term (linearized unit); zero for [`Architecture::AllKept`].
    pub b: BigRational,
    /// `(w_j, β_j, c_j)` per kept unit.
    pub units: Vec<(BigRational, BigRational, BigRational)>,
}

impl NeuralWitness {
    /// Exact value at `x`.
    pub fn eval(&self, x: &BigRational) -> BigRational {
        let mut v = &self.a + &self.b * x;
        for (w, beta, c) in &self.units {
            v += c * relu(w * x + beta);
        }
        v
    }

    /// The points (1-based) classified strictly, evaluated exactly.
    pub fn classified(&self, n: usize) -> Vec<usize> {
        strictly_classified(n, |x| self.eval(x))
    }

    /// The witness as an snl [`Network`](crate::Network) (f64): `Dense(1 → B + 1)`,
    /// a ReLU layer with the first `B` units kept and the last linearized, `Dense(B + 1 → 1)`.
    /// For [`Architecture::AllKept`] the linearized unit has zero weights.
    pub fn to_network(&self) -> crate::Network {
        use nalgebra::{DMatrix, DVector};
        use num_traits::ToPrimitive;
        let f = |r: &BigRational| r.to_f64().unwrap_or(f64::NAN);
        let width = self.units.len() + 1;
        let mut w1 = DMatrix::zeros(width, 1);
        let mut b1 = DVector::zeros(width);
        let mut w2 = DMatrix::zeros(1, width);
        for (j, (w, beta, c)) in self.units.iter().enumerate() {
            w1[(j, 0)] = f(w);
            b1[j] = f(beta);
            w2[(0, j)] = f(c);
        }
        w1[(width - 1, 0)] = 1.0;
        w2[(0, width - 1)] = f(&self.b);
        let mut kept = vec![true; width];
        kept[width - 1] = false;
        let mut net = crate::Network::new(vec![1]);
        net.push(crate::Layer::Dense(crate::Affine::new(w1, b1)));
        net.push(crate::Layer::Relu(crate::ReluMask::from_bools(&kept)));
        net.push(crate::Layer::Dense(crate::Affine::new(
            w2,
            DVector::from_element(1, f(&self.a)),
        )));
        net
    }
}

/// The all-kept width-`b` network (`b ≥ 3`) with `b + 1` sign changes on the points
/// `1..=b+2` (README, "all-kept ceiling"): the base
/// `g(x) = −9/2 + 2 relu(4 − x) + 3 relu(x − 2) − 2 relu(x − 3)` (one *left-active* unit,
/// two right-active ones; slopes `−2, 1, −1, 1` alternate) is `3/2, −½, +½, −½, +½` at
/// `x = 1..5`, and each further unit `k = 4..=b` adds `(−1)^(k+1)·2·relu(x − (k + 1))`,
/// flipping the last slope (`±1`) so the next point gets the other sign. Exact rationals.
pub fn all_kept_witness(b: usize) -> NeuralWitness {
    assert!(b >= 3, "the all-kept construction needs b >= 3");
    let mut units = vec![
        (rat(-1), rat(4), rat(2)),
        (rat(1), rat(-2), rat(3)),
        (rat(1), rat(-3), rat(-2)),
    ];
    for k in 4..=b {
        let c = if k % 2 == 1 { 2 } else { -2 };
        units.push((rat(1), rat(-(k as i64 + 1)), rat(c)));
    }
    NeuralWitness {
        architecture: Architecture::AllKept,
        a: BigRational::new((-9).into(), 2.into()),
        b: BigRational::zero(),
        units,
    }
}

/// One hidden layer of an [`ExactNet`]: `(W, β, kept)`, `W` row-major `(out, in)`.
pub type ExactLayer = (Vec<Vec<BigRational>>, Vec<BigRational>, Vec<bool>);

/// A dense masked network with one input and one output in exact rationals:
/// hidden layers `h ← mask(W h + β)` (kept units `relu`, others identity), then `v·h + a`.
#[derive(Clone, Debug, PartialEq)]
pub struct ExactNet {
    /// `(W, β, kept)` per hidden layer; `W` is row-major `(out, in)`.
    pub layers: Vec<ExactLayer>,
    /// Output weights.
    pub out_weight: Vec<BigRational>,
    /// Output bias.
    pub out_bias: BigRational,
}

impl ExactNet {
    /// Exact value at `x`.
    pub fn eval(&self, x: &BigRational) -> BigRational {
        let mut h = vec![x.clone()];
        for (w, beta, kept) in &self.layers {
            h = w
                .iter()
                .zip(beta)
                .zip(kept)
                .map(|((row, b), &k)| {
                    let z: BigRational =
                        row.iter().zip(&h).map(|(a, v)| a * v).sum::<BigRational>() + b;
                    if k {
                        relu(z)
                    } else {
                        z
                    }
                })
                .collect();
        }
        self.out_weight
            .iter()
            .zip(&h)
            .map(|(a, v)| a * v)
            .sum::<BigRational>()
            + &self.out_bias
    }

    /// The points (1-based) classified strictly, evaluated exactly.
    pub fn classified(&self, n: usize) -> Vec<usize> {
        strictly_classified(n, |x| self.eval(x))
    }
}

/// T3, constructive half: the CPWL function with value `a` at `x = 0`, slopes
/// `s_0 … s_{P−1}` and breakpoints `t_1 < … < t_{P−1}`, as a one-hidden-layer snl network
/// with `P − 1` kept ReLUs and one linearized unit:
/// `g(x) = a + s_0 x + Σ_j (s_j − s_{j−1}) relu(x − t_j) − Σ_j (s_j − s_{j−1}) relu(−t_j)`.
/// Hidden units `j < P − 1` compute `relu(x − t_{j+1})`; the last unit is linearized and
/// carries `x`. The network equals `g` exactly (in exact arithmetic), so it classifies every
/// point labelled by `sign(g)`.
pub fn realize_cpwl(a: f64, slopes: &[f64], breakpoints: &[f64]) -> crate::Network {
    use nalgebra::{DMatrix, DVector};
    assert_eq!(
        slopes.len(),
        breakpoints.len() + 1,
        "P slopes need P − 1 breakpoints"
    );
    let k = breakpoints.len();
    let w1 = DMatrix::from_element(k + 1, 1, 1.0);
    let mut b1 = DVector::zeros(k + 1);
    let mut w2 = DMatrix::zeros(1, k + 1);
    let mut bias = a;
    for (j, &t) in breakpoints.iter().enumerate() {
        let kink = slopes[j + 1] - slopes[j];
        b1[j] = -t;
        w2[(0, j)] = kink;
        bias -= kink * (-t).max(0.0);
    }
    w2[(0, k)] = slopes[0];
    let mut kept = vec![true; k + 1];
    kept[k] = false;
    let mut net = crate::Network::new(vec![1]);
    net.push(crate::Layer::Dense(crate::Affine::new(w1, b1)));
    net.push(crate::Layer::Relu(crate::ReluMask::from_bools(&kept)));
    net.push(crate::Layer::Dense(crate::Affine::new(
        w2,
        DVector::from_element(1, bias),
    )));
    net
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tolerance::Tolerance;
    use proptest::prelude::*;

    /// The target evaluated piece by piece (the slow, obvious reference).
    fn target(a: f64, slopes: &[f64], ts: &[f64], x: f64) -> f64 {
        // integrate the slope from 0 to x
        let mut knots: Vec<f64> = vec![0.0, x];
        knots.extend(
            ts.iter()
                .copied()
                .filter(|&t| t > x.min(0.0) && t < x.max(0.0)),
        );
        knots.sort_by(f64::total_cmp);
        let slope_at = |z: f64| slopes[ts.iter().filter(|&&t| t < z).count()];
        let mut v = a;
        for w in knots.windows(2) {
            let mid = 0.5 * (w[0] + w[1]);
            let sign = if x >= 0.0 { 1.0 } else { -1.0 };
            v += sign * slope_at(mid) * (w[1] - w[0]);
        }
        v
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]
        /// T3: a P-piece CPWL target is realized by P − 1 kept ReLUs (+ one linearized unit),
        /// which then classify every point the target labels.
        #[test]
        fn cpwl_targets_are_realized_with_p_minus_one_kept_relus(
            a in -2.0f64..2.0,
            slopes in proptest::collection::vec(-3.0f64..3.0, 1..7),
            gaps in proptest::collection::vec(0.2f64..1.5, 6),
            xs in proptest::collection::vec(-5.0f64..5.0, 20),
        ) {
            let p = slopes.len();
            let mut ts = Vec::new();
            let mut t = -2.0;
            for g in &gaps[..p - 1] {
                t += g;
                ts.push(t);
            }
            let net = realize_cpwl(a, &slopes, &ts);
            let counts = net.relu_counts().unwrap();
            prop_assert_eq!(counts.kept, p - 1);
            for &x in &xs {
                let want = target(a, &slopes, &ts, x);
                let got = net.forward(&[x]).unwrap()[0];
                prop_assert!(Tolerance::Close.close(got, want) || (got - want).abs() < 1e-9,
                    "x = {}: {} vs {}", x, got, want);
                if want.abs() > 1e-6 {
                    prop_assert_eq!(got > 0.0, want > 0.0);
                }
            }
        }
    }

    /// T3, the other half: a fully linearized layer collapses exactly.
    #[test]
    fn fully_linearized_layer_collapses_exactly() {
        use nalgebra::{DMatrix, DVector};
        let mut net = crate::Network::new(vec![3]);
        let w = |r: usize, c: usize, seed: f64| {
            DMatrix::from_fn(r, c, |i, j| ((i * 7 + j * 3) as f64 * seed).sin())
        };
        net.push(crate::Layer::Dense(crate::Affine::new(
            w(5, 3, 0.7),
            DVector::from_element(5, 0.1),
        )));
        net.push(crate::Layer::Relu(crate::ReluMask::all_linearized(5)));
        net.push(crate::Layer::Dense(crate::Affine::new(
            w(4, 5, 1.3),
            DVector::from_element(4, -0.2),
        )));
        net.push(crate::Layer::Relu(crate::ReluMask::from_bools(&[
            true, false, true, true,
        ])));
        net.push(crate::Layer::Dense(crate::Affine::new(
            w(2, 4, 0.4),
            DVector::zeros(2),
        )));
        let c = net.collapse().unwrap();
        // dense + linearized relu + dense became one dense map
        assert_eq!(
            c.nodes.len(),
            3,
            "{:?}",
            c.nodes.iter().map(|n| n.layer.kind()).collect::<Vec<_>>()
        );
        for k in 0..200 {
            let x: Vec<f64> = (0..3)
                .map(|i| ((k * 3 + i) as f64 * 0.37).sin() * 4.0)
                .collect();
            crate::tolerance::assert_close(
                &c.forward(&x).unwrap(),
                &net.forward(&x).unwrap(),
                Tolerance::Close,
                "collapsed",
            );
        }
        // all masks linearized: the whole network is one affine map
        let flat = net.clone().with_all_masks(false).collapse().unwrap();
        assert_eq!(flat.nodes.len(), 1);
    }

    #[test]
    fn ceiling_small_cases_by_hand() {
        // a constant classifies one label class: ⌈n/2⌉
        assert_eq!(ceiling(5, 0), 3);
        assert_eq!(ceiling(4, 0), 2);
        // a line (1 piece, ≤ 1 sign change) on + − + −: f > 0 at x1 only -> points 1, 2, 4
        assert_eq!(ceiling(4, 1), 3);
        // n − 1 sign changes classify everything, more cannot do better
        assert_eq!(ceiling(6, 5), 6);
        assert_eq!(ceiling(6, 9), 6);
        assert_eq!(Architecture::KeptPlusLinear.ceiling(6, 3), 5);
        assert_eq!(Architecture::AllKept.ceiling(6, 2), 4);
        assert_eq!(Architecture::AllKept.ceiling(7, 2), 5);
        assert_eq!(Architecture::AllKept.ceiling(5, 3), 5);
    }

    /// Brute force over sign patterns: the most points matched by a ±1 sequence with at most
    /// `s` sign changes equals the formula (the combinatorial core of T2).
    #[test]
    fn ceiling_matches_brute_force_over_sign_sequences() {
        for n in 1..=10usize {
            for s in 0..=n + 1 {
                let mut best = 0;
                for bits in 0u32..(1 << n) {
                    let signs: Vec<i64> = (0..n)
                        .map(|i| if bits >> i & 1 == 1 { 1 } else { -1 })
                        .collect();
                    let changes = signs.windows(2).filter(|w| w[0] != w[1]).count();
                    if changes <= s {
                        let hits = (1..=n).filter(|&i| signs[i - 1] == label(i)).count();
                        best = best.max(hits);
                    }
                }
                assert_eq!(best, ceiling(n, s), "n = {n}, s = {s}");
            }
        }
    }

    #[test]
    fn witnesses_evaluate_exactly() {
        // f(x) = 3 − 2x + 4 relu(x − 3/2): f(1) = 1, f(2) = −1 + 2 = 1, f(3) = −3 + 6 = 3
        let w = CpwlWitness {
            a: rat(3),
            b: rat(-2),
            kinks: vec![(rat(4), BigRational::new(3.into(), 2.into()))],
        };
        assert_eq!(w.eval(&rat(2)), rat(1));
        assert_eq!(w.classified(3), vec![1, 3]);
        assert_eq!(w.pieces(), 2);
        let cancel = CpwlWitness {
            a: rat(0),
            b: rat(0),
            kinks: vec![(rat(1), rat(2)), (rat(-1), rat(2))],
        };
        assert_eq!(cancel.pieces(), 1);
        // relu(−x + 2) − 1/2: +1/2 at 1, −1/2 at 2 and 3
        let nw = NeuralWitness {
            architecture: Architecture::AllKept,
            a: BigRational::new((-1).into(), 2.into()),
            b: rat(0),
            units: vec![(rat(-1), rat(2), rat(1))],
        };
        assert_eq!(nw.classified(3), vec![1, 2]);
        let net = nw.to_network();
        assert_eq!(net.forward(&[1.0]).unwrap(), vec![0.5]);
        assert_eq!(net.forward(&[3.0]).unwrap(), vec![-0.5]);
    }

    /// The all-kept ceiling for `b ≥ 3` is reached for every `n` (README proof): the pinned
    /// `n = 5` witness with three kept units, then the induction up to `b = 12`, evaluated
    /// exactly.
    #[test]
    fn all_kept_witnesses_reach_b_plus_one_sign_changes() {
        let w = all_kept_witness(3);
        // g(1..=5) = 3/2, −1/2, 1/2, −1/2, 1/2
        let h = |p: i64| BigRational::new(p.into(), 2.into());
        let want = [h(3), h(-1), h(1), h(-1), h(1)];
        for (i, v) in want.iter().enumerate() {
            assert_eq!(&w.eval(&rat(i as i64 + 1)), v, "x = {}", i + 1);
        }
        assert_eq!(w.classified(5), vec![1, 2, 3, 4, 5]);
        for b in 3..=12usize {
            let w = all_kept_witness(b);
            assert_eq!(w.units.len(), b);
            for n in 2..=b + 6 {
                assert_eq!(
                    w.classified(n).len(),
                    Architecture::AllKept.ceiling(n, b),
                    "b = {b}, n = {n}"
                );
            }
            // and the f64 network agrees in sign at every point
            let net = w.to_network();
            for i in 1..=b + 2 {
                let y = net.forward(&[i as f64]).unwrap()[0];
                assert_eq!(y > 0.0, label(i) > 0, "b = {b}, x = {i}");
            }
        }
    }

    #[test]
    fn search_stops_at_the_first_refutation_and_at_unknown() {
        let s = search_max(6, 3, |k| {
            if k <= 4 {
                Decision::Sat(())
            } else {
                Decision::Unsat
            }
        });
        assert_eq!(s.max_classified, Some(4));
        assert_eq!(s.queries.len(), 3);
        let u = search_max(6, 3, |k| {
            if k <= 4 {
                Decision::<()>::Sat(())
            } else {
                Decision::Unknown {
                    reason: "timeout".into(),
                }
            }
        });
        assert_eq!(u.max_classified, None);
        // the first query refuted: nothing proved
        let r = search_max(6, 3, |_| Decision::<()>::Unsat);
        assert_eq!(r.max_classified, None);
    }
}
