//! Exact linear-region counting for small masked networks.
//!
//! A *cell* is the set of inputs in a box where the kept ReLUs have one activation pattern
//! (a kept unit is *active* when its pre-activation is `≥ 0`). On a cell every kept ReLU
//! acts as the identity or as zero and linearized units are the identity, so the network is
//! affine there and each cell is a convex polyhedron. The *region count* is the number of
//! cells with non-empty interior (full-dimensional); T1 bounds it
//! ([`crate::expressiveness`]). In one dimension the *pieces* of `f` on an interval are the
//! maximal intervals on which `f` is affine: adjacent cells with the same affine map merge,
//! so pieces ≤ cells.
//!
//! The enumeration walks the network's dense form ([`Network::to_dense`]) node by node,
//! keeping every value as an affine function of the input **in exact rational arithmetic**:
//! each f64 weight and bias of the dense form is converted to the rational it denotes
//! (`BigRational::from_float`, exact), so every decision below is about the network the IR
//! holds, with no tolerance. (Convolutions, batch norms and poolings are lowered to dense
//! matrices by `to_dense` in f64 first; dense / relu / add networks are taken as stored.)
//! At each kept unit with pre-activation `a·x + c` the walk branches on active
//! (`a·x + c > 0` on the interior) and inactive (`< 0`), and keeps a branch only if the cell
//! still has an interior point. A pre-activation whose row `a` is exactly zero is constant
//! on the cell and takes only the branch the sign of `c` gives (active when `c = 0`: both
//! branches would be the same function).
//!
//! Interior tests ([`Oracle`]): the open cell `{x : lo < x < hi, a_r·x + c_r > 0 ∀r}` is
//! non-empty iff the closed cell has an interior point (every `a_r ≠ 0`). [`Oracle::Interval`]
//! (`d = 1`) intersects the open intervals exactly; [`Oracle::Elimination`] (any `d`) decides
//! the strict system exactly by Fourier–Motzkin elimination (a positive combination of
//! strict inequalities is strict, so eliminating `x_v` between every lower and upper bound
//! is exact), ending in the exact interval test on `x_0`. [`Oracle::Lp`] is a
//! floating-point test (the LP `max s` with `a_r·x + c_r ≥ s‖a_r‖` and `lo + s ≤ x ≤ hi − s`,
//! microlp; interior iff `s > Tolerance::Interior · max(1, box width)`), kept only as an
//! independent cross-check: it is not exact. Limits: `d ≤` [`MAX_INPUT_DIM`] and at most
//! [`MAX_KEPT`] kept units for the polyhedral oracles; the number of tests is at most twice
//! the number of kept units times the number of cells.
use nalgebra::{DMatrix, DVector};
use num_bigint::BigInt;
use num_rational::BigRational;
use num_traits::{Signed, ToPrimitive, Zero};

#[cfg(feature = "lp")]
use crate::tolerance::Tolerance;
use crate::{numel, Affine, Error, Layer, Network, Result, ValueId};

/// The largest input dimension [`count_regions`] accepts.
pub const MAX_INPUT_DIM: usize = 3;
/// The most kept units [`count_regions`] accepts with a polyhedral oracle (`d ≥ 2`).
pub const MAX_KEPT: usize = 24;

/// An exact rational.
pub type Q = BigRational;

/// How cells are tested for an interior point.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Oracle {
    /// Exact interval intersection (`d = 1` only).
    Interval,
    /// Exact Fourier–Motzkin elimination of the strict system (any `d ≤ MAX_INPUT_DIM`).
    Elimination,
    /// A floating-point LP per test: a cross-check, not exact.
    #[cfg(feature = "lp")]
    Lp,
}

/// An affine function of the input in exact rationals: `y = weight · x + bias`, `weight`
/// row-major `(outputs, d)`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExactAffine {
    /// One row of `d` coefficients per output.
    pub weight: Vec<Vec<Q>>,
    /// One constant per output.
    pub bias: Vec<Q>,
}

impl ExactAffine {
    fn identity(d: usize) -> Self {
        Self {
            weight: (0..d)
                .map(|i| (0..d).map(|j| rat_int((i == j) as i64)).collect())
                .collect(),
            bias: vec![Q::zero(); d],
        }
    }

    /// The nearest f64 matrices.
    pub fn to_f64(&self) -> (DMatrix<f64>, DVector<f64>) {
        let rows = self.weight.len();
        let d = self.weight.first().map_or(0, Vec::len);
        (
            DMatrix::from_fn(rows, d, |i, j| to_f64(&self.weight[i][j])),
            DVector::from_iterator(rows, self.bias.iter().map(to_f64)),
        )
    }
}

fn rat_int(v: i64) -> Q {
    Q::from_integer(v.into())
}

/// The rational an f64 denotes, exactly; `None` for NaN and infinities.
pub fn exact(v: f64) -> Option<Q> {
    Q::from_float(v)
}

fn to_f64(q: &Q) -> f64 {
    q.to_f64().unwrap_or(f64::NAN)
}

/// One full-dimensional cell.
#[derive(Clone, Debug, PartialEq)]
pub struct Cell {
    /// Active flag per kept unit, in node order.
    pub pattern: Vec<bool>,
    /// The network's output on the cell: `y = weight · x + bias` (nearest f64 of `exact`).
    pub weight: DMatrix<f64>,
    /// See `weight`.
    pub bias: DVector<f64>,
    /// The output map on the cell, exactly.
    pub exact: ExactAffine,
    /// For `d = 1`: the cell's interval `[lo, hi]` (nearest f64 of `exact_interval`).
    pub interval: Option<(f64, f64)>,
    /// For `d = 1`: the cell's interval, exactly.
    pub exact_interval: Option<(Q, Q)>,
}

/// The result of [`count_regions`].
#[derive(Clone, Debug, PartialEq)]
pub struct RegionCount {
    /// The full-dimensional cells.
    pub cells: Vec<Cell>,
    /// Interior tests made.
    pub tests: usize,
}

