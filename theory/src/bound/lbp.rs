//! Linear bound propagation (CROWN / DeepPoly back-substitution) on the IR graph itself,
//! specialised to selectively linearized networks, with rigorous floating-point error bounds.
//!
//! # What is computed
//! For a linear specification `C` on the output (rows `c_r`), a *lower* bound of `c_r · f(x)`
//! over an input box. Upper bounds are lower bounds of `−c_r`. The backward pass walks the
//! graph from the output to the input (conv layers through their transposed convolution,
//! average pooling, batch norm, elementwise scale, flatten/reshape and residual adds
//! natively: no dense matrix is built), replacing each kept ReLU unit whose pre-activation
//! interval `[l, u]` straddles 0 by a linear relaxation:
//!
//! * lower `y ≥ α·x` with `α ∈ [0, 1]` (CROWN's adaptive choice `α = 1` if `u > −l`, else 0;
//!   optimised by α-CROWN),
//! * upper `y ≤ s·(x − l)`, `s ≥ u/(u − l)` (rounded up).
//!
//! Linearized units (`y = x`) and kept units with `l ≥ 0` (identity) or `u ≤ 0` (zero) are
//! exact: the bound is loose only by the kept, unstable units — which is why a network
//! linearized to a small ReLU budget is much cheaper and tighter to verify.
//!
//! Intermediate bounds are computed only for kept units (a linearized unit needs none), and
//! only for those that interval propagation cannot already show stable, one ReLU layer at a
//! time, in node order, each by back-substitution to the input. So the cost scales with the
//! number of kept (unstable) units, not with the network's full ReLU count.
//!
//! # Floating-point soundness
//! Every bound returned holds for the real-arithmetic network whose parameters are the
//! file's f64 values (batch norm's `gamma / sqrt(var + eps)` included). The computation runs
//! in f64 with round-to-nearest and carries a rigorous a-posteriori bound of its rounding
//! error, in the standard model `fl(a ∘ b) = (a ∘ b)(1 + δ)`, `|δ| ≤ u = 2⁻⁵³`, with the
//! classical bound `γₙ = n·u/(1 − n·u)` for sums of `n` products:
//!
//! * interval propagation (used to decide stability and as the magnitude bound `|x| ≤ m` of
//!   every value) widens every result by `2γₙ·(|W|(|c| + r) + |b|) + 2u(|c'| + r')` and
//!   rounds the ends outward (`next_down`/`next_up`);
//! * the backward pass keeps, for each row, an error term `e ≥ 0`: at each linear node the
//!   rows' product with the weights is off by at most `γₙ·|a|·|W|·m` (added as `|a|·t` with
//!   `t = γₙ(|W| m + |b|)` precomputed per node, plus the batch-norm parameters' own rounding),
//!   at each relaxed unit by `2u|a·s|(m + 2|l|)`, each accumulation of a value's coefficients
//!   from several readers by `2u·|a|·m`, each bias addition by `2u|bias|`, and the final
//!   concretisation by `2γ₂ₙ·|a|(|c| + r)`; the bound returned is
//!   `next_down(lower − e − 2u(|lower| + e))`, and `e` is doubled to cover its own rounding;
//! * relaxation slopes are rounded so that the relaxation holds in real arithmetic;
//! * `γₙ` bounds a sum of `n` products in **any** order of the additions (and with fused
//!   multiply-adds), so the arithmetic is free to reorder: a dense layer's transposed
//!   product for a batch of rows is one matrix product (nalgebra's gemm, matrixmultiply's
//!   blocked kernels), and single dot products keep eight partial sums.
//!
//! The error terms are tiny (≈ 1e-13 relative) unless the interval magnitudes explode; the
//! total allowance is reported ([`LbpStats::fp_allowance`]). Non-finite values make a bound
//! infinite, never wrong.
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use crate::bound::InputBox;
use crate::{numel, Error, Layer, Network, ReluMask, Result};

/// Unit roundoff of f64.
pub const U: f64 = f64::EPSILON / 2.0;

/// `γₙ = n·u / (1 − n·u)`: the relative error bound of a sum of `n` rounded products.
pub fn gamma(n: usize) -> f64 {
    let nu = n as f64 * U;
    if nu >= 0.5 {
        f64::INFINITY
    } else {
        nu / (1.0 - nu)
    }
}

fn down(x: f64) -> f64 {
    if x.is_nan() {
        f64::NEG_INFINITY
    } else {
        x.next_down()
    }
}

fn up(x: f64) -> f64 {
    if x.is_nan() {
        f64::INFINITY
    } else {
        x.next_up()
    }
}

/// The upper relaxation slope `s ≥ u/(u − l)` (rounded up) for `l < 0 < u`.
pub fn upper_slope(l: f64, u: f64) -> f64 {
    up(u / down(u - l))
}

/// CROWN's adaptive lower slope: 1 when `u > −l`, else 0.
pub fn default_alpha(l: f64, u: f64) -> f64 {
    if u > -l {
        1.0
    } else {
        0.0
    }
}

/// The output columns `ox ∈ [x0, x1]` whose input column `ox·stride + k − pad` lies in
/// `0..width`, as a half-open range.
fn valid_range(
    x0: usize,
    x1: usize,
    stride: usize,
    k: usize,
    pad: usize,
    width: usize,
) -> (usize, usize) {
    // ox·stride + k >= pad  and  ox·stride + k − pad <= width − 1
    let lo = if k >= pad {
        0
    } else {
        (pad - k).div_ceil(stride)
    };
    let hi_excl = if width + pad > k {
        (width + pad - k - 1) / stride + 1
    } else {
        0
    };
    (x0.max(lo), (x1 + 1).min(hi_excl).max(x0.max(lo)))
}

/// Rows `y0..=y1` and columns `x0..=x1` holding every non-zero of an `h × w` channel.
fn nonzero_box(ch: &[f64], h: usize, w: usize) -> Option<(usize, usize, usize, usize)> {
    let (mut y0, mut y1, mut x0, mut x1) = (usize::MAX, 0, usize::MAX, 0);
    for y in 0..h {
        let row = &ch[y * w..(y + 1) * w];
        let Some(first) = row.iter().position(|&v| v != 0.0) else {
            continue;
        };
        let last = row.iter().rposition(|&v| v != 0.0).expect("a non-zero");
        y0 = y0.min(y);
        y1 = y;
        x0 = x0.min(first);
        x1 = x1.max(last);
    }
    (y0 != usize::MAX).then_some((y0, y1, x0, x1))
}

/// One compiled operation of the graph.
#[derive(Clone, Debug)]
enum Op {
    Dense {
        /// Row-major `(out, in)`.
        w: Vec<f64>,
        /// The same weights column-major (the batched forward's matrix product reads them so).
        w_cols: Vec<f64>,
        abs_w: Vec<f64>,
        b: Vec<f64>,
        n_in: usize,
    },
    Conv {
        w: Vec<f64>,
        abs_w: Vec<f64>,
        b: Vec<f64>,
        /// `[ic, h, w]`.
        ins: [usize; 3],
        /// `[oc, oh, ow]`.
        outs: [usize; 3],
        kernel: [usize; 2],
        stride: [usize; 2],
        padding: [usize; 2],
    },
    /// Per-channel `y = scale·x + shift` (batch norm; a scale node with `per = 1` and
    /// `shift = 0`); `per` values a channel.
    Scale {
        scale: Vec<f64>,
        shift: Vec<f64>,
        /// Bound on `|true scale − scale|` and `|true shift − shift|` per channel.
        scale_err: Vec<f64>,
        shift_err: Vec<f64>,
        per: usize,
    },
    Pool {
        ins: [usize; 3],
        outs: [usize; 3],
        kernel: [usize; 2],
        stride: [usize; 2],
    },
    Identity,
    Add,
    Relu(ReluMask),
}

