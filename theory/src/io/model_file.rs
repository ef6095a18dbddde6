//! The model file: one self-describing `.safetensors` file.
//!
//! Tensors hold the parameters; the safetensors metadata (string → string) holds
//! `format = "snl"`, `format_version = "1"` and `network`, the architecture as JSON that
//! names the tensors and carries the ReLU masks. Other metadata keys are free-form
//! information (dataset, accuracy, ...) and are returned by [`load_with_info`].
//! The format is documented in `docs/model-format.md`.
//!
//! Writes are atomic: a temporary file in the same folder, renamed over the target.
use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::Path;

use nalgebra::{DMatrix, DVector};
use safetensors::Dtype;
use serde::{Deserialize, Serialize};

use crate::io::st_file::StFile;
use crate::ir::network::{Affine, AvgPool2d, BatchNorm, Conv2d, Layer, Network, Node};
use crate::{Error, ModelFileProblem, ReluMask, Result, ValueId};

/// The format version this build writes and reads.
pub const FORMAT_VERSION: u32 = 1;
const KEY_FORMAT: &str = "format";
const KEY_VERSION: &str = "format_version";
const KEY_NETWORK: &str = "network";
const RESERVED: [&str; 3] = [KEY_FORMAT, KEY_VERSION, KEY_NETWORK];
/// Most elements the input or a reshape of a model file may declare (2^30).
pub const MAX_VALUE_ELEMENTS: usize = 1 << 30;

/// Architecture JSON: the IR with tensor names in place of parameters.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ArchSpec {
    input_shape: Vec<usize>,
    nodes: Vec<NodeSpec>,
}

#[derive(Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case", deny_unknown_fields)]
enum NodeSpec {
    Dense {
        #[serde(default)]
        inputs: Option<Vec<ValueId>>,
        weight: String,
        #[serde(default)]
        bias: Option<String>,
    },
    Conv2d {
        #[serde(default)]
        inputs: Option<Vec<ValueId>>,
        weight: String,
        #[serde(default)]
        bias: Option<String>,
        #[serde(default = "ones")]
        stride: [usize; 2],
        #[serde(default)]
        padding: [usize; 2],
    },
    BatchNorm {
        #[serde(default)]
        inputs: Option<Vec<ValueId>>,
        weight: String,
        bias: String,
        running_mean: String,
        running_var: String,
        #[serde(default = "bn_eps")]
        eps: f64,
    },
    Flatten {
        #[serde(default)]
        inputs: Option<Vec<ValueId>>,
    },
    Reshape {
        #[serde(default)]
        inputs: Option<Vec<ValueId>>,
        shape: Vec<usize>,
    },
    Add {
        inputs: Vec<ValueId>,
    },
    AvgPool2d {
        #[serde(default)]
        inputs: Option<Vec<ValueId>>,
        kernel: [usize; 2],
        #[serde(default)]
        stride: Option<[usize; 2]>,
    },
    Scale {
        #[serde(default)]
        inputs: Option<Vec<ValueId>>,
        /// One factor per unit (any shape with as many values as the input).
        factor: String,
    },
    Relu {
        #[serde(default)]
        inputs: Option<Vec<ValueId>>,
        /// Absent: every unit kept.
        #[serde(default)]
        mask: Option<ReluMask>,
    },
}

fn ones() -> [usize; 2] {
    [1, 1]
}

fn bn_eps() -> f64 {
    1e-5
}

fn problem(path: &Path, problem: ModelFileProblem) -> Error {
    Error::ModelFile {
        path: path.to_path_buf(),
        problem,
    }
}

/// Writes `net` to `path` (atomically).
pub fn save(net: &Network, path: impl AsRef<Path>) -> Result<()> {
    save_with_info(net, &BTreeMap::new(), path)
}

