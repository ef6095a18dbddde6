//! Tests of the graph methods (interval, CROWN, α-CROWN, branch-and-bound) on random
//! networks with conv, average pooling, batch norm, residual adds and masked ReLUs.
use proptest::prelude::*;

use super::bab::{self, Level, Options};
use super::lbp::{self, Analysis, Graph, Relaxation};
use super::*;
use crate::rng::SeededRng;
use crate::{AvgPool2d, BatchNorm, Conv2d, ReluMask};

fn unit(s: &mut SeededRng) -> f64 {
    s.next_f64()
}

fn sym(s: &mut SeededRng, scale: f64) -> f64 {
    scale * (2.0 * unit(s) - 1.0)
}

/// A random conv network on a `c × h × w` input: conv → BN → masked ReLU → (residual conv
/// → masked ReLU → add) → scale (factors `0`, `1` or random) → avg-pool (or a stride-2
/// conv) → flatten → dense → masked ReLU → dense (`outs`).
#[derive(Debug)]
struct ConvProblem {
    net: Network,
    input: InputBox,
}

fn conv_problem(seed: u64, keep: f64, eps: f64, stride2: bool, outs: usize) -> ConvProblem {
    let mut s = SeededRng::new(seed);
    let (c, h, w) = (1 + (seed % 2) as usize, 5, 5);
    let mut net = Network::new(vec![c, h, w]);
    let oc = 2;
    let conv = |s: &mut SeededRng, ic: usize, oc: usize, stride: usize, pad: usize| {
        Layer::Conv2d(Conv2d {
            in_channels: ic,
            out_channels: oc,
            kernel: [3, 3],
            stride: [stride, stride],
            padding: [pad, pad],
            weight: (0..oc * ic * 9).map(|_| sym(s, 0.6)).collect(),
            bias: (0..oc).map(|_| sym(s, 0.3)).collect(),
        })
    };
    let mask = |s: &mut SeededRng, n: usize| {
        ReluMask::from_bools(&(0..n).map(|_| unit(s) < keep).collect::<Vec<_>>())
    };
    net.push(conv(&mut s, c, oc, 1, 1)); // oc x 5 x 5
    net.push(Layer::BatchNorm(BatchNorm {
        gamma: (0..oc).map(|_| 0.5 + unit(&mut s)).collect(),
        beta: (0..oc).map(|_| sym(&mut s, 0.2)).collect(),
        mean: (0..oc).map(|_| sym(&mut s, 0.2)).collect(),
        var: (0..oc).map(|_| 0.5 + unit(&mut s)).collect(),
        eps: 1e-5,
    }));
    let r1 = net.push(Layer::Relu(mask(&mut s, oc * 25)));
    net.push(conv(&mut s, oc, oc, 1, 1));
    let r2 = net.push(Layer::Relu(mask(&mut s, oc * 25)));
    net.push_with(Layer::Add, vec![r2, r1]);
    let factor = (0..oc * 25)
        .map(|_| match unit(&mut s) {
            u if u < 0.3 => 0.0,
            u if u < 0.6 => 1.0,
            _ => sym(&mut s, 1.5),
        })
        .collect();
    let mut v = net.push(Layer::Scale { factor });
    let (hh, ww) = if stride2 {
        v = net.push(conv(&mut s, oc, oc, 2, 1)); // 3 x 3
        (3, 3)
    } else {
        v = net.push_with(
            Layer::AvgPool2d(AvgPool2d {
                kernel: [2, 2],
                stride: [1, 1],
            }),
            vec![v],
        ); // 4 x 4
        (4, 4)
    };
    let _ = v;
    net.push(Layer::Flatten);
    let n = oc * hh * ww;
    let hid = 6;
    net.push(Layer::Dense(crate::Affine::new(
        nalgebra::DMatrix::from_fn(hid, n, |_, _| sym(&mut s, 0.5)),
        nalgebra::DVector::from_fn(hid, |_, _| sym(&mut s, 0.2)),
    )));
    net.push(Layer::Relu(mask(&mut s, hid)));
    net.push(Layer::Dense(crate::Affine::new(
        nalgebra::DMatrix::from_fn(outs, hid, |_, _| sym(&mut s, 0.8)),
        nalgebra::DVector::from_fn(outs, |_, _| sym(&mut s, 0.2)),
    )));
    let centre: Vec<f64> = (0..c * h * w).map(|_| unit(&mut s)).collect();
    let input = InputBox::around(&centre, eps).unwrap();
    ConvProblem { net, input }
}

