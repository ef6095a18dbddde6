//! General specifications in the graph methods: conjunctions, several input boxes, the
//! trivial cases, and counterexamples decided in real arithmetic.
use nalgebra::{DMatrix, DVector};

use super::bab::{self, Level, Options};
use super::{argmax_violation, samples, InputBox, Verdict};
use crate::spec::{Conjunction, Constraint, OutputSpec, Region, Spec};
use crate::{Affine, Layer, Network, ReluMask};

fn dense(rows: usize, cols: usize, w: &[f64], b: &[f64]) -> Layer {
    Layer::Dense(Affine::new(
        DMatrix::from_row_slice(rows, cols, w),
        DVector::from_row_slice(b),
    ))
}

/// `a·y ≤ rhs` over `n` outputs from `(output, coefficient)` pairs.
fn le(n: usize, terms: &[(usize, f64)], rhs: f64) -> Constraint {
    let mut coef = vec![0.0; n];
    for &(j, a) in terms {
        coef[j] = a;
    }
    Constraint { coef, rhs }
}

fn conj(c: Vec<Constraint>) -> Conjunction {
    Conjunction { constraints: c }
}

/// `d` inputs; output 0 is `relu(x0) − relu(−x0) = x0`, output 1 is `|x0|`, so the ReLU
/// split path (more inputs than the input-split limit) must branch to decide.
fn abs_net(d: usize) -> Network {
    let mut net = Network::new(vec![d]);
    let mut w = vec![0.0; 2 * d];
    w[0] = 1.0;
    w[d] = -1.0;
    net.push(dense(2, d, &w, &[0.0, 0.0]));
    net.push(Layer::Relu(ReluMask::from_bools(&[true, true])));
    net.push(dense(2, 2, &[1.0, -1.0, 1.0, 1.0], &[0.0, 0.0]));
    net
}

fn opts() -> Options {
    Options {
        level: Level::Bab,
        ..Options::default()
    }
}

#[test]
fn an_impossible_conjunction_that_no_single_row_refutes_is_proved_by_both_branchings() {
    // x0 <= -0.5 and x0 >= 0.5: impossible, but each constraint alone holds somewhere in
    // [-1, 1], so each domain needs its own row
    let spec = OutputSpec {
        outputs: 2,
        disjuncts: vec![conj(vec![
            le(2, &[(0, 1.0)], -0.5),
            le(2, &[(0, -1.0)], -0.5),
        ])],
    };
    for d in [1, 12] {
        let net = abs_net(d);
        let input = InputBox::uniform(d, -1.0, 1.0).unwrap();
        let r = bab::verify_output(&net, &input, &spec, &opts()).unwrap();
        assert_eq!(r.verdict, Verdict::Proved, "{d} inputs: {r:?}");
        // the same rows as separate disjuncts are each satisfiable: refuted
        let loose = OutputSpec {
            outputs: 2,
            disjuncts: vec![
                conj(vec![le(2, &[(0, 1.0)], -0.5)]),
                conj(vec![le(2, &[(0, -1.0)], -0.5)]),
            ],
        };
        let r = bab::verify_output(&net, &input, &loose, &opts()).unwrap();
        let Verdict::Refuted(c) = r.verdict else {
            panic!("{d} inputs: expected a counterexample, got {:?}", r.verdict)
        };
        assert!(input.contains(&c.input));
        assert!(c.input[0] <= -0.5 || c.input[0] >= 0.5);
    }
}

#[test]
fn a_satisfiable_conjunction_is_refuted_with_a_point_satisfying_all_of_it() {
    // |x0| <= 0.1 and x0 >= 0.05: only [0.05, 0.1]
    let spec = OutputSpec {
        outputs: 2,
        disjuncts: vec![conj(vec![
            le(2, &[(1, 1.0)], 0.1),
            le(2, &[(0, -1.0)], -0.05),
        ])],
    };
    for d in [1, 12] {
        let net = abs_net(d);
        let input = InputBox::uniform(d, -1.0, 1.0).unwrap();
        let r = bab::verify_output(&net, &input, &spec, &opts()).unwrap();
        let Verdict::Refuted(c) = r.verdict else {
            panic!("{d} inputs: expected a counterexample, got {:?}", r.verdict)
        };
        assert!(input.contains(&c.input));
        assert!((0.05..=0.1).contains(&c.input[0]), "{:?}", c.input);
        assert_eq!(spec.violated_by(&c.output), Some(0));
    }
}

