use nalgebra::{DMatrix, DVector};
use proptest::prelude::*;

use super::*;
use crate::tolerance::Tolerance;
use crate::{ReluMask, ValueId};

fn dense(rows: usize, cols: usize, w: &[f64], b: &[f64]) -> Layer {
    Layer::Dense(Affine::new(
        DMatrix::from_row_slice(rows, cols, w),
        DVector::from_column_slice(b),
    ))
}

/// `out = relu(x) − relu(x)` written with two hidden units: exactly 0 everywhere.
fn twin_relus(kept: [bool; 2]) -> Network {
    let mut net = Network::new(vec![1]);
    net.push(dense(2, 1, &[1.0, 1.0], &[0.0, 0.0]));
    net.push(Layer::Relu(ReluMask::from_bools(&kept)));
    net.push(dense(1, 2, &[1.0, -1.0], &[0.0]));
    net
}

/// Whether a reported LP/MILP bound is the exact optimum `v` moved outward (up for an upper
/// bound) by at most CBC's tolerance ([`crate::tolerance::solver_pad`]), rounding aside.
#[cfg(feature = "lp")]
fn padded(bound: f64, v: f64, upper: bool) -> bool {
    let pad = 2.0 * crate::tolerance::solver_pad(v);
    if upper {
        (v - 1e-9..=v + pad).contains(&bound)
    } else {
        (v - pad..=v + 1e-9).contains(&bound)
    }
}

#[test]
fn interval_lp_milp_on_twin_relus_by_hand() {
    let net = twin_relus([true, true]);
    let input = InputBox::uniform(1, -1.0, 1.0).unwrap();
    let q = net.bound(&input).unwrap();
    // interval: y1, y2 in [0, 1] -> out in [-1, 1]
    let b = q.clone().using(Method::Interval).solve().unwrap();
    // outward rounding: [-1, 1] widened by the rigorous floating-point allowance only
    let (lo, hi) = (b.bounds.lower[0], b.bounds.upper[0]);
    assert!(
        lo <= -1.0 && lo > -1.0 - 1e-12 && (1.0..1.0 + 1e-12).contains(&hi),
        "{b:?}"
    );
    assert_eq!(b.unstable_kept, 2);
    #[cfg(feature = "lp")]
    {
        // triangle: y1 <= (x + 1)/2, y2 >= max(0, x): max of y1 - y2 is 1/2 at x = 0
        let b = q.clone().using(Method::Lp).solve().unwrap();
        assert!(padded(b.bounds.upper[0], 0.5, true), "{b:?}");
        assert!(padded(b.bounds.lower[0], -0.5, false), "{b:?}");
        assert!(!b.exact);
        // MILP: exactly 0, two binaries
        let b = q.clone().using(Method::Milp).solve().unwrap();
        assert!(b.exact);
        assert_eq!(b.unstable_kept, 2);
        assert!(
            padded(b.bounds.upper[0], 0.0, true) && padded(b.bounds.lower[0], 0.0, false),
            "{b:?}"
        );
    }
    #[cfg(feature = "smt")]
    {
        let b = q.clone().using(Method::Smt).solve().unwrap();
        assert!(b.exact);
        // bisection stops at an absolute gap of 1e-9 around the exact 0
        assert!(
            b.bounds.upper[0] >= 0.0 && b.bounds.lower[0] <= 0.0,
            "{b:?}"
        );
        assert!(
            b.bounds.upper[0] <= 1e-8 && b.bounds.lower[0] >= -1e-8,
            "{b:?}"
        );
    }
}

