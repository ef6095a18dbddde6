//! The network IR: an input shape and an ordered graph of layers.
//!
//! Values are numbered: value `0` is the network input, value `k + 1` the output of node `k`.
//! Node `k` reads the values listed in its `inputs`, all `<= k` (so the node order is a
//! topological order). The network's output is the last value. Shapes are without the batch
//! dimension: `[features]` for dense layers, `[channels, height, width]` for images.
//!
//! A masked ReLU computes `y_i = max(0, x_i)` on kept units and `y_i = x_i` on linearized ones:
//! the binarized form of SNL's `c ⊙ relu(x) + (1 − c) ⊙ x`. A scale node computes
//! `y_i = f_i · x_i` with constant factors: `snl-verify free` writes one with `f_i ∈ {0, 1}`
//! after a ReLU node to zero the units it shows stable inactive (see [`crate::free`]).
use nalgebra::{DMatrix, DVector};
use serde::{Deserialize, Serialize};

use crate::ir::mask::ReluMask;
use crate::ir::value::ValueId;
use crate::{Error, Result};

/// `y = W x + b`, with `W` of shape `(out, in)` (PyTorch `nn.Linear`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Affine {
    /// `(out, in)`.
    pub weight: DMatrix<f64>,
    /// `(out)`.
    pub bias: DVector<f64>,
}

impl Affine {
    /// An affine map from its parts.
    pub fn new(weight: DMatrix<f64>, bias: DVector<f64>) -> Self {
        Self { weight, bias }
    }
}

/// 2-D convolution (PyTorch `nn.Conv2d`, groups = 1, dilation = 1, zero padding).
///
/// Input `[in_channels, h, w]`, output `[out_channels, (h + 2p − k)/s + 1, (w + 2p − k)/s + 1]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Conv2d {
    /// Input channels.
    pub in_channels: usize,
    /// Output channels.
    pub out_channels: usize,
    /// Kernel `[kh, kw]`.
    pub kernel: [usize; 2],
    /// Stride `[sh, sw]`.
    pub stride: [usize; 2],
    /// Zero padding `[ph, pw]`.
    pub padding: [usize; 2],
    /// Row-major `[out_channels, in_channels, kh, kw]`.
    pub weight: Vec<f64>,
    /// `[out_channels]`.
    pub bias: Vec<f64>,
}

/// Batch normalization in inference form, per channel (dimension 0):
/// `y = gamma (x − mean) / sqrt(var + eps) + beta`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BatchNorm {
    /// Scale, per channel.
    pub gamma: Vec<f64>,
    /// Shift, per channel.
    pub beta: Vec<f64>,
    /// Running mean, per channel.
    pub mean: Vec<f64>,
    /// Running variance, per channel.
    pub var: Vec<f64>,
    /// Added to the variance.
    pub eps: f64,
}

impl BatchNorm {
    /// The per-channel `(scale, shift)` with `y = scale x + shift`.
    pub fn scale_shift(&self) -> (Vec<f64>, Vec<f64>) {
        let scale: Vec<f64> = (0..self.gamma.len())
            .map(|c| self.gamma[c] / (self.var[c] + self.eps).sqrt())
            .collect();
        let shift = (0..self.gamma.len())
            .map(|c| self.beta[c] - scale[c] * self.mean[c])
            .collect();
        (scale, shift)
    }

    /// Folds this batch norm into `layer`, the dense or conv layer whose output it reads:
    /// afterwards `layer` alone computes what the two did. Returns `false` (and leaves
    /// `layer` as it was) for any other layer.
    pub fn fold_into(&self, layer: &mut Layer) -> bool {
        let (scale, shift) = self.scale_shift();
        match layer {
            Layer::Dense(a) => {
                for r in 0..a.weight.nrows() {
                    a.weight.row_mut(r).scale_mut(scale[r]);
                    a.bias[r] = scale[r] * a.bias[r] + shift[r];
                }
            }
            Layer::Conv2d(c) => {
                let per = c.in_channels * c.kernel[0] * c.kernel[1];
                for oc in 0..c.out_channels {
                    for w in &mut c.weight[oc * per..(oc + 1) * per] {
                        *w *= scale[oc];
                    }
                    c.bias[oc] = scale[oc] * c.bias[oc] + shift[oc];
                }
            }
            _ => return false,
        }
        true
    }
}

/// Average pooling over `[c, h, w]` windows (PyTorch `nn.AvgPool2d`, no padding).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AvgPool2d {
    /// Window `[kh, kw]`.
    pub kernel: [usize; 2],
    /// Stride `[sh, sw]`.
    pub stride: [usize; 2],
}

/// One operation of the graph.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Layer {
    /// Affine map on a 1-D input.
    Dense(Affine),
    /// 2-D convolution on `[c, h, w]`.
    Conv2d(Conv2d),
    /// Batch normalization over dimension 0.
    BatchNorm(BatchNorm),
    /// Flattens to `[numel]`.
    Flatten,
    /// Reshapes to `shape` (same number of values).
    Reshape {
        /// The new shape.
        shape: Vec<usize>,
    },
    /// Sum of its two inputs (a residual connection).
    Add,
    /// Average pooling.
    AvgPool2d(AvgPool2d),
    /// Elementwise constant multiply `y_i = factor_i · x_i` (a diagonal linear map; the
    /// shape is kept). With factors in `{0, 1}` it is exact in floating point.
    Scale {
        /// One factor per unit of the input, row-major.
        factor: Vec<f64>,
    },
    /// ReLU on kept units, identity on linearized ones.
    Relu(ReluMask),
}

impl Layer {
    /// Short name for tables.
    pub fn kind(&self) -> &'static str {
        match self {
            Layer::Dense(_) => "dense",
            Layer::Conv2d(_) => "conv2d",
            Layer::BatchNorm(_) => "batch_norm",
            Layer::Flatten => "flatten",
            Layer::Reshape { .. } => "reshape",
            Layer::Add => "add",
            Layer::AvgPool2d(_) => "avg_pool2d",
            Layer::Scale { .. } => "scale",
            Layer::Relu(_) => "relu",
        }
    }

    /// Number of inputs the layer reads.
    pub fn arity(&self) -> usize {
        match self {
            Layer::Add => 2,
            _ => 1,
        }
    }

    /// Whether the layer is affine: everything but a ReLU with a kept unit.
    pub fn is_affine(&self) -> bool {
        match self {
            Layer::Relu(m) => m.kept() == 0,
            _ => true,
        }
    }
}

/// A node: a layer and the values it reads.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Node {
    /// The operation.
    pub layer: Layer,
    /// The values it reads.
    pub inputs: Vec<ValueId>,
}

/// A feed-forward network with masked ReLUs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Network {
    /// Input shape without the batch dimension.
    pub input_shape: Vec<usize>,
    /// Nodes in topological order.
    pub nodes: Vec<Node>,
}

