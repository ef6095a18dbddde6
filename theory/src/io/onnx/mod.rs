//! ONNX export of a masked network, written without libtorch (protobuf through `prost`
//! with the message types of [`proto`]).
//!
//! Three encodings of a masked ReLU layer on a value `x` of shape `s` (`F = numel(s)` units,
//! kept set `K`, linearized set `L`):
//!
//! * [`Encoding::Gathered`] (default): the kept positions are a public, static index set and
//!   the comparison runs on them only:
//!   `Flatten(x, axis 1) → Gather(K) → Relu`, `Gather(L)`, `Concat(axis 1) →
//!   Gather(inverse permutation of K ++ L) → Reshape([-1, s])`. A layer with no kept unit
//!   emits nothing (it is the identity), a fully kept one is a plain `Relu`. The Relu
//!   elements of the graph are exactly the kept ReLUs.
//! * [`Encoding::Masked`]: `y = x − m ⊙ min(x, 0)` with a constant 0/1 tensor `m` of shape
//!   `s`, written `x + m ⊙ Relu(−x)` with `Mul` by constants (on a 1-D value of at most
//!   4096 units, `m ⊙` as a `MatMul` by `diag(m)`), `Relu` and `Add` (ops every runtime,
//!   CrypTen and Marabou read, where `Min` is not). Every ReLU layer keeps its
//!   comparison on every unit: the form SNL's masked ReLU computes in training
//!   (`linearize/src/masked.rs`).
//! * [`Encoding::Split`] (MLPs): the dense layer before the ReLU is written as two `Gemm`s,
//!   the kept rows `z_K` and the linear rows `z_L`, `Relu(z_K)`, and the dense layer after
//!   it as one `Gemm` per part summed by `Add`: only ops every verifier reads, and Relu
//!   elements = kept ReLUs. Refused unless every partial layer sits between dense layers.
//!
//! Every encoding first folds what is exactly affine: a batch norm into the conv or dense
//! layer it reads (when nothing else reads that layer) and, in the gathered and split encodings, a
//! layer with no kept ReLU away, and a dense layer into the dense layer it reads. The
//! remaining batch norms (e.g. node 0, the input normalization, which cannot be folded
//! into the following zero-padded conv) become `Mul` and `Add` with constants, and a scale
//! node (as `snl-verify free` writes, factors in `{0, 1}`) a `Mul` by a constant of the
//! value's shape.
//!
//! Conventions: the graph input `input` is `[1, s0…]` in the model's own input space
//! (for snl models raw pixels, since node 0 normalizes), the output `output` is `[1, o]`;
//! weights are f32 initializers; every other constant (indices, shapes, masks, batch-norm
//! scales) is a `Constant` node, since CrypTen rejects int64 initializers and turns float
//! initializers into secret-shared parameters. Opset 13, IR version 8. No
//! ScatterND/ScatterElements, no Identity, no Min.
use std::path::Path;

use prost::Message;
use serde::{Deserialize, Serialize};

use crate::ir::network::{Affine, BatchNorm, Conv2d, Layer, Network};
use crate::{Error, Result, ValueId};

pub mod import;
pub mod proto;
mod simplify;

pub use import::{import, load, load_any, load_any_with_info};

use proto::{
    attr_type, AttributeProto, Dimension, GraphProto, ModelProto, NodeProto, OperatorSetIdProto,
    TensorProto, TensorShapeProto, TypeProto, TypeProtoTensor, ValueInfoProto,
};

/// The ONNX opset the exporter writes.
pub const OPSET: i64 = 13;
/// The ONNX IR version the exporter writes.
pub const IR_VERSION: i64 = 8;

/// How a masked ReLU layer is written (see the module docs).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Encoding {
    /// Kept units gathered, Relu on them only, linearized units passed through.
    #[default]
    Gathered,
    /// `x − m ⊙ min(x, 0)` on every unit, with a constant mask `m`.
    Masked,
    /// The dense layer before the ReLU written as two `Gemm`s, kept and linear units, `Relu`
    /// on the kept part only, the dense layer after it reading both parts (MLPs only).
    Split,
}

impl std::fmt::Display for Encoding {
    /// The flag's spelling: `gathered`, `masked` or `split`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Encoding::Gathered => "gathered",
            Encoding::Masked => "masked",
            Encoding::Split => "split",
        })
    }
}

/// How one ReLU layer of the model file was written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReluForm {
    /// No kept unit: no operation at all.
    Vanished,
    /// Every unit kept: a plain `Relu`.
    Plain,
    /// Kept units gathered.
    Gathered,
    /// The masked form.
    Masked,
    /// Kept and linear units as two parts of the dense layers around it.
    Split,
}

/// One ReLU layer of the model file in the export.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReluLayerExport {
    /// Node index in the model file's network.
    pub node: usize,
    /// Units.
    pub total: usize,
    /// Kept units.
    pub kept: usize,
    /// How it was written.
    pub form: ReluForm,
    /// Elements the graph's Relu nodes for this layer read.
    pub relu_elements: usize,
}

