//! α-CROWN, a PGD attack and β-CROWN-style branch-and-bound on the kept ReLUs, built on
//! [`lbp`](super::lbp).
//!
//! * **α-CROWN** ([`optimize`]): the lower slopes `α ∈ [0, 1]` of the kept unstable units
//!   (one set per specification row) are raised by projected Adam ascent on the sound
//!   lower bound; the gradient is exact for the piecewise-linear bound (a forward pass of
//!   the bound's minimising input through the relaxed network gives `∂bound/∂α`). The best
//!   bound seen is kept, and iteration 0 is CROWN, so the result is never looser than CROWN.
//! * **Attack** ([`pgd`]): projected gradient descent on the worst margin `max_j y_j − y_c`
//!   from the centre and from deterministic random starts, signed steps scaled to the box.
//! * **Branch-and-bound** ([`Level::Bab`]): a domain is a set of
//!   splits `x_i ≥ 0` / `x_i ≤ 0` of kept units whose interval straddles 0 (linearized and
//!   stable units are never split). In a domain the split units are exact (identity or
//!   zero) and their constraints enter the bound through Lagrange multipliers `β ≥ 0`
//!   (β-CROWN), optimised together with α. The root's intermediate bounds are first
//!   tightened by α-CROWN ([`tighten_intermediate`]); when a first, short branch-and-bound
//!   leaves the instance open, they are tightened again by a small branch-and-bound per
//!   unit ([`bab_tighten_intermediate`]: each unstable unit's bound, node by node, over
//!   splits of the units before it — what α,β-CROWN gets from MILP refinement with Gurobi,
//!   here with the same sound bounds as every domain) and branch-and-bound starts again from
//!   them; each child re-computes the CROWN
//!   bounds of the ReLU nodes after its split ([`split_analysis`]). Domains are processed
//!   worst bound first; the unit to split is chosen by filtered smart branching
//!   ([`pick_unit_fsb`]) among the units whose triangle relaxation costs the bound most —
//!   the intercept `|a_i|·u_i·(−l_i)/(u_i − l_i)` summed over the unproved rows, where
//!   `a_i < 0` is the row's coefficient on the unit (BaBSR's intercept score), the widest
//!   interval as the tie-break. Each domain's minimising inputs are tried as
//!   counterexamples. Networks with few inputs ([`Options::input_split_max_dim`]) are
//!   branched on the input box instead: the half-boxes are re-bounded from scratch (CROWN
//!   intermediate bounds, then CROWN and α-CROWN on the margins), splitting the coordinate
//!   whose term `Σ_rows |a_j|·(u_j − l_j)` of the final linear bound is largest; a box with
//!   few unstable units left goes to ReLU branch-and-bound first.
//!
//! Every counterexample is re-run through [`Network::forward`] before it is reported; every
//! "proved" rests on sound lower bounds only (no floating-point solver).
use std::cmp::Ordering as CmpOrdering;
use std::collections::HashMap;
use std::time::Instant;

use serde::{Deserialize, Serialize};

use super::branching::{branch_and_bound, Branching, Settled};
use super::lbp::{default_alpha, upper_slope, Analysis, Backward, LbpStats, Relaxation, Split};
use super::{Counterexample, InputBox, Method, Verdict};
use crate::spec::{OutputSpec, Spec};
use crate::{Error, Network, Result};

/// How far verification goes (`snl-verify robust --method`, `snl-verify vnncomp --level`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
#[serde(rename_all = "snake_case")]
pub enum Level {
    /// Attack + CROWN (incomplete, fast).
    Crown,
    /// Attack + CROWN + α-CROWN (incomplete).
    Alpha,
    /// Attack, CROWN, α-CROWN, then branch-and-bound (complete up to the timeout).
    #[default]
    Bab,
}

impl Level {
    /// Lower-case name.
    pub fn name(self) -> &'static str {
        match self {
            Level::Crown => "crown",
            Level::Alpha => "alpha",
            Level::Bab => "bab",
        }
    }

    /// The bound method whose verdicts go this far.
    pub fn method(self) -> Method {
        match self {
            Level::Crown => Method::Crown,
            Level::Alpha => Method::Alpha,
            Level::Bab => Method::Bab,
        }
    }
}

/// Options of the graph verifier (its doors: [`crate::bound::Query`], [`Network::verify_spec`]).
#[derive(Clone, Debug)]
pub struct Options {
    /// How far to go.
    pub level: Level,
    /// α-CROWN iterations at the root.
    pub alpha_iters: usize,
    /// α/β iterations per branch-and-bound domain.
    pub bab_iters: usize,
    /// PGD restarts (the first starts at the centre).
    pub pgd_restarts: usize,
    /// PGD steps per restart.
    pub pgd_steps: usize,
    /// Stop (unknown) after this many domains.
    pub max_domains: usize,
    /// Networks with at most this many inputs are branched on the input box (each half
    /// re-bounded from scratch, intermediate bounds included) instead of on kept ReLUs.
    pub input_split_max_dim: usize,
    /// Whether input branch-and-bound runs α-CROWN on every box that CROWN leaves open (else
    /// the box is split again at once). It always does for a specification with a
    /// conjunction of several constraints: α then optimises each constraint's bound (on ACAS
    /// Xu `prop_2` that decided the three instances CROWN-only boxes left at the timeout,
    /// while on single-constraint `prop_1` α per box doubled the boxes and the time).
    pub input_split_alpha: bool,
    /// The share of the time left that ReLU branch-and-bound may spend tightening the
    /// root's intermediate bounds by α-CROWN ([`tighten_intermediate`]); 0 skips it.
    pub intermediate_alpha_share: f64,
    /// The share of the time left that ReLU branch-and-bound may spend, once a first run of
    /// [`INTERMEDIATE_BAB_FIRST`] of the time left an instance open, tightening the root's
    /// intermediate bounds by branch-and-bound per unit ([`bab_tighten_intermediate`]),
    /// before branching again; 0 skips it (only graphs with intermediate α-CROWN run it).
    pub intermediate_bab_share: f64,
    /// Whether each branch-and-bound child re-computes the intermediate bounds after its
    /// split ([`split_analysis`]) instead of keeping its parent's.
    pub refine_domains: bool,
    /// Units filtered smart branching tries per split ([`pick_unit_fsb`]); 1 is the
    /// intercept score alone.
    pub fsb_candidates: usize,
    /// Input branch-and-bound hands a box whose intermediate bounds leave at most this many
    /// kept units unstable to ReLU branch-and-bound (at most [`HYBRID_MAX_DOMAINS`] domains)
    /// before halving it again: splitting those few units decides a box that halving would
    /// only shrink. 0 turns it off.
    pub hybrid_max_unstable: usize,
    /// Wall-clock deadline.
    pub deadline: Option<Instant>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            level: Level::Bab,
            alpha_iters: 20,
            bab_iters: 8,
            pgd_restarts: 4,
            pgd_steps: 40,
            max_domains: 100_000,
            input_split_max_dim: INPUT_SPLIT_MAX_DIM,
            input_split_alpha: false,
            intermediate_alpha_share: 0.3,
            intermediate_bab_share: 0.3,
            refine_domains: true,
            fsb_candidates: 3,
            hybrid_max_unstable: 12,
            deadline: None,
        }
    }
}

/// Default of [`Options::input_split_max_dim`]: below this many inputs a box split tightens
/// every intermediate bound at once, which gains more per domain than one ReLU split (ACAS
/// Xu-like controllers, the low-dimensional MLPs of papers/bench-verify); image inputs are
/// far above it.
pub const INPUT_SPLIT_MAX_DIM: usize = 8;

/// The stage of the graph verifier that decided (or `None`: nothing did).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DecidedBy {
    /// The specification decides itself (no disjunct, or an empty conjunction).
    Trivial,
    /// The network's own forward pass (a misclassified clean input: nothing to verify).
    Forward,
    /// A counterexample found by the attack.
    Attack,
    /// CROWN bounds (or a minimiser of them as a counterexample).
    Crown,
    /// α-CROWN bounds (or a minimiser of them).
    Alpha,
    /// Branch-and-bound.
    Bab,
    /// Nothing: the verdict is unknown.
    None,
}

impl DecidedBy {
    /// The name in reports and tables (`attack`, `crown`, …, `none`).
    pub fn name(self) -> &'static str {
        match self {
            DecidedBy::Trivial => "trivial",
            DecidedBy::Forward => "forward",
            DecidedBy::Attack => "attack",
            DecidedBy::Crown => "crown",
            DecidedBy::Alpha => "alpha",
            DecidedBy::Bab => "bab",
            DecidedBy::None => "none",
        }
    }
}

impl std::fmt::Display for DecidedBy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.name())
    }
}

/// What the graph verifier found, with how.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// The verdict.
    pub verdict: Verdict,
    /// Sound lower bounds of the margins `y_c − y_j`, `j ≠ c` (in the order of `j`), at the
    /// root after the last bounding stage run (CROWN or α-CROWN).
    pub margin_lower: Vec<f64>,
    /// Which stage decided.
    pub decided_by: DecidedBy,
    /// Intermediate-bound statistics (kept, unstable kept, floating-point allowance).
    pub stats: LbpStats,
    /// Branch-and-bound domains bounded.
    pub domains: usize,
    /// Deepest split depth reached.
    pub max_depth: usize,
}

fn past(deadline: Option<Instant>) -> bool {
    deadline.is_some_and(|d| Instant::now() >= d)
}