#[cfg(feature = "lp")]
#[test]
fn linearized_units_get_no_binaries() {
    // unit 1 linearized: out = relu(x) - x, in [0, 1] on [-1, 1], one binary
    let net = twin_relus([true, false]);
    let input = InputBox::uniform(1, -1.0, 1.0).unwrap();
    let b = net
        .bound(&input)
        .unwrap()
        .using(Method::Milp)
        .solve()
        .unwrap();
    assert_eq!(b.unstable_kept, 1);
    assert!(padded(b.bounds.upper[0], 1.0, true), "{b:?}");
    assert!(padded(b.bounds.lower[0], 0.0, false), "{b:?}");
    // fully linearized: out = 0 exactly, no binaries, and the LP is exact too
    let net = twin_relus([false, false]);
    let b = net
        .bound(&input)
        .unwrap()
        .using(Method::Lp)
        .solve()
        .unwrap();
    assert_eq!(b.unstable_kept, 0);
    assert!(padded(b.bounds.upper[0], 0.0, true), "{b:?}");
}

#[test]
fn argmax_verdicts_by_hand() {
    // outputs (x, -x): class 0 is the argmax iff x > 0
    let mut net = Network::new(vec![1]);
    net.push(dense(2, 1, &[1.0, -1.0], &[0.0, 0.0]));
    let methods: &[Method] = &[
        Method::Interval,
        #[cfg(feature = "lp")]
        Method::Lp,
        #[cfg(feature = "lp")]
        Method::Milp,
        #[cfg(feature = "smt")]
        Method::Smt,
    ];
    for &m in methods {
        let pos = InputBox::uniform(1, 0.5, 1.0).unwrap();
        let v = net
            .bound(&pos)
            .unwrap()
            .using(m)
            .verify(&Property::Argmax { class: 0 })
            .unwrap();
        assert_eq!(v, Verdict::Proved, "{m:?}");
        let straddle = InputBox::uniform(1, -0.25, 1.0).unwrap();
        match net
            .bound(&straddle)
            .unwrap()
            .using(m)
            .verify(&Property::Argmax { class: 0 })
            .unwrap()
        {
            Verdict::Refuted(c) => {
                assert!(straddle.contains(&c.input));
                assert!(c.output[1] >= c.output[0], "{m:?} {c:?}");
            }
            other => panic!("{m:?}: expected refuted, got {other:?}"),
        }
    }
    let q = net.bound(&InputBox::uniform(1, 0.0, 1.0).unwrap()).unwrap();
    assert!(matches!(
        q.verify(&Property::Argmax { class: 2 }),
        Err(Error::NoSuchClass {
            class: 2,
            outputs: 2
        })
    ));
}

#[test]
fn bad_boxes_are_typed_errors() {
    use crate::BoxProblem;
    assert!(matches!(
        InputBox::new(vec![1.0], vec![0.0]),
        Err(Error::InputBox(BoxProblem::Order { index: 0, .. }))
    ));
    assert!(matches!(
        InputBox::new(vec![f64::NAN], vec![0.0]),
        Err(Error::InputBox(BoxProblem::NonFinite { index: 0, .. }))
    ));
    assert!(matches!(
        InputBox::around(&[0.0], -1.0),
        Err(Error::InputBox(BoxProblem::Radius(_)))
    ));
    let net = twin_relus([true, true]);
    assert!(matches!(
        net.bound(&InputBox::uniform(3, 0.0, 1.0).unwrap()),
        Err(Error::InputBox(BoxProblem::Dimension {
            expected: 1,
            got: 3
        }))
    ));
}

/// A random small masked network (dense, optionally with a residual add) and a box.
#[derive(Clone, Debug)]
struct BoundProblem {
    net: Network,
    input: InputBox,
}

fn unit(s: &mut crate::rng::SeededRng) -> f64 {
    s.next_f64()
}