/// Writes `net` plus free-form `info` metadata to `path` (atomically). Keys `format`,
/// `format_version` and `network` are reserved.
pub fn save_with_info(
    net: &Network,
    info: &BTreeMap<String, String>,
    path: impl AsRef<Path>,
) -> Result<()> {
    let path = path.as_ref();
    let shapes = net.shapes()?;
    let mut tensors = Tensors::default();
    let nodes = net
        .nodes
        .iter()
        .enumerate()
        .map(|(k, node)| node_spec(k, node, &shapes, &mut tensors))
        .collect();
    let arch = ArchSpec {
        input_shape: net.input_shape.clone(),
        nodes,
    };
    let bytes: Vec<(String, Vec<usize>, Vec<u8>)> = tensors
        .0
        .into_iter()
        .map(|(n, s, d)| (n, s, d.iter().flat_map(|v| v.to_le_bytes()).collect()))
        .collect();
    let views = bytes.iter().map(|(n, s, d)| {
        let view = safetensors::tensor::TensorView::new(Dtype::F64, s.clone(), d)
            .expect("shape and data length agree");
        (n.clone(), view)
    });
    let buf = safetensors::serialize(views, Some(file_metadata(info, &arch)))
        .map_err(|e| problem(path, ModelFileProblem::Safetensors(e.to_string())))?;
    write_atomic(path, &sorted_header(buf)).map_err(|e| problem(path, ModelFileProblem::Io(e)))
}

/// The tensors a model file holds, in the order they are added: name, shape, values.
#[derive(Default)]
struct Tensors(Vec<(String, Vec<usize>, Vec<f64>)>);

impl Tensors {
    /// Adds a tensor; returns its name.
    fn add(&mut self, name: String, shape: Vec<usize>, data: Vec<f64>) -> String {
        self.0.push((name.clone(), shape, data));
        name
    }
}

/// The architecture entry of node `k`, its parameters added to `tensors` as
/// `nodes.{k}.{weight, bias, …}` (`shapes`: the shapes of the network's values).
fn node_spec(k: usize, node: &Node, shapes: &[Vec<usize>], tensors: &mut Tensors) -> NodeSpec {
    let inputs = Some(node.inputs.clone());
    let t = |s: &str| format!("nodes.{k}.{s}");
    match &node.layer {
        Layer::Dense(a) => {
            let (r, c) = a.weight.shape();
            // nalgebra is column-major; the file is row-major like PyTorch.
            let w = a.weight.transpose().as_slice().to_vec();
            NodeSpec::Dense {
                inputs,
                weight: tensors.add(t("weight"), vec![r, c], w),
                bias: Some(tensors.add(t("bias"), vec![r], a.bias.as_slice().to_vec())),
            }
        }
        Layer::Conv2d(c) => NodeSpec::Conv2d {
            inputs,
            weight: tensors.add(
                t("weight"),
                vec![c.out_channels, c.in_channels, c.kernel[0], c.kernel[1]],
                c.weight.clone(),
            ),
            bias: Some(tensors.add(t("bias"), vec![c.out_channels], c.bias.clone())),
            stride: c.stride,
            padding: c.padding,
        },
        Layer::BatchNorm(b) => {
            let n = vec![b.gamma.len()];
            NodeSpec::BatchNorm {
                inputs,
                weight: tensors.add(t("weight"), n.clone(), b.gamma.clone()),
                bias: tensors.add(t("bias"), n.clone(), b.beta.clone()),
                running_mean: tensors.add(t("running_mean"), n.clone(), b.mean.clone()),
                running_var: tensors.add(t("running_var"), n, b.var.clone()),
                eps: b.eps,
            }
        }
        Layer::Flatten => NodeSpec::Flatten { inputs },
        Layer::Reshape { shape } => NodeSpec::Reshape {
            inputs,
            shape: shape.clone(),
        },
        Layer::Add => NodeSpec::Add {
            inputs: node.inputs.clone(),
        },
        Layer::AvgPool2d(p) => NodeSpec::AvgPool2d {
            inputs,
            kernel: p.kernel,
            stride: Some(p.stride),
        },
        Layer::Scale { factor } => NodeSpec::Scale {
            inputs,
            factor: tensors.add(t("factor"), shapes[node.inputs[0]].clone(), factor.clone()),
        },
        Layer::Relu(m) => NodeSpec::Relu {
            inputs,
            mask: Some(m.clone()),
        },
    }
}