/// The margin rows `e_c − e_j`, `j ≠ c`, over `n` outputs (`(n − 1) × n`).
pub fn margin_rows(n: usize, class: usize) -> Vec<f64> {
    let mut rows = vec![0.0; (n - 1) * n];
    for (r, j) in (0..n).filter(|&j| j != class).enumerate() {
        rows[r * n + class] = 1.0;
        rows[r * n + j] = -1.0;
    }
    rows
}

/// A network and the violation set of a specification, compiled for bounding: the
/// *specification network* `g(x) = A·f(x) − b` (the network followed by one dense layer,
/// one output per constraint `a_r·y ≤ b_r`), its graph, and the conjunction each row
/// belongs to. A row is proved impossible on a domain when a sound lower bound of `g_r` is
/// positive; a conjunction when one of its rows is.
pub struct Target<'a> {
    /// The network as given (counterexamples are checked on it).
    pub net: &'a Network,
    /// The violation set.
    pub spec: &'a OutputSpec,
    /// `net` followed by the constraint rows.
    pub gnet: Network,
    /// The graph of `gnet`.
    pub graph: super::lbp::Graph,
    /// Conjunction of each row.
    pub groups: Vec<usize>,
}

impl<'a> Target<'a> {
    /// Compiles `spec` (over the outputs of `net`).
    pub fn new(net: &'a Network, spec: &'a OutputSpec) -> Result<Self> {
        let n_out = crate::numel(&net.output_shape()?);
        if spec.outputs != n_out {
            return Err(Error::Spec(format!(
                "the specification is over {} outputs, the network has {n_out}",
                spec.outputs
            )));
        }
        spec.validate()?;
        let gnet = spec_network(net, spec)?;
        let graph = super::lbp::Graph::new(&gnet)?;
        let groups = spec
            .disjuncts
            .iter()
            .enumerate()
            .flat_map(|(d, c)| std::iter::repeat_n(d, c.constraints.len()))
            .collect();
        Ok(Self {
            net,
            spec,
            gnet,
            graph,
            groups,
        })
    }

    /// Number of rows (constraints over all conjunctions).
    pub fn rows(&self) -> usize {
        self.groups.len()
    }

    /// A counterexample at `x` (inside `input`), decided rigorously: see
    /// [`super::spec_violation`].
    pub fn violation(&self, input: &InputBox, x: &[f64]) -> Result<Option<Counterexample>> {
        super::spec_violation_with(self.net, self.spec, &self.gnet, input, x)
    }
}

/// `net` followed by the dense map `y ↦ A y − b` of every constraint of `spec` (in order).
pub fn spec_network(net: &Network, spec: &OutputSpec) -> Result<Network> {
    let n = spec.outputs;
    let rows: Vec<&crate::spec::Constraint> = spec
        .disjuncts
        .iter()
        .flat_map(|c| c.constraints.iter())
        .collect();
    let mut w = nalgebra::DMatrix::zeros(rows.len(), n);
    let mut b = nalgebra::DVector::zeros(rows.len());
    for (r, c) in rows.iter().enumerate() {
        for j in 0..n {
            w[(r, j)] = c.coef[j];
        }
        b[r] = -c.rhs;
    }
    let mut out = net.clone();
    if out.output_shape()?.len() != 1 {
        out.push(crate::Layer::Flatten);
    }
    out.push(crate::Layer::Dense(crate::Affine::new(w, b)));
    Ok(out)
}

/// PGD towards the violation set: each step descends the row that decides it at the current
/// point (the conjunction closest to holding, and in it its least satisfied constraint);
/// returns a re-checked counterexample if one is found.
pub fn pgd(
    t: &Target<'_>,
    input: &InputBox,
    restarts: usize,
    steps: usize,
    seed: u64,
    deadline: Option<Instant>,
) -> Result<Option<Counterexample>> {
    let n = input.dim();
    let m = t.rows();
    if t.spec.disjuncts.is_empty() {
        return Ok(None);
    }
    let radius: Vec<f64> = (0..n)
        .map(|i| 0.5 * (input.upper[i] - input.lower[i]))
        .collect();
    let starts = {
        let mut s = vec![input.center()];
        s.extend(super::samples(input, restarts.saturating_sub(1), seed));
        s
    };
    for x0 in starts {
        let mut x = x0;
        for step in 0..=steps {
            if past(deadline) {
                return Ok(None);
            }
            let vals = t.graph.forward_values(&x);
            let g = vals.last().expect("output");
            // per conjunction its largest row (all must be <= 0); the smallest of those
            let mut best: Option<(f64, usize)> = None;
            let mut r = 0;
            for c in &t.spec.disjuncts {
                let k = c.constraints.len();
                if k == 0 {
                    best = Some((f64::NEG_INFINITY, usize::MAX));
                    break;
                }
                let (v, i) = (r..r + k)
                    .map(|i| (g[i], i))
                    .max_by(|p, q| p.0.total_cmp(&q.0))
                    .expect("k > 0");
                if best.is_none_or(|(b, _)| v < b) {
                    best = Some((v, i));
                }
                r += k;
            }
            let (v, i) = best.expect("a disjunct");
            if v <= 0.0 {
                if let Some(cex) = t.violation(input, &x)? {
                    return Ok(Some(cex));
                }
            }
            if step == steps || i == usize::MAX {
                break;
            }
            let mut row = vec![0.0; m];
            row[i] = -1.0;
            let grad = t.graph.input_gradient(&vals, &row);
            let frac = if step < steps / 2 {
                0.25
            } else if step < 3 * steps / 4 {
                0.1
            } else {
                0.04
            };
            for j in 0..n {
                let d = frac * radius[j] * grad[j].signum() * (grad[j] != 0.0) as u8 as f64;
                x[j] = (x[j] + d).clamp(input.lower[j], input.upper[j]);
            }
        }
    }
    Ok(None)
}

/// Adam state of one parameter vector.
#[derive(Clone, Debug, Default)]
struct Adam {
    m: Vec<f64>,
    v: Vec<f64>,
    t: i32,
}

impl Adam {
    /// Ascent step on `x` with gradient `g`, projected by `proj`.
    fn step(&mut self, x: &mut [f64], g: &[f64], lr: f64, proj: impl Fn(f64) -> f64) {
        if self.m.len() != x.len() {
            self.m = vec![0.0; x.len()];
            self.v = vec![0.0; x.len()];
            self.t = 0;
        }
        self.t += 1;
        let (b1, b2) = (0.9f64, 0.999f64);
        let c1 = 1.0 - b1.powi(self.t);
        let c2 = 1.0 - b2.powi(self.t);
        for i in 0..x.len() {
            self.m[i] = b1 * self.m[i] + (1.0 - b1) * g[i];
            self.v[i] = b2 * self.v[i] + (1.0 - b2) * g[i] * g[i];
            let mh = self.m[i] / c1;
            let vh = self.v[i] / c2;
            x[i] = proj(x[i] + lr * mh / (vh.sqrt() + 1e-12));
        }
    }
}

/// The α (and β) that a relaxation may optimise: CROWN's slopes for every kept unstable unit
/// not split, per row.
pub fn init_alpha(a: &Analysis, m: usize, relax: &mut Relaxation) {
    init_alpha_before(a, a.graph.values(), m, relax);
}

/// [`init_alpha`] for the ReLU nodes a backward pass from value `start` reaches (those
/// before it).
fn init_alpha_before(a: &Analysis, start: usize, m: usize, relax: &mut Relaxation) {
    for k in a.graph.kept_relu_nodes() {
        if k >= start || relax.alpha.contains_key(&k) {
            continue;
        }
        let units = a.unstable_units(k);
        if units.is_empty() {
            continue;
        }
        let u = a.graph.input_of(k);
        let n = a.graph.size(k + 1);
        let mut al = vec![0.0; m * n];
        for r in 0..m {
            for &i in &units {
                al[r * n + i] = default_alpha(a.iv.lo[u][i], a.iv.hi[u][i]);
            }
        }
        relax.alpha.insert(k, al);
    }
}

/// The gradients of each row's bound with respect to α (per node, `rows × units`) and β
/// (per split, per row), from one backward pass recorded with coefficients.
fn gradients(
    a: &Analysis,
    b: &Backward,
    m: usize,
    relax: &Relaxation,
) -> (HashMap<usize, Vec<f64>>, Vec<Vec<f64>>) {
    let g = &a.graph;
    let split_of: HashMap<usize, Vec<Option<(bool, usize)>>> = g
        .kept_relu_nodes()
        .into_iter()
        .map(|k| (k, relax.splits_at(k, g.size(g.input_of(k)))))
        .collect();
    let mut d_alpha: HashMap<usize, Vec<f64>> = relax
        .alpha
        .iter()
        .map(|(&k, v)| (k, vec![0.0; v.len()]))
        .collect();
    let mut d_beta = vec![vec![0.0; m]; relax.splits.len()];
    let xs: Vec<f64> = b.argmin.iter().take(m).flatten().copied().collect();
    g.forward_rows_with(&xs, m, |k, r, mask, pre, out| {
        let n = pre.len();
        let coef = b.relu_coef.get(&k).map(|c| &c[r * n..(r + 1) * n]);
        let al = relax.alpha.get(&k).map(|c| &c[r * n..(r + 1) * n]);
        let u = g.input_of(k);
        let split_of = split_of.get(&k);
        let mut d_al = d_alpha.get_mut(&k).map(|d| &mut d[r * n..(r + 1) * n]);
        for i in 0..n {
            if !mask.is_kept(i) {
                continue; // identity: out already holds pre
            }
            if let Some((active, j)) = split_of.and_then(|s| s[i]) {
                out[i] = if active { pre[i] } else { 0.0 };
                let sigma = if active { 1.0 } else { -1.0 };
                d_beta[j][r] = -sigma * pre[i];
                continue;
            }
            let (l, h) = (a.iv.lo[u][i], a.iv.hi[u][i]);
            if l >= 0.0 {
                out[i] = pre[i];
            } else if h <= 0.0 {
                out[i] = 0.0;
            } else {
                let c = coef.map_or(0.0, |c| c[i]);
                if c >= 0.0 {
                    let alpha = al.map_or_else(|| default_alpha(l, h), |al| al[i]);
                    out[i] = alpha * pre[i];
                    if let Some(d) = d_al.as_deref_mut() {
                        d[i] = c * pre[i];
                    }
                } else {
                    out[i] = upper_slope(l, h) * (pre[i] - l);
                }
            }
        }
    });
    (d_alpha, d_beta)
}

