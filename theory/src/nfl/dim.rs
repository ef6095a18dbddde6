//! The certified best accuracy of one hidden layer with `B` kept ReLUs (plus linearized
//! units) on small `d`-dimensional data, by one MILP (good_lp, CBC).
//!
//! Linearized units only add an affine term, so the family is
//! `f(x) = a + b·x + Σ_{j<B} c_j relu(v_j·x + γ_j)`. Positive homogeneity
//! (`c·relu(z) = sign(c)·relu(|c| z)`) makes every `c_j = σ_j ∈ {−1, +1}` without loss, so
//! the model is linear in the unknowns once each `relu` gets a binary:
//!
//! - `a, b, v_j, γ_j ∈ [−C, C]` ([`COEFF_BOX`]); `z_ij = v_j·x_i + γ_j`, `|z_ij| ≤ M_i =
//!   C(‖x_i‖₁ + 1)`;
//! - `h_ij = relu(z_ij)`: `h ≥ 0, h ≥ z, h ≤ z + M_i(1 − δ_ij), h ≤ M_i δ_ij`, `δ_ij` binary;
//! - `g_ij = σ_j h_ij` with `σ_j` binary (`+1` when 1): `|g − h| ≤ 2M_i(1 − σ_j)`,
//!   `|g + h| ≤ 2M_i σ_j`; symmetry broken by `σ_j ≥ σ_{j+1}`;
//! - `q_i` binary: `y_i (a + b·x_i + Σ_j g_ij) ≥ 1 − M_f (1 − q_i)`; maximise `Σ q_i`.
//!
//! The optimum is exact for networks whose (normalized) coefficients lie in the box and that
//! classify with margin 1, up to CBC's floating point (see `theory/README.md`, "where the box
//! and the floating point enter a refutation"): it is *not* an upper bound for all networks —
//! a strict classifier with a tiny margin may need coefficients outside the box, and the
//! re-checked count `found` can then exceed `best` (observed on the checkerboard, `B = 0`).
//! The solution is converted to exact rationals and re-evaluated: the strict count is a
//! certified lower bound on the best accuracy, whatever the solver.
use good_lp::{
    coin_cbc, constraint, variable, Constraint, Expression, ProblemVariables, Solution,
    SolutionStatus, SolverModel, Variable, WithTimeLimit,
};
use num_rational::BigRational;
use num_traits::{Signed, Zero};
use serde::Serialize;

/// The box on the normalized coefficients `a, b, v_j, γ_j`.
pub const COEFF_BOX: f64 = 16.0;

/// Labelled points: `x[i]` with `y[i] ∈ {−1, +1}`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Points {
    /// Inputs, each of the same dimension.
    pub x: Vec<Vec<f64>>,
    /// Labels `±1`.
    pub y: Vec<i8>,
}

impl Points {
    /// The points as the contents of a test-set file (`docs/inputs-format.md`), so that
    /// `snl --data points` trains on exactly these points: inputs `[n, d, 1, 1]` (the f64
    /// values as they are; the `(d, 1, 1)` input of an snl MLP, so `snl-verify robust`
    /// evaluates a trained model on the same file), label 1 for `y = +1` and 0 for
    /// `y = −1`, no normalization, and `name` as the `data` info.
    pub fn to_samples(&self, name: &str) -> crate::io::samples::Samples {
        let info = [
            ("data".to_string(), name.to_string()),
            ("labels".to_string(), "1: y = +1, 0: y = -1".to_string()),
        ];
        crate::io::samples::Samples {
            shape: vec![self.x.first().map_or(0, Vec::len), 1, 1],
            inputs: self.x.iter().flatten().copied().collect(),
            labels: self.y.iter().map(|&y| usize::from(y > 0)).collect(),
            mean: None,
            std: None,
            pixel_range: None,
            info: info.into_iter().collect(),
        }
    }
}

/// The network `a + b·x + Σ σ_j relu(v_j·x + γ_j)` in exact rationals.
#[derive(Clone, Debug, PartialEq)]
pub struct DimWitness {
    /// Constant.
    pub a: BigRational,
    /// Linear term (the linearized units).
    pub b: Vec<BigRational>,
    /// `(v_j, γ_j, σ_j)` per kept unit.
    pub units: Vec<(Vec<BigRational>, BigRational, BigRational)>,
}

fn q(v: f64) -> BigRational {
    // solver noise below 1e-9 is read as zero; every value is finite
    if v.abs() < 1e-9 {
        BigRational::zero()
    } else {
        BigRational::from_float(v).unwrap_or_else(BigRational::zero)
    }
}