/// Pieces of a 1-D network on an interval.
#[derive(Clone, Debug, PartialEq)]
pub struct Pieces1d {
    /// Interior breakpoints where the affine map changes, increasing (nearest f64).
    pub breakpoints: Vec<f64>,
    /// The same breakpoints, exactly.
    pub exact_breakpoints: Vec<Q>,
    /// Number of maximal affine pieces (`breakpoints.len() + 1`).
    pub pieces: usize,
    /// Number of cells (≥ pieces).
    pub cells: usize,
}

/// A strict half-space `a·x + c > 0`.
type Strict = (Vec<Q>, Q);

/// The dense nodes' weights in exact rationals (`None` for relu and add nodes).
type ExactNodes = Vec<Option<(Vec<Vec<Q>>, Vec<Q>)>>;

struct Walk<'a> {
    net: &'a Network,
    exact_nodes: ExactNodes,
    lo: Vec<Q>,
    hi: Vec<Q>,
    oracle: Oracle,
    tests: usize,
    cells: Vec<Cell>,
    cons: Vec<Strict>,
    pattern: Vec<bool>,
}

/// The open interval `{x : lo < x < hi, a x + c > 0 ∀(a, c)}` (1-D constraints; zero `a`
/// never occurs here).
fn interval_1d<'c>(lo: &Q, hi: &Q, cons: impl IntoIterator<Item = &'c Strict>) -> (Q, Q) {
    let (mut l, mut u) = (lo.clone(), hi.clone());
    for (a, c) in cons {
        let a = &a[0];
        if a.is_zero() {
            if !c.is_positive() {
                return (rat_int(1), rat_int(0));
            }
            continue;
        }
        let t = -c / a;
        if a.is_positive() {
            if t > l {
                l = t;
            }
        } else if t < u {
            u = t;
        }
    }
    (l, u)
}

/// Whether the strict system `a·x + c > 0` (box included as constraints) has a solution,
/// exactly, by Fourier–Motzkin elimination of `x_{d−1}, …, x_1` and an interval test on
/// `x_0`. Each constraint is scaled to integers first; eliminating `x_v` between a lower and
/// an upper bound is the integer combination `|a_n[v]|·p + a_p[v]·n` (positive multipliers,
/// so strictness is kept), divided by the gcd of its entries.
pub fn strict_system_feasible(cons: &[Strict], d: usize) -> bool {
    let mut cur: Vec<IntCon> = Vec::with_capacity(cons.len());
    for (a, c) in cons {
        if a.iter().all(Zero::is_zero) {
            if !c.is_positive() {
                return false;
            }
        } else {
            cur.push(to_integer(a, c));
        }
    }
    for v in (1..d).rev() {
        let (mut pos, mut neg, mut next) = (Vec::new(), Vec::new(), Vec::new());
        for (a, c) in cur {
            if a[v].is_positive() {
                pos.push((a, c));
            } else if a[v].is_negative() {
                neg.push((a, c));
            } else {
                next.push((a, c));
            }
        }
        for (ap, cp) in &pos {
            for (an, cn) in &neg {
                let sp = &ap[v];
                let sn = -&an[v];
                let a: Vec<BigInt> = ap.iter().zip(an).map(|(x, y)| x * &sn + y * sp).collect();
                let c = cp * &sn + cn * sp;
                if a.iter().all(Zero::is_zero) {
                    if !c.is_positive() {
                        return false;
                    }
                } else {
                    next.push(reduce(a, c));
                }
            }
        }
        next.sort();
        // of two constraints with the same `a`, the one with the smaller `c` implies the other
        next.dedup_by(|later, earlier| later.0 == earlier.0);
        cur = next;
    }
    // 1-D: x_0 > −c/a for a > 0, x_0 < −c/a for a < 0; fractions compared by cross products
    // with positive denominators
    let mut lower: Option<(BigInt, BigInt)> = None;
    let mut upper: Option<(BigInt, BigInt)> = None;
    for (a, c) in &cur {
        let (num, den) = if a[0].is_positive() {
            (-c, a[0].clone())
        } else {
            (c.clone(), -&a[0])
        };
        let cmp = |o: &(BigInt, BigInt)| (&num * &o.1).cmp(&(&o.0 * &den));
        if a[0].is_positive() {
            if lower.as_ref().is_none_or(|o| cmp(o).is_gt()) {
                lower = Some((num, den));
            }
        } else if upper.as_ref().is_none_or(|o| cmp(o).is_lt()) {
            upper = Some((num, den));
        }
    }
    match (lower, upper) {
        (Some((ln, ld)), Some((un, ud))) => ln * ud < un * ld,
        _ => true,
    }
}

/// A strict constraint with integer coefficients.
type IntCon = (Vec<BigInt>, BigInt);

fn gcd(a: &BigInt, b: &BigInt) -> BigInt {
    let (mut x, mut y) = (a.abs(), b.abs());
    while !y.is_zero() {
        let r = &x % &y;
        x = y;
        y = r;
    }
    x
}

/// `a·x + c > 0` times the least common multiple of its denominators, then [`reduce`]d.
fn to_integer(a: &[Q], c: &Q) -> IntCon {
    let mut l = BigInt::from(1);
    for x in a.iter().chain(std::iter::once(c)) {
        let g = gcd(&l, x.denom());
        l = &l / g * x.denom();
    }
    let conv = |x: &Q| x.numer() * (&l / x.denom());
    reduce(a.iter().map(conv).collect(), conv(c))
}

/// Divides the constraint by the (positive) gcd of its entries.
fn reduce(a: Vec<BigInt>, c: BigInt) -> IntCon {
    let mut g = c.abs();
    for x in &a {
        if g == BigInt::from(1) {
            break;
        }
        g = gcd(&g, x);
    }
    if g.is_zero() || g == BigInt::from(1) {
        return (a, c);
    }
    (a.iter().map(|x| x / &g).collect(), c / &g)
}

