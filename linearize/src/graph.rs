//! `SnlNet`: a libtorch network whose structure mirrors the IR node for node, so that
//! export to [`snl_theory::Network`] and import from it are one-to-one.
//!
//! Values are numbered as in the IR: `0` is the input, `k + 1` the output of node `k`.
//! Node `0` is always the input normalization `(x − mean) / std` (exported as a batch
//! norm with `eps = 0`), so trained models take raw `[0, 1]` pixels.
use std::collections::BTreeMap;

use nalgebra::{DMatrix, DVector};
use snl_theory::{self as ir, Layer, ReluMask};
use tch::{nn, nn::ModuleT, Device, Kind, Tensor};

use crate::fused::{self, Kernels};
use crate::masked::{is_mask_var, MaskGranularity, MaskedRelu};

/// One libtorch operation.
#[derive(Debug)]
pub enum Op {
    /// `(x − mean) / std` per channel, fixed.
    Normalize {
        /// `[1, C, 1, …]`.
        mean: Tensor,
        /// `[1, C, 1, …]`.
        std: Tensor,
    },
    /// 2-D convolution (square kernel, equal stride and padding on both axes).
    Conv {
        /// The layer.
        conv: nn::Conv2D,
        /// Stride.
        stride: i64,
        /// Zero padding.
        padding: i64,
    },
    /// Affine map on `[N, F]`.
    Linear(nn::Linear),
    /// Batch normalization (running statistics in eval mode).
    BatchNorm {
        /// The layer.
        bn: nn::BatchNorm,
        /// Added to the variance.
        eps: f64,
    },
    /// SNL's masked ReLU.
    Relu(MaskedRelu),
    /// Sum of two values.
    Add,
    /// Average pooling.
    AvgPool {
        /// Window.
        kernel: [i64; 2],
        /// Stride.
        stride: [i64; 2],
    },
    /// `[N, …] → [N, F]`.
    Flatten,
}

/// A node: an operation and the values it reads.
#[derive(Debug)]
pub struct TorchNode {
    /// The operation.
    pub op: Op,
    /// Values read.
    pub inputs: Vec<usize>,
}

/// A network built on a `VarStore`, structured like the IR.
#[derive(Debug)]
pub struct SnlNet {
    /// Owns every trainable variable (and batch-norm running statistics).
    pub vs: nn::VarStore,
    /// Input shape without the batch dimension.
    pub input_shape: Vec<i64>,
    /// Nodes in topological order.
    pub nodes: Vec<TorchNode>,
    /// Shape of every value without the batch dimension.
    pub shapes: Vec<Vec<i64>>,
    /// Evaluate every ReLU as a plain `relu(x)`, ignoring the masks (benchmarks).
    pub plain_relu: bool,
    /// Reference or fused kernels for the ReLUs (and a 2×2 average pool right after one).
    pub kernels: Kernels,
    last_use: Vec<usize>,
}

/// Builds an [`SnlNet`] layer by layer, tracking shapes.
pub struct Builder {
    vs: nn::VarStore,
    nodes: Vec<TorchNode>,
    shapes: Vec<Vec<i64>>,
    granularity: MaskGranularity,
}

impl Builder {
    /// Starts a network on `device` with inputs of `input_shape`, normalized per channel.
    pub fn new(
        device: Device,
        input_shape: &[i64],
        mean: &[f32],
        std: &[f32],
        granularity: MaskGranularity,
    ) -> Self {
        let mut b = Self {
            vs: nn::VarStore::new(device),
            nodes: Vec::new(),
            shapes: vec![input_shape.to_vec()],
            granularity,
        };
        let mut view = vec![1i64, input_shape[0]];
        view.extend(std::iter::repeat_n(1, input_shape.len() - 1));
        let mean = Tensor::from_slice(mean)
            .view(view.as_slice())
            .to_device(device);
        let std = Tensor::from_slice(std)
            .view(view.as_slice())
            .to_device(device);
        b.push(Op::Normalize { mean, std }, vec![0], input_shape.to_vec());
        b
    }

    fn push(&mut self, op: Op, inputs: Vec<usize>, shape: Vec<i64>) -> usize {
        self.nodes.push(TorchNode { op, inputs });
        self.shapes.push(shape);
        self.nodes.len()
    }

