//! `snl-verify vnncomp` end to end on ONNX + VNN-LIB files the test writes: the result
//! words, the counterexample, `--out`, the batch CSV and its resume, bad inputs.
use std::path::Path;

use crate::common::{expect_error, run};
use nalgebra::{DMatrix, DVector};
use snl_theory::io::onnx::{export, Encoding};
use snl_theory::{Affine, Layer, Network, ReluMask};

fn dense(rows: usize, cols: usize, w: &[f64], b: &[f64]) -> Layer {
    Layer::Dense(Affine::new(
        DMatrix::from_row_slice(rows, cols, w),
        DVector::from_column_slice(b),
    ))
}

/// Two inputs; outputs `(x0, |x0|, x1)` through kept ReLUs.
fn write_net(dir: &Path) -> String {
    let mut net = Network::new(vec![2]);
    net.push(dense(3, 2, &[1.0, 0.0, -1.0, 0.0, 0.0, 1.0], &[0.0; 3]));
    net.push(Layer::Relu(ReluMask::from_bools(&[true, true, false])));
    net.push(dense(
        3,
        3,
        &[1.0, -1.0, 0.0, 1.0, 1.0, 0.0, 0.0, 0.0, 1.0],
        &[0.0; 3],
    ));
    let p = dir.join("net.onnx");
    export(&net, Encoding::Masked).unwrap().save(&p).unwrap();
    p.to_str().unwrap().to_string()
}

const HEAD: &str = "(declare-const X_0 Real)\n(declare-const X_1 Real)\n\
(declare-const Y_0 Real)\n(declare-const Y_1 Real)\n(declare-const Y_2 Real)\n";

/// Two boxes (x0 in [-1, -0.5] or [0.5, 1], x1 in [0, 1]); violation: |x0| <= t and x1 >= 0.
fn write_spec(dir: &Path, name: &str, t: f64) -> String {
    let text = format!(
        "{HEAD}(assert (or (and (>= X_0 -1) (<= X_0 -0.5)) (and (>= X_0 0.5) (<= X_0 1))))\n\
         (assert (>= X_1 0))\n(assert (<= X_1 1))\n\
         (assert (and (<= Y_1 {t}) (>= Y_2 0)))\n"
    );
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p.to_str().unwrap().to_string()
}