impl Walk<'_> {
    fn box_constraints(&self) -> Vec<Strict> {
        let d = self.lo.len();
        let mut out = Vec::with_capacity(2 * d);
        for i in 0..d {
            let e = |s: i64| {
                (0..d)
                    .map(|j| rat_int(if i == j { s } else { 0 }))
                    .collect()
            };
            out.push((e(1), -self.lo[i].clone()));
            out.push((e(-1), self.hi[i].clone()));
        }
        out
    }

    fn has_interior(&mut self) -> bool {
        self.tests += 1;
        match self.oracle {
            Oracle::Interval => {
                let (l, u) = interval_1d(&self.lo[0], &self.hi[0], &self.cons);
                l < u
            }
            Oracle::Elimination => {
                let mut all = self.box_constraints();
                all.extend(self.cons.iter().cloned());
                strict_system_feasible(&all, self.lo.len())
            }
            #[cfg(feature = "lp")]
            Oracle::Lp => {
                let lo: Vec<f64> = self.lo.iter().map(to_f64).collect();
                let hi: Vec<f64> = self.hi.iter().map(to_f64).collect();
                let width = lo.iter().zip(&hi).map(|(l, h)| h - l).fold(1.0, f64::max);
                let cons: Vec<(DVector<f64>, f64)> = self
                    .cons
                    .iter()
                    .map(|(a, c)| {
                        // scale-free: divide by the largest |a_i| before rounding
                        let m = a
                            .iter()
                            .map(|x| x.abs())
                            .max()
                            .unwrap_or_else(|| rat_int(1));
                        (
                            DVector::from_iterator(a.len(), a.iter().map(|x| to_f64(&(x / &m)))),
                            to_f64(&(c / &m)),
                        )
                    })
                    .collect();
                let (tol, _) = Tolerance::Interior.atol_rtol();
                lp_interior(&lo, &hi, &cons) > tol * width
            }
        }
    }

    fn node(&mut self, k: usize, values: &mut Vec<ExactAffine>) {
        if k == self.net.nodes.len() {
            let out = values.last().expect("output value").clone();
            let exact_interval =
                (self.lo.len() == 1).then(|| interval_1d(&self.lo[0], &self.hi[0], &self.cons));
            let (weight, bias) = out.to_f64();
            self.cells.push(Cell {
                pattern: self.pattern.clone(),
                weight,
                bias,
                exact: out,
                interval: exact_interval.as_ref().map(|(l, u)| (to_f64(l), to_f64(u))),
                exact_interval,
            });
            return;
        }
        let node = &self.net.nodes[k];
        match &node.layer {
            Layer::Dense(_) => {
                let (w, b) = self.exact_nodes[k].as_ref().expect("dense node converted");
                let x = &values[node.inputs[0]];
                let d = self.lo.len();
                let mut weight = Vec::with_capacity(w.len());
                let mut bias = Vec::with_capacity(w.len());
                for (row, bi) in w.iter().zip(b) {
                    let mut acc = vec![Q::zero(); d];
                    let mut c = bi.clone();
                    for (j, wij) in row.iter().enumerate() {
                        if wij.is_zero() {
                            continue;
                        }
                        for (t, xj) in acc.iter_mut().zip(&x.weight[j]) {
                            *t += wij * xj;
                        }
                        c += wij * &x.bias[j];
                    }
                    weight.push(acc);
                    bias.push(c);
                }
                values.push(ExactAffine { weight, bias });
                self.node(k + 1, values);
                values.pop();
            }
            Layer::Add => {
                let (x, y) = (&values[node.inputs[0]], &values[node.inputs[1]]);
                let v = ExactAffine {
                    weight: x
                        .weight
                        .iter()
                        .zip(&y.weight)
                        .map(|(r, s)| r.iter().zip(s).map(|(a, b)| a + b).collect())
                        .collect(),
                    bias: x.bias.iter().zip(&y.bias).map(|(a, b)| a + b).collect(),
                };
                values.push(v);
                self.node(k + 1, values);
                values.pop();
            }
            Layer::Relu(mask) => {
                let work = values[node.inputs[0]].clone();
                self.relu_unit(k, 0, mask, work, values);
            }
            _ => unreachable!("to_dense leaves only dense, relu and add nodes"),
        }
    }

    fn relu_unit(
        &mut self,
        k: usize,
        u: usize,
        mask: &crate::ReluMask,
        mut work: ExactAffine,
        values: &mut Vec<ExactAffine>,
    ) {
        if u == mask.len() {
            values.push(work);
            self.node(k + 1, values);
            values.pop();
            return;
        }
        if !mask.is_kept(u) {
            return self.relu_unit(k, u + 1, mask, work, values);
        }
        let row = work.weight[u].clone();
        let c = work.bias[u].clone();
        let zero_out = |w: &mut ExactAffine| {
            w.weight[u].iter_mut().for_each(|x| *x = Q::zero());
            w.bias[u] = Q::zero();
        };
        if row.iter().all(Zero::is_zero) {
            // exactly constant on the cell: one branch
            let active = !c.is_negative();
            if !active {
                zero_out(&mut work);
            }
            self.pattern.push(active);
            self.relu_unit(k, u + 1, mask, work, values);
            self.pattern.pop();
            return;
        }
        for active in [true, false] {
            let con = if active {
                (row.clone(), c.clone())
            } else {
                (row.iter().map(|x| -x).collect(), -c.clone())
            };
            self.cons.push(con);
            if self.has_interior() {
                let mut next = work.clone();
                if !active {
                    zero_out(&mut next);
                }
                self.pattern.push(active);
                self.relu_unit(k, u + 1, mask, next, values);
                self.pattern.pop();
            }
            self.cons.pop();
        }
    }
}