impl BoundProblem {
    fn build(
        n_in: usize,
        widths: &[usize],
        n_out: usize,
        residual: bool,
        seed: u64,
        lo: f64,
        w: f64,
    ) -> Self {
        let mut s = crate::rng::SeededRng::new(seed);
        let mut net = Network::new(vec![n_in]);
        let mut prev = n_in;
        let mut skip: Option<(ValueId, usize)> = None; // (value, width)
        for (l, &h) in widths.iter().enumerate() {
            let wts: Vec<f64> = (0..h * prev).map(|_| 2.0 * unit(&mut s) - 1.0).collect();
            let b: Vec<f64> = (0..h).map(|_| unit(&mut s) - 0.5).collect();
            net.push(dense(h, prev, &wts, &b));
            let kept: Vec<bool> = (0..h).map(|_| unit(&mut s) < 0.7).collect();
            let mut v = net.push(Layer::Relu(ReluMask::from_bools(&kept)));
            if residual && l > 0 {
                if let Some((sv, sw)) = skip {
                    if sw == h {
                        v = net.push_with(Layer::Add, vec![v, sv]);
                    }
                }
            }
            skip = Some((v, h));
            prev = h;
        }
        let wts: Vec<f64> = (0..n_out * prev)
            .map(|_| 2.0 * unit(&mut s) - 1.0)
            .collect();
        let b: Vec<f64> = (0..n_out).map(|_| unit(&mut s) - 0.5).collect();
        net.push(dense(n_out, prev, &wts, &b));
        let input = InputBox::new(vec![lo; n_in], vec![lo + w; n_in]).unwrap();
        Self { net, input }
    }

    /// Output minima and maxima over dense samples of the box (the slow, obviously correct
    /// reference: every sampled value is attained, so sound bounds must contain it).
    fn reference(&self) -> OutputBounds {
        let pts = samples(&self.input, 600, 7);
        let ys: Vec<Vec<f64>> = pts.iter().map(|x| self.net.forward(x).unwrap()).collect();
        let n = ys[0].len();
        OutputBounds {
            lower: (0..n)
                .map(|i| ys.iter().map(|y| y[i]).fold(f64::INFINITY, f64::min))
                .collect(),
            upper: (0..n)
                .map(|i| ys.iter().map(|y| y[i]).fold(f64::NEG_INFINITY, f64::max))
                .collect(),
        }
    }

    /// Checks that `outer` contains `inner` up to the one-sided sound slack.
    fn check(
        outer: &OutputBounds,
        inner: &OutputBounds,
        what: &str,
    ) -> std::result::Result<(), TestCaseError> {
        for i in 0..outer.lower.len() {
            prop_assert!(
                Tolerance::Sound.below(outer.lower[i], inner.lower[i]),
                "{what}: output {i}: lower {} above {}",
                outer.lower[i],
                inner.lower[i]
            );
            prop_assert!(
                Tolerance::Sound.below(inner.upper[i], outer.upper[i]),
                "{what}: output {i}: upper {} below {}",
                outer.upper[i],
                inner.upper[i]
            );
        }
        Ok(())
    }
}