/// What an export wrote.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExportSummary {
    /// The encoding.
    pub encoding: Encoding,
    /// ONNX nodes in the graph.
    pub onnx_nodes: usize,
    /// Batch norms folded into the layer before them.
    pub folded_batch_norms: usize,
    /// Dense layers folded into the dense layer before them.
    pub folded_dense: usize,
    /// Elements read by all Relu nodes (the comparisons a PI protocol evaluates).
    pub relu_elements: usize,
    /// ReLU units of the model file.
    pub relu_total: usize,
    /// Kept ReLU units of the model file.
    pub relu_kept: usize,
    /// Per ReLU layer of the model file, in node order.
    pub layers: Vec<ReluLayerExport>,
    /// Input shape of the ONNX graph (with the batch dimension 1).
    pub input_shape: Vec<usize>,
    /// Output shape of the ONNX graph (with the batch dimension 1).
    pub output_shape: Vec<usize>,
}

/// An exported graph: the protobuf message and what it holds.
#[derive(Clone, Debug)]
pub struct OnnxExport {
    /// The model message.
    pub model: ModelProto,
    /// What it holds.
    pub summary: ExportSummary,
}

impl OnnxExport {
    /// The serialized model (`.onnx` bytes).
    pub fn to_bytes(&self) -> Vec<u8> {
        self.model.encode_to_vec()
    }

    /// Writes the model to `path` atomically (temporary file + rename).
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        crate::io::model_file::write_atomic(path, &self.to_bytes()).map_err(|source| {
            Error::WriteFile {
                path: path.to_path_buf(),
                source,
            }
        })
    }
}

/// Exports `net` in the given encoding, folding exact affine stretches.
pub fn export(net: &Network, encoding: Encoding) -> Result<OnnxExport> {
    export_with(net, encoding, true)
}

/// Exports `net`; with `fold` false, batch norms and dense layers are written as they are
/// (layers with no kept unit still vanish in the gathered encoding). Unfolded graphs keep
/// the linear layers of the all-ReLU network, which isolates the ReLUs' cost when two
/// private-inference runs are compared (papers/pi).
pub fn export_with(net: &Network, encoding: Encoding, fold: bool) -> Result<OnnxExport> {
    let counts = net.relu_counts()?;
    let (simple, origin, folded_bn, folded_dense) = simplify(net, encoding, fold)?;
    let shapes = simple.shapes()?;
    let n = simple.nodes.len();
    let plan = match encoding {
        Encoding::Split => split_plan(&simple, &origin)?,
        _ => vec![None; n],
    };
    let mut w = Writer::new(&simple, &shapes, encoding);
    for (k, split) in plan.iter().enumerate() {
        w.node(k, split.as_ref());
    }
    let layers = relu_layers(&simple, &origin, &counts, encoding);
    let batched = |s: &[usize]| {
        let mut b = vec![1usize];
        b.extend_from_slice(s);
        b
    };
    let input_shape = batched(&shapes[0]);
    let output_shape = batched(&shapes[n]);
    let onnx_nodes = w.g.nodes.len();
    let graph = GraphProto {
        node: w.g.nodes,
        name: "snl".into(),
        initializer: w.g.inits,
        input: vec![value_info(&w.names[0], &input_shape)],
        output: vec![value_info(&w.names[n], &output_shape)],
        ..Default::default()
    };
    let model = model_proto(graph, encoding, &counts);
    let summary = ExportSummary {
        encoding,
        onnx_nodes,
        folded_batch_norms: folded_bn,
        folded_dense,
        relu_elements: layers.iter().map(|l| l.relu_elements).sum(),
        relu_total: counts.total,
        relu_kept: counts.kept,
        layers,
        input_shape,
        output_shape,
    };
    Ok(OnnxExport { model, summary })
}

/// The model message around `graph`: IR version, producer, opset, and a doc string naming
/// the encoding and the kept ReLUs.
fn model_proto(graph: GraphProto, encoding: Encoding, counts: &crate::ReluCounts) -> ModelProto {
    ModelProto {
        ir_version: IR_VERSION,
        producer_name: "snl".into(),
        producer_version: env!("CARGO_PKG_VERSION").into(),
        doc_string: format!(
            "snl export, {encoding} encoding: {} of {} ReLUs kept",
            counts.kept, counts.total
        ),
        graph: Some(graph),
        opset_import: vec![OperatorSetIdProto {
            domain: String::new(),
            version: OPSET,
        }],
    }
}

/// One value written in parts (split encoding): the ONNX name of each part and the units it
/// holds.
type Parts = Vec<(String, Vec<usize>)>;

/// Writes the nodes of a simplified network into a graph, node by node.
struct Writer<'a> {
    g: GraphBuilder,
    net: &'a Network,
    shapes: &'a [Vec<usize>],
    encoding: Encoding,
    /// The ONNX name of every value: `input`, `v1`, …, `output` (the last one).
    names: Vec<String>,
    /// Split encoding: the parts a value is written in; empty = one part, `names[v]`,
    /// holding every unit in order.
    parts: Vec<Parts>,
}

impl<'a> Writer<'a> {
    fn new(net: &'a Network, shapes: &'a [Vec<usize>], encoding: Encoding) -> Self {
        let n = net.nodes.len();
        let mut names: Vec<String> = (0..=n).map(|v| format!("v{v}")).collect();
        names[0] = "input".into();
        if n > 0 {
            names[n] = "output".into();
        }
        Writer {
            g: GraphBuilder::default(),
            net,
            shapes,
            encoding,
            names,
            parts: vec![Vec::new(); n + 1],
        }
    }

