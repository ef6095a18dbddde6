//! Random small masked networks for property tests.
use nalgebra::{DMatrix, DVector};
use proptest::prelude::*;
use snl_theory::{Affine, Layer, Network, ReluMask, ValueId};

/// A random MLP `d → h1 → … → out` with masked ReLUs after every hidden layer; with
/// `skip`, a residual add around the last hidden block (equal widths are forced then).
pub fn mlp(widths: &[usize], weights: &[f64], masks: &[bool], skip: bool) -> Network {
    let mut net = Network::new(vec![widths[0]]);
    let (mut wi, mut mi) = (0, 0);
    let next = |n: usize, src: &[f64], i: &mut usize| -> Vec<f64> {
        (0..n)
            .map(|_| {
                let v = src[*i % src.len()];
                *i += 1;
                v
            })
            .collect()
    };
    let last = widths.len() - 1;
    for l in 1..=last {
        let (fan_in, fan_out) = (widths[l - 1], widths[l]);
        let block_in = ValueId::from_index(net.nodes.len());
        let w = next(fan_in * fan_out, weights, &mut wi);
        let b = next(fan_out, weights, &mut wi);
        net.push(Layer::Dense(Affine::new(
            DMatrix::from_row_slice(fan_out, fan_in, &w),
            DVector::from_vec(b),
        )));
        if l < last {
            let kept: Vec<bool> = (0..fan_out)
                .map(|_| {
                    let k = masks[mi % masks.len()];
                    mi += 1;
                    k
                })
                .collect();
            let r = net.push(Layer::Relu(ReluMask::from_bools(&kept)));
            if skip && l == last - 1 && fan_in == fan_out && l > 1 {
                net.push_with(Layer::Add, vec![r, block_in]);
            }
        }
    }
    net
}

/// Strategy: widths (input 1–4, 1–3 hidden layers of 1–6, output 1–3), weights, masks.
pub fn arb_mlp() -> impl Strategy<Value = Network> {
    (
        1usize..=4,
        proptest::collection::vec(1usize..=6, 1..=3),
        1usize..=3,
        proptest::collection::vec(-2.0f64..2.0, 8..64),
        proptest::collection::vec(any::<bool>(), 1..24),
        any::<bool>(),
    )
        .prop_map(|(d, hidden, out, weights, masks, skip)| {
            let mut widths = vec![d];
            widths.extend(&hidden);
            widths.push(out);
            if skip {
                // equal widths around the last hidden block so the residual add fits
                let n = widths.len();
                if n >= 4 {
                    widths[n - 3] = widths[n - 2];
                }
            }
            mlp(&widths, &weights, &masks, skip)
        })
}
