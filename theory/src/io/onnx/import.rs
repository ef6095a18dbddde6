//! ONNX import: an `.onnx` (or gzip-compressed `.onnx.gz`) network → the IR, for the
//! piecewise-linear networks verification benchmarks ship (VNN-COMP's ACAS Xu, MNIST
//! MLPs, CIFAR CNNs and ResNets). The op table is in `docs/onnx.md` ("Import").
//!
//! Conventions: the graph has one input (not an initializer) whose leading dimension is the
//! batch (1 or symbolic) and is dropped; every value keeps a leading batch dimension 1,
//! which shape operations (Flatten, Reshape, Transpose, Squeeze, Unsqueeze) must leave in
//! place. One graph output; when it is not flat a `Flatten` is appended. ReLUs are imported
//! with every unit kept, except that snl's masked encoding of a selectively linearized
//! layer, `x + m ⊙ Relu(−x)` with a constant 0/1 mask `m`, is recognized after the op-by-op
//! import and becomes one `Relu` keeping the units with `m_i = 1` (exact;
//! `theory/src/io/onnx/simplify.rs`).
//!
//! Exactness: weights are read as stored (f32 or f64) and widened to f64, so the IR computes
//! the f32 network's function in f64. Two mappings are not bit-for-bit what the file says:
//! `Gemm` with `alpha ≠ 1` (or `beta ≠ 1`) multiplies the weights (the bias) by it in f64,
//! and `Div` by a constant `d` becomes a multiplication by the f64 reciprocal `1/d`, exact
//! only when `d` is a power of two (otherwise within one f64 rounding of `x / d`).
//! `Add`/`Sub` of a constant `c` is a batch norm with gamma 1, var 1, eps 0, beta 0 and
//! mean `∓c`, which computes exactly `x ± c`.
//!
//! Untrusted files: malformed protobuf, truncated or corrupt gzip, tensors whose data do
//! not match their declared dimensions, and values of more than [`MAX_ELEMENTS`] elements
//! are errors, never panics or huge allocations (decompressed size is capped at
//! [`MAX_DECOMPRESSED`]).
use std::collections::{BTreeMap, HashMap};
use std::io::Read;
use std::path::Path;

use nalgebra::{DMatrix, DVector};
use prost::Message;

use super::proto::{
    self, AttributeProto, GraphProto, ModelProto, NodeProto, TensorProto, ValueInfoProto,
};
use crate::ir::network::{Affine, AvgPool2d, BatchNorm, Conv2d, Layer, Network};
use crate::{numel, Error, ReluMask, Result, ValueId};

/// Most elements one value (or the network input) may have.
pub const MAX_ELEMENTS: usize = 1 << 24;
/// Most bytes a gzip-compressed file may expand to.
pub const MAX_DECOMPRESSED: u64 = 1 << 31;
/// Largest kernel, stride or padding accepted.
const MAX_WINDOW: usize = 1 << 16;

/// Whether `path` names an ONNX file (`.onnx` or `.onnx.gz`, any case).
pub fn is_onnx_path(path: &Path) -> bool {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_lowercase())
        .unwrap_or_default();
    name.ends_with(".onnx") || name.ends_with(".onnx.gz")
}

/// Reads a network from `path`: `.onnx`/`.onnx.gz` through [`load`], anything else as an snl
/// model file ([`crate::io::model_file::load`]). What every `--model` option reads.
pub fn load_any(path: impl AsRef<Path>) -> Result<Network> {
    load_any_with_info(path).map(|(net, _)| net)
}

/// [`load_any`] with the model file's free-form metadata (for an ONNX file: `source`, and
/// `producer` when the file names one).
pub fn load_any_with_info(path: impl AsRef<Path>) -> Result<(Network, BTreeMap<String, String>)> {
    let path = path.as_ref();
    if !is_onnx_path(path) {
        return crate::io::model_file::load_with_info(path);
    }
    let bytes = read_file(path)?;
    let model = decode(&bytes).map_err(|e| with_path(e, path))?;
    let net = from_model(&model).map_err(|e| with_path(e, path))?;
    let mut info = BTreeMap::new();
    info.insert("source".to_string(), path.display().to_string());
    if !model.producer_name.is_empty() {
        let p = format!("{} {}", model.producer_name, model.producer_version);
        info.insert("producer".to_string(), clean(p.trim()));
    }
    Ok((net, info))
}

/// Reads an ONNX file (gzip-compressed when it starts with the gzip magic bytes or its name
/// ends in `.gz`).
pub fn load(path: impl AsRef<Path>) -> Result<Network> {
    let path = path.as_ref();
    let bytes = read_file(path)?;
    import(&bytes).map_err(|e| with_path(e, path))
}

/// Imports an ONNX model from its bytes (plain or gzip-compressed).
pub fn import(bytes: &[u8]) -> Result<Network> {
    from_model(&decode(bytes)?)
}

fn read_file(path: &Path) -> Result<Vec<u8>> {
    let bytes = std::fs::read(path).map_err(|e| Error::Onnx {
        path: Some(path.to_path_buf()),
        node: None,
        name: String::new(),
        op: String::new(),
        reason: if e.kind() == std::io::ErrorKind::NotFound {
            "no such file".to_string()
        } else {
            format!("I/O error: {e}")
        },
    })?;
    let gz_name = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("gz"));
    if gz_name && !is_gzip(&bytes) {
        return Err(with_path(
            file_err("named .gz but not gzip-compressed"),
            path,
        ));
    }
    Ok(bytes)
}

fn is_gzip(bytes: &[u8]) -> bool {
    bytes.starts_with(&[0x1f, 0x8b])
}

fn with_path(e: Error, path: &Path) -> Error {
    match e {
        Error::Onnx {
            path: None,
            node,
            name,
            op,
            reason,
        } => Error::Onnx {
            path: Some(path.to_path_buf()),
            node,
            name,
            op,
            reason,
        },
        other => other,
    }
}

fn file_err(reason: impl Into<String>) -> Error {
    Error::Onnx {
        path: None,
        node: None,
        name: String::new(),
        op: String::new(),
        reason: reason.into(),
    }
}

/// Printable, one line, at most 80 characters: names come from the file.
fn clean(s: &str) -> String {
    let mut out: String = s
        .chars()
        .take(80)
        .map(|c| if c.is_control() { '?' } else { c })
        .collect();
    if s.chars().count() > 80 {
        out.push('…');
    }
    out
}

/// The protobuf message, gunzipped first when compressed.
fn decode(bytes: &[u8]) -> Result<ModelProto> {
    let plain;
    let bytes = if is_gzip(bytes) {
        let mut out = Vec::new();
        flate2::read::MultiGzDecoder::new(bytes)
            .take(MAX_DECOMPRESSED + 1)
            .read_to_end(&mut out)
            .map_err(|e| file_err(format!("corrupt or truncated gzip data: {e}")))?;
        if out.len() as u64 > MAX_DECOMPRESSED {
            return Err(file_err(format!(
                "decompresses to more than {MAX_DECOMPRESSED} bytes"
            )));
        }
        plain = out;
        &plain[..]
    } else {
        bytes
    };
    if bytes.is_empty() {
        return Err(file_err("empty file: not an ONNX model"));
    }
    ModelProto::decode(bytes).map_err(|e| {
        file_err(format!(
            "not a valid ONNX protobuf (truncated or corrupt?): {e}"
        ))
    })
}

/// A constant: dimensions (with the batch dimension, as stored) and row-major values.
#[derive(Clone, Debug)]
struct Tensor {
    dims: Vec<usize>,
    data: Vec<f64>,
}

/// A named ONNX value: a constant, or an IR value (its id and shape without the batch
/// dimension).
#[derive(Clone, Debug)]
enum Val {
    Const(Tensor),
    Net {
        id: ValueId,
        shape: Vec<usize>,
    },
    /// Units of a flat IR value picked by `Gather`s and `Concat`s, not yet in the IR.
    Pick(Pick),
}

/// The pieces of the gathered ReLU encoding (`Gather(K) → Relu`, `Gather(L)`, `Concat`,
/// `Gather(inverse)`, docs/onnx.md): position `j` holds unit `units[j].0` of the flat IR
/// value `src` (`len` units), through a ReLU when `units[j].1`. When an op computes on one
/// ([`Importer::operand`]) or it is the graph's output, every unit must sit at its own
/// position again; it then becomes one masked ReLU node (the units with a ReLU kept).
#[derive(Clone, Debug)]
struct Pick {
    src: ValueId,
    len: usize,
    units: Vec<(usize, bool)>,
}

/// Product of dimensions, `None` on overflow.
fn checked_numel(dims: &[usize]) -> Option<usize> {
    dims.iter().try_fold(1usize, |a, &d| a.checked_mul(d))
}

