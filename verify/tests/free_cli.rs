//! `snl-verify free` end to end: M2 equals M on D, all-stable nets lose every kept ReLU,
//! bad input writes nothing.
use std::process::Command;

use nalgebra::{DMatrix, DVector};
use snl_theory::bound::{samples, InputBox};
use snl_theory::{Affine, Layer, Network, ReluMask};

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_snl-verify"));
    c.env_clear();
    c
}

/// Runs `cmd`, expects exit status 0 (stderr shown otherwise) and returns its stdout.
fn ok(cmd: &mut Command) -> Vec<u8> {
    let o = cmd.output().unwrap();
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    o.stdout
}

/// [`ok`] on a command with `--output-format json`: its parsed stdout.
fn ok_json(cmd: &mut Command) -> serde_json::Value {
    serde_json::from_slice(&ok(cmd)).unwrap()
}

/// relu(x + y), relu(−x), relu(x − y) then a dense head: on [1, 2]² the first two units are
/// stable (active, inactive), the third straddles 0.
fn model(dir: &std::path::Path) -> std::path::PathBuf {
    let mut net = Network::new(vec![2]);
    net.push(Layer::Dense(Affine::new(
        DMatrix::from_row_slice(3, 2, &[1.0, 1.0, -1.0, 0.0, 1.0, -1.0]),
        DVector::zeros(3),
    )));
    net.push(Layer::Relu(ReluMask::all_kept(3)));
    net.push(Layer::Dense(Affine::new(
        DMatrix::from_row_slice(2, 3, &[1.0, 2.0, -3.0, 0.5, 1.0, 1.0]),
        DVector::from_vec(vec![0.1, -0.2]),
    )));
    let p = dir.join("m.safetensors");
    snl_theory::save(&net, &p).unwrap();
    p
}

#[test]
fn free_writes_an_equal_smaller_model() {
    let dir = tempfile::tempdir().unwrap();
    let m = model(dir.path());
    let out = dir.path().join("m2.safetensors");
    let v = ok_json(
        bin()
            .args([
                "free",
                "--input-box",
                "1:2",
                "--output-format",
                "json",
                "--model",
            ])
            .arg(&m)
            .arg("--out")
            .arg(&out),
    );
    assert_eq!(v["kept_before"], 3);
    assert_eq!(v["kept_after"], 1);
    assert_eq!(v["saved"], 2);
    assert_eq!(v["layers"][0]["active"], 1);
    assert_eq!(v["layers"][0]["inactive_zeroed"], 1);
    assert_eq!(v["layers"][0]["unstable"], 1);
    let (a, b) = (
        snl_theory::load(&m).unwrap(),
        snl_theory::load(&out).unwrap(),
    );
    assert_eq!(b.relu_counts().unwrap().kept, 1);
    let d = InputBox::uniform(2, 1.0, 2.0).unwrap();
    for x in samples(&d, 500, 3) {
        let (ya, yb) = (a.forward(&x).unwrap(), b.forward(&x).unwrap());
        for (p, q) in ya.iter().zip(&yb) {
            assert!(
                (p - q).abs() <= 1e-12 * (1.0 + p.abs()),
                "{x:?}: {ya:?} vs {yb:?}"
            );
        }
    }
    // outside D they may differ: at (−1, 0) the zeroed unit relu(−x) = 1 ≠ 0
    assert_ne!(
        a.forward(&[-1.0, 0.0]).unwrap(),
        b.forward(&[-1.0, 0.0]).unwrap()
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&out).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o644);
    }
    // on [2, 3] × [0, 1] all three are stable: every kept ReLU goes
    let o = bin()
        .args(["free", "--input-box"])
        .arg(dir.path().join("box.json"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "missing file and --out");
    std::fs::write(
        dir.path().join("box.json"),
        r#"{"lower": [2, 0], "upper": [3, 1]}"#,
    )
    .unwrap();
    let all = dir.path().join("m3.safetensors");
    let v = ok_json(
        bin()
            .args(["free", "--output-format", "json", "--input-box"])
            .arg(dir.path().join("box.json"))
            .arg("--model")
            .arg(&m)
            .arg("--out")
            .arg(&all),
    );
    assert_eq!(
        (v["kept_before"].as_u64(), v["kept_after"].as_u64()),
        (Some(3), Some(0))
    );
}

