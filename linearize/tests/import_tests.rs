//! `snl import` against libtorch: a Python script (NumPy, and the safetensors layout written
//! with `struct` + `json`: an 8-byte little-endian header length, a JSON header of
//! `{key: {dtype, shape, data_offsets}}`, the raw bytes) builds a PyTorch-style state dict
//! with torchvision / CIFAR-ResNet key names, SNL masks and `num_batches_tracked`; the
//! imported model's forward must equal a functional libtorch forward written here directly
//! from those key names, and the IR's f64 forward too.
//!
//! Python: the venv `scripts/setup.sh` makes at `$SNL_CACHE/onnx-venv` (it has NumPy);
//! `SNL_ONNX_PYTHON` names another interpreter. A missing venv fails these tests.
//!
use crate::common::snl;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use snl_linearize::train::load_model;
use snl_theory::tolerance::{compare, Tolerance};
use tch::{Device, Kind, Tensor};

/// Writes a state dict as safetensors. argv: spec JSON, output path.
const GEN: &str = r#"
import json, struct, sys
import numpy as np
spec = json.loads(sys.argv[1]); out = sys.argv[2]
rng = np.random.default_rng(spec["seed"])
sd = {}
C, H, W = spec["input"]
ncls = spec["classes"]
wd = spec["width"]
def ch(c): return max(1, int(round(c * wd)))
def conv(n, o, i, k, bias=False):
    sd[n + ".weight"] = (rng.standard_normal((o, i, k, k)) * np.sqrt(2.0 / (i * k * k))).astype(np.float32)
    if bias: sd[n + ".bias"] = (0.1 * rng.standard_normal(o)).astype(np.float32)
def bn(n, c):
    sd[n + ".weight"] = rng.uniform(0.5, 1.5, c).astype(np.float32)
    sd[n + ".bias"] = (0.1 * rng.standard_normal(c)).astype(np.float32)
    sd[n + ".running_mean"] = (0.1 * rng.standard_normal(c)).astype(np.float32)
    sd[n + ".running_var"] = rng.uniform(0.5, 1.5, c).astype(np.float32)
    sd[n + ".num_batches_tracked"] = np.array(7, dtype=np.int64)
def linear(n, o, i):
    sd[n + ".weight"] = (rng.standard_normal((o, i)) * np.sqrt(1.0 / i)).astype(np.float32)
    sd[n + ".bias"] = (0.1 * rng.standard_normal(o)).astype(np.float32)
def mask(n, shape):
    if spec["masks"]:
        sd[n + ".c"] = (rng.random((1,) + tuple(shape)) < 0.5).astype(np.float32)
if spec["arch"] == "resnet18":
    tv = spec["style"] == "torchvision"
    c0 = ch(64)
    conv("conv1", c0, C, 3); bn("bn1", c0)
    if spec["relus"] == "all": mask("relu", (c0, H, W))
    inp, h, w = c0, H, W
    for s, (c, stride) in enumerate(zip([64, 128, 256, 512], [1, 2, 2, 2])):
        c = ch(c)
        for b in range(2):
            st = stride if b == 0 else 1
            p = "layer%d.%d" % (s + 1, b)
            h, w = (h - 1) // st + 1, (w - 1) // st + 1
            conv(p + ".conv1", c, inp, 3); bn(p + ".bn1", c); mask(p + ".relu1", (c, h, w))
            conv(p + ".conv2", c, c, 3); bn(p + ".bn2", c)
            if st != 1 or inp != c:
                d = p + (".downsample" if tv else ".shortcut")
                conv(d + ".0", c, inp, 1); bn(d + ".1", c)
            mask(p + ".relu2", (c, h, w))
            inp = c
    linear("fc" if tv else "linear", ncls, inp)