#[test]
fn one_instance_unsat_sat_and_the_result_file() {
    let dir = tempfile::tempdir().unwrap();
    let net = write_net(dir.path());
    // |x0| >= 0.5 on both boxes: |x0| <= 0.4 is impossible
    let holds = write_spec(dir.path(), "holds.vnnlib", 0.4);
    let out_file = dir.path().join("result.txt");
    let out = run(&[
        "vnncomp",
        "--onnx",
        &net,
        "--vnnlib",
        &holds,
        "--timeout",
        "30",
        "--out",
        out_file.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "unsat\n");
    assert_eq!(std::fs::read_to_string(&out_file).unwrap(), "unsat\n");
    // |x0| <= 0.7 holds at x0 = ±0.6
    let fails = write_spec(dir.path(), "fails.vnnlib", 0.7);
    let out = run(&[
        "vnncomp",
        "--onnx",
        &net,
        "--vnnlib",
        &fails,
        "--timeout",
        "30",
    ]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("sat"));
    // ((X_0 v)\n (X_1 v)\n (Y_0 v) ...): read the values back and check them
    let vals: Vec<f64> = lines
        .map(|l| {
            let l = l.trim().trim_start_matches('(').trim_end_matches(')');
            l.split_whitespace().nth(1).unwrap().parse().unwrap()
        })
        .collect();
    assert_eq!(vals.len(), 5, "{text}");
    let (x0, x1, y1, y2) = (vals[0], vals[1], vals[3], vals[4]);
    assert!(
        (0.5..=0.7).contains(&x0.abs()) && (0.0..=1.0).contains(&x1),
        "{text}"
    );
    assert!(
        y1 <= 0.7 && y2 >= 0.0 && (y1 - x0.abs()).abs() < 1e-6,
        "{text}"
    );
}

#[test]
fn batch_writes_the_competition_columns_and_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write_net(d);
    write_spec(d, "holds.vnnlib", 0.4);
    write_spec(d, "fails.vnnlib", 0.7);
    std::fs::write(
        d.join("instances.csv"),
        "net.onnx,holds.vnnlib,30\nnet.onnx,fails.vnnlib,30\nnet.onnx,holds.vnnlib,30\n",
    )
    .unwrap();
    let csv = d.join("instances.csv");
    let results = d.join("results.csv");
    let cex = d.join("cex");
    let args = |limit: &'static str| {
        vec![
            "vnncomp".to_string(),
            "--batch".into(),
            csv.to_str().unwrap().into(),
            "--out".into(),
            results.to_str().unwrap().into(),
            "--cex-dir".into(),
            cex.to_str().unwrap().into(),
            "--benchmark".into(),
            "toy".into(),
            "--limit".into(),
            limit.into(),
        ]
    };
    let run_s = |a: Vec<String>| run(&a.iter().map(String::as_str).collect::<Vec<_>>());
    let out = run_s(args("2"));
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let text = std::fs::read_to_string(&results).unwrap();
    let rows: Vec<Vec<&str>> = text.lines().map(|l| l.split(',').collect()).collect();
    assert_eq!(rows.len(), 2, "{text}");
    assert_eq!(rows[0][..3], ["toy", "net.onnx", "holds.vnnlib"]);
    assert_eq!((rows[0][4], rows[1][4]), ("unsat", "sat"));
    assert!(rows
        .iter()
        .all(|r| r.len() == 6 && r[5].parse::<f64>().is_ok()));
    assert!(std::fs::read_to_string(cex.join("1.txt"))
        .unwrap()
        .starts_with("sat\n("));
    // a kill mid-write leaves a torn line: the resume drops it and runs that row again
    std::fs::write(&results, format!("{}toy,net.onnx,hol", text)).unwrap();
    let out = run_s(args("3"));
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let again = std::fs::read_to_string(&results).unwrap();
    assert!(again.starts_with(&text), "earlier rows kept: {again}");
    assert_eq!(again.lines().count(), 3, "{again}");
    assert_eq!(
        again.lines().last().unwrap().split(',').nth(4),
        Some("unsat")
    );
}

#[test]
fn bad_inputs_are_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let net = write_net(d);
    let bad = d.join("bad.vnnlib");
    std::fs::write(
        &bad,
        format!("{HEAD}(assert (<= X_0 1))\n(assert (>= X_9 0))\n"),
    )
    .unwrap();
    expect_error(
        &[
            "vnncomp",
            "--onnx",
            &net,
            "--vnnlib",
            bad.to_str().unwrap(),
            "--timeout",
            "5",
        ],
        ":7:",
    );
    let junk = d.join("junk.onnx");
    std::fs::write(&junk, b"\x08\x07not a protobuf").unwrap();
    let good = write_spec(d, "holds.vnnlib", 0.4);
    expect_error(
        &[
            "vnncomp",
            "--onnx",
            junk.to_str().unwrap(),
            "--vnnlib",
            &good,
            "--timeout",
            "5",
        ],
        "junk.onnx",
    );
    expect_error(
        &[
            "vnncomp",
            "--onnx",
            &net,
            "--vnnlib",
            &good,
            "--timeout",
            "-1",
        ],
        "--timeout",
    );
    let csv = d.join("instances.csv");
    std::fs::write(&csv, "net.onnx,holds.vnnlib\n").unwrap();
    let out_csv = d.join("r.csv");
    expect_error(
        &[
            "vnncomp",
            "--batch",
            csv.to_str().unwrap(),
            "--out",
            out_csv.to_str().unwrap(),
        ],
        "instances.csv:1",
    );
    // a network whose outputs do not match the specification's
    let wrong = d.join("wrong.vnnlib");
    std::fs::write(
        &wrong,
        "(declare-const X_0 Real)\n(declare-const X_1 Real)\n(declare-const Y_0 Real)\n\
         (assert (<= X_0 1))\n(assert (>= X_0 0))\n(assert (<= X_1 1))\n(assert (>= X_1 0))\n\
         (assert (<= Y_0 0))\n",
    )
    .unwrap();
    expect_error(
        &[
            "vnncomp",
            "--onnx",
            &net,
            "--vnnlib",
            wrong.to_str().unwrap(),
            "--timeout",
            "5",
        ],
        "outputs",
    );
}