/// Kept and total ReLUs of one layer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LayerReluCount {
    /// Node index of the ReLU.
    pub node: usize,
    /// Shape of the layer.
    pub shape: Vec<usize>,
    /// Units.
    pub total: usize,
    /// Kept units.
    pub kept: usize,
}

/// ReLU accounting of a network.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReluCounts {
    /// Units over all ReLU layers.
    pub total: usize,
    /// Kept units over all ReLU layers.
    pub kept: usize,
    /// One entry per ReLU layer, in node order.
    pub layers: Vec<LayerReluCount>,
}

/// Largest dense matrix [`Network::collapse`] builds (entries).
pub const COLLAPSE_MAX_ENTRIES: usize = 1 << 26;

/// Product of a shape's dimensions.
pub fn numel(shape: &[usize]) -> usize {
    shape.iter().product()
}

fn invalid(node: usize, reason: impl Into<String>) -> Error {
    Error::InvalidNode {
        node,
        reason: reason.into(),
    }
}

fn mismatch(node: usize, expected: Vec<usize>, got: &[usize]) -> Error {
    Error::ShapeMismatch {
        node,
        expected,
        got: got.to_vec(),
    }
}

fn image_shape(node: usize, s: &[usize], channels: usize) -> Result<[usize; 3]> {
    match *s {
        [c, h, w] if c == channels => Ok([c, h, w]),
        _ => Err(mismatch(node, vec![channels, 0, 0], s)),
    }
}

fn window_out(node: usize, size: usize, pad: usize, k: usize, s: usize) -> Result<usize> {
    if k == 0 || s == 0 {
        return Err(invalid(node, "kernel and stride must be positive"));
    }
    if size + 2 * pad < k {
        return Err(invalid(
            node,
            format!("kernel {k} larger than the padded input {}", size + 2 * pad),
        ));
    }
    Ok((size + 2 * pad - k) / s + 1)
}

impl Node {
    /// The output shape of this node, node `k`, given the shapes of values `0..=k`: checks
    /// its arity, that it reads only computed values, and its parameters. Reading a graph
    /// node by node through this keeps the whole check linear in the number of nodes.
    pub(crate) fn checked_output_shape(
        &self,
        k: usize,
        shapes: &[Vec<usize>],
    ) -> Result<Vec<usize>> {
        if self.inputs.len() != self.layer.arity() {
            return Err(invalid(
                k,
                format!(
                    "{} takes {} input(s), got {}",
                    self.layer.kind(),
                    self.layer.arity(),
                    self.inputs.len()
                ),
            ));
        }
        if let Some(&bad) = self
            .inputs
            .iter()
            .find(|&&i| i.index() > k || i.index() >= shapes.len())
        {
            return Err(invalid(
                k,
                format!("reads value {bad}, which is not computed before it"),
            ));
        }
        let ins: Vec<&[usize]> = self.inputs.iter().map(|&i| &shapes[i][..]).collect();
        self.output_shape(k, &ins)
    }

    /// The output shape given the input shapes, or why the node is inconsistent.
    fn output_shape(&self, node: usize, ins: &[&[usize]]) -> Result<Vec<usize>> {
        let s = ins[0];
        match &self.layer {
            Layer::Dense(a) => {
                if a.bias.len() != a.weight.nrows() {
                    return Err(invalid(
                        node,
                        format!(
                            "dense bias has {} entries for {} outputs",
                            a.bias.len(),
                            a.weight.nrows()
                        ),
                    ));
                }
                if s != [a.weight.ncols()] {
                    return Err(mismatch(node, vec![a.weight.ncols()], s));
                }
                Ok(vec![a.weight.nrows()])
            }
            Layer::Conv2d(c) => {
                let [_, h, w] = image_shape(node, s, c.in_channels)?;
                if c.weight.len() != c.out_channels * c.in_channels * c.kernel[0] * c.kernel[1]
                    || c.bias.len() != c.out_channels
                {
                    return Err(invalid(node, "conv2d weight or bias has the wrong length"));
                }
                Ok(vec![
                    c.out_channels,
                    window_out(node, h, c.padding[0], c.kernel[0], c.stride[0])?,
                    window_out(node, w, c.padding[1], c.kernel[1], c.stride[1])?,
                ])
            }
            Layer::BatchNorm(b) => {
                let ch = b.gamma.len();
                if [b.beta.len(), b.mean.len(), b.var.len()] != [ch; 3] {
                    return Err(invalid(node, "batch_norm parameters differ in length"));
                }
                if b.var.iter().any(|&v| v + b.eps <= 0.0) || b.eps.is_nan() || b.eps < 0.0 {
                    return Err(invalid(node, "batch_norm needs var + eps > 0"));
                }
                if s.first() != Some(&ch) {
                    let mut e = s.to_vec();
                    if e.is_empty() {
                        e.push(ch);
                    } else {
                        e[0] = ch;
                    }
                    return Err(mismatch(node, e, s));
                }
                Ok(s.to_vec())
            }
            Layer::Flatten => Ok(vec![numel(s)]),
            Layer::Reshape { shape } => {
                if numel(shape) != numel(s) {
                    return Err(mismatch(node, shape.clone(), s));
                }
                Ok(shape.clone())
            }
            Layer::Add => {
                if ins[1] != s {
                    return Err(mismatch(node, s.to_vec(), ins[1]));
                }
                Ok(s.to_vec())
            }
            Layer::AvgPool2d(p) => {
                let [c, h, w] = match *s {
                    [c, h, w] => [c, h, w],
                    _ => return Err(mismatch(node, vec![0, 0, 0], s)),
                };
                Ok(vec![
                    c,
                    window_out(node, h, 0, p.kernel[0], p.stride[0])?,
                    window_out(node, w, 0, p.kernel[1], p.stride[1])?,
                ])
            }
            Layer::Scale { factor } => {
                if factor.len() != numel(s) {
                    return Err(invalid(
                        node,
                        format!("scale has {} factors for {} inputs", factor.len(), numel(s)),
                    ));
                }
                Ok(s.to_vec())
            }
            Layer::Relu(m) => {
                if m.len() != numel(s) {
                    return Err(invalid(
                        node,
                        format!("relu mask has {} units for {} inputs", m.len(), numel(s)),
                    ));
                }
                Ok(s.to_vec())
            }
        }
    }