impl DimWitness {
    /// Exact value at `x` (its f64 entries taken exactly).
    pub fn eval(&self, x: &[f64]) -> BigRational {
        let xs: Vec<BigRational> = x.iter().map(|&v| q_exact(v)).collect();
        let dot =
            |w: &[BigRational]| -> BigRational { w.iter().zip(&xs).map(|(a, b)| a * b).sum() };
        let mut v = &self.a + dot(&self.b);
        for (w, g, s) in &self.units {
            let z = dot(w) + g;
            if z.is_positive() {
                v += s * z;
            }
        }
        v
    }

    /// The number of points classified strictly (`y_i f(x_i) > 0`), exactly.
    pub fn classified(&self, p: &Points) -> usize {
        p.x.iter()
            .zip(&p.y)
            .filter(|(x, &y)| {
                let v = self.eval(x);
                if y > 0 {
                    v.is_positive()
                } else {
                    v.is_negative()
                }
            })
            .count()
    }
}

fn q_exact(v: f64) -> BigRational {
    BigRational::from_float(v).unwrap_or_else(BigRational::zero)
}

/// One point of the certified curve.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DimResult {
    /// Kept ReLUs.
    pub b: usize,
    /// Points.
    pub n: usize,
    /// The MILP optimum when CBC proved it: the most points a network **with margin 1 and
    /// coefficients in the box** classifies (a strict classifier outside the box may do
    /// better: `found` can exceed it); `None` on a time limit or a failed re-check.
    pub best: Option<usize>,
    /// Points the solver's network classifies strictly (`y f > 0`), re-checked in exact
    /// rationals: a certified lower bound on the best accuracy of any such network.
    pub found: usize,
    /// CBC's status.
    pub status: String,
    /// Wall time.
    pub millis: u128,
}

/// The most points of `p` one hidden layer with `b` kept ReLUs (plus linearized units)
/// classifies, by one MILP with a time limit in seconds.
pub fn max_classified(p: &Points, b: usize, time_limit_s: f64) -> DimResult {
    let t0 = std::time::Instant::now();
    let n = p.x.len();
    let d = p.x.first().map_or(0, Vec::len);
    let mut vars = ProblemVariables::new();
    let u = Unknowns::new(&mut vars, n, d, b);
    let mut cons = Vec::new();
    for (i, x) in p.x.iter().enumerate() {
        u.classify(&mut vars, &mut cons, x, p.y[i], u.hit[i]);
    }
    for j in 1..b {
        cons.push(constraint!(u.sig[j - 1] >= u.sig[j]));
    }
    let objective: Expression = u.hit.iter().map(|&h| Expression::from(h)).sum();
    let mut model = vars
        .maximise(objective)
        .using(coin_cbc)
        .with_time_limit(time_limit_s);
    model.set_parameter("log", "0");
    model.set_parameter("slog", "0");
    // the time limit is wall-clock (CBC counts CPU seconds by default: a loaded machine
    // would stretch it)
    model.set_parameter("timeMode", "elapsed");
    model.set_parameter("threads", "1");
    for k in cons {
        model.add_constraint(k);
    }
    let (best, found, status) = match model.solve() {
        Ok(sol) => u.judge(&sol, p),
        Err(e) => (None, 0, format!("cbc: {e}")),
    };
    DimResult {
        b,
        n,
        best,
        found,
        status,
        millis: t0.elapsed().as_millis(),
    }
}

/// The unknowns of [`max_classified`]'s MILP shared by every point: `a`, `b` (`lin`),
/// `v_j`, `γ_j` (`gam`), `σ_j` (`sig`) and one `q_i` (`hit`) per point.
struct Unknowns {
    a: Variable,
    lin: Vec<Variable>,
    v: Vec<Vec<Variable>>,
    gam: Vec<Variable>,
    sig: Vec<Variable>,
    hit: Vec<Variable>,
}

impl Unknowns {
    /// Adds them to `vars` (in this order) for `n` points of dimension `d`, `b` kept units.
    fn new(vars: &mut ProblemVariables, n: usize, d: usize, b: usize) -> Self {
        let c = COEFF_BOX;
        let a = vars.add(variable().min(-c).max(c));
        let lin: Vec<Variable> = (0..d)
            .map(|_| vars.add(variable().min(-c).max(c)))
            .collect();
        let v: Vec<Vec<Variable>> = (0..b)
            .map(|_| {
                (0..d)
                    .map(|_| vars.add(variable().min(-c).max(c)))
                    .collect()
            })
            .collect();
        let gam: Vec<Variable> = (0..b)
            .map(|_| vars.add(variable().min(-c).max(c)))
            .collect();
        let sig: Vec<Variable> = (0..b).map(|_| vars.add(variable().binary())).collect();
        let hit: Vec<Variable> = (0..n).map(|_| vars.add(variable().binary())).collect();
        Self {
            a,
            lin,
            v,
            gam,
            sig,
            hit,
        }
    }

