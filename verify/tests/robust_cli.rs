//! `snl-verify robust` end to end: the table's counts on a model whose answers are known,
//! JSON output, and one-line errors for bad inputs.
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::common::{expect_error, run};
use nalgebra::{DMatrix, DVector};
use snl_theory::io::samples::Samples;
use snl_theory::{Affine, Layer, Network, ReluMask};

/// Two pixels `(a, b)` → logits `(a − b, b − a, relu(a) − 10)` with the ReLU kept: class 0
/// wins where `a > b`, class 1 where `b > a`.
fn model(dir: &Path) -> PathBuf {
    let mut net = Network::new(vec![1, 1, 2]);
    net.push(Layer::Flatten);
    net.push(Layer::Dense(Affine::new(
        DMatrix::from_row_slice(3, 2, &[1.0, -1.0, -1.0, 1.0, 1.0, 0.0]),
        DVector::zeros(3),
    )));
    net.push(Layer::Relu(ReluMask::from_bools(&[false, false, true])));
    net.push(Layer::Dense(Affine::new(
        DMatrix::identity(3, 3),
        DVector::from_column_slice(&[0.0, 0.0, -10.0]),
    )));
    let p = dir.join("m.safetensors");
    snl_theory::save(&net, &p).unwrap();
    p
}

/// Examples: (0.9, 0.1) label 0 (margin 0.8: robust at ε 0.1), (0.52, 0.48) label 0 (margin
/// 0.04: a counterexample at ε 0.1), (0.2, 0.7) label 0 (misclassified), (0.2, 0.8) label 1.
fn inputs(dir: &Path, shape: Vec<usize>, labels: Vec<usize>) -> PathBuf {
    let s = Samples {
        shape,
        inputs: vec![0.9, 0.1, 0.52, 0.48, 0.2, 0.7, 0.2, 0.8],
        labels,
        mean: None,
        std: None,
        pixel_range: Some((0.0, 1.0)),
        info: BTreeMap::new(),
    };
    let p = dir.join("inputs.safetensors");
    s.save(&p).unwrap();
    p
}

#[test]
fn counts_and_json() {
    let dir = tempfile::tempdir().unwrap();
    let m = model(dir.path());
    let i = inputs(dir.path(), vec![1, 1, 2], vec![0, 0, 0, 1]);
    for method in ["crown", "alpha", "bab"] {
        let out = run(&[
            "robust",
            "--model",
            m.to_str().unwrap(),
            "--inputs",
            i.to_str().unwrap(),
            "--eps",
            "0.1",
            "--method",
            method,
            "--output-format",
            "json",
        ]);
        assert_eq!(out.status.code(), Some(0), "{out:?}");
        let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let c = &r["counts"];
        assert_eq!(c["verified"], 2, "{method}: {r}");
        assert_eq!(c["falsified"], 1, "{method}: {r}");
        assert_eq!(c["misclassified"], 1, "{method}: {r}");
        assert_eq!(r["certified_accuracy"], 0.5);
        assert_eq!(r["clean_accuracy"], 0.75);
        let ex = r["examples"].as_array().unwrap();
        assert_eq!(ex[1]["status"], "falsified");
        assert_eq!(ex[2]["status"], "misclassified");
    }
    // the text table, and --count
    let out = run(&[
        "robust",
        "--model",
        m.to_str().unwrap(),
        "--inputs",
        i.to_str().unwrap(),
        "--eps",
        "0.1",
        "--count",
        "1",
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("certified accuracy  100.00%"), "{text}");
    assert!(text.contains("examples            1: verified 1"), "{text}");
}

#[test]
fn bad_inputs_are_one_line_errors() {
    let dir = tempfile::tempdir().unwrap();
    let m = model(dir.path());
    let ms = m.to_str().unwrap();
    let good = inputs(dir.path(), vec![1, 1, 2], vec![0, 0, 0, 1]);
    let g = good.to_str().unwrap();
    for eps in ["0", "-0.1", "NaN", "inf"] {
        expect_error(
            &["robust", "--model", ms, "--inputs", g, "--eps", eps],
            "--eps must be a positive number",
        );
    }
    expect_error(
        &[
            "robust", "--model", ms, "--inputs", g, "--eps", "0.1", "--count", "0",
        ],
        "--count",
    );
    expect_error(
        &[
            "robust",
            "--model",
            ms,
            "--inputs",
            g,
            "--eps",
            "0.1",
            "--timeout",
            "0",
        ],
        "--timeout",
    );
    let sub = dir.path().join("shape");
    std::fs::create_dir(&sub).unwrap();
    let wrong = inputs(&sub, vec![2], vec![0, 0, 0, 1]);
    expect_error(
        &[
            "robust",
            "--model",
            ms,
            "--inputs",
            wrong.to_str().unwrap(),
            "--eps",
            "0.1",
        ],
        "does not fit the model",
    );
    let sub = dir.path().join("labels");
    std::fs::create_dir(&sub).unwrap();
    let labels = inputs(&sub, vec![1, 1, 2], vec![0, 0, 7, 1]);
    expect_error(
        &[
            "robust",
            "--model",
            ms,
            "--inputs",
            labels.to_str().unwrap(),
            "--eps",
            "0.1",
        ],
        "does not fit the model",
    );
    expect_error(
        &[
            "robust",
            "--model",
            ms,
            "--inputs",
            "/nonexistent.safetensors",
            "--eps",
            "0.1",
        ],
        "cannot read the inputs",
    );
    let junk = dir.path().join("junk.safetensors");
    std::fs::write(&junk, b"not a safetensors file").unwrap();
    expect_error(
        &[
            "robust",
            "--model",
            ms,
            "--inputs",
            junk.to_str().unwrap(),
            "--eps",
            "0.1",
        ],
        "cannot read the inputs",
    );
}
