//! Certified free linearization: the positive half of the no-free-lunch theorem (T3).
//!
//! On a domain `D` (an [`InputBox`]), a kept unit whose pre-activation `z` keeps one sign on
//! all of `D` is affine there: `relu(z) = z` when `z ≥ 0` on `D` (*stable active*) and
//! `relu(z) = 0` when `z ≤ 0` on `D` (*stable inactive*). Replacing it by that affine map
//! leaves `f|_D` unchanged, exactly, and saves one kept ReLU. [`free_linearize`] finds such
//! units with the tightest sound bounds available here — interval propagation intersected
//! with CROWN back-substitution ([`crate::bound::lbp::Analysis`]; rigorous in floating
//! point: every interval holds for the real-arithmetic network with the file's f64
//! parameters) — and rewrites the network:
//!
//! * stable active: the mask bit is cleared (the unit is linearized, `y = z`);
//! * stable inactive: the IR has no "zero" unit, so the unit is zeroed through a neighbouring
//!   dense node, exactly, then linearized: if its pre-activation is produced by a
//!   [`Layer::Dense`] node that nothing else reads, that node's row and bias entry become
//!   `0.0` (so `z ≡ 0` and the identity gives `0`); otherwise, if every reader of the ReLU
//!   node's output is a [`Layer::Dense`] node, their column for the unit becomes `0.0`.
//!   When neither holds (a convolution's output feeding a pooling, say: a single spatial
//!   position cannot be zeroed by per-channel parameters) the unit stays kept and is
//!   counted as `inactive_kept`.
//!
//! Units whose interval straddles 0 stay kept: the bound cannot show them stable (they may
//! still be stable on `D`; a tighter method would save more).
use std::time::Instant;

use serde::Serialize;

use crate::bound::lbp::Analysis;
use crate::bound::InputBox;
use crate::{Layer, Network, Result};

/// What happened to the kept units of one ReLU node.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct LayerFree {
    /// The ReLU node's index in `Network::nodes`.
    pub node: usize,
    /// Units in the node.
    pub units: usize,
    /// Kept units before.
    pub kept_before: usize,
    /// Kept units after.
    pub kept_after: usize,
    /// Stable active on `D`: linearized.
    pub active: usize,
    /// Stable inactive on `D` and zeroed through a dense neighbour, then linearized.
    pub inactive_zeroed: usize,
    /// Stable inactive on `D` but left kept: the IR cannot zero this unit exactly.
    pub inactive_kept: usize,
    /// Kept units whose pre-activation bound straddles 0.
    pub unstable: usize,
}

/// The outcome of [`free_linearize`].
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct FreeReport {
    /// Per ReLU node with at least one kept unit, in node order.
    pub layers: Vec<LayerFree>,
    /// Kept ReLUs before.
    pub kept_before: usize,
    /// Kept ReLUs after.
    pub kept_after: usize,
    /// `kept_before − kept_after`.
    pub saved: usize,
    /// Whether the deadline stopped the CROWN refinement (some units kept interval bounds,
    /// so fewer were found stable; the result is still exact on `D`).
    pub timed_out: bool,
}

/// Which values each value is read by: `readers[v]` lists node indices.
fn readers(net: &Network) -> Vec<Vec<usize>> {
    let mut r = vec![Vec::new(); net.nodes.len() + 1];
    for (k, node) in net.nodes.iter().enumerate() {
        for &v in &node.inputs {
            r[v].push(k);
        }
    }
    r
}

