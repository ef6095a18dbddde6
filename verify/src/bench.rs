//! The generator and runner behind `snl-verify bench`: one random MLP with every ReLU kept,
//! the same weights linearized to a budget by a seeded shuffle, the attack radius the input
//! boxes are scaled to, the solves timed per budget ([`Bench::measure`]) and the files the
//! Marabou comparison (`papers/bench-verify/marabou_compare.py`) reads ([`Measured::write`]).
//! The command checks its arguments and prints.
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context;
use nalgebra::{DMatrix, DVector};
use serde::Serialize;
use snl_theory::bound::bab::DecidedBy;
use snl_theory::bound::{bab, InputBox, Method, Property, Query, Verdict};
use snl_theory::rng::SeededRng;
use snl_theory::{Affine, Layer, Network, ReluMask, ValueId};

/// Mixed into the seed of [`with_budget`]'s shuffle.
const BUDGET_SHUFFLE: u64 = 0xb0d9e7;

/// A random MLP `4 → hidden… → 3` with every ReLU kept (weights uniform with variance
/// `2 / fan_in`, biases uniform in ±0.1).
pub fn random_mlp(hidden: &[usize], seed: u64) -> Network {
    let mut rng = SeededRng::new(seed);
    let mut net = Network::new(vec![4]);
    let mut prev = 4;
    for &h in hidden.iter().chain(std::iter::once(&3)) {
        let scale = (6.0 / prev as f64).sqrt();
        let w = DMatrix::from_fn(h, prev, |_, _| scale * rng.uniform(-1.0, 1.0));
        let b = DVector::from_fn(h, |_, _| 0.1 * rng.uniform(-1.0, 1.0));
        net.push(Layer::Dense(Affine::new(w, b)));
        prev = h;
        net.push(Layer::Relu(ReluMask::all_kept(h)));
    }
    net.nodes.pop(); // no ReLU after the logits
    net
}

/// Keeps exactly `k` hidden ReLUs (a seeded shuffle of all hidden units).
pub fn with_budget(net: &Network, k: usize, seed: u64) -> Network {
    let mut units: Vec<(usize, usize)> = Vec::new();
    for (n, node) in net.nodes.iter().enumerate() {
        if let Layer::Relu(m) = &node.layer {
            units.extend((0..m.len()).map(|i| (n, i)));
        }
    }
    let mut rng = SeededRng::new(seed ^ BUDGET_SHUFFLE);
    for i in (1..units.len()).rev() {
        let j = (rng.next_u64() % (i as u64 + 1)) as usize;
        units.swap(i, j);
    }
    let mut out = net.clone().with_all_masks(false);
    for &(n, i) in units.iter().take(k) {
        if let Layer::Relu(m) = &mut out.nodes[n].layer {
            m.set(i, true);
        }
    }
    out
}

/// One node of the dense network as `papers/bench-verify/marabou_compare.py` reads it.
#[derive(Serialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum DenseNode {
    /// `y = W x + b`.
    Dense {
        /// The values it reads.
        inputs: Vec<ValueId>,
        /// `W`, row by row.
        weight: Vec<Vec<f64>>,
        /// `b`.
        bias: Vec<f64>,
    },
    /// A masked ReLU.
    Relu {
        /// The values it reads.
        inputs: Vec<ValueId>,
        /// Which units keep their ReLU.
        kept: Vec<bool>,
    },
    /// A residual add.
    Add {
        /// The values it reads.
        inputs: Vec<ValueId>,
    },
}

/// The nodes of a dense network (dense, masked ReLU and add layers only).
pub fn dense_nodes(dense: &Network) -> Vec<DenseNode> {
    dense
        .nodes
        .iter()
        .map(|n| match &n.layer {
            Layer::Dense(a) => DenseNode::Dense {
                inputs: n.inputs.clone(),
                weight: (0..a.weight.nrows())
                    .map(|r| a.weight.row(r).iter().copied().collect())
                    .collect(),
                bias: a.bias.iter().copied().collect(),
            },
            Layer::Relu(m) => DenseNode::Relu {
                inputs: n.inputs.clone(),
                kept: m.to_bools(),
            },
            _ => DenseNode::Add {
                inputs: n.inputs.clone(),
            },
        })
        .collect()
}