fn problems() -> impl Strategy<Value = BoundProblem> {
    (
        1usize..=3,
        proptest::collection::vec(2usize..=5, 1..=2),
        1usize..=3,
        any::<bool>(),
        any::<u64>(),
        -1.0f64..0.5,
        0.0f64..1.5,
    )
        .prop_map(|(n_in, widths, n_out, res, seed, lo, w)| {
            BoundProblem::build(n_in, &widths, n_out, res, seed, lo, w)
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Interval ⊇ LP ⊇ MILP ⊇ samples, and every MILP optimum is attained by a witness.
    #[test]
    fn bounds_are_sound_and_nested(p in problems()) {
        let q = p.net.bound(&p.input).unwrap();
        let reference = p.reference();
        let iv = q.clone().using(Method::Interval).solve().unwrap();
        BoundProblem::check(&iv.bounds, &reference, "interval vs samples")?;
        #[cfg(feature = "lp")]
        {
            let lp = q.clone().using(Method::Lp).solve().unwrap();
            BoundProblem::check(&lp.bounds, &reference, "lp vs samples")?;
            BoundProblem::check(&iv.bounds, &lp.bounds, "interval vs lp")?;
            let milp = q.clone().using(Method::Milp).solve().unwrap();
            prop_assert!(milp.exact);
            BoundProblem::check(&milp.bounds, &reference, "milp vs samples")?;
            BoundProblem::check(&lp.bounds, &milp.bounds, "lp vs milp")?;
            for (i, &ub) in milp.bounds.upper.iter().enumerate() {
                let (value, x) = lp::milp_optimum(q.dense().unwrap(), &p.input, i, true, None).unwrap().unwrap();
                // the reported bound is the optimum moved outward by CBC's tolerance (or the
                // interval bound, where that is tighter)
                let pad = crate::tolerance::solver_pad(value);
                prop_assert!(ub <= value + pad + 1e-12 && ub >= value - pad, "{ub} vs optimum {value}");
                let x = p.input.clamp(&x);
                let y = p.net.forward(&x).unwrap()[i];
                prop_assert!(Tolerance::Solver.close(y, value), "witness {x:?} gives {y}, the MILP says {value}");
            }
        }
    }
}

/// Smaller problems for z3 (each exact check on ~10 kept units takes 50–100 ms).
#[cfg(all(feature = "lp", feature = "smt"))]
fn small_problems() -> impl Strategy<Value = BoundProblem> {
    (
        1usize..=2,
        proptest::collection::vec(2usize..=4, 1..=2),
        2usize..=2,
        any::<u64>(),
        -1.0f64..0.5,
        0.0f64..1.5,
    )
        .prop_map(|(n_in, widths, n_out, seed, lo, w)| {
            BoundProblem::build(n_in, &widths, n_out, false, seed, lo, w)
        })
}

#[cfg(all(feature = "lp", feature = "smt"))]
proptest! {
    #![proptest_config(ProptestConfig::with_cases(10))]

    /// z3 (exact rationals) and CBC (big-M) agree on bounds and on argmax verdicts.
    #[test]
    fn smt_and_milp_agree(p in small_problems()) {
        let q = p.net.bound(&p.input).unwrap();
        let milp = q.clone().using(Method::Milp).solve().unwrap();
        let smt = q.clone().using(Method::Smt).solve().unwrap();
        prop_assert!(milp.exact && smt.exact);
        let a: Vec<f64> = milp.bounds.lower.iter().chain(&milp.bounds.upper).copied().collect();
        let b: Vec<f64> = smt.bounds.lower.iter().chain(&smt.bounds.upper).copied().collect();
        if let Some(r) = crate::tolerance::compare(&a, &b, Tolerance::Solver) {
            return Err(TestCaseError::fail(format!("milp vs smt: {r}")));
        }
        let n_out = milp.bounds.lower.len();
        if n_out >= 2 {
            let prop = Property::Argmax { class: 0 };
            let vm = q.clone().using(Method::Milp).verify(&prop).unwrap();
            let vs = q.clone().using(Method::Smt).verify(&prop).unwrap();
            for v in [&vm, &vs] {
                if let Verdict::Refuted(c) = v {
                    prop_assert!(p.input.contains(&c.input));
                    prop_assert!(c.output.iter().skip(1).any(|&y| y >= c.output[0]));
                }
            }
            match (&vm, &vs) {
                (Verdict::Proved, Verdict::Refuted(_)) | (Verdict::Refuted(_), Verdict::Proved) => {
                    return Err(TestCaseError::fail(format!("verdicts differ: milp {vm:?}, smt {vs:?}")));
                }
                _ => {}
            }
        }
    }
}

/// Conv, batch norm, residual add and pooling are unrolled by `to_dense`: every method's
/// bounds contain the sampled outputs of the original network.
#[test]
fn conv_network_is_bounded_through_its_dense_form() {
    use crate::{AvgPool2d, BatchNorm, Conv2d};
    let mut net = Network::new(vec![1, 3, 3]);
    net.push(Layer::Conv2d(Conv2d {
        in_channels: 1,
        out_channels: 2,
        kernel: [2, 2],
        stride: [1, 1],
        padding: [0, 0],
        weight: (0..8).map(|i| (i as f64 - 3.5) / 4.0).collect(),
        bias: vec![0.1, -0.2],
    }));
    net.push(Layer::BatchNorm(BatchNorm {
        gamma: vec![1.5, -0.5],
        beta: vec![0.25, 0.1],
        mean: vec![0.3, -0.2],
        var: vec![2.0, 0.5],
        eps: 1e-5,
    }));
    let r = net.push(Layer::Relu(ReluMask::from_bools(
        &(0..8).map(|i| i % 3 != 0).collect::<Vec<_>>(),
    )));
    let bn_out = ValueId::from_index(r.index() - 1);
    net.push_with(Layer::Add, vec![r, bn_out]);
    net.push(Layer::AvgPool2d(AvgPool2d {
        kernel: [2, 2],
        stride: [2, 2],
    }));
    net.push(Layer::Flatten);
    let input = InputBox::uniform(9, -0.5, 0.5).unwrap();
    let p = BoundProblem {
        net: net.clone(),
        input: input.clone(),
    };
    let reference = p.reference();
    let q = net.bound(&input).unwrap();
    let methods: &[Method] = &[
        Method::Interval,
        #[cfg(feature = "lp")]
        Method::Lp,
        #[cfg(feature = "lp")]
        Method::Milp,
        #[cfg(feature = "smt")]
        Method::Smt,
    ];
    for &m in methods {
        let b = q.clone().using(m).solve().unwrap();
        assert_eq!(b.bounds.lower.len(), 2);
        BoundProblem::check(&b.bounds, &reference, m.name()).unwrap();
    }
}

/// Shrunk from `smt_and_milp_agree`: z3 4.8.12's `Optimize` returned 0.4993 as the maximum
/// of this 3→3→1 net (one kept ReLU) on `[-0.1438, 1.346]^3`; the maximum is 1.0314 at the
/// corner `(1.346, 1.346, -0.1438)` — checked here with the f64 forward pass.
#[test]
fn bound_trivial_1() {
    let w = [
        0.7941143433763365,
        0.41015337075310887,
        0.23398321720183413,
        0.9659368322485031,
        -0.41444149269984254,
        0.34365005841470286,
        0.21812156182408327,
        -0.6712798986425477,
        -0.2693338003009722,
    ];
    let mut net = Network::new(vec![3]);
    net.push(Layer::Dense(Affine::new(
        DMatrix::from_column_slice(3, 3, &w),
        DVector::from_column_slice(&[-0.04876479434475112, 0.4657735550767218, 0.3945611955172377]),
    )));
    net.push(Layer::Relu(ReluMask::from_bools(&[true, false, false])));
    net.push(dense(
        1,
        3,
        &[0.4701025475842515, 0.5113336075186083, -0.6585222445164374],
        &[0.46817612797993935],
    ));
    let (lo, hi) = (-0.14375627754920206, 1.3459947646822195);
    let input = InputBox::uniform(3, lo, hi).unwrap();
    let corner = net.forward(&[hi, hi, lo]).unwrap()[0];
    assert!(
        Tolerance::Close.close(corner, 1.0314319443357118),
        "{corner}"
    );
    let q = net.bound(&input).unwrap();
    let methods: &[Method] = &[
        #[cfg(feature = "lp")]
        Method::Milp,
        #[cfg(feature = "smt")]
        Method::Smt,
    ];
    for &m in methods {
        let b = q.clone().using(m).solve().unwrap();
        assert!(b.exact, "{m:?}");
        assert!(
            Tolerance::Sound.below(corner, b.bounds.upper[0]),
            "{m:?}: {b:?}"
        );
        assert!(
            (b.bounds.upper[0] - corner).abs() <= 2.0 * crate::tolerance::solver_pad(corner),
            "{m:?}: {b:?}"
        );
    }
}

/// A deadline already past: `lp::bounds` and `Query::solve` solve no LP and return at once
/// with the interval bounds, `unknown` saying that the deadline stopped them and how many
/// tightening LPs were planned; the verdict is `Unknown`, never proved.
#[cfg(feature = "lp")]
#[test]
fn a_past_deadline_gives_interval_bounds_at_once() {
    use std::time::{Duration, Instant};
    // 4 -> 8 -> 8 -> 3: the first layer needs no LP (interval propagation is exact on a
    // dense map of the box), the second layer's unstable units need two each
    let p = BoundProblem::build(4, &[8, 8], 3, false, 3, -1.0, 2.0);
    let q = p.net.bound(&p.input).unwrap();
    let values = interval::propagate(q.dense().unwrap(), &p.input).unwrap();
    let plain = OutputBounds::from_intervals(values.last().unwrap());
    let second_relu = q.dense().unwrap().nodes[3].inputs[0];
    let mask = match &q.dense().unwrap().nodes[3].layer {
        Layer::Relu(m) => m.clone(),
        other => panic!("expected a ReLU, got {other:?}"),
    };
    let planned = 2
        * (0..mask.len())
            .filter(|&i| mask.is_kept(i) && values[second_relu][i].straddles_zero())
            .count();
    assert!(planned > 0, "the problem should need tightening");
    for exact in [false, true] {
        let start = Instant::now();
        let b = lp::bounds(q.dense().unwrap(), &p.input, exact, Some(Instant::now())).unwrap();
        assert!(start.elapsed() < Duration::from_secs(1), "{exact}");
        assert_eq!(b.bounds, plain, "{exact}");
        assert_eq!(b.tightening_lps, 0);
        assert!(!b.exact);
        let why = b.unknown.expect("the deadline is reported");
        assert!(
            why.starts_with("timeout: ") && why.contains(&format!("0 of {planned} tightening LPs")),
            "{why}"
        );
    }
    // the query shares one deadline between solve and verify
    let q = q.using(Method::Lp).with_deadline(Instant::now());
    let b = q.solve().unwrap();
    assert_eq!(b.bounds, plain);
    assert!(b.unknown.is_some());
    let y = p.net.forward(&p.input.center()).unwrap();
    let class = (0..y.len()).max_by(|&a, &b| y[a].total_cmp(&y[b])).unwrap();
    match q.verify(&Property::Argmax { class }).unwrap() {
        Verdict::Unknown { reason } => assert!(reason.starts_with("timeout: "), "{reason}"),
        Verdict::Refuted(c) => assert!(p.input.contains(&c.input)),
        Verdict::Proved => panic!("proved without a single LP"),
    }
    // a later deadline with time to spare: the unfinished tightening is redone, in full
    let b = q.with_timeout(Duration::from_secs(60)).solve().unwrap();
    assert_eq!(b.unknown, None);
    assert_eq!(b.tightening_lps, planned);
}

/// The twin net `relu(x) − relu(x) + 1` vs 0: the LP proves class 0 without a deadline,
/// and with a deadline already past the verdict is `Unknown` (interval bounds cannot prove
/// it), not proved.
#[cfg(feature = "lp")]
#[test]
fn a_past_deadline_never_proves() {
    use std::time::{Duration, Instant};
    let mut net = twin_relus([true, true]);
    net.push(dense(2, 1, &[1.0, 0.0], &[1.0, 0.0]));
    let input = InputBox::uniform(1, -1.0, 1.0).unwrap();
    let class0 = Property::Argmax { class: 0 };
    for m in [Method::Lp, Method::Milp] {
        let q = net.bound(&input).unwrap().using(m);
        assert_eq!(q.verify(&class0).unwrap(), Verdict::Proved, "{m:?}");
        let q = q.with_deadline(Instant::now());
        assert!(
            matches!(q.verify(&class0).unwrap(), Verdict::Unknown { .. }),
            "{m:?}"
        );
        // time to spare again: proved
        let q = q.with_timeout(Duration::from_secs(60));
        assert_eq!(q.verify(&class0).unwrap(), Verdict::Proved, "{m:?}");
    }
}

/// `InputBox::around` rounds outward exactly where `c ± eps` is inexact: below/above the
/// real ends by at most one step, exact ends kept, a point box stays the point.
#[test]
fn around_rounds_outward() {
    // exact in binary: kept as is
    let b = InputBox::around(&[0.5, -0.25], 0.125).unwrap();
    assert_eq!(
        (b.lower.clone(), b.upper.clone()),
        (vec![0.375, -0.375], vec![0.625, -0.125])
    );
    let p = InputBox::around(&[0.1], 0.0).unwrap();
    assert_eq!((p.lower[0], p.upper[0]), (0.1, 0.1));
    // inexact: the rounded-to-nearest end is moved out whenever it rounded inward
    let mut moved = 0;
    for (c, e) in [
        (0.1, 0.2),
        (0.1, 0.01),
        (0.7, 0.2),
        (1.0 / 3.0, 0.03),
        (0.9, 0.004),
    ] {
        let b = InputBox::around(&[c], e).unwrap();
        let (lo, hi) = (c - e, c + e);
        assert!(b.lower[0] <= lo && b.upper[0] >= hi, "{c} {e}: {b:?}");
        assert!(
            b.lower[0] >= lo.next_down() && b.upper[0] <= hi.next_up(),
            "{c} {e}: {b:?}"
        );
        moved += (b.lower[0] < lo) as usize + (b.upper[0] > hi) as usize;
    }
    assert!(moved > 0, "no case rounded inward: the test checks nothing");
}

/// Issue 17, item 7a. Batch norm `y = 2⁻⁵⁴ x + 1` on `[4, 8]`, then `y0 = −y + 1 + 2⁻⁵²`,
/// `y1 = 0`: the true margin `y0 − y1 = 2⁻⁵² − 2⁻⁵⁴ x` is `<= 0` on the whole box (0 at
/// `x = 4`), and the f64 forward pass violates `argmax = 0` everywhere too. A dense form
/// built by differencing f64 evaluations (`f(e_j) − f(0)`) loses the `2⁻⁵⁴` weight and reads
/// the margin as the constant `2⁻⁵²`: SMT then "proved" it.
fn tiny_batch_norm_net() -> Network {
    let mut net = Network::new(vec![1]);
    net.push(Layer::BatchNorm(crate::BatchNorm {
        gamma: vec![2f64.powi(-54)],
        beta: vec![1.0],
        mean: vec![0.0],
        var: vec![1.0],
        eps: 0.0,
    }));
    net.push(dense(2, 1, &[-1.0, 0.0], &[1.0 + 2f64.powi(-52), 0.0]));
    net
}

#[cfg(any(feature = "lp", feature = "smt"))]
#[test]
fn exact_methods_do_not_prove_a_batch_norm_rounding_artefact() {
    let net = tiny_batch_norm_net();
    let input = InputBox::uniform(1, 4.0, 8.0).unwrap();
    let class0 = Property::Argmax { class: 0 };
    // the dense form carries the batch norm's scale and shift as they are
    let d = net.to_dense().unwrap();
    let Layer::Dense(a) = &d.nodes[0].layer else {
        panic!("{d:?}")
    };
    assert_eq!((a.weight[(0, 0)], a.bias[0]), (2f64.powi(-54), 1.0));
    #[allow(unused_mut)]
    let mut methods = Vec::new();
    #[cfg(feature = "smt")]
    methods.push(Method::Smt);
    #[cfg(feature = "lp")]
    methods.extend([Method::Lp, Method::Milp]);
    for m in methods {
        let v = net.bound(&input).unwrap().using(m).verify(&class0).unwrap();
        // the violation (2⁻⁵² at most) is within the forward pass's rounding error and the
        // batch norm rules out an exact evaluation: unknown; never proved
        match &v {
            Verdict::Unknown { .. } => {}
            Verdict::Refuted(cex) => {
                // a counterexample is the network's own (its f64 forward pass), in the box
                assert!(input.contains(&cex.input), "{m:?}: {cex:?}");
                assert_eq!(cex.output, net.forward(&cex.input).unwrap(), "{m:?}");
                assert!(cex.output[1] >= cex.output[0], "{m:?}: {cex:?}");
            }
            Verdict::Proved => panic!("{m:?}: proved a property that fails"),
        }
    }
}

/// Issue 17, item 7c. A network whose last layer is a Flatten of the logits, read past a
/// dead node (a linearized ReLU nothing reads): its dense form ends in an identity node
/// that the margin network's dense form lacks, so neither continues the other. The LP/MILP verdict reused the
/// network's tightened intervals for the margins' by position — the outputs' intervals
/// (all above 9) then stood for the margins' — and "proved" `argmax = 0`, which fails on
/// `|x − 0.3| < 5e-10` (a bump too narrow for the sampling attack).
#[cfg(feature = "lp")]
#[test]
fn margins_after_a_final_flatten_get_their_own_intervals() {
    let mut net = Network::new(vec![1]);
    net.push(dense(2, 1, &[1.0, -1.0], &[-0.3, 0.3]));
    net.push(Layer::Relu(ReluMask::all_kept(2)));
    net.push(dense(1, 2, &[-1.0, -1.0], &[1e-9]));
    net.push(Layer::Relu(ReluMask::all_kept(1)));
    let logits = net.push(dense(2, 1, &[0.0, 1e9], &[10.5, 10.0]));
    net.push(Layer::Relu(ReluMask::all_linearized(2)));
    net.push_with(Layer::Flatten, vec![logits]);
    let input = InputBox::uniform(1, 0.0, 1.0).unwrap();
    // the property is false: y1 = 11 > y0 = 10.5 at x = 0.3
    let x = [0.3];
    assert!(argmax_violation(&net, &x, 0).unwrap().is_some());
    for m in [Method::Lp, Method::Milp] {
        let v = net
            .bound(&input)
            .unwrap()
            .using(m)
            .verify(&Property::Argmax { class: 0 })
            .unwrap();
        assert!(!matches!(v, Verdict::Proved), "{m:?}: {v:?}");
        if let Verdict::Refuted(cex) = &v {
            assert!(argmax_violation(&net, &cex.input, 0).unwrap().is_some());
        }
    }
}

/// Issue 17, item 7e: CBC is a floating-point solver, so the MILP is complete up to its
/// tolerances, never exact; only z3 over rationals is.
#[test]
fn only_smt_is_called_exact() {
    assert!(Method::Smt.is_exact());
    for m in [
        Method::Interval,
        Method::Crown,
        Method::Alpha,
        Method::Bab,
        Method::Lp,
        Method::Milp,
    ] {
        assert!(!m.is_exact(), "{m:?}");
    }
}

/// A report's `decided_by` is written as the stage's name (the JSON of `--report` and
/// `robust --json` is unchanged by the enum).
#[test]
fn decided_by_serializes_as_its_name() {
    use super::bab::DecidedBy;
    for d in [
        DecidedBy::Trivial,
        DecidedBy::Forward,
        DecidedBy::Attack,
        DecidedBy::Crown,
        DecidedBy::Alpha,
        DecidedBy::Bab,
        DecidedBy::None,
    ] {
        assert_eq!(
            serde_json::to_string(&d).unwrap(),
            format!("\"{}\"", d.name())
        );
        assert_eq!(format!("{d:<8}|"), format!("{:<8}|", d.name()));
    }
}
