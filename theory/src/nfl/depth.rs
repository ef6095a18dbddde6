//! The depth-profile result on alternating data (theory/README.md, "T4").
//!
//! A network on the line whose kept ReLUs form layers of sizes `B_1 … B_L` (each layer may
//! also carry linearized units) classifies at most
//! [`depth_ceiling`]`(n, B) = min(n, ⌈(n + M)/2⌉)` of `n` alternating points, `M = Π (B_l + 1)`
//! (T1 gives at most `M` pieces, T2 turns pieces into points), and the bound is reached by
//! the composed zigzag [`zigzag_witness`]:
//!
//! `g_m(u) = m·u + Σ_{j=1}^{m−1} (−1)^j·2m·relu(u − j/m)` (`m − 1` kept ReLUs plus one
//! linearized unit carrying `u`) maps each `[j/m, (j+1)/m]` onto `[0, 1]`, alternately up and
//! down, so `G = g_{m_L} ∘ … ∘ g_{m_1}` (`m_l = B_l + 1`) has `G(k/M) = k mod 2` for
//! `k = 0..=M`; beyond `[0, 1]` it never returns to `[0, 1]`. Then
//! `f(x) = ½ − G((x − 1)/M)` is `+½` at odd points and `−½` at even points among
//! `x = 1..=M+1`, and keeps the sign of `f(M + 1)` for `x > M + 1`: it classifies
//! `min(n, ⌈(n + M)/2⌉)` points.
use num_bigint::BigInt;
use num_rational::BigRational;

use super::{ceiling, ExactNet};
use crate::{Affine, Layer, Network, ReluMask};

/// `Π (B_l + 1)`, saturating.
pub fn pieces_bound(profile: &[usize]) -> usize {
    profile
        .iter()
        .fold(1usize, |p, &b| p.saturating_mul(b.saturating_add(1)))
}

/// The depth-profile ceiling `min(n, ⌈(n + Π (B_l + 1))/2⌉)`.
pub fn depth_ceiling(n: usize, profile: &[usize]) -> usize {
    ceiling(n, pieces_bound(profile))
}

/// The fewest kept ReLUs any network needs to classify all `n ≥ 2` alternating points:
/// `⌈log₂(n − 1)⌉` (T1's `2^B` regions must hold `n − 1` sign changes; reached by
/// `⌈log₂(n − 1)⌉` layers of one kept ReLU each, the composed tent map).
pub fn min_kept_for_all(n: usize) -> usize {
    let mut b = 0;
    while (1usize << b) < n.saturating_sub(1) {
        b += 1;
    }
    b
}

/// The coefficients of `g_m` on its units `[u, relu(u − 1/m), …, relu(u − (m−1)/m)]`:
/// `[m, −2m, 2m, −2m, …]`.
fn zigzag_coefficients(m: usize) -> Vec<f64> {
    let mf = m as f64;
    (0..m)
        .map(|j| {
            if j == 0 {
                mf
            } else if j % 2 == 1 {
                -2.0 * mf
            } else {
                2.0 * mf
            }
        })
        .collect()
}

/// The composed-zigzag network for `n`-point alternating data and the kept-ReLU profile
/// `profile` (`B_l` per layer, `≥ 0`): `f(x) = ½ − G((x − 1)/M)` as an IR network
/// `Dense(1 → m_1), Relu, Dense(m_1 → m_2), Relu, …, Dense(m_L → 1)`, layer `l` having
/// `B_l` kept units and one linearized unit (unit 0). The input map and each layer's output
/// combination are folded into the next dense node. `n` does not enter the network.
pub fn zigzag_witness(profile: &[usize]) -> Network {
    use nalgebra::{DMatrix, DVector};
    let total = pieces_bound(profile) as f64;
    let mut net = Network::new(vec![1]);
    // the value feeding the next layer is `coef · h + shift` of the previous hidden vector
    let mut coef: Vec<f64> = vec![1.0 / total];
    let mut shift = -1.0 / total;
    for &b in profile {
        let m = b + 1;
        let fan_in = coef.len();
        let w = DMatrix::from_fn(m, fan_in, |_, c| coef[c]);
        let bias = DVector::from_fn(m, |j, _| shift - j as f64 / m as f64);
        net.push(Layer::Dense(Affine::new(w, bias)));
        let kept: Vec<bool> = (0..m).map(|j| j > 0).collect();
        net.push(Layer::Relu(ReluMask::from_bools(&kept)));
        coef = zigzag_coefficients(m);
        shift = 0.0;
    }
    net.push(Layer::Dense(Affine::new(
        DMatrix::from_fn(1, coef.len(), |_, c| -coef[c]),
        DVector::from_element(1, 0.5 - shift),
    )));
    net
}

