//! The network IR: reference forward against plain formulas, collapse of linearized nets.
use crate::common::{arb_mlp, mlp};
use proptest::prelude::*;
use snl_theory::tolerance::{compare, Tolerance};
use snl_theory::{Layer, Network};

/// Plain ReLU MLP forward written out by hand: h = max(0, W h + b) per hidden layer.
fn plain_relu_mlp(net: &Network, x: &[f64]) -> Vec<f64> {
    let mut h = nalgebra::DVector::from_column_slice(x);
    let n = net.nodes.len();
    for (k, node) in net.nodes.iter().enumerate() {
        if let Layer::Dense(a) = &node.layer {
            h = &a.weight * h + &a.bias;
            if k + 1 < n {
                h = h.map(|v| v.max(0.0));
            }
        }
    }
    h.as_slice().to_vec()
}

#[test]
fn all_kept_mask_equals_the_plain_relu_net() {
    let w: Vec<f64> = (0..97)
        .map(|i| ((i * 37 % 23) as f64 - 11.0) / 7.0)
        .collect();
    let net = mlp(&[3, 5, 4, 2], &w, &[true], false);
    for s in 0..20 {
        let x: Vec<f64> = (0..3)
            .map(|i| ((s * 5 + i * 3) % 9) as f64 / 4.0 - 1.0)
            .collect();
        let got = net.forward(&x).unwrap();
        assert_eq!(
            compare(&got, &plain_relu_mlp(&net, &x), Tolerance::Close),
            None
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// A fully linearized network equals its collapsed single affine map.
    #[test]
    fn fully_linearized_net_equals_its_collapsed_affine_map(
        net in arb_mlp(),
        xs in proptest::collection::vec(-3.0f64..3.0, 4 * 8),
    ) {
        let lin = net.with_all_masks(false);
        let c = lin.collapse().unwrap();
        prop_assert_eq!(c.nodes.len(), 1);
        prop_assert!(matches!(c.nodes[0].layer, Layer::Dense(_)));
        let d = lin.input_shape[0];
        for x in xs.chunks(4).take(8) {
            let x = &x[..d];
            let r = compare(&c.forward(x).unwrap(), &lin.forward(x).unwrap(), Tolerance::Close);
            prop_assert!(r.is_none(), "{}", r.unwrap());
        }
    }

    /// Collapse never changes the function, whatever the masks (kept ReLUs stay).
    #[test]
    fn collapse_preserves_any_masked_net(
        net in arb_mlp(),
        xs in proptest::collection::vec(-3.0f64..3.0, 4 * 8),
    ) {
        let c = net.collapse().unwrap();
        prop_assert_eq!(c.relu_counts().unwrap().kept, net.relu_counts().unwrap().kept);
        let d = net.input_shape[0];
        for x in xs.chunks(4).take(8) {
            let x = &x[..d];
            let r = compare(&c.forward(x).unwrap(), &net.forward(x).unwrap(), Tolerance::Close);
            prop_assert!(r.is_none(), "{}", r.unwrap());
        }
    }
}