#[cfg(feature = "lp")]
fn lp_interior(lo: &[f64], hi: &[f64], cons: &[(DVector<f64>, f64)]) -> f64 {
    use good_lp::Solution;
    use good_lp::{constraint, microlp, variable, Expression, ProblemVariables, SolverModel};
    let mut vars = ProblemVariables::new();
    let s = vars.add(variable().min(-1.0).max(1.0));
    let x: Vec<_> = (0..lo.len())
        .map(|i| vars.add(variable().min(lo[i] - 1.0).max(hi[i] + 1.0)))
        .collect();
    let mut model = vars.maximise(s).using(microlp);
    for i in 0..lo.len() {
        model.add_constraint(constraint!(x[i] - s >= lo[i]));
        model.add_constraint(constraint!(x[i] + s <= hi[i]));
    }
    for (a, c) in cons {
        let norm = a.norm();
        let mut e = Expression::from(*c);
        for (i, &xi) in x.iter().enumerate() {
            e += a[i] * xi;
        }
        model.add_constraint(constraint!(e - norm * s >= 0.0));
    }
    match model.solve() {
        Ok(sol) => sol.value(s),
        Err(_) => f64::NEG_INFINITY,
    }
}

fn exact_nodes(dense: &Network) -> Result<ExactNodes> {
    let conv = |v: f64, node: usize| {
        exact(v).ok_or_else(|| Error::InvalidNode {
            node,
            reason: format!("non-finite parameter {v}"),
        })
    };
    let mut out = Vec::with_capacity(dense.nodes.len());
    for (k, node) in dense.nodes.iter().enumerate() {
        out.push(match &node.layer {
            Layer::Dense(a) => {
                let mut w = Vec::with_capacity(a.weight.nrows());
                for i in 0..a.weight.nrows() {
                    w.push(
                        (0..a.weight.ncols())
                            .map(|j| conv(a.weight[(i, j)], k))
                            .collect::<Result<Vec<Q>>>()?,
                    );
                }
                let b = a
                    .bias
                    .iter()
                    .map(|&v| conv(v, k))
                    .collect::<Result<Vec<Q>>>()?;
                Some((w, b))
            }
            _ => None,
        });
    }
    Ok(out)
}

/// The full-dimensional activation cells of `net` on the box `[lo, hi]` (one entry per input
/// value), using `oracle` to test cells for interior points.
pub fn count_regions(net: &Network, lo: &[f64], hi: &[f64], oracle: Oracle) -> Result<RegionCount> {
    let dense = net.to_dense()?;
    let d = dense.input_shape[0];
    if lo.len() != d || hi.len() != d {
        return Err(Error::InputLength {
            expected: d,
            got: lo.len().min(hi.len()),
            shape: net.input_shape.clone(),
        });
    }
    if d > MAX_INPUT_DIM {
        return Err(Error::TooLarge {
            what: "region enumeration (input dimension)",
            entries: d,
            limit: MAX_INPUT_DIM,
        });
    }
    let kept = dense.relu_counts()?.kept;
    // On a line (interval oracle) every test is cheap and the cells along it are what they
    // are; the cap guards the polyhedral enumeration in 2-D and 3-D.
    if kept > MAX_KEPT && oracle != Oracle::Interval {
        return Err(Error::TooLarge {
            what: "region enumeration (kept ReLUs)",
            entries: kept,
            limit: MAX_KEPT,
        });
    }
    if oracle == Oracle::Interval && d != 1 {
        return Err(Error::InvalidNode {
            node: 0,
            reason: "the interval oracle needs a 1-D input".into(),
        });
    }
    let bound = |v: &[f64]| {
        v.iter()
            .map(|&x| {
                exact(x).ok_or_else(|| Error::InvalidNode {
                    node: 0,
                    reason: format!("non-finite box bound {x}"),
                })
            })
            .collect::<Result<Vec<Q>>>()
    };
    let mut walk = Walk {
        net: &dense,
        exact_nodes: exact_nodes(&dense)?,
        lo: bound(lo)?,
        hi: bound(hi)?,
        oracle,
        tests: 0,
        cells: Vec::new(),
        cons: Vec::new(),
        pattern: Vec::new(),
    };
    let mut values = vec![ExactAffine::identity(d)];
    walk.node(0, &mut values);
    Ok(RegionCount {
        cells: walk.cells,
        tests: walk.tests,
    })
}

/// The network restricted to the segment from `from` to `to` (flattened inputs):
/// `t ↦ net(from + t (to − from))` on inputs `[t]`, to count pieces along a line of a model
/// whose input is too large for [`count_regions`] (use `t ∈ [0, 1]`).
pub fn restrict_to_segment(net: &Network, from: &[f64], to: &[f64]) -> Result<Network> {
    let d = numel(&net.input_shape);
    if from.len() != d || to.len() != d {
        return Err(Error::InputLength {
            expected: d,
            got: if from.len() != d {
                from.len()
            } else {
                to.len()
            },
            shape: net.input_shape.clone(),
        });
    }
    net.validate()?;
    let dir: Vec<f64> = to.iter().zip(from).map(|(b, a)| b - a).collect();
    let mut out = Network::new(vec![1]);
    out.push(Layer::Dense(Affine::new(
        DMatrix::from_column_slice(d, 1, &dir),
        DVector::from_column_slice(from),
    )));
    if net.input_shape.len() != 1 {
        out.push(Layer::Reshape {
            shape: net.input_shape.clone(),
        });
    }
    let shift = out.nodes.len();
    for node in &net.nodes {
        let inputs = node
            .inputs
            .iter()
            .map(|&v| ValueId::from_index(v.index() + shift))
            .collect();
        out.push_with(node.layer.clone(), inputs);
    }
    Ok(out)
}

/// The exact pieces of a network with one input on `[lo, hi]`: the cells in order, adjacent
/// cells merged when their affine maps are exactly equal (rational comparison, no tolerance).
pub fn pieces_1d(net: &Network, lo: f64, hi: f64) -> Result<Pieces1d> {
    let rc = count_regions(net, &[lo], &[hi], Oracle::Interval)?;
    let mut cells = rc.cells;
    let left = |c: &Cell| c.exact_interval.clone().expect("1-D").0;
    cells.sort_by_key(left);
    let mut exact_breakpoints = Vec::new();
    for w in cells.windows(2) {
        if w[0].exact != w[1].exact {
            exact_breakpoints.push(left(&w[1]));
        }
    }
    Ok(Pieces1d {
        pieces: exact_breakpoints.len() + 1,
        breakpoints: exact_breakpoints.iter().map(to_f64).collect(),
        exact_breakpoints,
        cells: cells.len(),
    })
}