    /// The constraints of one point `x` with label `y`: `h`, `g` and `δ` per kept unit (new
    /// variables), and `y f(x) ≥ 1` when `hit` is 1.
    fn classify(
        &self,
        vars: &mut ProblemVariables,
        cons: &mut Vec<Constraint>,
        x: &[f64],
        y: i8,
        hit: Variable,
    ) {
        let (c, b) = (COEFF_BOX, self.sig.len());
        let l1: f64 = x.iter().map(|v| v.abs()).sum();
        let m = c * (l1 + 1.0);
        let mut f: Expression = Expression::from(self.a);
        for (&xk, &l) in x.iter().zip(&self.lin) {
            f += xk * l;
        }
        for j in 0..b {
            let mut z: Expression = Expression::from(self.gam[j]);
            for (&xk, &vk) in x.iter().zip(&self.v[j]) {
                z += xk * vk;
            }
            let h = vars.add(variable().min(0.0).max(m));
            let g = vars.add(variable().min(-m).max(m));
            let dl = vars.add(variable().binary());
            let sig = self.sig[j];
            cons.push(constraint!(h >= z.clone()));
            cons.push(constraint!(h <= z + m - m * dl));
            cons.push(constraint!(h <= m * dl));
            cons.push(constraint!(g - h <= 2.0 * m - 2.0 * m * sig));
            cons.push(constraint!(h - g <= 2.0 * m - 2.0 * m * sig));
            cons.push(constraint!(g + h <= 2.0 * m * sig));
            cons.push(constraint!(-g - h <= 2.0 * m * sig));
            f += g;
        }
        let mf = c * (l1 + 1.0) + b as f64 * m + 1.0;
        let y = f64::from(y);
        cons.push(constraint!(y * f >= 1.0 - mf + mf * hit));
    }

    /// The solver's network in exact rationals.
    fn witness(&self, sol: &impl Solution) -> DimWitness {
        DimWitness {
            a: q(sol.value(self.a)),
            b: self.lin.iter().map(|&l| q(sol.value(l))).collect(),
            units: (0..self.sig.len())
                .map(|j| {
                    (
                        self.v[j].iter().map(|&x| q(sol.value(x))).collect(),
                        q(sol.value(self.gam[j])),
                        if sol.value(self.sig[j]) > 0.5 {
                            BigRational::from_integer(1.into())
                        } else {
                            BigRational::from_integer((-1).into())
                        },
                    )
                })
                .collect(),
        }
    }

    /// `(best, found, status)` of a solution: its witness re-checked exactly on `p`.
    fn judge(&self, sol: &impl Solution, p: &Points) -> (Option<usize>, usize, String) {
        let w = self.witness(sol);
        let claimed = self.hit.iter().filter(|&&h| sol.value(h) > 0.5).count();
        let found = w.classified(p);
        let optimal = matches!(sol.status(), SolutionStatus::Optimal);
        if found < claimed {
            // the solver's network does not do what the solver says: not an optimum
            (
                None,
                found,
                format!("witness failed the exact re-check ({found} < {claimed})"),
            )
        } else {
            (
                optimal.then_some(claimed),
                found,
                format!("{:?}", sol.status()).to_lowercase(),
            )
        }
    }
}

/// Deterministic pseudo-random numbers in `[0, 1)` ([`SeededRng`](crate::rng::SeededRng)).
fn uniform(seed: u64) -> impl FnMut() -> f64 {
    let mut s = crate::rng::SeededRng::new(seed);
    move || s.next_f64()
}

/// A 4×4 checkerboard on `[−1, 1]²`: `n` uniform points, label `+1` on the white squares.
pub fn checkerboard(n: usize, seed: u64) -> Points {
    let mut r = uniform(seed);
    let mut p = Points {
        x: Vec::new(),
        y: Vec::new(),
    };
    for _ in 0..n {
        let (u, v) = (2.0 * r() - 1.0, 2.0 * r() - 1.0);
        let cell = ((u + 1.0) * 2.0).floor() as i64 + ((v + 1.0) * 2.0).floor() as i64;
        p.x.push(vec![u, v]);
        p.y.push(if cell % 2 == 0 { 1 } else { -1 });
    }
    p
}

