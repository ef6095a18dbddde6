//! ONNX export checked by an independent executor: onnxruntime (and onnx's checker and
//! shape inference) in the venv `scripts/setup.sh` makes at `$SNL_CACHE/onnx-venv`
//! (default `~/.cache/snl/onnx-venv`; `SNL_ONNX_PYTHON` names another interpreter).
//! A missing venv fails these tests: run `bash scripts/setup.sh`.
//!
use std::path::{Path, PathBuf};
use std::process::Command;

use snl_theory::io::onnx::{export, Encoding, ReluForm};
use snl_theory::tolerance::{compare, Tolerance};
use snl_theory::{numel, Network};

mod zoo;

/// The Python of the ONNX venv, or a panic that says how to make it.
fn python() -> PathBuf {
    if let Some(p) = std::env::var_os("SNL_ONNX_PYTHON") {
        return PathBuf::from(p);
    }
    let cache = std::env::var_os("SNL_CACHE")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("XDG_CACHE_HOME").map(|c| PathBuf::from(c).join("snl")))
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/snl")))
        .expect("HOME is set");
    let py = cache.join("onnx-venv/bin/python");
    assert!(
        py.exists(),
        "{} is missing: run `bash scripts/setup.sh` (it makes the onnx + onnxruntime venv)",
        py.display()
    );
    py
}

struct OrtRun {
    outputs: Vec<Vec<f64>>,
    relu_elements: usize,
    ops: serde_json::Map<String, serde_json::Value>,
    int64_initializers: usize,
}

/// Runs `run_onnx.py` on `model` with `inputs` (each of the network's input length).
fn ort(model: &Path, inputs: &[Vec<f64>]) -> OrtRun {
    let dir = model.parent().unwrap();
    let raw = dir.join("inputs.f32");
    let bytes: Vec<u8> = inputs
        .iter()
        .flatten()
        .flat_map(|&v| (v as f32).to_le_bytes())
        .collect();
    std::fs::write(&raw, bytes).unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/onnx/run_onnx.py");
    let out = Command::new(python())
        .arg(&script)
        .arg(model)
        .arg(&raw)
        .arg(inputs.len().to_string())
        .output()
        .expect("the onnx venv's python starts");
    assert!(
        out.status.success(),
        "run_onnx.py failed on {}:\n{}",
        model.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    OrtRun {
        outputs: v["outputs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| {
                o.as_array()
                    .unwrap()
                    .iter()
                    .map(|x| x.as_f64().unwrap())
                    .collect()
            })
            .collect(),
        relu_elements: v["relu_elements"].as_u64().unwrap() as usize,
        ops: v["ops"].as_object().unwrap().clone(),
        int64_initializers: v["int64_initializers"].as_u64().unwrap() as usize,
    }
}

/// Inputs in [0, 1) (pixels), rounded to f32 so both sides see the same values.
fn pixels(net: &Network, count: usize, seed: u64) -> Vec<Vec<f64>> {
    let mut r = zoo::Rng::new(seed);
    (0..count)
        .map(|_| {
            (0..numel(&net.input_shape))
                .map(|_| r.unit() as f32 as f64)
                .collect()
        })
        .collect()
}

