//! The four architectures of `linearize/src/arch.rs` built directly as IR networks (no
//! libtorch), with seeded random weights, batch-norm statistics and masks, so ONNX exports
//! can be checked in plain `cargo test`. Node 0 is the input normalization (a batch norm
//! with eps 0), as in trained snl models.
use nalgebra::{DMatrix, DVector};
use snl_theory::{Affine, AvgPool2d, BatchNorm, Conv2d, Layer, Network, ReluMask, ValueId};

/// xorshift64*: a tiny seeded generator. Not `snl_theory::rng::SeededRng`: the exports'
/// f32-against-f64 checks (`Tolerance::Approximate`) hold on this stream's networks, and the
/// full ResNet-18 drawn from SplitMix64 instead differs by up to 2.9e-4 at an output of 0.85
/// (an f32 accumulation over 18 layers, above that tolerance).
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in [-a, a).
    pub fn sym(&mut self, a: f64) -> f64 {
        (2.0 * self.unit() - 1.0) * a
    }
}

/// Builds a network like `linearize::arch::Builder`, tracking shapes, with random
/// parameters and per-layer kept fractions cycling through `fractions`.
pub struct Zoo {
    pub net: Network,
    shapes: Vec<Vec<usize>>,
    rng: Rng,
    fractions: Vec<f64>,
    relu_layers: usize,
}

impl Zoo {
    pub fn new(input_shape: &[usize], seed: u64, fractions: &[f64]) -> Self {
        let mut z = Zoo {
            net: Network::new(input_shape.to_vec()),
            shapes: vec![input_shape.to_vec()],
            rng: Rng::new(seed),
            fractions: fractions.to_vec(),
            relu_layers: 0,
        };
        let c = input_shape[0];
        // (x − mean) / std, as node 0 of every snl model
        let bn = BatchNorm {
            gamma: vec![1.0; c],
            beta: vec![0.0; c],
            mean: (0..c).map(|i| 0.4 + 0.05 * i as f64).collect(),
            var: (0..c).map(|i| (0.25 + 0.02 * i as f64).powi(2)).collect(),
            eps: 0.0,
        };
        z.push(Layer::BatchNorm(bn), vec![0]);
        z
    }

    /// Pushes `layer` reading the values at these positions; returns its output's position.
    fn push(&mut self, layer: Layer, inputs: Vec<usize>) -> usize {
        let inputs = inputs.into_iter().map(ValueId::from_index).collect();
        let v = self.net.push_with(layer, inputs).index();
        self.shapes = self.net.shapes().expect("zoo builds consistent networks");
        v
    }

    pub fn last(&self) -> usize {
        self.net.nodes.len()
    }

    pub fn shape(&self, v: usize) -> Vec<usize> {
        self.shapes[v].clone()
    }

    pub fn conv(
        &mut self,
        v: usize,
        out: usize,
        k: usize,
        s: usize,
        p: usize,
        bias: bool,
    ) -> usize {
        let inc = self.shapes[v][0];
        let a = (6.0 / (inc * k * k) as f64).sqrt();
        let weight = (0..out * inc * k * k).map(|_| self.rng.sym(a)).collect();
        let bias = (0..out)
            .map(|_| if bias { self.rng.sym(0.1) } else { 0.0 })
            .collect();
        self.push(
            Layer::Conv2d(Conv2d {
                in_channels: inc,
                out_channels: out,
                kernel: [k, k],
                stride: [s, s],
                padding: [p, p],
                weight,
                bias,
            }),
            vec![v],
        )
    }

    pub fn bn(&mut self, v: usize) -> usize {
        let c = self.shapes[v][0];
        let r = &mut self.rng;
        let bn = BatchNorm {
            gamma: (0..c).map(|_| 0.6 + 0.6 * r.unit()).collect(),
            beta: (0..c).map(|_| r.sym(0.2)).collect(),
            mean: (0..c).map(|_| r.sym(0.2)).collect(),
            var: (0..c).map(|_| 0.5 + r.unit()).collect(),
            eps: 1e-5,
        };
        self.push(Layer::BatchNorm(bn), vec![v])
    }

    pub fn relu(&mut self, v: usize) -> usize {
        let n: usize = self.shapes[v].iter().product();
        let f = self.fractions[self.relu_layers % self.fractions.len()];
        self.relu_layers += 1;
        let kept: Vec<bool> = (0..n).map(|_| self.rng.unit() < f).collect();
        self.push(Layer::Relu(ReluMask::from_bools(&kept)), vec![v])
    }