/// [`zigzag_witness`] with its intended rational parameters (`1/M`, `j/m`, `±2m`, `½`)
/// instead of their nearest f64: the construction of the proof, evaluated exactly.
pub fn zigzag_exact(profile: &[usize]) -> ExactNet {
    let r = |p: i64, q: i64| BigRational::new(BigInt::from(p), BigInt::from(q));
    let total = pieces_bound(profile) as i64;
    let mut coef: Vec<BigRational> = vec![r(1, total)];
    let mut shift = r(-1, total);
    let mut layers = Vec::new();
    for &b in profile {
        let m = (b + 1) as i64;
        let w: Vec<Vec<BigRational>> = (0..m).map(|_| coef.clone()).collect();
        let bias: Vec<BigRational> = (0..m).map(|j| &shift - r(j, m)).collect();
        layers.push((w, bias, (0..m).map(|j| j > 0).collect()));
        coef = (0..m)
            .map(|j| match j {
                0 => r(m, 1),
                j if j % 2 == 1 => r(-2 * m, 1),
                _ => r(2 * m, 1),
            })
            .collect();
        shift = r(0, 1);
    }
    ExactNet {
        layers,
        out_weight: coef.iter().map(|c| -c).collect(),
        out_bias: r(1, 2) - shift,
    }
}

/// The exact rational network equal to a dense chain `Dense, Relu, …, Relu, Dense` with
/// one input and one output, every f64 parameter converted exactly; `None` for any other
/// shape or a non-finite parameter.
pub fn exact_chain(net: &Network) -> Option<ExactNet> {
    let q = |v: f64| BigRational::from_float(v);
    let k = net.nodes.len();
    if k.is_multiple_of(2) || net.input_shape != [1] {
        return None;
    }
    let mut layers = Vec::new();
    for pair in net.nodes[..k - 1].chunks(2) {
        let (Layer::Dense(a), Layer::Relu(mask)) = (&pair[0].layer, &pair[1].layer) else {
            return None;
        };
        let mut w = Vec::new();
        for r in 0..a.weight.nrows() {
            w.push(
                (0..a.weight.ncols())
                    .map(|c| q(a.weight[(r, c)]))
                    .collect::<Option<Vec<_>>>()?,
            );
        }
        let b = a.bias.iter().map(|&v| q(v)).collect::<Option<Vec<_>>>()?;
        layers.push((w, b, mask.to_bools()));
    }
    let Layer::Dense(out) = &net.nodes[k - 1].layer else {
        return None;
    };
    if out.weight.nrows() != 1 {
        return None;
    }
    Some(ExactNet {
        layers,
        out_weight: (0..out.weight.ncols())
            .map(|c| q(out.weight[(0, c)]))
            .collect::<Option<Vec<_>>>()?,
        out_bias: q(out.bias[0])?,
    })
}

/// All profiles `(B_1, …, B_L)` with every `B_l ≥ 1` and `Π (B_l + 1) ≤ max_pieces`
/// (ordered; layers of only linearized units add nothing and are left out).
pub fn profiles_up_to(max_pieces: usize) -> Vec<Vec<usize>> {
    fn rec(left: usize, cur: &mut Vec<usize>, out: &mut Vec<Vec<usize>>) {
        if !cur.is_empty() {
            out.push(cur.clone());
        }
        for m in 2..=left {
            cur.push(m - 1);
            rec(left / m, cur, out);
            cur.pop();
        }
    }
    let mut out = Vec::new();
    rec(max_pieces, &mut Vec::new(), &mut out);
    out
}

