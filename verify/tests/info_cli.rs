//! `snl-verify info` end to end: exit codes and one-line errors.
use std::process::Command;

use nalgebra::{DMatrix, DVector};
use snl_theory::{Affine, Layer, Network, ReluMask};

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_snl-verify"));
    c.env_clear();
    c
}

fn model(dir: &std::path::Path) -> std::path::PathBuf {
    let mut net = Network::new(vec![2]);
    net.push(Layer::Dense(Affine::new(
        DMatrix::from_row_slice(3, 2, &[1.0, 0.0, 0.0, 1.0, 1.0, 1.0]),
        DVector::zeros(3),
    )));
    net.push(Layer::Relu(ReluMask::from_bools(&[true, false, true])));
    let p = dir.join("m.safetensors");
    snl_theory::save(&net, &p).unwrap();
    p
}

#[test]
fn info_prints_counts_as_text_and_json() {
    let dir = tempfile::tempdir().unwrap();
    let p = model(dir.path());
    let out = bin().args(["info", "--model"]).arg(&p).output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("ReLUs: 2 kept of 3"), "{text}");
    let out = bin()
        .args(["info", "--output-format", "json", "--model"])
        .arg(&p)
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["relus"]["kept"], 2);
    assert_eq!(v["relus"]["layers"][0]["total"], 3);
}

#[test]
fn truncated_or_missing_model_is_exit_2_with_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let p = model(dir.path());
    let bytes = std::fs::read(&p).unwrap();
    std::fs::write(&p, &bytes[..bytes.len() / 2]).unwrap();
    for path in [p.clone(), dir.path().join("missing.safetensors")] {
        let out = bin().args(["info", "--model"]).arg(&path).output().unwrap();
        assert_eq!(out.status.code(), Some(2));
        let err = String::from_utf8(out.stderr).unwrap();
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.contains(&path.display().to_string()), "{err}");
        assert!(!err.contains("panicked"), "{err}");
    }
}

#[test]
fn bad_arguments_are_exit_2_and_help_is_0() {
    let out = bin().args(["info"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let out = bin().args(["--help"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8(out.stdout)
        .unwrap()
        .contains("Exit codes"));
}

#[test]
fn a_closed_stdout_ends_the_process_quietly() {
    // `snl-verify info … | head -0`: the read end is closed before anything is printed
    let dir = tempfile::tempdir().unwrap();
    let p = model(dir.path());
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let out = bin()
        .args(["info", "--model"])
        .arg(&p)
        .stdout(writer)
        .output()
        .unwrap();
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(!err.contains("panicked"), "{err}");
    // ended by SIGPIPE (no exit code), as `cat` or `grep` would be
    assert_eq!(out.status.code(), None, "{err}");
}