/// The best bounds of `rows` (`m × outputs`) found by `iters` steps of projected Adam on α
/// and β from `relax` (iteration 0 is the bound with `relax` as given); it stops early once
/// every conjunction (`groups`: one id per row) has a positive row. Returns the best
/// lower bound per row, the relaxation that gave the best total, and that pass.
#[allow(clippy::too_many_arguments)] // one bounding problem, read by every caller
pub fn optimize(
    a: &Analysis,
    rows: &[f64],
    m: usize,
    groups: &[usize],
    relax: &mut Relaxation,
    iters: usize,
    deadline: Option<Instant>,
) -> (Vec<f64>, Backward) {
    let out = a.graph.values() - 1;
    optimize_at(a, out, rows, m, groups, relax, iters, deadline)
}

/// [`optimize`] for rows on value `start` (an intermediate value: its units' bounds).
#[allow(clippy::too_many_arguments)] // one bounding problem, read by every caller
fn optimize_at(
    a: &Analysis,
    start: usize,
    rows: &[f64],
    m: usize,
    groups: &[usize],
    relax: &mut Relaxation,
    iters: usize,
    deadline: Option<Instant>,
) -> (Vec<f64>, Backward) {
    let mut best_rows = vec![f64::NEG_INFINITY; m];
    let mut best_pass: Option<Backward> = None;
    let mut best_total = f64::NEG_INFINITY;
    let mut best_relax = relax.clone();
    let mut adam_alpha: HashMap<usize, Adam> = HashMap::new();
    let mut adam_beta: Vec<Adam> = vec![Adam::default(); relax.splits.len()];
    for it in 0..=iters {
        let b = a.lower_bounds_at(start, rows, m, relax, true);
        for (best, &l) in best_rows.iter_mut().zip(&b.lower) {
            *best = best.max(l);
        }
        // the total over rows not yet positive decides which relaxation to keep
        let total: f64 = b.lower.iter().map(|&l| l.min(0.0)).sum();
        let improved = best_pass.is_none() || total > best_total;
        if improved {
            best_total = total;
            best_relax = relax.clone();
        }
        if it == iters || past(deadline) || open_rows(&best_rows, groups).is_empty() {
            if improved {
                best_pass = Some(b);
            }
            break;
        }
        let (da, db) = gradients(a, &b, m, relax);
        if improved {
            best_pass = Some(b);
        }
        for (k, g) in da {
            let al = relax.alpha.get_mut(&k).expect("same keys");
            adam_alpha
                .entry(k)
                .or_default()
                .step(al, &g, 0.1, |v| v.clamp(0.0, 1.0));
        }
        for (j, g) in db.iter().enumerate() {
            adam_beta[j].step(&mut relax.splits[j].1, g, 0.05, |v| v.max(0.0));
        }
    }
    *relax = best_relax;
    (best_rows, best_pass.expect("at least one pass"))
}

/// Units per α-optimisation problem of [`tighten_intermediate`] (two rows each).
const TIGHTEN_UNITS: usize = 64;

/// Tightens the pre-activation bounds of the kept units that CROWN leaves unstable by
/// α-CROWN, ReLU node by ReLU node in graph order (one set of slopes per bound, as
/// α-CROWN's optimised intermediate bounds): each unit's lower and upper bound are two rows,
/// `+e_i` and `−e_i`, on the node's input, optimised for `iters` steps (iteration 0 is CROWN
/// with the bounds tightened so far). A unit's two rows are one conjunction, so a problem
/// stops early once each of its units is stable. The bounds only narrow and each is a sound
/// lower bound of a backward pass, so the analysis stays sound; `deadline` stops it with
/// the nodes not reached kept as they were. Returns how many units it made stable.
pub fn tighten_intermediate(a: &mut Analysis, iters: usize, deadline: Option<Instant>) -> usize {
    narrow_node_by_node(a, deadline, |a, k, units| {
        let u = a.graph.input_of(k);
        let su = a.graph.size(u);
        let per = units
            .len()
            .div_ceil(super::lbp::threads())
            .clamp(1, TIGHTEN_UNITS);
        let chunks: Vec<&[usize]> = units.chunks(per).collect();
        super::lbp::each_on_own_core(&chunks, |chunk| {
            let m = 2 * chunk.len();
            let mut rows = vec![0.0; m * su];
            for (j, &i) in chunk.iter().enumerate() {
                rows[(2 * j) * su + i] = 1.0;
                rows[(2 * j + 1) * su + i] = -1.0;
            }
            let groups: Vec<usize> = (0..m).map(|r| r / 2).collect();
            let mut relax = Relaxation::default();
            init_alpha_before(a, u, m, &mut relax);
            let (best, _) = optimize_at(a, u, &rows, m, &groups, &mut relax, iters, deadline);
            chunk
                .iter()
                .enumerate()
                .map(|(j, &i)| (i, best[2 * j], -best[2 * j + 1]))
                .collect::<Vec<_>>()
        })
        .into_iter()
        .flatten()
        .collect()
    })
}

/// The loop of [`tighten_intermediate`] and [`bab_tighten_intermediate`]: for each kept
/// ReLU node in graph order whose kept units are not all stable, `bounds(a, k, units)` gives
/// new `(unit, lower, upper)` bounds of the node's input for its unstable kept `units`, and
/// the analysis narrows to them before the next node, so later nodes start from the
/// tightened bounds. `deadline` stops it, the nodes not reached kept as they were. Returns
/// how many units it made stable.
fn narrow_node_by_node(
    a: &mut Analysis,
    deadline: Option<Instant>,
    mut bounds: impl FnMut(&Analysis, usize, &[usize]) -> Vec<(usize, f64, f64)>,
) -> usize {
    let before = a.stats.unstable_kept;
    for k in a.graph.kept_relu_nodes() {
        if past(deadline) {
            break;
        }
        let units = a.unstable_units(k);
        if units.is_empty() {
            continue;
        }
        let updates = bounds(a, k, &units);
        a.narrow(a.graph.input_of(k), &updates);
    }
    before.saturating_sub(a.stats.unstable_kept)
}

/// Domains per bound of [`bab_tighten_intermediate`] in [`verify_output`]. A second round
/// with twice as many made no further unit stable on mnist_fc 256×6 `prop_4_0.05` (236
/// unstable after both) and cost the time branch-and-bound needed.
const UNIT_BAB_DOMAINS: usize = 24;

/// A lower bound of `sign · x_i` on value `u` (the input of ReLU node `k`) by a small
/// branch-and-bound over the kept unstable units of the ReLU nodes before `k`: the root is
/// α-CROWN from this analysis, each domain adds one split (β-CROWN, `iters` steps), worst
/// domain first, for at most `max_domains` domains or until every domain's bound is `>= 0`
/// (the unit is then stable on that side). The result is the lowest bound over the leaves
/// (a domain's bound never drops below its parent's), so it is sound on the whole box and
/// never looser than the root's α-CROWN bound.
#[allow(clippy::too_many_arguments)] // one unit's bounding problem
fn unit_bab(
    a: &Analysis,
    k: usize,
    i: usize,
    sign: f64,
    alpha_iters: usize,
    iters: usize,
    max_domains: usize,
    deadline: Option<Instant>,
) -> f64 {
    let u = a.graph.input_of(k);
    let mut row = vec![0.0; a.graph.size(u)];
    row[i] = sign;
    let groups = [0usize];
    let mut relax = Relaxation::default();
    init_alpha_before(a, u, 1, &mut relax);
    let (best, pass) = optimize_at(a, u, &row, 1, &groups, &mut relax, alpha_iters, deadline);
    // an open domain: its bound, its relaxation (splits and β), the unit it would split
    struct Open(f64, Relaxation, Option<(usize, usize)>);
    let pick = |lower: f64, pass: &Backward, relax: &Relaxation| {
        unit_scores(a, pass, &[lower], &groups, relax)
            .into_iter()
            .find(|&(_, _, node, _)| node < k)
            .map(|(_, _, node, unit)| (node, unit))
    };
    let mut closed = f64::INFINITY;
    let mut open: Vec<Open> = Vec::new();
    let root = best[0];
    if root >= 0.0 {
        return root;
    }
    let p = pick(root, &pass, &relax);
    open.push(Open(root, relax, p));
    let mut domains = 0usize;
    while domains < max_domains && !past(deadline) {
        // the worst open domain (few domains: a linear scan)
        let Some(w) = (0..open.len()).min_by(|&x, &y| open[x].0.total_cmp(&open[y].0)) else {
            break;
        };
        let Open(lower, relax, pick_at) = open.swap_remove(w);
        let Some((node, unit)) = pick_at else {
            // nothing left to split: a leaf
            closed = closed.min(lower);
            continue;
        };
        for active in [true, false] {
            let mut r = relax.clone();
            r.splits.push((Split { node, unit, active }, vec![0.0]));
            let (b, pass) = optimize_at(a, u, &row, 1, &groups, &mut r, iters, deadline);
            domains += 1;
            let l = b[0].max(lower);
            if l >= 0.0 {
                closed = closed.min(l);
            } else {
                let p = pick(l, &pass, &r);
                open.push(Open(l, r, p));
            }
        }
    }
    open.iter().map(|o| o.0).fold(closed, f64::min)
}