impl Op {
    /// Number of terms any one output or transposed entry sums (for `γₙ`).
    fn terms(&self) -> usize {
        match self {
            Op::Dense { w, n_in, .. } => (*n_in).max(w.len() / (*n_in).max(1)) + 2,
            Op::Conv {
                ins,
                outs,
                kernel,
                stride,
                ..
            } => {
                let fan_in = ins[0] * kernel[0] * kernel[1];
                let fan_out = outs[0]
                    * kernel[0].div_ceil(stride[0]).max(1)
                    * kernel[1].div_ceil(stride[1]).max(1);
                fan_in.max(fan_out) + 2
            }
            Op::Pool { kernel, stride, .. } => {
                kernel[0]
                    * kernel[1]
                    * kernel[0].div_ceil(stride[0])
                    * kernel[1].div_ceil(stride[1])
                    + 2
            }
            Op::Scale { .. } | Op::Identity | Op::Relu(_) => 2,
            Op::Add => 3,
        }
    }

    /// `op(x)` with the bias (`abs = false`) or `|op|(x)` without it (`abs = true`), for a
    /// linear op with one input.
    fn apply(&self, x: &[f64], abs: bool, out: &mut [f64]) {
        match self {
            Op::Dense {
                w, abs_w, b, n_in, ..
            } => {
                let w = if abs { abs_w } else { w };
                for (o, y) in out.iter_mut().enumerate() {
                    let row = &w[o * n_in..(o + 1) * n_in];
                    *y = dot(row, x, if abs { 0.0 } else { b[o] });
                }
            }
            Op::Conv {
                w,
                abs_w,
                b,
                ins,
                outs,
                kernel,
                stride,
                padding,
            } => {
                let w = if abs { abs_w } else { w };
                let [ic_n, h, wd] = *ins;
                let [oc_n, oh, ow] = *outs;
                let [kh, kw] = *kernel;
                for oc in 0..oc_n {
                    let bias = if abs { 0.0 } else { b[oc] };
                    out[oc * oh * ow..(oc + 1) * oh * ow].fill(bias);
                    for ic in 0..ic_n {
                        for ky in 0..kh {
                            for kx in 0..kw {
                                let wv = w[((oc * ic_n + ic) * kh + ky) * kw + kx];
                                if wv == 0.0 {
                                    continue;
                                }
                                let (xa, xb) =
                                    valid_range(0, ow - 1, stride[1], kx, padding[1], wd);
                                for oy in 0..oh {
                                    let iy = (oy * stride[0] + ky) as isize - padding[0] as isize;
                                    if iy < 0 || iy >= h as isize {
                                        continue;
                                    }
                                    let xrow = (ic * h + iy as usize) * wd;
                                    let orow = (oc * oh + oy) * ow;
                                    for ox in xa..xb {
                                        let ix = ox * stride[1] + kx - padding[1];
                                        out[orow + ox] += wv * x[xrow + ix];
                                    }
                                }
                            }
                        }
                    }
                }
            }
            Op::Scale {
                scale, shift, per, ..
            } => {
                for (i, (y, xi)) in out.iter_mut().zip(x).enumerate() {
                    let c = i / per;
                    *y = if abs {
                        scale[c].abs() * xi
                    } else {
                        scale[c] * xi + shift[c]
                    };
                }
            }
            Op::Pool {
                ins,
                outs,
                kernel,
                stride,
            } => {
                let [_, h, wd] = *ins;
                let [c_n, oh, ow] = *outs;
                let area = (kernel[0] * kernel[1]) as f64;
                for c in 0..c_n {
                    for oy in 0..oh {
                        for ox in 0..ow {
                            let mut acc = 0.0;
                            for ky in 0..kernel[0] {
                                for kx in 0..kernel[1] {
                                    acc +=
                                        x[(c * h + oy * stride[0] + ky) * wd + ox * stride[1] + kx];
                                }
                            }
                            out[(c * oh + oy) * ow + ox] = acc / area;
                        }
                    }
                }
            }
            Op::Identity => out.copy_from_slice(x),
            Op::Add | Op::Relu(_) => unreachable!("not a one-input linear op"),
        }
    }

    /// `|b|` per output (zero for ops without a bias).
    fn abs_bias(&self, out: &mut [f64]) {
        match self {
            Op::Dense { b, .. } => {
                for (y, bi) in out.iter_mut().zip(b) {
                    *y = bi.abs();
                }
            }
            Op::Conv { b, outs, .. } => {
                let per = outs[1] * outs[2];
                for (i, y) in out.iter_mut().enumerate() {
                    *y = b[i / per].abs();
                }
            }
            Op::Scale { shift, per, .. } => {
                for (i, y) in out.iter_mut().enumerate() {
                    *y = shift[i / per].abs();
                }
            }
            _ => out.fill(0.0),
        }
    }