    pub fn add(&mut self, a: usize, b: usize) -> usize {
        self.push(Layer::Add, vec![a, b])
    }

    pub fn avg_pool(&mut self, v: usize, k: usize) -> usize {
        self.push(
            Layer::AvgPool2d(AvgPool2d {
                kernel: [k, k],
                stride: [k, k],
            }),
            vec![v],
        )
    }

    pub fn flatten(&mut self, v: usize) -> usize {
        self.push(Layer::Flatten, vec![v])
    }

    pub fn linear(&mut self, v: usize, out: usize) -> usize {
        let inn = self.shapes[v][0];
        let a = (6.0 / inn as f64).sqrt();
        let r = &mut self.rng;
        let w = DMatrix::from_fn(out, inn, |_, _| r.sym(a));
        let b = DVector::from_fn(out, |_, _| r.sym(0.1));
        self.push(Layer::Dense(Affine::new(w, b)), vec![v])
    }
}

fn w(c: usize, width: f64) -> usize {
    ((c as f64 * width).round() as usize).max(1)
}

/// Flatten → hidden dense layers with masked ReLUs → 10 classes.
pub fn mlp(input: &[usize], hidden: &[usize], seed: u64, fr: &[f64]) -> Network {
    let mut z = Zoo::new(input, seed, fr);
    let mut v = z.flatten(z.last());
    for &h in hidden {
        v = z.linear(v, h);
        v = z.relu(v);
    }
    z.linear(v, 10);
    z.net
}

/// conv5×5(16)–relu–avgpool2–conv5×5(32)–relu–avgpool2–fc128–relu–fc.
pub fn cnn(input: &[usize], width: f64, seed: u64, fr: &[f64]) -> Network {
    let mut z = Zoo::new(input, seed, fr);
    let v = z.conv(z.last(), w(16, width), 5, 1, 2, true);
    let v = z.relu(v);
    let v = z.avg_pool(v, 2);
    let v = z.conv(v, w(32, width), 5, 1, 2, true);
    let v = z.relu(v);
    let v = z.avg_pool(v, 2);
    let v = z.flatten(v);
    let v = z.linear(v, w(128, width));
    let v = z.relu(v);
    z.linear(v, 10);
    z.net
}

/// CIFAR ResNet-18, the paper's ReLU convention (no stem ReLU).
pub fn resnet18(input: &[usize], width: f64, seed: u64, fr: &[f64]) -> Network {
    let mut z = Zoo::new(input, seed, fr);
    let mut v = z.conv(z.last(), w(64, width), 3, 1, 1, false);
    v = z.bn(v);
    for (&c, stride) in [64, 128, 256, 512].iter().zip([1, 2, 2, 2]) {
        for block in 0..2 {
            let s = if block == 0 { stride } else { 1 };
            let out = w(c, width);
            let x = v;
            let mut u = z.conv(x, out, 3, s, 1, false);
            u = z.bn(u);
            u = z.relu(u);
            u = z.conv(u, out, 3, 1, 1, false);
            u = z.bn(u);
            let short = if s != 1 || z.shape(x)[0] != out {
                let t = z.conv(x, out, 1, s, 0, false);
                z.bn(t)
            } else {
                x
            };
            u = z.add(u, short);
            v = z.relu(u);
        }
    }
    let k = z.shape(v)[1];
    v = z.avg_pool(v, k);
    v = z.flatten(v);
    z.linear(v, 10);
    z.net
}

/// WideResNet-22-8 (pre-activation blocks), the paper's ReLU convention (no last ReLU).
pub fn wrn22x8(input: &[usize], width: f64, seed: u64, fr: &[f64]) -> Network {
    let mut z = Zoo::new(input, seed, fr);
    let mut v = z.conv(z.last(), w(16, width), 3, 1, 1, false);
    for (&c, stride) in [128, 256, 512].iter().zip([1, 2, 2]) {
        for block in 0..3 {
            let s = if block == 0 { stride } else { 1 };
            let out = w(c, width);
            let x = v;
            let a = z.bn(x);
            let a = z.relu(a);
            let mut u = z.conv(a, out, 3, s, 1, false);
            u = z.bn(u);
            u = z.relu(u);
            u = z.conv(u, out, 3, 1, 1, false);
            let short = if s != 1 || z.shape(x)[0] != out {
                z.conv(a, out, 1, s, 0, false)
            } else {
                x
            };
            v = z.add(u, short);
        }
    }
    v = z.bn(v);
    let k = z.shape(v)[1];
    v = z.avg_pool(v, k);
    v = z.flatten(v);
    z.linear(v, 10);
    z.net
}