/// The safetensors metadata: `info` without the reserved keys, the format, its version and
/// the architecture JSON.
fn file_metadata(info: &BTreeMap<String, String>, arch: &ArchSpec) -> HashMap<String, String> {
    let mut meta: HashMap<String, String> = info
        .iter()
        .filter(|(k, _)| !RESERVED.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    meta.insert(KEY_FORMAT.into(), "snl".into());
    meta.insert(KEY_VERSION.into(), FORMAT_VERSION.to_string());
    meta.insert(
        KEY_NETWORK.into(),
        serde_json::to_string(arch).expect("the architecture serializes"),
    );
    meta
}

/// Rewrites the JSON header with sorted keys (safetensors writes the metadata map in hash
/// order), so that the same network always gives the same bytes. The header keeps its
/// length: only the order of its entries changes.
pub(crate) fn sorted_header(mut buf: Vec<u8>) -> Vec<u8> {
    let n = u64::from_le_bytes(buf[..8].try_into().expect("8-byte length")) as usize;
    let header: serde_json::Value =
        serde_json::from_slice(&buf[8..8 + n]).expect("safetensors wrote valid JSON");
    // serde_json's map is a BTreeMap (no `preserve_order`): keys come out sorted
    let sorted = serde_json::to_vec(&header).expect("JSON");
    if sorted.len() <= n {
        buf[8..8 + sorted.len()].copy_from_slice(&sorted);
        buf[8 + sorted.len()..8 + n].fill(b' ');
    }
    buf
}

/// Writes `bytes` to `path` through a temporary file in the same folder and a rename, so
/// the target is either the old file or the complete new one. On Unix the file gets mode
/// 0644 (the temporary file is created 0600).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let mut tmp = tempfile::Builder::new()
        .prefix(".snl-")
        .suffix(".tmp")
        .tempfile_in(dir)?;
    tmp.write_all(bytes)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        tmp.as_file()
            .set_permissions(std::fs::Permissions::from_mode(0o644))?;
    }
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

/// Reads a model file.
pub fn load(path: impl AsRef<Path>) -> Result<Network> {
    load_with_info(path).map(|(net, _)| net)
}

/// Reads a model file and its free-form metadata.
pub fn load_with_info(path: impl AsRef<Path>) -> Result<(Network, BTreeMap<String, String>)> {
    let path = path.as_ref();
    let bytes = std::fs::read(path).map_err(|e| {
        let p = if e.kind() == std::io::ErrorKind::NotFound {
            ModelFileProblem::NotFound
        } else {
            ModelFileProblem::Io(e)
        };
        problem(path, p)
    })?;
    from_bytes(&bytes).map_err(|p| problem(path, p))
}

/// Reads a model file's bytes: one pass over the header, the architecture and the
/// tensors, so the time is linear in the file size (a 100,000-node file loads in well
/// under a second; `cargo run --release -p snl-theory --example many_nodes`).
fn from_bytes(
    bytes: &[u8],
) -> std::result::Result<(Network, BTreeMap<String, String>), ModelFileProblem> {
    let tensors = StFile::parse(bytes).map_err(|e| ModelFileProblem::Safetensors(e.to_string()))?;
    let meta = tensors.metadata();
    let version = meta
        .get(KEY_VERSION)
        .ok_or(ModelFileProblem::MissingMetadata(KEY_VERSION))?;
    if version.trim() != FORMAT_VERSION.to_string() {
        return Err(ModelFileProblem::UnknownVersion {
            found: version.clone(),
            supported: FORMAT_VERSION,
        });
    }
    let arch: ArchSpec = serde_json::from_str(
        meta.get(KEY_NETWORK)
            .ok_or(ModelFileProblem::MissingMetadata(KEY_NETWORK))?,
    )
    .map_err(|e| ModelFileProblem::Architecture(e.to_string()))?;
    // `build` checks each node as it reads it: the network it returns is valid
    let net = build(arch, &tensors)?;
    let info = meta
        .into_iter()
        .filter(|(k, _)| !RESERVED.contains(&k.as_str()))
        .collect();
    Ok((net, info))
}