elif spec["arch"] == "cnn":
    c1, c2, f = ch(16), ch(32), ch(128)
    conv("conv1", c1, C, 5, True); mask("relu1", (c1, H, W))
    conv("conv2", c2, c1, 5, True); mask("relu2", (c2, H // 2, W // 2))
    linear("fc1", f, c2 * (H // 4) * (W // 4)); mask("relu3", (f,))
    linear("fc2", ncls, f)
elif spec["arch"] == "wrn22x8":
    c0 = ch(16)
    conv("conv1", c0, C, 3)
    inp, h, w = c0, H, W
    for s, (c, stride) in enumerate(zip([128, 256, 512], [1, 2, 2])):
        c = ch(c)
        for b in range(3):
            st = stride if b == 0 else 1
            p = "block%d.layer.%d" % (s + 1, b)
            bn(p + ".bn1", inp); mask(p + ".relu1", (inp, h, w))
            h2, w2 = (h - 1) // st + 1, (w - 1) // st + 1
            conv(p + ".conv1", c, inp, 3); bn(p + ".bn2", c); mask(p + ".relu2", (c, h2, w2))
            conv(p + ".conv2", c, c, 3)
            if st != 1 or inp != c: conv(p + ".convShortcut", c, inp, 1)
            inp, h, w = c, h2, w2
    bn("bn1", inp)
    if spec["relus"] == "all": mask("relu", (inp, h, w))
    linear("fc", ncls, inp)
for k in spec.get("drop", []): del sd[k]
for k, shape in spec.get("reshape", {}).items(): sd[k] = rng.standard_normal(shape).astype(np.float32)
for k in spec.get("extra", []): sd[k] = np.zeros(3, dtype=np.float32)
header, blobs, off = {}, [], 0
for k in sorted(sd):
    a = np.ascontiguousarray(sd[k])
    b = a.tobytes()
    header[k] = {"dtype": {"float32": "F32", "int64": "I64"}[a.dtype.name],
                 "shape": list(a.shape), "data_offsets": [off, off + len(b)]}
    off += len(b); blobs.append(b)
h = json.dumps(header).encode()
h += b" " * ((8 - len(h) % 8) % 8)
with open(out, "wb") as fh:
    fh.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))
"#;

/// The venv's Python, or a panic that says how to make it.
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
        "{} is missing: run `bash scripts/setup.sh` (it makes the venv with NumPy)",
        py.display()
    );
    py
}