    /// Writes node `k`; `split` = its kept and linear rows when a partially linearized ReLU
    /// splits its output (split encoding).
    fn node(&mut self, k: usize, split: Option<&SplitUnits>) {
        let (net, shapes) = (self.net, self.shapes);
        let node = &net.nodes[k];
        let input = node.inputs[0];
        let x = self.names[input].clone();
        let y = self.names[k + 1].clone();
        let s = &shapes[input];
        let in_parts = !self.parts[input].is_empty();
        let g = &mut self.g;
        match &node.layer {
            Layer::Dense(a) if split.is_some() || in_parts => self.dense_parts(k, a, split),
            Layer::Relu(_) if in_parts => self.relu_parts(k),
            Layer::Dense(a) => gemm(g, k, a, &x, &y),
            Layer::Conv2d(c) => conv(g, k, c, &x, &y),
            Layer::BatchNorm(bn) => batch_norm(g, k, bn, s, &x, &y),
            Layer::Flatten => g.node("Flatten", &[&x], &y, vec![int("axis", 1)]),
            Layer::Reshape { shape } => {
                let sh = g.shape_const(&format!("n{k}.shape"), shape);
                g.node("Reshape", &[&x, &sh], &y, vec![]);
            }
            Layer::Add => {
                let x2 = self.names[node.inputs[1]].clone();
                g.node("Add", &[&x, &x2], &y, vec![]);
            }
            Layer::AvgPool2d(p) => g.node(
                "AveragePool",
                &[&x],
                &y,
                vec![ints("kernel_shape", &p.kernel), ints("strides", &p.stride)],
            ),
            Layer::Scale { factor } => {
                let f = g.float_const(&format!("n{k}.factor"), s, factor);
                g.node("Mul", &[&x, &f], &y, vec![]);
            }
            Layer::Relu(m) => match relu_form(m, self.encoding).0 {
                ReluForm::Gathered => gathered(g, k, &x, &y, s, m),
                ReluForm::Masked => masked(g, k, &x, &y, s, m),
                _ => g.node("Relu", &[&x], &y, vec![]),
            },
        }
    }

    /// Split encoding: dense node `k` reading a value in parts, or writing its output as the
    /// kept and linear parts `split`, one `Gemm` per part in and out.
    fn dense_parts(&mut self, k: usize, a: &Affine, split: Option<&SplitUnits>) {
        let input = self.net.nodes[k].inputs[0];
        let ins = match &self.parts[input] {
            p if p.is_empty() => vec![(self.names[input].clone(), (0..a.weight.ncols()).collect())],
            p => p.clone(),
        };
        let outs: Parts = match split {
            Some((kept, lin)) => vec![
                (format!("n{k}.kept"), kept.clone()),
                (format!("n{k}.lin"), lin.clone()),
            ],
            None => vec![(self.names[k + 1].clone(), (0..a.weight.nrows()).collect())],
        };
        for (q, (out, rows)) in outs.iter().enumerate() {
            split_dense(&mut self.g, &format!("n{k}.{q}"), a, &ins, rows, out);
        }
        if split.is_some() {
            self.parts[k + 1] = outs;
        }
    }

    /// Split encoding: ReLU node `k` on a value in parts `[kept, linear]` (from
    /// [`split_plan`]): `Relu` on the kept part only.
    fn relu_parts(&mut self, k: usize) {
        let mut p = self.parts[self.net.nodes[k].inputs[0]].clone();
        let r = format!("n{k}.kept_relu");
        self.g.node("Relu", &[&p[0].0], &r, vec![]);
        p[0].0 = r;
        self.parts[k + 1] = p;
    }
}

/// Dense node `k` as one `Gemm`.
fn gemm(g: &mut GraphBuilder, k: usize, a: &Affine, x: &str, y: &str) {
    let (r, c) = a.weight.shape();
    let w = g.init(&format!("n{k}.weight"), &[r, c], &row_major(a));
    let b = g.init(&format!("n{k}.bias"), &[r], a.bias.as_slice());
    // alpha and beta spelled out: CrypTen's importer requires them
    let attrs = vec![float("alpha", 1.0), float("beta", 1.0), int("transB", 1)];
    g.node("Gemm", &[x, &w, &b], y, attrs);
}

/// Convolution node `k` as one `Conv`.
fn conv(g: &mut GraphBuilder, k: usize, c: &Conv2d, x: &str, y: &str) {
    let w = g.init(
        &format!("n{k}.weight"),
        &[c.out_channels, c.in_channels, c.kernel[0], c.kernel[1]],
        &c.weight,
    );
    let b = g.init(&format!("n{k}.bias"), &[c.out_channels], &c.bias);
    let [ph, pw] = c.padding;
    g.node(
        "Conv",
        &[x, &w, &b],
        y,
        vec![
            ints("kernel_shape", &c.kernel),
            ints("strides", &c.stride),
            ints("pads", &[ph, pw, ph, pw]),
            // defaults spelled out: CrypTen's importer requires dilations
            ints("dilations", &[1, 1]),
            int("group", 1),
        ],
    );
}

/// Batch-norm node `k` on a value of shape `s` as `Mul` and `Add` by per-channel constants.
fn batch_norm(g: &mut GraphBuilder, k: usize, bn: &BatchNorm, s: &[usize], x: &str, y: &str) {
    let (scale, shift) = bn.scale_shift();
    // one channel: scalar constants (maraboupy 2.0.0's parser takes a `Mul` or `Add`
    // constant of shape [1, 1, 1] for an array, not a number, and fails)
    let cshape = if scale.len() == 1 {
        vec![]
    } else {
        let mut c = vec![1usize; s.len()];
        c[0] = scale.len();
        c
    };
    let sc = g.float_const(&format!("n{k}.scale"), &cshape, &scale);
    let sh = g.float_const(&format!("n{k}.shift"), &cshape, &shift);
    let t = format!("n{k}.scaled");
    g.node("Mul", &[x, &sc], &t, vec![]);
    g.node("Add", &[&t, &sh], y, vec![]);
}

