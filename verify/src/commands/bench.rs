//! `snl-verify bench --out DIR`: MILP time against the number of kept ReLUs for one random
//! MLP linearized to several budgets, and the inputs of the Marabou comparison
//! (`papers/bench-verify/marabou_compare.py`). Not a test.
//!
//! For each budget `k` it writes `DIR/mlp-k{k}.safetensors` (the model, the same weights, `k`
//! hidden ReLUs kept, chosen by a seeded shuffle), `DIR/mlp-k{k}.dense.json` (the dense
//! network, the box and our results, read by the Python script), and prints one table row.
use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Args;
use nalgebra::{DMatrix, DVector};
use serde::Serialize;
use snl_theory::bound::{InputBox, Method, Property, Verdict};
use snl_theory::{Affine, Layer, Network, ReluMask};

use crate::cli::{ExitStatus, OutputFormat};

/// Arguments of `bench`.
#[derive(Debug, Args)]
pub struct BenchCommand {
    /// Output folder (created).
    #[arg(long)]
    pub out: PathBuf,
    /// Hidden widths of the MLP (input 4, output 3).
    #[arg(long, value_delimiter = ',', default_values_t = [32usize, 32])]
    pub hidden: Vec<usize>,
    /// Kept-ReLU budgets.
    #[arg(long, value_delimiter = ',', default_values_t = [0usize, 8, 16, 24, 32, 48, 64])]
    pub budgets: Vec<usize>,
    /// Seed of the weights and masks.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Half-width `r` of the box `[c − r, c + r]` around a seeded random centre `c ∈ [−1, 1]^4`.
    #[arg(long, default_value_t = 1.0)]
    pub radius: f64,
    /// Time limit per model for the MILP bounds, in seconds.
    #[arg(long, default_value_t = 300.0)]
    pub timeout: f64,
    /// `text` or `json`.
    #[arg(long, value_enum, default_value_t)]
    pub output_format: OutputFormat,
}

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    /// Uniform in `[-1, 1)`.
    fn sym(&mut self) -> f64 {
        2.0 * ((self.next() >> 11) as f64 / (1u64 << 53) as f64) - 1.0
    }
}

/// A random MLP `4 → hidden… → 3` with every ReLU kept (weights uniform with variance
/// `2 / fan_in`, biases uniform in ±0.1).
fn random_mlp(hidden: &[usize], seed: u64) -> Network {
    let mut rng = Rng(seed);
    let mut net = Network::new(vec![4]);
    let mut prev = 4;
    for &h in hidden.iter().chain(std::iter::once(&3)) {
        let scale = (6.0 / prev as f64).sqrt();
        let w = DMatrix::from_fn(h, prev, |_, _| scale * rng.sym());
        let b = DVector::from_fn(h, |_, _| 0.1 * rng.sym());
        net.push(Layer::Dense(Affine::new(w, b)));
        prev = h;
        net.push(Layer::Relu(ReluMask::all_kept(h)));
    }
    net.nodes.pop(); // no ReLU after the logits
    net
}