/// PGD restarts and steps of the attack-radius search (the verdicts' own attack is shorter).
pub const SEARCH_PGD: (usize, usize) = (16, 100);
/// Bisection steps of the attack-radius search.
pub const SEARCH_STEPS: usize = 30;

/// The smallest radius in `(0, max]` at which PGD finds a counterexample to `argmax = class`
/// around `center` (bisection; `None` when it finds none at `max`).
pub fn attack_radius(
    net: &Network,
    center: &[f64],
    class: usize,
    max: f64,
) -> anyhow::Result<Option<f64>> {
    let spec =
        snl_theory::spec::OutputSpec::argmax(snl_theory::numel(&net.output_shape()?), class)?;
    let target = bab::Target::new(net, &spec)?;
    let attack = |r: f64| -> anyhow::Result<bool> {
        let input = InputBox::around(center, r)?;
        let (restarts, steps) = SEARCH_PGD;
        Ok(bab::pgd(
            &target,
            &input,
            restarts,
            steps,
            snl_theory::rng::seeds::ATTACK,
            None,
        )?
        .is_some())
    };
    if !attack(max)? {
        return Ok(None);
    }
    let (mut lo, mut hi) = (0.0, max);
    for _ in 0..SEARCH_STEPS {
        let mid = 0.5 * (lo + hi);
        if attack(mid)? {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    Ok(Some(hi))
}

/// Mixed into the seed of the box centre.
const CENTER: u64 = 0xce17e5;

/// What `bench` computes per model besides writing it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Computations {
    /// The LP and MILP bounds of every logit.
    pub bounds: bool,
    /// The argmax verdict by the MILP.
    pub milp: bool,
    /// The argmax verdict by branch-and-bound.
    pub bab: bool,
}

/// The settings of one benchmark. The caller checks them: at least one hidden layer, every
/// width at least 1, every budget at most the hidden units, a finite radius `>= 0`, a
/// positive fraction.
#[derive(Clone, Debug)]
pub struct BenchOptions {
    /// Output folder (created).
    pub out: PathBuf,
    /// Hidden widths of the MLP (input 4, output 3).
    pub hidden: Vec<usize>,
    /// Seed of the weights, the masks and the box centre.
    pub seed: u64,
    /// Half-width of the box around the centre.
    pub radius: f64,
    /// Per model, the box radius as this fraction of the attack radius (searched in
    /// `(0, radius]`).
    pub radius_frac: Option<f64>,
    /// Time limit per model for each computation.
    pub timeout: Duration,
    /// What to compute.
    pub solve: Computations,
}

/// The LP and MILP bounds (complete up to CBC's tolerances) of every logit.
#[derive(Clone, Debug, Serialize)]
pub struct Bounds {
    /// Binaries of the MILP (unstable kept ReLUs).
    pub binaries: usize,
    /// Tightening LPs solved.
    pub tightening_lps: usize,
    /// Time of the LP bounds.
    pub lp_seconds: f64,
    /// Time of the MILP bounds.
    pub milp_seconds: f64,
    /// Whether every MILP bound was solved to optimality.
    pub milp_exact: bool,
    /// Lower bounds.
    pub lower: Vec<f64>,
    /// Upper bounds.
    pub upper: Vec<f64>,
}

/// A branch-and-bound verdict with its report.
#[derive(Clone, Debug, Serialize)]
pub struct BabRun {
    /// `proved`, `refuted` or `unknown`.
    pub verdict: String,
    /// Its time.
    pub seconds: f64,
    /// The stage that decided.
    pub decided_by: DecidedBy,
    /// Unstable kept ReLUs.
    pub unstable_kept: usize,
    /// Domains bounded.
    pub domains: usize,
    /// Deepest split.
    pub max_depth: usize,
    /// Why it stayed unknown.
    pub reason: Option<String>,
}

/// One budget's results: the row `bench` prints, and `ours` in the dense file.
#[derive(Clone, Debug, Serialize)]
pub struct Row {
    /// Kept ReLUs.
    pub kept: usize,
    /// The class at the centre (the argmax property's).
    pub class: usize,
    /// The box is `[c − radius, c + radius]`.
    pub radius: f64,
    /// With `--radius-frac`: the attack radius the box radius is a fraction of.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attack_radius: Option<f64>,
    /// The LP and MILP bounds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bounds: Option<Bounds>,
    /// The MILP verdict: `proved`, `refuted` or `unknown`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verdict: Option<String>,
    /// The time of the MILP verdict.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verify_seconds: Option<f64>,
    /// The branch-and-bound verdict.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bab: Option<BabRun>,
}

#[derive(Serialize)]
struct BoxFile<'a> {
    lower: &'a [f64],
    upper: &'a [f64],
}