/// A 3 → 12 → 12 → 3 MLP with a random mask, and a box around a random centre.
fn small_mlp(seed: u64, keep: f64, eps: f64) -> (Network, InputBox) {
    mlp(seed, &[3, 12, 12, 3], Some(keep), 1.0, eps)
}

/// An MLP of layer sizes `dims` (input first, output last): weights uniform in `±scale`,
/// biases in `±0.3`, each hidden unit kept with probability `keep` (all kept for `None`),
/// and a box of radius `eps` around a centre in `[−1, 1]`.
fn mlp(seed: u64, dims: &[usize], keep: Option<f64>, scale: f64, eps: f64) -> (Network, InputBox) {
    let mut s = SeededRng::new(seed);
    let mut net = Network::new(vec![dims[0]]);
    let last = dims.len() - 1;
    for (k, w) in dims.windows(2).enumerate() {
        let (fan, width) = (w[0], w[1]);
        net.push(Layer::Dense(crate::Affine::new(
            nalgebra::DMatrix::from_fn(width, fan, |_, _| sym(&mut s, scale)),
            nalgebra::DVector::from_fn(width, |_, _| sym(&mut s, 0.3)),
        )));
        if k + 1 < last {
            let mask = match keep {
                Some(p) => {
                    ReluMask::from_bools(&(0..width).map(|_| unit(&mut s) < p).collect::<Vec<_>>())
                }
                None => ReluMask::all_kept(width),
            };
            net.push(Layer::Relu(mask));
        }
    }
    let centre: Vec<f64> = (0..dims[0]).map(|_| sym(&mut s, 1.0)).collect();
    (net, InputBox::around(&centre, eps).unwrap())
}

/// Few kept units and small boxes: small enough for the exact MILP.
fn small_conv_problems() -> impl Strategy<Value = ConvProblem> {
    (
        any::<u64>(),
        0.0f64..=0.3,
        0.01f64..0.15,
        any::<bool>(),
        2usize..=3,
    )
        .prop_map(|(seed, keep, eps, s2, outs)| conv_problem(seed, keep, eps, s2, outs))
}

fn conv_problems() -> impl Strategy<Value = ConvProblem> {
    (
        any::<u64>(),
        0.0f64..=1.0,
        0.01f64..0.4,
        any::<bool>(),
        2usize..=4,
    )
        .prop_map(|(seed, keep, eps, s2, outs)| conv_problem(seed, keep, eps, s2, outs))
}

/// Sampled outputs: each one is attained, so every sound bound must contain it — exactly,
/// with no slack (the graph methods round outward).
fn check_samples(
    p: &ConvProblem,
    lo: &[f64],
    hi: &[f64],
    what: &str,
) -> std::result::Result<(), TestCaseError> {
    let mut pts = samples(&p.input, 200, 11);
    pts.push(p.input.center());
    for x in &pts {
        let y = p.net.forward(x).unwrap();
        for i in 0..y.len() {
            prop_assert!(
                lo[i] <= y[i] && y[i] <= hi[i],
                "{what}: output {i} = {} outside [{}, {}] at a sample",
                y[i],
                lo[i],
                hi[i]
            );
        }
    }
    Ok(())
}

fn bounds(p: &ConvProblem, m: Method) -> Bounded {
    p.net.bound(&p.input).unwrap().using(m).solve().unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Every graph method contains the samples; CROWN ⊆ interval; α ⊆ CROWN.
    #[test]
    fn graph_bounds_are_sound_and_nested(p in conv_problems()) {
        let iv = bounds(&p, Method::Interval);
        let cr = bounds(&p, Method::Crown);
        let al = bounds(&p, Method::Alpha);
        for (b, what) in [(&iv, "interval"), (&cr, "crown"), (&al, "alpha")] {
            check_samples(&p, &b.bounds.lower, &b.bounds.upper, what)?;
        }
        for i in 0..iv.bounds.lower.len() {
            prop_assert!(iv.bounds.lower[i] <= cr.bounds.lower[i]);
            prop_assert!(cr.bounds.upper[i] <= iv.bounds.upper[i]);
            prop_assert!(cr.bounds.lower[i] <= al.bounds.lower[i], "alpha looser than crown");
            prop_assert!(al.bounds.upper[i] <= cr.bounds.upper[i], "alpha looser than crown");
        }
    }

}