/// Reads a tensor as f64, checking its shape when `expected` is given.
fn tensor(
    st: &StFile<'_>,
    name: &str,
    expected: Option<&[usize]>,
) -> std::result::Result<(Vec<usize>, Vec<f64>), ModelFileProblem> {
    let view = st
        .tensor(name)
        .ok_or_else(|| ModelFileProblem::MissingTensor(name.to_string()))?;
    let shape = view.shape.to_vec();
    if let Some(e) = expected {
        if e != shape.as_slice() {
            return Err(ModelFileProblem::TensorShape {
                name: name.to_string(),
                expected: e.to_vec(),
                got: shape,
            });
        }
    }
    let values = view.floats().ok_or_else(|| ModelFileProblem::Dtype {
        name: name.to_string(),
        dtype: format!("{:?}", view.dtype),
    })?;
    if values.iter().any(|v| !v.is_finite()) {
        return Err(ModelFileProblem::NonFinite(name.to_string()));
    }
    Ok((shape, values))
}

/// Builds the network node by node, checking each node against the shapes of the values
/// before it (kept as they are computed, so the check is linear in the number of nodes).
fn build(arch: ArchSpec, st: &StFile<'_>) -> std::result::Result<Network, ModelFileProblem> {
    check_sizes(&arch)?;
    let mut net = Network::new(arch.input_shape);
    net.nodes.reserve(arch.nodes.len());
    let mut shapes = Vec::with_capacity(arch.nodes.len() + 1);
    shapes.push(net.input_shape.clone());
    for (k, spec) in arch.nodes.into_iter().enumerate() {
        let node = node_from_spec(k, spec, st, &shapes)?;
        let shape = node
            .checked_output_shape(k, &shapes)
            .map_err(|e| ModelFileProblem::Network(Box::new(e)))?;
        shapes.push(shape);
        net.nodes.push(node);
    }
    Ok(net)
}

/// Refuses an input shape or a reshape of more than [`MAX_VALUE_ELEMENTS`] elements.
/// Shapes come from the file: sizes whose masks or values could not be allocated are
/// refused before anything is built (a ReLU without a mask on a 10^12-unit input would
/// allocate one bit per unit).
fn check_sizes(arch: &ArchSpec) -> std::result::Result<(), ModelFileProblem> {
    let too_big = |shape: &[usize]| {
        shape
            .iter()
            .try_fold(1usize, |a, &d| a.checked_mul(d))
            .is_none_or(|n| n > MAX_VALUE_ELEMENTS)
    };
    if too_big(&arch.input_shape) {
        return Err(ModelFileProblem::Architecture(format!(
            "input shape {:?} has more than {MAX_VALUE_ELEMENTS} elements",
            arch.input_shape
        )));
    }
    if let Some((k, shape)) = arch.nodes.iter().enumerate().find_map(|(k, n)| match n {
        NodeSpec::Reshape { shape, .. } if too_big(shape) => Some((k, shape)),
        _ => None,
    }) {
        return Err(ModelFileProblem::Architecture(format!(
            "node {k}: reshape to {shape:?}, more than {MAX_VALUE_ELEMENTS} elements"
        )));
    }
    Ok(())
}