#[derive(Serialize)]
struct DenseFile {
    model: PathBuf,
    input_box: PathBuf,
    lower: Vec<f64>,
    upper: Vec<f64>,
    nodes: Vec<DenseNode>,
    ours: Row,
}

fn verdict_name(v: &Verdict) -> &'static str {
    match v {
        Verdict::Proved => "proved",
        Verdict::Refuted(_) => "refuted",
        Verdict::Unknown { .. } => "unknown",
    }
}

/// One benchmark: the folder, the all-kept MLP and the centre of every box.
pub struct Bench {
    opts: BenchOptions,
    base: Network,
    center: Vec<f64>,
}

/// One budget measured: its model file, box and query, and its row.
pub struct Measured {
    k: usize,
    out: PathBuf,
    model: PathBuf,
    input: InputBox,
    query: Query,
    /// The results.
    pub row: Row,
}

impl Bench {
    /// Creates the output folder and draws the MLP and the centre.
    pub fn new(opts: BenchOptions) -> anyhow::Result<Self> {
        std::fs::create_dir_all(&opts.out)
            .with_context(|| format!("cannot create {}", opts.out.display()))?;
        let base = random_mlp(&opts.hidden, opts.seed);
        let mut rng = SeededRng::new(opts.seed ^ CENTER);
        let center: Vec<f64> = (0..4).map(|_| rng.uniform(-1.0, 1.0)).collect();
        Ok(Self { opts, base, center })
    }

    /// Writes `mlp-k{k}.safetensors` (`k` ReLUs kept), reads it back (the comparison uses
    /// exactly what the file holds), and runs the computations on its box.
    pub fn measure(&self, k: usize) -> anyhow::Result<Measured> {
        let o = &self.opts;
        let path = o.out.join(format!("mlp-k{k}.safetensors"));
        snl_theory::save(&with_budget(&self.base, k, o.seed), &path)?;
        let net = snl_theory::load(&path)?;
        let kept = net.relu_counts()?.kept;
        let y = net.forward(&self.center)?;
        let class = (0..y.len())
            .max_by(|&a, &b| y[a].total_cmp(&y[b]))
            .unwrap_or(0);
        let property = Property::Argmax { class };
        let (radius, attack_radius) = match o.radius_frac {
            Some(f) => match attack_radius(&net, &self.center, class, o.radius)? {
                Some(r) => (f * r, Some(r)),
                None => (o.radius, None),
            },
            None => (o.radius, None),
        };
        let input = InputBox::around(&self.center, radius)?;
        let q = net.bound(&input)?;
        let row = Row {
            kept,
            class,
            radius,
            attack_radius,
            bounds: None,
            verdict: None,
            verify_seconds: None,
            bab: None,
        };
        let row = self.solve(&q, &property, row)?;
        Ok(Measured {
            k,
            out: o.out.clone(),
            model: path,
            input,
            query: q,
            row,
        })
    }

    /// The computations of [`BenchOptions::solve`] on `q`, into `row`.
    fn solve(&self, q: &Query, property: &Property, mut row: Row) -> anyhow::Result<Row> {
        let (solve, timeout) = (self.opts.solve, self.opts.timeout);
        if solve.bounds {
            row.bounds = Some(bounds(q, timeout)?);
        }
        if solve.milp {
            let milp = q.clone().using(Method::Milp);
            milp.dense()?; // unrolled outside the time, as `bound` does
            let t = Instant::now();
            let v = milp.with_timeout(timeout).verify(property)?;
            row.verify_seconds = Some(t.elapsed().as_secs_f64());
            row.verdict = Some(verdict_name(&v).to_string());
        }
        if solve.bab {
            row.bab = Some(bab_run(q, property, timeout)?);
        }
        Ok(row)
    }
}