    /// `a_in += opᵀ a_out` for one row (linear one-input ops); zero coefficients are skipped.
    fn transpose(&self, a: &[f64], a_in: &mut [f64]) {
        match self {
            Op::Dense { w, n_in, .. } => {
                for (o, &ao) in a.iter().enumerate() {
                    if ao == 0.0 {
                        continue;
                    }
                    let row = &w[o * n_in..(o + 1) * n_in];
                    for (ai, wi) in a_in.iter_mut().zip(row) {
                        *ai += ao * wi;
                    }
                }
            }
            Op::Conv {
                w,
                ins,
                outs,
                kernel,
                stride,
                padding,
                ..
            } => {
                let [ic_n, h, wd] = *ins;
                let [oc_n, oh, ow] = *outs;
                let [kh, kw] = *kernel;
                for oc in 0..oc_n {
                    let ach = &a[oc * oh * ow..(oc + 1) * oh * ow];
                    // the bounding box of the channel's non-zero coefficients
                    let Some((y0, y1, x0, x1)) = nonzero_box(ach, oh, ow) else {
                        continue;
                    };
                    for ic in 0..ic_n {
                        let wbase = (oc * ic_n + ic) * kh * kw;
                        for ky in 0..kh {
                            for kx in 0..kw {
                                let wv = w[wbase + ky * kw + kx];
                                if wv == 0.0 {
                                    continue;
                                }
                                let (xa, xb) = valid_range(x0, x1, stride[1], kx, padding[1], wd);
                                if xa >= xb {
                                    continue;
                                }
                                for oy in y0..=y1 {
                                    let iy = (oy * stride[0] + ky) as isize - padding[0] as isize;
                                    if iy < 0 || iy >= h as isize {
                                        continue;
                                    }
                                    let irow = (ic * h + iy as usize) * wd;
                                    let arow = &ach[oy * ow..(oy + 1) * ow];
                                    if stride[1] == 1 {
                                        let start = (irow + xa + kx) - padding[1];
                                        let dst = &mut a_in[start..start + (xb - xa)];
                                        for (d, &av) in dst.iter_mut().zip(&arow[xa..xb]) {
                                            *d += wv * av;
                                        }
                                    } else {
                                        for (ox, &av) in arow.iter().enumerate().take(xb).skip(xa) {
                                            let ix = ox * stride[1] + kx - padding[1];
                                            a_in[irow + ix] += wv * av;
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            Op::Scale { scale, per, .. } => {
                for (i, (ai, &ao)) in a_in.iter_mut().zip(a).enumerate() {
                    if ao != 0.0 {
                        *ai += ao * scale[i / per];
                    }
                }
            }
            Op::Pool {
                ins,
                outs,
                kernel,
                stride,
            } => {
                let [_, h, wd] = *ins;
                let [c_n, oh, ow] = *outs;
                let area = (kernel[0] * kernel[1]) as f64;
                for c in 0..c_n {
                    for oy in 0..oh {
                        for ox in 0..ow {
                            let ao = a[(c * oh + oy) * ow + ox];
                            if ao == 0.0 {
                                continue;
                            }
                            let v = ao / area;
                            for ky in 0..kernel[0] {
                                for kx in 0..kernel[1] {
                                    a_in[(c * h + oy * stride[0] + ky) * wd
                                        + ox * stride[1]
                                        + kx] += v;
                                }
                            }
                        }
                    }
                }
            }
            Op::Identity => {
                for (ai, &ao) in a_in.iter_mut().zip(a) {
                    *ai += ao;
                }
            }
            Op::Add | Op::Relu(_) => unreachable!("not a one-input linear op"),
        }
    }

    /// `op(c)`, `|op|(r)` and `|op|(s)` (interval propagation's centre, radius and
    /// magnitude terms): three [`Op::apply`]s, fused into one pass over the weights for a
    /// dense layer.
    fn interval_terms(
        &self,
        c: &[f64],
        r: &[f64],
        s: &[f64],
        co: &mut [f64],
        ro: &mut [f64],
        so: &mut [f64],
    ) {
        match self {
            Op::Dense {
                w, abs_w, b, n_in, ..
            } => {
                for o in 0..co.len() {
                    let (wr, ar) = (
                        &w[o * n_in..(o + 1) * n_in],
                        &abs_w[o * n_in..(o + 1) * n_in],
                    );
                    (co[o], ro[o], so[o]) = dot3(wr, ar, c, r, s, b[o]);
                }
            }
            op => {
                op.apply(c, false, co);
                op.apply(r, true, ro);
                op.apply(s, true, so);
            }
        }
    }

    /// `Σ_o a_o·b_o` for one row: the bias the row picks up at this node.
    fn bias_dot(&self, a: &[f64]) -> f64 {
        match self {
            Op::Dense { b, .. } => a.iter().zip(b).map(|(x, y)| x * y).sum(),
            Op::Conv { b, outs, .. } => {
                let per = outs[1] * outs[2];
                a.chunks(per)
                    .zip(b)
                    .map(|(ch, bi)| ch.iter().sum::<f64>() * bi)
                    .sum()
            }
            Op::Scale { shift, per, .. } => a
                .chunks(*per)
                .zip(shift)
                .map(|(ch, s)| ch.iter().sum::<f64>() * s)
                .sum(),
            _ => 0.0,
        }
    }
}

/// A network compiled for bound propagation: its ops, shapes and readers.
#[derive(Clone, Debug)]
pub struct Graph {
    ops: Vec<Op>,
    inputs: Vec<Vec<usize>>,
    sizes: Vec<usize>,
}

impl Graph {
    /// Compiles a network (validating it).
    pub fn new(net: &Network) -> Result<Graph> {
        let shapes = net.shapes()?;
        let mut ops = Vec::with_capacity(net.nodes.len());
        for (k, node) in net.nodes.iter().enumerate() {
            let s_in = &shapes[node.inputs[0]];
            let s_out = &shapes[k + 1];
            let three = |s: &[usize]| -> [usize; 3] { [s[0], s[1], s[2]] };
            ops.push(match &node.layer {
                Layer::Dense(a) => {
                    let (n_out, n_in) = (a.weight.nrows(), a.weight.ncols());
                    let mut w = vec![0.0; n_out * n_in];
                    for o in 0..n_out {
                        for i in 0..n_in {
                            w[o * n_in + i] = a.weight[(o, i)];
                        }
                    }
                    let abs_w = w.iter().map(|v| v.abs()).collect();
                    Op::Dense {
                        w,
                        w_cols: a.weight.as_slice().to_vec(),
                        abs_w,
                        b: a.bias.as_slice().to_vec(),
                        n_in,
                    }
                }
                Layer::Conv2d(c) => Op::Conv {
                    abs_w: c.weight.iter().map(|v| v.abs()).collect(),
                    w: c.weight.clone(),
                    b: c.bias.clone(),
                    ins: three(s_in),
                    outs: three(s_out),
                    kernel: c.kernel,
                    stride: c.stride,
                    padding: c.padding,
                },
                Layer::BatchNorm(bn) => {
                    let (scale, shift) = bn.scale_shift();
                    // scale = gamma / sqrt(var + eps): add, sqrt, divide — 3 roundings;
                    // shift = beta − scale·mean: 2 more, on top of the scale's error
                    let scale_err = scale.iter().map(|s| 8.0 * U * s.abs()).collect();
                    let shift_err = (0..scale.len())
                        .map(|c| 8.0 * U * (bn.beta[c].abs() + (scale[c] * bn.mean[c]).abs()))
                        .collect();
                    let per = numel(s_in) / scale.len().max(1);
                    Op::Scale {
                        scale,
                        shift,
                        scale_err,
                        shift_err,
                        per,
                    }
                }
                Layer::AvgPool2d(p) => Op::Pool {
                    ins: three(s_in),
                    outs: three(s_out),
                    kernel: p.kernel,
                    stride: p.stride,
                },
                // per-unit factors are the file's values, exact: no parameter error
                Layer::Scale { factor } => Op::Scale {
                    scale: factor.clone(),
                    shift: vec![0.0; factor.len()],
                    scale_err: vec![0.0; factor.len()],
                    shift_err: vec![0.0; factor.len()],
                    per: 1,
                },
                Layer::Flatten | Layer::Reshape { .. } => Op::Identity,
                Layer::Add => Op::Add,
                Layer::Relu(m) => Op::Relu(m.clone()),
            });
        }
        Ok(Graph {
            ops,
            inputs: net.nodes.iter().map(|n| n.inputs.clone()).collect(),
            sizes: shapes.iter().map(|s| numel(s)).collect(),
        })
    }

    /// Number of values (inputs + nodes).
    pub fn values(&self) -> usize {
        self.sizes.len()
    }

    /// Sum of the sizes of all values (the scalars a forward pass holds).
    pub fn total_size(&self) -> usize {
        self.sizes.iter().sum()
    }

    /// Size of value `v`.
    pub fn size(&self, v: usize) -> usize {
        self.sizes[v]
    }

    /// Indices of the ReLU nodes with at least one kept unit.
    pub fn kept_relu_nodes(&self) -> Vec<usize> {
        (0..self.ops.len())
            .filter(|&k| matches!(&self.ops[k], Op::Relu(m) if m.kept() > 0))
            .collect()
    }

    /// The mask of ReLU node `k`.
    pub fn mask(&self, k: usize) -> Option<&ReluMask> {
        match &self.ops[k] {
            Op::Relu(m) => Some(m),
            _ => None,
        }
    }

    /// The value a node reads first.
    pub fn input_of(&self, k: usize) -> usize {
        self.inputs[k][0]
    }

    /// f64 forward pass, every value.
    pub fn forward_values(&self, x: &[f64]) -> Vec<Vec<f64>> {
        self.forward_with(x, |_, m, pre, out| {
            for (i, (o, &p)) in out.iter_mut().zip(pre).enumerate() {
                *o = if m.is_kept(i) { p.max(0.0) } else { p };
            }
        })
    }

    /// Forward pass where ReLU nodes are evaluated by `relu(k, mask, pre, out)`; the other
    /// nodes are the exact ops.
    pub(crate) fn forward_with(
        &self,
        x: &[f64],
        mut relu: impl FnMut(usize, &ReluMask, &[f64], &mut [f64]),
    ) -> Vec<Vec<f64>> {
        self.forward_rows_with(x, 1, |k, _, mask, pre, out| relu(k, mask, pre, out))
    }

    /// [`Graph::forward_with`] for `m` inputs at once (`xs`: `m × inputs`, row-major): each
    /// value is `m × size`, dense layers are one matrix product over the rows (summed in
    /// the kernel's order: for gradients and scores, never for a bound or a verdict), and
    /// `relu(k, r, mask, pre, out)` runs per row `r`.
    pub(crate) fn forward_rows_with(
        &self,
        xs: &[f64],
        m: usize,
        mut relu: impl FnMut(usize, usize, &ReluMask, &[f64], &mut [f64]),
    ) -> Vec<Vec<f64>> {
        let mut vals: Vec<Vec<f64>> = Vec::with_capacity(self.sizes.len());
        vals.push(xs.to_vec());
        for (k, op) in self.ops.iter().enumerate() {
            let (si, so) = (self.sizes[self.inputs[k][0]], self.sizes[k + 1]);
            let mut out = vec![0.0; m * so];
            let a = &vals[self.inputs[k][0]];
            match op {
                Op::Add => {
                    let b = &vals[self.inputs[k][1]];
                    for ((o, x), y) in out.iter_mut().zip(a).zip(b) {
                        *o = x + y;
                    }
                }
                Op::Relu(mask) => {
                    out.copy_from_slice(a);
                    for r in 0..m {
                        relu(
                            k,
                            r,
                            mask,
                            &a[r * si..(r + 1) * si],
                            &mut out[r * so..(r + 1) * so],
                        );
                    }
                }
                Op::Dense { w_cols, b, .. } if m > 1 => {
                    for row in out.chunks_mut(so) {
                        row.copy_from_slice(b);
                    }
                    // outᵀ (so × m) += W (so × si) · xᵀ (si × m), column-major views
                    let w = nalgebra::DMatrixView::from_slice(w_cols, so, si);
                    let xt = nalgebra::DMatrixView::from_slice(a, si, m);
                    nalgebra::DMatrixViewMut::from_slice(&mut out, so, m).gemm(1.0, &w, &xt, 1.0);
                }
                _ => {
                    for r in 0..m {
                        op.apply(
                            &a[r * si..(r + 1) * si],
                            false,
                            &mut out[r * so..(r + 1) * so],
                        );
                    }
                }
            }
            vals.push(out);
        }
        vals
    }

    /// The exact f64 forward (kept units `max(0, x)`, linearized ones the identity).
    pub fn forward(&self, x: &[f64]) -> Vec<f64> {
        self.forward_values(x).pop().expect("output")
    }
}

impl Graph {
    /// The gradient of `row · output` with respect to the input at the point whose values
    /// are `vals` (from [`Graph::forward_values`] with exact ReLUs): kept units pass the
    /// gradient where their pre-activation is positive.
    pub fn input_gradient(&self, vals: &[Vec<f64>], row: &[f64]) -> Vec<f64> {
        let mut grads: Vec<Option<Vec<f64>>> = vec![None; self.sizes.len()];
        grads[self.sizes.len() - 1] = Some(row.to_vec());
        for k in (0..self.ops.len()).rev() {
            let Some(a) = grads[k + 1].take() else {
                continue;
            };
            let u0 = self.inputs[k][0];
            let mut acc = |v: usize, buf: Vec<f64>| match &mut grads[v] {
                Some(x) => {
                    for (p, q) in x.iter_mut().zip(&buf) {
                        *p += q;
                    }
                }
                slot @ None => *slot = Some(buf),
            };
            match &self.ops[k] {
                Op::Add => {
                    acc(self.inputs[k][1], a.clone());
                    acc(u0, a);
                }
                Op::Relu(m) => {
                    let pre = &vals[u0];
                    let out = (0..a.len())
                        .map(|i| {
                            if !m.is_kept(i) || pre[i] > 0.0 {
                                a[i]
                            } else {
                                0.0
                            }
                        })
                        .collect();
                    acc(u0, out);
                }
                op => {
                    let mut out = vec![0.0; self.sizes[u0]];
                    op.transpose(&a, &mut out);
                    acc(u0, out);
                }
            }
        }
        grads[0].take().unwrap_or_else(|| vec![0.0; self.sizes[0]])
    }
}

/// Sound interval bounds of every value: `lo[v][i] <= value_v[i] <= hi[v][i]`.
#[derive(Clone, Debug)]
pub struct Intervals {
    /// Lower ends, per value.
    pub lo: Vec<Vec<f64>>,
    /// Upper ends, per value.
    pub hi: Vec<Vec<f64>>,
}

impl Intervals {
    /// `max(|lo|, |hi|)` of value `v`.
    fn magnitude(&self, v: usize) -> Vec<f64> {
        self.lo[v]
            .iter()
            .zip(&self.hi[v])
            .map(|(l, h)| l.abs().max(h.abs()))
            .collect()
    }
}

/// The interval of node `k`'s output from the intervals of its inputs (sound, outward).
fn node_interval(g: &Graph, k: usize, iv: &Intervals) -> (Vec<f64>, Vec<f64>) {
    let n = g.sizes[k + 1];
    let u0 = g.inputs[k][0];
    let (lo, hi) = (&iv.lo[u0], &iv.hi[u0]);
    match &g.ops[k] {
        Op::Relu(m) => {
            let mut l = lo.clone();
            let mut h = hi.clone();
            for i in 0..n {
                if m.is_kept(i) {
                    l[i] = l[i].max(0.0);
                    h[i] = h[i].max(0.0);
                }
            }
            (l, h)
        }
        Op::Add => {
            let u1 = g.inputs[k][1];
            let l = (0..n).map(|i| down(lo[i] + iv.lo[u1][i])).collect();
            let h = (0..n).map(|i| up(hi[i] + iv.hi[u1][i])).collect();
            (l, h)
        }
        Op::Identity => (lo.clone(), hi.clone()),
        op => {
            let m_in = lo.len();
            let mut c = vec![0.0; m_in];
            let mut r = vec![0.0; m_in];
            let mut s = vec![0.0; m_in];
            for i in 0..m_in {
                c[i] = 0.5 * (lo[i] + hi[i]);
                r[i] = up((hi[i] - c[i]).max(c[i] - lo[i]));
                s[i] = c[i].abs() + r[i];
            }
            let mut co = vec![0.0; n];
            let mut ro = vec![0.0; n];
            let mut so = vec![0.0; n];
            let mut bo = vec![0.0; n];
            op.interval_terms(&c, &r, &s, &mut co, &mut ro, &mut so);
            op.abs_bias(&mut bo);
            let g2 = 2.0 * gamma(op.terms());
            let (mut l, mut h) = (vec![0.0; n], vec![0.0; n]);
            for i in 0..n {
                let mut e = g2 * (so[i] + bo[i]) + 2.0 * U * (co[i].abs() + ro[i]);
                if let Op::Scale {
                    scale_err,
                    shift_err,
                    per,
                    ..
                } = op
                {
                    let ch = i / per;
                    let m_i = lo[i].abs().max(hi[i].abs());
                    e += 2.0 * (scale_err[ch] * m_i + shift_err[ch]);
                }
                l[i] = down(co[i] - ro[i] - e);
                h[i] = up(co[i] + ro[i] + e);
            }
            (l, h)
        }
    }
}

/// Interval propagation over the whole graph from the input box.
pub fn intervals(g: &Graph, input: &InputBox) -> Intervals {
    let mut iv = Intervals {
        lo: vec![input.lower.clone()],
        hi: vec![input.upper.clone()],
    };
    for k in 0..g.ops.len() {
        let (l, h) = node_interval(g, k, &iv);
        iv.lo.push(l);
        iv.hi.push(h);
    }
    iv
}

/// Re-propagates intervals after value `from` changed, intersecting with the old ones.
fn repropagate(g: &Graph, iv: &mut Intervals, from: usize) {
    repropagate_ops(g, iv, from, g.ops.len());
}

/// [`repropagate`] of the ops `from..to` only (the values `from + 1 ..= to`): the values up
/// to `to` are then in step with the values before `from`, the later ones not yet.
fn repropagate_ops(g: &Graph, iv: &mut Intervals, from: usize, to: usize) {
    for k in from..to.min(g.ops.len()) {
        let (l, h) = node_interval(g, k, iv);
        for i in 0..l.len() {
            iv.lo[k + 1][i] = iv.lo[k + 1][i].max(l[i]);
            iv.hi[k + 1][i] = iv.hi[k + 1][i].min(h[i]);
        }
    }
}

/// A split of one kept unit in branch-and-bound: its pre-activation is `>= 0` (`active`)
/// or `<= 0` (not active).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Split {
    /// ReLU node.
    pub node: usize,
    /// Unit in the node.
    pub unit: usize,
    /// `true`: `x >= 0` (identity); `false`: `x <= 0` (zero).
    pub active: bool,
}

/// How the backward pass relaxes ReLUs, beyond the pre-activation intervals.
#[derive(Clone, Debug, Default)]
pub struct Relaxation {
    /// Per ReLU node (indexed by node), lower slopes for each row and unit (`rows × units`,
    /// row-major); `None`: CROWN's adaptive choice.
    pub alpha: HashMap<usize, Vec<f64>>,
    /// Split units with their Lagrange multiplier per row (`β ≥ 0`, β-CROWN).
    pub splits: Vec<(Split, Vec<f64>)>,
}

impl Relaxation {
    /// The splits on ReLU node `node` of `units` units: per unit, `(active, index in
    /// splits)` when it is split (a table, so that a pass looks a unit up in O(1)).
    pub fn splits_at(&self, node: usize, units: usize) -> Vec<Option<(bool, usize)>> {
        let mut at = vec![None; units];
        for (j, (s, _)) in self.splits.iter().enumerate() {
            if s.node == node && s.unit < units {
                at[s.unit] = Some((s.active, j));
            }
        }
        at
    }
}

/// `init + Σ aᵢbᵢ` with eight running partial sums, which the compiler turns into vector
/// instructions (a single running sum waits on each addition). The order of the additions
/// differs from left to right; every error bound here uses `γₙ` for a sum of `n` products,
/// which holds for any order.
fn dot(a: &[f64], b: &[f64], init: f64) -> f64 {
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let mut tail = init;
    for (x, y) in ca.remainder().iter().zip(cb.remainder()) {
        tail += x * y;
    }
    let mut acc = [0.0f64; 8];
    for (x, y) in ca.zip(cb) {
        for l in 0..8 {
            acc[l] += x[l] * y[l];
        }
    }
    sum8(acc) + tail
}

/// The sum of eight partial sums, pairwise.
fn sum8(v: [f64; 8]) -> f64 {
    ((v[0] + v[1]) + (v[2] + v[3])) + ((v[4] + v[5]) + (v[6] + v[7]))
}

/// `(init + w·c, a·r, a·s)` in one pass, each sum as in [`dot`].
fn dot3(w: &[f64], a: &[f64], c: &[f64], r: &[f64], s: &[f64], init: f64) -> (f64, f64, f64) {
    let n = w.len();
    let full = n - n % 8;
    let (mut x, mut y, mut z) = ([0.0f64; 8], [0.0f64; 8], [0.0f64; 8]);
    for j in (0..full).step_by(8) {
        let (w8, a8) = (&w[j..j + 8], &a[j..j + 8]);
        let (c8, r8, s8) = (&c[j..j + 8], &r[j..j + 8], &s[j..j + 8]);
        for l in 0..8 {
            x[l] += w8[l] * c8[l];
            y[l] += a8[l] * r8[l];
            z[l] += a8[l] * s8[l];
        }
    }
    let (mut tx, mut ty, mut tz) = (init, 0.0, 0.0);
    for j in full..n {
        tx += w[j] * c[j];
        ty += a[j] * r[j];
        tz += a[j] * s[j];
    }
    (sum8(x) + tx, sum8(y) + ty, sum8(z) + tz)
}

/// Whether a batch of coefficient rows is dense enough for one matrix product through a
/// dense layer: at least a quarter of its entries non-zero. Sparser batches (the one-hot
/// rows that start an intermediate bound) go row by row, skipping zeros.
fn worth_gemm(a: &[f64]) -> bool {
    4 * a.iter().filter(|&&x| x != 0.0).count() >= a.len()
}

/// `out += a·W` for `m` rows at once: `a` is `m × n_out`, `W` (`w`) `n_out × n_in` and `out`
/// `m × n_in`, all row-major — one matrix product (nalgebra's gemm, which hands sizes above
/// 5 to matrixmultiply's blocked kernels). Each entry of `out` is a sum of `n_out` products,
/// in whatever order the kernel takes; the classical bound `γₙ·Σ|a_o||W_oi|` on its rounding
/// error holds for every summation order (and with fused multiply-adds), so the backward
/// pass's error term `|a|·t` covers it exactly as it covers [`Op::transpose`]'s loop.
fn dense_transpose_rows(w: &[f64], n_in: usize, a: &[f64], m: usize, out: &mut [f64]) {
    let n_out = w.len() / n_in;
    // column-major views of the transposes (a row-major `r × c` slice is a column-major
    // `c × r` matrix): outᵀ (n_in × m) += Wᵀ (n_in × n_out) · aᵀ (n_out × m)
    let wt = nalgebra::DMatrixView::from_slice(w, n_in, n_out);
    let at = nalgebra::DMatrixView::from_slice(a, n_out, m);
    let mut ot = nalgebra::DMatrixViewMut::from_slice(out, n_in, m);
    ot.gemm(1.0, &wt, &at, 1.0);
}

/// What one backward pass returns, per row.
#[derive(Clone, Debug)]
pub struct Backward {
    /// Sound lower bound of each row.
    pub lower: Vec<f64>,
    /// The minimising corner of each row's final linear bound (`rows × inputs`).
    pub argmin: Vec<Vec<f64>>,
    /// Per ReLU node: the coefficient each row had on the node's output
    /// (`rows × units`), when asked for.
    pub relu_coef: HashMap<usize, Vec<f64>>,
    /// The total floating-point allowance subtracted (largest over the rows).
    pub fp_allowance: f64,
    /// Each row's final linear coefficients on the input (`rows × inputs`), when asked for
    /// (empty otherwise).
    pub input_coef: Vec<f64>,
}

/// The pre-activation interval of unit `i` of ReLU node `k`.
fn pre(iv: &Intervals, g: &Graph, k: usize, i: usize) -> (f64, f64) {
    let u = g.inputs[k][0];
    (iv.lo[u][i], iv.hi[u][i])
}

/// The floating-point error weights of a set of intervals: the magnitude bound `m` of every
/// value and, per linear node, `t = γₙ(|W| m + |b|)` (+ batch-norm parameter error) per
/// output, so that a row `a` on the node's output adds at most `|a|·t` of rounding error.
#[derive(Clone, Debug, PartialEq)]
pub struct FpTerms {
    mag: Vec<Vec<f64>>,
    t: Vec<Vec<f64>>,
}

impl FpTerms {
    /// Computes the terms for `iv`.
    pub fn new(g: &Graph, iv: &Intervals) -> FpTerms {
        let mag: Vec<Vec<f64>> = (0..g.sizes.len()).map(|v| iv.magnitude(v)).collect();
        let t = (0..g.ops.len())
            .map(|k| Self::node_terms(g, k, &mag))
            .collect();
        FpTerms { mag, t }
    }

    /// Re-computes the terms after the intervals of values `from` and later changed (what
    /// narrowing value `from` and [`repropagate`] from it touch): their magnitudes, and `t`
    /// of every node that reads one of them. The same terms as [`FpTerms::new`] gives.
    fn update_from(&mut self, g: &Graph, iv: &Intervals, from: usize) {
        for v in from..g.sizes.len() {
            self.mag[v] = iv.magnitude(v);
        }
        for k in 0..g.ops.len() {
            if g.inputs[k][0] >= from {
                self.t[k] = Self::node_terms(g, k, &self.mag);
            }
        }
    }

    /// `t` of node `k` from the magnitudes of its input.
    fn node_terms(g: &Graph, k: usize, mag: &[Vec<f64>]) -> Vec<f64> {
        let op = &g.ops[k];
        match op {
            Op::Add | Op::Identity | Op::Relu(_) => Vec::new(),
            op => {
                let sv = g.sizes[k + 1];
                let mu = &mag[g.inputs[k][0]];
                let mut t = vec![0.0; sv];
                op.apply(mu, true, &mut t);
                let mut bo = vec![0.0; sv];
                op.abs_bias(&mut bo);
                let gm = gamma(op.terms());
                let gb = gamma(sv + 2);
                for i in 0..sv {
                    t[i] = gm * t[i] + (gm + gb) * bo[i];
                }
                if let Op::Scale {
                    scale_err,
                    shift_err,
                    per,
                    ..
                } = op
                {
                    for i in 0..sv {
                        let ch = i / per;
                        t[i] += scale_err[ch] * mu[i] + shift_err[ch];
                    }
                }
                t
            }
        }
    }
}

/// Adds one reader's coefficients `buf` into value `v`'s pending rows. An addition into
/// coefficients already there is off by at most `u|sum|` per entry: its error, times the
/// value's magnitude, goes into each row's `err`.
#[allow(clippy::too_many_arguments)]
fn add_into(
    g: &Graph,
    fp: &FpTerms,
    pending: &mut HashMap<usize, Vec<f64>>,
    err: &mut [f64],
    m: usize,
    v: usize,
    buf: Vec<f64>,
) {
    match pending.get_mut(&v) {
        Some(acc) => {
            for (a, b) in acc.iter_mut().zip(&buf) {
                *a += b;
            }
            let sv = g.sizes[v];
            let mv = &fp.mag[v];
            for r in 0..m {
                let s: f64 = acc[r * sv..(r + 1) * sv]
                    .iter()
                    .zip(mv)
                    .map(|(x, y)| x.abs() * y)
                    .sum();
                err[r] += 2.0 * U * s * (1.0 + gamma(sv + 2));
            }
        }
        None => {
            pending.insert(v, buf);
        }
    }
}

/// Lower bounds of `rows · value_start` over the input box by back-substitution.
///
/// `rows` is `m × size(start)` row-major. The pre-activation intervals in `iv` must be sound.
/// `record` keeps each row's coefficients on every kept ReLU node's output (for α/β
/// gradients and branching scores).
#[allow(clippy::too_many_arguments)] // the parts of one query, read by every caller
pub fn backward(
    g: &Graph,
    iv: &Intervals,
    fp: &FpTerms,
    input: &InputBox,
    start: usize,
    rows: &[f64],
    m: usize,
    relax: &Relaxation,
    record: bool,
) -> Backward {
    let mut pending: HashMap<usize, Vec<f64>> = HashMap::new();
    pending.insert(start, rows.to_vec());
    let mut bias = vec![0.0; m];
    let mut err = vec![0.0; m];
    let mut relu_coef = HashMap::new();
    for k in (0..start).rev() {
        let v = k + 1;
        let Some(a) = pending.remove(&v) else {
            continue;
        };
        let sv = g.sizes[v];
        let u0 = g.inputs[k][0];
        let su = g.sizes[u0];
        match &g.ops[k] {
            Op::Add => {
                let u1 = g.inputs[k][1];
                add_into(g, fp, &mut pending, &mut err, m, u1, a.clone());
                add_into(g, fp, &mut pending, &mut err, m, u0, a);
            }
            Op::Identity => add_into(g, fp, &mut pending, &mut err, m, u0, a),
            Op::Relu(mask) => {
                if record {
                    relu_coef.insert(k, a.clone());
                }
                let mu = &fp.mag[u0];
                let split_of = relax.splits_at(k, sv);
                let mut out = vec![0.0; m * su];
                for r in 0..m {
                    let ar = &a[r * sv..(r + 1) * sv];
                    let or = &mut out[r * su..(r + 1) * su];
                    let alpha = relax.alpha.get(&k).map(|al| &al[r * sv..(r + 1) * sv]);
                    let (mut b, mut e) = (0.0f64, 0.0f64);
                    for i in 0..sv {
                        let ai = ar[i];
                        if !mask.is_kept(i) {
                            or[i] = ai;
                            continue;
                        }
                        if let Some((active, j)) = split_of[i] {
                            let base = if active { ai } else { 0.0 };
                            let beta = relax.splits[j].1[r];
                            // min over {σx >= 0} of f >= min over x of f − β σ x
                            let sigma = if active { 1.0 } else { -1.0 };
                            let val = base - beta * sigma;
                            or[i] = val;
                            e += 2.0 * U * val.abs() * mu[i];
                            continue;
                        }
                        if ai == 0.0 {
                            continue;
                        }
                        let (l, h) = pre(iv, g, k, i);
                        if l >= 0.0 {
                            or[i] = ai;
                        } else if h <= 0.0 {
                            or[i] = 0.0;
                        } else if ai >= 0.0 {
                            let al = alpha.map_or_else(|| default_alpha(l, h), |al| al[i]);
                            let v = ai * al;
                            or[i] = v;
                            e += U * v.abs() * mu[i];
                        } else {
                            let s = upper_slope(l, h);
                            let v = ai * s;
                            or[i] = v;
                            b += v * (-l);
                            e += 2.0 * U * v.abs() * (mu[i] + 2.0 * l.abs())
                                + gamma(sv + 2) * (v * l).abs();
                        }
                    }
                    bias[r] += b;
                    err[r] += e + 2.0 * U * bias[r].abs();
                }
                add_into(g, fp, &mut pending, &mut err, m, u0, out);
            }
            op => {
                let t = &fp.t[k];
                let mut out = vec![0.0; m * su];
                match op {
                    Op::Dense { w, n_in, .. } if m > 1 && worth_gemm(&a) => {
                        dense_transpose_rows(w, *n_in, &a, m, &mut out)
                    }
                    _ => {
                        for r in 0..m {
                            let ar = &a[r * sv..(r + 1) * sv];
                            op.transpose(ar, &mut out[r * su..(r + 1) * su]);
                        }
                    }
                }
                for r in 0..m {
                    let ar = &a[r * sv..(r + 1) * sv];
                    bias[r] += op.bias_dot(ar);
                    let e: f64 = ar.iter().zip(t).map(|(x, y)| x.abs() * y).sum();
                    err[r] += e + 2.0 * U * bias[r].abs();
                }
                add_into(g, fp, &mut pending, &mut err, m, u0, out);
            }
        }
    }
    // concretise at the input
    let n = g.sizes[0];
    let a0 = pending.remove(&0).unwrap_or_else(|| vec![0.0; m * n]);
    let mut lower = vec![0.0; m];
    let mut argmin = Vec::with_capacity(m);
    let mut fp_allowance = 0.0f64;
    let (cen, rad): (Vec<f64>, Vec<f64>) = input
        .lower
        .iter()
        .zip(&input.upper)
        .map(|(&l, &h)| {
            let c = 0.5 * (l + h);
            (c, up((h - c).max(c - l)))
        })
        .unzip();
    let g2n = gamma(2 * n + 2);
    for r in 0..m {
        let ar = &a0[r * n..(r + 1) * n];
        let mut s = 0.0;
        let mut mag_sum = 0.0;
        let mut x = Vec::with_capacity(n);
        for j in 0..n {
            let a = ar[j];
            s += a * cen[j] - a.abs() * rad[j];
            mag_sum += a.abs() * (cen[j].abs() + rad[j]);
            x.push(if a > 0.0 {
                input.lower[j]
            } else if a < 0.0 {
                input.upper[j]
            } else {
                cen[j]
            });
        }
        let mut e = err[r] + 2.0 * g2n * mag_sum;
        let total = s + bias[r];
        e = 2.0 * e + 2.0 * U * (s.abs() + bias[r].abs());
        let lb = down(total - e - 2.0 * U * (total.abs() + e));
        lower[r] = if lb.is_nan() { f64::NEG_INFINITY } else { lb };
        fp_allowance = fp_allowance.max(e);
        argmin.push(x);
    }
    Backward {
        lower,
        argmin,
        relu_coef,
        fp_allowance,
        input_coef: if record { a0 } else { Vec::new() },
    }
}

/// Statistics of an intermediate-bound pass.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct LbpStats {
    /// Kept units over all ReLU layers.
    pub kept: usize,
    /// Kept units interval propagation could not show stable (they got a back-substitution).
    pub candidates: usize,
    /// Kept units refined by back-substitution before the deadline.
    pub refined: usize,
    /// Kept units whose final pre-activation interval straddles 0.
    pub unstable_kept: usize,
    /// Largest floating-point allowance subtracted from a bound.
    pub fp_allowance: f64,
    /// Whether the deadline stopped the refinement (remaining units keep interval bounds).
    pub timed_out: bool,
}

/// Sound pre-activation bounds for every kept unit: interval propagation, then CROWN
/// back-substitution for the kept units interval propagation leaves unstable, layer by layer.
/// Cloning shares the graph.
#[derive(Clone, Debug)]
pub struct Analysis {
    /// The compiled graph.
    pub graph: std::sync::Arc<Graph>,
    /// Sound intervals of every value (ReLU pre-activations refined by back-substitution).
    pub iv: Intervals,
    /// The input box.
    pub input: InputBox,
    /// What was done.
    pub stats: LbpStats,
    /// Floating-point error weights of `iv`.
    pub fp: FpTerms,
}

/// The deadline for intermediate bounds within a run that ends at `deadline`: 90% of the
/// time left, so that the output or margin pass that follows them (a handful of rows) still
/// runs with whatever was refined, instead of leaving interval bounds at a timeout.
pub fn refine_deadline(deadline: Option<Instant>) -> Option<Instant> {
    deadline.map(|d| {
        let now = Instant::now();
        if d > now {
            now + (d - now).mul_f64(0.9)
        } else {
            d
        }
    })
}

/// Rows per backward batch (memory: `rows × value size` f64 per live value).
const BATCH_ROWS: usize = 32;

/// Graphs with more values than this refine intermediate bounds in batches of
/// [`BATCH_ROWS_LARGE`] rows: one row's pass is expensive there (tens of milliseconds on a
/// ResNet-18), and the deadline is checked between batches.
const LARGE_GRAPH_VALUES: usize = 100_000;
const BATCH_ROWS_LARGE: usize = 4;

thread_local! {
    /// Set while a caller already runs one bounding problem per core (see [`serial`]).
    static SERIAL: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Runs `f` with this thread's bound computations on this thread only: for callers that
/// bound several problems at once, one per core (input branch-and-bound), where nested
/// threads would only add spawning and contention.
pub fn serial<R>(f: impl FnOnce() -> R) -> R {
    let was = SERIAL.with(|s| s.replace(true));
    let r = f();
    SERIAL.with(|s| s.set(was));
    r
}

/// `f` of every item, each on its own thread and [`serial`] there (one bounding problem per
/// core); a single item, or any inside [`serial`], runs on this thread. Results in order.
pub fn each_on_own_core<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    if items.len() <= 1 || SERIAL.with(|s| s.get()) {
        return items.iter().map(f).collect();
    }
    let f = &f;
    std::thread::scope(|s| {
        let handles: Vec<_> = items
            .iter()
            .map(|item| s.spawn(move || serial(|| f(item))))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("a bounding thread panicked"))
            .collect()
    })
}

/// The cores bound computations may use from this thread (1 inside [`serial`]).
pub fn threads() -> usize {
    if SERIAL.with(|s| s.get()) {
        1
    } else {
        std::thread::available_parallelism()
            .map(|p| p.get())
            .unwrap_or(1)
    }
}

/// Runs `f(start, end)` for chunks of `0..n` on all cores; results in order.
fn parallel_chunks<T: Send>(
    n: usize,
    chunk: usize,
    deadline: Option<Instant>,
    f: impl Fn(usize, usize) -> T + Sync,
) -> Vec<Option<T>> {
    let chunks = n.div_ceil(chunk);
    let threads = threads().min(chunks.max(1));
    if threads <= 1 {
        return (0..chunks)
            .map(|c| {
                if deadline.is_some_and(|d| Instant::now() >= d) {
                    None
                } else {
                    Some(f(c * chunk, ((c + 1) * chunk).min(n)))
                }
            })
            .collect();
    }
    let next = AtomicUsize::new(0);
    let out: Mutex<Vec<Option<T>>> = Mutex::new((0..chunks).map(|_| None).collect());
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| loop {
                if deadline.is_some_and(|d| Instant::now() >= d) {
                    break;
                }
                let c = next.fetch_add(1, Ordering::Relaxed);
                if c >= chunks {
                    break;
                }
                let r = f(c * chunk, ((c + 1) * chunk).min(n));
                out.lock().expect("no panics while holding the lock")[c] = Some(r);
            });
        }
    });
    out.into_inner().expect("threads joined")
}

impl Analysis {
    /// Interval propagation plus CROWN intermediate bounds for the kept units, stopping at
    /// `deadline` (the bounds then stay sound, only looser).
    pub fn new(net: &Network, input: &InputBox, deadline: Option<Instant>) -> Result<Analysis> {
        let mut a = Analysis::interval_only(net, input)?;
        a.refine(deadline, &Relaxation::default());
        Ok(a)
    }

