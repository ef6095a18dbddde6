//! `snl-verify bound` end to end: exit codes, bad inputs, JSON output.
use std::path::{Path, PathBuf};

use crate::common::{expect_error, run};
use nalgebra::{DMatrix, DVector};
use snl_theory::{Affine, Layer, Network, ReluMask};

fn dense(rows: usize, cols: usize, w: &[f64], b: &[f64]) -> Layer {
    Layer::Dense(Affine::new(
        DMatrix::from_row_slice(rows, cols, w),
        DVector::from_column_slice(b),
    ))
}

/// Outputs `(relu(x) − relu(x) + 1, 0)` on one input: class 0 always wins, but interval
/// propagation only knows `y0 ∈ [0, 2]` on `[-1, 1]`.
fn twin(dir: &Path) -> PathBuf {
    let mut net = Network::new(vec![1]);
    net.push(dense(2, 1, &[1.0, 1.0], &[0.0, 0.0]));
    net.push(Layer::Relu(ReluMask::all_kept(2)));
    net.push(dense(2, 2, &[1.0, -1.0, 0.0, 0.0], &[1.0, 0.0]));
    let p = dir.join("twin.safetensors");
    snl_theory::save(&net, &p).unwrap();
    p
}

/// Outputs `(x, −x)` on one input.
fn sign(dir: &Path) -> PathBuf {
    let mut net = Network::new(vec![1]);
    net.push(dense(2, 1, &[1.0, -1.0], &[0.0, 0.0]));
    let p = dir.join("sign.safetensors");
    snl_theory::save(&net, &p).unwrap();
    p
}

#[test]
fn exit_codes_proved_refuted_unknown() {
    let dir = tempfile::tempdir().unwrap();
    let sign = sign(dir.path());
    let s = sign.to_str().unwrap();
    for m in ["interval", "lp", "milp", "smt"] {
        let out = run(&[
            "bound",
            "--model",
            s,
            "--input-box",
            "0.5:1",
            "--method",
            m,
            "--property",
            "argmax=0",
        ]);
        assert_eq!(out.status.code(), Some(0), "{m}: {out:?}");
        assert!(String::from_utf8_lossy(&out.stdout).contains("PROVED"));
        let out = run(&[
            "bound",
            "--model",
            s,
            "--input-box",
            "-1:1",
            "--method",
            m,
            "--property",
            "argmax=0",
        ]);
        assert_eq!(out.status.code(), Some(1), "{m}: {out:?}");
        assert!(String::from_utf8_lossy(&out.stdout).contains("REFUTED"));
    }
    // the interval relaxation cannot prove the twin net, and no sample refutes it: unknown
    let twin = twin(dir.path());
    let t = twin.to_str().unwrap();
    let out = run(&[
        "bound",
        "--model",
        t,
        "--input-box",
        "-1:1",
        "--method",
        "interval",
        "--property",
        "argmax=0",
    ]);
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("UNKNOWN"));
    // the exact MILP proves it: y0 - y1 = 1
    let out = run(&[
        "bound",
        "--model",
        t,
        "--input-box",
        "-1:1",
        "--method",
        "milp",
        "--property",
        "argmax=0",
    ]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
}