/// Every sample's values (all nodes) lie in the intervals of `a`.
fn check_values_inside(
    a: &Analysis,
    pts: &[Vec<f64>],
    what: &str,
) -> std::result::Result<(), TestCaseError> {
    for x in pts {
        let vals = a.graph.forward_values(x);
        for (v, val) in vals.iter().enumerate() {
            for (i, &y) in val.iter().enumerate() {
                prop_assert!(
                    a.iv.lo[v][i] <= y && y <= a.iv.hi[v][i],
                    "{what}: value {v}[{i}] = {y} outside [{}, {}]",
                    a.iv.lo[v][i],
                    a.iv.hi[v][i]
                );
            }
        }
    }
    Ok(())
}

/// Whether the intervals of `inner` lie within those of `outer`, value by value.
fn nested(inner: &Analysis, outer: &Analysis) -> bool {
    (0..inner.iv.lo.len()).all(|v| {
        (0..inner.iv.lo[v].len()).all(|i| {
            inner.iv.lo[v][i] >= outer.iv.lo[v][i] && inner.iv.hi[v][i] <= outer.iv.hi[v][i]
        })
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    /// α-optimised intermediate bounds contain every sample's values and lie within
    /// CROWN's; the unstable count never grows.
    #[test]
    fn tightened_intermediate_bounds_are_sound_and_nested(p in conv_problems()) {
        let crown = Analysis::new(&p.net, &p.input, None).unwrap();
        let mut a = crown.clone();
        bab::tighten_intermediate(&mut a, 10, None);
        let mut pts = samples(&p.input, 200, 11);
        pts.push(p.input.center());
        check_values_inside(&a, &pts, "tightened")?;
        prop_assert!(nested(&a, &crown), "tightened bounds looser than CROWN's");
        prop_assert!(a.stats.unstable_kept <= crown.stats.unstable_kept);
    }

    /// Intermediate bounds tightened by branch-and-bound per unit contain every sample's
    /// values and lie within the α-optimised ones they start from; the unstable count
    /// never grows.
    #[test]
    fn bab_tightened_intermediate_bounds_are_sound_and_nested(p in conv_problems()) {
        let mut alpha = Analysis::new(&p.net, &p.input, None).unwrap();
        bab::tighten_intermediate(&mut alpha, 10, None);
        let mut a = alpha.clone();
        bab::bab_tighten_intermediate(&mut a, 10, 4, 16, None);
        let mut pts = samples(&p.input, 200, 17);
        pts.push(p.input.center());
        check_values_inside(&a, &pts, "bab-tightened")?;
        prop_assert!(nested(&a, &alpha), "bab-tightened bounds looser than α-CROWN's");
        prop_assert!(a.stats.unstable_kept <= alpha.stats.unstable_kept);
    }

    /// A branch-and-bound child's intervals (the split applied, later nodes re-bounded)
    /// contain the values of every sample on its side of the split, and lie within the
    /// parent's.
    #[test]
    fn split_domains_keep_their_samples(p in conv_problems(), pick in any::<usize>()) {
        let parent = std::sync::Arc::new(Analysis::new(&p.net, &p.input, None).unwrap());
        let unstable: Vec<(usize, usize)> = parent
            .graph
            .kept_relu_nodes()
            .into_iter()
            .flat_map(|k| parent.unstable_units(k).into_iter().map(move |i| (k, i)))
            .collect();
        prop_assume!(!unstable.is_empty());
        let (node, unit) = unstable[pick % unstable.len()];
        let mut pts = samples(&p.input, 400, 13);
        pts.push(p.input.center());
        let u = parent.graph.input_of(node);
        for active in [true, false] {
            let split = lbp::Split { node, unit, active };
            let child = bab::split_analysis(&parent, Some(split), None);
            prop_assert!(nested(&child, &parent), "child looser than its parent");
            // the same intervals as narrowing, re-propagating and refining step by step
            let mut eager = Analysis::clone(&parent);
            let update = if active { (unit, 0.0, f64::INFINITY) } else { (unit, f64::NEG_INFINITY, 0.0) };
            eager.narrow(u, &[update]);
            eager.refine_from(node + 1, None, &Relaxation::default());
            for v in 0..child.iv.lo.len() {
                for (got, want) in [(&child.iv.lo[v], &eager.iv.lo[v]), (&child.iv.hi[v], &eager.iv.hi[v])] {
                    if let Some(d) = crate::tolerance::compare(got, want, crate::tolerance::Tolerance::Close) {
                        return Err(TestCaseError::fail(format!("value {v}: lazy and step-by-step differ: {d}")));
                    }
                }
            }
            // the error terms, updated from the split on, are those of the child's intervals
            prop_assert_eq!(&child.fp, &lbp::FpTerms::new(&child.graph, &child.iv));
            let side: Vec<Vec<f64>> = pts
                .iter()
                .filter(|x| {
                    let pre = parent.graph.forward_values(x)[u][unit];
                    if active { pre >= 0.0 } else { pre <= 0.0 }
                })
                .cloned()
                .collect();
            check_values_inside(&child, &side, if active { "active child" } else { "inactive child" })?;
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(16))]

    /// The exact MILP optimum lies inside the CROWN bounds (CROWN ⊇ exact).
    #[cfg(feature = "lp")]
    #[test]
    fn crown_contains_the_milp_optimum(p in small_conv_problems()) {
        let cr = bounds(&p, Method::Crown);
        let milp = p.net.bound(&p.input).unwrap().using(Method::Milp)
            .with_timeout(std::time::Duration::from_secs(5)).solve().unwrap();
        prop_assume!(milp.exact);
        for i in 0..cr.bounds.lower.len() {
            // CBC's optimum is floating point, and the MILP bounds are moved outward by its
            // tolerance: compare with twice that
            let (lo, hi) = (milp.bounds.lower[i], milp.bounds.upper[i]);
            let pad = |v: f64| 2.0 * crate::tolerance::solver_pad(v);
            prop_assert!(
                cr.bounds.lower[i] <= lo + pad(lo),
                "crown lower {} above the MILP minimum {}", cr.bounds.lower[i], lo
            );
            prop_assert!(
                hi - pad(hi) <= cr.bounds.upper[i],
                "crown upper {} below the MILP maximum {}", cr.bounds.upper[i], hi
            );
        }
    }

    /// Both branchings (input box, kept ReLUs) on a 3-input MLP never contradict the exact
    /// MILP, return real counterexamples, and decide whenever the margin is clear of 0.
    #[cfg(feature = "lp")]
    #[test]
    fn input_and_relu_branching_agree_with_the_milp(
        seed in any::<u64>(), keep in 0.3f64..=1.0, frac in 0.6f64..1.4,
    ) {
        // the box: `frac` times the radius at which a long PGD run first finds a
        // counterexample, so that the cheap stages rarely decide; then no attack, so that
        // branch-and-bound alone must
        let (net, unit_box) = small_mlp(seed, keep, 1.0);
        let centre = unit_box.center();
        let y0 = net.forward(&centre).unwrap();
        let class = (0..3).max_by(|&i, &j| y0[i].total_cmp(&y0[j])).unwrap();
        let spec = crate::spec::OutputSpec::argmax(3, class).unwrap();
        let target = bab::Target::new(&net, &spec).unwrap();
        let attacked = |r: f64| {
            let b = InputBox::around(&centre, r).unwrap();
            bab::pgd(&target, &b, 4, 40, 7, None).unwrap().is_some()
        };
        let (mut lo, mut hi) = (0.0, 1.0);
        if attacked(hi) {
            for _ in 0..12 {
                let mid = 0.5 * (lo + hi);
                if attacked(mid) { hi = mid } else { lo = mid }
            }
        }
        let input = InputBox::around(&centre, frac * hi).unwrap();
        let q = net.bound(&input).unwrap().using(Method::Milp)
            .with_timeout(std::time::Duration::from_secs(5)).margin_query(class).unwrap();
        let m = q.solve().unwrap();
        let min_margin = m.bounds.lower.iter().copied().fold(f64::INFINITY, f64::min);
        for split_dim in [0, 8] {
            let opts = Options {
                deadline: Some(std::time::Instant::now() + std::time::Duration::from_secs(5)),
                input_split_max_dim: split_dim,
                pgd_restarts: 0,
                pgd_steps: 0,
                ..Options::default()
            };
            let r = bab::verify_argmax(&net, &input, class, &opts).unwrap();
            match &r.verdict {
                Verdict::Proved => prop_assert!(
                    !m.exact || min_margin >= -1e-6,
                    "proved (split dim {split_dim}), but the MILP's smallest margin is {min_margin}"
                ),
                Verdict::Refuted(c) => {
                    prop_assert!(input.contains(&c.input));
                    let y = net.forward(&c.input).unwrap();
                    prop_assert_eq!(&y, &c.output);
                    prop_assert!((0..y.len()).any(|j| j != class && y[j] >= y[class]));
                }
                Verdict::Unknown { .. } => {}
            }
            // input splitting is complete on a clear margin either way; ReLU splitting is
            // not asked to decide here: with no attack, a fully split leaf is decided only
            // once β converges (`bab_agrees_with_the_milp` asks it, with the attack, on convs)
            if m.exact && split_dim > 0 && min_margin.abs() > 1e-3 {
                prop_assert!(!matches!(r.verdict, Verdict::Unknown { .. }),
                    "undecided (split dim {split_dim}): {:?}, MILP {min_margin}", r.verdict);
            }
        }
    }

    /// Branch-and-bound never contradicts the exact MILP, and its counterexamples are real.
    #[cfg(feature = "lp")]
    #[test]
    fn bab_agrees_with_the_milp(p in small_conv_problems(), class in 0usize..2) {
        let opts = Options {
            deadline: Some(std::time::Instant::now() + std::time::Duration::from_secs(5)),
            ..Options::default()
        };
        let r = bab::verify_argmax(&p.net, &p.input, class, &opts).unwrap();
        let q = p.net.bound(&p.input).unwrap().using(Method::Milp)
            .with_timeout(std::time::Duration::from_secs(5)).margin_query(class).unwrap();
        let m = q.solve().unwrap();
        let min_margin = m.bounds.lower.iter().copied().fold(f64::INFINITY, f64::min);
        match &r.verdict {
            Verdict::Proved => prop_assert!(
                !m.exact || min_margin >= -1e-6,
                "BaB proved, but the MILP's smallest margin is {min_margin}"
            ),
            Verdict::Refuted(c) => {
                prop_assert!(p.input.contains(&c.input));
                let y = p.net.forward(&c.input).unwrap();
                prop_assert_eq!(&y, &c.output);
                prop_assert!((0..y.len()).any(|j| j != class && y[j] >= y[class]));
            }
            Verdict::Unknown { .. } => {}
        }
        // with a clear margin either way, BaB must decide
        if m.exact && !(-1e-3..=1e-3).contains(&min_margin) {
            prop_assert!(!matches!(r.verdict, Verdict::Unknown { .. }), "undecided: {:?}, MILP {min_margin}", r.verdict);
        }
    }

}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// `opᵀ` is the adjoint of the op: `⟨a, f(x) − f(0)⟩ = ⟨fᵀ a, x⟩` through the whole
    /// graph with every ReLU linearized (conv strides and padding, pooling, BN, adds).
    #[test]
    fn backward_is_the_adjoint_of_forward(p in conv_problems(), seed in any::<u64>()) {
        let lin = p.net.clone().with_all_masks(false);
        let g = Graph::new(&lin).unwrap();
        let mut s = SeededRng::new(seed);
        let n_in = g.size(0);
        let n_out = g.size(g.values() - 1);
        let x: Vec<f64> = (0..n_in).map(|_| sym(&mut s, 1.0)).collect();
        let a: Vec<f64> = (0..n_out).map(|_| sym(&mut s, 1.0)).collect();
        let fx = g.forward(&x);
        let f0 = g.forward(&vec![0.0; n_in]);
        let lhs: f64 = a.iter().zip(fx.iter().zip(&f0)).map(|(a, (y, z))| a * (y - z)).sum();
        let vals = g.forward_values(&x);
        let grad = g.input_gradient(&vals, &a);
        let rhs: f64 = grad.iter().zip(&x).map(|(g, x)| g * x).sum();
        prop_assert!((lhs - rhs).abs() <= 1e-9 * (1.0 + lhs.abs()), "{lhs} vs {rhs}");
    }

    /// The gradient of a margin matches finite differences (PGD's direction).
    #[test]
    fn input_gradient_matches_finite_differences(p in conv_problems()) {
        let g = Graph::new(&p.net).unwrap();
        let x = p.input.center();
        let vals = g.forward_values(&x);
        let n_out = g.size(g.values() - 1);
        let mut row = vec![0.0; n_out];
        row[0] = 1.0;
        row[n_out - 1] = -1.0;
        let grad = g.input_gradient(&vals, &row);
        let f = |x: &[f64]| { let y = p.net.forward(x).unwrap(); y[0] - y[n_out - 1] };
        let h = 1e-7;
        let (mut agree, mut total) = (0, 0);
        for i in 0..x.len() {
            let mut xp = x.clone();
            xp[i] += h;
            let mut xm = x.clone();
            xm[i] -= h;
            let fd = (f(&xp) - f(&xm)) / (2.0 * h);
            total += 1;
            if (fd - grad[i]).abs() < 1e-5 * (1.0 + fd.abs()) {
                agree += 1;
            }
        }
        // a kink within h of the centre makes a difference quotient differ: allow a few
        prop_assert!(agree * 10 >= total * 9, "{agree} of {total} partials agree");
    }
}

/// A fully linearized network is affine: CROWN is exact up to the rounding allowance.
#[test]
fn crown_is_exact_on_a_linearized_network() {
    for seed in 0..8 {
        let mut p = conv_problem(seed, 1.0, 0.2, seed % 2 == 0, 3);
        p.net = p.net.with_all_masks(false);
        let cr = bounds(&p, Method::Crown);
        let iv = bounds(&p, Method::Interval);
        let g = Graph::new(&p.net).unwrap();
        // exact: the affine map's extreme corners
        let n_out = 3;
        for o in 0..n_out {
            let mut row = vec![0.0; n_out];
            row[o] = 1.0;
            let vals = g.forward_values(&p.input.center());
            let grad = g.input_gradient(&vals, &row);
            let corner: Vec<f64> = (0..grad.len())
                .map(|i| {
                    if grad[i] > 0.0 {
                        p.input.lower[i]
                    } else {
                        p.input.upper[i]
                    }
                })
                .collect();
            let min = p.net.forward(&corner).unwrap()[o];
            assert!(
                cr.bounds.lower[o] <= min,
                "unsound: {} > {min}",
                cr.bounds.lower[o]
            );
            assert!(
                min - cr.bounds.lower[o] < 1e-9,
                "not tight: {} vs {min}",
                cr.bounds.lower[o]
            );
            assert!(iv.bounds.lower[o] <= cr.bounds.lower[o]);
        }
        assert_eq!(cr.unstable_kept, 0);
    }
}

/// The rounding allowance is what makes a bound rigorous: `y = x·(1/3)·3` over a point box
/// `{1}` is 1 in real arithmetic, while f64 may round either way; the bound must stay ≤ 1.
#[test]
fn bounds_are_rigorous_at_a_point() {
    let mut net = Network::new(vec![1]);
    for w in [1.0 / 3.0, 3.0, 0.1, 10.0] {
        net.push(Layer::Dense(crate::Affine::new(
            nalgebra::DMatrix::from_element(1, 1, w),
            nalgebra::DVector::zeros(1),
        )));
    }
    let input = InputBox::uniform(1, 1.0, 1.0).unwrap();
    for m in [Method::Interval, Method::Crown] {
        let b = net.bound(&input).unwrap().using(m).solve().unwrap();
        // the real product (1/3)_f64 · 3 · 0.1_f64 · 10 is within 1e-15 of 1: the bound must
        // contain the whole f64 neighbourhood
        assert!(b.bounds.lower[0] < 1.0 - 1e-16, "{m:?} {:?}", b.bounds);
        assert!(b.bounds.upper[0] > 1.0 + 1e-16, "{m:?} {:?}", b.bounds);
        assert!(
            b.bounds.upper[0] - b.bounds.lower[0] < 1e-12,
            "{m:?} {:?}",
            b.bounds
        );
    }
}

/// α-CROWN's optimisation starts from CROWN (iteration 0) and keeps the best bound.
#[test]
fn alpha_never_looser_than_crown_per_row() {
    for seed in 0..6 {
        let p = conv_problem(seed, 0.8, 0.3, false, 3);
        let a = Analysis::new(&p.net, &p.input, None).unwrap();
        let rows = bab::margin_rows(3, 0);
        let crown = a.lower_bounds(&rows, 2, &Relaxation::default(), false);
        let mut relax = Relaxation::default();
        bab::init_alpha(&a, 2, &mut relax);
        let (best, _) = bab::optimize(&a, &rows, 2, &[0, 1], &mut relax, 15, None);
        for (b, c) in best.iter().zip(&crown.lower) {
            assert!(b >= c, "{b} < {c}");
        }
    }
}

/// A counterexample found by the attack is re-checked: the verdict carries the real output.
#[test]
fn refutation_carries_a_real_counterexample() {
    // y = (x, −x): class 0 is the argmax only for x > 0; the box [-1, 1] has counterexamples
    let mut net = Network::new(vec![1]);
    net.push(Layer::Dense(crate::Affine::new(
        nalgebra::DMatrix::from_column_slice(2, 1, &[1.0, -1.0]),
        nalgebra::DVector::zeros(2),
    )));
    let input = InputBox::uniform(1, -1.0, 1.0).unwrap();
    let r = bab::verify_argmax(&net, &input, 0, &Options::default()).unwrap();
    let Verdict::Refuted(c) = r.verdict else {
        panic!("expected a refutation, got {:?}", r.verdict)
    };
    assert_eq!(net.forward(&c.input).unwrap(), c.output);
    assert!(c.output[1] >= c.output[0]);
    // and on [0.5, 1] it is proved by CROWN alone
    let input = InputBox::uniform(1, 0.5, 1.0).unwrap();
    let r = bab::verify_argmax(
        &net,
        &input,
        0,
        &Options {
            level: Level::Crown,
            ..Options::default()
        },
    )
    .unwrap();
    assert_eq!(r.verdict, Verdict::Proved);
    let _ = lbp::gamma(1);
}

/// Regression: the transposed convolution of a coefficient at the last column with padding 2
/// and a 5×5 kernel (the quickstart CNN's first layer) indexed past the buffer.
#[test]
fn conv_transpose_at_the_border() {
    let mut s = SeededRng::new(3);
    let mut net = Network::new(vec![1, 6, 6]);
    net.push(Layer::Conv2d(Conv2d {
        in_channels: 1,
        out_channels: 2,
        kernel: [5, 5],
        stride: [1, 1],
        padding: [2, 2],
        weight: (0..50).map(|_| sym(&mut s, 1.0)).collect(),
        bias: vec![0.1, -0.2],
    }));
    net.push(Layer::Flatten);
    let g = Graph::new(&net).unwrap();
    let x: Vec<f64> = (0..36).map(|_| sym(&mut s, 1.0)).collect();
    let vals = g.forward_values(&x);
    for last in [35, 71, 0, 36] {
        let mut row = vec![0.0; 72];
        row[last] = 1.0;
        let grad = g.input_gradient(&vals, &row);
        let f0 = g.forward(&vec![0.0; 36])[last];
        let lin: f64 = grad.iter().zip(&x).map(|(a, b)| a * b).sum::<f64>() + f0;
        assert!((lin - vals.last().unwrap()[last]).abs() < 1e-12);
    }
}

/// A deadline holds in every graph stage: with one already past, bounds and verdicts return
/// at once (sound interval bounds for the intermediate units, `timeout` in the reason).
#[test]
fn a_past_deadline_returns_at_once() {
    let p = conv_problem(5, 1.0, 0.35, false, 4);
    let past = std::time::Instant::now();
    let t = std::time::Instant::now();
    let b = p
        .net
        .bound(&p.input)
        .unwrap()
        .using(Method::Bab)
        .with_deadline(past)
        .solve()
        .unwrap();
    assert!(
        b.unknown
            .as_deref()
            .is_some_and(|u| u.starts_with("timeout")),
        "{b:?}"
    );
    let iv = bounds(&p, Method::Interval);
    assert_eq!(b.bounds, iv.bounds, "nothing refined: the interval bounds");
    let opts = Options {
        deadline: Some(past),
        ..Options::default()
    };
    let r = bab::verify_argmax(&p.net, &p.input, 0, &opts).unwrap();
    assert!(
        t.elapsed() < std::time::Duration::from_secs(2),
        "{:?}",
        t.elapsed()
    );
    assert_eq!(r.domains, 0);
    let _ = r.verdict; // any verdict: sound bounds may still decide, an attack may refute
}

/// The batched path (dense layers as one matrix product over all rows) against the
/// row-at-a-time path it replaced (one row per pass): the same bounds within rounding,
/// each below every sample; and the batched forward of the gradients against the
/// per-input forward.
#[test]
fn batched_rows_match_row_at_a_time() {
    for seed in 0..8 {
        // every unit kept, wide enough that dense layers over 9 rows reach matrixmultiply
        let (net, input) = mlp(
            seed,
            &[8, 24, 24, 10],
            None,
            0.5,
            0.05 + 0.05 * (seed % 3) as f64,
        );
        let a = Analysis::new(&net, &input, None).unwrap();
        let rows = bab::margin_rows(10, (seed % 10) as usize);
        let m = 9;
        let mut relax = Relaxation::default();
        bab::init_alpha(&a, m, &mut relax);
        let all = a.lower_bounds(&rows, m, &relax, true);
        let mut s = SeededRng::new(seed ^ 0x5a5a);
        let samples: Vec<Vec<f64>> = (0..200)
            .map(|_| {
                (0..8)
                    .map(|j| input.lower[j] + unit(&mut s) * (input.upper[j] - input.lower[j]))
                    .collect()
            })
            .collect();
        for r in 0..m {
            let row = &rows[r * 10..(r + 1) * 10];
            let mut one = Relaxation::default();
            for (&k, al) in &relax.alpha {
                let n = al.len() / m;
                one.alpha.insert(k, al[r * n..(r + 1) * n].to_vec());
            }
            let single = a.lower_bounds(row, 1, &one, false).lower[0];
            let scale = 1.0 + single.abs();
            assert!(
                (all.lower[r] - single).abs() <= 1e-12 * scale,
                "seed {seed} row {r}: batched {} vs row-at-a-time {single}",
                all.lower[r]
            );
            for x in &samples {
                let y = net.forward(x).unwrap();
                let v: f64 = row.iter().zip(&y).map(|(c, y)| c * y).sum();
                assert!(
                    all.lower[r] <= v,
                    "seed {seed} row {r}: {} > {v}",
                    all.lower[r]
                );
            }
        }
        // the batched forward (no relaxation: plain ReLUs) against one input at a time
        let xs: Vec<f64> = samples[..m].iter().flatten().copied().collect();
        let relu = |_k: usize, mask: &ReluMask, pre: &[f64], out: &mut [f64]| {
            for (i, (o, &p)) in out.iter_mut().zip(pre).enumerate() {
                if mask.is_kept(i) {
                    *o = p.max(0.0);
                }
            }
        };
        let batched = a
            .graph
            .forward_rows_with(&xs, m, |k, _r, mask, pre, out| relu(k, mask, pre, out));
        for (r, x) in samples[..m].iter().enumerate() {
            let single = a.graph.forward_with(x, relu);
            for (v, sv) in batched.iter().zip(&single) {
                let n = sv.len();
                for (b, s1) in v[r * n..(r + 1) * n].iter().zip(sv) {
                    assert!(
                        (b - s1).abs() <= 1e-12 * (1.0 + s1.abs()),
                        "seed {seed}: {b} vs {s1}"
                    );
                }
            }
        }
    }
}

/// On an MLP whose α-optimised intermediate bounds leave units unstable in later layers,
/// branch-and-bound per unit makes some of them stable, and every bound still holds on
/// samples (the proptest above covers random graphs; this one asks that it gains).
#[test]
fn bab_tightening_stabilises_units_alpha_leaves() {
    let mut gained = 0;
    for seed in 0..4 {
        let (net, input) = mlp(seed, &[6, 24, 24, 24, 3], None, 1.0, 0.4);
        let mut alpha = Analysis::new(&net, &input, None).unwrap();
        bab::tighten_intermediate(&mut alpha, 20, None);
        let mut a = alpha.clone();
        let stable = bab::bab_tighten_intermediate(&mut a, 20, 8, 24, None);
        assert_eq!(stable, alpha.stats.unstable_kept - a.stats.unstable_kept);
        let mut pts = samples(&input, 400, 19);
        pts.push(input.center());
        check_values_inside(&a, &pts, "bab-tightened").unwrap();
        gained += stable;
    }
    assert!(
        gained > 0,
        "branch-and-bound per unit stabilised no unit on four MLPs"
    );
}