/// The network [`export_with`] writes its graph from, with `origin[k]` = the model-file
/// node that node `k` comes from: batch norms folded into the conv or dense layer they
/// read and dense layers into the dense layer they read (when `fold`), ReLU layers without
/// a kept unit removed (gathered encoding). Cost models read the deployed layers from it
/// (`snl-verify cost`), so they price the graph a runtime actually executes.
/// Also returns the ReLU layers of the model file as the export writes them (its
/// [`ExportSummary::layers`]), without building the ONNX model.
pub fn deployed(
    net: &Network,
    encoding: Encoding,
    fold: bool,
) -> Result<(Network, Vec<usize>, Vec<ReluLayerExport>)> {
    let counts = net.relu_counts()?;
    let (simple, origin, _, _) = simplify(net, encoding, fold)?;
    if encoding == Encoding::Split {
        // refused where the export refuses it
        split_plan(&simple, &origin)?;
    }
    let layers = relu_layers(&simple, &origin, &counts, encoding);
    Ok((simple, origin, layers))
}

/// How a ReLU layer with mask `m` is written, and the elements its `Relu` compares.
fn relu_form(m: &crate::ReluMask, encoding: Encoding) -> (ReluForm, usize) {
    let (total, kept) = (m.len(), m.kept());
    match encoding {
        _ if kept == total => (ReluForm::Plain, total),
        Encoding::Gathered => (ReluForm::Gathered, kept),
        Encoding::Masked => (ReluForm::Masked, total),
        Encoding::Split => (ReluForm::Split, kept),
    }
}

/// Every ReLU layer of the model file (`counts`), in node order, as the graph of the
/// simplified network `simple` (nodes from `origin`) writes it; the layers `simplify`
/// removed (no kept unit, gathered encoding) are [`ReluForm::Vanished`].
fn relu_layers(
    simple: &Network,
    origin: &[usize],
    counts: &crate::ReluCounts,
    encoding: Encoding,
) -> Vec<ReluLayerExport> {
    let mut layers: Vec<ReluLayerExport> = simple
        .nodes
        .iter()
        .enumerate()
        .filter_map(|(k, node)| match &node.layer {
            Layer::Relu(m) => {
                let (form, relu_elements) = relu_form(m, encoding);
                Some(ReluLayerExport {
                    node: origin[k],
                    total: m.len(),
                    kept: m.kept(),
                    form,
                    relu_elements,
                })
            }
            _ => None,
        })
        .collect();
    let written: std::collections::BTreeSet<usize> = layers.iter().map(|l| l.node).collect();
    for l in counts.layers.iter().filter(|l| !written.contains(&l.node)) {
        layers.push(ReluLayerExport {
            node: l.node,
            total: l.total,
            kept: l.kept,
            form: ReluForm::Vanished,
            relu_elements: 0,
        });
    }
    layers.sort_by_key(|l| l.node);
    layers
}

/// For the split encoding: per node of `simple`, `Some((kept, linear))` when it is a dense
/// layer whose output a partially linearized ReLU splits. Every such ReLU must read a dense
/// layer that nothing else reads, and be read only by dense layers (not be the output).
fn split_plan(simple: &Network, origin: &[usize]) -> Result<Vec<Option<SplitUnits>>> {
    let n = simple.nodes.len();
    let mut read_by: Vec<Vec<usize>> = vec![Vec::new(); n + 1];
    for (k, node) in simple.nodes.iter().enumerate() {
        for &i in &node.inputs {
            read_by[i].push(k);
        }
    }
    let mut plan = vec![None; n];
    for (k, node) in simple.nodes.iter().enumerate() {
        let Layer::Relu(m) = &node.layer else {
            continue;
        };
        if m.kept() == m.len() {
            continue;
        }
        let u = node.inputs[0];
        let u_node = u.node();
        let dense_in = u_node.is_some_and(|j| matches!(simple.nodes[j].layer, Layer::Dense(_)));
        let dense_out = k + 1 < n
            && !read_by[k + 1].is_empty()
            && read_by[k + 1]
                .iter()
                .all(|&r| matches!(simple.nodes[r].layer, Layer::Dense(_)));
        if !dense_in || read_by[u] != [k] || !dense_out {
            return Err(Error::InvalidNode {
                node: origin[k],
                reason: "the split ONNX encoding needs every partially linearized ReLU layer \
                         between dense layers (read from one dense layer that nothing else \
                         reads, read only by dense layers); use the gathered or masked encoding"
                    .into(),
            });
        }
        let flags = m.to_bools();
        let Some(j) = u_node else {
            unreachable!("a dense layer computes u")
        };
        plan[j] = Some((
            (0..flags.len()).filter(|&i| flags[i]).collect(),
            (0..flags.len()).filter(|&i| !flags[i]).collect(),
        ));
    }
    Ok(plan)
}

/// Kept and linear units of a split layer.
type SplitUnits = (Vec<usize>, Vec<usize>);