#[test]
fn bad_input_is_one_line_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let m = model(dir.path());
    let out = dir.path().join("never.safetensors");
    for args in [
        vec!["--input-box", "1:2:3"],
        vec!["--input-box", "2:1"],
        vec!["--center", "nope.txt", "--eps", "0.1"],
        vec!["--input-box", "0:1", "--timeout", "-1"],
    ] {
        let o = bin()
            .arg("free")
            .args(&args)
            .arg("--model")
            .arg(&m)
            .arg("--out")
            .arg(&out)
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!err.contains("panicked"), "{err}");
        assert!(!out.exists(), "{args:?} wrote a file");
    }
    let o = bin().args(["free", "--help"]).output().unwrap();
    let help = String::from_utf8_lossy(&o.stdout);
    assert!(
        help.contains("--inputs") && help.contains("--out"),
        "{help}"
    );
}

/// conv → relu → avg-pool → flatten → dense on `[0.5, 1]^{1×4×4}`, every unit stable:
/// channel 0 positive (active), channel 1 negative (inactive, zeroed by a scale node since
/// a pooling reads the ReLU). `free` removes all 32 kept ReLUs; `info` and `bound` read
/// the written model, and its CROWN bounds contain the original's outputs.
#[test]
fn free_on_a_cnn_with_avg_pool_removes_every_kept_relu() {
    use snl_theory::{AvgPool2d, Conv2d};
    let dir = tempfile::tempdir().unwrap();
    let mut net = Network::new(vec![1, 4, 4]);
    net.push(Layer::Conv2d(Conv2d {
        in_channels: 1,
        out_channels: 2,
        kernel: [3, 3],
        stride: [1, 1],
        padding: [1, 1],
        weight: (0..18)
            .map(|j| if j < 9 { 0.1 } else { -0.1 } * (1.0 + (j % 9) as f64 / 9.0))
            .collect(),
        bias: vec![0.1, -0.1],
    }));
    net.push(Layer::Relu(ReluMask::all_kept(32)));
    net.push(Layer::AvgPool2d(AvgPool2d {
        kernel: [2, 2],
        stride: [2, 2],
    }));
    net.push(Layer::Flatten);
    net.push(Layer::Dense(Affine::new(
        DMatrix::from_fn(2, 8, |r, c| ((r * 8 + c) as f64 * 0.7).sin()),
        DVector::from_vec(vec![0.1, -0.2]),
    )));
    let m = dir.path().join("cnn.safetensors");
    snl_theory::save(&net, &m).unwrap();
    let out = dir.path().join("cnn-free.safetensors");
    let v = ok_json(
        bin()
            .args(["free", "--input-box", "0.5:1", "--output-format", "json"])
            .arg("--model")
            .arg(&m)
            .arg("--out")
            .arg(&out),
    );
    assert_eq!(
        (v["kept_before"].as_u64(), v["kept_after"].as_u64()),
        (Some(32), Some(0))
    );
    assert_eq!(v["layers"][0]["zeroed_by_scale"], 16);
    assert_eq!(v["scale_nodes"], 1);
    let stdout = ok(bin().arg("info").arg("--model").arg(&out));
    assert!(String::from_utf8_lossy(&stdout).contains("scale"));
    let b = ok_json(
        bin()
            .args(["bound", "--input-box", "0.5:1", "--output-format", "json"])
            .arg("--model")
            .arg(&out),
    );
    let d = InputBox::uniform(16, 0.5, 1.0).unwrap();
    for x in samples(&d, 200, 5) {
        for (i, y) in net.forward(&x).unwrap().iter().enumerate() {
            let row = &b["bounds"][i];
            assert!(
                row["lower"].as_f64().unwrap() <= *y && *y <= row["upper"].as_f64().unwrap(),
                "output {i} = {y} outside {row}"
            );
        }
    }
}