    /// The VarStore path for a dotted name (`layer1.0.conv1`).
    fn path(&self, name: &str) -> nn::Path<'_> {
        name.split('.').fold(self.vs.root(), |p, part| p / part)
    }

    /// The shape of value `v`.
    pub fn shape(&self, v: usize) -> &[i64] {
        &self.shapes[v]
    }

    /// The last value.
    pub fn last(&self) -> usize {
        self.nodes.len()
    }

    /// `Conv2d(kernel k, stride s, padding p)` on value `v`.
    #[allow(clippy::too_many_arguments)]
    pub fn conv(
        &mut self,
        name: &str,
        v: usize,
        out: i64,
        k: i64,
        s: i64,
        p: i64,
        bias: bool,
    ) -> usize {
        let [c, h, w] = self.shapes[v][..] else {
            panic!("conv on a non-image value")
        };
        let cfg = nn::ConvConfig {
            stride: s,
            padding: p,
            bias,
            ..Default::default()
        };
        let conv = nn::conv2d(self.path(name), c, out, k, cfg);
        let o = |n: i64| (n + 2 * p - k) / s + 1;
        self.push(
            Op::Conv {
                conv,
                stride: s,
                padding: p,
            },
            vec![v],
            vec![out, o(h), o(w)],
        )
    }

    /// Batch norm on value `v`.
    pub fn bn(&mut self, name: &str, v: usize) -> usize {
        let shape = self.shapes[v].clone();
        let cfg = nn::BatchNormConfig::default();
        let eps = cfg.eps;
        let bn = if shape.len() == 3 {
            nn::batch_norm2d(self.path(name), shape[0], cfg)
        } else {
            nn::batch_norm1d(self.path(name), shape[0], cfg)
        };
        self.push(Op::BatchNorm { bn, eps }, vec![v], shape)
    }

    /// Masked ReLU on value `v`.
    pub fn relu(&mut self, name: &str, v: usize) -> usize {
        let shape = self.shapes[v].clone();
        let m = MaskedRelu::new(self.path(name), &shape, self.granularity);
        self.push(Op::Relu(m), vec![v], shape)
    }

    /// `a + b`.
    pub fn add(&mut self, a: usize, b: usize) -> usize {
        let shape = self.shapes[a].clone();
        assert_eq!(shape, self.shapes[b], "add of different shapes");
        self.push(Op::Add, vec![a, b], shape)
    }

    /// Average pooling with a square window `k` and stride `k`.
    pub fn avg_pool(&mut self, v: usize, k: i64) -> usize {
        let [c, h, w] = self.shapes[v][..] else {
            panic!("pool on a non-image value")
        };
        self.push(
            Op::AvgPool {
                kernel: [k, k],
                stride: [k, k],
            },
            vec![v],
            vec![c, (h - k) / k + 1, (w - k) / k + 1],
        )
    }

    /// Flattens value `v`.
    pub fn flatten(&mut self, v: usize) -> usize {
        let n = self.shapes[v].iter().product();
        self.push(Op::Flatten, vec![v], vec![n])
    }

    /// Affine map to `out` features on the flat value `v`.
    pub fn linear(&mut self, name: &str, v: usize, out: i64) -> usize {
        let [n] = self.shapes[v][..] else {
            panic!("linear on a non-flat value")
        };
        let l = nn::linear(self.path(name), n, out, Default::default());
        self.push(Op::Linear(l), vec![v], vec![out])
    }

    /// Finishes the network.
    pub fn finish(self) -> SnlNet {
        let mut last_use: Vec<usize> = (0..=self.nodes.len()).collect();
        for (k, n) in self.nodes.iter().enumerate() {
            for &i in &n.inputs {
                last_use[i] = last_use[i].max(k);
            }
        }
        SnlNet {
            input_shape: self.shapes[0].clone(),
            vs: self.vs,
            nodes: self.nodes,
            shapes: self.shapes,
            plain_relu: false,
            kernels: Kernels::current(),
            last_use,
        }
    }
}