/// `out` = rows `rows` of the dense layer `a` applied to a value given in parts (ONNX name,
/// the input units it holds): one `Gemm` per part (the bias in the first), summed by `Add`s.
fn split_dense(
    g: &mut GraphBuilder,
    tag: &str,
    a: &Affine,
    ins: &[(String, Vec<usize>)],
    rows: &[usize],
    out: &str,
) {
    let mut acc: Option<String> = None;
    for (j, (x, cols)) in ins.iter().enumerate() {
        let w: Vec<f64> = rows
            .iter()
            .flat_map(|&r| cols.iter().map(move |&c| a.weight[(r, c)]))
            .collect();
        let b: Vec<f64> = if j == 0 {
            rows.iter().map(|&r| a.bias[r]).collect()
        } else {
            vec![0.0; rows.len()]
        };
        let wn = g.init(&format!("{tag}.p{j}.weight"), &[rows.len(), cols.len()], &w);
        let bn = g.init(&format!("{tag}.p{j}.bias"), &[rows.len()], &b);
        let last = j + 1 == ins.len();
        let term = if last && acc.is_none() {
            out.to_string()
        } else {
            format!("{tag}.p{j}")
        };
        let attrs = vec![float("alpha", 1.0), float("beta", 1.0), int("transB", 1)];
        g.node("Gemm", &[x, &wn, &bn], &term, attrs);
        acc = Some(match acc {
            None => term,
            Some(prev) => {
                let sum = if last {
                    out.to_string()
                } else {
                    format!("{tag}.sum{j}")
                };
                g.node("Add", &[&prev, &term], &sum, vec![]);
                sum
            }
        });
    }
}

/// The gathered form of a partially linearized ReLU (see the module docs).
fn gathered(g: &mut GraphBuilder, k: usize, x: &str, y: &str, s: &[usize], m: &crate::ReluMask) {
    let flags = m.to_bools();
    let kept: Vec<usize> = (0..flags.len()).filter(|&i| flags[i]).collect();
    let lin: Vec<usize> = (0..flags.len()).filter(|&i| !flags[i]).collect();
    let flat = if s.len() > 1 {
        let f = format!("n{k}.flat");
        g.node("Flatten", &[x], &f, vec![int("axis", 1)]);
        f
    } else {
        x.to_string()
    };
    let ik = g.index_const(&format!("n{k}.kept_idx"), &kept);
    let il = g.index_const(&format!("n{k}.lin_idx"), &lin);
    let (gk, rk, gl, cat) = (
        format!("n{k}.kept"),
        format!("n{k}.kept_relu"),
        format!("n{k}.lin"),
        format!("n{k}.cat"),
    );
    g.node("Gather", &[&flat, &ik], &gk, vec![int("axis", 1)]);
    g.node("Relu", &[&gk], &rk, vec![]);
    g.node("Gather", &[&flat, &il], &gl, vec![int("axis", 1)]);
    g.node("Concat", &[&rk, &gl], &cat, vec![int("axis", 1)]);
    // position j of the concatenation holds unit perm[j]; unit i sits at inv[i]
    let mut inv = vec![0usize; flags.len()];
    for (j, &i) in kept.iter().chain(&lin).enumerate() {
        inv[i] = j;
    }
    let ip = g.index_const(&format!("n{k}.inv_idx"), &inv);
    if s.len() > 1 {
        let back = format!("n{k}.unflat");
        g.node("Gather", &[&cat, &ip], &back, vec![int("axis", 1)]);
        let sh = g.shape_const(&format!("n{k}.shape"), s);
        g.node("Reshape", &[&back, &sh], y, vec![]);
    } else {
        g.node("Gather", &[&cat, &ip], y, vec![int("axis", 1)]);
    }
}

/// Largest 1-D layer whose mask the masked encoding applies as `MatMul` by `diag(m)`.
const DIAG_MAX: usize = 4096;

/// The masked form `y = x − m ⊙ min(x, 0) = x + m ⊙ Relu(−x)`, written
/// `Add(x, Mul(Relu(Mul(x, −1)), m))` with a scalar `−1`; on 1-D values of at most
/// [`DIAG_MAX`] units the mask is applied as `MatMul(·, diag(m))`. Those are the forms
/// Marabou's ONNX parser reads (its `Mul` takes a scalar constant, its `Sub` a constant
/// second operand); CrypTen evaluates them as public operations.
fn masked(g: &mut GraphBuilder, k: usize, x: &str, y: &str, s: &[usize], m: &crate::ReluMask) {
    let flags = m.to_bools();
    let minus = g.float_const(&format!("n{k}.minus_one"), &[], &[-1.0]);
    let (neg, r, p) = (
        format!("n{k}.neg"),
        format!("n{k}.relu_neg"),
        format!("n{k}.masked"),
    );
    g.node("Mul", &[x, &minus], &neg, vec![]);
    g.node("Relu", &[&neg], &r, vec![]);
    let f = flags.len();
    if s.len() == 1 && f <= DIAG_MAX {
        let mut diag = vec![0.0; f * f];
        for (i, &kept) in flags.iter().enumerate() {
            diag[i * f + i] = if kept { 1.0 } else { 0.0 };
        }
        let d = g.float_const(&format!("n{k}.mask_diag"), &[f, f], &diag);
        g.node("MatMul", &[&r, &d], &p, vec![]);
    } else {
        let vals: Vec<f64> = flags.iter().map(|&b| if b { 1.0 } else { 0.0 }).collect();
        let mc = g.float_const(&format!("n{k}.mask"), s, &vals);
        g.node("Mul", &[&r, &mc], &p, vec![]);
    }
    g.node("Add", &[x, &p], y, vec![]);
}

