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
//! keeping every value as an affine function of the input; at each kept unit it branches on
//! active / inactive, adds the half-space, and keeps the branch only if the cell still has
//! an interior point. For `d = 1` that test is interval arithmetic; for `d ≥ 2` (and, as a
//! cross-check, `d = 1`) it is the LP `max s` subject to `a_r·x + c_r ≥ s‖a_r‖` for each
//! half-space and `lo + s ≤ x ≤ hi − s` (good_lp, microlp backend): interior iff
//! `s > Tolerance::Interior`. A pre-activation that is constant on the cell takes only the
//! branch its sign gives (both branches when it is identically zero would be the same
//! function, so the active one is taken). Limits: `d ≤` [`MAX_INPUT_DIM`] and at most
//! [`MAX_KEPT`] kept units; the number of LPs is at most twice the number of kept units
//! times the number of cells.
use nalgebra::{DMatrix, DVector};

use crate::tolerance::Tolerance;
use crate::{numel, Affine, Error, Layer, Network, Result};

/// The largest input dimension [`count_regions`] accepts.
pub const MAX_INPUT_DIM: usize = 3;
/// The most kept units [`count_regions`] accepts with the LP oracle (`d ≥ 2`).
pub const MAX_KEPT: usize = 24;

/// How cells are tested for an interior point.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Oracle {
    /// Interval arithmetic (`d = 1` only).
    Interval,
    /// An LP per test (any `d`).
    #[cfg(feature = "lp")]
    Lp,
}

/// One full-dimensional cell.
#[derive(Clone, Debug, PartialEq)]
pub struct Cell {
    /// Active flag per kept unit, in node order.
    pub pattern: Vec<bool>,
    /// The network's output on the cell: `y = weight · x + bias`.
    pub weight: DMatrix<f64>,
    /// See `weight`.
    pub bias: DVector<f64>,
    /// For `d = 1`: the cell's interval `[lo, hi]`.
    pub interval: Option<(f64, f64)>,
}

/// The result of [`count_regions`].
#[derive(Clone, Debug, PartialEq)]
pub struct RegionCount {
    /// The full-dimensional cells.
    pub cells: Vec<Cell>,
    /// Interior tests made (LPs for [`Oracle::Lp`]).
    pub tests: usize,
}

/// Pieces of a 1-D network on an interval.
#[derive(Clone, Debug, PartialEq)]
pub struct Pieces1d {
    /// Interior breakpoints where the affine map changes, increasing.
    pub breakpoints: Vec<f64>,
    /// Number of maximal affine pieces (`breakpoints.len() + 1`).
    pub pieces: usize,
    /// Number of cells (≥ pieces).
    pub cells: usize,
}

type AffineValue = (DMatrix<f64>, DVector<f64>);

struct Walk<'a> {
    net: &'a Network,
    lo: &'a [f64],
    hi: &'a [f64],
    oracle: Oracle,
    tests: usize,
    cells: Vec<Cell>,
    /// Half-spaces `a·x + c ≥ 0`.
    cons: Vec<(DVector<f64>, f64)>,
    pattern: Vec<bool>,
}