/// Reads a tensor's values, refusing external data, unknown types, non-finite values and
/// data that do not match the declared dimensions (so nothing is allocated beyond what the
/// file holds).
fn tensor(t: &TensorProto) -> std::result::Result<Tensor, String> {
    let what = if t.name.is_empty() {
        "a tensor".to_string()
    } else {
        format!("tensor '{}'", clean(&t.name))
    };
    if t.data_location == proto::EXTERNAL {
        return Err(format!("{what} has external data (not supported)"));
    }
    let dims = t
        .dims
        .iter()
        .map(|&d| usize::try_from(d).map_err(|_| format!("{what} has a negative dimension {d}")))
        .collect::<std::result::Result<Vec<_>, _>>()?;
    let n = checked_numel(&dims).ok_or_else(|| format!("{what}: dimensions overflow"))?;
    let size = match t.data_type {
        proto::FLOAT | proto::INT32 => 4,
        proto::INT64 | proto::DOUBLE => 8,
        other => {
            return Err(format!(
                "{what} has data type {other} (FLOAT, DOUBLE, INT32 or INT64 only)"
            ))
        }
    };
    let have = if !t.raw_data.is_empty() {
        t.raw_data.len() / size
    } else {
        match t.data_type {
            proto::FLOAT => t.float_data.len(),
            proto::INT32 => t.int32_data.len(),
            proto::INT64 => t.int64_data.len(),
            _ => t.double_data.len(),
        }
    };
    if have != n || (!t.raw_data.is_empty() && t.raw_data.len() != n * size) {
        return Err(format!(
            "{what} declares {n} values (dims {dims:?}) but holds {have}"
        ));
    }
    let data: Vec<f64> = if !t.raw_data.is_empty() {
        let c = t.raw_data.chunks_exact(size);
        match t.data_type {
            proto::FLOAT => c
                .map(|b| f32::from_le_bytes(b.try_into().expect("4 bytes")) as f64)
                .collect(),
            proto::INT32 => c
                .map(|b| i32::from_le_bytes(b.try_into().expect("4 bytes")) as f64)
                .collect(),
            proto::INT64 => c
                .map(|b| i64::from_le_bytes(b.try_into().expect("8 bytes")) as f64)
                .collect(),
            _ => c
                .map(|b| f64::from_le_bytes(b.try_into().expect("8 bytes")))
                .collect(),
        }
    } else {
        match t.data_type {
            proto::FLOAT => t.float_data.iter().map(|&v| v as f64).collect(),
            proto::INT32 => t.int32_data.iter().map(|&v| v as f64).collect(),
            proto::INT64 => t.int64_data.iter().map(|&v| v as f64).collect(),
            _ => t.double_data.clone(),
        }
    };
    if data.iter().any(|v| !v.is_finite()) {
        return Err(format!("{what} holds a non-finite value"));
    }
    Ok(Tensor { dims, data })
}

/// The op and position of the ONNX node being read, for errors.
struct Ctx<'a> {
    index: usize,
    node: &'a NodeProto,
}

impl Ctx<'_> {
    fn err(&self, reason: impl Into<String>) -> Error {
        Error::Onnx {
            path: None,
            node: Some(self.index),
            name: clean(&self.node.name),
            op: clean(&self.node.op_type),
            reason: reason.into(),
        }
    }

    fn attr(&self, name: &str) -> Option<&AttributeProto> {
        self.node.attribute.iter().find(|a| a.name == name)
    }

    fn int(&self, name: &str, default: i64) -> i64 {
        self.attr(name).map_or(default, |a| a.i)
    }

    fn float(&self, name: &str, default: f32) -> f32 {
        self.attr(name).map_or(default, |a| a.f)
    }

    fn string(&self, name: &str) -> Option<String> {
        self.attr(name)
            .map(|a| String::from_utf8_lossy(&a.s).into_owned())
    }

    fn ints(&self, name: &str) -> Option<&[i64]> {
        self.attr(name).map(|a| &a.ints[..])
    }

    /// Refuses attributes other than `allowed`.
    fn only(&self, allowed: &[&str]) -> Result<()> {
        match self
            .node
            .attribute
            .iter()
            .find(|a| !allowed.contains(&a.name.as_str()))
        {
            Some(a) => Err(self.err(format!("attribute '{}' is not supported", clean(&a.name)))),
            None => Ok(()),
        }
    }

    /// A window size (kernel, stride or padding) in `0..=MAX_WINDOW`.
    fn window(&self, what: &str, v: i64) -> Result<usize> {
        usize::try_from(v)
            .ok()
            .filter(|&v| v <= MAX_WINDOW)
            .ok_or_else(|| self.err(format!("{what} {v} is out of range")))
    }

    /// `[h, w]` from a 2-element attribute, or `default`.
    fn pair(&self, name: &str, default: [usize; 2]) -> Result<[usize; 2]> {
        match self.ints(name) {
            None => Ok(default),
            Some(&[a, b]) => Ok([self.window(name, a)?, self.window(name, b)?]),
            Some(v) => Err(self.err(format!("{name} = {v:?}: only 2-D windows are supported"))),
        }
    }

    /// Symmetric 2-D pads `[ph, pw, ph, pw]` → `[ph, pw]`.
    fn pads(&self) -> Result<[usize; 2]> {
        match self.ints("pads") {
            None => Ok([0, 0]),
            Some(&[a, b, c, d]) if a == c && b == d => {
                Ok([self.window("pads", a)?, self.window("pads", b)?])
            }
            Some(v) => Err(self.err(format!(
                "pads = {v:?}: only symmetric 2-D padding [ph, pw, ph, pw] is supported"
            ))),
        }
    }

    /// `auto_pad` must be NOTSET (or VALID when there is no padding).
    fn no_auto_pad(&self) -> Result<()> {
        match self.string("auto_pad").as_deref() {
            None | Some("NOTSET") | Some("") => Ok(()),
            Some("VALID") if self.ints("pads").is_none_or(|p| p.iter().all(|&x| x == 0)) => Ok(()),
            Some(other) => Err(self.err(format!(
                "auto_pad = {} is not supported (NOTSET only)",
                clean(other)
            ))),
        }
    }
}

struct Importer {
    net: Network,
    /// Shape of every IR value so far.
    shapes: Vec<Vec<usize>>,
    vals: HashMap<String, Val>,
    /// How many nodes (and graph outputs) read each name.
    readers: HashMap<String, usize>,
}

/// Normalizes an axis in `-rank..rank`.
fn axis(a: i64, rank: usize) -> Option<usize> {
    let r = rank as i64;
    let a = if a < 0 { a + r } else { a };
    (0..r).contains(&a).then_some(a as usize)
}

fn batched(shape: &[usize]) -> Vec<usize> {
    let mut b = Vec::with_capacity(shape.len() + 1);
    b.push(1);
    b.extend_from_slice(shape);
    b
}

/// Expands a constant to the batched `shape` (NumPy broadcasting, the constant's rank at
/// most the value's): one entry per unit of the value, row-major. `None` when it does not
/// broadcast to exactly that shape.
fn broadcast(c: &Tensor, shape: &[usize]) -> Option<Vec<f64>> {
    let full = batched(shape);
    if c.dims.len() > full.len() {
        return None;
    }
    let off = full.len() - c.dims.len();
    for (i, &d) in c.dims.iter().enumerate() {
        if d != 1 && d != full[off + i] {
            return None;
        }
    }
    // strides of the constant over the full index space (0 where it broadcasts)
    let mut strides = vec![0usize; full.len()];
    let mut s = 1;
    for i in (0..c.dims.len()).rev() {
        if c.dims[i] != 1 {
            strides[off + i] = s;
        }
        s *= c.dims[i];
    }
    let n = numel(&full);
    let mut out = Vec::with_capacity(n);
    let mut idx = vec![0usize; full.len()];
    for _ in 0..n {
        let at: usize = idx.iter().zip(&strides).map(|(i, s)| i * s).sum();
        out.push(c.data[at]);
        for d in (0..full.len()).rev() {
            idx[d] += 1;
            if idx[d] < full[d] {
                break;
            }
            idx[d] = 0;
        }
    }
    Some(out)
}

fn from_model(model: &ModelProto) -> Result<Network> {
    let g = model
        .graph
        .as_ref()
        .ok_or_else(|| file_err("the model has no graph"))?;
    let mut vals: HashMap<String, Val> = HashMap::new();
    for t in &g.initializer {
        let c = tensor(t).map_err(file_err)?;
        vals.insert(t.name.clone(), Val::Const(c));
    }
    let input = graph_input(g, &vals)?;
    let input_shape = input_shape(input)?;
    let [output] = &g.output[..] else {
        return Err(file_err(format!(
            "the graph has {} outputs; exactly one is supported",
            g.output.len()
        )));
    };
    vals.insert(
        input.name.clone(),
        Val::Net {
            id: ValueId::INPUT,
            shape: input_shape.clone(),
        },
    );
    let mut im = Importer {
        net: Network::new(input_shape.clone()),
        shapes: vec![input_shape],
        vals,
        readers: readers(g, &output.name),
    };
    for (index, node) in g.node.iter().enumerate() {
        im.node(&Ctx { index, node })?;
    }
    let (id, shape) = im.output(&output.name)?;
    // the output must be the last value, and flat
    if shape.len() != 1 || id != ValueId::from_index(im.net.nodes.len()) {
        im.net.push_with(Layer::Flatten, vec![id]);
    }
    let (net, _) = super::simplify::fold_masked_relus(im.net);
    net.validate()?;
    Ok(net)
}

/// The graph's one input that is not an initializer (`vals` holds the initializers).
fn graph_input<'g>(g: &'g GraphProto, vals: &HashMap<String, Val>) -> Result<&'g ValueInfoProto> {
    let inputs: Vec<_> = g
        .input
        .iter()
        .filter(|i| !vals.contains_key(&i.name))
        .collect();
    let [input] = inputs[..] else {
        return Err(file_err(format!(
            "the graph has {} inputs besides its initializers; exactly one is supported",
            inputs.len()
        )));
    };
    Ok(input)
}