/// Node `k` from its architecture entry, its parameters read from `st` (`shapes`: the
/// shapes of the values before it). Inputs default to the previous value.
fn node_from_spec(
    k: usize,
    spec: NodeSpec,
    st: &StFile<'_>,
    shapes: &[Vec<usize>],
) -> std::result::Result<Node, ModelFileProblem> {
    let prev = || vec![ValueId::from_index(k)];
    let (layer, inputs) = match spec {
        NodeSpec::Dense {
            inputs,
            weight,
            bias,
        } => (dense(st, &weight, bias.as_deref())?, inputs),
        NodeSpec::Conv2d {
            inputs,
            weight,
            bias,
            stride,
            padding,
        } => (
            conv2d(st, &weight, bias.as_deref(), stride, padding)?,
            inputs,
        ),
        NodeSpec::BatchNorm {
            inputs,
            weight,
            bias,
            running_mean,
            running_var,
            eps,
        } => (
            batch_norm(st, [&weight, &bias, &running_mean, &running_var], eps)?,
            inputs,
        ),
        NodeSpec::Flatten { inputs } => (Layer::Flatten, inputs),
        NodeSpec::Reshape { inputs, shape } => (Layer::Reshape { shape }, inputs),
        NodeSpec::Add { inputs } => (Layer::Add, Some(inputs)),
        NodeSpec::AvgPool2d {
            inputs,
            kernel,
            stride,
        } => (
            Layer::AvgPool2d(AvgPool2d {
                kernel,
                stride: stride.unwrap_or(kernel),
            }),
            inputs,
        ),
        // the length is checked against the input by the caller
        NodeSpec::Scale { inputs, factor } => (
            Layer::Scale {
                factor: tensor(st, &factor, None)?.1,
            },
            inputs,
        ),
        NodeSpec::Relu { inputs, mask } => {
            let inputs = inputs.unwrap_or_else(prev);
            let mask = match mask {
                Some(m) => m,
                None => all_kept(k, &inputs, shapes)?,
            };
            (Layer::Relu(mask), Some(inputs))
        }
    };
    Ok(Node {
        layer,
        inputs: inputs.unwrap_or_else(prev),
    })
}

/// A dense layer: a 2-D weight `[rows, cols]` and a bias of `rows` values (absent: zeros).
fn dense(
    st: &StFile<'_>,
    weight: &str,
    bias: Option<&str>,
) -> std::result::Result<Layer, ModelFileProblem> {
    let (s, w) = tensor(st, weight, None)?;
    let [r, c] = s[..] else {
        return Err(shape_err(weight, vec![0, 0], s));
    };
    let b = match bias {
        Some(b) => tensor(st, b, Some(&[r]))?.1,
        None => vec![0.0; r],
    };
    Ok(Layer::Dense(Affine::new(
        DMatrix::from_row_slice(r, c, &w),
        DVector::from_vec(b),
    )))
}

/// A 2-D convolution: a weight `[out, in, kh, kw]` and a bias of `out` values (absent:
/// zeros).
fn conv2d(
    st: &StFile<'_>,
    weight: &str,
    bias: Option<&str>,
    stride: [usize; 2],
    padding: [usize; 2],
) -> std::result::Result<Layer, ModelFileProblem> {
    let (s, w) = tensor(st, weight, None)?;
    let [o, i, kh, kw] = s[..] else {
        return Err(shape_err(weight, vec![0, 0, 0, 0], s));
    };
    let b = match bias {
        Some(b) => tensor(st, b, Some(&[o]))?.1,
        None => vec![0.0; o],
    };
    Ok(Layer::Conv2d(Conv2d {
        in_channels: i,
        out_channels: o,
        kernel: [kh, kw],
        stride,
        padding,
        weight: w,
        bias: b,
    }))
}

