//! One compiled operation of the graph, with everything a bound pass asks of it.

use super::kernels::{dense_transpose_rows, dot, dot3, nonzero_box, valid_range, worth_gemm};
use super::*;

/// One compiled operation of the graph.
#[derive(Clone, Debug)]
pub(super) enum Op {
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
    /// Compiles one layer reading a value of shape `s_in` into a value of shape `s_out`.
    pub(super) fn compile(layer: &Layer, s_in: &[usize], s_out: &[usize]) -> Op {
        let three = |s: &[usize]| -> [usize; 3] { [s[0], s[1], s[2]] };
        match layer {
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
        }
    }
}

impl Op {
    /// Number of terms any one output or transposed entry sums (for `γₙ`).
    pub(super) fn terms(&self) -> usize {
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
    pub(super) fn apply(&self, x: &[f64], abs: bool, out: &mut [f64]) {
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
    pub(super) fn abs_bias(&self, out: &mut [f64]) {
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
    pub(super) fn transpose(&self, a: &[f64], a_in: &mut [f64]) {
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
            Op::Conv { .. } => self.conv_transpose(a, a_in),
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

    /// [`Op::transpose`] of a convolution: each output channel's coefficients within the
    /// bounding box of their non-zeros, spread back through the kernel.
    fn conv_transpose(&self, a: &[f64], a_in: &mut [f64]) {
        let Op::Conv {
            w,
            ins,
            outs,
            kernel,
            stride,
            padding,
            ..
        } = self
        else {
            unreachable!("a convolution")
        };
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

    /// `op(c)`, `|op|(r)` and `|op|(s)` (interval propagation's centre, radius and
    /// magnitude terms): three [`Op::apply`]s, fused into one pass over the weights for a
    /// dense layer.
    pub(super) fn interval_terms(
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
    pub(super) fn bias_dot(&self, a: &[f64]) -> f64 {
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

impl Op {
    /// The interval of the op's output (`n` values) from the intervals `(lo, hi)` of its
    /// inputs (sound, outward).
    pub(super) fn interval(&self, n: usize, ins: &[(&[f64], &[f64])]) -> (Vec<f64>, Vec<f64>) {
        let (lo, hi) = ins[0];
        match self {
            Op::Relu(m) => {
                let mut l = lo.to_vec();
                let mut h = hi.to_vec();
                for i in 0..n {
                    if m.is_kept(i) {
                        l[i] = l[i].max(0.0);
                        h[i] = h[i].max(0.0);
                    }
                }
                (l, h)
            }
            Op::Add => {
                let (lo1, hi1) = ins[1];
                let l = (0..n).map(|i| down(lo[i] + lo1[i])).collect();
                let h = (0..n).map(|i| up(hi[i] + hi1[i])).collect();
                (l, h)
            }
            Op::Identity => (lo.to_vec(), hi.to_vec()),
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
}

/// The forward pass of each op.
impl Op {
    /// The op's output for `m` rows at once (`a`, and `b` for an add: `m × si` row-major;
    /// `out`: `m × so`); dense layers are one matrix product over the rows (summed in the
    /// kernel's order: for gradients and scores, never for a bound or a verdict). Not for
    /// ReLU nodes, which the caller evaluates.
    pub(super) fn forward_rows(
        &self,
        a: &[f64],
        b: Option<&[f64]>,
        m: usize,
        (si, so): (usize, usize),
        out: &mut [f64],
    ) {
        match self {
            Op::Add => {
                let b = b.expect("an add reads two values");
                for ((o, x), y) in out.iter_mut().zip(a).zip(b) {
                    *o = x + y;
                }
            }
            Op::Relu(_) => unreachable!("the caller evaluates ReLU nodes"),
            Op::Dense { w_cols, b, .. } if m > 1 => {
                for row in out.chunks_mut(so) {
                    row.copy_from_slice(b);
                }
                // outᵀ (so × m) += W (so × si) · xᵀ (si × m), column-major views
                let w = nalgebra::DMatrixView::from_slice(w_cols, so, si);
                let xt = nalgebra::DMatrixView::from_slice(a, si, m);
                nalgebra::DMatrixViewMut::from_slice(out, so, m).gemm(1.0, &w, &xt, 1.0);
            }
            _ => {
                for r in 0..m {
                    self.apply(
                        &a[r * si..(r + 1) * si],
                        false,
                        &mut out[r * so..(r + 1) * so],
                    );
                }
            }
        }
    }
}

/// The floating-point error weights and backward steps of each op.
impl Op {
    /// `t = γₙ(|W| m + |b|)` (+ batch-norm parameter error) per output of a linear op whose
    /// input has magnitudes `mu`, for `sv` outputs; empty for the ops that add no rounding of
    /// their own (add, identity, ReLU: see [`super::add_into`] and [`Op::relu_back`]).
    pub(super) fn fp_terms(&self, mu: &[f64], sv: usize) -> Vec<f64> {
        match self {
            Op::Add | Op::Identity | Op::Relu(_) => Vec::new(),
            op => {
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

    /// One backward step through a linear op with one input: the rows `a` (`m × sv`) on its
    /// output become rows on its input (`m × su`, returned), each row's bias gains `a·b` and
    /// its error `|a|·t` (`t`: [`Op::fp_terms`]).
    pub(super) fn linear_back(&self, a: &[f64], rows: Rows<'_>, t: &[f64]) -> Vec<f64> {
        let Rows {
            m,
            sv,
            su,
            bias,
            err,
        } = rows;
        let mut out = vec![0.0; m * su];
        match self {
            Op::Dense { w, n_in, .. } if m > 1 && worth_gemm(a) => {
                dense_transpose_rows(w, *n_in, a, m, &mut out)
            }
            _ => {
                for r in 0..m {
                    let ar = &a[r * sv..(r + 1) * sv];
                    self.transpose(ar, &mut out[r * su..(r + 1) * su]);
                }
            }
        }
        for r in 0..m {
            let ar = &a[r * sv..(r + 1) * sv];
            bias[r] += self.bias_dot(ar);
            let e: f64 = ar.iter().zip(t).map(|(x, y)| x.abs() * y).sum();
            err[r] += e + 2.0 * U * bias[r].abs();
        }
        out
    }

    /// One backward step through a ReLU node: the rows `a` on its output become rows on
    /// its pre-activation, each kept unit replaced by its relaxation — split units by
    /// their side with β (β-CROWN), unstable ones (`pre` straddles 0) by the lower slope α
    /// or the upper line `s·(x − l)` by the sign of the row's coefficient — with the
    /// rounding of each step added to the row's error (`mu`: the pre-activations'
    /// magnitudes).
    pub(super) fn relu_back(
        mask: &ReluMask,
        a: &[f64],
        rows: Rows<'_>,
        pre: (&[f64], &[f64]),
        mu: &[f64],
        slopes: &Slopes<'_>,
    ) -> Vec<f64> {
        let Rows {
            m,
            sv,
            su,
            bias,
            err,
        } = rows;
        let mut out = vec![0.0; m * su];
        for r in 0..m {
            let ar = &a[r * sv..(r + 1) * sv];
            let or = &mut out[r * su..(r + 1) * su];
            let alpha = slopes.alpha.map(|al| &al[r * sv..(r + 1) * sv]);
            let (mut b, mut e) = (0.0f64, 0.0f64);
            for i in 0..sv {
                let ai = ar[i];
                if !mask.is_kept(i) {
                    or[i] = ai;
                    continue;
                }
                if let Some((active, j)) = slopes.split_of[i] {
                    let base = if active { ai } else { 0.0 };
                    let beta = slopes.splits[j].1[r];
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
                let (l, h) = (pre.0[i], pre.1[i]);
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
                    e +=
                        2.0 * U * v.abs() * (mu[i] + 2.0 * l.abs()) + gamma(sv + 2) * (v * l).abs();
                }
            }
            bias[r] += b;
            err[r] += e + 2.0 * U * bias[r].abs();
        }
        out
    }
}