/// Linearizes every kept unit whose pre-activation keeps one sign on `input` (see the module
/// doc), returning the new network, equal to `net` on `input`, and what was done.
/// `deadline` bounds the CROWN refinement only.
pub fn free_linearize(
    net: &Network,
    input: &InputBox,
    deadline: Option<Instant>,
) -> Result<(Network, FreeReport)> {
    let analysis = Analysis::new(net, input, deadline)?;
    let reads = readers(net);
    let mut out = net.clone();
    let mut report = FreeReport {
        timed_out: analysis.stats.timed_out,
        ..FreeReport::default()
    };
    for k in 0..net.nodes.len() {
        let Layer::Relu(mask) = &net.nodes[k].layer else {
            continue;
        };
        if mask.kept() == 0 {
            continue;
        }
        let v = analysis.graph.input_of(k);
        let (lo, hi) = (&analysis.iv.lo[v], &analysis.iv.hi[v]);
        let mut layer = LayerFree {
            node: k,
            units: mask.len(),
            kept_before: mask.kept(),
            ..LayerFree::default()
        };
        // zeroing routes: the producer's row, or every reader's column
        let producer = v
            .checked_sub(1)
            .filter(|&p| matches!(net.nodes[p].layer, Layer::Dense(_)) && reads[v] == [k]);
        let dense_readers = !reads[k + 1].is_empty()
            && reads[k + 1]
                .iter()
                .all(|&r| matches!(net.nodes[r].layer, Layer::Dense(_)))
            && k + 1 != net.nodes.len();
        let mut new_mask = mask.clone();
        for i in 0..mask.len() {
            if !mask.is_kept(i) {
                continue;
            }
            if lo[i] >= 0.0 {
                new_mask.set(i, false);
                layer.active += 1;
            } else if hi[i] <= 0.0 {
                if let Some(p) = producer {
                    let Layer::Dense(a) = &mut out.nodes[p].layer else {
                        unreachable!("checked dense")
                    };
                    a.weight.row_mut(i).fill(0.0);
                    a.bias[i] = 0.0;
                } else if dense_readers {
                    for &r in &reads[k + 1] {
                        let Layer::Dense(a) = &mut out.nodes[r].layer else {
                            unreachable!("checked dense")
                        };
                        a.weight.column_mut(i).fill(0.0);
                    }
                } else {
                    layer.inactive_kept += 1;
                    continue;
                }
                new_mask.set(i, false);
                layer.inactive_zeroed += 1;
            } else {
                layer.unstable += 1;
            }
        }
        layer.kept_after = new_mask.kept();
        out.nodes[k].layer = Layer::Relu(new_mask);
        report.kept_before += layer.kept_before;
        report.kept_after += layer.kept_after;
        report.layers.push(layer);
    }
    report.saved = report.kept_before - report.kept_after;
    Ok((out, report))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bound::samples;
    use crate::tolerance::{assert_close, Tolerance};
    use crate::{Affine, ReluMask};
    use nalgebra::{DMatrix, DVector};

    fn mlp(seed: f64, widths: &[usize]) -> Network {
        let mut net = Network::new(vec![widths[0]]);
        for l in 1..widths.len() {
            let (o, i) = (widths[l], widths[l - 1]);
            net.push(Layer::Dense(Affine::new(
                DMatrix::from_fn(o, i, |r, c| ((r * 13 + c * 7 + l) as f64 * seed).sin()),
                DVector::from_fn(o, |r, _| ((r + 3 * l) as f64 * seed * 1.7).cos() * 0.5),
            )));
            if l + 1 < widths.len() {
                net.push(Layer::Relu(ReluMask::all_kept(o)));
            }
        }
        net
    }

    fn agree(a: &Network, b: &Network, d: &InputBox) {
        for x in samples(d, 300, 7) {
            assert_close(
                &b.forward(&x).unwrap(),
                &a.forward(&x).unwrap(),
                Tolerance::Close,
                "free-linearized vs original",
            );
        }
    }

    /// A small box around a point: most units are stable, they are removed, and the two
    /// networks agree on samples of the box.
    #[test]
    fn small_boxes_free_most_units_and_keep_the_function() {
        let net = mlp(0.37, &[4, 12, 10, 3]);
        let d = InputBox::around(&[0.3, -0.2, 0.5, 0.1], 0.01).unwrap();
        let (m2, r) = free_linearize(&net, &d, None).unwrap();
        assert_eq!(r.kept_before, 22);
        assert!(r.saved >= 15, "{r:?}");
        assert_eq!(m2.relu_counts().unwrap().kept, r.kept_after);
        agree(&net, &m2, &d);
        // and a wide box frees less, but still agrees
        let wide = InputBox::uniform(4, -3.0, 3.0).unwrap();
        let (m3, r3) = free_linearize(&net, &wide, None).unwrap();
        assert!(r3.saved < r.saved, "{r3:?} vs {r:?}");
        agree(&net, &m3, &wide);
    }

    /// An all-stable net loses every kept ReLU: on [1, 2]², relu(x + y) is active, relu(−x)
    /// inactive (zeroed through its dense producer), and the second layer's units read only
    /// constants or positive values.
    #[test]
    fn an_all_stable_net_loses_every_kept_relu() {
        let mut net = Network::new(vec![2]);
        net.push(Layer::Dense(Affine::new(
            DMatrix::from_row_slice(3, 2, &[1.0, 1.0, -1.0, 0.0, 0.5, -0.25]),
            DVector::from_vec(vec![0.0, 0.0, 1.0]),
        )));
        net.push(Layer::Relu(ReluMask::all_kept(3)));
        net.push(Layer::Dense(Affine::new(
            DMatrix::from_row_slice(2, 3, &[1.0, 5.0, 1.0, -1.0, 0.0, 0.0]),
            DVector::from_vec(vec![0.0, 0.5]),
        )));
        net.push(Layer::Relu(ReluMask::all_kept(2)));
        net.push(Layer::Dense(Affine::new(
            DMatrix::from_row_slice(1, 2, &[2.0, 3.0]),
            DVector::zeros(1),
        )));
        let d = InputBox::uniform(2, 1.0, 2.0).unwrap();
        let (m2, r) = free_linearize(&net, &d, None).unwrap();
        assert_eq!((r.kept_before, r.kept_after, r.saved), (5, 0, 5), "{r:?}");
        assert_eq!(r.layers[0].active, 2);
        assert_eq!(r.layers[0].inactive_zeroed, 1);
        assert_eq!(r.layers[1].inactive_zeroed, 1);
        agree(&net, &m2, &d);
        // nothing is kept, so M2 is one affine map on D
        assert_eq!(m2.collapse().unwrap().nodes.len(), 1);
    }

    /// A stable-inactive unit whose ReLU output feeds a residual add cannot be zeroed by a
    /// dense neighbour when its pre-activation is also read elsewhere: it stays kept.
    #[test]
    fn inactive_units_without_a_zero_form_stay_kept() {
        let mut net = Network::new(vec![1]);
        let pre = net.push(Layer::Dense(Affine::new(
            DMatrix::from_element(1, 1, -1.0),
            DVector::zeros(1),
        )));
        let r = net.push(Layer::Relu(ReluMask::all_kept(1)));
        net.push_with(Layer::Add, vec![r, pre]);
        let d = InputBox::uniform(1, 1.0, 2.0).unwrap();
        let (m2, rep) = free_linearize(&net, &d, None).unwrap();
        assert_eq!(rep.layers[0].inactive_kept, 1);
        assert_eq!(rep.saved, 0);
        agree(&net, &m2, &d);
    }
}
