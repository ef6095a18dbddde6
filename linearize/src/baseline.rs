//! Baseline masks for the Pareto comparison: other ways of choosing which
//! ReLUs to keep at a budget `B`, each then fine-tuned exactly as SNL's binarized masks are
//! ([`crate::train::finetune_file`]).
//!
//! - [`Baseline::Random`]: `B` units drawn uniformly from all ReLU units.
//! - [`Baseline::Uniform`]: the same fraction `B / total` in every ReLU layer
//!   (`round` with the remainder given to the largest fractional parts), units drawn at random
//!   within the layer.
//! - [`Baseline::Snip`]: the paper's "SNIP-style" ablation: saliency `|c · ∂L/∂c|` at `c ≡ 1`
//!   (the pretrained network), `L` the cross-entropy summed over a few training batches; the
//!   `B` units of largest saliency are kept (ties by unit order).
use tch::{Device, Kind};

use crate::data::{SeededRng, Splits};
use crate::graph::SnlNet;
use crate::snl::ce_loss;

/// A way to choose the kept ReLUs without SNL.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Baseline {
    /// Uniformly random units over the whole network.
    Random,
    /// The same fraction of every layer, random within the layer.
    Uniform,
    /// Saliency `|c·∂L/∂c|` at `c ≡ 1` (SNIP-style), top units kept.
    Snip,
}

impl Baseline {
    /// Its name on the command line and in results.
    pub fn name(self) -> &'static str {
        match self {
            Baseline::Random => "random",
            Baseline::Uniform => "uniform",
            Baseline::Snip => "snip",
        }
    }
}

/// Per-layer quotas summing to `budget`, proportional to the layer sizes `units`
/// (largest remainders get the leftover units).
pub fn uniform_quotas(units: &[i64], budget: i64) -> Vec<i64> {
    let total: i64 = units.iter().sum();
    let exact: Vec<f64> = units
        .iter()
        .map(|&u| budget as f64 * u as f64 / total as f64)
        .collect();
    let mut q: Vec<i64> = exact.iter().map(|e| e.floor() as i64).collect();
    let mut order: Vec<usize> = (0..units.len()).collect();
    order.sort_by(|&a, &b| {
        let fa = exact[a] - exact[a].floor();
        let fb = exact[b] - exact[b].floor();
        fb.partial_cmp(&fa).expect("finite").then(a.cmp(&b))
    });
    let mut left = budget - q.iter().sum::<i64>();
    for &l in order.iter().cycle() {
        if left <= 0 {
            break;
        }
        if q[l] < units[l] {
            q[l] += 1;
            left -= 1;
        }
    }
    q
}

/// The indices of the `k` largest scores (stable: ties keep index order).
pub fn top_k(scores: &[f64], k: usize) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..scores.len()).collect();
    idx.sort_by(|&a, &b| {
        scores[b]
            .partial_cmp(&scores[a])
            .expect("finite scores")
            .then(a.cmp(&b))
    });
    idx.truncate(k);
    idx
}

/// SNIP-style saliency of every ReLU unit, per layer: `|c · ∂L/∂c|` at `c ≡ 1`, the CE loss
/// summed over the first `batches` shuffled training batches of 128.
pub fn snip_saliency(
    net: &mut SnlNet,
    splits: &Splits,
    batches: usize,
    seed: u64,
    device: Device,
) -> Vec<Vec<f64>> {
    net.plain_relu = false;
    for m in net.relus_mut() {
        tch::no_grad(|| {
            let _ = m.c.fill_(1.0);
        });
        m.c = m.c.set_requires_grad(true);
        m.c.zero_grad();
    }
    for (x, y) in splits.train.batches(128, seed, device).take(batches.max(1)) {
        let loss = ce_loss(&net.forward_t(&x, false), &y);
        loss.backward();
    }
    net.relus()
        .map(|m| {
            let s = (m.c.grad() * &m.c)
                .abs()
                .to_kind(Kind::Double)
                .flatten(0, -1);
            Vec::<f64>::try_from(&s.to_device(Device::Cpu)).expect("saliency")
        })
        .collect()
}

/// The kept flags of every ReLU layer (pixel masks) for `budget` units.
pub fn baseline_mask(
    method: Baseline,
    net: &mut SnlNet,
    budget: i64,
    splits: &Splits,
    saliency_batches: usize,
    seed: u64,
    device: Device,
) -> Vec<Vec<bool>> {
    let units: Vec<i64> = net.relus().map(|m| m.units()).collect();
    let mut rng = SeededRng::new(seed ^ snl_theory::rng::seeds::BASELINE_MASK);
    let mut flags: Vec<Vec<bool>> = units.iter().map(|&u| vec![false; u as usize]).collect();
    match method {
        Baseline::Random => {
            let total: i64 = units.iter().sum();
            let mut offsets = vec![0usize];
            for &u in &units {
                offsets.push(offsets.last().unwrap() + u as usize);
            }
            for g in rng
                .permutation(total as usize)
                .into_iter()
                .take(budget as usize)
            {
                let l = offsets.partition_point(|&o| o <= g) - 1;
                flags[l][g - offsets[l]] = true;
            }
        }
        Baseline::Uniform => {
            for (l, q) in uniform_quotas(&units, budget).into_iter().enumerate() {
                for i in rng
                    .permutation(units[l] as usize)
                    .into_iter()
                    .take(q as usize)
                {
                    flags[l][i] = true;
                }
            }
        }
        Baseline::Snip => {
            let sal = snip_saliency(net, splits, saliency_batches, seed, device);
            let all: Vec<f64> = sal.iter().flatten().copied().collect();
            let mut offsets = vec![0usize];
            for s in &sal {
                offsets.push(offsets.last().unwrap() + s.len());
            }
            for g in top_k(&all, budget as usize) {
                let l = offsets.partition_point(|&o| o <= g) - 1;
                flags[l][g - offsets[l]] = true;
            }
        }
    }
    flags
}

/// Sets the masks of `net` to `flags` (binary, frozen).
pub fn apply_mask(net: &mut SnlNet, flags: &[Vec<bool>]) {
    for (m, f) in net.relus_mut().zip(flags) {
        m.set_binary(f);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotas_are_proportional_and_sum_to_the_budget() {
        // 12544, 6272, 128 units (the CNN): 1% → 125.44, 62.72, 1.28 → 125, 63, 1 = 189
        assert_eq!(uniform_quotas(&[12544, 6272, 128], 189), vec![125, 63, 1]);
        assert_eq!(uniform_quotas(&[3, 3, 3], 4), vec![2, 1, 1]);
        assert_eq!(uniform_quotas(&[1, 100], 2).iter().sum::<i64>(), 2);
        // never more than a layer has
        assert_eq!(uniform_quotas(&[1, 1], 2), vec![1, 1]);
    }

    #[test]
    fn top_k_takes_the_largest_and_breaks_ties_by_index() {
        assert_eq!(top_k(&[0.1, 3.0, 0.0, 3.0, 2.0], 3), vec![1, 3, 4]);
        assert_eq!(top_k(&[0.0, 0.0, 0.0], 2), vec![0, 1]);
    }
}
