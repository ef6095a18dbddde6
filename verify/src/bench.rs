//! The generator behind `snl-verify bench`: one random MLP with every ReLU kept, the same
//! weights linearized to a budget by a seeded shuffle, the dense network as the Marabou
//! comparison (`papers/bench-verify/marabou_compare.py`) reads it, and the attack radius the
//! input boxes are scaled to. The command solves, writes and prints.
use nalgebra::{DMatrix, DVector};
use serde::Serialize;
use snl_theory::bound::{bab, InputBox};
use snl_theory::rng::SeededRng;
use snl_theory::{Affine, Layer, Network, ReluMask};

/// Mixed into the seed of [`with_budget`]'s shuffle.
const BUDGET_SHUFFLE: u64 = 0xb0d9e7;

/// A random MLP `4 → hidden… → 3` with every ReLU kept (weights uniform with variance
/// `2 / fan_in`, biases uniform in ±0.1).
pub fn random_mlp(hidden: &[usize], seed: u64) -> Network {
    let mut rng = SeededRng::new(seed);
    let mut net = Network::new(vec![4]);
    let mut prev = 4;
    for &h in hidden.iter().chain(std::iter::once(&3)) {
        let scale = (6.0 / prev as f64).sqrt();
        let w = DMatrix::from_fn(h, prev, |_, _| scale * rng.uniform(-1.0, 1.0));
        let b = DVector::from_fn(h, |_, _| 0.1 * rng.uniform(-1.0, 1.0));
        net.push(Layer::Dense(Affine::new(w, b)));
        prev = h;
        net.push(Layer::Relu(ReluMask::all_kept(h)));
    }
    net.nodes.pop(); // no ReLU after the logits
    net
}

/// Keeps exactly `k` hidden ReLUs (a seeded shuffle of all hidden units).
pub fn with_budget(net: &Network, k: usize, seed: u64) -> Network {
    let mut units: Vec<(usize, usize)> = Vec::new();
    for (n, node) in net.nodes.iter().enumerate() {
        if let Layer::Relu(m) = &node.layer {
            units.extend((0..m.len()).map(|i| (n, i)));
        }
    }
    let mut rng = SeededRng::new(seed ^ BUDGET_SHUFFLE);
    for i in (1..units.len()).rev() {
        let j = (rng.next_u64() % (i as u64 + 1)) as usize;
        units.swap(i, j);
    }
    let mut out = net.clone().with_all_masks(false);
    for &(n, i) in units.iter().take(k) {
        if let Layer::Relu(m) = &mut out.nodes[n].layer {
            m.set(i, true);
        }
    }
    out
}

/// One node of the dense network as `papers/bench-verify/marabou_compare.py` reads it.
#[derive(Serialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum DenseNode {
    /// `y = W x + b`.
    Dense {
        /// The values it reads.
        inputs: Vec<usize>,
        /// `W`, row by row.
        weight: Vec<Vec<f64>>,
        /// `b`.
        bias: Vec<f64>,
    },
    /// A masked ReLU.
    Relu {
        /// The values it reads.
        inputs: Vec<usize>,
        /// Which units keep their ReLU.
        kept: Vec<bool>,
    },
    /// A residual add.
    Add {
        /// The values it reads.
        inputs: Vec<usize>,
    },
}

/// The nodes of a dense network (dense, masked ReLU and add layers only).
pub fn dense_nodes(dense: &Network) -> Vec<DenseNode> {
    dense
        .nodes
        .iter()
        .map(|n| match &n.layer {
            Layer::Dense(a) => DenseNode::Dense {
                inputs: n.inputs.clone(),
                weight: (0..a.weight.nrows())
                    .map(|r| a.weight.row(r).iter().copied().collect())
                    .collect(),
                bias: a.bias.iter().copied().collect(),
            },
            Layer::Relu(m) => DenseNode::Relu {
                inputs: n.inputs.clone(),
                kept: m.to_bools(),
            },
            _ => DenseNode::Add {
                inputs: n.inputs.clone(),
            },
        })
        .collect()
}

/// PGD restarts and steps of the attack-radius search (the verdicts' own attack is shorter).
pub const SEARCH_PGD: (usize, usize) = (16, 100);
/// Bisection steps of the attack-radius search.
pub const SEARCH_STEPS: usize = 30;

/// The smallest radius in `(0, max]` at which PGD finds a counterexample to `argmax = class`
/// around `center` (bisection; `None` when it finds none at `max`).
pub fn attack_radius(
    net: &Network,
    center: &[f64],
    class: usize,
    max: f64,
) -> anyhow::Result<Option<f64>> {
    let spec =
        snl_theory::spec::OutputSpec::argmax(snl_theory::numel(&net.output_shape()?), class)?;
    let target = bab::Target::new(net, &spec)?;
    let attack = |r: f64| -> anyhow::Result<bool> {
        let input = InputBox::around(center, r)?;
        let (restarts, steps) = SEARCH_PGD;
        Ok(bab::pgd(
            &target,
            &input,
            restarts,
            steps,
            snl_theory::rng::seeds::ATTACK,
            None,
        )?
        .is_some())
    };
    if !attack(max)? {
        return Ok(None);
    }
    let (mut lo, mut hi) = (0.0, max);
    for _ in 0..SEARCH_STEPS {
        let mid = 0.5 * (lo + hi);
        if attack(mid)? {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    Ok(Some(hi))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_budget_keeps_exactly_k_of_the_same_weights() {
        let net = random_mlp(&[6, 5], 3);
        assert_eq!(net.relu_counts().unwrap().kept, 11);
        for k in [0, 4, 11] {
            let b = with_budget(&net, k, 3);
            assert_eq!(b.relu_counts().unwrap().kept, k);
            // only the masks differ
            let x = [0.3, -0.2, 0.9, 0.1];
            if k == 11 {
                assert_eq!(b.forward(&x).unwrap(), net.forward(&x).unwrap());
            }
        }
        assert_eq!(with_budget(&net, 4, 3), with_budget(&net, 4, 3));
        assert_eq!(dense_nodes(&net).len(), net.nodes.len());
    }

    #[test]
    fn the_attack_radius_is_where_the_attack_starts_to_succeed() {
        let net = random_mlp(&[8], 1);
        let c = [0.1, 0.2, -0.3, 0.4];
        let y = net.forward(&c).unwrap();
        let class = (0..y.len()).max_by(|&a, &b| y[a].total_cmp(&y[b])).unwrap();
        let r = attack_radius(&net, &c, class, 10.0)
            .unwrap()
            .expect("a counterexample by 10");
        assert!(r > 0.0 && r <= 10.0);
        let spec = snl_theory::spec::OutputSpec::argmax(3, class).unwrap();
        let t = bab::Target::new(&net, &spec).unwrap();
        let found = |r: f64| {
            let b = InputBox::around(&c, r).unwrap();
            let (restarts, steps) = SEARCH_PGD;
            bab::pgd(
                &t,
                &b,
                restarts,
                steps,
                snl_theory::rng::seeds::ATTACK,
                None,
            )
            .unwrap()
            .is_some()
        };
        assert!(found(r));
    }
}