/// A batch norm from its tensors `[weight, bias, running_mean, running_var]`, all 1-D of
/// one length.
fn batch_norm(
    st: &StFile<'_>,
    [weight, bias, running_mean, running_var]: [&str; 4],
    eps: f64,
) -> std::result::Result<Layer, ModelFileProblem> {
    let (s, gamma) = tensor(st, weight, None)?;
    if s.len() != 1 {
        return Err(shape_err(weight, vec![gamma.len()], s));
    }
    let n = [gamma.len()];
    Ok(Layer::BatchNorm(BatchNorm {
        gamma,
        beta: tensor(st, bias, Some(&n))?.1,
        mean: tensor(st, running_mean, Some(&n))?.1,
        var: tensor(st, running_var, Some(&n))?.1,
        eps,
    }))
}

/// The mask of ReLU node `k` written without one: every unit kept, the length that of the
/// value it reads.
fn all_kept(
    k: usize,
    inputs: &[ValueId],
    shapes: &[Vec<usize>],
) -> std::result::Result<ReluMask, ModelFileProblem> {
    let len = inputs
        .first()
        .and_then(|&i| shapes.get(i.index()))
        .map(|s| crate::numel(s))
        .ok_or_else(|| {
            ModelFileProblem::Architecture(format!(
                "node {k}: relu reads a value that does not exist yet"
            ))
        })?;
    Ok(ReluMask::all_kept(len))
}

