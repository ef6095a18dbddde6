//! Interval propagation over the dense form.
//!
//! Dense `y = W x + b` in centre–radius form: with `c = (l + u)/2`, `r = (u − l)/2`,
//! `y ∈ [W c + b − |W| r, W c + b + |W| r]`. ReLU: `[max(0, l), max(0, u)]` on kept units,
//! `[l, u]` on linearized ones. Add: `[l1 + l2, u1 + u2]`.
use crate::bound::{InputBox, Interval};
use crate::{Affine, Error, Layer, Network, Result};

/// The interval of every value of the dense network (`[0]` is the input box).
pub fn propagate(dense: &Network, input: &InputBox) -> Result<Vec<Vec<Interval>>> {
    check_dense(dense, "interval")?;
    let mut values = vec![input.intervals()];
    for k in 0..dense.nodes.len() {
        let v = node_interval(dense, k, &values);
        values.push(v);
    }
    Ok(values)
}

/// Recomputes the intervals of the values after `value` (nodes `value..`), intersecting
/// each with its previous interval (both are sound, so is the intersection).
#[cfg(feature = "lp")]
pub(crate) fn repropagate(dense: &Network, values: &mut [Vec<Interval>], value: usize) {
    for k in value..dense.nodes.len() {
        let fresh = node_interval(dense, k, values);
        for (old, new) in values[k + 1].iter_mut().zip(fresh) {
            *old = old.intersect(&new);
        }
    }
}

fn node_interval(dense: &Network, k: usize, values: &[Vec<Interval>]) -> Vec<Interval> {
    let node = &dense.nodes[k];
    let x = &values[node.inputs[0]];
    match &node.layer {
        Layer::Dense(a) => affine_interval(a, x),
        Layer::Relu(m) => x
            .iter()
            .enumerate()
            .map(|(i, iv)| {
                if m.is_kept(i) {
                    Interval::new(iv.lo.max(0.0), iv.hi.max(0.0))
                } else {
                    *iv
                }
            })
            .collect(),
        Layer::Add => x
            .iter()
            .zip(&values[node.inputs[1]])
            .map(|(a, b)| Interval::new(a.lo + b.lo, a.hi + b.hi))
            .collect(),
        _ => unreachable!("check_dense rejects other layers"),
    }
}

/// `W x + b` over a box of intervals.
pub fn affine_interval(a: &Affine, x: &[Interval]) -> Vec<Interval> {
    (0..a.weight.nrows())
        .map(|r| {
            let (mut c, mut rad) = (a.bias[r], 0.0);
            for (j, iv) in x.iter().enumerate() {
                let w = a.weight[(r, j)];
                if w != 0.0 {
                    c += w * 0.5 * (iv.lo + iv.hi);
                    rad += w.abs() * 0.5 * (iv.hi - iv.lo);
                }
            }
            Interval::new(c - rad, c + rad)
        })
        .collect()
}

/// Kept ReLU units whose pre-activation interval straddles 0.
pub fn unstable_kept(dense: &Network, values: &[Vec<Interval>]) -> usize {
    dense
        .nodes
        .iter()
        .map(|n| match &n.layer {
            Layer::Relu(m) => values[n.inputs[0]]
                .iter()
                .enumerate()
                .filter(|(i, iv)| m.is_kept(*i) && iv.straddles_zero())
                .count(),
            _ => 0,
        })
        .sum()
}

/// Checks that the network is in dense form (only dense, relu and add nodes).
pub fn check_dense(dense: &Network, method: &'static str) -> Result<()> {
    dense.validate()?;
    for (node, n) in dense.nodes.iter().enumerate() {
        if !matches!(n.layer, Layer::Dense(_) | Layer::Relu(_) | Layer::Add) {
            return Err(Error::UnsupportedLayer {
                node,
                kind: n.layer.kind(),
                method,
            });
        }
    }
    Ok(())
}
