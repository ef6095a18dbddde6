//! Import-time rewrites that give a verifier back what an exporter spelled out op by op.
//!
//! [`fold_masked_relus`]: snl's masked encoding (module docs of [`crate::io::onnx`]) writes a
//! selectively linearized ReLU layer on a value `x` as `x + m ⊙ Relu(−x)` with a constant
//! 0/1 mask `m`. Imported op by op that is
//! `Scale(−1) → Relu(all kept) → Scale(m) → Add(x, ·)` (for 1-D values of at most 4096
//! units the mask is a `MatMul` by `diag(m)`, imported as a `Dense` with weight `diag(m)`
//! and bias 0), which keeps an unstable ReLU on every unit, linearized ones included. The
//! rewrite replaces the four nodes by one `Relu` on `x` keeping exactly the units with
//! `m_i = 1`:
//!
//! * `m_i = 1`: `x_i + relu(−x_i) = max(x_i, 0) = relu(x_i)`;
//! * `m_i = 0`: `x_i + 0 = x_i`, the identity of a linearized unit.
//!
//! The rewrite is exact in real arithmetic. It is also exact in f64 on finite values
//! (`x + (−x)` is exactly `0`, `1 · r` and `0 · r` are exact, and a diagonal `Dense` adds
//! exact zeros), up to the sign of a zero result; only infinite inputs differ
//! (`−∞ + ∞` is NaN where `relu(−∞) = 0`).
//!
//! A chain is rewritten only when each intermediate value (the outputs of `Scale(−1)`,
//! `Relu` and the mask) is read by nothing but the next node of the chain, every factor of
//! the first `Scale` is exactly `−1` and every mask factor is exactly `0` or `1`; anything
//! else stays as imported.
use crate::ir::network::{Layer, Network, Node};
use crate::{ReluMask, ValueId};

/// The mask a node applies when it is a 0/1 mask in one of the imported forms: a `Scale`
/// with every factor in `{0, 1}`, or a square `Dense` with a `{0, 1}` diagonal, zeros off
/// it and a zero bias. `None` otherwise.
fn zero_one_mask(layer: &Layer) -> Option<Vec<bool>> {
    let flag = |f: f64| {
        if f == 1.0 {
            Some(true)
        } else if f == 0.0 {
            Some(false)
        } else {
            None
        }
    };
    match layer {
        Layer::Scale { factor } => factor.iter().map(|&f| flag(f)).collect(),
        Layer::Dense(a) => {
            let w = &a.weight;
            let n = w.nrows();
            if w.ncols() != n || a.bias.iter().any(|&b| b != 0.0) {
                return None;
            }
            for j in 0..n {
                for i in 0..n {
                    if i != j && w[(i, j)] != 0.0 {
                        return None;
                    }
                }
            }
            (0..n).map(|i| flag(w[(i, i)])).collect()
        }
        _ => None,
    }
}

/// The masked-ReLU chain ending at the `Add` node `d`, when `v` is the value it passes
/// through and `p` the masked branch: the nodes `[a, b, c]` (`Scale(−1)`, `Relu`, mask) and
/// the mask.
fn chain(
    net: &Network,
    readers: &[usize],
    v: ValueId,
    p: ValueId,
) -> Option<([usize; 3], Vec<bool>)> {
    let value_node = |u: ValueId| -> Option<(usize, &Node)> {
        // a node's output, read only by the next node in the chain
        let k = u.node()?;
        (readers.get(u.index()) == Some(&1)).then(|| (k, &net.nodes[k]))
    };
    let (c, mask_node) = value_node(p)?;
    let mask = zero_one_mask(&mask_node.layer)?;
    let [r] = mask_node.inputs[..] else {
        return None;
    };
    let (b, relu) = value_node(r)?;
    let Layer::Relu(m) = &relu.layer else {
        return None;
    };
    let [s] = relu.inputs[..] else {
        return None;
    };
    if m.kept() != m.len() || m.len() != mask.len() {
        return None;
    }
    let (a, neg) = value_node(s)?;
    let Layer::Scale { factor } = &neg.layer else {
        return None;
    };
    if neg.inputs[..] != [v] || factor.len() != mask.len() || factor.iter().any(|&f| f != -1.0) {
        return None;
    }
    Some(([a, b, c], mask))
}

