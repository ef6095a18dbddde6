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
//! * stable inactive: the unit is zeroed, exactly, then linearized. Zeroing goes through a
//!   neighbour when one can do it: if the pre-activation is produced by a [`Layer::Dense`]
//!   or [`Layer::Scale`] node that nothing else reads, that node's row and bias entry (or
//!   factor) become `0.0`, so `z ≡ 0` and the identity gives `0`; otherwise, if every reader
//!   of the ReLU node's output is a dense or scale node, their column (or factor) for the
//!   unit becomes `0.0`. Otherwise (a convolution's output feeding a pooling or a residual
//!   add, say: a single spatial position cannot be zeroed by per-channel parameters) a
//!   [`Layer::Scale`] node is inserted after the ReLU node, with factor `0.0` at those units
//!   and `1.0` elsewhere (one node per ReLU node at most). Multiplying by `0.0` or `1.0` is
//!   exact, so every stable-inactive unit is removed and `f|_D` is unchanged.
//!
//! Units whose interval straddles 0 stay kept: the bound cannot show them stable (they may
//! still be stable on `D`; a tighter method would save more). Running the pass again on its
//! own output zeroes through the scale nodes already there and inserts no new one.
use std::time::Instant;

use serde::Serialize;

use crate::bound::lbp::Analysis;
use crate::bound::InputBox;
use crate::{Layer, Network, Result, ValueId};

/// What happened to the kept units of one ReLU node.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct LayerFree {
    /// The ReLU node's index in the input network's `nodes` (in the output network it is
    /// larger by the scale nodes inserted before it).
    pub node: usize,
    /// Units in the node.
    pub units: usize,
    /// Kept units before.
    pub kept_before: usize,
    /// Kept units after.
    pub kept_after: usize,
    /// Stable active on `D`: linearized.
    pub active: usize,
    /// Stable inactive on `D`: zeroed, then linearized.
    pub inactive_zeroed: usize,
    /// Of `inactive_zeroed`, the units zeroed by the scale node inserted after the ReLU
    /// node (no dense or scale neighbour could zero them).
    pub zeroed_by_scale: usize,
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
    /// Scale nodes inserted (at most one per ReLU node).
    pub scale_nodes: usize,
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
    // (ReLU node, factors of the scale node to insert after it)
    let mut gates: Vec<(usize, Vec<f64>)> = Vec::new();
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
        // zeroing routes: the producer's row (or factor), every reader's column (or
        // factor), or a scale node after the ReLU
        let zeroable =
            |n: usize| matches!(net.nodes[n].layer, Layer::Dense(_) | Layer::Scale { .. });
        let producer = v.checked_sub(1).filter(|&p| zeroable(p) && reads[v] == [k]);
        let zeroable_readers = !reads[k + 1].is_empty()
            && reads[k + 1].iter().all(|&r| zeroable(r))
            && k + 1 != net.nodes.len();
        let mut gate: Option<Vec<f64>> = None;
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
                    zero_row(&mut out.nodes[p].layer, i);
                } else if zeroable_readers {
                    for &r in &reads[k + 1] {
                        zero_column(&mut out.nodes[r].layer, i);
                    }
                } else {
                    gate.get_or_insert_with(|| vec![1.0; mask.len()])[i] = 0.0;
                    layer.zeroed_by_scale += 1;
                }
                new_mask.set(i, false);
                layer.inactive_zeroed += 1;
            } else {
                layer.unstable += 1;
            }
        }
        if let Some(factor) = gate {
            gates.push((k, factor));
        }
        layer.kept_after = new_mask.kept();
        out.nodes[k].layer = Layer::Relu(new_mask);
        report.kept_before += layer.kept_before;
        report.kept_after += layer.kept_after;
        report.layers.push(layer);
    }
    report.saved = report.kept_before - report.kept_after;
    report.scale_nodes = gates.len();
    // last first, so that the node indices of the earlier ones stay valid
    for (k, factor) in gates.into_iter().rev() {
        out.insert_after(ValueId::of_node(k), Layer::Scale { factor });
    }
    Ok((out, report))
}