fn to_f64(t: &Tensor) -> Vec<f64> {
    Vec::<f64>::try_from(
        &t.to_kind(Kind::Double)
            .to_device(Device::Cpu)
            .flatten(0, -1),
    )
    .expect("a float tensor")
}

impl SnlNet {
    /// Forward pass on a batch `[N, …]`; `train` selects batch-norm batch statistics.
    pub fn forward_t(&self, x: &Tensor, train: bool) -> Tensor {
        let fused = self.kernels == Kernels::Fused;
        // an average pool already applied by the fused ReLU before it
        let mut pooled: Option<usize> = None;
        let mut values: Vec<Option<Tensor>> = Vec::with_capacity(self.nodes.len() + 1);
        values.push(Some(x.shallow_clone()));
        for (k, node) in self.nodes.iter().enumerate() {
            let a = values[node.inputs[0]].as_ref().expect("live value");
            let y = match &node.op {
                Op::Normalize { mean, std } => (a - mean) / std,
                Op::Conv { conv, .. } => conv.forward_t(a, train),
                Op::Linear(l) => l.forward_t(a, train),
                Op::BatchNorm { bn, .. } => bn.forward_t(a, train),
                Op::Relu(m) if fused && fused::fusable(a, false) => {
                    let pool = self.pool_follows(k) && fused::fusable(a, true);
                    if pool {
                        pooled = Some(k + 1);
                    }
                    let c = (!self.plain_relu).then(|| m.effective_c());
                    fused::masked_relu(a, c.as_ref(), pool).expect("fused ReLU on a fusable value")
                }
                Op::Relu(_) if self.plain_relu => a.relu(),
                Op::Relu(m) => m.forward(a),
                Op::Add => a + values[node.inputs[1]].as_ref().expect("live value"),
                Op::AvgPool { .. } if pooled == Some(k) => a.shallow_clone(),
                Op::AvgPool { kernel, stride } => {
                    a.avg_pool2d(*kernel, *stride, [0, 0], false, true, None)
                }
                Op::Flatten => a.flatten(1, -1),
            };
            for &i in &node.inputs {
                if self.last_use[i] == k {
                    values[i] = None;
                }
            }
            values.push(Some(y));
        }
        values.pop().flatten().expect("output")
    }

    /// Whether node `k + 1` is a 2×2 stride-2 average pool and the only reader of node `k`'s
    /// value, so that the fused kernels can apply it with node `k`'s ReLU.
    fn pool_follows(&self, k: usize) -> bool {
        let Some(next) = self.nodes.get(k + 1) else {
            return false;
        };
        matches!(
            next.op,
            Op::AvgPool {
                kernel: [2, 2],
                stride: [2, 2]
            }
        ) && next.inputs == [k + 1]
            && self.last_use[k + 1] == k + 1
    }

    /// The masked ReLU layers, in node order.
    pub fn relus(&self) -> impl Iterator<Item = &MaskedRelu> {
        self.nodes.iter().filter_map(|n| match &n.op {
            Op::Relu(m) => Some(m),
            _ => None,
        })
    }

    /// The masked ReLU layers, mutably.
    pub fn relus_mut(&mut self) -> impl Iterator<Item = &mut MaskedRelu> {
        self.nodes.iter_mut().filter_map(|n| match &mut n.op {
            Op::Relu(m) => Some(m),
            _ => None,
        })
    }

    /// All ReLU units.
    pub fn total_relus(&self) -> i64 {
        self.relus().map(|m| m.units()).sum()
    }

    /// Units with `c > eps`.
    pub fn kept_relus(&self, eps: f64) -> i64 {
        self.relus().map(|m| m.kept(eps)).sum()
    }

    /// Per ReLU layer: `(units, kept)`.
    pub fn relu_layers(&self, eps: f64) -> Vec<(i64, i64)> {
        self.relus().map(|m| (m.units(), m.kept(eps))).collect()
    }

    /// Straight-through masks (`Some(ε)`: forward with `1[c > ε]`) or soft ones (`None`).
    pub fn set_straight_through(&mut self, eps: Option<f64>) {
        for m in self.relus_mut() {
            m.straight_through = eps;
        }
    }

    /// Binarizes every mask at `eps` and freezes it.
    pub fn binarize(&mut self, eps: f64) {
        for m in self.relus_mut() {
            m.binarize(eps);
        }
    }