/// Replaces every imported masked-ReLU chain `v → Scale(−1) → Relu → mask → Add(v, ·)` by
/// one `Relu` on `v` keeping the units whose mask entry is 1 (module docs), removing the
/// three inner nodes and renumbering the values. Returns the rewritten network and the
/// number of chains replaced.
pub(crate) fn fold_masked_relus(net: Network) -> (Network, usize) {
    let n = net.nodes.len();
    // readers[u]: how many node inputs read value u (+1 for the network output)
    let mut readers = vec![0usize; n + 1];
    for node in &net.nodes {
        for &u in &node.inputs {
            if let Some(r) = readers.get_mut(u.index()) {
                *r += 1;
            }
        }
    }
    readers[n] += 1;
    let mut removed = vec![false; n];
    let mut replace: Vec<(usize, ValueId, Vec<bool>)> = Vec::new();
    for (d, node) in net.nodes.iter().enumerate() {
        let (Layer::Add, [x, y]) = (&node.layer, &node.inputs[..]) else {
            continue;
        };
        let found = chain(&net, &readers, *x, *y)
            .map(|(ns, m)| (*x, ns, m))
            .or_else(|| chain(&net, &readers, *y, *x).map(|(ns, m)| (*y, ns, m)));
        if let Some((v, ns, mask)) = found {
            if ns.iter().any(|&k| removed[k]) {
                continue;
            }
            for k in ns {
                removed[k] = true;
            }
            replace.push((d, v, mask));
        }
    }
    let folded = replace.len();
    if folded == 0 {
        return (net, 0);
    }
    let mut nodes = net.nodes;
    for (d, v, mask) in replace {
        nodes[d] = Node {
            layer: Layer::Relu(ReluMask::from_bools(&mask)),
            inputs: vec![v],
        };
    }
    // new_id[u]: old value u after the removal (`None`: removed)
    let mut new_id: Vec<Option<ValueId>> = vec![None; n + 1];
    new_id[0] = Some(ValueId::INPUT);
    let mut kept_nodes = Vec::with_capacity(n - 3 * folded);
    for (k, mut node) in nodes.into_iter().enumerate() {
        if removed[k] {
            continue;
        }
        for u in &mut node.inputs {
            // a kept node never reads a removed value: each is read only inside its chain
            *u = new_id[*u].expect("a value read outside its chain is kept");
        }
        kept_nodes.push(node);
        new_id[k + 1] = Some(ValueId::from_index(kept_nodes.len()));
    }
    (
        Network {
            input_shape: net.input_shape,
            nodes: kept_nodes,
        },
        folded,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::onnx::{export, import, Encoding};
    use crate::ir::network::{Affine, BatchNorm, Conv2d};
    use crate::ir::value::ids;
    use crate::numel;
    use nalgebra::{DMatrix, DVector};

    /// Values exact in f32: multiples of 1/64 in [-2, 2).
    fn vals(n: usize, seed: f64) -> Vec<f64> {
        (0..n)
            .map(|i| (((i as f64 * seed).sin() * 128.0).round()) / 64.0)
            .collect()
    }

    /// Uniform values in [lo, hi).
    fn random(n: usize, seed: u64, lo: f64, hi: f64) -> Vec<f64> {
        let mut s = crate::rng::SeededRng::new(seed);
        (0..n).map(|_| s.uniform(lo, hi)).collect()
    }

    /// A partial mask: unit i kept when `(i * 7 + offset).is_multiple_of(3)`.
    fn partial(n: usize, offset: usize) -> ReluMask {
        ReluMask::from_bools(
            &(0..n)
                .map(|i| (i * 7 + offset).is_multiple_of(3))
                .collect::<Vec<_>>(),
        )
    }

    fn masks(net: &Network) -> Vec<ReluMask> {
        net.nodes
            .iter()
            .filter_map(|n| match &n.layer {
                Layer::Relu(m) => Some(m.clone()),
                _ => None,
            })
            .collect()
    }

    /// `|a − b| <= 1e-5 · max(1, |b|)` elementwise.
    fn assert_rel(got: &[f64], want: &[f64], label: &str) {
        assert_eq!(got.len(), want.len(), "{label}: lengths");
        for (i, (g, w)) in got.iter().zip(want).enumerate() {
            assert!(
                (g - w).abs() <= 1e-5 * w.abs().max(1.0),
                "{label}: output {i}: {g} vs {w}"
            );
        }
    }

    fn normalization(mean: &[f64], std: &[f64]) -> Layer {
        Layer::BatchNorm(BatchNorm {
            gamma: vec![1.0; mean.len()],
            beta: vec![0.0; mean.len()],
            mean: mean.to_vec(),
            var: std.iter().map(|s| s * s).collect(),
            eps: 0.0,
        })
    }

    /// An MLP with an input normalization (node 0) and ReLU layers partially kept, fully
    /// linearized and fully kept.
    fn mlp() -> Network {
        let mut net = Network::new(vec![6]);
        net.push(normalization(&[0.5; 6], &[0.25; 6]));
        let widths = [6, 9, 8, 7, 5];
        for (l, w) in widths.windows(2).enumerate() {
            net.push(Layer::Dense(Affine::new(
                DMatrix::from_row_slice(w[1], w[0], &vals(w[0] * w[1], 0.37 + l as f64)),
                DVector::from_vec(vals(w[1], 1.1 + l as f64)),
            )));
            if l + 2 < widths.len() {
                net.push(Layer::Relu(match l {
                    1 => ReluMask::all_linearized(w[1]),
                    _ => partial(w[1], l),
                }));
            }
        }
        net.push(Layer::Relu(ReluMask::all_kept(5)));
        net.push(Layer::Dense(Affine::new(
            DMatrix::from_row_slice(3, 5, &vals(15, 0.77)),
            DVector::from_vec(vals(3, 0.3)),
        )));
        net
    }

    /// A small CNN with an input normalization (node 0), partially kept ReLU layers on
    /// `[c, h, w]` values (mask as `Mul`) and on a flat value (mask as `MatMul` by
    /// `diag(m)`), and a residual connection.
    fn cnn() -> Network {
        let mut net = Network::new(vec![2, 6, 6]);
        net.push(normalization(&[0.4, 0.5], &[0.25, 0.3]));
        net.push(Layer::Conv2d(Conv2d {
            in_channels: 2,
            out_channels: 3,
            kernel: [3, 3],
            stride: [1, 1],
            padding: [1, 1],
            weight: vals(54, 0.37),
            bias: vals(3, 1.1),
        }));
        let r1 = net.push(Layer::Relu(partial(108, 0)));
        net.push(Layer::Conv2d(Conv2d {
            in_channels: 3,
            out_channels: 3,
            kernel: [3, 3],
            stride: [1, 1],
            padding: [1, 1],
            weight: vals(81, 0.53),
            bias: vals(3, 0.9),
        }));
        let r2 = net.push(Layer::Relu(partial(108, 1)));
        net.push_with(Layer::Add, vec![r1, r2]);
        net.push(Layer::Conv2d(Conv2d {
            in_channels: 3,
            out_channels: 2,
            kernel: [3, 3],
            stride: [2, 2],
            padding: [1, 1],
            weight: vals(54, 0.29),
            bias: vals(2, 0.4),
        }));
        net.push(Layer::Relu(partial(18, 2)));
        net.push(Layer::Flatten);
        net.push(Layer::Dense(Affine::new(
            DMatrix::from_row_slice(10, 18, &vals(180, 0.21)),
            DVector::from_vec(vals(10, 0.5)),
        )));
        net.push(Layer::Relu(partial(10, 1)));
        net.push(Layer::Dense(Affine::new(
            DMatrix::from_row_slice(4, 10, &vals(40, 0.61)),
            DVector::from_vec(vals(4, 0.7)),
        )));
        net
    }

    /// Export (masked) → import: the same ReLU masks, layer by layer, and the same
    /// function within 1e-5 relative on random pixel inputs.
    #[test]
    fn masked_round_trip_keeps_masks_and_function() {
        for (name, net) in [("mlp", mlp()), ("cnn", cnn())] {
            let onnx = export(&net, Encoding::Masked).unwrap();
            let back = import(&onnx.to_bytes()).unwrap();
            assert_eq!(masks(&back), masks(&net), "{name}: masks");
            let (want, got) = (net.relu_counts().unwrap(), back.relu_counts().unwrap());
            assert_eq!((got.total, got.kept), (want.total, want.kept), "{name}");
            for (g, w) in got.layers.iter().zip(&want.layers) {
                assert_eq!((&g.shape, g.total, g.kept), (&w.shape, w.total, w.kept));
            }
            // no leftover of the masked form: no Scale by −1 before a ReLU
            assert!(
                back.nodes.iter().all(
                    |n| !matches!(&n.layer, Layer::Scale { factor } if factor.contains(&-1.0))
                ),
                "{name}: a Scale(−1) is left"
            );
            for seed in 0..5 {
                let x = random(numel(&net.input_shape), seed, 0.0, 1.0);
                assert_rel(
                    &back.forward(&x).unwrap(),
                    &net.forward(&x).unwrap(),
                    &format!("{name} seed {seed}"),
                );
            }
        }
    }

    /// `x → Dense → Scale(−1) → Relu → <mask> → Add(·, x)` as IR; `extra` appends an Add
    /// reading the Relu's output a second time.
    fn chain_net(mask: Layer, swap: bool, extra: bool) -> Network {
        let mut net = Network::new(vec![4]);
        let v = net.push(Layer::Dense(Affine::new(
            DMatrix::from_row_slice(4, 4, &vals(16, 0.41)),
            DVector::from_vec(vals(4, 0.8)),
        )));
        net.push(Layer::Scale {
            factor: vec![-1.0; 4],
        });
        let r = net.push(Layer::Relu(ReluMask::all_kept(4)));
        let p = net.push(mask);
        let y = net.push_with(Layer::Add, if swap { vec![p, v] } else { vec![v, p] });
        if extra {
            net.push_with(Layer::Add, vec![y, r]);
        }
        net
    }

    fn scale(f: &[f64]) -> Layer {
        Layer::Scale { factor: f.to_vec() }
    }

    fn diag(d: &[f64], off: f64) -> Layer {
        let n = d.len();
        let mut w = DMatrix::from_diagonal(&DVector::from_column_slice(d));
        w[(0, n - 1)] = off;
        Layer::Dense(Affine::new(w, DVector::zeros(n)))
    }

    /// The chain, in both operand orders and with the mask as `Scale` or diagonal `Dense`,
    /// becomes one `Relu` with the mask's kept units, computing the same; anything off the
    /// pattern stays as it is.
    #[test]
    fn only_the_exact_pattern_is_rewritten() {
        let m = [1.0, 0.0, 0.0, 1.0];
        for (mask, swap) in [
            (scale(&m), false),
            (scale(&m), true),
            (diag(&m, 0.0), false),
            (diag(&m, 0.0), true),
        ] {
            let net = chain_net(mask, swap, false);
            let (out, folded) = fold_masked_relus(net.clone());
            assert_eq!(folded, 1);
            out.validate().unwrap();
            assert_eq!(out.nodes.len(), 2);
            assert_eq!(out.nodes[1].inputs, ids(&[1]));
            assert_eq!(
                masks(&out),
                vec![ReluMask::from_bools(&[true, false, false, true])]
            );
            for seed in 0..5 {
                let x = random(4, seed, -3.0, 3.0);
                assert_eq!(out.forward(&x).unwrap(), net.forward(&x).unwrap());
            }
        }
        for (label, net) in [
            (
                "factor 0.5",
                chain_net(scale(&[1.0, 0.5, 0.0, 1.0]), false, false),
            ),
            ("off-diagonal", chain_net(diag(&m, 0.25), false, false)),
            ("relu read twice", chain_net(scale(&m), false, true)),
        ] {
            let (out, folded) = fold_masked_relus(net.clone());
            assert_eq!(folded, 0, "{label}");
            assert_eq!(out, net, "{label}");
        }
        // the same through ONNX: imported op by op, nothing folded, the same function
        for extra in [false, true] {
            let net = chain_net(scale(&[1.0, 0.5, 0.0, 1.0]), false, extra);
            let back = import(&export(&net, Encoding::Masked).unwrap().to_bytes()).unwrap();
            assert_eq!(masks(&back), vec![ReluMask::all_kept(4)]);
            for seed in 0..5 {
                let x = random(4, seed, -3.0, 3.0);
                assert_rel(
                    &back.forward(&x).unwrap(),
                    &net.forward(&x).unwrap(),
                    "kept",
                );
            }
        }
    }

    /// Values after a chain, and several chains in a row, are renumbered: nodes read
    /// only earlier values and the function is unchanged.
    #[test]
    fn consecutive_chains_are_renumbered() {
        let mut net = chain_net(scale(&[1.0, 0.0, 1.0, 1.0]), false, false);
        let v = ValueId::from_index(net.nodes.len());
        net.push(Layer::Scale {
            factor: vec![-1.0; 4],
        });
        net.push(Layer::Relu(ReluMask::all_kept(4)));
        let p = net.push(diag(&[0.0, 1.0, 0.0, 0.0], 0.0));
        let y = net.push_with(Layer::Add, vec![p, v]);
        net.push_with(Layer::Add, vec![y, v]);
        let (out, folded) = fold_masked_relus(net.clone());
        assert_eq!(folded, 2);
        out.validate().unwrap();
        let inputs: Vec<_> = out.nodes.iter().map(|n| n.inputs.clone()).collect();
        assert_eq!(inputs, vec![ids(&[0]), ids(&[1]), ids(&[2]), ids(&[3, 2])]);
        for seed in 0..5 {
            let x = random(4, seed, -3.0, 3.0);
            assert_eq!(out.forward(&x).unwrap(), net.forward(&x).unwrap());
        }
    }
}