/// Keeps exactly `k` hidden ReLUs (a seeded shuffle of all hidden units).
fn with_budget(net: &Network, k: usize, seed: u64) -> Network {
    let mut units: Vec<(usize, usize)> = Vec::new();
    for (n, node) in net.nodes.iter().enumerate() {
        if let Layer::Relu(m) = &node.layer {
            units.extend((0..m.len()).map(|i| (n, i)));
        }
    }
    let mut rng = Rng(seed ^ 0xb0d9e7);
    for i in (1..units.len()).rev() {
        let j = (rng.next() % (i as u64 + 1)) as usize;
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

#[derive(Serialize)]
#[serde(tag = "op", rename_all = "snake_case")]
enum DenseNode {
    Dense {
        inputs: Vec<usize>,
        weight: Vec<Vec<f64>>,
        bias: Vec<f64>,
    },
    Relu {
        inputs: Vec<usize>,
        kept: Vec<bool>,
    },
    Add {
        inputs: Vec<usize>,
    },
}

#[derive(Serialize)]
struct Ours {
    kept: usize,
    binaries: usize,
    tightening_lps: usize,
    lp_seconds: f64,
    milp_seconds: f64,
    milp_exact: bool,
    lower: Vec<f64>,
    upper: Vec<f64>,
    class: usize,
    verdict: String,
    verify_seconds: f64,
}

#[derive(Serialize)]
struct DenseFile {
    model: PathBuf,
    lower: Vec<f64>,
    upper: Vec<f64>,
    nodes: Vec<DenseNode>,
    ours: Ours,
}

fn dense_nodes(dense: &Network) -> Vec<DenseNode> {
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

/// Runs `bench`.
pub fn run(cmd: BenchCommand) -> anyhow::Result<ExitStatus> {
    std::fs::create_dir_all(&cmd.out)
        .with_context(|| format!("cannot create {}", cmd.out.display()))?;
    let base = random_mlp(&cmd.hidden, cmd.seed);
    let mut rng = Rng(cmd.seed ^ 0xce17e5);
    let center: Vec<f64> = (0..4).map(|_| rng.sym()).collect();
    let input = InputBox::around(&center, cmd.radius)?;
    let mut rows = Vec::new();
    let mut out = std::io::stdout().lock();
    if cmd.output_format == OutputFormat::Text {
        writeln!(
            out,
            "{:>5} {:>8} {:>8} {:>10} {:>10} {:>6} {:>9} {:>10}",
            "kept", "binaries", "tight.LP", "LP s", "MILP s", "exact", "argmax", "verify s"
        )?;
    }
    for &k in &cmd.budgets {
        let path = cmd.out.join(format!("mlp-k{k}.safetensors"));
        snl_theory::save(&with_budget(&base, k, cmd.seed), &path)?;
        // read back: the comparison uses exactly what the file holds
        let net = snl_theory::load(&path)?;
        let kept = net.relu_counts()?.kept;
        let q = net.bound(&input)?;
        let t = Instant::now();
        q.clone().using(Method::Lp).solve()?;
        let lp_seconds = t.elapsed().as_secs_f64();
        let t = Instant::now();
        let milp = q
            .clone()
            .using(Method::Milp)
            .with_timeout(Duration::from_secs_f64(cmd.timeout))
            .solve()?;
        let milp_seconds = t.elapsed().as_secs_f64();
        let y = net.forward(&input.center())?;
        let class = (0..y.len())
            .max_by(|&a, &b| y[a].total_cmp(&y[b]))
            .unwrap_or(0);
        let t = Instant::now();
        let verdict = q
            .clone()
            .using(Method::Milp)
            .with_timeout(Duration::from_secs_f64(cmd.timeout))
            .verify(&Property::Argmax { class })?;
        let verify_seconds = t.elapsed().as_secs_f64();
        let verdict = match verdict {
            Verdict::Proved => "proved",
            Verdict::Refuted(_) => "refuted",
            Verdict::Unknown { .. } => "unknown",
        }
        .to_string();
        let ours = Ours {
            kept,
            binaries: milp.unstable_kept,
            tightening_lps: milp.tightening_lps,
            lp_seconds,
            milp_seconds,
            milp_exact: milp.exact,
            lower: milp.bounds.lower.clone(),
            upper: milp.bounds.upper.clone(),
            class,
            verdict,
            verify_seconds,
        };
        if cmd.output_format == OutputFormat::Text {
            writeln!(
                out,
                "{:>5} {:>8} {:>8} {:>10.3} {:>10.3} {:>6} {:>9} {:>10.3}",
                ours.kept,
                ours.binaries,
                ours.tightening_lps,
                ours.lp_seconds,
                ours.milp_seconds,
                ours.milp_exact,
                ours.verdict,
                ours.verify_seconds
            )?;
        }
        let file = DenseFile {
            model: path.clone(),
            lower: input.lower.clone(),
            upper: input.upper.clone(),
            nodes: dense_nodes(q.dense()?),
            ours,
        };
        let json_path = cmd.out.join(format!("mlp-k{k}.dense.json"));
        std::fs::write(&json_path, serde_json::to_string(&file)?)
            .with_context(|| format!("cannot write {}", json_path.display()))?;
        rows.push(file.ours);
    }
    if cmd.output_format == OutputFormat::Json {
        writeln!(out, "{}", serde_json::to_string_pretty(&rows)?)?;
    }
    Ok(ExitStatus::Success)
}