#[test]
fn json_bounds_contain_the_forward_pass() {
    let dir = tempfile::tempdir().unwrap();
    let twin = twin(dir.path());
    let center = dir.path().join("c.txt");
    std::fs::write(&center, "0.25\n").unwrap();
    let out = run(&[
        "bound",
        "--model",
        twin.to_str().unwrap(),
        "--center",
        center.to_str().unwrap(),
        "--eps",
        "0.5",
        "--method",
        "lp",
        "--output-format",
        "json",
    ]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["relus"]["kept"], 2);
    assert_eq!(v["relus"]["total"], 2);
    // y0 = 1 on the whole box, y1 = 0
    let b = &v["bounds"][0];
    assert!(
        b["lower"].as_f64().unwrap() <= 1.0 && b["upper"].as_f64().unwrap() >= 1.0,
        "{v}"
    );
    // the LP is looser than exact here: width > 0 (triangle on [-0.25, 0.75])
    assert!(b["upper"].as_f64().unwrap() > 1.0, "{v}");
    // the same box as a JSON file of per-input bounds gives the same bounds, up to the
    // outward rounding of `--center ± --eps` (that box contains the file's)
    let file = dir.path().join("box.json");
    std::fs::write(&file, r#"{"lower": [-0.25], "upper": [0.75]}"#).unwrap();
    let out = run(&[
        "bound",
        "--model",
        twin.to_str().unwrap(),
        "--input-box",
        file.to_str().unwrap(),
        "--method",
        "lp",
        "--output-format",
        "json",
    ]);
    let w: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    for (a, b) in w["bounds"]
        .as_array()
        .unwrap()
        .iter()
        .zip(v["bounds"].as_array().unwrap())
    {
        let f = |x: &serde_json::Value, k: &str| x[k].as_f64().unwrap();
        assert!(
            f(b, "lower") <= f(a, "lower") && f(a, "upper") <= f(b, "upper"),
            "{w} {v}"
        );
        assert!((f(a, "lower") - f(b, "lower")).abs() < 1e-12, "{w} {v}");
        assert!((f(a, "upper") - f(b, "upper")).abs() < 1e-12, "{w} {v}");
    }
}

#[test]
fn bad_inputs_exit_2_with_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let sign = sign(dir.path());
    let s = sign.to_str().unwrap();
    let missing = dir.path().join("missing.safetensors");
    expect_error(
        &[
            "bound",
            "--model",
            missing.to_str().unwrap(),
            "--input-box",
            "0:1",
        ],
        "no such file",
    );
    let corrupt = dir.path().join("corrupt.safetensors");
    std::fs::write(&corrupt, b"\x10\x00\x00\x00\x00\x00\x00\x00{not json").unwrap();
    expect_error(
        &[
            "bound",
            "--model",
            corrupt.to_str().unwrap(),
            "--input-box",
            "0:1",
        ],
        "corrupt",
    );
    let box3 = dir.path().join("box.json");
    std::fs::write(&box3, r#"{"lower": [0, 0, 0], "upper": [1, 1, 1]}"#).unwrap();
    expect_error(
        &["bound", "--model", s, "--input-box", box3.to_str().unwrap()],
        "the box has 3 dimensions, the network input has 1",
    );
    expect_error(
        &["bound", "--model", s, "--input-box", "1:0"],
        "lower 1 > upper 0",
    );
    expect_error(
        &["bound", "--model", s, "--input-box", "NaN:1"],
        "not finite",
    );
    expect_error(
        &["bound", "--model", s, "--input-box", "zero:one"],
        "expected LO:HI",
    );
    let center = dir.path().join("c.txt");
    std::fs::write(&center, "0.1, nan").unwrap();
    expect_error(
        &[
            "bound",
            "--model",
            s,
            "--center",
            center.to_str().unwrap(),
            "--eps",
            "0.1",
        ],
        "not finite",
    );
    std::fs::write(&center, "0.1").unwrap();
    expect_error(
        &[
            "bound",
            "--model",
            s,
            "--center",
            center.to_str().unwrap(),
            "--eps",
            "-1",
        ],
        "--eps must be a positive number, got -1",
    );
    for eps in ["0", "NaN"] {
        expect_error(
            &[
                "bound",
                "--model",
                s,
                "--center",
                center.to_str().unwrap(),
                "--eps",
                eps,
            ],
            "--eps must be a positive number",
        );
    }
    expect_error(
        &[
            "bound",
            "--model",
            s,
            "--input-box",
            "0:1",
            "--property",
            "argmax=7",
        ],
        "class 7 is out of range",
    );
    expect_error(
        &[
            "bound",
            "--model",
            s,
            "--input-box",
            "0:1",
            "--property",
            "top1",
        ],
        "expected argmax=C",
    );
    expect_error(
        &[
            "bound",
            "--model",
            s,
            "--input-box",
            "0:1",
            "--timeout",
            "0",
        ],
        "--timeout must be positive",
    );
}

#[test]
fn smt_rejects_large_networks() {
    let dir = tempfile::tempdir().unwrap();
    let mut net = Network::new(vec![1]);
    net.push(dense(65, 1, &[1.0; 65], &[0.0; 65]));
    net.push(Layer::Relu(ReluMask::all_kept(65)));
    net.push(dense(1, 65, &[1.0; 65], &[0.0]));
    let p = dir.path().join("wide.safetensors");
    snl_theory::save(&net, &p).unwrap();
    expect_error(
        &[
            "bound",
            "--model",
            p.to_str().unwrap(),
            "--input-box",
            "0:1",
            "--method",
            "smt",
        ],
        "the smt method handles at most 64 kept ReLUs, the network has 65",
    );
}

#[test]
fn help_documents_exit_codes() {
    let out = run(&["--help"]);
    let text = String::from_utf8_lossy(&out.stdout);
    for code in [
        "0  success",
        "1  property refuted",
        "2  error",
        "3  unknown",
    ] {
        assert!(text.contains(code), "{code} missing from --help");
    }
    let out = run(&["bound", "--help"]);
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("--property") && text.contains("3  unknown"),
        "{text}"
    );
}