    /// Interval bounds only (no back-substitution).
    pub fn interval_only(net: &Network, input: &InputBox) -> Result<Analysis> {
        let graph = Graph::new(net)?;
        if input.dim() != graph.sizes[0] {
            return Err(Error::InputBox(crate::BoxProblem::Dimension {
                expected: graph.sizes[0],
                got: input.dim(),
            }));
        }
        let iv = intervals(&graph, input);
        let fp = FpTerms::new(&graph, &iv);
        let mut a = Analysis {
            graph: std::sync::Arc::new(graph),
            iv,
            input: input.clone(),
            stats: LbpStats::default(),
            fp,
        };
        a.count_unstable();
        a.stats.kept = a.kept_total();
        Ok(a)
    }

    fn kept_total(&self) -> usize {
        self.graph
            .kept_relu_nodes()
            .iter()
            .map(|&k| self.graph.mask(k).map_or(0, |m| m.kept()))
            .sum()
    }

    fn count_unstable(&mut self) {
        let mut n = 0;
        for k in self.graph.kept_relu_nodes() {
            let m = self.graph.mask(k).expect("relu");
            for i in 0..m.len() {
                let (l, h) = pre(&self.iv, &self.graph, k, i);
                if m.is_kept(i) && l < 0.0 && h > 0.0 {
                    n += 1;
                }
            }
        }
        self.stats.unstable_kept = n;
    }