/// The input's shape without its leading batch dimension (1 or symbolic), every other
/// dimension a known positive size, at most [`MAX_ELEMENTS`] elements in all.
fn input_shape(input: &ValueInfoProto) -> Result<Vec<usize>> {
    let dims = input
        .r#type
        .as_ref()
        .and_then(|t| t.tensor_type.as_ref())
        .and_then(|t| t.shape.as_ref())
        .map(|s| &s.dim[..])
        .ok_or_else(|| {
            file_err(format!(
                "input '{}' has no tensor shape",
                clean(&input.name)
            ))
        })?;
    let mut input_shape = Vec::with_capacity(dims.len());
    for (i, d) in dims.iter().enumerate() {
        match (i, d.dim_value) {
            // the batch dimension: 1 or symbolic
            (0, 1) => {}
            (0, 0) if !d.dim_param.is_empty() => {}
            (0, v) => {
                return Err(file_err(format!(
                    "input '{}': the leading (batch) dimension is {v}, expected 1 or symbolic",
                    clean(&input.name)
                )))
            }
            (_, v) if v > 0 => input_shape.push(v as usize),
            (_, _) => {
                return Err(file_err(format!(
                    "input '{}': dimension {i} is not a known positive size",
                    clean(&input.name)
                )))
            }
        }
    }
    if dims.is_empty() {
        return Err(file_err(format!(
            "input '{}' is a scalar; expected a batch dimension",
            clean(&input.name)
        )));
    }
    if checked_numel(&input_shape).is_none_or(|n| n > MAX_ELEMENTS) {
        return Err(file_err(format!(
            "input shape {input_shape:?} has more than {MAX_ELEMENTS} elements"
        )));
    }
    Ok(input_shape)
}

/// How many nodes read each name, the graph output `output` counting as one reader.
fn readers(g: &GraphProto, output: &str) -> HashMap<String, usize> {
    let mut readers: HashMap<String, usize> = HashMap::new();
    for n in &g.node {
        for i in &n.input {
            *readers.entry(i.clone()).or_default() += 1;
        }
    }
    *readers.entry(output.to_string()).or_default() += 1;
    readers
}

impl Importer {
    /// The IR value (id and shape) of the graph output `name`, picked units (gathered
    /// encoding) made an IR value first.
    fn output(&mut self, name: &str) -> Result<(ValueId, Vec<usize>)> {
        if let Some(Val::Pick(p)) = self.vals.get(name) {
            let p = p.clone();
            let v = self
                .materialize(&p)
                .map_err(|r| file_err(format!("the graph output '{}': {r}", clean(name))))?;
            self.vals.insert(name.to_string(), v);
        }
        match self.vals.get(name) {
            Some(Val::Net { id, shape }) => Ok((*id, shape.clone())),
            Some(Val::Pick(_)) => unreachable!("materialized above"),
            Some(Val::Const(_)) => Err(file_err("the graph output is a constant")),
            None => Err(file_err(format!(
                "the graph output '{}' is computed by no node",
                clean(name)
            ))),
        }
    }

    /// Adds an IR node, checking it against the shapes so far.
    fn emit(&mut self, cx: &Ctx<'_>, layer: Layer, inputs: Vec<ValueId>) -> Result<Val> {
        self.push(layer, inputs).map_err(|r| cx.err(r))
    }

    /// [`Importer::emit`] without a node to blame (the reason alone).
    fn push(&mut self, layer: Layer, inputs: Vec<ValueId>) -> std::result::Result<Val, String> {
        let k = self.net.nodes.len();
        let node = crate::ir::network::Node { layer, inputs };
        let shape = node
            .checked_output_shape(k, &self.shapes)
            .map_err(|e| format!("inconsistent with its input: {e}"))?;
        if numel(&shape) > MAX_ELEMENTS {
            return Err(format!(
                "output shape {shape:?} has more than {MAX_ELEMENTS} elements"
            ));
        }
        self.shapes.push(shape.clone());
        self.net.nodes.push(node);
        Ok(Val::Net {
            id: ValueId::of_node(k),
            shape,
        })
    }

    fn get(&self, cx: &Ctx<'_>, i: usize) -> Result<&Val> {
        let name = cx
            .node
            .input
            .get(i)
            .filter(|n| !n.is_empty())
            .ok_or_else(|| cx.err(format!("input {i} is missing")))?;
        self.vals.get(name).ok_or_else(|| {
            cx.err(format!(
                "reads '{}', which no earlier node, initializer or input defines",
                clean(name)
            ))
        })
    }

    fn constant(&self, cx: &Ctx<'_>, i: usize, what: &str) -> Result<Tensor> {
        match self.get(cx, i)? {
            Val::Const(t) => Ok(t.clone()),
            Val::Net { .. } | Val::Pick(_) => Err(cx.err(format!("{what} must be a constant"))),
        }
    }

    /// Input `i` for an op that computes on it: picked units (gathered encoding) become an IR
    /// value here, once per name (the first reader adds the masked ReLU, later ones reuse it).
    fn operand(&mut self, cx: &Ctx<'_>, i: usize) -> Result<Val> {
        let v = self.get(cx, i)?.clone();
        let Val::Pick(p) = v else {
            return Ok(v);
        };
        let v = self.materialize(&p).map_err(|r| cx.err(r))?;
        self.vals.insert(cx.node.input[i].clone(), v.clone());
        Ok(v)
    }

    fn value(&mut self, cx: &Ctx<'_>, i: usize) -> Result<(ValueId, Vec<usize>)> {
        match self.operand(cx, i)? {
            Val::Net { id, shape } => Ok((id, shape)),
            Val::Pick(_) => unreachable!("operand() materializes picked units"),
            Val::Const(_) => Err(cx.err(format!(
                "input {i} is a constant; constant folding is not supported"
            ))),
        }
    }

    /// Whether the optional input `i` is given (present, with a non-empty name).
    fn has_input(cx: &Ctx<'_>, i: usize) -> bool {
        cx.node.input.get(i).is_some_and(|n| !n.is_empty())
    }

    fn node(&mut self, cx: &Ctx<'_>) -> Result<()> {
        let n = cx.node;
        if !(n.domain.is_empty() || n.domain == "ai.onnx") {
            return Err(cx.err(format!("domain '{}' is not supported", clean(&n.domain))));
        }
        let outs: Vec<&String> = n.output.iter().filter(|o| !o.is_empty()).collect();
        let extra_ok = matches!(n.op_type.as_str(), "Dropout");
        if outs.is_empty() || (outs.len() > 1 && !extra_ok) || n.output[0].is_empty() {
            return Err(cx.err(format!("{} outputs; exactly one is supported", outs.len())));
        }
        let val = match n.op_type.as_str() {
            "Constant" => self.constant_node(cx)?,
            "Gather" => self.gather(cx)?,
            "Concat" => self.concat(cx)?,
            "Identity" => {
                cx.only(&[])?;
                self.get(cx, 0)?.clone()
            }
            "Dropout" => self.dropout(cx)?,
            "Gemm" => self.gemm(cx)?,
            "MatMul" => self.matmul(cx)?,
            "Conv" => self.conv(cx)?,
            "BatchNormalization" => self.batch_norm(cx)?,
            "AveragePool" => self.avg_pool(cx)?,
            "Relu" => self.relu(cx)?,
            "Add" | "Sub" | "Mul" | "Div" => self.arith(cx)?,
            "Flatten" => self.flatten(cx)?,
            "Reshape" => self.reshape(cx)?,
            "Transpose" => self.transpose(cx)?,
            "Squeeze" | "Unsqueeze" => self.squeeze(cx)?,
            other => {
                return Err(cx.err(format!(
                "operator '{}' is not supported (docs/onnx.md lists the ops the importer reads)",
                clean(other)
            )))
            }
        };
        self.vals.insert(n.output[0].clone(), val);
        Ok(())
    }

    /// `Dropout` in inference mode: its input, its mask output unread.
    fn dropout(&mut self, cx: &Ctx<'_>) -> Result<Val> {
        cx.only(&["seed", "ratio", "is_test"])?;
        if cx.attr("is_test").is_some_and(|a| a.i == 0) {
            return Err(cx.err("is_test = 0 (training mode) is not supported"));
        }
        if Self::has_input(cx, 2)
            && self
                .constant(cx, 2, "training_mode")?
                .data
                .iter()
                .any(|&v| v != 0.0)
        {
            return Err(cx.err("training_mode = true is not supported"));
        }
        let n = cx.node;
        if n.output.get(1).is_some_and(|m| !m.is_empty())
            && self.readers.get(&n.output[1]).is_some_and(|&r| r > 0)
        {
            return Err(cx.err("its mask output is read: not supported"));
        }
        Ok(self.get(cx, 0)?.clone())
    }

    /// `Relu`: on picked units (gathered encoding) it marks them all as through a ReLU;
    /// on an IR value, a ReLU node keeping every unit.
    fn relu(&mut self, cx: &Ctx<'_>) -> Result<Val> {
        if let Val::Pick(p) = self.get(cx, 0)? {
            let mut p = p.clone();
            cx.only(&[])?;
            p.units.iter_mut().for_each(|u| u.1 = true);
            return Ok(Val::Pick(p));
        }
        cx.only(&[])?;
        let (id, shape) = self.value(cx, 0)?;
        self.emit(cx, Layer::Relu(ReluMask::all_kept(numel(&shape))), vec![id])
    }

    /// `Flatten(axis)`: `[d0 · … · d(axis−1), d(axis) · …]` (batch included).
    fn flatten(&mut self, cx: &Ctx<'_>) -> Result<Val> {
        cx.only(&["axis"])?;
        let (id, shape) = self.value(cx, 0)?;
        let d = batched(&shape);
        let a = cx.int("axis", 1);
        let a = if a == d.len() as i64 {
            d.len()
        } else {
            axis(a, d.len()).ok_or_else(|| cx.err(format!("axis {a} is out of range")))?
        };
        let out = vec![numel(&d[..a]), numel(&d[a..])];
        self.reshape_to(cx, id, &shape, out)
    }