/// The activation pattern of the kept units at input `x` (the reference the enumeration is
/// tested against).
pub fn pattern_at(net: &Network, x: &[f64]) -> Result<Vec<bool>> {
    let dense = net.to_dense()?;
    let values = dense.forward_values(x)?;
    let mut pattern = Vec::new();
    for node in &dense.nodes {
        if let Layer::Relu(mask) = &node.layer {
            let pre = &values[node.inputs[0]];
            for (u, &p) in pre.iter().enumerate() {
                if mask.is_kept(u) {
                    pattern.push(p >= 0.0);
                }
            }
        }
    }
    Ok(pattern)
}

/// Telgarsky's sawtooth: `L` layers of the tent map `t(x) = 2 relu(x) − 4 relu(x − 1/2)`,
/// two kept ReLUs each; `2^L` pieces on `[0, 1]`.
pub fn sawtooth(layers: usize) -> Network {
    let mut net = Network::new(vec![1]);
    for _ in 0..layers {
        net.push(Layer::Dense(crate::Affine::new(
            DMatrix::from_column_slice(2, 1, &[1.0, 1.0]),
            DVector::from_column_slice(&[0.0, -0.5]),
        )));
        net.push(Layer::Relu(crate::ReluMask::all_kept(2)));
        net.push(Layer::Dense(crate::Affine::new(
            DMatrix::from_row_slice(1, 2, &[2.0, -4.0]),
            DVector::zeros(1),
        )));
    }
    net
}