    /// Kept units of node `k` whose interval straddles 0.
    pub fn unstable_units(&self, k: usize) -> Vec<usize> {
        let Some(m) = self.graph.mask(k) else {
            return Vec::new();
        };
        (0..m.len())
            .filter(|&i| {
                let (l, h) = pre(&self.iv, &self.graph, k, i);
                m.is_kept(i) && l < 0.0 && h > 0.0
            })
            .collect()
    }

    /// Refines the kept units' pre-activation bounds by back-substitution, layer by layer.
    pub(crate) fn refine(&mut self, deadline: Option<Instant>, relax: &Relaxation) {
        self.refine_from(0, deadline, relax);
    }

    /// [`Analysis::refine`] for the ReLU nodes from node `first` on.
    pub(crate) fn refine_from(
        &mut self,
        first: usize,
        deadline: Option<Instant>,
        relax: &Relaxation,
    ) {
        self.refine_stale(first, None, deadline, relax);
    }

    /// Narrows value `v` to `update` (`(unit, lo, hi)`, a sound bound) and refines the ReLU
    /// nodes from node `first` on, as [`Analysis::narrow`] then [`Analysis::refine_from`],
    /// with the intervals after `v` re-propagated once instead of once per step.
    pub(crate) fn narrow_then_refine(
        &mut self,
        v: usize,
        update: (usize, f64, f64),
        first: usize,
        deadline: Option<Instant>,
        relax: &Relaxation,
    ) {
        self.intersect(v, &[update]);
        self.refine_stale(first, Some(v), deadline, relax);
    }

