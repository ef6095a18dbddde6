//! `--model` reads ONNX networks (`.onnx`, `.onnx.gz`): `info` and `bound` end to end, and a
//! bad ONNX file is one line on stderr with exit 2.
use std::io::Write;
use std::process::Command;

use nalgebra::{DMatrix, DVector};
use snl_theory::io::onnx::{export, Encoding};
use snl_theory::{Affine, Layer, Network, ReluMask};

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_snl-verify"));
    c.env_clear();
    c
}

fn net() -> Network {
    let mut net = Network::new(vec![2]);
    net.push(Layer::Dense(Affine::new(
        DMatrix::from_row_slice(3, 2, &[1.0, 0.0, 0.0, 1.0, 1.0, -1.0]),
        DVector::from_vec(vec![0.0, 0.5, -0.25]),
    )));
    net.push(Layer::Relu(ReluMask::all_kept(3)));
    net.push(Layer::Dense(Affine::new(
        DMatrix::from_row_slice(2, 3, &[1.0, -1.0, 0.5, 0.25, 1.0, -2.0]),
        DVector::zeros(2),
    )));
    net
}

/// Writes the network as `net.onnx` and `net.onnx.gz`.
fn files(dir: &std::path::Path) -> [std::path::PathBuf; 2] {
    let bytes = export(&net(), Encoding::Gathered).unwrap().to_bytes();
    let plain = dir.join("net.onnx");
    std::fs::write(&plain, &bytes).unwrap();
    let gz = dir.join("net.onnx.gz");
    let mut e = flate2_free_gzip(&bytes);
    e.flush().unwrap();
    std::fs::write(&gz, e.get_ref()).unwrap();
    [plain, gz]
}

/// A gzip stream of stored (uncompressed) deflate blocks, written here so the test needs
/// no compression crate.
fn flate2_free_gzip(data: &[u8]) -> std::io::Cursor<Vec<u8>> {
    let mut out = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255];
    let chunks: Vec<&[u8]> = data.chunks(65535).collect();
    for (i, c) in chunks.iter().enumerate() {
        out.push(u8::from(i + 1 == chunks.len()));
        let n = c.len() as u16;
        out.extend_from_slice(&n.to_le_bytes());
        out.extend_from_slice(&(!n).to_le_bytes());
        out.extend_from_slice(c);
    }
    out.extend_from_slice(&crc32(data).to_le_bytes());
    out.extend_from_slice(&(data.len() as u32).to_le_bytes());
    std::io::Cursor::new(out)
}

fn crc32(data: &[u8]) -> u32 {
    let mut c = !0u32;
    for &b in data {
        c ^= b as u32;
        for _ in 0..8 {
            c = if c & 1 == 1 {
                (c >> 1) ^ 0xEDB8_8320
            } else {
                c >> 1
            };
        }
    }
    !c
}

#[test]
fn info_and_bound_read_onnx_and_onnx_gz() {
    let dir = tempfile::tempdir().unwrap();
    for p in files(dir.path()) {
        let out = bin()
            .args(["info", "--output-format", "json", "--model"])
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
        assert_eq!(v["relus"]["total"], 3);
        assert_eq!(v["input_shape"], serde_json::json!([2]));
        let out = bin()
            .args([
                "bound",
                "--input-box",
                "-1:1",
                "--method",
                "interval",
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
        let inputs = dir.path().join("x.json");
        std::fs::write(&inputs, "[[0.5, -0.25]]").unwrap();
        let out = bin()
            .args(["forward", "--output-format", "json", "--inputs-json"])
            .arg(&inputs)
            .arg("--model")
            .arg(&p)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0));
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let want = net().forward(&[0.5, -0.25]).unwrap();
        for (g, w) in v["outputs"][0].as_array().unwrap().iter().zip(want) {
            assert!((g.as_f64().unwrap() - w).abs() < 1e-6);
        }
    }
}

#[test]
fn bad_onnx_files_are_one_line_and_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let [plain, gz] = files(dir.path());
    let bytes = std::fs::read(&plain).unwrap();
    let cut = dir.path().join("cut.onnx");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    let gzb = std::fs::read(&gz).unwrap();
    let cut_gz = dir.path().join("cut.onnx.gz");
    std::fs::write(&cut_gz, &gzb[..gzb.len() - 9]).unwrap();
    let not_gz = dir.path().join("plain.onnx.gz");
    std::fs::write(&not_gz, &bytes).unwrap();
    // the exporter's gathered encoding of a partly kept layer (Gather, Concat) reads back as
    // a masked ReLU with the same kept units ...
    let mut partial = net();
    partial.nodes[1].layer = Layer::Relu(ReluMask::from_bools(&[true, false, true]));
    let gather = dir.path().join("gather.onnx");
    let mut e = export(&partial, Encoding::Gathered).unwrap();
    e.save(&gather).unwrap();
    let out = bin()
        .args(["info", "--model"])
        .arg(&gather)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let info = String::from_utf8(out.stdout).unwrap();
    assert!(info.contains("ReLUs: 2 kept of 3"), "{info}");
    // ... and an op the importer does not read is one line naming it and its node
    let graph = e.model.graph.as_mut().unwrap();
    let relu = graph.node.iter_mut().find(|n| n.op_type == "Relu").unwrap();
    relu.op_type = "Sigmoid".into();
    let sigmoid = dir.path().join("sigmoid.onnx");
    e.save(&sigmoid).unwrap();
    for (p, needle) in [
        (cut.clone(), "not a valid ONNX protobuf"),
        (cut_gz, "gzip"),
        (not_gz, "not gzip-compressed"),
        (sigmoid, "(Sigmoid): operator 'Sigmoid' is not supported"),
        (dir.path().join("missing.onnx"), "no such file"),
    ] {
        for cmd in ["info", "bound"] {
            let mut c = bin();
            c.args([cmd, "--model"]).arg(&p);
            if cmd == "bound" {
                c.args(["--input-box", "0:1"]);
            }
            let out = c.output().unwrap();
            assert_eq!(out.status.code(), Some(2));
            let err = String::from_utf8(out.stderr).unwrap();
            assert_eq!(err.lines().count(), 1, "{err}");
            assert!(err.starts_with("snl-verify: error: "), "{err}");
            assert!(err.contains(needle), "{err}");
            assert!(err.contains(&p.display().to_string()), "{err}");
        }
    }
}