/// The network the graph is written from, with `origin[k]` = the model-file node that
/// simplified node `k` comes from, and the numbers of folded batch norms and dense layers.
fn simplify(
    net: &Network,
    encoding: Encoding,
    fold: bool,
) -> Result<(Network, Vec<usize>, usize, usize)> {
    net.validate()?;
    let n = net.nodes.len();
    // 1. (gathered, split) layers without a kept unit are the identity
    let mut redirect: Vec<Option<ValueId>> = vec![None; n];
    if matches!(encoding, Encoding::Gathered | Encoding::Split) {
        for (k, node) in net.nodes.iter().enumerate() {
            if matches!(&node.layer, Layer::Relu(m) if m.kept() == 0) {
                redirect[k] = Some(node.inputs[0]);
            }
        }
    }
    let (cur, origin) = remove(net, &redirect, &(0..n).collect::<Vec<_>>());
    // 2. batch norms into the conv/dense layer they read, when nothing else reads it
    let readers = readers(&cur);
    let mut bn_net = cur.clone();
    let mut redirect = vec![None; cur.nodes.len()];
    let mut folded_bn = 0;
    #[allow(clippy::needless_range_loop)] // bn_net.nodes[j] is mutated inside
    for k in 0..cur.nodes.len() {
        let Layer::BatchNorm(bn) = &cur.nodes[k].layer else {
            continue;
        };
        let src = cur.nodes[k].inputs[0];
        let Some(j) = src.node() else {
            continue;
        };
        if !fold || readers[src] != 1 {
            continue;
        }
        if bn.fold_into(&mut bn_net.nodes[j].layer) {
            redirect[k] = Some(src);
            folded_bn += 1;
        }
    }
    let (cur, origin) = remove(&bn_net, &redirect, &origin);
    // 3. dense after dense (nothing else reading the first): W = W2 W1, b = W2 b1 + b2
    let readers = self::readers(&cur);
    let mut dd = cur.clone();
    let mut redirect = vec![None; cur.nodes.len()];
    let mut folded_dense = 0;
    #[allow(clippy::needless_range_loop)] // dd.nodes[k] and dd.nodes[j] both change
    for k in 0..cur.nodes.len() {
        let src = cur.nodes[k].inputs[0];
        let Some(j) = src.node() else {
            continue;
        };
        if !fold || readers[src] != 1 {
            continue;
        }
        let (Layer::Dense(_), Layer::Dense(_)) = (&dd.nodes[k].layer, &dd.nodes[j].layer) else {
            continue;
        };
        let Layer::Dense(first) = dd.nodes[j].layer.clone() else {
            unreachable!()
        };
        let Layer::Dense(second) = &mut dd.nodes[k].layer else {
            unreachable!()
        };
        let w = &second.weight * &first.weight;
        let b = &second.weight * &first.bias + &second.bias;
        *second = Affine::new(w, b);
        dd.nodes[k].inputs = dd.nodes[j].inputs.clone();
        // the first dense is now read by nobody: drop it (its output maps to its input)
        redirect[j] = Some(dd.nodes[j].inputs[0]);
        folded_dense += 1;
    }
    let (cur, origin) = remove(&dd, &redirect, &origin);
    cur.validate()?;
    Ok((cur, origin, folded_bn, folded_dense))
}

/// How many nodes read each value.
fn readers(net: &Network) -> Vec<usize> {
    let mut r = vec![0usize; net.nodes.len() + 1];
    for node in &net.nodes {
        for &i in &node.inputs {
            r[i] += 1;
        }
    }
    r
}

/// Removes the nodes with a `redirect`, mapping readers of a removed node's output to the
/// value it names; carries `origin` along.
fn remove(net: &Network, redirect: &[Option<ValueId>], origin: &[usize]) -> (Network, Vec<usize>) {
    let mut map = vec![ValueId::INPUT; net.nodes.len() + 1];
    let mut out = Network::new(net.input_shape.clone());
    let mut o = Vec::new();
    for (k, node) in net.nodes.iter().enumerate() {
        match redirect[k] {
            Some(v) => map[k + 1] = map[v],
            None => {
                let inputs = node.inputs.iter().map(|&i| map[i]).collect();
                map[k + 1] = out.push_with(node.layer.clone(), inputs);
                o.push(origin[k]);
            }
        }
    }
    // the network's output must stay the last value: when the last node was removed, its
    // output is an earlier value, and every node after that one is dead code
    let last = map[net.nodes.len()].index();
    if last != out.nodes.len() {
        out.nodes.truncate(last);
        o.truncate(last);
    }
    (out, o)
}

fn row_major(a: &Affine) -> Vec<f64> {
    a.weight.transpose().as_slice().to_vec()
}

pub(crate) fn int(name: &str, i: i64) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        i,
        r#type: attr_type::INT,
        ..Default::default()
    }
}

pub(crate) fn float(name: &str, f: f32) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        f,
        r#type: attr_type::FLOAT,
        ..Default::default()
    }
}

fn ints(name: &str, v: &[usize]) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        ints: v.iter().map(|&x| x as i64).collect(),
        r#type: attr_type::INTS,
        ..Default::default()
    }
}