/// Two interleaved half circles ("two moons"), `n` points with a little noise, in about
/// `[−1, 1]²`.
pub fn moons(n: usize, seed: u64) -> Points {
    let mut r = uniform(seed);
    let mut p = Points {
        x: Vec::new(),
        y: Vec::new(),
    };
    for i in 0..n {
        let t = std::f64::consts::PI * r();
        let (nx, ny) = (0.1 * (r() - 0.5), 0.1 * (r() - 0.5));
        if i % 2 == 0 {
            p.x.push(vec![
                (t.cos() - 0.5) * 0.66 + nx,
                (t.sin() - 0.25) * 0.66 + ny,
            ]);
            p.y.push(1);
        } else {
            p.x.push(vec![
                (1.0 - t.cos() - 0.5) * 0.66 + nx,
                (0.5 - t.sin() - 0.25) * 0.66 + ny,
            ]);
            p.y.push(-1);
        }
    }
    p
}

/// Two concentric rings (radii 0.4 and 0.9, noise ±0.05), `n` points alternating.
pub fn rings(n: usize, seed: u64) -> Points {
    let mut r = uniform(seed);
    let mut p = Points {
        x: Vec::new(),
        y: Vec::new(),
    };
    for i in 0..n {
        let t = 2.0 * std::f64::consts::PI * r();
        let rad = if i % 2 == 0 { 0.4 } else { 0.9 } + 0.1 * (r() - 0.5);
        p.x.push(vec![rad * t.cos(), rad * t.sin()]);
        p.y.push(if i % 2 == 0 { 1 } else { -1 });
    }
    p
}

/// The first two principal components of `inputs` (rows), scaled into `[−1, 1]²` (largest
/// absolute coordinate 1), with labels.
pub fn pca2(inputs: &[Vec<f64>], labels: Vec<i8>) -> Points {
    use nalgebra::DMatrix;
    let n = inputs.len();
    let d = inputs.first().map_or(0, Vec::len);
    let mut m = DMatrix::from_fn(n, d, |i, j| inputs[i][j]);
    for j in 0..d {
        let mean = m.column(j).mean();
        m.column_mut(j).add_scalar_mut(-mean);
    }
    let svd = m.clone().svd(false, true);
    let vt = svd.v_t.expect("v_t requested");
    // singular values are not sorted by nalgebra in every version: pick the top two
    let mut order: Vec<usize> = (0..svd.singular_values.len()).collect();
    order.sort_by(|&a, &b| svd.singular_values[b].total_cmp(&svd.singular_values[a]));
    let mut x: Vec<Vec<f64>> = (0..n)
        .map(|i| {
            order[..2]
                .iter()
                .map(|&k| m.row(i).dot(&vt.row(k)))
                .collect()
        })
        .collect();
    let scale = x
        .iter()
        .flatten()
        .fold(0.0f64, |s, v| s.max(v.abs()))
        .max(f64::MIN_POSITIVE);
    for row in &mut x {
        for v in row.iter_mut() {
            *v /= scale;
        }
    }
    Points { x, y: labels }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// XOR on four points: a line classifies 3; one kept ReLU plus the linear term classifies
    /// all 4 (`|s| − 1 = 2 relu(s) − s − 1` with `s = x_1 + x_2`); optimal and re-checked.
    #[test]
    fn xor_needs_one_kept_relu() {
        let p = Points {
            x: vec![
                vec![1.0, 1.0],
                vec![-1.0, -1.0],
                vec![1.0, -1.0],
                vec![-1.0, 1.0],
            ],
            y: vec![1, 1, -1, -1],
        };
        let r0 = max_classified(&p, 0, 30.0);
        assert_eq!((r0.best, r0.found), (Some(3), 3), "{r0:?}");
        let r1 = max_classified(&p, 1, 30.0);
        assert_eq!((r1.best, r1.found), (Some(4), 4), "{r1:?}");
    }

    #[test]
    fn datasets_are_deterministic_and_balanced() {
        for p in [checkerboard(20, 1), moons(20, 1), rings(20, 1)] {
            assert_eq!(p.x.len(), 20);
            let pos = p.y.iter().filter(|&&y| y > 0).count();
            assert!((5..=15).contains(&pos), "{pos}");
        }
        assert_eq!(moons(10, 3), moons(10, 3));
    }

    #[test]
    fn points_round_trip_through_a_samples_file() {
        let p = rings(6, 2);
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("rings.safetensors");
        p.to_samples("rings").save(&path).unwrap();
        let s = crate::io::samples::Samples::load(&path).unwrap();
        assert_eq!((s.shape.clone(), s.len()), (vec![2, 1, 1], 6));
        for (i, (x, &y)) in p.x.iter().zip(&p.y).enumerate() {
            assert_eq!(s.input(i), x.as_slice(), "exact f64 values");
            assert_eq!(s.labels[i], usize::from(y > 0));
        }
        assert_eq!(s.info["data"], "rings");
    }
}