    /// Trainable weights (everything trainable but the masks) and the trainable masks.
    pub fn weights_and_masks(&self) -> (Vec<Tensor>, Vec<Tensor>) {
        let masks: Vec<Tensor> = self
            .relus()
            .filter(|m| !m.is_frozen())
            .map(|m| m.c.shallow_clone())
            .collect();
        let vars = self.vs.variables();
        let mut names: Vec<&String> = vars.keys().collect();
        names.sort();
        let weights = names
            .into_iter()
            .filter(|n| !is_mask_var(n) && vars[*n].requires_grad())
            .map(|n| vars[n].shallow_clone())
            .collect();
        (weights, masks)
    }

    /// `Σ_layers ‖c‖₁` over trainable masks.
    pub fn mask_l1(&self) -> Tensor {
        self.relus()
            .filter(|m| !m.is_frozen())
            .map(|m| m.c.abs().sum(Kind::Float))
            .fold(
                Tensor::zeros([], (Kind::Float, self.vs.device())),
                |a, b| a + b,
            )
    }

    /// The IR of this network: weights in f64, masks binarized at `eps` (`c > eps`).
    pub fn to_ir(&self, eps: f64) -> ir::Network {
        let shape = |s: &[i64]| s.iter().map(|&d| d as usize).collect::<Vec<_>>();
        let mut net = ir::Network::new(shape(&self.input_shape));
        for node in &self.nodes {
            let layer = match &node.op {
                Op::Normalize { mean, std } => {
                    let c = self.input_shape[0] as usize;
                    Layer::BatchNorm(ir::BatchNorm {
                        gamma: vec![1.0; c],
                        beta: vec![0.0; c],
                        mean: to_f64(mean),
                        var: to_f64(std).iter().map(|s| s * s).collect(),
                        eps: 0.0,
                    })
                }
                Op::Conv {
                    conv: c,
                    stride,
                    padding,
                } => {
                    let s = c.ws.size();
                    let out = s[0] as usize;
                    Layer::Conv2d(ir::Conv2d {
                        in_channels: s[1] as usize,
                        out_channels: out,
                        kernel: [s[2] as usize, s[3] as usize],
                        stride: [*stride as usize; 2],
                        padding: [*padding as usize; 2],
                        weight: to_f64(&c.ws),
                        bias: c.bs.as_ref().map(to_f64).unwrap_or_else(|| vec![0.0; out]),
                    })
                }
                Op::Linear(l) => {
                    let s = l.ws.size();
                    let (r, c) = (s[0] as usize, s[1] as usize);
                    Layer::Dense(ir::Affine::new(
                        DMatrix::from_row_slice(r, c, &to_f64(&l.ws)),
                        DVector::from_vec(
                            l.bs.as_ref().map(to_f64).unwrap_or_else(|| vec![0.0; r]),
                        ),
                    ))
                }
                Op::BatchNorm { bn: b, eps } => {
                    let n = b.running_mean.size()[0] as usize;
                    Layer::BatchNorm(ir::BatchNorm {
                        gamma: b.ws.as_ref().map(to_f64).unwrap_or_else(|| vec![1.0; n]),
                        beta: b.bs.as_ref().map(to_f64).unwrap_or_else(|| vec![0.0; n]),
                        mean: to_f64(&b.running_mean),
                        var: to_f64(&b.running_var),
                        eps: *eps,
                    })
                }
                Op::Relu(m) => Layer::Relu(ReluMask::from_bools(&m.kept_flags(eps))),
                Op::Add => Layer::Add,
                Op::AvgPool { kernel, stride } => Layer::AvgPool2d(ir::AvgPool2d {
                    kernel: [kernel[0] as usize, kernel[1] as usize],
                    stride: [stride[0] as usize, stride[1] as usize],
                }),
                Op::Flatten => Layer::Flatten,
            };
            let inputs = node.inputs.iter().map(|&i| ir::ValueId::from_index(i));
            net.push_with(layer, inputs.collect());
        }
        net
    }