fn value_info(name: &str, shape: &[usize]) -> ValueInfoProto {
    ValueInfoProto {
        name: name.into(),
        r#type: Some(TypeProto {
            tensor_type: Some(TypeProtoTensor {
                elem_type: proto::FLOAT,
                shape: Some(TensorShapeProto {
                    dim: shape
                        .iter()
                        .map(|&d| Dimension {
                            dim_value: d as i64,
                            ..Default::default()
                        })
                        .collect(),
                }),
            }),
        }),
    }
}

fn f32_tensor(name: &str, dims: &[usize], v: &[f64]) -> TensorProto {
    TensorProto {
        dims: dims.iter().map(|&d| d as i64).collect(),
        data_type: proto::FLOAT,
        name: name.into(),
        raw_data: v.iter().flat_map(|&x| (x as f32).to_le_bytes()).collect(),
        ..Default::default()
    }
}

#[derive(Default)]
struct GraphBuilder {
    nodes: Vec<NodeProto>,
    inits: Vec<TensorProto>,
}

impl GraphBuilder {
    fn node(&mut self, op: &str, inputs: &[&str], output: &str, attribute: Vec<AttributeProto>) {
        self.nodes.push(NodeProto {
            input: inputs.iter().map(|s| s.to_string()).collect(),
            output: vec![output.to_string()],
            name: format!("{op}_{}", self.nodes.len()),
            op_type: op.into(),
            attribute,
            ..Default::default()
        });
    }

    /// A float initializer (a weight); returns its name.
    fn init(&mut self, name: &str, dims: &[usize], v: &[f64]) -> String {
        self.inits.push(f32_tensor(name, dims, v));
        name.to_string()
    }

    fn constant(&mut self, name: &str, t: TensorProto) -> String {
        let attr = AttributeProto {
            name: "value".into(),
            t: Some(t),
            r#type: attr_type::TENSOR,
            ..Default::default()
        };
        self.node("Constant", &[], name, vec![attr]);
        name.to_string()
    }

    /// A float `Constant` node; returns its output name.
    fn float_const(&mut self, name: &str, dims: &[usize], v: &[f64]) -> String {
        self.constant(name, f32_tensor(name, dims, v))
    }

    /// An int64 `Constant` node (indices); returns its output name.
    fn index_const(&mut self, name: &str, v: &[usize]) -> String {
        self.int64_const(name, &[v.len()], v.iter().map(|&i| i as i64))
    }

    /// The int64 `Constant` `[-1, shape…]` for `Reshape`.
    fn shape_const(&mut self, name: &str, shape: &[usize]) -> String {
        let v = std::iter::once(-1i64).chain(shape.iter().map(|&d| d as i64));
        self.int64_const(name, &[shape.len() + 1], v)
    }

