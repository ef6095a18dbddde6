//! `snl-verify regions` end to end on a model with a known region count.
use std::process::Command;

use nalgebra::{DMatrix, DVector};
use snl_theory::{Affine, Layer, Network, ReluMask};

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_snl-verify"));
    c.env_clear();
    c
}

/// Three lines in general position through [−1, 1]²: relu(x), relu(y), relu(x + y − 0.5),
/// all kept: 1 + 3 + C(3, 2) = 7 regions (T1's bound, reached); the third unit linearized: 4.
fn model(dir: &std::path::Path, kept: &[bool]) -> std::path::PathBuf {
    let mut net = Network::new(vec![2]);
    net.push(Layer::Dense(Affine::new(
        DMatrix::from_row_slice(3, 2, &[1.0, 0.0, 0.0, 1.0, 1.0, 1.0]),
        DVector::from_vec(vec![0.0, 0.0, -0.5]),
    )));
    net.push(Layer::Relu(ReluMask::from_bools(kept)));
    net.push(Layer::Dense(Affine::new(
        DMatrix::from_row_slice(1, 3, &[1.0, -2.0, 3.0]),
        DVector::zeros(1),
    )));
    let p = dir.join(format!(
        "m{}.safetensors",
        kept.iter().filter(|&&k| k).count()
    ));
    snl_theory::save(&net, &p).unwrap();
    p
}

#[test]
fn box_counts_are_exact_and_match_t1() {
    let dir = tempfile::tempdir().unwrap();
    for (kept, want) in [([true, true, true], 7), ([true, true, false], 4)] {
        let p = model(dir.path(), &kept);
        let out = bin()
            .args([
                "regions",
                "--input-box",
                "-1:1",
                "--output-format",
                "json",
                "--model",
            ])
            .arg(&p)
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(v["regions"], want);
        assert!(v["t1"]["layered"]["exact"].as_u64().unwrap() >= want);
    }
}

#[test]
fn segment_pieces_and_bad_inputs() {
    let dir = tempfile::tempdir().unwrap();
    let p = model(dir.path(), &[true, true, true]);
    let (a, b) = (dir.path().join("a.txt"), dir.path().join("b.txt"));
    std::fs::write(&a, "-1 -1").unwrap();
    std::fs::write(&b, "[1, 1]").unwrap();
    let out = bin()
        .args(["regions", "--output-format", "json", "--model"])
        .arg(&p)
        .arg("--from")
        .arg(&a)
        .arg("--to")
        .arg(&b)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    // along x = y = 2t − 1: kinks at t = 1/2 (x = y = 0) and t = 5/8 (x + y = 0.5)
    assert_eq!(v["pieces"], 3);
    std::fs::write(&b, "1 1 1").unwrap();
    let out = bin()
        .args(["regions", "--model"])
        .arg(&p)
        .arg("--from")
        .arg(&a)
        .arg("--to")
        .arg(&b)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(String::from_utf8(out.stderr).unwrap().lines().count(), 1);
    let out = bin()
        .args(["regions", "--input-box", "1:-1", "--model"])
        .arg(&p)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}