/// Tightens the root's intermediate bounds by branch-and-bound: for each ReLU node in graph
/// order (after the first, whose input is exact already), each kept unit still unstable
/// gets [`unit_bab`] on the side nearer zero and, unless that made it stable, on the other;
/// the bounds narrow node by node, so later nodes start from the tightened ones. Sound
/// because every bound is. Units run on all cores; `deadline` stops it (the nodes not
/// reached keep their bounds). Returns how many units it made stable.
pub fn bab_tighten_intermediate(
    a: &mut Analysis,
    alpha_iters: usize,
    iters: usize,
    max_domains: usize,
    deadline: Option<Instant>,
) -> usize {
    let nodes = a.graph.kept_relu_nodes();
    narrow_node_by_node(a, deadline, |a, k, units| {
        // no unstable unit before k: nothing to branch on
        if nodes
            .iter()
            .take_while(|&&p| p != k)
            .all(|&p| a.unstable_units(p).is_empty())
        {
            return Vec::new();
        }
        let u = a.graph.input_of(k);
        let bound = |i, sign| unit_bab(a, k, i, sign, alpha_iters, iters, max_domains, deadline);
        // units dealt round-robin: their costs vary with how soon each becomes stable
        let cores = super::lbp::threads().max(1);
        let shares: Vec<Vec<usize>> = (0..cores)
            .map(|c| units.iter().copied().skip(c).step_by(cores).collect())
            .collect();
        super::lbp::each_on_own_core(&shares, |share| {
            share
                .iter()
                .map(|&i| {
                    let (mut lo, mut hi) = (a.iv.lo[u][i], a.iv.hi[u][i]);
                    // the side nearer zero first: it is the likelier to become stable
                    if -lo <= hi {
                        lo = lo.max(bound(i, 1.0));
                        if lo < 0.0 {
                            hi = hi.min(-bound(i, -1.0));
                        }
                    } else {
                        hi = hi.min(-bound(i, -1.0));
                        if hi > 0.0 {
                            lo = lo.max(bound(i, 1.0));
                        }
                    }
                    (i, lo, hi)
                })
                .collect::<Vec<_>>()
        })
        .into_iter()
        .flatten()
        .collect()
    })
}

/// One branch-and-bound domain.
#[derive(Clone, Debug)]
struct Domain {
    /// The rows not yet proved in this domain (`m × outputs`), their count, and the
    /// conjunction of each.
    rows: Vec<f64>,
    m: usize,
    groups: Vec<usize>,
    relax: Relaxation,
    /// Best lower bound per row (rows with `> 0` are done in this domain).
    lower: Vec<f64>,
    /// Branching scores from its last pass: `(node, unit, score)`.
    pick: Option<(usize, usize)>,
    depth: usize,
    /// Intermediate bounds on this domain (the root's, narrowed by its splits).
    an: std::sync::Arc<Analysis>,
}

/// The analysis of a child domain: the parent's intervals with `split` applied (an active
/// unit's pre-activation is `>= 0`, an inactive one's `<= 0`), then CROWN intermediate
/// bounds of the ReLU nodes after the split's, which the split makes exact there (bounds
/// only narrow: each new one is intersected with the parent's).
pub(crate) fn split_analysis(
    parent: &std::sync::Arc<Analysis>,
    split: Option<Split>,
    deadline: Option<Instant>,
) -> std::sync::Arc<Analysis> {
    let Some(s) = split else {
        return parent.clone();
    };
    let mut a = Analysis::clone(parent);
    let u = a.graph.input_of(s.node);
    let update = if s.active {
        (s.unit, 0.0, f64::INFINITY)
    } else {
        (s.unit, f64::NEG_INFINITY, 0.0)
    };
    a.narrow_then_refine(u, update, s.node + 1, deadline, &Relaxation::default());
    std::sync::Arc::new(a)
}

impl Domain {
    fn worst(&self) -> f64 {
        worst_open(&self.lower, &self.groups)
    }
}

/// Orders a domain type by its `worst()` bound, lowest first out of a `BinaryHeap` (a
/// max-heap).
macro_rules! worst_first {
    ($t:ty) => {
        impl PartialEq for $t {
            fn eq(&self, o: &Self) -> bool {
                self.worst() == o.worst()
            }
        }
        impl Eq for $t {}
        impl PartialOrd for $t {
            fn partial_cmp(&self, o: &Self) -> Option<CmpOrdering> {
                Some(self.cmp(o))
            }
        }
        impl Ord for $t {
            fn cmp(&self, o: &Self) -> CmpOrdering {
                o.worst().total_cmp(&self.worst())
            }
        }
    };
}
worst_first!(Domain);

/// The rows of the conjunctions not yet proved: those none of whose rows has a positive
/// bound (`groups[r]` is row `r`'s conjunction).
pub fn open_rows(lower: &[f64], groups: &[usize]) -> Vec<usize> {
    let proved: std::collections::HashSet<usize> = (0..lower.len())
        .filter(|&r| lower[r] > 0.0)
        .map(|r| groups[r])
        .collect();
    (0..lower.len())
        .filter(|&r| !proved.contains(&groups[r]))
        .collect()
}

/// The bound that decides a domain's order: over the open conjunctions, the lowest of each
/// one's best row bound (for single-row conjunctions, the lowest bound).
fn worst_open(lower: &[f64], groups: &[usize]) -> f64 {
    leading_rows(lower, groups)
        .iter()
        .map(|&r| lower[r])
        .fold(f64::INFINITY, f64::min)
}

/// Per open conjunction its row with the highest bound: the one closest to proving it,
/// which branching serves (one row per conjunction suffices).
fn leading_rows(lower: &[f64], groups: &[usize]) -> Vec<usize> {
    let mut best: HashMap<usize, usize> = HashMap::new();
    for r in open_rows(lower, groups) {
        let e = best.entry(groups[r]).or_insert(r);
        if lower[r] > lower[*e] {
            *e = r;
        }
    }
    let mut rows: Vec<usize> = best.into_values().collect();
    rows.sort_unstable();
    rows
}

/// Rows `keep` of a row-major matrix with rows of width `w` (an empty matrix stays empty).
fn pick_rows(v: &[f64], keep: &[usize], w: usize) -> Vec<f64> {
    keep.iter()
        .flat_map(|&r| v.get(r * w..(r + 1) * w).unwrap_or(&[]).iter().copied())
        .collect()
}

/// Keeps only the rows of conjunctions not yet proved: their coefficients, conjunctions,
/// slopes and multipliers, bounds.
fn compact(
    rows: &[f64],
    n_out: usize,
    groups: &[usize],
    relax: &Relaxation,
    lower: &[f64],
) -> (Vec<f64>, usize, Vec<usize>, Relaxation, Vec<f64>) {
    let m = lower.len();
    let keep = open_rows(lower, groups);
    let sub_groups = keep.iter().map(|&r| groups[r]).collect();
    let sub_rows = pick_rows(rows, &keep, n_out);
    let alpha = relax
        .alpha
        .iter()
        .map(|(&k, al)| (k, pick_rows(al, &keep, al.len() / m)))
        .collect();
    let splits = relax
        .splits
        .iter()
        .map(|(sp, beta)| (*sp, keep.iter().map(|&r| beta[r]).collect()))
        .collect();
    let low = keep.iter().map(|&r| lower[r]).collect();
    (
        sub_rows,
        keep.len(),
        sub_groups,
        Relaxation { alpha, splits },
        low,
    )
}

/// The unit to split next: the largest intercept score over the leading row of each open
/// conjunction ([`leading_rows`]), then the
/// widest interval; `None` when every kept unstable unit is split.
fn pick_unit(
    a: &Analysis,
    b: &Backward,
    lower: &[f64],
    groups: &[usize],
    relax: &Relaxation,
) -> Option<(usize, usize)> {
    unit_scores(a, b, lower, groups, relax)
        .first()
        .map(|&(_, _, k, i)| (k, i))
}

/// Every kept unstable unit not split, as `(score, width, node, unit)`, best first (see
/// [`pick_unit`]).
fn unit_scores(
    a: &Analysis,
    b: &Backward,
    lower: &[f64],
    groups: &[usize],
    relax: &Relaxation,
) -> Vec<(f64, f64, usize, usize)> {
    let open = leading_rows(lower, groups);
    let split: std::collections::HashSet<(usize, usize)> =
        relax.splits.iter().map(|(s, _)| (s.node, s.unit)).collect();
    let mut all = Vec::new();
    for k in a.graph.kept_relu_nodes() {
        let u = a.graph.input_of(k);
        let n = a.graph.size(k + 1);
        for i in a.unstable_units(k) {
            if split.contains(&(k, i)) {
                continue;
            }
            let (l, h) = (a.iv.lo[u][i], a.iv.hi[u][i]);
            let mut score = 0.0;
            if let Some(c) = b.relu_coef.get(&k) {
                for &r in &open {
                    let ci = c[r * n + i];
                    if ci < 0.0 {
                        score += -ci * h * (-l) / (h - l);
                    }
                }
            }
            all.push((score, h - l, k, i));
        }
    }
    // highest score, then widest; ties keep graph order
    all.sort_by(|x, y| y.0.total_cmp(&x.0).then(y.1.total_cmp(&x.1)));
    all
}