    fn int64_const(&mut self, name: &str, dims: &[usize], v: impl Iterator<Item = i64>) -> String {
        let t = TensorProto {
            dims: dims.iter().map(|&d| d as i64).collect(),
            data_type: proto::INT64,
            name: name.into(),
            raw_data: v.flat_map(|x| x.to_le_bytes()).collect(),
            ..Default::default()
        };
        self.constant(name, t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{AvgPool2d, BatchNorm, Conv2d, ReluMask};
    use nalgebra::{DMatrix, DVector};

    fn dense(r: usize, c: usize, seed: f64) -> Layer {
        Layer::Dense(Affine::new(
            DMatrix::from_fn(r, c, |i, j| ((i * 7 + j * 3) as f64 * seed).sin()),
            DVector::from_fn(r, |i, _| (i as f64 * seed).cos()),
        ))
    }

    /// The op types of an export's graph, in order.
    fn ops(e: &OnnxExport) -> Vec<&str> {
        let g = e.model.graph.as_ref().unwrap();
        g.node.iter().map(|n| n.op_type.as_str()).collect()
    }

    #[test]
    fn vanished_layers_fold_and_counts_match() {
        // dense → relu(all linearized) → dense → relu(partial) → dense
        let mut net = Network::new(vec![4]);
        net.push(dense(5, 4, 0.3));
        net.push(Layer::Relu(ReluMask::all_linearized(5)));
        net.push(dense(6, 5, 0.7));
        net.push(Layer::Relu(ReluMask::from_bools(&[
            true, false, true, false, false, false,
        ])));
        net.push(dense(2, 6, 1.1));
        let g = export(&net, Encoding::Gathered).unwrap();
        assert_eq!(g.summary.folded_dense, 1);
        assert_eq!(g.summary.relu_elements, 2);
        assert_eq!(g.summary.layers[0].form, ReluForm::Vanished);
        assert_eq!(g.summary.layers[1].form, ReluForm::Gathered);
        assert_eq!(ops(&g).iter().filter(|o| **o == "Relu").count(), 1);
        // two Gemms left: the folded pair and the last one
        assert_eq!(ops(&g).iter().filter(|o| **o == "Gemm").count(), 2);
        let m = export(&net, Encoding::Masked).unwrap();
        assert_eq!(m.summary.relu_elements, 11);
        assert_eq!(m.summary.folded_dense, 0);
        // the bytes decode back to the same message
        let back = ModelProto::decode(&g.to_bytes()[..]).unwrap();
        assert_eq!(back, g.model);
    }

    #[test]
    fn split_encoding_keeps_the_function_with_relus_on_kept_units_only() {
        // normalization → flatten → dense → relu(partial) → dense → relu(partial) → dense:
        // the second dense reads two parts and writes two
        let mut net = Network::new(vec![1, 2, 2]);
        net.push(Layer::BatchNorm(BatchNorm {
            gamma: vec![1.0],
            beta: vec![0.0],
            mean: vec![0.3],
            var: vec![0.04],
            eps: 0.0,
        }));
        net.push(Layer::Flatten);
        net.push(dense(6, 4, 0.3));
        net.push(Layer::Relu(ReluMask::from_bools(&[
            true, false, false, true, true, false,
        ])));
        net.push(dense(5, 6, 0.7));
        net.push(Layer::Relu(ReluMask::from_bools(&[
            false, true, false, false, false,
        ])));
        net.push(dense(3, 5, 1.1));
        let e = export(&net, Encoding::Split).unwrap();
        assert_eq!(e.summary.relu_elements, 4);
        assert!(e.summary.layers.iter().all(|l| l.form == ReluForm::Split));
        let ops = ops(&e);
        // only ops maraboupy and onnx2pytorch read: no Gather, Concat or MatMul
        assert!(
            ops.iter()
                .all(|o| ["Constant", "Mul", "Add", "Flatten", "Gemm", "Relu"].contains(o)),
            "{ops:?}"
        );
        assert_eq!(ops.iter().filter(|o| **o == "Relu").count(), 2);
        // 2 (first dense, split out) + 2·2 (both parts in, both out) + 2 (last: two parts in)
        assert_eq!(ops.iter().filter(|o| **o == "Gemm").count(), 8);
        let back = crate::io::onnx::import(&e.to_bytes()).unwrap();
        for seed in 0..4 {
            let x: Vec<f64> = (0..4)
                .map(|i| ((i + seed * 5) as f64 * 0.77).sin())
                .collect();
            let (a, b) = (back.forward(&x).unwrap(), net.forward(&x).unwrap());
            // f32 weights
            assert!(
                a.iter().zip(&b).all(|(p, q)| (p - q).abs() < 1e-5),
                "{a:?} vs {b:?}"
            );
        }
        // a partially linearized ReLU not between dense layers: one error naming its node
        let mut cnn = Network::new(vec![1, 3, 3]);
        cnn.push(Layer::Conv2d(Conv2d {
            in_channels: 1,
            out_channels: 1,
            kernel: [1, 1],
            stride: [1, 1],
            padding: [0, 0],
            weight: vec![2.0],
            bias: vec![0.5],
        }));
        cnn.push(Layer::Relu(ReluMask::from_bools(&[
            true, false, true, false, true, false, true, false, true,
        ])));
        cnn.push(Layer::Flatten);
        cnn.push(dense(2, 9, 0.4));
        let err = export(&cnn, Encoding::Split).unwrap_err().to_string();
        assert!(
            err.starts_with("node 1: the split ONNX encoding needs"),
            "{err}"
        );
        // fully kept or fully linearized layers are fine anywhere
        cnn.nodes[1].layer = Layer::Relu(ReluMask::all_kept(9));
        assert_eq!(
            export(&cnn, Encoding::Split).unwrap().summary.relu_elements,
            9
        );
    }

    #[test]
    fn simplify_keeps_the_function_and_folds_batch_norm_into_conv() {
        let mut net = Network::new(vec![1, 4, 4]);
        let bn = |c: usize| {
            Layer::BatchNorm(BatchNorm {
                gamma: (0..c).map(|i| 1.0 + i as f64 * 0.5).collect(),
                beta: (0..c).map(|i| 0.1 * i as f64).collect(),
                mean: (0..c).map(|i| -0.2 * i as f64).collect(),
                var: (0..c).map(|i| 0.5 + i as f64).collect(),
                eps: 1e-5,
            })
        };
        net.push(bn(1)); // on the input: stays
        net.push(Layer::Conv2d(Conv2d {
            in_channels: 1,
            out_channels: 2,
            kernel: [3, 3],
            stride: [1, 1],
            padding: [1, 1],
            weight: (0..18).map(|i| (i as f64 - 9.0) / 7.0).collect(),
            bias: vec![0.1, -0.2],
        }));
        net.push(bn(2)); // folded
        net.push(Layer::Relu(ReluMask::from_bools(
            &(0..32).map(|i| i % 3 == 0).collect::<Vec<_>>(),
        )));
        net.push(Layer::AvgPool2d(AvgPool2d {
            kernel: [2, 2],
            stride: [2, 2],
        }));
        net.push(Layer::Flatten);
        net.push(dense(3, 8, 0.4));
        let (s, origin, bn_folded, _) = simplify(&net, Encoding::Gathered, true).unwrap();
        assert_eq!(bn_folded, 1);
        assert_eq!(s.nodes.len(), 6);
        assert_eq!(origin, vec![0, 1, 3, 4, 5, 6]);
        let x: Vec<f64> = (0..16).map(|i| (i as f64 * 0.37).sin()).collect();
        crate::tolerance::assert_close(
            &s.forward(&x).unwrap(),
            &net.forward(&x).unwrap(),
            crate::tolerance::Tolerance::Close,
            "simplified",
        );
    }

    #[test]
    fn a_fully_linearized_tail_keeps_the_output_last() {
        let mut net = Network::new(vec![3]);
        net.push(dense(2, 3, 0.5));
        net.push(Layer::Relu(ReluMask::all_linearized(2)));
        let (s, _, _, _) = simplify(&net, Encoding::Gathered, true).unwrap();
        assert_eq!(s.nodes.len(), 1);
        let x = [0.3, -1.0, 2.0];
        assert_eq!(s.forward(&x).unwrap(), net.forward(&x).unwrap());
    }
}