/// `L` layers of the three-piece zigzag `z(x) = 3x − 6 relu(x − 1/3) + 6 relu(x − 2/3)`, each
/// a layer of three units of which two keep their ReLU and one is linearized (it carries
/// `3x`): `3^L` pieces on `[0, 1]`, exactly T1's `Π (B_l + 1)` with `B_l = 2`.
pub fn zigzag_with_linearized_unit(layers: usize) -> Network {
    let mut net = Network::new(vec![1]);
    for _ in 0..layers {
        net.push(Layer::Dense(crate::Affine::new(
            DMatrix::from_column_slice(3, 1, &[1.0, 1.0, 1.0]),
            DVector::from_column_slice(&[0.0, -1.0 / 3.0, -2.0 / 3.0]),
        )));
        net.push(Layer::Relu(crate::ReluMask::from_bools(&[
            false, true, true,
        ])));
        net.push(Layer::Dense(crate::Affine::new(
            DMatrix::from_row_slice(1, 3, &[3.0, -6.0, 6.0]),
            DVector::zeros(1),
        )));
    }
    net
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::expressiveness::{layered_bound, t1_bound_for};
    use crate::tolerance::Tolerance;
    use crate::{Affine, ReluMask};
    use proptest::prelude::*;

    #[test]
    fn sawtooth_has_two_to_the_l_pieces() {
        for l in 1..=6 {
            let p = pieces_1d(&sawtooth(l), 0.0, 1.0).unwrap();
            assert_eq!(p.pieces, 1 << l, "L = {l}");
            // breakpoints at k / 2^L
            for (k, b) in p.breakpoints.iter().enumerate() {
                let want = (k + 1) as f64 / (1u64 << l) as f64;
                assert!(Tolerance::Close.close(*b, want), "{b} vs {want}");
            }
        }
    }

    #[test]
    fn zigzag_reaches_the_t1_bound() {
        for l in 1..=5 {
            let net = zigzag_with_linearized_unit(l);
            let p = pieces_1d(&net, 0.0, 1.0).unwrap();
            let bound = t1_bound_for(&net, 1).unwrap().layered.exact.unwrap();
            assert_eq!(p.pieces as u128, bound, "L = {l}");
            assert_eq!(p.cells as u128, bound);
        }
    }

    /// `B` lines tangent to the unit circle (no two parallel, no three concurrent) cut a big
    /// square into `1 + B + C(B, 2)` regions: T1 with `d = 2` is reached.
    #[test]
    fn one_layer_in_general_position_reaches_the_bound_in_the_plane() {
        for b in 1..=6usize {
            let mut w = DMatrix::zeros(b, 2);
            let bias = DVector::from_element(b, -1.0);
            for j in 0..b {
                let th = std::f64::consts::PI * (j as f64 + 0.3) / b as f64;
                w[(j, 0)] = th.cos();
                w[(j, 1)] = th.sin();
            }
            let mut net = Network::new(vec![2]);
            net.push(Layer::Dense(Affine::new(w, bias)));
            net.push(Layer::Relu(ReluMask::all_kept(b)));
            let rc =
                count_regions(&net, &[-40.0, -40.0], &[40.0, 40.0], Oracle::Elimination).unwrap();
            let bound = layered_bound(&[b], 2).exact.unwrap() as usize;
            assert_eq!(rc.cells.len(), bound, "B = {b}");
            // on the line: B + 1 pieces
            let mut line = Network::new(vec![1]);
            line.push(Layer::Dense(Affine::new(
                DMatrix::from_element(b, 1, 1.0),
                DVector::from_iterator(b, (0..b).map(|j| -(j as f64))),
            )));
            line.push(Layer::Relu(ReluMask::all_kept(b)));
            line.push(Layer::Dense(Affine::new(
                DMatrix::from_element(1, b, 1.0),
                DVector::zeros(1),
            )));
            let p = pieces_1d(&line, -1.0, b as f64).unwrap();
            assert_eq!(p.pieces, b + 1);
            assert_eq!(p.breakpoints.len(), b);
        }
    }

    /// The documented size limit in practice: 20 kept units in the plane (tangent lines, one
    /// layer: 1 + 20 + 190 = 211 regions) and 20 kept units in two layers in 3-D.
    #[test]
    fn twenty_kept_units_in_the_plane() {
        let b = 20;
        let mut w = DMatrix::zeros(b, 2);
        for j in 0..b {
            let th = std::f64::consts::PI * (j as f64 + 0.3) / b as f64;
            w[(j, 0)] = th.cos();
            w[(j, 1)] = th.sin();
        }
        let mut net = Network::new(vec![2]);
        net.push(Layer::Dense(Affine::new(w, DVector::from_element(b, -1.0))));
        net.push(Layer::Relu(ReluMask::all_kept(b)));
        let t0 = std::time::Instant::now();
        let rc = count_regions(
            &net,
            &[-200.0, -200.0],
            &[200.0, 200.0],
            Oracle::Elimination,
        )
        .unwrap();
        assert_eq!(rc.cells.len(), 211);
        eprintln!(
            "20 kept units, d = 2: {} cells, {} exact interior tests, {:?}",
            rc.cells.len(),
            rc.tests,
            t0.elapsed()
        );
    }

    /// A random masked dense network: widths, weights and masks from the strategy.
    fn random_net(d: usize, spec: &[(Vec<f64>, Vec<f64>, Vec<bool>)]) -> Network {
        let mut net = Network::new(vec![d]);
        let mut width = d;
        for (w, b, keep) in spec {
            let out = b.len();
            net.push(Layer::Dense(Affine::new(
                DMatrix::from_row_slice(out, width, &w[..out * width]),
                DVector::from_column_slice(b),
            )));
            net.push(Layer::Relu(ReluMask::from_bools(keep)));
            width = out;
        }
        let head: Vec<f64> = (0..width).map(|i| 1.0 - 0.3 * i as f64).collect();
        net.push(Layer::Dense(Affine::new(
            DMatrix::from_row_slice(1, width, &head),
            DVector::zeros(1),
        )));
        net
    }

    fn layer_spec(max_in: usize) -> impl Strategy<Value = (Vec<f64>, Vec<f64>, Vec<bool>)> {
        (1usize..=4).prop_flat_map(move |out| {
            (
                proptest::collection::vec(-2.0f64..2.0, out * max_in),
                proptest::collection::vec(-1.0f64..1.0, out),
                proptest::collection::vec(any::<bool>(), out),
            )
        })
    }

    fn check(
        net: &Network,
        d: usize,
        oracle: Oracle,
        samples: &[Vec<f64>],
    ) -> std::result::Result<(), TestCaseError> {
        let lo = vec![-1.0; d];
        let hi = vec![1.0; d];
        let rc = count_regions(net, &lo, &hi, oracle).unwrap();
        let bound = t1_bound_for(net, d).unwrap();
        let n = rc.cells.len() as u128;
        prop_assert!(n >= 1);
        prop_assert!(
            n <= bound.layered.exact.unwrap(),
            "{n} cells > T1 {:?}",
            bound.layered.exact
        );
        // every sampled pattern is an enumerated cell (generic samples lie in interiors)
        for x in samples {
            let p = pattern_at(net, x).unwrap();
            prop_assert!(
                rc.cells.iter().any(|c| c.pattern == p),
                "pattern {p:?} at {x:?} missing"
            );
            // and the cell's affine map is the network there
            let cell = rc.cells.iter().find(|c| c.pattern == p).unwrap();
            let y = &cell.weight * DVector::from_column_slice(x) + &cell.bias;
            let want = net.forward(x).unwrap();
            crate::tolerance::assert_close(y.as_slice(), &want, Tolerance::Close, "cell map");
        }
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]
        #[test]
        fn one_d_counts_never_exceed_t1(
            spec in proptest::collection::vec(layer_spec(4), 1..=3),
            xs in proptest::collection::vec(-1.0f64..1.0, 8),
        ) {
            let net = random_net(1, &spec);
            let samples: Vec<Vec<f64>> = xs.iter().map(|&x| vec![x]).collect();
            check(&net, 1, Oracle::Interval, &samples)?;
            let p = pieces_1d(&net, -1.0, 1.0).unwrap();
            prop_assert!(p.pieces <= p.cells);
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]
        #[test]
        fn plane_and_space_counts_never_exceed_t1(
            d in 2usize..=3,
            spec in proptest::collection::vec(layer_spec(4), 1..=2),
            xs in proptest::collection::vec(-1.0f64..1.0, 15),
        ) {
            let net = random_net(d, &spec);
            let samples: Vec<Vec<f64>> = xs.chunks(d).filter(|c| c.len() == d).map(|c| c.to_vec()).collect();
            check(&net, d, Oracle::Elimination, &samples)?;
            // the floating-point LP (scale-free rows) finds the same cells on generic nets
            let lo = vec![-1.0; d];
            let hi = vec![1.0; d];
            let a = count_regions(&net, &lo, &hi, Oracle::Elimination).unwrap();
            let b = count_regions(&net, &lo, &hi, Oracle::Lp).unwrap();
            let pa: Vec<_> = a.cells.iter().map(|c| c.pattern.clone()).collect();
            let pb: Vec<_> = b.cells.iter().map(|c| c.pattern.clone()).collect();
            prop_assert_eq!(pa, pb);
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(100))]
        #[test]
        fn lp_oracle_agrees_with_intervals_in_one_d(
            spec in proptest::collection::vec(layer_spec(4), 1..=3),
        ) {
            let net = random_net(1, &spec);
            let a = count_regions(&net, &[-1.0], &[1.0], Oracle::Interval).unwrap();
            let b = count_regions(&net, &[-1.0], &[1.0], Oracle::Lp).unwrap();
            let e = count_regions(&net, &[-1.0], &[1.0], Oracle::Elimination).unwrap();
            let pa: Vec<_> = a.cells.iter().map(|c| c.pattern.clone()).collect();
            let pb: Vec<_> = b.cells.iter().map(|c| c.pattern.clone()).collect();
            let pe: Vec<_> = e.cells.iter().map(|c| c.pattern.clone()).collect();
            prop_assert_eq!(&pa, &pb);
            // the two exact oracles agree cell for cell, maps included
            prop_assert_eq!(&pa, &pe);
            for (x, y) in a.cells.iter().zip(&e.cells) {
                prop_assert_eq!(&x.exact, &y.exact);
            }
        }
    }

    #[test]
    fn limits_are_typed_errors() {
        let net = Network::new(vec![4]);
        assert!(matches!(
            count_regions(&net, &[0.0; 4], &[1.0; 4], Oracle::Elimination),
            Err(Error::TooLarge { .. })
        ));
    }

    #[test]
    fn segment_restriction_counts_pieces_of_a_two_input_net_along_a_line() {
        // f(x, y) = relu(x) + relu(y) − relu(x + y − 1) on the segment (−1, −1) → (2, 2):
        // x = y = 3t − 1, breakpoints where x = 0 (t = 1/3) and x + y = 1 (t = 1/2)
        let mut net = Network::new(vec![2]);
        net.push(Layer::Dense(Affine::new(
            DMatrix::from_row_slice(3, 2, &[1.0, 0.0, 0.0, 1.0, 1.0, 1.0]),
            DVector::from_vec(vec![0.0, 0.0, -1.0]),
        )));
        net.push(Layer::Relu(crate::ReluMask::all_kept(3)));
        net.push(Layer::Dense(Affine::new(
            DMatrix::from_row_slice(1, 3, &[1.0, 1.0, -1.0]),
            DVector::from_vec(vec![0.0]),
        )));
        let line = restrict_to_segment(&net, &[-1.0, -1.0], &[2.0, 2.0]).unwrap();
        for t in [0.0, 0.2, 0.45, 0.9] {
            let x = 3.0 * t - 1.0;
            assert_eq!(line.forward(&[t]).unwrap(), net.forward(&[x, x]).unwrap());
        }
        let p = pieces_1d(&line, 0.0, 1.0).unwrap();
        assert_eq!(p.pieces, 3);
        assert!(
            (p.breakpoints[0] - 1.0 / 3.0).abs() < 1e-9 && (p.breakpoints[1] - 0.5).abs() < 1e-9,
            "{:?}",
            p.breakpoints
        );
        assert!(restrict_to_segment(&net, &[0.0], &[1.0, 1.0]).is_err());
    }

    fn dense(rows: usize, cols: usize, w: &[f64], b: &[f64]) -> Layer {
        Layer::Dense(Affine::new(
            DMatrix::from_row_slice(rows, cols, w),
            DVector::from_column_slice(b),
        ))
    }

    /// A unit with input weight 1e-10 feeding a layer of weight 1e10 is a real kink at 0:
    /// two regions on [−1, 1] (an absolute tolerance would call the row constant: one).
    #[test]
    fn tiny_weights_into_a_huge_layer_give_two_regions() {
        let mut net = Network::new(vec![1]);
        net.push(dense(1, 1, &[1e-10], &[0.0]));
        net.push(Layer::Relu(ReluMask::all_kept(1)));
        net.push(dense(1, 1, &[1e10], &[0.0]));
        let rc = count_regions(&net, &[-1.0], &[1.0], Oracle::Interval).unwrap();
        assert_eq!(rc.cells.len(), 2);
        let p = pieces_1d(&net, -1.0, 1.0).unwrap();
        assert_eq!(
            (p.pieces, p.exact_breakpoints.clone()),
            (2, vec![Q::zero()])
        );
        // the same in the plane, by elimination: the line x = 0 splits the square
        let mut net2 = Network::new(vec![2]);
        net2.push(dense(1, 2, &[1e-10, 0.0], &[0.0]));
        net2.push(Layer::Relu(ReluMask::all_kept(1)));
        net2.push(dense(1, 1, &[1e10], &[0.0]));
        let rc = count_regions(&net2, &[-1.0, -1.0], &[1.0, 1.0], Oracle::Elimination).unwrap();
        assert_eq!(rc.cells.len(), 2);
        // a kink at 1e-12 is still inside [−1, 1]: two regions (relu(x − 1e-12))
        let mut near = Network::new(vec![1]);
        near.push(dense(1, 1, &[1.0], &[-1e-12]));
        near.push(Layer::Relu(ReluMask::all_kept(1)));
        let rc = count_regions(&near, &[-1.0], &[1.0], Oracle::Interval).unwrap();
        assert_eq!(rc.cells.len(), 2);
    }

    /// `f(x) = x + 1e-10·relu(x)`: slopes 1 and 1 + 1e-10 are different maps, two pieces
    /// (the old `Tolerance::Close` comparison merged them into one). And `relu(x) − relu(x)`
    /// has two cells with exactly equal maps: one piece.
    #[test]
    fn pieces_differing_by_a_tiny_relu_are_not_merged() {
        let mut net = Network::new(vec![1]);
        net.push(dense(2, 1, &[1.0, 1.0], &[0.0, 0.0]));
        net.push(Layer::Relu(ReluMask::from_bools(&[true, false])));
        net.push(dense(1, 2, &[1e-10, 1.0], &[0.0]));
        let p = pieces_1d(&net, -1.0, 1.0).unwrap();
        assert_eq!((p.cells, p.pieces), (2, 2));
        let mut cancel = Network::new(vec![1]);
        cancel.push(dense(2, 1, &[1.0, 1.0], &[0.0, 0.0]));
        cancel.push(Layer::Relu(ReluMask::all_kept(2)));
        cancel.push(dense(1, 2, &[1.0, -1.0], &[0.0]));
        let p = pieces_1d(&cancel, -1.0, 1.0).unwrap();
        assert_eq!((p.cells, p.pieces), (2, 1));
    }

    /// Fourier–Motzkin on small strict systems with known answers.
    #[test]
    fn strict_elimination_by_hand() {
        let q = |v: i64| rat_int(v);
        // x > 0, y > 0, x + y < 1: feasible (the open triangle)
        let tri = vec![
            (vec![q(1), q(0)], q(0)),
            (vec![q(0), q(1)], q(0)),
            (vec![q(-1), q(-1)], q(1)),
        ];
        assert!(strict_system_feasible(&tri, 2));
        // x > 0, y > 0, x + y < 0: infeasible
        let mut empty = tri.clone();
        empty[2] = (vec![q(-1), q(-1)], q(0));
        assert!(!strict_system_feasible(&empty, 2));
        // x + y > 1 and x + y < 1: a line pair with no room between them
        let slab = vec![(vec![q(1), q(1)], q(-1)), (vec![q(-1), q(-1)], q(1))];
        assert!(!strict_system_feasible(&slab, 2));
        // 3-D: x, y, z > 0 and x + y + z < 1e-30 (tiny but open): feasible
        let tiny = exact(1e-30).unwrap();
        let simplex = vec![
            (vec![q(1), q(0), q(0)], q(0)),
            (vec![q(0), q(1), q(0)], q(0)),
            (vec![q(0), q(0), q(1)], q(0)),
            (vec![q(-1), q(-1), q(-1)], tiny),
        ];
        assert!(strict_system_feasible(&simplex, 3));
    }

    /// Residual adds: `f(x) = x + relu(x) − 2 relu(x − 1/2)` written as `x + g(x)` with an
    /// `Add` node: kinks at 0 and 1/2, three cells and three pieces on [−1, 1], and every
    /// cell's map equal to the network at its midpoint.
    #[test]
    fn regions_through_a_residual_add() {
        let mut net = Network::new(vec![1]);
        net.push(dense(2, 1, &[1.0, 1.0], &[0.0, -0.5]));
        net.push(Layer::Relu(ReluMask::all_kept(2)));
        let g = net.push(dense(1, 2, &[1.0, -2.0], &[0.0]));
        net.push_with(Layer::Add, vec![g, ValueId::INPUT]);
        let p = pieces_1d(&net, -1.0, 1.0).unwrap();
        assert_eq!((p.cells, p.pieces), (3, 3));
        assert_eq!(
            p.exact_breakpoints,
            vec![Q::zero(), Q::new(1.into(), 2.into())]
        );
        let rc = count_regions(&net, &[-1.0], &[1.0], Oracle::Interval).unwrap();
        for c in &rc.cells {
            let (l, u) = c.interval.unwrap();
            let m = 0.5 * (l + u);
            let y = c.weight[(0, 0)] * m + c.bias[0];
            assert_eq!(y, net.forward(&[m]).unwrap()[0]);
        }
        // residual in the plane: x + relu(y) + relu(x − y) has lines y = 0 and x = y: 4
        let mut plane = Network::new(vec![2]);
        plane.push(dense(2, 2, &[0.0, 1.0, 1.0, -1.0], &[0.0, 0.0]));
        plane.push(Layer::Relu(ReluMask::all_kept(2)));
        let h = plane.push(dense(2, 2, &[1.0, 0.0, 0.0, 1.0], &[0.0, 0.0]));
        plane.push_with(Layer::Add, vec![h, ValueId::INPUT]);
        let rc = count_regions(&plane, &[-1.0, -1.0], &[1.0, 1.0], Oracle::Elimination).unwrap();
        assert_eq!(rc.cells.len(), 4);
    }

    /// Parallel branches: two ReLU layers that both read the input (an antichain of units),
    /// joined by an add. In 1-D, relu(x − 1/2) and relu(−x − 1/2) give 3 regions on [−1, 1]
    /// (B + 1 with B = 2 for the antichain; the per-node T1 product would allow 4). In the
    /// plane, relu(x) ∥ relu(y) ∥ relu(x + y − 1/2) give 7 = 1 + 3 + C(3, 2).
    #[test]
    fn regions_of_parallel_branches() {
        let mut net = Network::new(vec![1]);
        net.push(dense(1, 1, &[1.0], &[-0.5]));
        let a = net.push(Layer::Relu(ReluMask::all_kept(1)));
        let pre_b = net.push_with(dense(1, 1, &[-1.0], &[-0.5]), vec![ValueId::INPUT]);
        let b = net.push_with(Layer::Relu(ReluMask::all_kept(1)), vec![pre_b]);
        net.push_with(Layer::Add, vec![a, b]);
        let rc = count_regions(&net, &[-1.0], &[1.0], Oracle::Interval).unwrap();
        assert_eq!(rc.cells.len(), 3);
        let p = pieces_1d(&net, -1.0, 1.0).unwrap();
        assert_eq!(p.pieces, 3);
        let bound = t1_bound_for(&net, 1).unwrap().layered.exact.unwrap();
        assert!(rc.cells.len() as u128 <= bound);

        let mut plane = Network::new(vec![2]);
        let mut outs = Vec::new();
        for (w, b) in [([1.0, 0.0], 0.0), ([0.0, 1.0], 0.0), ([1.0, 1.0], -0.5)] {
            let pre = plane.push_with(dense(1, 2, &w, &[b]), vec![ValueId::INPUT]);
            outs.push(plane.push_with(Layer::Relu(ReluMask::all_kept(1)), vec![pre]));
        }
        let s = plane.push_with(Layer::Add, vec![outs[0], outs[1]]);
        plane.push_with(Layer::Add, vec![s, outs[2]]);
        let rc = count_regions(&plane, &[-1.0, -1.0], &[1.0, 1.0], Oracle::Elimination).unwrap();
        assert_eq!(rc.cells.len(), 7);
        for k in 0..50 {
            let x = [((k * 7) as f64 * 0.31).sin(), ((k * 3) as f64 * 0.77).cos()];
            let p = pattern_at(&plane, &x).unwrap();
            let c = rc
                .cells
                .iter()
                .find(|c| c.pattern == p)
                .expect("sampled cell");
            let y = &c.weight * DVector::from_column_slice(&x) + &c.bias;
            crate::tolerance::assert_close(
                y.as_slice(),
                &plane.forward(&x).unwrap(),
                Tolerance::Close,
                "branch cell map",
            );
        }
    }
}