    /// Applies the layer to input values of the given shapes.
    fn apply(&self, ins: &[&[f64]], shapes: &[&[usize]], out_shape: &[usize]) -> Vec<f64> {
        let x = ins[0];
        match &self.layer {
            Layer::Dense(a) => {
                let y = &a.weight * DVector::from_column_slice(x) + &a.bias;
                y.as_slice().to_vec()
            }
            Layer::Conv2d(c) => conv2d(c, x, shapes[0], out_shape),
            Layer::BatchNorm(b) => {
                let (scale, shift) = b.scale_shift();
                let per = x.len() / b.gamma.len().max(1);
                x.iter()
                    .enumerate()
                    .map(|(i, &v)| scale[i / per] * v + shift[i / per])
                    .collect()
            }
            Layer::Flatten | Layer::Reshape { .. } => x.to_vec(),
            Layer::Add => x.iter().zip(ins[1]).map(|(a, b)| a + b).collect(),
            Layer::AvgPool2d(p) => avg_pool(p, x, shapes[0], out_shape),
            Layer::Scale { factor } => x.iter().zip(factor).map(|(v, f)| f * v).collect(),
            Layer::Relu(m) => x
                .iter()
                .enumerate()
                .map(|(i, &v)| if m.is_kept(i) { v.max(0.0) } else { v })
                .collect(),
        }
    }
}

fn conv2d(c: &Conv2d, x: &[f64], s: &[usize], o: &[usize]) -> Vec<f64> {
    let (h, w) = (s[1], s[2]);
    let (oh, ow) = (o[1], o[2]);
    let [kh, kw] = c.kernel;
    let mut y = vec![0.0; c.out_channels * oh * ow];
    for oc in 0..c.out_channels {
        for oy in 0..oh {
            for ox in 0..ow {
                let mut acc = c.bias[oc];
                for ic in 0..c.in_channels {
                    for ky in 0..kh {
                        let iy = (oy * c.stride[0] + ky) as isize - c.padding[0] as isize;
                        if iy < 0 || iy >= h as isize {
                            continue;
                        }
                        for kx in 0..kw {
                            let ix = (ox * c.stride[1] + kx) as isize - c.padding[1] as isize;
                            if ix < 0 || ix >= w as isize {
                                continue;
                            }
                            let wi = ((oc * c.in_channels + ic) * kh + ky) * kw + kx;
                            acc += c.weight[wi] * x[(ic * h + iy as usize) * w + ix as usize];
                        }
                    }
                }
                y[(oc * oh + oy) * ow + ox] = acc;
            }
        }
    }
    y
}

fn avg_pool(p: &AvgPool2d, x: &[f64], s: &[usize], o: &[usize]) -> Vec<f64> {
    let (h, w) = (s[1], s[2]);
    let (oh, ow) = (o[1], o[2]);
    let area = (p.kernel[0] * p.kernel[1]) as f64;
    let mut y = vec![0.0; s[0] * oh * ow];
    for c in 0..s[0] {
        for oy in 0..oh {
            for ox in 0..ow {
                let mut acc = 0.0;
                for ky in 0..p.kernel[0] {
                    for kx in 0..p.kernel[1] {
                        acc += x[(c * h + oy * p.stride[0] + ky) * w + ox * p.stride[1] + kx];
                    }
                }
                y[(c * oh + oy) * ow + ox] = acc / area;
            }
        }
    }
    y
}

/// The dense matrix of a conv, batch norm, average pooling or scale layer on an input of
/// shape `s` (output shape `o`), built from its parameters: every entry is a parameter, a
/// batch norm's f64 `scale`/`shift`, the f64 `1 / (kh·kw)`, or 0.
fn dense_of(layer: &Layer, s: &[usize], o: &[usize]) -> Result<Affine> {
    let (n_in, n_out) = (numel(s), numel(o));
    let entries = n_in.saturating_mul(n_out);
    if entries > COLLAPSE_MAX_ENTRIES {
        return Err(Error::TooLarge {
            what: "collapse",
            entries,
            limit: COLLAPSE_MAX_ENTRIES,
        });
    }
    let mut w = DMatrix::zeros(n_out, n_in);
    let mut b = DVector::zeros(n_out);
    match layer {
        Layer::Conv2d(c) => {
            let (h, wd, oh, ow) = (s[1], s[2], o[1], o[2]);
            let [kh, kw] = c.kernel;
            for oc in 0..c.out_channels {
                for oy in 0..oh {
                    for ox in 0..ow {
                        let row = (oc * oh + oy) * ow + ox;
                        b[row] = c.bias[oc];
                        for ic in 0..c.in_channels {
                            for ky in 0..kh {
                                let Some(iy) = (oy * c.stride[0] + ky)
                                    .checked_sub(c.padding[0])
                                    .filter(|&iy| iy < h)
                                else {
                                    continue;
                                };
                                for kx in 0..kw {
                                    let Some(ix) = (ox * c.stride[1] + kx)
                                        .checked_sub(c.padding[1])
                                        .filter(|&ix| ix < wd)
                                    else {
                                        continue;
                                    };
                                    let wi = ((oc * c.in_channels + ic) * kh + ky) * kw + kx;
                                    w[(row, (ic * h + iy) * wd + ix)] = c.weight[wi];
                                }
                            }
                        }
                    }
                }
            }
        }
        Layer::BatchNorm(bn) => {
            let (scale, shift) = bn.scale_shift();
            let per = n_in / bn.gamma.len().max(1);
            for i in 0..n_in {
                w[(i, i)] = scale[i / per];
                b[i] = shift[i / per];
            }
        }
        Layer::AvgPool2d(p) => {
            let (h, wd, oh, ow) = (s[1], s[2], o[1], o[2]);
            let inv = 1.0 / (p.kernel[0] * p.kernel[1]) as f64;
            for c in 0..s[0] {
                for oy in 0..oh {
                    for ox in 0..ow {
                        let row = (c * oh + oy) * ow + ox;
                        for ky in 0..p.kernel[0] {
                            for kx in 0..p.kernel[1] {
                                let (iy, ix) = (oy * p.stride[0] + ky, ox * p.stride[1] + kx);
                                w[(row, (c * h + iy) * wd + ix)] = inv;
                            }
                        }
                    }
                }
            }
        }
        Layer::Scale { factor } => {
            for (i, &f) in factor.iter().enumerate() {
                w[(i, i)] = f;
            }
        }
        _ => unreachable!("dense_of is for conv, batch norm, pooling and scale"),
    }
    Ok(Affine::new(w, b))
}

impl Network {
    /// An empty network (the identity) on inputs of `input_shape`.
    pub fn new(input_shape: Vec<usize>) -> Self {
        Self {
            input_shape,
            nodes: Vec::new(),
        }
    }

    /// Appends a layer reading the last value; returns its output value.
    pub fn push(&mut self, layer: Layer) -> ValueId {
        let last = ValueId::from_index(self.nodes.len());
        self.push_with(layer, vec![last])
    }

    /// Appends a layer reading the given values; returns its output value.
    pub fn push_with(&mut self, layer: Layer, inputs: Vec<ValueId>) -> ValueId {
        self.nodes.push(Node { layer, inputs });
        ValueId::from_index(self.nodes.len())
    }

