//! Times writing and reading model files with many nodes, and importing the same chain as
//! ONNX. Loading is linear in the file size: 100,000 nodes load (or are refused) in well
//! under a second in release mode.
//!
//! `cargo run --release -p snl-theory --no-default-features --example many_nodes -- 100000`
use std::collections::HashMap;
use std::time::Instant;

use nalgebra::{DMatrix, DVector};
use snl_theory::{Affine, Layer, Network, ReluMask};

/// A model file written by hand the short way: `n` nodes alternating `x + 1` (every dense
/// node names the same tensors) and a ReLU without a mask; `last` replaces the final node.
fn by_hand(n: usize, last: Option<&str>) -> anyhow::Result<Vec<u8>> {
    let one = 1.0f32.to_le_bytes();
    let w = safetensors::tensor::TensorView::new(safetensors::Dtype::F32, vec![1, 1], &one)?;
    let b = safetensors::tensor::TensorView::new(safetensors::Dtype::F32, vec![1], &one)?;
    let mut nodes: Vec<&str> = (0..n)
        .map(|k| match k % 2 {
            0 => r#"{"op":"dense","weight":"w","bias":"b"}"#,
            _ => r#"{"op":"relu"}"#,
        })
        .collect();
    if let Some(l) = last {
        nodes[n - 1] = l;
    }
    let network = format!(r#"{{"input_shape":[1],"nodes":[{}]}}"#, nodes.join(","));
    let meta = HashMap::from([
        ("format_version".to_string(), "1".to_string()),
        ("network".to_string(), network),
    ]);
    Ok(safetensors::serialize([("w", w), ("b", b)], Some(meta))?)
}

fn main() -> anyhow::Result<()> {
    let n: usize = std::env::args().nth(1).map_or(Ok(100_000), |s| s.parse())?;
    let dir = tempfile::tempdir()?;

    let mut net = Network::new(vec![1]);
    for k in 0..n {
        net.push(match k % 2 {
            0 => Layer::Dense(Affine::new(
                DMatrix::from_element(1, 1, 1.0),
                DVector::from_element(1, 1.0),
            )),
            _ => Layer::Relu(ReluMask::all_kept(1)),
        });
    }
    let p = dir.path().join("saved.safetensors");
    let t = Instant::now();
    snl_theory::save(&net, &p)?;
    let save = t.elapsed();
    let t = Instant::now();
    let back = snl_theory::load(&p)?;
    let load = t.elapsed();
    println!(
        "{n} nodes written by save: {} bytes, save {save:.3?}, load {load:.3?}, forward(0) = {:?}",
        std::fs::metadata(&p)?.len(),
        back.forward(&[0.0])?
    );

    let bytes =
        snl_theory::io::onnx::export(&net, snl_theory::io::onnx::Encoding::Masked)?.to_bytes();
    let t = Instant::now();
    let back = snl_theory::io::onnx::import(&bytes)?;
    let import = t.elapsed();
    println!(
        "{n} nodes as ONNX (masked encoding): {} bytes, import {import:.3?}, forward(0) = {:?}",
        bytes.len(),
        back.forward(&[0.0])?
    );

    for (what, last) in [
        ("by hand, no masks", None),
        (
            "by hand, bad last node",
            Some(r#"{"op":"relu","inputs":[999999999]}"#),
        ),
    ] {
        let p = dir.path().join("by-hand.safetensors");
        std::fs::write(&p, by_hand(n, last)?)?;
        let t = Instant::now();
        let result = snl_theory::load(&p);
        let load = t.elapsed();
        let outcome = match result {
            Ok(net) => format!("forward(0) = {:?}", net.forward(&[0.0])?),
            Err(e) => format!("refused: {e}"),
        };
        println!(
            "{n} nodes {what}: {} bytes, load {load:.3?}, {outcome}",
            std::fs::metadata(&p)?.len()
        );
    }
    Ok(())
}