/// Filtered smart branching: of the `k_best` units with the best intercept scores,
/// the one whose worse child has the best bound, each child bounded by one backward pass
/// with the domain's slopes and multipliers (the new split's β = 0); `None` as
/// [`pick_unit`].
#[allow(clippy::too_many_arguments)] // one domain's problem
fn pick_unit_fsb(
    a: &Analysis,
    b: &Backward,
    rows: &[f64],
    m: usize,
    lower: &[f64],
    groups: &[usize],
    relax: &Relaxation,
    k_best: usize,
) -> Option<(usize, usize)> {
    let cands = unit_scores(a, b, lower, groups, relax);
    if cands.len() <= 1 || k_best <= 1 {
        return cands.first().map(|&(_, _, k, i)| (k, i));
    }
    let mut best: Option<(f64, usize, usize)> = None;
    for &(_, _, k, i) in cands.iter().take(k_best) {
        let mut worse = f64::INFINITY;
        for active in [true, false] {
            let mut r = relax.clone();
            r.splits.push((
                Split {
                    node: k,
                    unit: i,
                    active,
                },
                vec![0.0; m],
            ));
            let c = a.lower_bounds(rows, m, &r, false);
            let l: Vec<f64> = c.lower.iter().zip(lower).map(|(&x, &p)| x.max(p)).collect();
            // a child with every conjunction proved has no open row: +∞
            worse = worse.min(worst_open(&l, groups));
        }
        if best.is_none_or(|(s, _, _)| worse > s) {
            best = Some((worse, k, i));
        }
    }
    best.map(|(_, k, i)| (k, i))
}

/// What bounding one domain found.
enum DomainOutcome {
    /// Every conjunction has a positive row on the domain.
    Proved,
    /// A minimising input of the bound is a real counterexample.
    Refuted(Counterexample),
    /// Neither: the bounds per row, the pass and the relaxation reached.
    Open {
        lower: Vec<f64>,
        pass: Backward,
        relax: Relaxation,
    },
}

/// Optimises α and β of one domain (parent `d`, splits in `relax`) and classifies it.
#[allow(clippy::too_many_arguments)] // the parts of one domain's problem
fn bound_domain(
    a: &Analysis,
    t: &Target<'_>,
    input: &InputBox,
    d: &Domain,
    mut relax: Relaxation,
    iters: usize,
    deadline: Option<Instant>,
) -> Result<DomainOutcome> {
    let (bl, pass) = optimize(a, &d.rows, d.m, &d.groups, &mut relax, iters, deadline);
    // the parent's bounds hold on the child too
    let lower: Vec<f64> = bl.iter().zip(&d.lower).map(|(&x, &p)| x.max(p)).collect();
    if open_rows(&lower, &d.groups).is_empty() {
        return Ok(DomainOutcome::Proved);
    }
    if let Some(c) = try_argmins(t, input, &pass, &lower, &d.groups, deadline)? {
        return Ok(DomainOutcome::Refuted(c));
    }
    Ok(DomainOutcome::Open { lower, pass, relax })
}

/// Tries the minimising input of each open row's bound as a counterexample.
fn try_argmins(
    t: &Target<'_>,
    input: &InputBox,
    b: &Backward,
    lower: &[f64],
    groups: &[usize],
    deadline: Option<Instant>,
) -> Result<Option<Counterexample>> {
    for r in open_rows(lower, groups) {
        // one f64 forward of the network per candidate: the deadline is checked before each
        if past(deadline) {
            break;
        }
        let Some(x) = b.argmin.get(r) else { continue };
        if let Some(c) = t.violation(input, &input.clamp(x))? {
            return Ok(Some(c));
        }
    }
    Ok(None)
}

/// Decides "`class` is the strict argmax on the whole box": [`verify_output`] with
/// [`OutputSpec::argmax`].
#[cfg(test)]
pub(crate) fn verify_argmax(
    net: &Network,
    input: &InputBox,
    class: usize,
    opts: &Options,
) -> Result<Report> {
    let n_out = crate::numel(&net.output_shape()?);
    verify_output(net, input, &OutputSpec::argmax(n_out, class)?, opts)
}

/// What [`Network::verify_spec`] found over all regions.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SpecReport {
    /// Proved when every region is; refuted by the first counterexample; else unknown.
    pub verdict: Verdict,
    /// The region that refuted (or the first left unknown).
    pub region: Option<usize>,
    /// Each region's report, in order, as far as it was run.
    pub regions: Vec<Report>,
}

/// Decides a specification: every region with [`verify_output`], under one deadline.
/// Regions are run in order; the first counterexample ends the run.
pub(crate) fn verify_spec(net: &Network, spec: &Spec, opts: &Options) -> Result<SpecReport> {
    let inputs = crate::numel(&net.input_shape);
    let outputs = crate::numel(&net.output_shape()?);
    spec.check_dims(inputs, outputs)?;
    let mut regions = Vec::new();
    let mut first_unknown = None;
    for (i, r) in spec.regions.iter().enumerate() {
        let rep = verify_output(net, &r.input, &r.violation, opts)?;
        let verdict = rep.verdict.clone();
        regions.push(rep);
        match verdict {
            Verdict::Refuted(_) => {
                return Ok(SpecReport {
                    verdict,
                    region: Some(i),
                    regions,
                })
            }
            Verdict::Unknown { .. } if first_unknown.is_none() => first_unknown = Some(i),
            _ => {}
        }
    }
    let verdict = match first_unknown {
        Some(i) => match &regions[i].verdict {
            Verdict::Unknown { reason } => Verdict::Unknown {
                reason: if spec.regions.len() > 1 {
                    format!("region {i}: {reason}")
                } else {
                    reason.clone()
                },
            },
            _ => unreachable!("an unknown region"),
        },
        None => Verdict::Proved,
    };
    Ok(SpecReport {
        verdict,
        region: first_unknown,
        regions,
    })
}

/// The identity rows over `m` values (`m × m`).
fn identity_rows(m: usize) -> Vec<f64> {
    let mut rows = vec![0.0; m * m];
    for r in 0..m {
        rows[r * m + r] = 1.0;
    }
    rows
}

/// Decides that no input of `input` maps into the violation set `spec` (see the module
/// docs): attack, CROWN, α-CROWN, then branch-and-bound, as far as `opts.level` goes.
pub(crate) fn verify_output(
    net: &Network,
    input: &InputBox,
    spec: &OutputSpec,
    opts: &Options,
) -> Result<Report> {
    let t = Target::new(net, spec)?;
    if let Some(r) = decide_trivial(&t, input)? {
        return Ok(r);
    }
    // 1. a quick attack: the centre and a short PGD run from it
    let seed = crate::rng::seeds::ATTACK;
    if let Some(cex) = pgd(&t, input, 1, opts.pgd_steps / 4, seed, opts.deadline)? {
        let stats = LbpStats::default();
        return Ok(Report::at_root(
            Verdict::Refuted(cex),
            Vec::new(),
            DecidedBy::Attack,
            stats,
        ));
    }
    // 2. CROWN on the specification network's rows, then the full attack
    let mut p = match RootProblem::crown(&t, input, opts)? {
        Ok(p) => p,
        Err(decided) => return Ok(decided),
    };
    let unknown = |why: String| Verdict::Unknown { reason: why };
    if opts.level == Level::Crown {
        let why = format!(
            "CROWN lower bound of the worst open row is {:.6e} <= 0 and the attack found no counterexample",
            p.worst()
        );
        return Ok(p.report(unknown(why), DecidedBy::None));
    }
    // 3. α-CROWN
    init_alpha(&p.a, t.rows(), &mut p.relax);
    if let Some(v) = p.alpha(&t, input, opts)? {
        return Ok(p.report(v, DecidedBy::Alpha));
    }
    if opts.level == Level::Alpha || past(opts.deadline) {
        let why = format!(
            "α-CROWN lower bound of the worst open row is {:.6e} <= 0 and the attack found no counterexample{}",
            p.worst(),
            if past(opts.deadline) { " (timeout)" } else { "" }
        );
        return Ok(p.report(unknown(why), DecidedBy::None));
    }
    // 4. branch-and-bound
    if input.dim() <= opts.input_split_max_dim {
        let opts = Options {
            input_split_alpha: opts.input_split_alpha
                || spec.disjuncts.iter().any(|c| c.constraints.len() > 1),
            ..opts.clone()
        };
        let RootProblem {
            rows,
            groups,
            lower,
            pass,
            stats,
            ..
        } = p;
        return input_bab(&t, input, &opts, &rows, &groups, lower, &pass, stats);
    }
    relu_stage(&t, input, opts, p)
}