    /// [`Analysis::refine_from`] where the intervals after value `stale` (when `Some`) are
    /// not yet re-propagated and the floating-point terms not yet updated for them: each
    /// node's input is brought in step just before it is refined, the rest at the end.
    fn refine_stale(
        &mut self,
        first: usize,
        stale: Option<usize>,
        deadline: Option<Instant>,
        relax: &Relaxation,
    ) {
        self.stats = LbpStats {
            kept: self.kept_total(),
            ..LbpStats::default()
        };
        // `fp` is in step with `iv` on entry (every change of `iv` updates it: here,
        // `narrow`, `interval_only`). Within the loop it is left as it was: intervals only
        // narrow, so the magnitudes it holds still bound every value and its error terms
        // stay sound (only a little larger); one update at the end brings it in step.
        let mut changed_from: Option<usize> = stale;
        // the first op whose output is not in step with its inputs' intervals
        let mut pending: Option<usize> = stale;
        for k in self.graph.kept_relu_nodes() {
            if k < first {
                continue;
            }
            let u = self.graph.inputs[k][0];
            if let Some(p) = pending.filter(|&p| p < u) {
                repropagate_ops(&self.graph, &mut self.iv, p, u);
                pending = Some(u);
            }
            let units = self.unstable_units(k);
            self.stats.candidates += units.len();
            if units.is_empty() {
                continue;
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                self.stats.timed_out = true;
                continue;
            }
            let su = self.graph.sizes[u];
            let g = &self.graph;
            let iv = &self.iv;
            let fp = &self.fp;
            let input = &self.input;
            // rows: +e_i (lower) and −e_i (upper) for each unit
            let per = self.units_per_batch();
            let results = parallel_chunks(units.len(), per, deadline, |s, e| {
                let m = 2 * (e - s);
                let mut rows = vec![0.0; m * su];
                for (j, &i) in units[s..e].iter().enumerate() {
                    rows[(2 * j) * su + i] = 1.0;
                    rows[(2 * j + 1) * su + i] = -1.0;
                }
                backward(g, iv, fp, input, u, &rows, m, relax, false)
            });
            let mut refined = 0;
            let mut fp = 0.0f64;
            let mut updates = Vec::new();
            for (c, r) in results.into_iter().enumerate() {
                let Some(b) = r else {
                    self.stats.timed_out = true;
                    continue;
                };
                fp = fp.max(b.fp_allowance);
                let s = c * per;
                for j in 0..b.lower.len() / 2 {
                    updates.push((units[s + j], b.lower[2 * j], -b.lower[2 * j + 1]));
                    refined += 1;
                }
            }
            self.intersect(u, &updates);
            self.stats.refined += refined;
            self.stats.fp_allowance = self.stats.fp_allowance.max(fp);
            pending = Some(pending.map_or(u, |p| p.min(u)));
            changed_from = Some(changed_from.map_or(u, |c| c.min(u)));
        }
        if let Some(p) = pending {
            repropagate(&self.graph, &mut self.iv, p);
        }
        if let Some(u) = changed_from {
            self.fp.update_from(&self.graph, &self.iv, u);
        }
        self.count_unstable();
    }