/// Exact value helper for tests and reports: `f(x)` of an exact net at an integer.
pub fn eval_at(net: &ExactNet, x: i64) -> BigRational {
    net.eval(&BigRational::from_integer(BigInt::from(x)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nfl::label;
    use crate::regions::pieces_1d;
    use num_traits::Signed;

    /// Every profile with `Π (B_l + 1) ≤ 64`: the composed zigzag of the proof, evaluated in
    /// exact rationals, classifies exactly `min(n, ⌈(n + M)/2⌉)` points for `n` on both sides
    /// of `M + 1`, and so does the IR network built from it, its f64 parameters converted
    /// exactly (`exact_chain`) and evaluated exactly. For the 42 profiles with `M ≤ 16` the
    /// exact region walk finds exactly `M` pieces on `[1, M + 1]` (T1's bound, reached).
    #[test]
    fn every_profile_up_to_64_pieces_reaches_its_ceiling_exactly() {
        let profiles = profiles_up_to(64);
        // ordered factorizations with factors ≥ 2 of the numbers 2..=64
        assert_eq!(profiles.len(), 440);
        let zero = BigRational::from_integer(0.into());
        for p in &profiles {
            let m = pieces_bound(p);
            let exact = zigzag_exact(p);
            let net = zigzag_witness(p);
            assert_eq!(net.relu_counts().unwrap().kept, p.iter().sum::<usize>());
            // the IR network itself, its f64 parameters converted exactly
            let ir = exact_chain(&net).expect("a dense chain");
            // point i is classified iff label(i)·f(i) > 0; the count for n is a prefix sum
            let hit: Vec<bool> = (1..=m + 5)
                .map(|i| {
                    let y = BigRational::from_integer(label(i).into());
                    let v = eval_at(&exact, i as i64) * &y;
                    let w = eval_at(&ir, i as i64) * &y;
                    assert_eq!(w > zero, v > zero, "profile {p:?}, x = {i}: IR net {w}");
                    v > zero
                })
                .collect();
            for n in [2, m.saturating_sub(1).max(2), m + 1, m + 2, m + 5] {
                let got = hit[..n].iter().filter(|&&h| h).count();
                assert_eq!(got, depth_ceiling(n, p), "profile {p:?}, n = {n}");
            }
            if m <= 16 {
                let pc = pieces_1d(&net, 1.0, (m + 1) as f64).unwrap();
                assert_eq!(pc.pieces, m, "profile {p:?}");
            }
        }
    }

    /// Layers with no kept unit change nothing: (0, 2, 0) behaves as (2).
    #[test]
    fn linear_only_layers_are_neutral() {
        let a = exact_chain(&zigzag_witness(&[0, 2, 0])).unwrap();
        for n in 2..=8 {
            assert_eq!(a.classified(n).len(), depth_ceiling(n, &[2]));
        }
    }

    /// One layer needs `B ≥ n − 2` for all points; depth needs only `⌈log₂(n − 1)⌉`.
    #[test]
    fn depth_needs_only_a_logarithm_of_the_points() {
        for n in 2..=40usize {
            let b = min_kept_for_all(n);
            assert!((1usize << b) >= n - 1 && (b == 0 || (1usize << (b - 1)) < n - 1));
            let tent = vec![1; b];
            let net = exact_chain(&zigzag_witness(&tent)).unwrap();
            assert_eq!(net.classified(n).len(), n, "n = {n}");
            // one layer of n − 3 kept units falls short
            if n >= 3 {
                assert!(depth_ceiling(n, &[n - 3]) < n);
                assert_eq!(depth_ceiling(n, &[n - 2]), n);
            }
        }
        // 33 points: one layer needs 31 kept ReLUs, five layers of one suffice
        assert_eq!(min_kept_for_all(33), 5);
    }

    #[test]
    fn profiles_are_enumerated_once_each() {
        let ps = profiles_up_to(8);
        // products ≤ 8 with factors ≥ 2, ordered: 2,3,4,5,6,7,8 (7) + 2·2,2·3,3·2,2·4,4·2 (5)
        // + 2·2·2 (1) = 13
        assert_eq!(ps.len(), 13, "{ps:?}");
        let mut s = ps.clone();
        s.sort();
        s.dedup();
        assert_eq!(s.len(), ps.len());
    }

    #[test]
    fn the_witness_values_are_plus_minus_a_half() {
        let net = exact_chain(&zigzag_witness(&[2, 1])).unwrap();
        let half = BigRational::new(1.into(), 2.into());
        // M = 6: x = 1..=7 alternate +½, −½ up to rounding of 1/3, 1/6 in f64
        for x in 1..=7i64 {
            let v = eval_at(&net, x);
            let err = if x % 2 == 1 { &v - &half } else { &v + &half };
            assert!(
                err.abs() < BigRational::new(1.into(), 1_000_000_000.into()),
                "x = {x}: {v}"
            );
        }
    }
}