    /// The shape of every value (`[0]` is the input shape), checking the whole graph.
    pub fn shapes(&self) -> Result<Vec<Vec<usize>>> {
        let mut shapes = Vec::with_capacity(self.nodes.len() + 1);
        shapes.push(self.input_shape.clone());
        for (k, node) in self.nodes.iter().enumerate() {
            let out = node.checked_output_shape(k, &shapes)?;
            shapes.push(out);
        }
        Ok(shapes)
    }

    /// Checks that the graph is consistent.
    pub fn validate(&self) -> Result<()> {
        self.shapes().map(|_| ())
    }

    /// The output shape.
    pub fn output_shape(&self) -> Result<Vec<usize>> {
        Ok(self.shapes()?.pop().expect("shapes holds the input"))
    }

    /// Reference forward pass in f64 on one input (flattened, row-major).
    pub fn forward(&self, x: &[f64]) -> Result<Vec<f64>> {
        let shapes = self.shapes()?;
        if x.len() != numel(&self.input_shape) {
            return Err(Error::InputLength {
                expected: numel(&self.input_shape),
                got: x.len(),
                shape: self.input_shape.clone(),
            });
        }
        let mut values = self.eval_range(&shapes, 0, x.to_vec(), self.nodes.len());
        Ok(values.pop().expect("at least the input"))
    }

    /// Every value of the forward pass (`[0]` is the input), for inspection.
    pub fn forward_values(&self, x: &[f64]) -> Result<Vec<Vec<f64>>> {
        let shapes = self.shapes()?;
        if x.len() != numel(&self.input_shape) {
            return Err(Error::InputLength {
                expected: numel(&self.input_shape),
                got: x.len(),
                shape: self.input_shape.clone(),
            });
        }
        Ok(self.eval_range(&shapes, 0, x.to_vec(), self.nodes.len()))
    }

    /// Evaluates values `start + 1 ..= end` given value `start`; the nodes in that range
    /// must read no value before `start`. Returns values `start ..= end`.
    fn eval_range(
        &self,
        shapes: &[Vec<usize>],
        start: usize,
        x: Vec<f64>,
        end: usize,
    ) -> Vec<Vec<f64>> {
        let mut values = vec![x];
        for k in start..end {
            let node = &self.nodes[k];
            let ins: Vec<&[f64]> = node
                .inputs
                .iter()
                .map(|&i| &values[i.index() - start][..])
                .collect();
            let in_shapes: Vec<&[usize]> = node.inputs.iter().map(|&i| &shapes[i][..]).collect();
            let y = node.apply(&ins, &in_shapes, &shapes[k + 1]);
            values.push(y);
        }
        values
    }

    /// ReLU accounting: total and kept units, overall and per ReLU layer.
    pub fn relu_counts(&self) -> Result<ReluCounts> {
        let shapes = self.shapes()?;
        let layers: Vec<LayerReluCount> = self
            .nodes
            .iter()
            .enumerate()
            .filter_map(|(k, n)| match &n.layer {
                Layer::Relu(m) => Some(LayerReluCount {
                    node: k,
                    shape: shapes[k + 1].clone(),
                    total: m.len(),
                    kept: m.kept(),
                }),
                _ => None,
            })
            .collect();
        Ok(ReluCounts {
            total: layers.iter().map(|l| l.total).sum(),
            kept: layers.iter().map(|l| l.kept).sum(),
            layers,
        })
    }

    /// Inserts `layer` as a new node reading value `v`, placed right after the node that
    /// computes `v` (first when `v` is the input); every node that read `v` reads the new
    /// node's output instead, and later values shift by one. Returns the new value (the
    /// one after `v`). With a shape-preserving `layer` that is the identity on `v`'s values
    /// the function is unchanged.
    pub fn insert_after(&mut self, v: ValueId, layer: Layer) -> ValueId {
        assert!(v.index() <= self.nodes.len(), "value {v} does not exist");
        for node in &mut self.nodes {
            for u in &mut node.inputs {
                if *u >= v {
                    *u = ValueId::from_index(u.index() + 1);
                }
            }
        }
        self.nodes.insert(
            v.index(),
            Node {
                layer,
                inputs: vec![v],
            },
        );
        ValueId::of_node(v.index())
    }

    /// Sets every ReLU mask to all-kept (`true`) or all-linearized (`false`).
    pub fn with_all_masks(mut self, kept: bool) -> Self {
        for n in &mut self.nodes {
            if let Layer::Relu(m) = &mut n.layer {
                *m = if kept {
                    ReluMask::all_kept(m.len())
                } else {
                    ReluMask::all_linearized(m.len())
                };
            }
        }
        self
    }

    /// Values `v` that separate the graph: no node after `v` reads a value before `v`.
    ///
    /// An edge `u → k + 1` (node `k` reads value `u`) crosses every value strictly between,
    /// so `v` is a cut when every edge leaving a value `u < v` ends at or before `v`. One
    /// sweep keeps the farthest end seen so far: linear in nodes plus edges (marking the
    /// crossed values edge by edge is quadratic on long skip connections).
    fn cut_values(&self) -> Vec<usize> {
        let n = self.nodes.len();
        // farthest[u] = the last value computed from a node reading value u
        let mut farthest: Vec<usize> = (0..=n).collect();
        for (k, node) in self.nodes.iter().enumerate() {
            for &u in &node.inputs {
                if u.index() <= k {
                    farthest[u] = farthest[u].max(k + 1);
                }
            }
        }
        let mut reach = 0; // farthest end of an edge leaving a value before v
        let mut cuts = Vec::new();
        for (v, &f) in farthest.iter().enumerate() {
            if reach <= v {
                cuts.push(v);
            }
            reach = reach.max(f);
        }
        cuts
    }

    /// Removes nodes, redirecting readers of a removed node's output to `redirect[k]`.
    fn without_nodes(&self, redirect: &[Option<ValueId>]) -> Network {
        let mut map = vec![ValueId::INPUT; self.nodes.len() + 1];
        let mut out = Network::new(self.input_shape.clone());
        for (k, node) in self.nodes.iter().enumerate() {
            match redirect[k] {
                Some(v) => map[k + 1] = map[v],
                None => {
                    let inputs = node.inputs.iter().map(|&i| map[i]).collect();
                    map[k + 1] = out.push_with(node.layer.clone(), inputs);
                }
            }
        }
        out
    }