/// Writes the state dict `spec` describes to `out` with NumPy.
fn write_state_dict(dir: &Path, spec: &serde_json::Value, out: &Path) {
    let script = dir.join("gen.py");
    std::fs::write(&script, GEN).unwrap();
    let o = Command::new(python())
        .arg(&script)
        .arg(spec.to_string())
        .arg(out)
        .output()
        .expect("python starts");
    assert!(
        o.status.success(),
        "gen.py failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// Functional libtorch forward written from the PyTorch key names.
struct Reference {
    sd: HashMap<String, Tensor>,
}

impl Reference {
    /// The file's tensors as `kind` (float tensors only; `num_batches_tracked` stays).
    fn load(path: &Path, kind: Kind) -> Self {
        let sd = Tensor::read_safetensors(path)
            .unwrap()
            .into_iter()
            .map(|(k, t)| {
                let t = if t.is_floating_point() {
                    t.to_kind(kind)
                } else {
                    t
                };
                (k, t)
            })
            .collect();
        Self { sd }
    }
    fn t(&self, k: &str) -> &Tensor {
        self.sd.get(k).unwrap_or_else(|| panic!("no {k}"))
    }
    fn conv(&self, n: &str, x: &Tensor, stride: i64, pad: i64) -> Tensor {
        x.conv2d(
            self.t(&format!("{n}.weight")),
            self.sd.get(&format!("{n}.bias")),
            [stride, stride],
            [pad, pad],
            [1, 1],
            1,
        )
    }
    fn bn(&self, n: &str, x: &Tensor) -> Tensor {
        let g = |p: &str| self.t(&format!("{n}.{p}"));
        x.batch_norm(
            Some(g("weight")),
            Some(g("bias")),
            Some(g("running_mean")),
            Some(g("running_var")),
            false,
            0.1,
            1e-5,
            false,
        )
    }
    /// SNL: c ⊙ relu(x) + (1 − c) ⊙ x, or relu(x) without a mask.
    fn relu(&self, n: &str, x: &Tensor) -> Tensor {
        match self.sd.get(&format!("{n}.c")) {
            Some(c) => c * x.relu() + (1.0 - c) * x,
            None => x.relu(),
        }
    }
    fn linear(&self, n: &str, x: &Tensor) -> Tensor {
        x.linear(
            self.t(&format!("{n}.weight")),
            Some(self.t(&format!("{n}.bias"))),
        )
    }
    /// CIFAR ResNet-18 (3×3 stem, no max-pool), torchvision or CIFAR-ResNet names.
    fn resnet18(&self, x: &Tensor, relus_all: bool) -> Tensor {
        let tv = self.sd.contains_key("fc.weight");
        let mut v = self.bn("bn1", &self.conv("conv1", x, 1, 1));
        if relus_all {
            v = self.relu("relu", &v);
        }
        for s in 1..=4 {
            for b in 0..2 {
                let p = format!("layer{s}.{b}");
                let stride = if s > 1 && b == 0 { 2 } else { 1 };
                let y = self.bn(
                    &format!("{p}.bn1"),
                    &self.conv(&format!("{p}.conv1"), &v, stride, 1),
                );
                let y = self.relu(&format!("{p}.relu1"), &y);
                let y = self.bn(
                    &format!("{p}.bn2"),
                    &self.conv(&format!("{p}.conv2"), &y, 1, 1),
                );
                let d = format!("{p}.{}", if tv { "downsample" } else { "shortcut" });
                let short = if self.sd.contains_key(&format!("{d}.0.weight")) {
                    self.bn(
                        &format!("{d}.1"),
                        &self.conv(&format!("{d}.0"), &v, stride, 0),
                    )
                } else {
                    v.shallow_clone()
                };
                v = self.relu(&format!("{p}.relu2"), &(y + short));
            }
        }
        let v = v.adaptive_avg_pool2d([1, 1]).flatten(1, -1);
        self.linear(if tv { "fc" } else { "linear" }, &v)
    }
    /// WideResNet (pre-activation blocks), xternalz-style names.
    fn wrn(&self, x: &Tensor, relus_all: bool) -> Tensor {
        let mut v = self.conv("conv1", x, 1, 1);
        for s in 1..=3 {
            for b in 0..3 {
                let p = format!("block{s}.layer.{b}");
                let stride = if s > 1 && b == 0 { 2 } else { 1 };
                let a = self.relu(&format!("{p}.relu1"), &self.bn(&format!("{p}.bn1"), &v));
                let y = self.conv(&format!("{p}.conv1"), &a, stride, 1);
                let y = self.relu(&format!("{p}.relu2"), &self.bn(&format!("{p}.bn2"), &y));
                let y = self.conv(&format!("{p}.conv2"), &y, 1, 1);
                let short = if self.sd.contains_key(&format!("{p}.convShortcut.weight")) {
                    self.conv(&format!("{p}.convShortcut"), &a, stride, 0)
                } else {
                    v.shallow_clone()
                };
                v = y + short;
            }
        }
        let mut v = self.bn("bn1", &v);
        if relus_all {
            v = self.relu("relu", &v);
        }
        let v = v.adaptive_avg_pool2d([1, 1]).flatten(1, -1);
        self.linear("fc", &v)
    }
    fn cnn(&self, x: &Tensor) -> Tensor {
        let pool = |t: &Tensor| t.avg_pool2d([2, 2], [2, 2], [0, 0], false, true, None);
        let v = pool(&self.relu("relu1", &self.conv("conv1", x, 1, 2)));
        let v = pool(&self.relu("relu2", &self.conv("conv2", &v, 1, 2)));
        let v = self.relu("relu3", &self.linear("fc1", &v.flatten(1, -1)));
        self.linear("fc2", &v)
    }
}

fn flat(t: &Tensor) -> Vec<f64> {
    Vec::try_from(&t.to_kind(Kind::Double).flatten(0, -1)).unwrap()
}

struct Case {
    name: &'static str,
    spec: serde_json::Value,
    args: Vec<&'static str>,
    mean: Vec<f32>,
    std: Vec<f32>,
    /// (mask tensors, ReLU layers) the summary must report.
    masks: (usize, usize),
}

#[test]
fn imported_models_compute_what_libtorch_computes_from_the_state_dict() {
    tch::set_num_threads(1);
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        Case {
            name: "resnet18-torchvision-all-masked",
            spec: serde_json::json!({"arch": "resnet18", "style": "torchvision", "relus": "all",
                "masks": true, "input": [3, 8, 8], "classes": 10, "width": 0.0625, "seed": 1}),
            args: vec![
                "--arch",
                "resnet18",
                "--relus",
                "all",
                "--input-shape",
                "3,8,8",
                "--mean",
                "0.5,0.4,0.3",
                "--std",
                "0.2,0.25,0.3",
            ],
            mean: vec![0.5, 0.4, 0.3],
            std: vec![0.2, 0.25, 0.3],
            masks: (17, 17),
        },
        Case {
            name: "resnet18-cifar-paper-plain",
            spec: serde_json::json!({"arch": "resnet18", "style": "cifar", "relus": "paper",
                "masks": false, "input": [3, 8, 8], "classes": 7, "width": 0.0625, "seed": 2}),
            args: vec!["--arch", "resnet18", "--input-shape", "3,8,8"],
            mean: vec![0.0; 3],
            std: vec![1.0; 3],
            masks: (0, 16),
        },
        Case {
            name: "wrn22x8-paper-masked",
            spec: serde_json::json!({"arch": "wrn22x8", "relus": "paper", "masks": true,
                "input": [3, 8, 8], "classes": 4, "width": 0.125, "seed": 4}),
            args: vec!["--arch", "wrn22x8", "--input-shape", "3,8,8"],
            mean: vec![0.0; 3],
            std: vec![1.0; 3],
            masks: (18, 18),
        },
        Case {
            name: "wrn22x8-all-plain",
            spec: serde_json::json!({"arch": "wrn22x8", "relus": "all", "masks": false,
                "input": [3, 8, 8], "classes": 4, "width": 0.125, "seed": 6}),
            args: vec![
                "--arch",
                "wrn22x8",
                "--relus",
                "all",
                "--input-shape",
                "3,8,8",
            ],
            mean: vec![0.0; 3],
            std: vec![1.0; 3],
            masks: (0, 19),
        },
        Case {
            name: "cnn-masked",
            spec: serde_json::json!({"arch": "cnn", "masks": true, "input": [1, 12, 12],
                "classes": 5, "width": 0.25, "seed": 3}),
            args: vec!["--arch", "cnn", "--input-shape", "1,12,12"],
            mean: vec![0.0],
            std: vec![1.0],
            masks: (3, 3),
        },
    ];
    for case in cases {
        let sd = dir.path().join(format!("{}.safetensors", case.name));
        write_state_dict(dir.path(), &case.spec, &sd);
        let out = dir.path().join(format!("{}.model.safetensors", case.name));
        let mut args = vec![
            "import",
            "--state-dict",
            sd.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ];
        args.extend(&case.args);
        let (code, stdout, stderr) = snl(&args);
        assert_eq!(code, 0, "{}: {stderr}", case.name);
        let want = format!("masks for {} of {} ReLU layers", case.masks.0, case.masks.1);
        assert!(stdout.contains(&want), "{}: {stdout}", case.name);

        let shape: Vec<i64> = case.spec["input"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d.as_i64().unwrap())
            .collect();
        tch::manual_seed(5);
        let x = Tensor::rand(
            [3, shape[0], shape[1], shape[2]],
            (Kind::Float, Device::Cpu),
        );
        // f32 (against the imported libtorch net) and f64 (against the IR's f64 forward)
        let reference = |kind: Kind| {
            let r = Reference::load(&sd, kind);
            let mean = Tensor::from_slice(&case.mean)
                .view([1, -1, 1, 1])
                .to_kind(kind);
            let std = Tensor::from_slice(&case.std)
                .view([1, -1, 1, 1])
                .to_kind(kind);
            let xn = (&x.to_kind(kind) - mean) / std;
            let y = tch::no_grad(|| match case.spec["arch"].as_str().unwrap() {
                "resnet18" => r.resnet18(&xn, case.spec["relus"] == "all"),
                "wrn22x8" => r.wrn(&xn, case.spec["relus"] == "all"),
                _ => r.cnn(&xn),
            });
            flat(&y)
        };
        let want = reference(Kind::Float);
        let want64 = reference(Kind::Double);

        let (net, _, info) = load_model(&out, Device::Cpu).unwrap();
        assert_eq!(info.get("stage").map(String::as_str), Some("imported"));
        let got = flat(&tch::no_grad(|| net.forward_t(&x, false)));
        if let Some(report) = compare(&got, &want, Tolerance::Approximate) {
            panic!(
                "{}: libtorch forward of the imported model: {report}",
                case.name
            );
        }
        let ir = snl_theory::load(&out).unwrap();
        let mut f64_out = Vec::new();
        for i in 0..x.size()[0] {
            f64_out.extend(ir.forward(&flat(&x.get(i))).unwrap());
        }
        if let Some(report) = compare(&f64_out, &want64, Tolerance::Close) {
            panic!(
                "{}: IR f64 forward of the imported model: {report}",
                case.name
            );
        }
        // the masks really linearize something (and keep something)
        if case.masks.0 > 0 {
            let c = ir.relu_counts().unwrap();
            assert!(0 < c.kept && c.kept < c.total, "{}: {c:?}", case.name);
        }
    }
}

#[test]
fn bad_state_dicts_name_the_key_exit_2_and_write_nothing() {
    tch::set_num_threads(1);
    let dir = tempfile::tempdir().unwrap();
    let cnn = |extra: serde_json::Value| {
        let mut s = serde_json::json!({"arch": "cnn", "masks": true, "input": [1, 12, 12],
            "classes": 5, "width": 0.25, "seed": 3});
        for (k, v) in extra.as_object().unwrap() {
            s[k] = v.clone();
        }
        s
    };
    let resnet = serde_json::json!({"arch": "resnet18", "style": "torchvision", "relus": "all",
        "masks": true, "input": [3, 8, 8], "classes": 10, "width": 0.0625, "seed": 1});
    let cases: [(&str, serde_json::Value, &[&str], &[&str]); 5] = [
        (
            "missing",
            cnn(serde_json::json!({"drop": ["conv2.weight"]})),
            &["--arch", "cnn", "--input-shape", "1,12,12"],
            &["missing key 'conv2.weight'"],
        ),
        (
            "shape",
            cnn(serde_json::json!({"reshape": {"fc1.weight": [32, 7]}})),
            &["--arch", "cnn", "--input-shape", "1,12,12"],
            &["key 'fc1.weight' has shape [32, 7], expected [32, 72]"],
        ),
        (
            "mask-shape",
            cnn(serde_json::json!({"reshape": {"relu2.c": [1, 8, 5, 5]}})),
            &["--arch", "cnn", "--input-shape", "1,12,12"],
            &["key 'relu2.c' has shape [1, 8, 5, 5], expected [1, 8, 6, 6]"],
        ),
        (
            "stem-mask-under-paper",
            resnet.clone(),
            &["--arch", "resnet18", "--input-shape", "3,8,8"],
            &["unexpected key 'relu.c'", "--relus paper"],
        ),
        (
            "missing-downsample",
            {
                let mut s = resnet.clone();
                s["drop"] = serde_json::json!(["layer2.0.downsample.1.running_var"]);
                s
            },
            &[
                "--arch",
                "resnet18",
                "--relus",
                "all",
                "--input-shape",
                "3,8,8",
            ],
            &["missing key 'layer2.0.downsample.1.running_var'"],
        ),
    ];
    for (name, spec, args, needles) in cases {
        let sd = dir.path().join(format!("{name}.safetensors"));
        write_state_dict(dir.path(), &spec, &sd);
        let out = dir.path().join(format!("{name}.model.safetensors"));
        let mut a = vec![
            "import",
            "--state-dict",
            sd.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ];
        a.extend(args);
        let (code, _, stderr) = snl(&a);
        assert_eq!(code, 2, "{name}: {stderr}");
        for n in needles {
            assert!(stderr.contains(n), "{name}: wanted {n:?} in {stderr}");
        }
        assert_eq!(stderr.lines().count(), 1, "{name}: {stderr}");
        assert!(!out.exists(), "{name}: wrote {}", out.display());
    }
    // not a safetensors file at all
    let junk = dir.path().join("junk.safetensors");
    std::fs::write(&junk, b"not a checkpoint").unwrap();
    let out = dir.path().join("junk.model.safetensors");
    let (code, _, stderr) = snl(&[
        "import",
        "--state-dict",
        junk.to_str().unwrap(),
        "--arch",
        "cnn",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("not a readable safetensors file"),
        "{stderr}"
    );
    assert!(!out.exists());
}

/// A state dict of `snl`'s own variable names (what `snl` trains, `VarStore` names) imports
/// to exactly the model file `snl` writes for those weights: same IR, same architecture.
#[test]
fn importing_snl_own_variables_gives_the_file_snl_writes() {
    use snl_linearize::arch::{Arch, ArchConfig, ReluConvention};
    use snl_linearize::masked::MaskGranularity;
    use snl_linearize::train::{save_model, ModelFile};
    tch::set_num_threads(1);
    let dir = tempfile::tempdir().unwrap();
    for (arch, flag, relus, shape, width) in [
        (Arch::Mlp, "mlp", ReluConvention::Paper, [1, 4, 4], 1.0),
        (Arch::Cnn, "cnn", ReluConvention::Paper, [1, 8, 8], 0.25),
        (
            Arch::Resnet18,
            "resnet18",
            ReluConvention::All,
            [3, 8, 8],
            0.0625,
        ),
        (
            Arch::Wrn22x8,
            "wrn22x8",
            ReluConvention::Paper,
            [3, 8, 8],
            0.125,
        ),
    ] {
        let cfg = ArchConfig {
            arch,
            input_shape: shape.to_vec(),
            classes: 3,
            hidden: if arch == Arch::Mlp {
                vec![7, 5]
            } else {
                vec![]
            },
            granularity: MaskGranularity::Pixel,
            relus,
            mean: vec![0.5; shape[0] as usize],
            std: vec![0.25; shape[0] as usize],
            width,
        };
        tch::manual_seed(7);
        let mut net = cfg.build(Device::Cpu);
        for (i, m) in net.relus_mut().enumerate() {
            let v: Vec<f32> = (0..m.c.numel())
                .map(|j| ((i + j) % 3 != 0) as u8 as f32)
                .collect();
            tch::no_grad(|| {
                m.c.copy_(&Tensor::from_slice(&v).view(m.c.size().as_slice()))
            });
        }
        let sd = dir.path().join(format!("{flag}.safetensors"));
        let named: Vec<(String, Tensor)> = net.vs.variables().into_iter().collect();
        Tensor::write_safetensors(&named, &sd).unwrap();
        let out = dir.path().join(format!("{flag}.model.safetensors"));
        let input = format!("{},{},{}", shape[0], shape[1], shape[2]);
        let ms = vec!["0.5"; shape[0] as usize].join(",");
        let ss = vec!["0.25"; shape[0] as usize].join(",");
        let relus_flag = if relus == ReluConvention::All {
            "all"
        } else {
            "paper"
        };
        let (code, _, stderr) = snl(&[
            "import",
            "--state-dict",
            sd.to_str().unwrap(),
            "--arch",
            flag,
            "--relus",
            relus_flag,
            "--input-shape",
            &input,
            "--mean",
            &ms,
            "--std",
            &ss,
            "--out",
            out.to_str().unwrap(),
        ]);
        assert_eq!(code, 0, "{flag}: {stderr}");
        let want = dir.path().join(format!("{flag}.snl.safetensors"));
        save_model(&net, &cfg, 1e-2, &[], &want).unwrap();
        let (a, b) = (
            ModelFile::read(&out).unwrap(),
            ModelFile::read(&want).unwrap(),
        );
        assert_eq!(a.arch, cfg, "{flag}");
        assert_eq!(
            serde_json::to_string(&a.ir).unwrap(),
            serde_json::to_string(&b.ir).unwrap(),
            "{flag}"
        );
    }
}

/// `snl import --onnx`: an ONNX network (plain here) becomes a model file computing the same
/// function; a bad ONNX file is exit 2, one line, and nothing written.
#[test]
fn onnx_networks_import_to_model_files_and_bad_ones_write_nothing() {
    use nalgebra::{DMatrix, DVector};
    use snl_theory::{Affine, Layer, Network, ReluMask};
    let dir = tempfile::tempdir().unwrap();
    let mut net = Network::new(vec![3]);
    net.push(Layer::Dense(Affine::new(
        DMatrix::from_row_slice(2, 3, &[1.0, -0.5, 0.25, 2.0, 0.0, -1.0]),
        DVector::from_vec(vec![0.5, -0.25]),
    )));
    net.push(Layer::Relu(ReluMask::all_kept(2)));
    let onnx = dir.path().join("net.onnx");
    snl_theory::io::onnx::export(&net, snl_theory::io::onnx::Encoding::Gathered)
        .unwrap()
        .save(&onnx)
        .unwrap();
    let out = dir.path().join("net.safetensors");
    let (code, _, stderr) = snl(&[
        "import",
        "--onnx",
        onnx.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{stderr}");
    let back = snl_theory::load(&out).unwrap();
    let x = [0.5, -1.0, 2.0];
    assert_eq!(back.forward(&x).unwrap(), net.forward(&x).unwrap());
    let bytes = std::fs::read(&onnx).unwrap();
    let cut = dir.path().join("cut.onnx");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    let out = dir.path().join("cut.safetensors");
    let (code, _, stderr) = snl(&[
        "import",
        "--onnx",
        cut.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code, 2, "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("not a valid ONNX protobuf"), "{stderr}");
    assert!(!out.exists());
}