#[test]
fn milp_timeout_reports_lp_bounds_and_exits_3() {
    // 8 identical units relu(x) on [-1, 1]: every one straddles 0 and needs a binary; a
    // 1 µs budget runs out before the first solve, so the bounds are the interval ones (the
    // budget covers the LP fallback too) and exit is 3
    let dir = tempfile::tempdir().unwrap();
    let mut net = Network::new(vec![1]);
    net.push(dense(8, 1, &[1.0; 8], &[0.0; 8]));
    net.push(Layer::Relu(ReluMask::all_kept(8)));
    net.push(dense(
        1,
        8,
        &[1.0, -1.0, 1.0, -1.0, 1.0, -1.0, 1.0, -1.0],
        &[0.0],
    ));
    let p = dir.path().join("eight.safetensors");
    snl_theory::save(&net, &p).unwrap();
    let args = [
        "bound",
        "--model",
        p.to_str().unwrap(),
        "--input-box",
        "-1:1",
        "--method",
        "milp",
    ];
    let out = run(&[&args[..], &["--timeout", "0.000001"]].concat());
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("timed out") && text.contains("sound, not exact"),
        "{text}"
    );
    // without a limit the same MILP is exact: the output is 0 everywhere (reported moved
    // outward by CBC's tolerance)
    let out = run(&[&args[..], &["--output-format", "json"]].concat());
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["exact"], true);
    let pad = snl_theory::tolerance::solver_pad(0.0);
    let (lo, hi) = (
        v["bounds"][0]["lower"].as_f64().unwrap(),
        v["bounds"][0]["upper"].as_f64().unwrap(),
    );
    assert!(
        (0.0..=2.0 * pad).contains(&hi) && (-2.0 * pad..=0.0).contains(&lo),
        "{v}"
    );
}

/// `bench` refuses bad arguments in one line before it creates its folder (a negative
/// `--timeout` panicked; a budget above the hidden units was written as `mlp-k99999`).
#[test]
fn bench_refuses_bad_arguments_before_writing() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("bench");
    let o = out.to_str().unwrap();
    for (args, needle) in [
        (vec!["--timeout=-1"], "--timeout must be positive"),
        (
            vec!["--hidden", "8", "--budgets", "99"],
            "--budgets 99 is above the 8 hidden ReLUs",
        ),
        (vec!["--hidden", "0"], "--hidden needs at least one layer"),
        (vec!["--radius=-1"], "--radius must be a number >= 0"),
        (vec!["--radius-frac", "0"], "--radius-frac must be positive"),
    ] {
        let mut all = vec!["bench", "--out", o];
        all.extend(args);
        expect_error(&all, needle);
        assert!(!out.exists(), "{all:?} created {o}");
    }
}