fn shape_err(name: &str, expected: Vec<usize>, got: Vec<usize>) -> ModelFileProblem {
    ModelFileProblem::TensorShape {
        name: name.to_string(),
        expected,
        got,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use safetensors::SafeTensors;

    fn tiny() -> Network {
        let mut net = Network::new(vec![1, 4, 4]);
        net.push(Layer::Conv2d(Conv2d {
            in_channels: 1,
            out_channels: 2,
            kernel: [3, 3],
            stride: [1, 1],
            padding: [1, 1],
            weight: (0..18).map(|i| (i as f64 - 9.0) / 7.0).collect(),
            bias: vec![0.1, -0.2],
        }));
        net.push(Layer::Relu(ReluMask::from_bools(
            &(0..32).map(|i| i % 3 == 0).collect::<Vec<_>>(),
        )));
        net.push(Layer::AvgPool2d(AvgPool2d {
            kernel: [2, 2],
            stride: [2, 2],
        }));
        net.push(Layer::Flatten);
        net.push(Layer::Dense(Affine::new(
            DMatrix::from_fn(3, 8, |r, c| (r as f64 + 1.0) * 0.1 - c as f64 * 0.05),
            DVector::from_vec(vec![0.0, 1.0, -1.0]),
        )));
        net.push(Layer::Scale {
            factor: vec![0.0, 1.0, -0.375],
        });
        net
    }

    #[test]
    fn round_trip_is_bit_exact() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("m.safetensors");
        let net = tiny();
        let mut info = BTreeMap::new();
        info.insert("dataset".to_string(), "synthetic".to_string());
        save_with_info(&net, &info, &p).unwrap();
        let (back, info_back) = load_with_info(&p).unwrap();
        assert_eq!(back, net);
        assert_eq!(info_back, info);
        // no temporary file left behind, and readable by others like any written file
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&p).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o644);
        }
        // the same network gives the same bytes (sorted header, whatever the hash order)
        let again = dir.path().join("again.safetensors");
        save_with_info(&net, &info, &again).unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), std::fs::read(&again).unwrap());
    }

    #[test]
    fn truncated_file_is_a_typed_error_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("m.safetensors");
        save(&tiny(), &p).unwrap();
        let bytes = std::fs::read(&p).unwrap();
        for cut in [0, 4, 8, 100, bytes.len() - 1] {
            std::fs::write(&p, &bytes[..cut]).unwrap();
            match load(&p) {
                Err(Error::ModelFile {
                    path,
                    problem: ModelFileProblem::Safetensors(_),
                }) => assert_eq!(path, p),
                other => panic!("cut at {cut}: expected a safetensors problem, got {other:?}"),
            }
        }
        let missing = dir.path().join("none.safetensors");
        assert!(matches!(
            load(&missing),
            Err(Error::ModelFile {
                problem: ModelFileProblem::NotFound,
                ..
            })
        ));
    }

    fn with_meta(net: &Network, f: impl FnOnce(&mut HashMap<String, String>)) -> Vec<u8> {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("m.safetensors");
        save(net, &p).unwrap();
        let bytes = std::fs::read(&p).unwrap();
        let st = SafeTensors::deserialize(&bytes).unwrap();
        let (_, header) = SafeTensors::read_metadata(&bytes).unwrap();
        let mut meta = header.metadata().clone().unwrap();
        f(&mut meta);
        let views: Vec<(String, safetensors::tensor::TensorView<'_>)> =
            st.tensors().into_iter().collect();
        safetensors::serialize(views, Some(meta)).unwrap()
    }

    #[test]
    fn inconsistent_files_are_named_problems() {
        let net = tiny();
        let v2 = with_meta(&net, |m| {
            m.insert(KEY_VERSION.into(), "2".into());
        });
        assert!(matches!(
            from_bytes(&v2),
            Err(ModelFileProblem::UnknownVersion { supported: 1, .. })
        ));
        let no_net = with_meta(&net, |m| {
            m.remove(KEY_NETWORK);
        });
        assert!(matches!(
            from_bytes(&no_net),
            Err(ModelFileProblem::MissingMetadata("network"))
        ));
        // the dense layer now claims a conv weight: 2x8 bias vs 3-row weight
        let swapped = with_meta(&net, |m| {
            let a = m[KEY_NETWORK].replace("nodes.4.bias", "nodes.0.bias");
            m.insert(KEY_NETWORK.into(), a);
        });
        assert!(matches!(
            from_bytes(&swapped),
            Err(ModelFileProblem::TensorShape { .. })
        ));
        let bad_input = with_meta(&net, |m| {
            let a = m[KEY_NETWORK].replace("\"input_shape\":[1,4,4]", "\"input_shape\":[1,5,4]");
            m.insert(KEY_NETWORK.into(), a);
        });
        assert!(matches!(
            from_bytes(&bad_input),
            Err(ModelFileProblem::Network(_))
        ));
        // the scale reads a 2-value tensor for its 3 inputs
        let short = with_meta(&net, |m| {
            let a = m[KEY_NETWORK].replace("nodes.5.factor", "nodes.0.bias");
            m.insert(KEY_NETWORK.into(), a);
        });
        assert!(matches!(
            from_bytes(&short),
            Err(ModelFileProblem::Network(_))
        ));
        let typo = with_meta(&net, |m| {
            let a = m[KEY_NETWORK].replace("\"padding\"", "\"paddings\"");
            m.insert(KEY_NETWORK.into(), a);
        });
        assert!(matches!(
            from_bytes(&typo),
            Err(ModelFileProblem::Architecture(_))
        ));
    }

    /// `n` nodes alternating `x + 1` (a 1×1 dense layer) and a kept ReLU, written by hand
    /// the short way: every dense node names the same two tensors, no masks, no inputs;
    /// `last` replaces the final node's JSON.
    fn long_file(n: usize, last: Option<&str>) -> Vec<u8> {
        let one = 1.0f32.to_le_bytes();
        let w = safetensors::tensor::TensorView::new(Dtype::F32, vec![1, 1], &one).unwrap();
        let b = safetensors::tensor::TensorView::new(Dtype::F32, vec![1], &one).unwrap();
        let mut nodes: Vec<&str> = (0..n)
            .map(|k| match k % 2 {
                0 => r#"{"op":"dense","weight":"w","bias":"b"}"#,
                _ => r#"{"op":"relu"}"#,
            })
            .collect();
        if let Some(l) = last {
            nodes[n - 1] = l;
        }
        let network = format!(r#"{{"input_shape":[1],"nodes":[{}]}}"#, nodes.join(","));
        let meta = HashMap::from([
            ("format_version".to_string(), "1".to_string()),
            ("network".to_string(), network),
        ]);
        safetensors::serialize([("w", w), ("b", b)], Some(meta)).unwrap()
    }

    /// Reported: "a model file with 100,000 nodes currently takes over a minute to be
    /// refused or read — loading must be linear in the file size". Each ReLU without a mask
    /// recomputed the shapes of the whole graph so far. This checks results, not time
    /// (`cargo run --release -p snl-theory --example many_nodes` times it).
    #[test]
    fn a_100_000_node_file_loads_or_is_refused() {
        const N: usize = 100_000;
        // written by `save`: one tensor pair per dense node, every mask spelled out
        let mut net = Network::new(vec![1]);
        for k in 0..N {
            net.push(match k % 2 {
                0 => Layer::Dense(Affine::new(
                    DMatrix::from_element(1, 1, 1.0),
                    DVector::from_element(1, 1.0),
                )),
                _ => Layer::Relu(ReluMask::all_kept(1)),
            });
        }
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("long.safetensors");
        save(&net, &p).unwrap();
        let back = load(&p).unwrap();
        assert_eq!(back.nodes.len(), N);
        // 50,000 times x + 1 then relu, from 0
        assert_eq!(back.forward(&[0.0]).unwrap(), vec![50_000.0]);
        assert_eq!(back, net);

        // written by hand without masks: each mask's length comes from the shapes so far
        let (net, _) = from_bytes(&long_file(N, None)).unwrap();
        assert_eq!(net.relu_counts().unwrap().kept, N / 2);
        // -3 + 1 = -2, relu 0, then 49,999 more times + 1
        assert_eq!(net.forward(&[-3.0]).unwrap(), vec![49_999.0]);

        // refused at the last node: it reads a value not computed yet
        let bad = long_file(N, Some(r#"{"op":"relu","inputs":[100001]}"#));
        match from_bytes(&bad) {
            Err(ModelFileProblem::Architecture(m)) => assert!(m.starts_with("node 99999:"), "{m}"),
            other => panic!("expected an architecture problem at the last node, got {other:?}"),
        }
        // refused at the last node: a mask of 2 units on a 1-unit value
        let wide = long_file(
            N,
            Some(r#"{"op":"relu","mask":{"len":2,"kept":2,"bits":"03"}}"#),
        );
        match from_bytes(&wide) {
            Err(ModelFileProblem::Network(e)) => {
                assert!(matches!(*e, Error::InvalidNode { node: 99_999, .. }), "{e}")
            }
            other => panic!("expected an inconsistent network at the last node, got {other:?}"),
        }
    }

    #[test]
    fn f32_tensors_and_defaults_as_pytorch_users_write_them() {
        // What docs/model-format.md shows: f32 tensors, no inputs, no bias, mask omitted.
        let w: Vec<u8> = [1.0f32, -1.0, 0.5, 2.0]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        let view = safetensors::tensor::TensorView::new(Dtype::F32, vec![2, 2], &w).unwrap();
        let mut meta = HashMap::new();
        meta.insert("format_version".to_string(), "1".to_string());
        meta.insert(
            "network".to_string(),
            r#"{"input_shape":[2],"nodes":[{"op":"dense","weight":"fc.weight"},{"op":"relu"}]}"#
                .to_string(),
        );
        let bytes = safetensors::serialize([("fc.weight", view)], Some(meta)).unwrap();
        let (net, _) = from_bytes(&bytes).unwrap();
        // [1 -1; 0.5 2] [1, 1] = [0, 2.5]
        assert_eq!(net.forward(&[1.0, 1.0]).unwrap(), vec![0.0, 2.5]);
        assert_eq!(net.relu_counts().unwrap().kept, 2);
    }
}
