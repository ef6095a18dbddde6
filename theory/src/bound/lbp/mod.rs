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
//!
//! # Layout
//! * [`op`](self) — `op.rs`: the compiled op enum with every pass's part for each op in one
//!   place: compiling a layer, the forward pass, interval propagation, floating-point error
//!   weights, and the backward step (linear ops by their transpose, ReLU nodes by their
//!   relaxation);
//! * this module: the graph (ops, readers, value sizes), intervals, and the passes that walk
//!   the graph calling each op ([`intervals`], [`backward`], [`Graph::forward_values`]);
//! * `analysis.rs`: [`Analysis`], the intermediate bounds of a whole graph and how their
//!   work is spread over the cores;
//! * `kernels.rs`: the loops (dot products, a batch of rows through a dense layer).
use std::collections::HashMap;
use std::time::Instant;

use crate::bound::InputBox;
use crate::{numel, Layer, Network, ReluMask, Result};

mod analysis;
mod kernels;
mod op;

pub use analysis::*;
use op::Op;

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
            ops.push(Op::compile(&node.layer, s_in, s_out));
        }
        Ok(Graph {
            ops,
            inputs: net
                .nodes
                .iter()
                .map(|n| n.inputs.iter().map(|v| v.index()).collect())
                .collect(),
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
            if let Op::Relu(mask) = op {
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
            } else {
                let b = self.inputs[k].get(1).map(|&u| &vals[u][..]);
                op.forward_rows(a, b, m, (si, so), &mut out);
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
    let ins: Vec<(&[f64], &[f64])> = g.inputs[k]
        .iter()
        .map(|&u| (&iv.lo[u][..], &iv.hi[u][..]))
        .collect();
    g.ops[k].interval(g.sizes[k + 1], &ins)
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

/// The rows a backward step works on: `m` rows from a value of `sv` entries to one of
/// `su`, with each row's running bias and floating-point error.
pub(super) struct Rows<'a> {
    m: usize,
    sv: usize,
    su: usize,
    bias: &'a mut [f64],
    err: &'a mut [f64],
}

/// How a backward step relaxes one ReLU node's kept units: α per row and unit (`rows ×
/// units`; `None`: CROWN's choice), and the split units with their β per row.
pub(super) struct Slopes<'a> {
    alpha: Option<&'a [f64]>,
    split_of: &'a [Option<(bool, usize)>],
    splits: &'a [(Split, Vec<f64>)],
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
        g.ops[k].fp_terms(&mag[g.inputs[k][0]], g.sizes[k + 1])
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
                let pre = (&iv.lo[u0][..], &iv.hi[u0][..]);
                let split_of = relax.splits_at(k, sv);
                let slopes = Slopes {
                    alpha: relax.alpha.get(&k).map(|al| &al[..]),
                    split_of: &split_of,
                    splits: &relax.splits,
                };
                let rows = Rows {
                    m,
                    sv,
                    su,
                    bias: &mut bias,
                    err: &mut err,
                };
                let out = Op::relu_back(mask, &a, rows, pre, &fp.mag[u0], &slopes);
                add_into(g, fp, &mut pending, &mut err, m, u0, out);
            }
            op => {
                let rows = Rows {
                    m,
                    sv,
                    su,
                    bias: &mut bias,
                    err: &mut err,
                };
                let out = op.linear_back(&a, rows, &fp.t[k]);
                add_into(g, fp, &mut pending, &mut err, m, u0, out);
            }
        }
    }
    let n = g.sizes[0];
    let a0 = pending.remove(&0).unwrap_or_else(|| vec![0.0; m * n]);
    let (lower, argmin, fp_allowance) = concretise(input, &a0, m, &bias, &err);
    Backward {
        lower,
        argmin,
        relu_coef,
        fp_allowance,
        input_coef: if record { a0 } else { Vec::new() },
    }
}

/// Concretises the rows `a0` (`m × inputs`) at the input box: each row's lower bound
/// `a·x + bias` over the box minus its error `err` and the rounding of this last step
/// (rounded outward), the corner that minimises it, and the largest allowance subtracted.
fn concretise(
    input: &InputBox,
    a0: &[f64],
    m: usize,
    bias: &[f64],
    err: &[f64],
) -> (Vec<f64>, Vec<Vec<f64>>, f64) {
    let n = input.dim();
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
    (lower, argmin, fp_allowance)
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