impl Walk<'_> {
    fn interval(&self) -> (f64, f64) {
        let (mut l, mut u) = (self.lo[0], self.hi[0]);
        for (a, c) in &self.cons {
            let a = a[0];
            if a > 0.0 {
                l = l.max(-c / a);
            } else if a < 0.0 {
                u = u.min(-c / a);
            } else if *c < 0.0 {
                return (1.0, 0.0);
            }
        }
        (l, u)
    }

    fn has_interior(&mut self) -> bool {
        self.tests += 1;
        let (tol, _) = Tolerance::Interior.atol_rtol();
        match self.oracle {
            Oracle::Interval => {
                let (l, u) = self.interval();
                u - l > tol
            }
            #[cfg(feature = "lp")]
            Oracle::Lp => lp_interior(self.lo, self.hi, &self.cons) > tol,
        }
    }

    fn node(&mut self, k: usize, values: &mut Vec<AffineValue>) {
        if k == self.net.nodes.len() {
            let (w, b) = values.last().expect("output value").clone();
            let interval = (self.lo.len() == 1).then(|| self.interval());
            self.cells.push(Cell {
                pattern: self.pattern.clone(),
                weight: w,
                bias: b,
                interval,
            });
            return;
        }
        let node = &self.net.nodes[k];
        match &node.layer {
            Layer::Dense(a) => {
                let (w, b) = &values[node.inputs[0]];
                let v = (&a.weight * w, &a.weight * b + &a.bias);
                values.push(v);
                self.node(k + 1, values);
                values.pop();
            }
            Layer::Add => {
                let (w1, b1) = &values[node.inputs[0]];
                let (w2, b2) = &values[node.inputs[1]];
                let v = (w1 + w2, b1 + b2);
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
        mut work: AffineValue,
        values: &mut Vec<AffineValue>,
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
        let row: DVector<f64> = work.0.row(u).transpose();
        let c = work.1[u];
        let (tol, _) = Tolerance::Interior.atol_rtol();
        if row.amax() <= tol {
            // constant on the cell: one branch
            let active = c >= 0.0;
            if !active {
                work.0.row_mut(u).fill(0.0);
                work.1[u] = 0.0;
            }
            self.pattern.push(active);
            self.relu_unit(k, u + 1, mask, work, values);
            self.pattern.pop();
            return;
        }
        for active in [true, false] {
            let sign = if active { 1.0 } else { -1.0 };
            self.cons.push((&row * sign, c * sign));
            if self.has_interior() {
                let mut next = work.clone();
                if !active {
                    next.0.row_mut(u).fill(0.0);
                    next.1[u] = 0.0;
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
    // are; the cap guards the LP enumeration in 2-D and 3-D.
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
    let mut walk = Walk {
        net: &dense,
        lo,
        hi,
        oracle,
        tests: 0,
        cells: Vec::new(),
        cons: Vec::new(),
        pattern: Vec::new(),
    };
    let mut values = vec![(DMatrix::identity(d, d), DVector::zeros(d))];
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
        let inputs = node.inputs.iter().map(|&v| v + shift).collect();
        out.push_with(node.layer.clone(), inputs);
    }
    Ok(out)
}

/// The exact pieces of a network with one input on `[lo, hi]`: the cells in order, adjacent
/// cells with the same affine map (within [`Tolerance::Close`]) merged.
pub fn pieces_1d(net: &Network, lo: f64, hi: f64) -> Result<Pieces1d> {
    let rc = count_regions(net, &[lo], &[hi], Oracle::Interval)?;
    let mut cells = rc.cells;
    cells.sort_by(|a, b| {
        let (la, lb) = (a.interval.expect("1-D").0, b.interval.expect("1-D").0);
        la.total_cmp(&lb)
    });
    let same = |a: &Cell, b: &Cell| {
        let flat =
            |c: &Cell| -> Vec<f64> { c.weight.iter().chain(c.bias.iter()).copied().collect() };
        crate::tolerance::compare(&flat(a), &flat(b), Tolerance::Close).is_none()
    };
    let mut breakpoints = Vec::new();
    for w in cells.windows(2) {
        if !same(&w[0], &w[1]) {
            breakpoints.push(w[1].interval.expect("1-D").0);
        }
    }
    Ok(Pieces1d {
        pieces: breakpoints.len() + 1,
        breakpoints,
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
            let rc = count_regions(&net, &[-40.0, -40.0], &[40.0, 40.0], Oracle::Lp).unwrap();
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
        let rc = count_regions(&net, &[-200.0, -200.0], &[200.0, 200.0], Oracle::Lp).unwrap();
        assert_eq!(rc.cells.len(), 211);
        eprintln!(
            "20 kept units, d = 2: {} cells, {} LPs, {:?}",
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
            check(&net, d, Oracle::Lp, &samples)?;
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
            let pa: Vec<_> = a.cells.iter().map(|c| c.pattern.clone()).collect();
            let pb: Vec<_> = b.cells.iter().map(|c| c.pattern.clone()).collect();
            prop_assert_eq!(pa, pb);
        }
    }

    #[test]
    fn limits_are_typed_errors() {
        let net = Network::new(vec![4]);
        assert!(matches!(
            count_regions(&net, &[0.0; 4], &[1.0; 4], Oracle::Lp),
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
}
