//! T1: bounds on the number of linear regions of a masked ReLU network.
//!
//! With `B` kept ReLUs the activation pattern of the kept units takes at most `2^B` values,
//! and the network is affine on each pattern's cell: at most `2^B` regions
//! ([`pattern_bound`]). Grouping the kept units into layers of sizes `B_1 … B_L` (a layer =
//! one [`Layer::Relu`](crate::Layer::Relu) node of the IR, in topological order), each
//! region of the layers before is cut by the `B_l` hyperplanes of layer `l` into at most
//! `Σ_{j=0}^{d} C(B_l, j)` pieces, so #regions `≤ Π_l Σ_{j=0}^{d} C(B_l, j)`
//! ([`layered_bound`]); for `d = 1` this is `Π_l (B_l + 1)`. Linearized units add nothing.
//! Proofs: `theory/README.md`.
//!
//! ```
//! use snl_theory::expressiveness::{layered_bound, pattern_bound};
//! // two layers of 3 kept units on a 2-D input: (1 + 3 + 3)² = 49 ≤ 2^6 = 64
//! assert_eq!(layered_bound(&[3, 3], 2).exact, Some(49));
//! assert_eq!(pattern_bound(6).exact, Some(64));
//! ```
use num_bigint::BigUint;
use num_traits::{One, ToPrimitive, Zero};
use serde::Serialize;

use crate::{numel, Network, Result};

/// A region-count bound: the exact integer when it fits in `u128`, and always its log2.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RegionBound {
    /// The bound, when it is below `2^128`.
    pub exact: Option<u128>,
    /// `log2` of the bound.
    pub log2: f64,
    #[serde(skip)]
    big: BigUint,
}

impl RegionBound {
    fn new(big: BigUint) -> Self {
        let bits = big.bits();
        let log2 = if big.is_zero() {
            f64::NEG_INFINITY
        } else if bits <= 1000 {
            big.to_f64().map(f64::log2).unwrap_or(f64::INFINITY)
        } else {
            // log2(top 64 bits) + the bits shifted out
            let shift = bits - 64;
            let top = (&big >> shift).to_f64().unwrap_or(0.0);
            top.log2() + shift as f64
        };
        RegionBound {
            exact: big.to_u128(),
            log2,
            big,
        }
    }

    /// The exact integer when it fits in `u128`, else `2^log2` with one decimal.
    pub fn display(&self) -> String {
        match self.exact {
            Some(v) => v.to_string(),
            None => format!("2^{:.1}", self.log2),
        }
    }

    /// The exact bound as a big integer.
    pub fn to_biguint(&self) -> BigUint {
        self.big.clone()
    }
}

/// `Σ_{j=0}^{min(d, b)} C(b, j)`: the most regions `b` hyperplanes cut `ℝ^d` into.
pub fn sum_binomials(b: usize, d: usize) -> BigUint {
    if d >= b {
        return BigUint::one() << b;
    }
    let mut term = BigUint::one(); // C(b, 0)
    let mut sum = BigUint::one();
    for j in 0..d {
        term = term * BigUint::from(b - j) / BigUint::from(j + 1);
        sum += &term;
    }
    sum
}

/// `2^total_kept`: one region per activation pattern.
pub fn pattern_bound(total_kept: usize) -> RegionBound {
    RegionBound::new(BigUint::one() << total_kept)
}

/// `Π_l Σ_{j=0}^{d} C(B_l, j)` for per-layer kept counts `B_l` and input dimension `d`.
pub fn layered_bound(kept_per_layer: &[usize], d: usize) -> RegionBound {
    let mut p = BigUint::one();
    for &b in kept_per_layer {
        p *= sum_binomials(b, d);
    }
    RegionBound::new(p)
}

/// T1 for one network.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct T1Bound {
    /// The input dimension the bound is for.
    pub input_dim: usize,
    /// Kept units per ReLU node, in node order.
    pub kept_per_layer: Vec<usize>,
    /// `Π_l Σ_{j≤d} C(B_l, j)`.
    pub layered: RegionBound,
    /// `2^B` (never smaller than `layered`).
    pub patterns: RegionBound,
}

/// T1's bound on the linear regions of `net` over an input space of dimension `d` (use the
/// network's input size, or less for a `d`-dimensional slice of it), from the per-layer kept
/// counts ([`Network::relu_counts`]).
pub fn t1_bound_for(net: &Network, d: usize) -> Result<T1Bound> {
    let counts = net.relu_counts()?;
    let kept: Vec<usize> = counts.layers.iter().map(|l| l.kept).collect();
    Ok(T1Bound {
        input_dim: d,
        layered: layered_bound(&kept, d),
        patterns: pattern_bound(counts.kept),
        kept_per_layer: kept,
    })
}

/// [`t1_bound_for`] with `d` = the number of input values.
pub fn t1_bound(net: &Network) -> Result<T1Bound> {
    t1_bound_for(net, numel(&net.input_shape))
}

/// [`t1_bound`] of the network stored in an snl model file.
pub fn t1_bound_of_file(path: impl AsRef<std::path::Path>) -> Result<T1Bound> {
    t1_bound(&crate::load(path)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Layer, ReluMask};

    #[test]
    fn binomial_sums_by_hand() {
        // 3 lines in the plane: 1 + 3 + 3 = 7 regions
        assert_eq!(sum_binomials(3, 2), BigUint::from(7u32));
        // on the line, B points cut it into B + 1 pieces
        assert_eq!(sum_binomials(5, 1), BigUint::from(6u32));
        // d ≥ B: every pattern
        assert_eq!(sum_binomials(4, 9), BigUint::from(16u32));
        assert_eq!(sum_binomials(0, 3), BigUint::one());
    }

    #[test]
    fn layered_bound_exact_and_log2() {
        let b = layered_bound(&[2, 2, 2], 1);
        assert_eq!(b.exact, Some(27));
        assert!((b.log2 - 27f64.log2()).abs() < 1e-12);
        // 3 layers of 100 000 units in d = 3072: far beyond u128, log2 still finite
        let huge = layered_bound(&[100_000; 3], 3072);
        assert_eq!(huge.exact, None);
        assert!(huge.log2.is_finite() && huge.log2 > 128.0);
        // and never above 2^B
        assert!(huge.log2 <= 300_000.0);
        let p = pattern_bound(130);
        assert_eq!(p.exact, None);
        assert!((p.log2 - 130.0).abs() < 1e-9);
    }

    #[test]
    fn network_bound_counts_kept_units_per_relu_node() {
        let mut net = Network::new(vec![2]);
        net.push(Layer::Relu(ReluMask::from_bools(&[true, false])));
        net.push(Layer::Relu(ReluMask::from_bools(&[true, true])));
        let t = t1_bound(&net).unwrap();
        assert_eq!(t.kept_per_layer, vec![1, 2]);
        // (1 + 1) · (1 + 2 + 1) = 8 = 2^3
        assert_eq!(t.layered.exact, Some(8));
        assert_eq!(t.patterns.exact, Some(8));
        assert_eq!(t1_bound_for(&net, 1).unwrap().layered.exact, Some(6));
        // the same through a model file
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.safetensors");
        crate::save(&net, &path).unwrap();
        assert_eq!(t1_bound_of_file(&path).unwrap(), t);
    }
}