/// The cases a specification decides by itself: no disjunct (nothing to violate: proved),
/// an empty conjunction (everything violates: the centre is a counterexample).
fn decide_trivial(t: &Target<'_>, input: &InputBox) -> Result<Option<Report>> {
    let verdict = if t.spec.disjuncts.is_empty() {
        Verdict::Proved
    } else if t.spec.disjuncts.iter().any(|c| c.constraints.is_empty()) {
        match t.violation(input, &input.center())? {
            Some(cex) => Verdict::Refuted(cex),
            None => return Ok(None),
        }
    } else {
        return Ok(None);
    };
    let stats = LbpStats::default();
    Ok(Some(Report::at_root(
        verdict,
        Vec::new(),
        DecidedBy::Trivial,
        stats,
    )))
}

impl Report {
    /// A report of a stage before branch-and-bound (no domains).
    fn at_root(verdict: Verdict, margin_lower: Vec<f64>, by: DecidedBy, stats: LbpStats) -> Self {
        Report {
            verdict,
            margin_lower,
            decided_by: by,
            stats,
            domains: 0,
            max_depth: 0,
        }
    }
}

/// A ReLU branch-and-bound run's report (decided by it, or by nothing), with the root's
/// bounds before it.
fn bab_report(r: ReluBab, margin_lower: Vec<f64>, mut stats: LbpStats) -> Report {
    stats.fp_allowance = stats.fp_allowance.max(r.fp_allowance);
    let by = match r.verdict {
        Verdict::Unknown { .. } => DecidedBy::None,
        _ => DecidedBy::Bab,
    };
    Report {
        verdict: r.verdict,
        margin_lower,
        decided_by: by,
        stats,
        domains: r.domains,
        max_depth: r.max_depth,
    }
}

/// The bounding problem at the root once CROWN has left it open: the analysis, the
/// specification's rows (`lower.len() × outputs`) and their conjunctions, the slopes
/// reached, the best bounds with the pass that gave them, and the statistics.
struct RootProblem {
    a: Analysis,
    rows: Vec<f64>,
    groups: Vec<usize>,
    relax: Relaxation,
    lower: Vec<f64>,
    pass: Backward,
    stats: LbpStats,
}

impl RootProblem {
    /// CROWN at the root and, when it decides nothing, the full attack: `Err` holds the
    /// report of a decided instance.
    fn crown(
        t: &Target<'_>,
        input: &InputBox,
        opts: &Options,
    ) -> Result<std::result::Result<Self, Report>> {
        let a = Analysis::new(&t.gnet, input, super::lbp::refine_deadline(opts.deadline))?;
        let m = t.rows();
        let rows = identity_rows(m);
        let groups = t.groups.clone();
        let relax = Relaxation::default();
        let pass = a.lower_bounds(&rows, m, &relax, false);
        let lower = pass.lower.clone();
        let mut stats = a.stats.clone();
        stats.fp_allowance = stats.fp_allowance.max(pass.fp_allowance);
        let p = RootProblem {
            a,
            rows,
            groups,
            relax,
            lower,
            pass,
            stats,
        };
        if open_rows(&p.lower, &p.groups).is_empty() {
            return Ok(Err(p.report(Verdict::Proved, DecidedBy::Crown)));
        }
        if let Some(c) = try_argmins(t, input, &p.pass, &p.lower, &p.groups, opts.deadline)? {
            return Ok(Err(p.report(Verdict::Refuted(c), DecidedBy::Crown)));
        }
        // the full attack, now that CROWN could not prove it
        let (restarts, steps) = (opts.pgd_restarts, opts.pgd_steps);
        let seed = crate::rng::seeds::ATTACK;
        if let Some(cex) = pgd(t, input, restarts, steps, seed, opts.deadline)? {
            return Ok(Err(p.report(Verdict::Refuted(cex), DecidedBy::Attack)));
        }
        Ok(Ok(p))
    }

    /// A report of `verdict` with the current bounds (no domains).
    fn report(&self, verdict: Verdict, by: DecidedBy) -> Report {
        Report::at_root(verdict, self.lower.clone(), by, self.stats.clone())
    }

    /// The lowest bound over the open conjunctions' rows.
    fn worst(&self) -> f64 {
        open_rows(&self.lower, &self.groups)
            .iter()
            .map(|&r| self.lower[r])
            .fold(f64::INFINITY, f64::min)
    }

    /// α-CROWN from the current slopes ([`alpha_stage`]): the verdict when it decides, else
    /// `None` with the bounds and the pass raised to what it reached.
    fn alpha(
        &mut self,
        t: &Target<'_>,
        input: &InputBox,
        opts: &Options,
    ) -> Result<Option<Verdict>> {
        let problem = (&self.rows[..], &self.groups[..]);
        let (relax, lower, stats) = (&mut self.relax, &mut self.lower, &mut self.stats);
        match alpha_stage(t, input, &self.a, problem, relax, lower, stats, opts)? {
            Stage::Decided(v) => Ok(Some(v)),
            Stage::Open(pass) => {
                self.pass = pass;
                Ok(None)
            }
        }
    }

    /// The borrowed state [`relu_bab`] starts from.
    fn root_state(&self) -> RootState<'_> {
        RootState {
            rows: &self.rows,
            groups: &self.groups,
            relax: self.relax.clone(),
            lower: self.lower.clone(),
            pass: &self.pass,
        }
    }
}

/// ReLU branch-and-bound from the root problem `p`. It starts from the root's intermediate
/// bounds, so those are tightened first by α-CROWN (on graphs of at most
/// [`REFINE_MAX_VALUES`] values). There, a first branch-and-bound for a short share of the
/// time decides the easy instances; what it leaves gets the intermediate bounds tightened
/// by branch-and-bound per unit ([`bab_tighten_intermediate`]), then branch-and-bound again
/// with the rest of the time.
fn relu_stage(
    t: &Target<'_>,
    input: &InputBox,
    opts: &Options,
    mut p: RootProblem,
) -> Result<Report> {
    let share = if p.a.graph.total_size() <= REFINE_MAX_VALUES {
        opts.intermediate_alpha_share.clamp(0.0, 1.0)
    } else {
        0.0
    };
    let tighten_by = opts.deadline.map(|d| {
        let now = Instant::now();
        now + d.saturating_duration_since(now).mul_f64(share)
    });
    if share > 0.0 && tighten_intermediate(&mut p.a, opts.alpha_iters, tighten_by) > 0 {
        p.stats.unstable_kept = p.a.stats.unstable_kept;
        if let Some(v) = p.alpha(t, input, opts)? {
            return Ok(p.report(v, DecidedBy::Alpha));
        }
    }
    let root_lower = p.lower.clone();
    let mut first = None;
    if share > 0.0 && opts.intermediate_bab_share > 0.0 {
        match first_round(t, input, opts, &mut p, &root_lower)? {
            FirstRound::Decided(report) => return Ok(report),
            FirstRound::Open(r) => first = r,
        }
    }
    let mut r = relu_bab(
        t,
        input,
        p.a.clone(),
        p.root_state(),
        opts,
        opts.max_domains,
    )?;
    if let Some(f) = first {
        r.domains += f.domains;
        r.max_depth = r.max_depth.max(f.max_depth);
        r.fp_allowance = r.fp_allowance.max(f.fp_allowance);
    }
    Ok(bab_report(r, root_lower, p.stats))
}

/// What the first, short branch-and-bound round of [`relu_stage`] left.
enum FirstRound {
    /// It (or α-CROWN on the intermediate bounds it then tightened) decided.
    Decided(Report),
    /// Open: its run, to be added to the next one's counts (`None`: no round, there is
    /// no deadline to take a share of).
    Open(Option<ReluBab>),
}

/// Branch-and-bound for [`INTERMEDIATE_BAB_FIRST`] of the time left; if that times out,
/// the root's intermediate bounds tightened by branch-and-bound per unit
/// ([`bab_tighten_intermediate`], [`Options::intermediate_bab_share`] of the time left),
/// then α-CROWN on them.
fn first_round(
    t: &Target<'_>,
    input: &InputBox,
    opts: &Options,
    p: &mut RootProblem,
    root_lower: &[f64],
) -> Result<FirstRound> {
    let Some(d) = opts.deadline else {
        return Ok(FirstRound::Open(None));
    };
    let now = Instant::now();
    let left = d.saturating_duration_since(now);
    let quick = Options {
        deadline: Some(
            now + left
                .mul_f64(INTERMEDIATE_BAB_FIRST)
                .min(INTERMEDIATE_BAB_FIRST_MAX),
        ),
        ..opts.clone()
    };
    let r = relu_bab(
        t,
        input,
        p.a.clone(),
        p.root_state(),
        &quick,
        opts.max_domains,
    )?;
    let timed_out = past(quick.deadline) && !past(opts.deadline);
    if !matches!(r.verdict, Verdict::Unknown { .. }) || !timed_out {
        let report = bab_report(r, root_lower.to_vec(), p.stats.clone());
        return Ok(FirstRound::Decided(report));
    }
    let now = Instant::now();
    let by = now
        + d.saturating_duration_since(now)
            .mul_f64(opts.intermediate_bab_share);
    let (alpha_iters, bab_iters) = (opts.alpha_iters, opts.bab_iters);
    let stable =
        bab_tighten_intermediate(&mut p.a, alpha_iters, bab_iters, UNIT_BAB_DOMAINS, Some(by));
    if stable > 0 {
        p.stats.unstable_kept = p.a.stats.unstable_kept;
        if let Some(v) = p.alpha(t, input, opts)? {
            let mut rep = p.report(v, DecidedBy::Alpha);
            (rep.domains, rep.max_depth) = (r.domains, r.max_depth);
            return Ok(FirstRound::Decided(rep));
        }
    }
    Ok(FirstRound::Open(Some(r)))
}