/// The LP bounds (timed only), then the MILP bounds.
fn bounds(q: &Query, timeout: Duration) -> anyhow::Result<Bounds> {
    let t = Instant::now();
    q.clone().using(Method::Lp).solve()?;
    let lp_seconds = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let milp = q
        .clone()
        .using(Method::Milp)
        .with_timeout(timeout)
        .solve()?;
    Ok(Bounds {
        binaries: milp.unstable_kept,
        tightening_lps: milp.tightening_lps,
        lp_seconds,
        milp_seconds: t.elapsed().as_secs_f64(),
        milp_exact: milp.exact,
        lower: milp.bounds.lower,
        upper: milp.bounds.upper,
    })
}

/// The branch-and-bound verdict with its report.
fn bab_run(q: &Query, property: &Property, timeout: Duration) -> anyhow::Result<BabRun> {
    let t = Instant::now();
    let r = q
        .clone()
        .using(Method::Bab)
        .with_timeout(timeout)
        .verify_report(property)?;
    Ok(BabRun {
        verdict: verdict_name(&r.verdict).to_string(),
        seconds: t.elapsed().as_secs_f64(),
        decided_by: r.decided_by,
        unstable_kept: r.stats.unstable_kept,
        domains: r.domains,
        max_depth: r.max_depth,
        reason: match r.verdict {
            Verdict::Unknown { reason } => Some(reason),
            _ => None,
        },
    })
}

impl Measured {
    /// Writes `mlp-k{k}.box.json` (the box, for `bound --input-box`) and
    /// `mlp-k{k}.dense.json` (the dense network, the box, the class and the row); returns
    /// the row.
    pub fn write(self) -> anyhow::Result<Row> {
        let box_path = self.out.join(format!("mlp-k{}.box.json", self.k));
        let b = BoxFile {
            lower: &self.input.lower,
            upper: &self.input.upper,
        };
        write(&box_path, &serde_json::to_string(&b)?)?;
        let file = DenseFile {
            model: self.model,
            input_box: box_path,
            lower: self.input.lower.clone(),
            upper: self.input.upper.clone(),
            nodes: dense_nodes(self.query.dense()?),
            ours: self.row,
        };
        let json_path = self.out.join(format!("mlp-k{}.dense.json", self.k));
        write(&json_path, &serde_json::to_string(&file)?)?;
        Ok(file.ours)
    }
}

fn write(path: &Path, text: &str) -> anyhow::Result<()> {
    std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_budget_keeps_exactly_k_of_the_same_weights() {
        let net = random_mlp(&[6, 5], 3);
        assert_eq!(net.relu_counts().unwrap().kept, 11);
        for k in [0, 4, 11] {
            let b = with_budget(&net, k, 3);
            assert_eq!(b.relu_counts().unwrap().kept, k);
            // only the masks differ
            let x = [0.3, -0.2, 0.9, 0.1];
            if k == 11 {
                assert_eq!(b.forward(&x).unwrap(), net.forward(&x).unwrap());
            }
        }
        assert_eq!(with_budget(&net, 4, 3), with_budget(&net, 4, 3));
        assert_eq!(dense_nodes(&net).len(), net.nodes.len());
    }

    #[test]
    fn the_attack_radius_is_where_the_attack_starts_to_succeed() {
        let net = random_mlp(&[8], 1);
        let c = [0.1, 0.2, -0.3, 0.4];
        let y = net.forward(&c).unwrap();
        let class = (0..y.len()).max_by(|&a, &b| y[a].total_cmp(&y[b])).unwrap();
        let r = attack_radius(&net, &c, class, 10.0)
            .unwrap()
            .expect("a counterexample by 10");
        assert!(r > 0.0 && r <= 10.0);
        let spec = snl_theory::spec::OutputSpec::argmax(3, class).unwrap();
        let t = bab::Target::new(&net, &spec).unwrap();
        let found = |r: f64| {
            let b = InputBox::around(&c, r).unwrap();
            let (restarts, steps) = SEARCH_PGD;
            bab::pgd(
                &t,
                &b,
                restarts,
                steps,
                snl_theory::rng::seeds::ATTACK,
                None,
            )
            .unwrap()
            .is_some()
        };
        assert!(found(r));
    }
}