    /// Copies weights and masks from an IR of the same structure (as [`SnlNet::to_ir`]
    /// writes it); masks become `c ∈ {0, 1}`. Errors say which node differs.
    pub fn load_ir(&mut self, net: &ir::Network) -> Result<(), String> {
        if let Some(k) = net
            .nodes
            .iter()
            .position(|n| matches!(n.layer, Layer::Scale { .. }))
        {
            return Err(format!(
                "node {k}: a scale layer (written by `snl-verify free`) has no libtorch \
                 counterpart; load the model `free` started from"
            ));
        }
        if net.nodes.len() != self.nodes.len() {
            return Err(format!(
                "the file has {} nodes, this architecture {}",
                net.nodes.len(),
                self.nodes.len()
            ));
        }
        let device = self.vs.device();
        let put = |dst: &mut Tensor, src: &[f64]| -> Result<(), String> {
            if dst.numel() != src.len() {
                return Err(format!(
                    "{} values for a tensor of {:?}",
                    src.len(),
                    dst.size()
                ));
            }
            let t = Tensor::from_slice(src)
                .to_kind(dst.kind())
                .view(dst.size().as_slice())
                .to_device(device);
            tch::no_grad(|| dst.copy_(&t));
            Ok(())
        };
        for (k, (mine, theirs)) in self.nodes.iter_mut().zip(&net.nodes).enumerate() {
            let ctx = |e: String| format!("node {k}: {e}");
            if !mine
                .inputs
                .iter()
                .copied()
                .eq(theirs.inputs.iter().map(|v| v.index()))
            {
                return Err(ctx("reads other values than this architecture".into()));
            }
            match (&mut mine.op, &theirs.layer) {
                (Op::Normalize { .. }, Layer::BatchNorm(_)) => {}
                (Op::Conv { conv, .. }, Layer::Conv2d(c)) => {
                    put(&mut conv.ws, &c.weight).map_err(ctx)?;
                    if let Some(b) = conv.bs.as_mut() {
                        put(b, &c.bias).map_err(ctx)?;
                    }
                }
                (Op::Linear(l), Layer::Dense(a)) => {
                    // nalgebra is column-major: the transpose's storage is row-major
                    put(&mut l.ws, a.weight.transpose().as_slice()).map_err(ctx)?;
                    if let Some(b) = l.bs.as_mut() {
                        put(b, a.bias.as_slice()).map_err(ctx)?;
                    }
                }
                (Op::BatchNorm { bn, .. }, Layer::BatchNorm(b)) => {
                    if let Some(w) = bn.ws.as_mut() {
                        put(w, &b.gamma).map_err(ctx)?;
                    }
                    if let Some(w) = bn.bs.as_mut() {
                        put(w, &b.beta).map_err(ctx)?;
                    }
                    put(&mut bn.running_mean, &b.mean).map_err(ctx)?;
                    put(&mut bn.running_var, &b.var).map_err(ctx)?;
                }
                (Op::Relu(m), Layer::Relu(mask)) => {
                    if m.granularity != crate::masked::MaskGranularity::Pixel {
                        let per = m.units_per_param() as usize;
                        let flags: Vec<f64> = (0..m.c.numel())
                            .map(|c| if mask.is_kept(c * per) { 1.0 } else { 0.0 })
                            .collect();
                        put(&mut m.c, &flags).map_err(ctx)?;
                    } else {
                        let flags: Vec<f64> =
                            mask.to_bools().iter().map(|&b| b as u8 as f64).collect();
                        put(&mut m.c, &flags).map_err(ctx)?;
                    }
                }
                (Op::Add, Layer::Add)
                | (Op::Flatten, Layer::Flatten)
                | (Op::AvgPool { .. }, Layer::AvgPool2d(_)) => {}
                (_, l) => {
                    return Err(ctx(format!(
                        "the file has a {} layer where this architecture differs",
                        l.kind()
                    )))
                }
            }
        }
        Ok(())
    }

    /// Free-form metadata describing the IR's first node.
    pub fn ir_info() -> BTreeMap<String, String> {
        let mut m = BTreeMap::new();
        m.insert(
            "input_normalization".into(),
            "node 0 (batch_norm with eps 0) is (x - mean) / std; inputs are raw [0, 1] pixels"
                .into(),
        );
        m
    }
}