/// What a bounding stage left: a verdict, or the pass of its best bounds.
enum Stage {
    Decided(Verdict),
    Open(Backward),
}

/// α-CROWN on `problem` (rows `lower.len() × outputs` and their conjunctions) from `relax`:
/// raises `lower` to the best bounds found, then decides when every conjunction is proved or
/// a minimising input is a counterexample.
#[allow(clippy::too_many_arguments)] // one bounding problem and the run's state
fn alpha_stage(
    t: &Target<'_>,
    input: &InputBox,
    a: &Analysis,
    problem: (&[f64], &[usize]),
    relax: &mut Relaxation,
    lower: &mut [f64],
    stats: &mut LbpStats,
    opts: &Options,
) -> Result<Stage> {
    let (rows, groups) = problem;
    let m = lower.len();
    let (al, pass) = optimize(a, rows, m, groups, relax, opts.alpha_iters, opts.deadline);
    for (l, x) in lower.iter_mut().zip(&al) {
        *l = l.max(*x);
    }
    stats.fp_allowance = stats.fp_allowance.max(pass.fp_allowance);
    if open_rows(lower, groups).is_empty() {
        return Ok(Stage::Decided(Verdict::Proved));
    }
    if let Some(c) = try_argmins(t, input, &pass, lower, groups, opts.deadline)? {
        return Ok(Stage::Decided(Verdict::Refuted(c)));
    }
    Ok(Stage::Open(pass))
}

/// ReLU branch-and-bound tightens intermediate bounds (α-CROWN at the root, CROWN in every
/// child) only on graphs with at most this many values (MLPs such as mnist_fc's 256×6 net,
/// 3.9k, or ACAS Xu's): on convolutional nets (oval21's, ~10k values and up) each
/// re-tightening costs many times a domain's own bound, and at a 30 s cap oval21 solved fewer
/// instances with it.
const REFINE_MAX_VALUES: usize = 8192;

/// The first, short ReLU branch-and-bound run before the intermediate bounds are tightened
/// by branch-and-bound (see [`Options::intermediate_bab_share`]): this share of the time
/// left, at most [`INTERMEDIATE_BAB_FIRST_MAX`]. On mnist_fc every instance the run without
/// the tightening decided took well under a second.
const INTERMEDIATE_BAB_FIRST: f64 = 0.1;
const INTERMEDIATE_BAB_FIRST_MAX: std::time::Duration = std::time::Duration::from_secs(5);

/// The memory, in f64s, that the open domains' own intervals may take in ReLU
/// branch-and-bound (1 GiB; a domain's copy is about four f64 per value of the graph).
const DOMAIN_INTERVALS_F64: usize = 1 << 27;

/// A bounding problem's state at the root of a branch-and-bound: the rows (`lower.len() ×
/// outputs`), their conjunctions, the slopes reached, the best bounds and the pass that gave them.
struct RootState<'r> {
    rows: &'r [f64],
    groups: &'r [usize],
    relax: Relaxation,
    lower: Vec<f64>,
    pass: &'r Backward,
}

/// What [`relu_bab`] found.
struct ReluBab {
    verdict: Verdict,
    domains: usize,
    max_depth: usize,
    fp_allowance: f64,
}

/// Branch-and-bound on the kept unstable ReLUs of `a` (the root's intermediate bounds),
/// worst domain first, each child re-bounded by [`split_analysis`] and β-CROWN, the unit to
/// split picked by [`pick_unit_fsb`]; stops unknown at `opts.deadline` or after
/// `max_domains` domains.
fn relu_bab(
    t: &Target<'_>,
    input: &InputBox,
    a: Analysis,
    root: RootState<'_>,
    opts: &Options,
    max_domains: usize,
) -> Result<ReluBab> {
    let RootState {
        rows,
        groups,
        relax,
        lower,
        pass,
    } = root;
    let a = std::sync::Arc::new(a);
    let pick = pick_unit(&a, pass, &lower, groups, &relax);
    let (rows, m, groups, relax, lower) = compact(rows, t.rows(), groups, &relax, &lower);
    let root = Domain {
        rows,
        m,
        groups,
        pick,
        relax,
        lower,
        depth: 0,
        an: a.clone(),
    };
    let mut splits = ReluSplits {
        t,
        input,
        opts,
        values: a.graph.total_size(),
        refine: false,
        fp_allowance: 0.0,
    };
    // the children of a domain are bounded at once, one per core
    let per_batch = super::lbp::threads().div_ceil(2).max(1);
    let run = branch_and_bound(&mut splits, root, per_batch, max_domains, opts.deadline)?;
    Ok(ReluBab {
        verdict: run.verdict,
        domains: run.domains,
        max_depth: run.max_depth,
        fp_allowance: splits.fp_allowance,
    })
}

/// Splits of kept unstable ReLU units: the [`Branching`] of [`relu_bab`].
struct ReluSplits<'a, 't> {
    t: &'a Target<'t>,
    input: &'a InputBox,
    opts: &'a Options,
    /// Scalars of one domain's intervals.
    values: usize,
    /// Whether this batch's children re-compute their intervals ([`Branching::prepare`]).
    refine: bool,
    /// Largest floating-point allowance of an open child's bound.
    fp_allowance: f64,
}

/// A child domain of [`relu_bab`]: its parent's relaxation with one more split, or, for a
/// parent with every kept unstable unit split (a leaf: the domain is linear), the parent
/// again with more β iterations (the bound tends to its LP optimum as β converges).
struct ReluChild {
    relax: Relaxation,
    iters: usize,
    leaf: bool,
}

impl Branching for ReluSplits<'_, '_> {
    type Domain = Domain;
    type Child = ReluChild;
    type Outcome = (
        DomainOutcome,
        std::sync::Arc<Analysis>,
        Option<(usize, usize)>,
    );
    const NAME: &'static str = "branch-and-bound";
    const NOUN: &'static str = "domains";

    fn worst(d: &Domain) -> f64 {
        d.worst()
    }

    fn depth(d: &Domain) -> usize {
        d.depth
    }

    fn children(&self, d: &Domain) -> Option<Vec<ReluChild>> {
        let iters = self.opts.bab_iters;
        Some(match d.pick {
            None => vec![ReluChild {
                relax: d.relax.clone(),
                iters: 10 * iters + 50,
                leaf: true,
            }],
            Some((k, i)) => [true, false]
                .map(|active| {
                    let mut relax = d.relax.clone();
                    let split = Split {
                        node: k,
                        unit: i,
                        active,
                    };
                    relax.splits.push((split, vec![0.0; d.m]));
                    ReluChild {
                        relax,
                        iters,
                        leaf: false,
                    }
                })
                .into(),
        })
    }

    fn deepens(c: &ReluChild) -> bool {
        !c.leaf
    }

    /// Children own their intervals only while the open domains' copies fit the budget;
    /// past it they share their parent's (sound, only looser).
    fn prepare(&mut self, open: usize) {
        self.refine = self.opts.refine_domains
            && self.values <= REFINE_MAX_VALUES
            && open.saturating_mul(4 * self.values) <= DOMAIN_INTERVALS_F64;
    }

    fn bound(&self, d: &Domain, c: &ReluChild) -> Result<Self::Outcome> {
        let opts = self.opts;
        let split = if c.leaf {
            None
        } else {
            c.relax.splits.last().map(|(s, _)| *s)
        };
        let split = split.filter(|_| self.refine);
        let an = split_analysis(&d.an, split, opts.deadline);
        let outcome = bound_domain(
            &an,
            self.t,
            self.input,
            d,
            c.relax.clone(),
            c.iters,
            opts.deadline,
        )?;
        let pick = match &outcome {
            DomainOutcome::Open { lower, pass, relax } if !c.leaf => pick_unit_fsb(
                &an,
                pass,
                &d.rows,
                d.m,
                lower,
                &d.groups,
                relax,
                opts.fsb_candidates,
            ),
            _ => None,
        };
        Ok((outcome, an, pick))
    }

    fn settle(&mut self, d: &Domain, c: ReluChild, o: Self::Outcome) -> Settled<Domain> {
        let (outcome, an, pick) = o;
        match outcome {
            DomainOutcome::Proved => Settled::Proved,
            DomainOutcome::Refuted(c) => Settled::Refuted(c),
            DomainOutcome::Open { .. } if c.leaf => Settled::Undecided,
            DomainOutcome::Open { lower, pass, relax } => {
                self.fp_allowance = self.fp_allowance.max(pass.fp_allowance);
                let (rows, m, groups, relax, lower) =
                    compact(&d.rows, self.t.rows(), &d.groups, &relax, &lower);
                Settled::Open(Domain {
                    rows,
                    m,
                    groups,
                    relax,
                    lower,
                    pick,
                    depth: d.depth + 1,
                    an,
                })
            }
        }
    }

    fn undecided(n: usize) -> String {
        format!(
            "{n} fully split domains kept a non-positive bound and no counterexample (β not converged)"
        )
    }
}

/// One input-split domain: a sub-box with its unproved rows.
struct BoxDomain {
    input: InputBox,
    /// Rows of the conjunctions not yet proved (`m × rows`), their conjunctions.
    rows: Vec<f64>,
    m: usize,
    groups: Vec<usize>,
    /// Their lower bounds.
    lower: Vec<f64>,
    /// Their final linear coefficients on the input (`m × inputs`).
    coef: Vec<f64>,
    depth: usize,
}

