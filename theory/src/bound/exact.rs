//! Exact evaluation at a point, in rationals: decides a counterexample that the
//! outward-rounded interval check cannot (a violation within rounding, ties included).
//!
//! It applies to networks whose real-arithmetic function is rational in its parameters:
//! dense, conv, scale, residual add, flatten/reshape, masked ReLU, and average pooling over
//! windows of a power-of-two area (its f64 weight `1/(kh·kw)` is then exact). A batch norm
//! (`gamma / sqrt(var + eps)`) or another pooling window gives `None`, and so does a dense
//! form with more than [`MAX_ENTRIES`] nonzero weights (rationals grow with depth).
use num_rational::BigRational;
use num_traits::{FromPrimitive, Signed, Zero};

use crate::spec::OutputSpec;
use crate::{Layer, Network, Result};

/// The largest dense form (nonzero weights) evaluated in rationals.
pub const MAX_ENTRIES: usize = 400_000;

/// Whether the dense form of `net` is exactly `net` (see the module docs).
fn rational_network(net: &Network) -> bool {
    net.nodes.iter().all(|n| match &n.layer {
        Layer::BatchNorm(_) => false,
        Layer::AvgPool2d(p) => (p.kernel[0] * p.kernel[1]).is_power_of_two(),
        _ => true,
    })
}

fn q(x: f64) -> BigRational {
    BigRational::from_f64(x).expect("finite parameters")
}

/// The exact outputs of `net` at `x`, or `None` where this module does not apply.
pub fn forward(net: &Network, x: &[f64]) -> Result<Option<Vec<BigRational>>> {
    if !rational_network(net) || x.iter().any(|v| !v.is_finite()) {
        return Ok(None);
    }
    let dense = match net.to_dense() {
        Ok(d) => d,
        Err(crate::Error::TooLarge { .. }) => return Ok(None),
        Err(e) => return Err(e),
    };
    let entries: usize = dense
        .nodes
        .iter()
        .map(|n| match &n.layer {
            Layer::Dense(a) => a.weight.iter().filter(|w| **w != 0.0).count(),
            _ => 0,
        })
        .sum();
    if entries > MAX_ENTRIES {
        return Ok(None);
    }
    let mut vals: Vec<Vec<BigRational>> = vec![x.iter().map(|&v| q(v)).collect()];
    for node in &dense.nodes {
        let input = &vals[node.inputs[0]];
        let out = match &node.layer {
            Layer::Dense(a) => (0..a.weight.nrows())
                .map(|r| {
                    let mut s = q(a.bias[r]);
                    for (c, xi) in input.iter().enumerate() {
                        let w = a.weight[(r, c)];
                        if w != 0.0 && !xi.is_zero() {
                            s += q(w) * xi;
                        }
                    }
                    s
                })
                .collect(),
            Layer::Relu(m) => input
                .iter()
                .enumerate()
                .map(|(i, v)| {
                    if m.is_kept(i) && v.is_negative() {
                        BigRational::zero()
                    } else {
                        v.clone()
                    }
                })
                .collect(),
            Layer::Add => {
                let other = &vals[node.inputs[1]];
                input.iter().zip(other).map(|(a, b)| a + b).collect()
            }
            _ => return Ok(None), // to_dense leaves nothing else
        };
        vals.push(out);
    }
    Ok(vals.pop())
}

/// Whether the exact outputs `y` satisfy every constraint of some conjunction of `spec`.
pub fn violates(spec: &OutputSpec, y: &[BigRational]) -> bool {
    spec.disjuncts.iter().any(|c| {
        c.constraints.iter().all(|r| {
            let mut s = -q(r.rhs);
            for (a, v) in r.coef.iter().zip(y) {
                if *a != 0.0 {
                    s += q(*a) * v;
                }
            }
            !s.is_positive()
        })
    })
}