/// Makes output `i` of a dense or scale node `0` (row and bias entry, or factor).
fn zero_row(layer: &mut Layer, i: usize) {
    match layer {
        Layer::Dense(a) => {
            a.weight.row_mut(i).fill(0.0);
            a.bias[i] = 0.0;
        }
        Layer::Scale { factor } => factor[i] = 0.0,
        _ => unreachable!("checked: dense or scale"),
    }
}

/// Makes a dense or scale node ignore its input `i` (column, or factor).
fn zero_column(layer: &mut Layer, i: usize) {
    match layer {
        Layer::Dense(a) => a.weight.column_mut(i).fill(0.0),
        Layer::Scale { factor } => factor[i] = 0.0,
        _ => unreachable!("checked: dense or scale"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bound::samples;
    use crate::tolerance::{assert_close, Tolerance};
    use crate::{Affine, AvgPool2d, Conv2d, ReluMask};
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

    /// A stable-inactive unit whose ReLU output feeds a residual add, with its
    /// pre-activation also read by the add: no dense neighbour can zero it, so a scale node
    /// after the ReLU does.
    #[test]
    fn inactive_units_read_by_an_add_are_zeroed_by_a_scale_node() {
        let mut net = Network::new(vec![1]);
        let pre = net.push(Layer::Dense(Affine::new(
            DMatrix::from_element(1, 1, -1.0),
            DVector::zeros(1),
        )));
        let r = net.push(Layer::Relu(ReluMask::all_kept(1)));
        net.push_with(Layer::Add, vec![r, pre]);
        let d = InputBox::uniform(1, 1.0, 2.0).unwrap();
        let (m2, rep) = free_linearize(&net, &d, None).unwrap();
        assert_eq!(rep.layers[0].inactive_zeroed, 1);
        assert_eq!(rep.layers[0].zeroed_by_scale, 1);
        assert_eq!((rep.saved, rep.scale_nodes), (1, 1));
        // dense, relu, scale, add: the add reads the scale's output and the dense's
        assert_eq!(m2.nodes.len(), 4);
        assert_eq!(m2.nodes[2].layer, Layer::Scale { factor: vec![0.0] });
        assert_eq!(m2.nodes[3].inputs, crate::ir::value::ids(&[3, 1]));
        agree(&net, &m2, &d);
    }

    /// conv → relu → avg-pool → flatten → dense → relu → dense on `[0.5, 1]^{1×4×4}`:
    /// conv3×3 (1 → 2 channels, padding 1) on `[1, 4, 4]` → 32 kept ReLUs → 2×2 average
    /// pooling → flatten: the conv-read-by-a-pooling shape that only a scale node can zero.
    fn conv_relu_pool(weight: Vec<f64>, bias: [f64; 2]) -> Network {
        let mut net = Network::new(vec![1, 4, 4]);
        net.push(Layer::Conv2d(Conv2d {
            in_channels: 1,
            out_channels: 2,
            kernel: [3, 3],
            stride: [1, 1],
            padding: [1, 1],
            weight,
            bias: bias.to_vec(),
        }));
        net.push(Layer::Relu(ReluMask::all_kept(32)));
        net.push(Layer::AvgPool2d(AvgPool2d {
            kernel: [2, 2],
            stride: [2, 2],
        }));
        net.push(Layer::Flatten);
        net
    }

    /// channel 0 of the conv has positive weights and bias (pre-activation ≥ 0.1 > 0 on
    /// `D`: stable active), channel 1 negative ones (≤ −0.1: stable inactive, and only a
    /// scale node can zero a single position of a conv output read by a pooling). Every
    /// kept ReLU goes, the result agrees with the original on `D`, round-trips through the
    /// model file, and a second pass changes nothing.
    #[test]
    fn an_all_stable_cnn_with_avg_pool_loses_every_kept_relu() {
        let weight = (0..18)
            .map(|j| {
                let m = 0.05 + 0.01 * (j % 9) as f64;
                if j < 9 {
                    m
                } else {
                    -m
                }
            })
            .collect();
        let mut net = conv_relu_pool(weight, [0.1, -0.1]);
        // the pooled channel-0 values are ≥ 0.1; rows 0 and 1 stay positive, row 2 negative
        net.push(Layer::Dense(Affine::new(
            DMatrix::from_fn(3, 8, |r, c| match r {
                0 => 1.0,
                1 => 0.5 * (c % 4) as f64,
                _ => -1.0,
            }),
            DVector::from_vec(vec![0.0, 0.25, -0.5]),
        )));
        net.push(Layer::Relu(ReluMask::all_kept(3)));
        net.push(Layer::Dense(Affine::new(
            DMatrix::from_row_slice(2, 3, &[1.0, -2.0, 3.0, 0.5, 0.5, -1.0]),
            DVector::from_vec(vec![0.1, -0.2]),
        )));
        let d = InputBox::uniform(16, 0.5, 1.0).unwrap();
        let (m2, r) = free_linearize(&net, &d, None).unwrap();
        assert_eq!((r.kept_before, r.kept_after, r.saved), (35, 0, 35), "{r:?}");
        assert_eq!(r.layers[0].active, 16);
        assert_eq!(r.layers[0].inactive_zeroed, 16);
        assert_eq!(r.layers[0].zeroed_by_scale, 16);
        assert_eq!((r.layers[1].active, r.layers[1].inactive_zeroed), (2, 1));
        assert_eq!(
            r.layers[1].zeroed_by_scale, 0,
            "zeroed through its dense producer"
        );
        assert_eq!(r.scale_nodes, 1);
        assert_eq!(m2.relu_counts().unwrap().kept, 0);
        let Layer::Scale { factor } = &m2.nodes[2].layer else {
            panic!(
                "expected the scale node after the conv's ReLU: {:?}",
                m2.nodes[2]
            );
        };
        assert_eq!(factor.iter().filter(|&&f| f == 0.0).count(), 16);
        assert!(factor[..16].iter().all(|&f| f == 1.0));
        agree(&net, &m2, &d);
        // nothing is kept, so M2 is one affine map on D (after flattening the image)
        let kinds: Vec<&str> = m2
            .collapse()
            .unwrap()
            .nodes
            .iter()
            .map(|n| n.layer.kind())
            .collect();
        assert_eq!(kinds, ["flatten", "dense"]);
        // the model file keeps the scale node bit for bit
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m2.safetensors");
        crate::io::model_file::save(&m2, &path).unwrap();
        let back = crate::io::model_file::load(&path).unwrap();
        assert_eq!(back, m2);
        agree(&net, &back, &d);
        // a second pass has nothing left to do
        let (m3, r3) = free_linearize(&back, &d, None).unwrap();
        assert_eq!((r3.kept_before, r3.saved, r3.scale_nodes), (0, 0, 0));
        assert_eq!(m3, back);
    }

    /// Partly stable: the units left kept are the unstable ones, a second pass on a wider
    /// model zeroes through the existing scale node, and sound bounds of the freed model
    /// contain the original's outputs on `D`.
    #[test]
    fn a_partly_stable_cnn_keeps_its_unstable_units_and_bounds_stay_sound() {
        let weight = (0..18).map(|j| ((j * 7 % 11) as f64 - 5.0) / 9.0).collect();
        let mut net = conv_relu_pool(weight, [0.05, -0.3]);
        net.push(Layer::Dense(Affine::new(
            DMatrix::from_fn(2, 8, |r, c| ((r * 8 + c) as f64 * 0.9).sin()),
            DVector::from_vec(vec![0.1, -0.1]),
        )));
        let centre: Vec<f64> = (0..16).map(|j| 0.5 + 0.4 * (j as f64).cos()).collect();
        let d = InputBox::around(&centre, 0.05).unwrap();
        let (m2, r) = free_linearize(&net, &d, None).unwrap();
        let l = &r.layers[0];
        assert_eq!(l.kept_after, l.unstable);
        assert_eq!(l.kept_before, l.active + l.inactive_zeroed + l.unstable);
        assert!(l.zeroed_by_scale > 0 && l.unstable > 0, "{r:?}");
        agree(&net, &m2, &d);
        for method in [crate::bound::Method::Interval, crate::bound::Method::Crown] {
            let b = m2.bound(&d).unwrap().using(method).solve().unwrap();
            for x in samples(&d, 200, 3) {
                let y = net.forward(&x).unwrap();
                for (i, yi) in y.iter().enumerate() {
                    assert!(
                        b.bounds.lower[i] <= *yi && *yi <= b.bounds.upper[i],
                        "{method:?}: output {i} = {yi} outside the freed model's bounds"
                    );
                }
            }
        }
    }
}