/// Exports `net` in both encodings, runs each in onnxruntime and checks the outputs
/// against the f64 forward, the graph's Relu elements against the mask counts, and the
/// ops against what the issue allows. Returns the gathered run's Relu elements.
fn check(name: &str, net: &Network, inputs: usize) -> usize {
    let dir = tempfile::tempdir().unwrap();
    let xs = pixels(net, inputs, 7);
    let want: Vec<Vec<f64>> = xs.iter().map(|x| net.forward(x).unwrap()).collect();
    let counts = net.relu_counts().unwrap();
    let mut gathered_elements = 0;
    for enc in [Encoding::Gathered, Encoding::Masked, Encoding::Split] {
        let e = match export(net, enc) {
            Ok(e) => e,
            // split: only MLPs (every partial ReLU layer between dense layers)
            Err(err) if enc == Encoding::Split => {
                let err = err.to_string();
                assert!(
                    err.contains("the split ONNX encoding needs"),
                    "{name}: {err}"
                );
                continue;
            }
            Err(err) => panic!("{name} {enc:?}: {err}"),
        };
        let path = dir.path().join(format!("{name}-{enc:?}.onnx"));
        e.save(&path).unwrap();
        let run = ort(&path, &xs);
        for (i, (got, want)) in run.outputs.iter().zip(&want).enumerate() {
            // f32 weights and activations against the f64 reference; outputs are O(1)–O(10)
            if let Some(r) = compare(got, want, Tolerance::Approximate) {
                panic!("{name} {enc:?} input {i}: {r}");
            }
        }
        assert_eq!(
            run.int64_initializers, 0,
            "{name} {enc:?}: indices must be Constant nodes"
        );
        for bad in [
            "ScatterND",
            "ScatterElements",
            "Identity",
            "Min",
            "GatherND",
        ] {
            assert!(!run.ops.contains_key(bad), "{name} {enc:?} has {bad}");
        }
        assert_eq!(run.relu_elements, e.summary.relu_elements, "{name} {enc:?}");
        match enc {
            Encoding::Gathered => {
                assert_eq!(
                    run.relu_elements, counts.kept,
                    "{name}: Relu elements = kept"
                );
                gathered_elements = run.relu_elements;
                // no BatchNormalization op, and every conv-fed batch norm folded
                assert!(!run.ops.contains_key("BatchNormalization"));
                for l in &e.summary.layers {
                    let want = match l.kept {
                        0 => ReluForm::Vanished,
                        k if k == l.total => ReluForm::Plain,
                        _ => ReluForm::Gathered,
                    };
                    assert_eq!(l.form, want, "{name} node {}", l.node);
                }
                let relu_nodes = run.ops.get("Relu").and_then(|v| v.as_u64()).unwrap_or(0);
                let nonempty = counts.layers.iter().filter(|l| l.kept > 0).count();
                assert_eq!(
                    relu_nodes as usize, nonempty,
                    "{name}: one Relu per layer with a kept unit"
                );
            }
            Encoding::Masked => assert_eq!(run.relu_elements, counts.total, "{name}"),
            Encoding::Split => {
                assert_eq!(
                    run.relu_elements, counts.kept,
                    "{name} split: Relu elements = kept"
                );
                for op in ["Gather", "Concat", "MatMul"] {
                    assert!(!run.ops.contains_key(op), "{name} split has {op}");
                }
            }
        }
    }
    gathered_elements
}

/// Kept fractions cycling over the ReLU layers: partial, vanished, plain, sparse.
const FRACTIONS: [f64; 5] = [0.1, 0.0, 0.5, 1.0, 0.03];

#[test]
fn mlp_exports_match_the_f64_forward() {
    let net = zoo::mlp(&[1, 8, 8], &[32, 24, 16, 12], 1, &FRACTIONS);
    check("mlp", &net, 3);
}

#[test]
fn cnn_exports_match_the_f64_forward() {
    let net = zoo::cnn(&[1, 28, 28], 0.5, 2, &FRACTIONS);
    // 8·28·28 + 16·14·14 + 64 units; layer 2 fully linearized
    assert_eq!(net.relu_counts().unwrap().total, 6272 + 3136 + 64);
    check("cnn", &net, 2);
}

#[test]
fn resnet18_exports_match_the_f64_forward() {
    let net = zoo::resnet18(&[3, 16, 16], 0.125, 3, &FRACTIONS);
    assert_eq!(net.relu_counts().unwrap().layers.len(), 16);
    check("resnet18", &net, 2);
}

#[test]
fn wrn22x8_exports_match_the_f64_forward() {
    let net = zoo::wrn22x8(&[3, 16, 16], 0.125, 4, &FRACTIONS);
    assert_eq!(net.relu_counts().unwrap().layers.len(), 18);
    check("wrn22x8", &net, 2);
}

/// The full-size CIFAR ResNet-18 (491,520 ReLUs, paper convention) at 10% random kept:
/// the gathered graph compares exactly the kept 10%.
#[test]
fn full_resnet18_at_10_percent_gathers_the_kept_relus_only() {
    let net = zoo::resnet18(&[3, 32, 32], 1.0, 5, &[0.1]);
    let counts = net.relu_counts().unwrap();
    assert_eq!(counts.total, 491_520);
    let elements = check("resnet18-full", &net, 1);
    assert_eq!(elements, counts.kept);
    let ratio = counts.total as f64 / elements as f64;
    assert!((9.5..10.5).contains(&ratio), "{ratio}");
}

/// A zoo CNN after `free` on a small ball: the conv ReLUs read by average pools get a
/// scale node (factors 0/1), which exports as a `Mul` by a constant and runs in
/// onnxruntime like the f64 forward.
#[test]
fn freed_cnn_with_scale_nodes_exports_match_the_f64_forward() {
    use snl_theory::bound::InputBox;
    use snl_theory::Layer;
    let net = zoo::cnn(&[1, 12, 12], 0.25, 6, &[0.5]);
    let centre = &pixels(&net, 1, 3)[0];
    let d = InputBox::around(centre, 0.002).unwrap();
    let (freed, r) = snl_theory::free::free_linearize(&net, &d, None).unwrap();
    assert!(r.scale_nodes >= 1, "{r:?}");
    let scales = freed
        .nodes
        .iter()
        .filter(|n| matches!(n.layer, Layer::Scale { .. }))
        .count();
    assert_eq!(scales, r.scale_nodes);
    check("cnn-freed", &freed, 2);
}