impl BoxDomain {
    fn worst(&self) -> f64 {
        worst_open(&self.lower, &self.groups)
    }

    /// The coordinate to split: largest `Σ_rows |a_j|·(u_j − l_j)`, then widest — unless
    /// some coordinate is more than [`INPUT_SPLIT_ASPECT`] times wider than that one, and then
    /// the widest (the final bound's coefficients do not see a coordinate that only loosens
    /// the intermediate relaxations, which would otherwise never be split); `None` when no
    /// coordinate can be halved in floating point.
    fn pick(&self) -> Option<usize> {
        let n = self.input.dim();
        let widest = (0..n)
            .filter(|&j| self.halvable(j))
            .max_by(|&i, &j| self.width(i).total_cmp(&self.width(j)))?;
        let lead = leading_rows(&self.lower, &self.groups);
        let mut best: Option<(f64, f64, usize)> = None;
        for j in (0..n).filter(|&j| self.halvable(j)) {
            let w = self.width(j);
            let score: f64 = lead
                .iter()
                .map(|&r| self.coef.get(r * n + j).map_or(0.0, |a| a.abs()) * w)
                .sum();
            if best.is_none_or(|(s, bw, _)| score > s || (score == s && w > bw)) {
                best = Some((score, w, j));
            }
        }
        match best {
            Some((_, w, j)) if self.width(widest) <= INPUT_SPLIT_ASPECT * w => Some(j),
            _ => Some(widest),
        }
    }

    fn width(&self, j: usize) -> f64 {
        self.input.upper[j] - self.input.lower[j]
    }

    fn halvable(&self, j: usize) -> bool {
        let (l, h) = (self.input.lower[j], self.input.upper[j]);
        let mid = l + 0.5 * (h - l);
        mid > l && mid < h
    }
}

/// Domains of one ReLU branch-and-bound inside input branch-and-bound (see
/// [`Options::hybrid_max_unstable`]).
pub const HYBRID_MAX_DOMAINS: usize = 256;

/// See [`BoxDomain::pick`].
const INPUT_SPLIT_ASPECT: f64 = 8.0;

worst_first!(BoxDomain);

/// The rows of conjunctions not yet proved, with their conjunctions, bounds and coefficients.
struct Unproved {
    rows: Vec<f64>,
    m: usize,
    groups: Vec<usize>,
    lower: Vec<f64>,
    coef: Vec<f64>,
}

fn unproved(
    rows: &[f64],
    n_rows: usize,
    n_in: usize,
    groups: &[usize],
    lower: &[f64],
    coef: &[f64],
) -> Unproved {
    let keep = open_rows(lower, groups);
    Unproved {
        rows: pick_rows(rows, &keep, n_rows),
        m: keep.len(),
        groups: keep.iter().map(|&r| groups[r]).collect(),
        lower: keep.iter().map(|&r| lower[r]).collect(),
        coef: pick_rows(coef, &keep, n_in),
    }
}

/// What bounding one half-box found.
enum BoxOutcome {
    Proved { fp: f64 },
    Refuted(Counterexample),
    Open { fp: f64, unproved: Unproved },
}

/// Bounds the rows of `d` on its half `sub`: CROWN with intermediate bounds re-computed
/// on `sub`, then (with [`Options::input_split_alpha`]) α-CROWN.
fn bound_box(t: &Target<'_>, d: &BoxDomain, sub: &InputBox, opts: &Options) -> Result<BoxOutcome> {
    let a = Analysis::new(&t.gnet, sub, opts.deadline)?;
    let mut b = a.lower_bounds(&d.rows, d.m, &Relaxation::default(), true);
    let mut fp = b.fp_allowance;
    let mut relax = Relaxation::default();
    if opts.input_split_alpha && !open_rows(&b.lower, &d.groups).is_empty() && !past(opts.deadline)
    {
        if let Some(c) = try_argmins(t, sub, &b, &b.lower, &d.groups, opts.deadline)? {
            return Ok(BoxOutcome::Refuted(c));
        }
        init_alpha(&a, d.m, &mut relax);
        let (al, pass) = optimize(
            &a,
            &d.rows,
            d.m,
            &d.groups,
            &mut relax,
            opts.bab_iters,
            opts.deadline,
        );
        fp = fp.max(pass.fp_allowance);
        // the best bound per row over both passes; coefficients from the α pass
        let lower = al.iter().zip(&b.lower).map(|(&x, &y)| x.max(y)).collect();
        b = Backward { lower, ..pass };
    }
    if open_rows(&b.lower, &d.groups).is_empty() {
        return Ok(BoxOutcome::Proved { fp });
    }
    if let Some(c) = try_argmins(t, sub, &b, &b.lower, &d.groups, opts.deadline)? {
        return Ok(BoxOutcome::Refuted(c));
    }
    // few unstable units left: split them instead of the box
    if a.stats.unstable_kept <= opts.hybrid_max_unstable && !past(opts.deadline) {
        init_alpha(&a, d.m, &mut relax);
        let root = RootState {
            rows: &d.rows,
            groups: &d.groups,
            relax,
            lower: b.lower.clone(),
            pass: &b,
        };
        let r = relu_bab(t, sub, a, root, opts, HYBRID_MAX_DOMAINS)?;
        fp = fp.max(r.fp_allowance);
        match r.verdict {
            Verdict::Proved => return Ok(BoxOutcome::Proved { fp }),
            Verdict::Refuted(c) => return Ok(BoxOutcome::Refuted(c)),
            Verdict::Unknown { .. } => {}
        }
    }
    let n_in = sub.dim();
    let unproved = unproved(&d.rows, t.rows(), n_in, &d.groups, &b.lower, &b.input_coef);
    Ok(BoxOutcome::Open { fp, unproved })
}

/// Branch-and-bound on the input box (see [`Options::input_split_max_dim`]).
#[allow(clippy::too_many_arguments)] // the root's state, handed over from verify_output
fn input_bab(
    t: &Target<'_>,
    input: &InputBox,
    opts: &Options,
    rows: &[f64],
    groups: &[usize],
    root_lower: Vec<f64>,
    root_pass: &Backward,
    mut stats: LbpStats,
) -> Result<Report> {
    let n_in = input.dim();
    let u = unproved(
        rows,
        t.rows(),
        n_in,
        groups,
        &root_lower,
        &root_pass.input_coef,
    );
    let root = BoxDomain {
        input: input.clone(),
        rows: u.rows,
        m: u.m,
        groups: u.groups,
        lower: u.lower,
        coef: u.coef,
        depth: 0,
    };
    let mut splits = BoxSplits {
        t,
        opts,
        fp_allowance: stats.fp_allowance,
    };
    // the two halves of a box are bounded at once, one per core
    let per_batch = super::lbp::threads().div_ceil(2).max(1);
    let run = branch_and_bound(
        &mut splits,
        root,
        per_batch,
        opts.max_domains,
        opts.deadline,
    )?;
    stats.fp_allowance = splits.fp_allowance;
    Ok(Report {
        decided_by: if run.decided() {
            DecidedBy::Bab
        } else {
            DecidedBy::None
        },
        verdict: run.verdict,
        margin_lower: root_lower,
        stats,
        domains: run.domains,
        max_depth: run.max_depth,
    })
}

/// Halvings of the input box: the [`Branching`] of [`input_bab`].
struct BoxSplits<'a, 't> {
    t: &'a Target<'t>,
    opts: &'a Options,
    /// Largest floating-point allowance of a bound so far.
    fp_allowance: f64,
}

impl Branching for BoxSplits<'_, '_> {
    type Domain = BoxDomain;
    /// One half of the parent's box.
    type Child = InputBox;
    type Outcome = BoxOutcome;
    const NAME: &'static str = "input branch-and-bound";
    const NOUN: &'static str = "boxes";

    fn worst(d: &BoxDomain) -> f64 {
        d.worst()
    }

    fn depth(d: &BoxDomain) -> usize {
        d.depth
    }

    fn children(&self, d: &BoxDomain) -> Option<Vec<InputBox>> {
        let j = d.pick()?;
        let (l, h) = (d.input.lower[j], d.input.upper[j]);
        let mid = l + 0.5 * (h - l);
        let halves = [(l, mid), (mid, h)].map(|half| {
            let mut sub = d.input.clone();
            (sub.lower[j], sub.upper[j]) = half;
            sub
        });
        Some(halves.into())
    }

    fn deepens(_: &InputBox) -> bool {
        true
    }

    fn bound(&self, d: &BoxDomain, sub: &InputBox) -> Result<BoxOutcome> {
        bound_box(self.t, d, sub, self.opts)
    }

    fn settle(&mut self, d: &BoxDomain, sub: InputBox, o: BoxOutcome) -> Settled<BoxDomain> {
        match o {
            BoxOutcome::Proved { fp } => {
                self.fp_allowance = self.fp_allowance.max(fp);
                Settled::Proved
            }
            BoxOutcome::Refuted(c) => Settled::Refuted(c),
            BoxOutcome::Open { fp, unproved: u } => {
                self.fp_allowance = self.fp_allowance.max(fp);
                Settled::Open(BoxDomain {
                    input: sub,
                    rows: u.rows,
                    m: u.m,
                    groups: u.groups,
                    lower: u.lower,
                    coef: u.coef,
                    depth: d.depth + 1,
                })
            }
        }
    }

    fn undecided(n: usize) -> String {
        format!(
            "{n} boxes too small to halve in floating point kept a non-positive bound and no counterexample"
        )
    }
}
