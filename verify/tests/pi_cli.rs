//! `snl-verify vnnlib` and `snl-verify cost` end to end: files, numbers, exit codes.
use std::process::Command;

use nalgebra::{DMatrix, DVector};
use snl_theory::{Affine, Layer, Network, ReluMask};

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_snl-verify"));
    c.env_clear();
    c
}

/// 2 → 4 (relu: units 0, 2 kept) → 3 (relu: none kept) → 3 outputs.
fn model(dir: &std::path::Path) -> std::path::PathBuf {
    let mut net = Network::new(vec![2]);
    net.push(Layer::Dense(Affine::new(
        DMatrix::from_row_slice(4, 2, &[1.0, 0.0, 0.0, 1.0, 1.0, 1.0, 1.0, -1.0]),
        DVector::zeros(4),
    )));
    net.push(Layer::Relu(ReluMask::from_bools(&[
        true, false, true, false,
    ])));
    net.push(Layer::Dense(Affine::new(
        DMatrix::from_row_slice(
            3,
            4,
            &[1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 1.0],
        ),
        DVector::zeros(3),
    )));
    net.push(Layer::Relu(ReluMask::all_linearized(3)));
    let p = dir.join("m.safetensors");
    snl_theory::save(&net, &p).unwrap();
    p
}

#[test]
fn vnnlib_writes_the_box_the_violation_and_the_onnx() {
    let dir = tempfile::tempdir().unwrap();
    let m = model(dir.path());
    let center = dir.path().join("c.json");
    std::fs::write(&center, "[0.5, -0.25]").unwrap();
    let q = dir.path().join("q.vnnlib");
    let o = dir.path().join("m.onnx");
    let out = bin()
        .args([
            "vnnlib",
            "--eps",
            "0.125",
            "--property",
            "argmax=2",
            "--model",
        ])
        .arg(&m)
        .arg("--center")
        .arg(&center)
        .arg("--out")
        .arg(&q)
        .arg("--onnx")
        .arg(&o)
        .args(["--output-format", "json"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["inputs"], 2);
    assert_eq!(v["outputs"], 3);
    // at (0.5, -0.25): hidden (0.5, -0.25, 0.25, 0.75) → relu kept on 0, 2 → y = (0.5, -0.25, 1.0)
    assert_eq!(v["center_prediction"], 2);
    let t = std::fs::read_to_string(&q).unwrap();
    // 0.5 ± 0.125 and -0.25 ± 0.125 are exact in binary: the box of `bound --center`
    assert!(
        t.contains("(assert (<= X_0 0.625))\n(assert (>= X_0 0.375))"),
        "{t}"
    );
    assert!(
        t.contains("(assert (<= X_1 -0.125))\n(assert (>= X_1 -0.375))"),
        "{t}"
    );
    assert!(
        t.contains("(and (>= Y_0 Y_2))\n    (and (>= Y_1 Y_2))\n))"),
        "{t}"
    );
    assert_eq!(t.matches("declare-const X_").count(), 2);
    assert!(std::fs::metadata(&o).unwrap().len() > 100);
}

#[test]
fn vnnlib_bad_input_is_exit_2_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let m = model(dir.path());
    let center = dir.path().join("c.json");
    std::fs::write(&center, "[0.5, -0.25, 3]").unwrap();
    let q = dir.path().join("q.vnnlib");
    for (c, eps, prop) in [
        (&center, "0.1", "argmax=1"), // 3 values for 2 inputs
        (&center, "0", "argmax=1"),   // eps 0
    ] {
        let out = bin()
            .args(["vnnlib", "--model"])
            .arg(&m)
            .arg("--center")
            .arg(c)
            .args(["--eps", eps, "--property", prop, "--out"])
            .arg(&q)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2));
        let err = String::from_utf8(out.stderr).unwrap();
        assert_eq!(err.lines().count(), 1, "{err}");
    }
    std::fs::write(&center, "[0.5, -0.25]").unwrap();
    let out = bin()
        .args(["vnnlib", "--model"])
        .arg(&m)
        .arg("--center")
        .arg(&center)
        .args(["--eps", "0.1", "--property", "argmax=3", "--out"])
        .arg(&q)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8(out.stderr)
        .unwrap()
        .contains("class 3 is out of range"));
    assert!(!q.exists());
    // nothing else left in the folder (no temporary files)
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2);
}

#[test]
fn cost_counts_kept_units_gathered_and_all_units_masked() {
    let dir = tempfile::tempdir().unwrap();
    let m = model(dir.path());
    let run = |enc: &str| -> serde_json::Value {
        let out = bin()
            .args([
                "cost",
                "--protocol",
                "crypten",
                "--output-format",
                "json",
                "--encoding",
                enc,
                "--model",
            ])
            .arg(&m)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0));
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let g = run("gathered");
    let p = &g["protocols"][0];
    // ReLUs: 2 kept units × 464 B; the second layer vanished: 9 rounds, not 18
    assert_eq!(p["relu"]["online_bytes"], 928.0);
    assert_eq!(p["relu"]["rounds"], 9.0);
    assert_eq!(p["all_kept_relu_online_bytes"], 464.0 * 7.0);
    // Gemms (nothing after the vanished layer to fold into): 16·(2 + 8) + 16·(4 + 12) B
    assert_eq!(p["linear"]["online_bytes"], 160.0 + 256.0);
    assert_eq!(p["linear"]["rounds"], 2.0);
    assert_eq!(p["total"]["online_bytes"], 928.0 + 416.0);
    assert_eq!(p["total"]["rounds"], 11.0);
    let kinds: Vec<_> = p["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| (l["kind"].as_str().unwrap(), l["rounds"].as_f64().unwrap()))
        .collect();
    assert_eq!(
        kinds,
        [
            ("gemm", 1.0),
            ("relu", 9.0),
            ("gemm", 1.0),
            ("relu", 0.0),
            ("output", 0.0)
        ]
    );
    let mk = run("masked");
    assert_eq!(mk["protocols"][0]["relu"]["online_bytes"], 464.0 * 7.0);
    assert_eq!(mk["protocols"][0]["relu_bytes_reduction"], 1.0);
    let out = bin()
        .args(["cost", "--rtt-ms", "-1", "--model"])
        .arg(&m)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let out = bin()
        .args(["cost", "--model"])
        .arg(dir.path().join("missing.safetensors"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("cannot read the model"), "{err}");
}