    /// Folds each batch norm into the dense or conv layer before it, when that layer's
    /// output is read by the batch norm alone. The function computed is unchanged.
    pub fn fold_batch_norms(&self) -> Result<Network> {
        self.validate()?;
        let mut readers = vec![0usize; self.nodes.len() + 1];
        for node in &self.nodes {
            for &i in &node.inputs {
                readers[i] += 1;
            }
        }
        let mut net = self.clone();
        let mut redirect = vec![None; net.nodes.len()];
        #[allow(clippy::needless_range_loop)] // nodes[src_node] is mutated inside
        for k in 0..net.nodes.len() {
            let Layer::BatchNorm(bn) = &net.nodes[k].layer else {
                continue;
            };
            let src = net.nodes[k].inputs[0];
            let Some(src_node) = src.node() else {
                continue;
            };
            if readers[src] != 1 {
                continue;
            }
            let bn = bn.clone();
            if bn.fold_into(&mut net.nodes[src_node].layer) {
                redirect[k] = Some(src);
            }
        }
        Ok(net.without_nodes(&redirect))
    }

    /// Merges every run of layers with no kept ReLU into one dense affine map.
    ///
    /// The graph is cut at values every path passes through; each stretch between two
    /// cuts that holds no kept ReLU is affine, and consecutive affine stretches are
    /// replaced by one [`Layer::Dense`] (plus a [`Layer::Reshape`] when the stretch ends in
    /// a non-flat shape). Stretches with a kept ReLU are copied. A fully linearized network
    /// collapses to a single affine map. The dense matrices are built by evaluating the
    /// stretch on the unit vectors, so this is for small networks
    /// ([`COLLAPSE_MAX_ENTRIES`]).
    pub fn collapse(&self) -> Result<Network> {
        let shapes = self.shapes()?;
        let cuts = self.cut_values();
        let affine_stretch =
            |a: usize, b: usize| self.nodes[a..b].iter().all(|n| n.layer.is_affine());
        let mut out = Network::new(self.input_shape.clone());
        let mut map = vec![ValueId::INPUT; self.nodes.len() + 1];
        let mut i = 0;
        while i + 1 < cuts.len() {
            let (a, mut b) = (cuts[i], cuts[i + 1]);
            if affine_stretch(a, b) {
                let mut j = i + 1;
                while j + 1 < cuts.len() && affine_stretch(cuts[j], cuts[j + 1]) {
                    j += 1;
                }
                b = cuts[j];
                let affine = self.affine_between(&shapes, a, b)?;
                let mut src = map[a];
                if shapes[a].len() != 1 {
                    src = out.push_with(Layer::Flatten, vec![src]);
                }
                let mut v = out.push_with(Layer::Dense(affine), vec![src]);
                if shapes[b].len() != 1 {
                    v = out.push(Layer::Reshape {
                        shape: shapes[b].clone(),
                    });
                }
                map[b] = v;
                i = j;
            } else {
                for k in a..b {
                    let node = &self.nodes[k];
                    let inputs = node.inputs.iter().map(|&u| map[u]).collect();
                    map[k + 1] = out.push_with(node.layer.clone(), inputs);
                }
                i += 1;
            }
        }
        Ok(out)
    }

    /// The same function over flat vectors with only [`Layer::Dense`], [`Layer::Relu`] and
    /// [`Layer::Add`] nodes: convolutions, batch norms, poolings and scales become dense
    /// matrices (each node on its own, so at most [`COLLAPSE_MAX_ENTRIES`] entries each),
    /// flatten and reshape disappear, and the input shape becomes `[numel]`. This is the form
    /// the LP, MILP and SMT encodings read.
    ///
    /// The matrices are built from the layers' parameters, never by evaluating the layers,
    /// and no two layers are multiplied together: every entry is a parameter or exactly 0,
    /// so in real arithmetic the dense form is the network itself, with two exceptions
    /// where the IR's own f64 semantics already rounds a constant:
    ///
    /// * batch norm is the diagonal map `scale x + shift` with the f64 `(scale, shift)` of
    ///   [`BatchNorm::scale_shift`] (the constants [`Network::forward`] uses;
    ///   `gamma / sqrt(var + eps)` itself is irrational in general);
    /// * average pooling weighs each window entry by the f64 nearest to `1 / (kh·kw)`:
    ///   exact when `kh·kw` is a power of two, otherwise within a relative `2⁻⁵³` of it.
    pub fn to_dense(&self) -> Result<Network> {
        let shapes = self.shapes()?;
        let mut out = Network::new(vec![numel(&self.input_shape)]);
        let mut map = vec![ValueId::INPUT; self.nodes.len() + 1];
        for (k, node) in self.nodes.iter().enumerate() {
            let inputs: Vec<ValueId> = node.inputs.iter().map(|&u| map[u]).collect();
            map[k + 1] = match &node.layer {
                Layer::Flatten | Layer::Reshape { .. } => inputs[0],
                Layer::Dense(_) | Layer::Relu(_) | Layer::Add => {
                    out.push_with(node.layer.clone(), inputs)
                }
                Layer::Conv2d(_)
                | Layer::BatchNorm(_)
                | Layer::AvgPool2d(_)
                | Layer::Scale { .. } => {
                    let affine = dense_of(&node.layer, &shapes[node.inputs[0]], &shapes[k + 1])?;
                    out.push_with(Layer::Dense(affine), inputs)
                }
            };
        }
        if map[self.nodes.len()] != ValueId::from_index(out.nodes.len()) {
            // the network ends in a flatten or reshape of an earlier value: keep its order
            // by an explicit identity so that the output is the last value
            let v = map[self.nodes.len()];
            let n = numel(shapes.last().expect("output"));
            out.push_with(
                Layer::Dense(Affine::new(DMatrix::identity(n, n), DVector::zeros(n))),
                vec![v],
            );
        }
        Ok(out)
    }