    /// `Reshape` to a constant shape.
    fn reshape(&mut self, cx: &Ctx<'_>) -> Result<Val> {
        cx.only(&["allowzero"])?;
        let (id, shape) = self.value(cx, 0)?;
        let target = self.constant(cx, 1, "the shape")?;
        let out = reshape_dims(&batched(&shape), &target.data, cx.int("allowzero", 0))
            .map_err(|r| cx.err(r))?;
        self.reshape_to(cx, id, &shape, out)
    }

    /// `Transpose` that moves only size-1 dimensions (the data keep their order).
    fn transpose(&mut self, cx: &Ctx<'_>) -> Result<Val> {
        cx.only(&["perm"])?;
        let (id, shape) = self.value(cx, 0)?;
        let d = batched(&shape);
        let perm: Vec<usize> = match cx.ints("perm") {
            None => (0..d.len()).rev().collect(),
            Some(p) => p
                .iter()
                .map(|&a| axis(a, d.len()))
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| cx.err(format!("perm {p:?} is out of range")))?,
        };
        let mut seen = vec![false; d.len()];
        if perm.len() != d.len() || perm.iter().any(|&a| std::mem::replace(&mut seen[a], true)) {
            return Err(cx.err(format!(
                "perm {perm:?} is not a permutation of {} axes",
                d.len()
            )));
        }
        // the data keep their order iff the axes of size > 1 keep theirs
        let moved: Vec<usize> = perm.iter().copied().filter(|&a| d[a] != 1).collect();
        if moved.windows(2).any(|w| w[0] > w[1]) {
            return Err(cx.err(format!(
                "perm {perm:?} on shape {d:?} moves data (only moving size-1 dimensions is supported)"
            )));
        }
        let out = perm.iter().map(|&a| d[a]).collect();
        self.reshape_to(cx, id, &shape, out)
    }

    /// `Squeeze` or `Unsqueeze` by axes given as an attribute or a constant input.
    fn squeeze(&mut self, cx: &Ctx<'_>) -> Result<Val> {
        cx.only(&["axes"])?;
        let (id, shape) = self.value(cx, 0)?;
        let d = batched(&shape);
        let axes: Option<Vec<i64>> = if Self::has_input(cx, 1) {
            let t = self.constant(cx, 1, "axes")?;
            Some(t.data.iter().map(|&v| v as i64).collect())
        } else {
            cx.ints("axes").map(|a| a.to_vec())
        };
        let out = if cx.node.op_type == "Squeeze" {
            squeezed(cx, &d, axes)?
        } else {
            unsqueezed(cx, &d, axes)?
        };
        self.reshape_to(cx, id, &shape, out)
    }

    /// `Gather(axis 1)` of a flat value (or of picked units) by a constant 1-D index list.
    fn gather(&mut self, cx: &Ctx<'_>) -> Result<Val> {
        cx.only(&["axis"])?;
        let a = cx.int("axis", 0);
        if axis(a, 2) != Some(1) {
            return Err(cx.err(format!(
                "axis {a}: only axis 1 (the units of a flat [1, F] value) is supported"
            )));
        }
        let base = match self.get(cx, 0)? {
            Val::Pick(p) => p.clone(),
            Val::Net { id, shape } if shape.len() == 1 => Pick {
                src: *id,
                len: shape[0],
                units: (0..shape[0]).map(|i| (i, false)).collect(),
            },
            Val::Net { shape, .. } => {
                return Err(cx.err(format!(
                    "gathers from a value of shape [1, {}]: only a flat [1, F] value is supported",
                    shape
                        .iter()
                        .map(|d| d.to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                )))
            }
            Val::Const(_) => {
                return Err(cx.err("gathers from a constant; constant folding is not supported"))
            }
        };
        let idx = self.constant(cx, 1, "the indices")?;
        if idx.dims.len() != 1 {
            return Err(cx.err(format!(
                "indices of rank {}: only a 1-D index list is supported",
                idx.dims.len()
            )));
        }
        let n = base.units.len() as f64;
        let units = idx
            .data
            .iter()
            .map(|&v| {
                if v.fract() != 0.0 || v < -n || v >= n {
                    return Err(cx.err(format!("index {v} is out of range for {n} units")));
                }
                let j = if v < 0.0 { v + n } else { v } as usize;
                Ok(base.units[j])
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Val::Pick(Pick { units, ..base }))
    }

    /// `Concat(axis 1)` of units picked from one flat value.
    fn concat(&mut self, cx: &Ctx<'_>) -> Result<Val> {
        cx.only(&["axis"])?;
        let a = cx
            .attr("axis")
            .map(|at| at.i)
            .ok_or_else(|| cx.err("no axis given"))?;
        if axis(a, 2) != Some(1) {
            return Err(cx.err(format!(
                "axis {a}: only axis 1 (the units of flat [1, F] values) is supported"
            )));
        }
        let mut out: Option<Pick> = None;
        for i in 0..cx.node.input.len() {
            let Val::Pick(p) = self.get(cx, i)? else {
                return Err(cx.err(format!(
                    "input {i} is not a Gather of a flat value: Concat is read only as part of the gathered ReLU encoding (docs/onnx.md)"
                )));
            };
            match &mut out {
                None => out = Some(p.clone()),
                Some(o) if o.src == p.src && o.len == p.len => o.units.extend(&p.units),
                Some(_) => {
                    return Err(cx.err(
                        "joins units of different values: Concat is read only as part of the gathered ReLU encoding (docs/onnx.md)",
                    ))
                }
            }
        }
        out.map(Val::Pick).ok_or_else(|| cx.err("no inputs"))
    }

    /// The IR value of picked units: each unit must be back at its own position; the units
    /// through a ReLU become a masked ReLU node's kept units (none: the value itself).
    fn materialize(&mut self, p: &Pick) -> std::result::Result<Val, String> {
        if p.units.len() != p.len || p.units.iter().enumerate().any(|(i, u)| u.0 != i) {
            return Err(format!(
                "reads {} units picked by Gather/Concat from a value of {} units, not each unit back at its own position: only the gathered ReLU encoding is supported (docs/onnx.md)",
                p.units.len(),
                p.len
            ));
        }
        let flags: Vec<bool> = p.units.iter().map(|u| u.1).collect();
        if !flags.contains(&true) {
            return Ok(Val::Net {
                id: p.src,
                shape: vec![p.len],
            });
        }
        self.push(Layer::Relu(ReluMask::from_bools(&flags)), vec![p.src])
    }

    fn constant_node(&self, cx: &Ctx<'_>) -> Result<Val> {
        let [a] = &cx.node.attribute[..] else {
            return Err(cx.err("expected exactly one attribute"));
        };
        let t = match a.name.as_str() {
            "value" => tensor(a.t.as_ref().ok_or_else(|| cx.err("value has no tensor"))?)
                .map_err(|r| cx.err(r))?,
            "value_float" => Tensor {
                dims: vec![],
                data: vec![a.f as f64],
            },
            "value_floats" => Tensor {
                dims: vec![a.floats.len()],
                data: a.floats.iter().map(|&v| v as f64).collect(),
            },
            "value_int" => Tensor {
                dims: vec![],
                data: vec![a.i as f64],
            },
            "value_ints" => Tensor {
                dims: vec![a.ints.len()],
                data: a.ints.iter().map(|&v| v as f64).collect(),
            },
            other => return Err(cx.err(format!("attribute '{}' is not supported", clean(other)))),
        };
        if t.data.iter().any(|v| !v.is_finite()) {
            return Err(cx.err("a non-finite constant"));
        }
        Ok(Val::Const(t))
    }

    /// A reshape of value `id` (shape `from`) to the batched shape `out`: nothing, a
    /// `Flatten` or a `Reshape`.
    fn reshape_to(
        &mut self,
        cx: &Ctx<'_>,
        id: ValueId,
        from: &[usize],
        out: Vec<usize>,
    ) -> Result<Val> {
        if out.first() != Some(&1) {
            return Err(cx.err(format!(
                "output shape {out:?} moves the batch dimension (the leading dimension must stay 1)"
            )));
        }
        let rest = out[1..].to_vec();
        if numel(&rest) != numel(from) {
            return Err(cx.err(format!("cannot reshape {from:?} to {rest:?}")));
        }
        if rest == from {
            return Ok(Val::Net { id, shape: rest });
        }
        if rest.len() == 1 {
            self.emit(cx, Layer::Flatten, vec![id])
        } else {
            self.emit(cx, Layer::Reshape { shape: rest }, vec![id])
        }
    }

    fn dense(&mut self, cx: &Ctx<'_>, id: ValueId, shape: &[usize], a: Affine) -> Result<Val> {
        // [n] directly; [1, …, 1, n] flattened first and reshaped back after
        let n = a.weight.ncols();
        if shape.last() != Some(&n) || shape[..shape.len() - 1].iter().any(|&d| d != 1) {
            return Err(cx.err(format!(
                "input shape {:?} (with batch) does not fit a {}x{} weight",
                batched(shape),
                n,
                a.weight.nrows()
            )));
        }
        let mut id = id;
        if shape.len() > 1 {
            let Val::Net { id: f, .. } = self.emit(cx, Layer::Flatten, vec![id])? else {
                unreachable!()
            };
            id = f;
        }
        let m = a.weight.nrows();
        let v = self.emit(cx, Layer::Dense(a), vec![id])?;
        if shape.len() > 1 {
            let Val::Net { id, .. } = v else {
                unreachable!()
            };
            let mut back = shape.to_vec();
            *back.last_mut().expect("rank >= 1") = m;
            return self.emit(cx, Layer::Reshape { shape: back }, vec![id]);
        }
        Ok(v)
    }

    fn gemm(&mut self, cx: &Ctx<'_>) -> Result<Val> {
        cx.only(&["alpha", "beta", "transA", "transB"])?;
        if cx.int("transA", 0) != 0 {
            return Err(cx.err("transA = 1 is not supported"));
        }
        let trans_b = cx.int("transB", 0) != 0;
        let (alpha, beta) = (cx.float("alpha", 1.0) as f64, cx.float("beta", 1.0) as f64);
        let (id, shape) = self.value(cx, 0)?;
        let b = self.constant(cx, 1, "B (the weight)")?;
        let [r, c] = b.dims[..] else {
            return Err(cx.err(format!("B has dims {:?}, expected 2-D", b.dims)));
        };
        let (out, inp) = if trans_b { (r, c) } else { (c, r) };
        let weight = if trans_b {
            DMatrix::from_row_slice(r, c, &b.data)
        } else {
            DMatrix::from_column_slice(c, r, &b.data)
        } * alpha;
        let bias = if Self::has_input(cx, 2) {
            let t = self.constant(cx, 2, "C (the bias)")?;
            let v = broadcast(&t, &[out])
                .ok_or_else(|| cx.err(format!("C has dims {:?}, not [{out}]", t.dims)))?;
            DVector::from_vec(v) * beta
        } else {
            DVector::zeros(out)
        };
        if shape.len() != 1 {
            return Err(cx.err(format!(
                "A has shape {:?} (with batch), expected [1, {inp}]",
                batched(&shape)
            )));
        }
        self.dense(cx, id, &shape, Affine::new(weight, bias))
    }

    fn matmul(&mut self, cx: &Ctx<'_>) -> Result<Val> {
        cx.only(&[])?;
        let (id, shape) = self.value(cx, 0)?;
        let b = self.constant(cx, 1, "the second operand")?;
        let [r, c] = b.dims[..] else {
            return Err(cx.err(format!("the weight has dims {:?}, expected 2-D", b.dims)));
        };
        // x · B with B [in, out]: W = Bᵀ
        let weight = DMatrix::from_column_slice(c, r, &b.data);
        self.dense(cx, id, &shape, Affine::new(weight, DVector::zeros(c)))
    }

    fn conv(&mut self, cx: &Ctx<'_>) -> Result<Val> {
        cx.only(&[
            "auto_pad",
            "dilations",
            "group",
            "kernel_shape",
            "pads",
            "strides",
        ])?;
        cx.no_auto_pad()?;
        let g = cx.int("group", 1);
        if g != 1 {
            return Err(cx.err(format!("group = {g} is not supported")));
        }
        if cx
            .ints("dilations")
            .is_some_and(|d| d.iter().any(|&x| x != 1))
        {
            return Err(cx.err(format!(
                "dilations = {:?} is not supported",
                cx.ints("dilations").unwrap_or_default()
            )));
        }
        let (id, _) = self.value(cx, 0)?;
        let w = self.constant(cx, 1, "the weight")?;
        let [o, i, kh, kw] = w.dims[..] else {
            return Err(cx.err(format!(
                "the weight has dims {:?}: only 2-D convolutions are supported",
                w.dims
            )));
        };
        let kernel = [
            cx.window("kernel", kh as i64)?,
            cx.window("kernel", kw as i64)?,
        ];
        if cx.pair("kernel_shape", kernel)? != kernel {
            return Err(cx.err("kernel_shape differs from the weight's"));
        }
        let bias = if Self::has_input(cx, 2) {
            let b = self.constant(cx, 2, "the bias")?;
            if b.data.len() != o {
                return Err(cx.err(format!("the bias has dims {:?}, not [{o}]", b.dims)));
            }
            b.data
        } else {
            vec![0.0; o]
        };
        let layer = Layer::Conv2d(Conv2d {
            in_channels: i,
            out_channels: o,
            kernel,
            stride: cx.pair("strides", [1, 1])?,
            padding: cx.pads()?,
            weight: w.data,
            bias,
        });
        self.emit(cx, layer, vec![id])
    }

    fn batch_norm(&mut self, cx: &Ctx<'_>) -> Result<Val> {
        cx.only(&[
            "epsilon",
            "momentum",
            "training_mode",
            "spatial",
            "is_test",
            "consumed_inputs",
        ])?;
        if cx.int("training_mode", 0) != 0 {
            return Err(cx.err("training_mode = 1 is not supported"));
        }
        if cx.int("spatial", 1) != 1 {
            return Err(cx.err("spatial = 0 is not supported"));
        }
        let (id, shape) = self.value(cx, 0)?;
        let mut p = Vec::with_capacity(4);
        for (k, what) in ["scale", "B", "mean", "var"].iter().enumerate() {
            let t = self.constant(cx, k + 1, what)?;
            if Some(&t.data.len()) != shape.first() || t.dims.len() != 1 {
                return Err(cx.err(format!(
                    "{what} has dims {:?}, expected [{}] (the channels)",
                    t.dims,
                    shape.first().copied().unwrap_or(0)
                )));
            }
            p.push(t.data);
        }
        let eps = cx.float("epsilon", 1e-5) as f64;
        let var = p.pop().expect("4");
        let mean = p.pop().expect("3");
        let beta = p.pop().expect("2");
        let gamma = p.pop().expect("1");
        let layer = Layer::BatchNorm(BatchNorm {
            gamma,
            beta,
            mean,
            var,
            eps,
        });
        self.emit(cx, layer, vec![id])
    }

    fn avg_pool(&mut self, cx: &Ctx<'_>) -> Result<Val> {
        cx.only(&[
            "auto_pad",
            "ceil_mode",
            "count_include_pad",
            "dilations",
            "kernel_shape",
            "pads",
            "strides",
        ])?;
        cx.no_auto_pad()?;
        if cx.pads()? != [0, 0] {
            return Err(cx.err("padding is not supported"));
        }
        if cx.int("ceil_mode", 0) != 0 {
            return Err(cx.err("ceil_mode = 1 is not supported"));
        }
        if cx
            .ints("dilations")
            .is_some_and(|d| d.iter().any(|&x| x != 1))
        {
            return Err(cx.err("dilations other than 1 are not supported"));
        }
        let kernel = match cx.ints("kernel_shape") {
            Some(_) => cx.pair("kernel_shape", [0, 0])?,
            None => return Err(cx.err("kernel_shape is missing")),
        };
        let stride = cx.pair("strides", [1, 1])?;
        let (id, _) = self.value(cx, 0)?;
        self.emit(cx, Layer::AvgPool2d(AvgPool2d { kernel, stride }), vec![id])
    }

    /// `y = x + c` (or `x − c` with `sub`): a batch norm per channel, or per element
    /// through a reshape to `[numel]` when `c` varies within a channel.
    #[allow(clippy::too_many_arguments)]
    fn add_const(
        &mut self,
        cx: &Ctx<'_>,
        src: Option<&str>,
        id: ValueId,
        shape: &[usize],
        c: Vec<f64>,
        sub: bool,
    ) -> Result<Val> {
        // fold into the bias of a dense layer that only this node reads
        let last = id.node().filter(|&k| k + 1 == self.net.nodes.len());
        let dense_src = last.is_some_and(|k| matches!(self.net.nodes[k].layer, Layer::Dense(_)))
            && src.is_some_and(|s| self.readers.get(s).copied() == Some(1))
            && shape.len() == 1;
        if let (true, Some(k)) = (dense_src, last) {
            if let Layer::Dense(a) = &mut self.net.nodes[k].layer {
                for (b, v) in a.bias.iter_mut().zip(&c) {
                    *b = if sub { *b - v } else { *b + v };
                }
            }
            return Ok(Val::Net {
                id,
                shape: shape.to_vec(),
            });
        }
        let ch = shape.first().copied().unwrap_or(1);
        let per = c.len() / ch.max(1);
        let per_channel =
            shape.len() <= 1 || c.chunks(per.max(1)).all(|b| b.iter().all(|&v| v == b[0]));
        let bn = |m: Vec<f64>| {
            let n = m.len();
            Layer::BatchNorm(BatchNorm {
                gamma: vec![1.0; n],
                beta: vec![0.0; n],
                mean: m.iter().map(|&v| if sub { v } else { -v }).collect(),
                var: vec![1.0; n],
                eps: 0.0,
            })
        };
        if shape.is_empty() {
            return Err(cx.err("a scalar value is not supported"));
        }
        if per_channel {
            let m: Vec<f64> = c.chunks(per.max(1)).map(|b| b[0]).collect();
            return self.emit(cx, bn(m), vec![id]);
        }
        let Val::Net { id: flat, .. } = self.emit(
            cx,
            Layer::Reshape {
                shape: vec![c.len()],
            },
            vec![id],
        )?
        else {
            unreachable!()
        };
        let Val::Net { id: y, .. } = self.emit(cx, bn(c), vec![flat])? else {
            unreachable!()
        };
        self.emit(
            cx,
            Layer::Reshape {
                shape: shape.to_vec(),
            },
            vec![y],
        )
    }

    fn arith(&mut self, cx: &Ctx<'_>) -> Result<Val> {
        cx.only(&[])?;
        let op = cx.node.op_type.as_str();
        let (a, b) = (self.operand(cx, 0)?, self.operand(cx, 1)?);
        match (a, b) {
            (Val::Net { id, shape }, Val::Const(c)) => {
                let v = broadcast(&c, &shape).ok_or_else(|| {
                    cx.err(format!(
                        "the constant's dims {:?} do not broadcast to the value's {:?}",
                        c.dims,
                        batched(&shape)
                    ))
                })?;
                match op {
                    "Add" | "Sub" => {
                        let src = cx.node.input[0].clone();
                        self.add_const(cx, Some(&src), id, &shape, v, op == "Sub")
                    }
                    "Mul" => self.emit(cx, Layer::Scale { factor: v }, vec![id]),
                    _ => {
                        if v.contains(&0.0) {
                            return Err(cx.err("division by zero"));
                        }
                        let factor = v.iter().map(|d| 1.0 / d).collect();
                        self.emit(cx, Layer::Scale { factor }, vec![id])
                    }
                }
            }
            (Val::Const(c), Val::Net { id, shape }) if op != "Div" => {
                let v = broadcast(&c, &shape).ok_or_else(|| {
                    cx.err(format!(
                        "the constant's dims {:?} do not broadcast to the value's {:?}",
                        c.dims,
                        batched(&shape)
                    ))
                })?;
                match op {
                    "Add" => {
                        let src = cx.node.input[1].clone();
                        self.add_const(cx, Some(&src), id, &shape, v, false)
                    }
                    "Mul" => self.emit(cx, Layer::Scale { factor: v }, vec![id]),
                    _ => {
                        // c − x = (−x) + c
                        let n = numel(&shape);
                        let Val::Net { id: neg, .. } = self.emit(
                            cx,
                            Layer::Scale {
                                factor: vec![-1.0; n],
                            },
                            vec![id],
                        )?
                        else {
                            unreachable!()
                        };
                        self.add_const(cx, None, neg, &shape, v, false)
                    }
                }
            }
            (Val::Net { id: x, shape: sx }, Val::Net { id: y, shape: sy }) if op == "Add" || op == "Sub" => {
                if sx != sy {
                    return Err(cx.err(format!(
                        "operands of shapes {sx:?} and {sy:?}: only equal shapes are supported"
                    )));
                }
                let y = if op == "Sub" {
                    let Val::Net { id, .. } = self.emit(
                        cx,
                        Layer::Scale {
                            factor: vec![-1.0; numel(&sy)],
                        },
                        vec![y],
                    )?
                    else {
                        unreachable!()
                    };
                    id
                } else {
                    y
                };
                self.emit(cx, Layer::Add, vec![x, y])
            }
            (Val::Const(_), Val::Const(_)) => {
                Err(cx.err("both operands are constants; constant folding is not supported"))
            }
            _ => Err(cx.err(format!(
                "{op} of these operands is not affine (supported: a value and a constant, or Add/Sub of two values)"
            ))),
        }
    }
}

/// The batched dims `d` without the size-1 `axes` of a `Squeeze` (which must name them).
fn squeezed(cx: &Ctx<'_>, d: &[usize], axes: Option<Vec<i64>>) -> Result<Vec<usize>> {
    let Some(axes) = axes else {
        return Err(cx.err("no axes: it would squeeze the batch dimension too (not supported)"));
    };
    let mut drop = vec![false; d.len()];
    for &a in &axes {
        let i = axis(a, d.len()).ok_or_else(|| cx.err(format!("axis {a} is out of range")))?;
        if d[i] != 1 {
            return Err(cx.err(format!("axis {a} has size {}, not 1", d[i])));
        }
        if i == 0 {
            return Err(cx.err("squeezing the batch dimension is not supported"));
        }
        drop[i] = true;
    }
    Ok((0..d.len()).filter(|&i| !drop[i]).map(|i| d[i]).collect())
}

/// The batched dims `d` with size-1 dimensions inserted at the `axes` of an `Unsqueeze`.
fn unsqueezed(cx: &Ctx<'_>, d: &[usize], axes: Option<Vec<i64>>) -> Result<Vec<usize>> {
    let axes = axes.ok_or_else(|| cx.err("no axes given"))?;
    let r = d.len() + axes.len();
    let mut ins = vec![false; r];
    for &a in &axes {
        let i = axis(a, r).ok_or_else(|| cx.err(format!("axis {a} is out of range")))?;
        if std::mem::replace(&mut ins[i], true) {
            return Err(cx.err(format!("axis {a} is repeated")));
        }
    }
    let mut rest = d.iter();
    Ok(ins
        .iter()
        .map(|&one| if one { 1 } else { *rest.next().expect("rank") })
        .collect())
}

/// The batched output dims of `Reshape(d, target)` (0 copies, −1 infers).
fn reshape_dims(
    d: &[usize],
    target: &[f64],
    allowzero: i64,
) -> std::result::Result<Vec<usize>, String> {
    let total = numel(d);
    let mut out = Vec::with_capacity(target.len());
    let mut infer = None;
    for (i, &t) in target.iter().enumerate() {
        if t.fract() != 0.0 || t < -1.0 || t > MAX_ELEMENTS as f64 {
            return Err(format!("shape entry {t} is not supported"));
        }
        let t = t as i64;
        match t {
            -1 if infer.is_none() => {
                infer = Some(i);
                out.push(1);
            }
            -1 => return Err("the shape has two −1 entries".into()),
            0 if allowzero == 0 => out.push(
                *d.get(i)
                    .ok_or_else(|| format!("shape entry 0 at {i} copies no input dimension"))?,
            ),
            t => out.push(t as usize),
        }
    }
    let known = checked_numel(&out).ok_or("the shape overflows")?;
    if let Some(i) = infer {
        if known == 0 || !total.is_multiple_of(known) {
            return Err(format!("cannot reshape {d:?} to {target:?}"));
        }
        out[i] = total / known;
    } else if known != total {
        return Err(format!("cannot reshape {d:?} to {target:?}"));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::onnx::proto::{
        attr_type, Dimension, GraphProto, OperatorSetIdProto, TensorShapeProto, TypeProto,
        TypeProtoTensor, ValueInfoProto,
    };
    use crate::io::onnx::{export, Encoding};
    use crate::tolerance::{assert_close, Tolerance};
    use proptest::prelude::*;

    fn f32t(name: &str, dims: &[usize], v: &[f64]) -> TensorProto {
        TensorProto {
            dims: dims.iter().map(|&d| d as i64).collect(),
            data_type: proto::FLOAT,
            name: name.into(),
            raw_data: v.iter().flat_map(|&x| (x as f32).to_le_bytes()).collect(),
            ..Default::default()
        }
    }

    fn i64t(name: &str, v: &[i64]) -> TensorProto {
        TensorProto {
            dims: vec![v.len() as i64],
            data_type: proto::INT64,
            name: name.into(),
            int64_data: v.to_vec(),
            ..Default::default()
        }
    }

    // the exporter's attribute builders
    use crate::io::onnx::{float as af, int as ai};

    fn ais(name: &str, v: &[i64]) -> AttributeProto {
        AttributeProto {
            name: name.into(),
            ints: v.to_vec(),
            r#type: attr_type::INTS,
            ..Default::default()
        }
    }

    fn node(op: &str, ins: &[&str], out: &str, attribute: Vec<AttributeProto>) -> NodeProto {
        NodeProto {
            input: ins.iter().map(|s| s.to_string()).collect(),
            output: vec![out.into()],
            name: format!("{op}_{out}"),
            op_type: op.into(),
            attribute,
            ..Default::default()
        }
    }

    fn vi(name: &str, dims: &[i64]) -> ValueInfoProto {
        ValueInfoProto {
            name: name.into(),
            r#type: Some(TypeProto {
                tensor_type: Some(TypeProtoTensor {
                    elem_type: proto::FLOAT,
                    shape: Some(TensorShapeProto {
                        dim: dims
                            .iter()
                            .map(|&d| Dimension {
                                dim_value: d,
                                ..Default::default()
                            })
                            .collect(),
                    }),
                }),
            }),
        }
    }

    /// A model reading `x` of `dims` (batch included), writing `y`.
    fn model(dims: &[i64], nodes: Vec<NodeProto>, inits: Vec<TensorProto>) -> Vec<u8> {
        ModelProto {
            ir_version: 8,
            graph: Some(GraphProto {
                node: nodes,
                name: "t".into(),
                initializer: inits,
                input: vec![vi("x", dims)],
                output: vec![vi("y", &[])],
                ..Default::default()
            }),
            opset_import: vec![OperatorSetIdProto {
                domain: String::new(),
                version: 13,
            }],
            ..Default::default()
        }
        .encode_to_vec()
    }

    fn vals(n: usize, seed: f64) -> Vec<f64> {
        // exact in f32: multiples of 1/64 in [-2, 2)
        (0..n)
            .map(|i| (((i as f64 * seed).sin() * 128.0).round()) / 64.0)
            .collect()
    }

    fn dense_ref(w_in_out: &[f64], n_in: usize, n_out: usize, x: &[f64]) -> Vec<f64> {
        (0..n_out)
            .map(|o| (0..n_in).map(|i| w_in_out[i * n_out + o] * x[i]).sum())
            .collect()
    }

    /// Gemm (transB 0, alpha 2), Add bias folding after MatMul, Sub, Div, Mul, Reshape,
    /// Transpose, Squeeze, Unsqueeze, Identity, Dropout and Constant, against a reference
    /// computed here.
    #[test]
    fn dense_and_shape_ops_match_a_reference() {
        let w1 = vals(12, 0.7);
        let c = vals(4, 2.1);
        let nodes = vec![
            node("Flatten", &["x"], "f", vec![ai("axis", 1)]),
            // [1, 3] · w1 [3, 4] * 2 + b
            node(
                "Gemm",
                &["f", "w1", "b1"],
                "g",
                vec![af("alpha", 2.0), ai("transB", 0)],
            ),
            node("Sub", &["g", "c"], "s", vec![]),
            node("Constant", &[], "four", {
                let mut a = ai("", 0);
                a.name = "value".into();
                a.r#type = attr_type::TENSOR;
                a.t = Some(f32t("", &[], &[4.0]));
                vec![a]
            }),
            node("Div", &["s", "four"], "d", vec![]),
            node("Relu", &["d"], "r", vec![]),
            node("Mul", &["r", "c"], "m", vec![]),
            // [1, 4] → [1, 2, 2] → Unsqueeze(1) [1, 1, 2, 2] → Transpose(0,2,1,3)? no: moves
            node("Reshape", &["m", "shape"], "rs", vec![]),
            node("Unsqueeze", &["rs", "ax1"], "u", vec![]),
            node("Transpose", &["u"], "tr", vec![ais("perm", &[1, 0, 2, 3])]),
            node("Squeeze", &["tr", "ax0"], "sq", vec![]),
            node("Identity", &["sq"], "id", vec![]),
            node("Dropout", &["id"], "dr", vec![]),
            node("Flatten", &["dr"], "fl", vec![]),
            node("MatMul", &["fl", "w2"], "mm", vec![]),
            node("Add", &["mm", "b2"], "y", vec![]),
        ];
        let inits = vec![
            f32t("w1", &[3, 4], &w1),
            f32t("b1", &[4], &[0.5, -0.25, 1.0, 0.0]),
            f32t("c", &[1, 4], &c),
            i64t("shape", &[1, 2, 2]),
            i64t("ax1", &[1]),
            i64t("ax0", &[1]),
            f32t("w2", &[4, 2], &vals(8, 0.3)),
            f32t("b2", &[2], &[0.125, -2.0]),
        ];
        let bytes = model(&[1, 3], nodes, inits);
        let net = import(&bytes).unwrap();
        assert_eq!(net.input_shape, vec![3]);
        // the bias Add after MatMul is folded into the dense layer
        assert!(matches!(net.nodes.last().unwrap().layer, Layer::Dense(_)));
        for x in [[1.0, -2.0, 0.5], [0.25, 0.75, -1.0]] {
            let g: Vec<f64> = dense_ref(&w1, 3, 4, &x)
                .iter()
                .zip([0.5, -0.25, 1.0, 0.0])
                .map(|(v, b)| 2.0 * v + b)
                .collect();
            let m: Vec<f64> = g
                .iter()
                .zip(&c)
                .map(|(v, c)| ((v - c) / 4.0).max(0.0) * c)
                .collect();
            let y: Vec<f64> = dense_ref(&vals(8, 0.3), 4, 2, &m)
                .iter()
                .zip([0.125, -2.0])
                .map(|(v, b)| v + b)
                .collect();
            assert_close(&net.forward(&x).unwrap(), &y, Tolerance::Close, "graph");
        }
    }

    /// Conv, BatchNormalization, AveragePool, a per-element Add and an Add of two values
    /// against the same IR built directly.
    #[test]
    fn conv_bn_pool_and_residual_match_the_ir() {
        let w = vals(18, 0.9);
        let per_elem = vals(2 * 4 * 4, 1.7);
        let nodes = vec![
            node(
                "Conv",
                &["x", "w", "b"],
                "c",
                vec![
                    ais("kernel_shape", &[3, 3]),
                    ais("pads", &[1, 1, 1, 1]),
                    ais("strides", &[1, 1]),
                    ais("dilations", &[1, 1]),
                    ai("group", 1),
                ],
            ),
            node(
                "BatchNormalization",
                &["c", "g", "be", "mu", "var"],
                "bn",
                vec![af("epsilon", 0.5)],
            ),
            node("Relu", &["bn"], "r", vec![]),
            node("Add", &["r", "bn"], "res", vec![]),
            node("Add", &["pe", "res"], "a", vec![]),
            node(
                "AveragePool",
                &["a"],
                "p",
                vec![ais("kernel_shape", &[2, 2]), ais("strides", &[2, 2])],
            ),
            node("Flatten", &["p"], "y", vec![ai("axis", 1)]),
        ];
        let inits = vec![
            f32t("w", &[2, 1, 3, 3], &w),
            f32t("b", &[2], &[0.25, -0.5]),
            f32t("g", &[2], &[1.5, -0.5]),
            f32t("be", &[2], &[0.25, 1.0]),
            f32t("mu", &[2], &[0.5, -0.75]),
            f32t("var", &[2], &[2.0, 0.5]),
            f32t("pe", &[1, 2, 4, 4], &per_elem),
        ];
        let net = import(&model(&[1, 1, 4, 4], nodes, inits)).unwrap();
        let mut want = Network::new(vec![1, 4, 4]);
        want.push(Layer::Conv2d(Conv2d {
            in_channels: 1,
            out_channels: 2,
            kernel: [3, 3],
            stride: [1, 1],
            padding: [1, 1],
            weight: w,
            bias: vec![0.25, -0.5],
        }));
        let bn = want.push(Layer::BatchNorm(BatchNorm {
            gamma: vec![1.5, -0.5],
            beta: vec![0.25, 1.0],
            mean: vec![0.5, -0.75],
            var: vec![2.0, 0.5],
            eps: 0.5,
        }));
        let r = want.push(Layer::Relu(ReluMask::all_kept(32)));
        want.push_with(Layer::Add, vec![r, bn]);
        want.push(Layer::Scale {
            factor: vec![1.0; 32],
        });
        let n = want.nodes.len();
        // x + pe, written as a Scale by 1 then per-element shift
        want.nodes[n - 1].layer = Layer::Reshape { shape: vec![32] };
        let mut shifted = per_elem.clone();
        shifted.iter_mut().for_each(|v| *v = -*v);
        want.push(Layer::BatchNorm(BatchNorm {
            gamma: vec![1.0; 32],
            beta: vec![0.0; 32],
            mean: shifted,
            var: vec![1.0; 32],
            eps: 0.0,
        }));
        want.push(Layer::Reshape {
            shape: vec![2, 4, 4],
        });
        want.push(Layer::AvgPool2d(AvgPool2d {
            kernel: [2, 2],
            stride: [2, 2],
        }));
        want.push(Layer::Flatten);
        assert_eq!(net, want);
        let x = vals(16, 0.4);
        let y = net.forward(&x).unwrap();
        assert_eq!(y.len(), 8);
    }

    /// `export` → `import`: a CNN with an input normalization (Mul/Add constants) and a
    /// residual net give the same function (f32 weights: approximate).
    #[test]
    fn export_then_import_keeps_the_function() {
        let mut cnn = Network::new(vec![2, 6, 6]);
        cnn.push(Layer::BatchNorm(BatchNorm {
            gamma: vec![1.0, 1.0],
            beta: vec![0.0, 0.0],
            mean: vec![0.4, 0.5],
            var: vec![0.0625, 0.09],
            eps: 0.0,
        }));
        cnn.push(Layer::Conv2d(Conv2d {
            in_channels: 2,
            out_channels: 3,
            kernel: [3, 3],
            stride: [2, 2],
            padding: [1, 1],
            weight: vals(54, 0.37),
            bias: vals(3, 1.1),
        }));
        // partially linearized: the gathered encoding's Gather/Concat pieces on the way back
        let third: Vec<bool> = (0..27).map(|i| i % 3 == 1).collect();
        cnn.push(Layer::Relu(ReluMask::from_bools(&third)));
        cnn.push(Layer::Flatten);
        cnn.push(Layer::Dense(Affine::new(
            DMatrix::from_row_slice(4, 27, &vals(108, 0.21)),
            DVector::from_vec(vals(4, 0.5)),
        )));
        let mut res = Network::new(vec![5]);
        let h = res.push(Layer::Dense(Affine::new(
            DMatrix::from_row_slice(5, 5, &vals(25, 0.8)),
            DVector::from_vec(vals(5, 0.3)),
        )));
        let r = res.push(Layer::Relu(ReluMask::from_bools(&[
            true, false, true, false, true,
        ])));
        res.push_with(Layer::Add, vec![r, h]);
        res.push(Layer::Scale {
            factor: vec![1.0, 0.0, 1.0, 1.0, 0.0],
        });
        res.push(Layer::Dense(Affine::new(
            DMatrix::from_row_slice(3, 5, &vals(15, 0.6)),
            DVector::zeros(3),
        )));
        let kept = |n: &Network| -> Vec<Vec<bool>> {
            n.nodes
                .iter()
                .filter_map(|x| match &x.layer {
                    Layer::Relu(m) => Some(m.to_bools()),
                    _ => None,
                })
                .collect()
        };
        for (name, net) in [("cnn", cnn), ("residual", res)] {
            let g = export(&net, Encoding::Gathered).unwrap();
            assert!(
                g.summary
                    .layers
                    .iter()
                    .any(|l| l.form == crate::io::onnx::ReluForm::Gathered),
                "{name}: the test must go through the gathered form"
            );
            let bytes = g.to_bytes();
            let back = import(&bytes).unwrap();
            assert_eq!(back.input_shape, net.input_shape);
            // the same kept units, each a masked ReLU again
            assert_eq!(kept(&back), kept(&net), "{name}");
            for seed in 0..3 {
                let x: Vec<f64> = vals(numel(&net.input_shape), 0.13 + seed as f64)
                    .iter()
                    .map(|v| (v + 2.0) / 4.0)
                    .collect();
                assert_close(
                    &back.forward(&x).unwrap(),
                    &net.forward(&x).unwrap(),
                    Tolerance::Approximate,
                    name,
                );
            }
            // gzip-compressed: the same network
            let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            std::io::Write::write_all(&mut gz, &bytes).unwrap();
            assert_eq!(import(&gz.finish().unwrap()).unwrap(), back);
        }
    }

    #[test]
    fn gather_and_concat_are_read_only_as_the_gathered_relu_encoding() {
        let idx = |n: &str, v: &[i64]| i64t(n, v);
        // the encoding by hand, with negative indices: units 0 and 2 kept
        let enc = model(
            &[1, 3],
            vec![
                node("Gather", &["x", "k"], "gk", vec![ai("axis", 1)]),
                node("Relu", &["gk"], "rk", vec![]),
                node("Gather", &["x", "l"], "gl", vec![ai("axis", -1)]),
                node("Concat", &["rk", "gl"], "c", vec![ai("axis", 1)]),
                node("Gather", &["c", "inv"], "y", vec![ai("axis", 1)]),
            ],
            vec![idx("k", &[0, -1]), idx("l", &[1]), idx("inv", &[0, 2, 1])],
        );
        let net = import(&enc).unwrap();
        assert_eq!(
            net.forward(&[-1.0, -2.0, 3.0]).unwrap(),
            vec![0.0, -2.0, 3.0]
        );
        let err = |nodes: Vec<NodeProto>, inits: Vec<TensorProto>| {
            import(&model(&[1, 3], nodes, inits))
                .unwrap_err()
                .to_string()
        };
        // the batch axis (ONNX's default axis 0)
        assert_eq!(
            err(vec![node("Gather", &["x", "k"], "y", vec![])], vec![idx("k", &[0])]),
            "node 0 'Gather_y' (Gather): axis 0: only axis 1 (the units of a flat [1, F] value) is supported"
        );
        // units reordered, then read by another op
        assert_eq!(
            err(
                vec![
                    node("Gather", &["x", "p"], "g", vec![ai("axis", 1)]),
                    node("Relu", &["g"], "y", vec![]),
                    node("Add", &["y", "y"], "z", vec![]),
                ],
                vec![idx("p", &[2, 1, 0])]
            ),
            "node 2 'Add_z' (Add): reads 3 units picked by Gather/Concat from a value of 3 units, not each unit back at its own position: only the gathered ReLU encoding is supported (docs/onnx.md)"
        );
        // ... or left as the graph's output
        assert!(err(
            vec![node("Gather", &["x", "p"], "y", vec![ai("axis", 1)])],
            vec![idx("p", &[0, 1])]
        )
        .starts_with("the graph output 'y': reads 2 units picked"));
        assert_eq!(
            err(
                vec![
                    node("Gather", &["x", "p"], "g", vec![ai("axis", 1)]),
                    node("Concat", &["g", "x"], "y", vec![ai("axis", 1)]),
                ],
                vec![idx("p", &[0])]
            ),
            "node 1 'Concat_y' (Concat): input 1 is not a Gather of a flat value: Concat is read only as part of the gathered ReLU encoding (docs/onnx.md)"
        );
        assert_eq!(
            err(
                vec![node("Gather", &["x", "p"], "y", vec![ai("axis", 1)])],
                vec![idx("p", &[3])]
            ),
            "node 0 'Gather_y' (Gather): index 3 is out of range for 3 units"
        );
    }

    #[test]
    fn unsupported_ops_and_attributes_are_one_line_errors() {
        let sig = model(&[1, 2], vec![node("Sigmoid", &["x"], "y", vec![])], vec![]);
        let e = import(&sig).unwrap_err().to_string();
        assert_eq!(
            e,
            "node 0 'Sigmoid_y' (Sigmoid): operator 'Sigmoid' is not supported (docs/onnx.md lists the ops the importer reads)"
        );
        let conv = model(
            &[1, 2, 4, 4],
            vec![
                node("Relu", &["x"], "r", vec![]),
                node("Conv", &["r", "w"], "y", vec![ai("group", 2)]),
            ],
            vec![f32t("w", &[2, 1, 1, 1], &[1.0, 1.0])],
        );
        assert_eq!(
            import(&conv).unwrap_err().to_string(),
            "node 1 'Conv_y' (Conv): group = 2 is not supported"
        );
        let moves = model(
            &[1, 2, 3],
            vec![node(
                "Transpose",
                &["x"],
                "y",
                vec![ais("perm", &[0, 2, 1])],
            )],
            vec![],
        );
        let e = import(&moves).unwrap_err().to_string();
        assert!(
            e.starts_with("node 0 'Transpose_y' (Transpose): perm"),
            "{e}"
        );
        let mut unnamed = node("Tanh", &["x"], "y", vec![]);
        unnamed.name.clear();
        let e = import(&model(&[1, 2], vec![unnamed], vec![])).unwrap_err();
        assert!(e.to_string().starts_with("node 0 (Tanh): "), "{e}");
        assert!(matches!(e, Error::Onnx { node: Some(0), .. }));
    }

    /// A tensor declaring 10^12 elements with no data is refused before anything is
    /// allocated; so is an input of 10^12 elements.
    #[test]
    fn huge_declared_sizes_are_refused() {
        let mut t = f32t("w", &[1, 1], &[]);
        t.dims = vec![1_000_000, 1_000_000];
        let g = model(
            &[1, 2],
            vec![node("MatMul", &["x", "w"], "y", vec![])],
            vec![t],
        );
        let e = import(&g).unwrap_err().to_string();
        assert!(e.contains("declares 1000000000000 values"), "{e}");
        let g = model(
            &[1, 1_000_000, 1_000_000],
            vec![node("Relu", &["x"], "y", vec![])],
            vec![],
        );
        assert!(import(&g).unwrap_err().to_string().contains("more than"));
        let g = model(
            &[1, 1, 2, 2],
            vec![node(
                "Conv",
                &["x", "w"],
                "y",
                vec![ais("pads", &[60000, 60000, 60000, 60000])],
            )],
            vec![f32t("w", &[1, 1, 1, 1], &[1.0])],
        );
        assert!(import(&g).unwrap_err().to_string().contains("more than"));
    }

    fn valid_onnx() -> Vec<u8> {
        let mut net = Network::new(vec![1, 4, 4]);
        net.push(Layer::Conv2d(Conv2d {
            in_channels: 1,
            out_channels: 2,
            kernel: [3, 3],
            stride: [1, 1],
            padding: [1, 1],
            weight: vals(18, 0.5),
            bias: vec![0.1, -0.2],
        }));
        net.push(Layer::Relu(ReluMask::all_kept(32)));
        net.push(Layer::Flatten);
        net.push(Layer::Dense(Affine::new(
            DMatrix::from_row_slice(3, 32, &vals(96, 0.2)),
            DVector::zeros(3),
        )));
        export(&net, Encoding::Gathered).unwrap().to_bytes()
    }

    fn valid_model_file() -> Vec<u8> {
        let net = import(&valid_onnx()).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("m.safetensors");
        crate::save(&net, &p).unwrap();
        std::fs::read(&p).unwrap()
    }

    fn load_model_bytes(bytes: &[u8]) -> Result<Network> {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("m.safetensors");
        std::fs::write(&p, bytes).unwrap();
        crate::load(&p)
    }

    #[test]
    fn truncated_files_are_errors() {
        let b = valid_onnx();
        assert!(import(&b).is_ok());
        for cut in [0, 1, 10, b.len() / 2, b.len() - 1] {
            assert!(import(&b[..cut]).is_err(), "cut at {cut}");
        }
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut gz, &b).unwrap();
        let gz = gz.finish().unwrap();
        for cut in [2, 10, gz.len() / 2, gz.len() - 1] {
            assert!(import(&gz[..cut]).is_err(), "gz cut at {cut}");
        }
    }

    /// A model file whose JSON declares a 10^12-unit input (a ReLU without a mask would
    /// allocate a bit per unit) or an overflowing reshape is refused, not allocated.
    #[test]
    fn model_files_with_huge_declared_shapes_are_refused() {
        for network in [
            r#"{"input_shape":[1000000,1000000],"nodes":[{"op":"relu"}]}"#,
            r#"{"input_shape":[2],"nodes":[{"op":"reshape","shape":[4294967296,4294967296,4]}]}"#,
        ] {
            let meta = std::collections::HashMap::from([
                ("format_version".to_string(), "1".to_string()),
                ("network".to_string(), network.to_string()),
            ]);
            let none: Vec<(String, safetensors::tensor::TensorView<'_>)> = vec![];
            let bytes = safetensors::serialize(none, Some(meta)).unwrap();
            let e = load_model_bytes(&bytes).unwrap_err().to_string();
            assert!(e.contains("more than"), "{e}");
        }
    }

    /// `b` with the bytes at the fractions `edits` overwritten, then cut to `cut` of its
    /// length.
    fn mutated(mut b: Vec<u8>, edits: &[(f64, u8)], cut: f64) -> Vec<u8> {
        for &(at, v) in edits {
            let i = ((b.len() as f64) * at) as usize % b.len();
            b[i] = v;
        }
        let n = ((b.len() as f64) * cut) as usize;
        b.truncate(n);
        b
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// Item 8: untrusted ONNX bytes (truncated, or with random bytes overwritten) give
        /// a network or an error, never a panic.
        #[test]
        fn mutated_onnx_never_panics(
            cut in 0.0f64..=1.0,
            edits in proptest::collection::vec((0.0f64..1.0, any::<u8>()), 0..8),
        ) {
            let b = mutated(valid_onnx(), &edits, cut);
            if let Ok(net) = import(&b) {
                prop_assert!(net.validate().is_ok());
            }
        }

        /// The same for the model file (`model_file::load`).
        #[test]
        fn mutated_model_files_never_panic(
            cut in 0.0f64..=1.0,
            edits in proptest::collection::vec((0.0f64..1.0, any::<u8>()), 0..8),
        ) {
            let b = mutated(valid_model_file(), &edits, cut);
            if let Ok(net) = load_model_bytes(&b) {
                prop_assert!(net.validate().is_ok());
            }
        }
    }
}