    /// Whether one backward row is expensive here (see [`LARGE_GRAPH_VALUES`]).
    fn large(&self) -> bool {
        self.graph.total_size() > LARGE_GRAPH_VALUES
    }

    /// Units (two rows each: lower and upper) per backward batch.
    fn units_per_batch(&self) -> usize {
        if self.large() {
            BATCH_ROWS_LARGE / 2
        } else {
            BATCH_ROWS / 2
        }
    }

    /// Narrows the intervals of value `v` to `[lo, hi]` where those are tighter (`updates`:
    /// `(unit, lo, hi)`, each a sound bound), then re-propagates intervals downstream and
    /// recomputes the floating-point terms and the unstable count.
    pub(crate) fn narrow(&mut self, v: usize, updates: &[(usize, f64, f64)]) {
        self.intersect(v, updates);
        repropagate(&self.graph, &mut self.iv, v);
        self.fp.update_from(&self.graph, &self.iv, v);
        self.count_unstable();
    }

    /// Intersects the intervals of value `v` with `updates` (`(unit, lo, hi)`, each a sound
    /// bound), nothing else: the values after `v` are not re-propagated.
    fn intersect(&mut self, v: usize, updates: &[(usize, f64, f64)]) {
        for &(i, lo, hi) in updates {
            self.iv.lo[v][i] = self.iv.lo[v][i].max(lo);
            self.iv.hi[v][i] = self.iv.hi[v][i].min(hi);
        }
    }