    /// The affine map from value `a` (flattened) to value `b` (flattened), valid when the
    /// nodes between are affine and read nothing before `a`.
    fn affine_between(&self, shapes: &[Vec<usize>], a: usize, b: usize) -> Result<Affine> {
        let (n_in, n_out) = (numel(&shapes[a]), numel(&shapes[b]));
        let entries = n_in.saturating_mul(n_out);
        if entries > COLLAPSE_MAX_ENTRIES {
            return Err(Error::TooLarge {
                what: "collapse",
                entries,
                limit: COLLAPSE_MAX_ENTRIES,
            });
        }
        let eval = |x: Vec<f64>| self.eval_range(shapes, a, x, b).pop().expect("value b");
        let bias = DVector::from_vec(eval(vec![0.0; n_in]));
        let mut weight = DMatrix::zeros(n_out, n_in);
        for j in 0..n_in {
            let mut e = vec![0.0; n_in];
            e[j] = 1.0;
            let col = DVector::from_vec(eval(e)) - &bias;
            weight.set_column(j, &col);
        }
        Ok(Affine::new(weight, bias))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::value::ids;
    use crate::tolerance::{assert_close, Tolerance};

    fn dense(rows: usize, cols: usize, w: &[f64], b: &[f64]) -> Layer {
        Layer::Dense(Affine::new(
            DMatrix::from_row_slice(rows, cols, w),
            DVector::from_column_slice(b),
        ))
    }

    #[test]
    fn dense_relu_dense_by_hand() {
        // h = W1 x + b1 = [1*1 + 2*(-1) + 0, -1*1 + 1*(-1) + 0.5] = [-1, -1.5]
        // relu with unit 0 kept, unit 1 linearized: [0, -1.5]
        // y = [2, 1] . [0, -1.5] + 1 = -0.5
        let mut net = Network::new(vec![2]);
        net.push(dense(2, 2, &[1.0, 2.0, -1.0, 1.0], &[0.0, 0.5]));
        net.push(Layer::Relu(ReluMask::from_bools(&[true, false])));
        net.push(dense(1, 2, &[2.0, 1.0], &[1.0]));
        assert_eq!(net.forward(&[1.0, -1.0]).unwrap(), vec![-0.5]);
        // all kept: y = 2*0 + 1*0 + 1 = 1
        let plain = net.clone().with_all_masks(true);
        assert_eq!(plain.forward(&[1.0, -1.0]).unwrap(), vec![1.0]);
    }

    #[test]
    fn conv_pool_bn_by_hand() {
        // 1x3x3 input 1..9, 2x2 kernel of ones, stride 1, no padding:
        // [[1+2+4+5, 2+3+5+6], [4+5+7+8, 5+6+8+9]] = [[12, 16], [24, 28]] (+ bias 1)
        let mut net = Network::new(vec![1, 3, 3]);
        net.push(Layer::Conv2d(Conv2d {
            in_channels: 1,
            out_channels: 1,
            kernel: [2, 2],
            stride: [1, 1],
            padding: [0, 0],
            weight: vec![1.0; 4],
            bias: vec![1.0],
        }));
        let x: Vec<f64> = (1..=9).map(f64::from).collect();
        assert_eq!(net.forward(&x).unwrap(), vec![13.0, 17.0, 25.0, 29.0]);
        // global average pool: (13 + 17 + 25 + 29) / 4 = 21
        net.push(Layer::AvgPool2d(AvgPool2d {
            kernel: [2, 2],
            stride: [2, 2],
        }));
        assert_eq!(net.forward(&x).unwrap(), vec![21.0]);
        // batch norm: 2 (21 - 1) / sqrt(3 + 1) + 0.5 = 20.5
        net.push(Layer::BatchNorm(BatchNorm {
            gamma: vec![2.0],
            beta: vec![0.5],
            mean: vec![1.0],
            var: vec![3.0],
            eps: 1.0,
        }));
        assert_eq!(net.forward(&x).unwrap(), vec![20.5]);
    }

    #[test]
    fn conv_padding_and_stride_by_hand() {
        // 1x2x2 input [[1,2],[3,4]], 3x3 kernel of ones, padding 1, stride 2:
        // one output per position (0,0): the window covers the whole input: 10
        let mut net = Network::new(vec![1, 2, 2]);
        net.push(Layer::Conv2d(Conv2d {
            in_channels: 1,
            out_channels: 1,
            kernel: [3, 3],
            stride: [2, 2],
            padding: [1, 1],
            weight: vec![1.0; 9],
            bias: vec![0.0],
        }));
        assert_eq!(net.output_shape().unwrap(), vec![1, 1, 1]);
        assert_eq!(net.forward(&[1.0, 2.0, 3.0, 4.0]).unwrap(), vec![10.0]);
    }

    #[test]
    fn residual_add_reads_an_earlier_value() {
        // y = relu(x) + x with x = [-2, 3] -> [0 - 2, 3 + 3] = [-2, 6]
        let mut net = Network::new(vec![2]);
        let r = net.push(Layer::Relu(ReluMask::all_kept(2)));
        net.push_with(Layer::Add, vec![r, ValueId::INPUT]);
        assert_eq!(net.forward(&[-2.0, 3.0]).unwrap(), vec![-2.0, 6.0]);
        // value 0 is read after the relu, so only 0 and the output separate the graph
        assert_eq!(net.cut_values(), vec![0, 2]);
    }

    /// The obviously correct, quadratic twin of `cut_values`: mark what each edge crosses.
    fn cut_values_slow(net: &Network) -> Vec<usize> {
        let n = net.nodes.len();
        let mut cut = vec![true; n + 1];
        for (k, node) in net.nodes.iter().enumerate() {
            for &u in &node.inputs {
                for c in cut.iter_mut().take(k + 1).skip(u.index() + 1) {
                    *c = false;
                }
            }
        }
        (0..=n).filter(|&v| cut[v]).collect()
    }

    #[test]
    fn cut_values_sweep_matches_marking_every_crossed_value() {
        // residual blocks of every span, nested and side by side, over a 2-unit value
        for seed in 0..50usize {
            let mut net = Network::new(vec![2]);
            for k in 0..12 {
                let v = net.nodes.len();
                if (seed + k * 7) % 3 == 0 && v > 0 {
                    let back = (seed * 31 + k * 13) % (v + 1);
                    net.push_with(Layer::Add, ids(&[v, back]));
                } else {
                    net.push(Layer::Relu(ReluMask::all_kept(2)));
                }
            }
            net.validate().unwrap();
            assert_eq!(net.cut_values(), cut_values_slow(&net), "seed {seed}");
        }
    }

    #[test]
    fn shape_errors_are_typed() {
        let mut net = Network::new(vec![3]);
        net.push(dense(1, 2, &[1.0, 1.0], &[0.0]));
        match net.forward(&[0.0; 3]) {
            Err(Error::ShapeMismatch {
                node: 0,
                expected,
                got,
            }) => {
                assert_eq!((expected, got), (vec![2], vec![3]));
            }
            other => panic!("expected a shape mismatch, got {other:?}"),
        }
        let mut net = Network::new(vec![2]);
        net.push_with(Layer::Add, ids(&[0, 2]));
        assert!(matches!(
            net.validate(),
            Err(Error::InvalidNode { node: 0, .. })
        ));
        let net = Network::new(vec![2]);
        assert!(matches!(
            net.forward(&[1.0]),
            Err(Error::InputLength { .. })
        ));
    }

    #[test]
    fn counts_per_layer() {
        let mut net = Network::new(vec![3]);
        net.push(Layer::Relu(ReluMask::from_bools(&[true, false, true])));
        net.push(dense(2, 3, &[0.0; 6], &[0.0; 2]));
        net.push(Layer::Relu(ReluMask::all_linearized(2)));
        let c = net.relu_counts().unwrap();
        assert_eq!((c.total, c.kept), (5, 2));
        assert_eq!(c.layers[0].node, 0);
        assert_eq!(
            (c.layers[1].node, c.layers[1].total, c.layers[1].kept),
            (2, 2, 0)
        );
    }

    #[test]
    fn fold_batch_norm_keeps_the_function() {
        let mut net = Network::new(vec![2]);
        net.push(dense(2, 2, &[1.0, -2.0, 0.5, 3.0], &[0.1, -0.2]));
        net.push(Layer::BatchNorm(BatchNorm {
            gamma: vec![1.5, -0.5],
            beta: vec![0.25, 1.0],
            mean: vec![0.3, -0.7],
            var: vec![2.0, 0.5],
            eps: 1e-5,
        }));
        net.push(Layer::Relu(ReluMask::all_kept(2)));
        let folded = net.fold_batch_norms().unwrap();
        assert_eq!(folded.nodes.len(), 2);
        for x in [[0.3, -1.2], [2.0, 0.7], [-1.0, -1.0]] {
            assert_close(
                &folded.forward(&x).unwrap(),
                &net.forward(&x).unwrap(),
                Tolerance::Close,
                "folded batch norm",
            );
        }
    }

    /// A scale node inserted after a value takes over its readers; a 0/1 factor zeroes
    /// exactly those units.
    #[test]
    fn insert_after_rewires_the_readers() {
        // x → dense (v1) → relu (v2) → add(v2, v1) (v3)
        let mut net = Network::new(vec![2]);
        let h = net.push(dense(2, 2, &[1.0, 0.0, 0.0, 1.0], &[0.0, 0.0]));
        let r = net.push(Layer::Relu(ReluMask::all_kept(2)));
        net.push_with(Layer::Add, vec![r, h]);
        let x = [-1.0, 3.0];
        assert_eq!(net.forward(&x).unwrap(), vec![-1.0, 6.0]);
        let v = net.insert_after(
            r,
            Layer::Scale {
                factor: vec![1.0, 0.0],
            },
        );
        assert_eq!(v, ValueId::from_index(3));
        assert_eq!(net.nodes[2].inputs, ids(&[2]));
        assert_eq!(net.nodes[3].inputs, ids(&[3, 1]));
        // relu gives [0, 3], the scale [0, 0], plus the dense's [-1, 3]
        assert_eq!(net.forward(&x).unwrap(), vec![-1.0, 3.0]);
        let bad = Layer::Scale { factor: vec![1.0] };
        net.insert_after(ValueId::INPUT, bad);
        assert!(matches!(
            net.validate(),
            Err(Error::InvalidNode { node: 0, .. })
        ));
    }

    #[test]
    fn to_dense_unrolls_conv_bn_pool_scale_and_keeps_the_function() {
        let mut net = Network::new(vec![2, 3, 3]);
        net.push(Layer::Conv2d(Conv2d {
            in_channels: 2,
            out_channels: 2,
            kernel: [2, 2],
            stride: [1, 1],
            padding: [1, 1],
            weight: (0..16).map(|i| (i as f64 - 7.5) / 4.0).collect(),
            bias: vec![0.5, -0.5],
        }));
        net.push(Layer::BatchNorm(BatchNorm {
            gamma: vec![1.5, -0.5],
            beta: vec![0.25, 1.0],
            mean: vec![0.3, -0.7],
            var: vec![2.0, 0.5],
            eps: 1e-5,
        }));
        let r = net.push(Layer::Relu(ReluMask::from_bools(
            &(0..32).map(|i| i % 2 == 0).collect::<Vec<_>>(),
        )));
        net.push_with(Layer::Add, vec![r, r]);
        net.push(Layer::Scale {
            factor: (0..32).map(|i| [0.0, 1.0, -0.75][i % 3]).collect(),
        });
        net.push(Layer::AvgPool2d(AvgPool2d {
            kernel: [2, 2],
            stride: [2, 2],
        }));
        net.push(Layer::Flatten);
        let d = net.to_dense().unwrap();
        assert!(d
            .nodes
            .iter()
            .all(|n| matches!(n.layer, Layer::Dense(_) | Layer::Relu(_) | Layer::Add)));
        assert_eq!(d.input_shape, vec![18]);
        for seed in 0..5 {
            let x: Vec<f64> = (0..18)
                .map(|i| ((i * 7 + seed * 13) % 11) as f64 / 5.0 - 1.0)
                .collect();
            assert_close(
                &d.forward(&x).unwrap(),
                &net.forward(&x).unwrap(),
                Tolerance::Close,
                "to_dense",
            );
        }
    }

    /// Issue 17, item 7a: the dense form is the layers' parameters, bit for bit — not a
    /// difference of f64 evaluations, which loses a weight of `2⁻⁶⁰` next to a bias of 1 (and
    /// batch norm's `2⁻⁵⁴` scale next to a shift of 1).
    #[test]
    fn to_dense_is_the_parameters_bit_for_bit() {
        let tiny = 2f64.powi(-60);
        let conv = Conv2d {
            in_channels: 1,
            out_channels: 2,
            kernel: [2, 2],
            stride: [1, 1],
            padding: [1, 1],
            weight: vec![tiny, 3.0, -0.5, 1.25, 2.0, -tiny, 0.0, 7.0],
            bias: vec![1.0, -2.0],
        };
        let bn = BatchNorm {
            gamma: vec![2f64.powi(-54), 0.5],
            beta: vec![1.0, 3.0],
            mean: vec![0.0, 2.0],
            var: vec![1.0, 1.0],
            eps: 0.0,
        };
        let factor: Vec<f64> = (0..8).map(|i| [0.0, 1.0, -0.75, tiny][i % 4]).collect();
        let mut net = Network::new(vec![1, 2, 2]);
        net.push(Layer::Conv2d(conv.clone())); // [2, 3, 3]
        net.push(Layer::BatchNorm(bn.clone()));
        net.push(Layer::AvgPool2d(AvgPool2d {
            kernel: [2, 2],
            stride: [1, 1],
        })); // [2, 2, 2]
        net.push(Layer::Scale {
            factor: factor.clone(),
        });
        net.push(Layer::Flatten);
        let d = net.to_dense().unwrap();
        let m: Vec<&Affine> = d
            .nodes
            .iter()
            .map(|n| match &n.layer {
                Layer::Dense(a) => a,
                l => panic!("{l:?}"),
            })
            .collect();
        // one dense node per layer, each reading the one before; the flatten disappears
        assert_eq!(m.len(), 4);
        for (k, n) in d.nodes.iter().enumerate() {
            assert_eq!(n.inputs, ids(&[k]));
        }
        let bits = |a: &Affine| -> Vec<u64> {
            a.weight
                .iter()
                .chain(a.bias.iter())
                .map(|v| v.to_bits())
                .collect()
        };
        // conv: weight (oc, ic, ky, kx) at row (oc, oy, ox), column (ic, iy, ix) with
        // iy = oy + ky − 1, ix = ox + kx − 1 inside the 2×2 input
        let mut w = DMatrix::zeros(18, 4);
        for oc in 0..2 {
            for (oy, ox, ky, kx) in (0..81).map(|i| (i / 27, i / 9 % 3, i / 3 % 3, i % 3)) {
                let (iy, ix) = (oy + ky, ox + kx);
                if ky < 2 && kx < 2 && (1..3).contains(&iy) && (1..3).contains(&ix) {
                    w[(oc * 9 + oy * 3 + ox, (iy - 1) * 2 + ix - 1)] =
                        conv.weight[oc * 4 + ky * 2 + kx];
                }
            }
        }
        let b = DVector::from_fn(18, |r, _| conv.bias[r / 9]);
        assert_eq!(bits(m[0]), bits(&Affine::new(w, b)));
        // batch norm: diagonal scale, shift, per channel
        let (scale, shift) = bn.scale_shift();
        assert_eq!((scale[0], shift[0]), (2f64.powi(-54), 1.0));
        let w = DMatrix::from_fn(18, 18, |r, c| if r == c { scale[r / 9] } else { 0.0 });
        let b = DVector::from_fn(18, |r, _| shift[r / 9]);
        assert_eq!(bits(m[1]), bits(&Affine::new(w, b)));
        // 2×2 average pooling: 1/4 on each window
        let w = DMatrix::from_fn(8, 18, |r, c| {
            let (ch, oy, ox) = (r / 4, r / 2 % 2, r % 2);
            let (cc, iy, ix) = (c / 9, c / 3 % 3, c % 3);
            let inside = cc == ch && (oy..oy + 2).contains(&iy) && (ox..ox + 2).contains(&ix);
            if inside {
                0.25
            } else {
                0.0
            }
        });
        assert_eq!(bits(m[2]), bits(&Affine::new(w, DVector::zeros(8))));
        // scale: diagonal factors
        let w = DMatrix::from_fn(8, 8, |r, c| if r == c { factor[r] } else { 0.0 });
        assert_eq!(bits(m[3]), bits(&Affine::new(w, DVector::zeros(8))));
    }

    #[test]
    fn collapse_of_an_image_input_flattens_first() {
        // found by linearize's c ≡ 0 property test: a stretch starting at a [c, h, w] value
        let mut net = Network::new(vec![1, 2, 2]);
        net.push(Layer::Relu(ReluMask::all_linearized(4)));
        net.push(Layer::Flatten);
        net.push(dense(1, 4, &[1.0, 2.0, 3.0, 4.0], &[0.5]));
        let c = net.collapse().unwrap();
        let kinds: Vec<&str> = c.nodes.iter().map(|n| n.layer.kind()).collect();
        assert_eq!(kinds, ["flatten", "dense"]);
        assert_eq!(c.forward(&[1.0, -1.0, 0.5, 2.0]).unwrap(), vec![9.0]);
    }

    #[test]
    fn collapse_keeps_kept_relus_and_merges_the_rest() {
        let mut net = Network::new(vec![2]);
        net.push(dense(
            3,
            2,
            &[1.0, 2.0, -1.0, 0.5, 0.0, 1.0],
            &[0.0, 1.0, -1.0],
        ));
        net.push(Layer::Relu(ReluMask::all_linearized(3)));
        net.push(dense(2, 3, &[1.0, 1.0, 1.0, -1.0, 2.0, 0.0], &[0.5, 0.0]));
        net.push(Layer::Relu(ReluMask::from_bools(&[true, false])));
        net.push(dense(1, 2, &[1.0, -3.0], &[0.0]));
        let c = net.collapse().unwrap();
        let kinds: Vec<&str> = c.nodes.iter().map(|n| n.layer.kind()).collect();
        assert_eq!(kinds, ["dense", "relu", "dense"]);
        for x in [[0.3, -1.2], [2.0, 0.7], [-1.0, -1.0]] {
            assert_close(
                &c.forward(&x).unwrap(),
                &net.forward(&x).unwrap(),
                Tolerance::Close,
                "collapsed",
            );
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]
        /// A conv of any kernel, stride and padding, with any finite weights (tiny ones next
        /// to large biases included): every entry of its dense matrix is the weight whose
        /// window position reads that input, bit for bit, and each row's bias is the
        /// channel's bias.
        #[test]
        fn to_dense_places_every_conv_weight(
            (ic, oc, h, w) in (1usize..3, 1usize..3, 1usize..5, 1usize..5),
            (kh, kw, sh, sw, ph, pw) in (1usize..3, 1usize..3, 1usize..3, 1usize..3, 0usize..2, 0usize..2),
            seed in proptest::prelude::any::<u64>(),
        ) {
            proptest::prop_assume!(h + 2 * ph >= kh && w + 2 * pw >= kw);
            let mut state = seed;
            let mut next = || {
                state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                // any sign, magnitudes from 2^-70 to 2^10
                let m = ((state >> 11) as f64 / (1u64 << 53) as f64) + 0.5;
                let e = ((state >> 3) % 80) as i32 - 70;
                if state & 1 == 1 { -m * 2f64.powi(e) } else { m * 2f64.powi(e) }
            };
            let conv = Conv2d {
                in_channels: ic,
                out_channels: oc,
                kernel: [kh, kw],
                stride: [sh, sw],
                padding: [ph, pw],
                weight: (0..oc * ic * kh * kw).map(|_| next()).collect(),
                bias: (0..oc).map(|_| 1e3 * next().signum()).collect(),
            };
            let mut net = Network::new(vec![ic, h, w]);
            net.push(Layer::Conv2d(conv.clone()));
            let o = net.output_shape().unwrap();
            let d = net.to_dense().unwrap();
            let Layer::Dense(a) = &d.nodes[0].layer else { panic!("{d:?}") };
            let (oh, ow) = (o[1], o[2]);
            let mut expected = DMatrix::<f64>::zeros(oc * oh * ow, ic * h * w);
            for (r, (c, y, x)) in (0..oc * oh * ow).map(|r| (r, (r / (oh * ow), r / ow % oh, r % ow))) {
                proptest::prop_assert_eq!(a.bias[r].to_bits(), conv.bias[c].to_bits());
                for (i, ky, kx) in (0..ic * kh * kw).map(|t| (t / (kh * kw), t / kw % kh, t % kw)) {
                    let (iy, ix) = ((y * sh + ky) as isize - ph as isize, (x * sw + kx) as isize - pw as isize);
                    if (0..h as isize).contains(&iy) && (0..w as isize).contains(&ix) {
                        let col = (i * h + iy as usize) * w + ix as usize;
                        expected[(r, col)] = conv.weight[((c * ic + i) * kh + ky) * kw + kx];
                    }
                }
            }
            let bits = |m: &DMatrix<f64>| m.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
            proptest::prop_assert_eq!(bits(&a.weight), bits(&expected));
        }
    }
}