#[test]
fn several_input_boxes_refute_in_the_region_that_holds_a_counterexample() {
    let net = abs_net(1);
    let high = |t: f64| OutputSpec {
        outputs: 2,
        disjuncts: vec![conj(vec![le(2, &[(0, -1.0)], -t)])], // x0 >= t
    };
    let regions = |t: f64| Spec {
        regions: vec![
            Region {
                input: InputBox::uniform(1, -1.0, -0.5).unwrap(),
                violation: high(t),
            },
            Region {
                input: InputBox::uniform(1, 0.5, 1.0).unwrap(),
                violation: high(t),
            },
        ],
    };
    let r = bab::verify_spec(&net, &regions(0.9), &opts()).unwrap();
    assert!(matches!(r.verdict, Verdict::Refuted(_)), "{r:?}");
    assert_eq!(r.region, Some(1));
    let r = bab::verify_spec(&net, &regions(1.5), &opts()).unwrap();
    assert_eq!(r.verdict, Verdict::Proved);
    assert_eq!(r.regions.len(), 2);
}

#[test]
fn trivial_specifications() {
    let net = abs_net(1);
    let input = InputBox::uniform(1, -1.0, 1.0).unwrap();
    let nothing = OutputSpec {
        outputs: 2,
        disjuncts: vec![],
    };
    let r = bab::verify_output(&net, &input, &nothing, &opts()).unwrap();
    assert_eq!(r.verdict, Verdict::Proved);
    let everything = OutputSpec {
        outputs: 2,
        disjuncts: vec![conj(vec![])],
    };
    let r = bab::verify_output(&net, &input, &everything, &opts()).unwrap();
    assert!(matches!(r.verdict, Verdict::Refuted(_)));
    // a specification over the wrong number of outputs is an error, not a verdict
    let wrong = OutputSpec {
        outputs: 3,
        disjuncts: vec![],
    };
    assert!(bab::verify_output(&net, &input, &wrong, &opts()).is_err());
}

/// y0 = x + 2⁻⁶⁰ and y1 = x: at x = 1 the f64 forward pass ties (1 + 2⁻⁶⁰ rounds to 1), so
/// it "violates" argmax = 0, while in real arithmetic y0 − y1 = 2⁻⁶⁰ > 0 everywhere.
#[test]
fn a_violation_within_rounding_is_not_a_counterexample() {
    let mut net = Network::new(vec![1]);
    net.push(dense(2, 1, &[1.0, 1.0], &[2f64.powi(-60), 0.0]));
    let y = net.forward(&[1.0]).unwrap();
    assert_eq!(y[0], y[1], "the f64 forward pass ties");
    assert_eq!(argmax_violation(&net, &[1.0], 0).unwrap(), None);
    let input = InputBox::uniform(1, 1.0, 1.0).unwrap();
    for method in [
        super::Method::Crown,
        super::Method::Alpha,
        super::Method::Bab,
    ] {
        let q = net.bound(&input).unwrap().using(method);
        let v = q.verify(&super::Property::Argmax { class: 0 }).unwrap();
        assert!(!matches!(v, Verdict::Refuted(_)), "{method:?}: {v:?}");
    }
    // a violation beyond the rounding error is found
    let mut clear = Network::new(vec![1]);
    clear.push(dense(2, 1, &[1.0, 1.0], &[0.5, 0.5 + 1e-9]));
    assert!(argmax_violation(&clear, &[1.0], 0).unwrap().is_some());
    // an exact tie is a real violation of the strict argmax: the enclosure cannot show it
    // (its upper end is a rounding allowance above 0), exact rationals do
    let mut tie = Network::new(vec![1]);
    tie.push(dense(2, 1, &[1.0, 1.0], &[0.5, 0.5]));
    assert!(argmax_violation(&tie, &[1.0], 0).unwrap().is_some());
    let q = tie.bound(&input).unwrap().using(super::Method::Bab);
    let v = q.verify(&super::Property::Argmax { class: 0 }).unwrap();
    assert!(matches!(v, Verdict::Refuted(_)), "{v:?}");
    // the same tie behind a batch norm (irrational in general: no exact evaluation) stays
    // unknown, never proved or refuted
    let mut bn = Network::new(vec![1]);
    bn.push(Layer::BatchNorm(crate::BatchNorm {
        gamma: vec![1.0],
        beta: vec![0.0],
        mean: vec![0.0],
        var: vec![1.0],
        eps: 0.0,
    }));
    bn.push(dense(2, 1, &[1.0, 1.0], &[0.5, 0.5]));
    assert_eq!(argmax_violation(&bn, &[1.0], 0).unwrap(), None);
    let v = bn
        .bound(&input)
        .unwrap()
        .using(super::Method::Bab)
        .verify(&super::Property::Argmax { class: 0 })
        .unwrap();
    assert!(matches!(v, Verdict::Unknown { .. }), "{v:?}");
}

/// `lower + 1·(upper − lower)` rounds past `upper` on this box: every sample stays inside.
#[test]
fn sampled_corners_stay_in_the_box() {
    let (lo, hi) = (-9.350817376115199, -8.590930538887659e-21);
    assert!(lo + 1.0 * (hi - lo) > hi, "the box exercises the rounding");
    let input = InputBox::new(vec![lo; 3], vec![hi; 3]).unwrap();
    for x in samples(&input, 64, 1) {
        assert!(input.contains(&x), "{x:?} left the box");
    }
}