    /// Lower bounds of `rows · value_start` (`m × size(start)`, row-major).
    pub fn lower_bounds_at(
        &self,
        start: usize,
        rows: &[f64],
        m: usize,
        relax: &Relaxation,
        record: bool,
    ) -> Backward {
        backward(
            &self.graph,
            &self.iv,
            &self.fp,
            &self.input,
            start,
            rows,
            m,
            relax,
            record,
        )
    }

    /// Lower bounds of `rows · output` (`m × outputs`, row-major).
    pub fn lower_bounds(
        &self,
        rows: &[f64],
        m: usize,
        relax: &Relaxation,
        record: bool,
    ) -> Backward {
        self.lower_bounds_at(self.graph.values() - 1, rows, m, relax, record)
    }

    /// Sound bounds of every output: back-substitution intersected with intervals (outputs
    /// whose batch `deadline` stopped keep their interval bounds).
    pub fn output_bounds(&self, deadline: Option<Instant>) -> (Vec<f64>, Vec<f64>, f64) {
        let out = self.graph.values() - 1;
        let n = self.graph.sizes[out];
        let mut lo = self.iv.lo[out].clone();
        let mut hi = self.iv.hi[out].clone();
        if deadline.is_some_and(|d| Instant::now() >= d) {
            return (lo, hi, 0.0);
        }
        let mut rows = vec![0.0; 2 * n * n];
        for i in 0..n {
            rows[(2 * i) * n + i] = 1.0;
            rows[(2 * i + 1) * n + i] = -1.0;
        }
        // one output (two rows) a batch on large graphs, so the deadline is checked often
        let per = if self.large() { 1 } else { BATCH_ROWS / 2 };
        let results = parallel_chunks(n, per, deadline, |s, e| {
            self.lower_bounds(
                &rows[2 * s * n..2 * e * n],
                2 * (e - s),
                &Relaxation::default(),
                false,
            )
        });
        let mut fp = 0.0f64;
        for (c, r) in results.into_iter().enumerate() {
            // past the deadline, the outputs of the batches not run keep interval bounds
            let Some(b) = r else { continue };
            fp = fp.max(b.fp_allowance);
            let s = c * per;
            for j in 0..b.lower.len() / 2 {
                lo[s + j] = lo[s + j].max(b.lower[2 * j]);
                hi[s + j] = hi[s + j].min(-b.lower[2 * j + 1]);
            }
        }
        (lo, hi, fp)
    }
}
