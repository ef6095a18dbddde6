//! `snl-verify bench --out DIR`: verification time against the number of kept ReLUs for one
//! random MLP linearized to several budgets, and the inputs of the Marabou comparison
//! (`papers/bench-verify/marabou_compare.py`). Not a test.
//!
//! For each budget `k` it writes `DIR/mlp-k{k}.safetensors` (the model, the same weights, `k`
//! hidden ReLUs kept, chosen by a seeded shuffle), `DIR/mlp-k{k}.box.json` (the input box, for
//! `bound --input-box`), `DIR/mlp-k{k}.dense.json` (the dense network, the box, the class and
//! our results, read by the Python script), and prints one table row. `--solve` picks what is
//! computed: the LP and MILP bounds (complete up to CBC's tolerances) of every logit (`bounds`), the argmax verdict by the
//! MILP (`milp`) and by branch-and-bound (`bab`, with its stage and domain counts).
use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::Args;
use serde::Serialize;
use snl_theory::bound::bab::DecidedBy;
use snl_theory::bound::{InputBox, Method, Property, Verdict};
use snl_theory::rng::SeededRng;

use crate::bench::{attack_radius, dense_nodes, random_mlp, with_budget, DenseNode};
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
    /// Per model, shrink the radius to this fraction of its attack radius: the smallest
    /// radius (bisection in `(0, --radius]`) at which a long PGD attack finds a
    /// counterexample. With a fraction just below 1 the box is close to the decision boundary,
    /// where a complete verifier has work to do; the choice involves no bounding.
    #[arg(long)]
    pub radius_frac: Option<f64>,
    /// Time limit per model for each computation, in seconds.
    #[arg(long, default_value_t = 300.0)]
    pub timeout: f64,
    /// What to compute per model (comma separated; the models and boxes are always written).
    #[arg(long, value_enum, value_delimiter = ',', default_values_t = [Solve::Bounds, Solve::Milp])]
    pub solve: Vec<Solve>,
    /// `text` or `json`.
    #[arg(long, value_enum, default_value_t)]
    pub output_format: OutputFormat,
}

/// One computation of `bench --solve`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Solve {
    /// The LP and MILP bounds (complete up to CBC's tolerances) of every logit (the optima the tightness probes check).
    Bounds,
    /// The argmax verdict by the MILP (attack, then CBC; complete up to its tolerances).
    Milp,
    /// The argmax verdict by branch-and-bound (attack, CROWN, α-CROWN, β-CROWN BaB), with the
    /// stage that decided and the domains bounded.
    Bab,
}

/// The LP and MILP bounds (complete up to CBC's tolerances) of every logit.
#[derive(Serialize)]
struct Bounds {
    binaries: usize,
    tightening_lps: usize,
    lp_seconds: f64,
    milp_seconds: f64,
    milp_exact: bool,
    lower: Vec<f64>,
    upper: Vec<f64>,
}

/// A branch-and-bound verdict with its report.
#[derive(Serialize)]
struct BabRun {
    verdict: String,
    seconds: f64,
    decided_by: DecidedBy,
    unstable_kept: usize,
    domains: usize,
    max_depth: usize,
    reason: Option<String>,
}

#[derive(Serialize)]
struct Ours {
    kept: usize,
    class: usize,
    /// The box is `[c − radius, c + radius]`.
    radius: f64,
    /// With `--radius-frac`: the attack radius the box radius is a fraction of.
    #[serde(skip_serializing_if = "Option::is_none")]
    attack_radius: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    bounds: Option<Bounds>,
    /// The MILP verdict and its time.
    #[serde(skip_serializing_if = "Option::is_none")]
    verdict: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    verify_seconds: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    bab: Option<BabRun>,
}

#[derive(Serialize)]
struct BoxFile<'a> {
    lower: &'a [f64],
    upper: &'a [f64],
}

fn verdict_name(v: &Verdict) -> &'static str {
    match v {
        Verdict::Proved => "proved",
        Verdict::Refuted(_) => "refuted",
        Verdict::Unknown { .. } => "unknown",
    }
}

fn opt<T>(v: Option<T>, f: impl FnOnce(T) -> String) -> String {
    v.map_or_else(|| "-".to_string(), f)
}

#[derive(Serialize)]
struct DenseFile {
    model: PathBuf,
    input_box: PathBuf,
    lower: Vec<f64>,
    upper: Vec<f64>,
    nodes: Vec<DenseNode>,
    ours: Ours,
}

/// Refuses bad arguments before anything is written.
fn check(cmd: &BenchCommand) -> anyhow::Result<()> {
    if cmd.hidden.is_empty() || cmd.hidden.contains(&0) {
        bail!("--hidden needs at least one layer, each of width >= 1");
    }
    let units: usize = cmd.hidden.iter().sum();
    if let Some(k) = cmd.budgets.iter().find(|&&k| k > units) {
        bail!("--budgets {k} is above the {units} hidden ReLUs of --hidden");
    }
    if !(cmd.radius.is_finite() && cmd.radius >= 0.0) {
        bail!("--radius must be a number >= 0, got {}", cmd.radius);
    }
    if let Some(f) = cmd.radius_frac.filter(|f| !(f.is_finite() && *f > 0.0)) {
        bail!("--radius-frac must be positive, got {f}");
    }
    if !(cmd.timeout.is_finite() && cmd.timeout > 0.0) {
        bail!("--timeout must be positive (seconds), got {}", cmd.timeout);
    }
    Ok(())
}

/// Runs `bench`.
pub fn run(cmd: BenchCommand) -> anyhow::Result<ExitStatus> {
    check(&cmd)?;
    std::fs::create_dir_all(&cmd.out)
        .with_context(|| format!("cannot create {}", cmd.out.display()))?;
    let base = random_mlp(&cmd.hidden, cmd.seed);
    let mut rng = SeededRng::new(cmd.seed ^ 0xce17e5);
    let center: Vec<f64> = (0..4).map(|_| rng.uniform(-1.0, 1.0)).collect();
    let mut rows = Vec::new();
    let mut out = std::io::stdout().lock();
    let timeout = Duration::from_secs_f64(cmd.timeout);
    if cmd.output_format == OutputFormat::Text {
        writeln!(
            out,
            "{:>5} {:>5} {:>9} {:>8} {:>8} {:>10} {:>10} {:>6} {:>9} {:>10} {:>9} {:>10} {:>6} {:>8} {:>5}",
            "kept", "class", "radius", "binaries", "tight.LP", "LP s", "MILP s", "exact", "milp", "verify s",
            "bab", "bab s", "by", "domains", "depth"
        )?;
    }
    for &k in &cmd.budgets {
        let path = cmd.out.join(format!("mlp-k{k}.safetensors"));
        snl_theory::save(&with_budget(&base, k, cmd.seed), &path)?;
        // read back: the comparison uses exactly what the file holds
        let net = snl_theory::load(&path)?;
        let kept = net.relu_counts()?.kept;
        let y = net.forward(&center)?;
        let class = (0..y.len())
            .max_by(|&a, &b| y[a].total_cmp(&y[b]))
            .unwrap_or(0);
        let property = Property::Argmax { class };
        let (radius, attack_radius) = match cmd.radius_frac {
            Some(f) => match attack_radius(&net, &center, class, cmd.radius)? {
                Some(r) => (f * r, Some(r)),
                None => (cmd.radius, None),
            },
            None => (cmd.radius, None),
        };
        let input = InputBox::around(&center, radius)?;
        let q = net.bound(&input)?;
        let mut ours = Ours {
            kept,
            class,
            radius,
            attack_radius,
            bounds: None,
            verdict: None,
            verify_seconds: None,
            bab: None,
        };
        if cmd.solve.contains(&Solve::Bounds) {
            let t = Instant::now();
            q.clone().using(Method::Lp).solve()?;
            let lp_seconds = t.elapsed().as_secs_f64();
            let t = Instant::now();
            let milp = q
                .clone()
                .using(Method::Milp)
                .with_timeout(timeout)
                .solve()?;
            ours.bounds = Some(Bounds {
                binaries: milp.unstable_kept,
                tightening_lps: milp.tightening_lps,
                lp_seconds,
                milp_seconds: t.elapsed().as_secs_f64(),
                milp_exact: milp.exact,
                lower: milp.bounds.lower,
                upper: milp.bounds.upper,
            });
        }
        if cmd.solve.contains(&Solve::Milp) {
            let milp = q.clone().using(Method::Milp);
            milp.dense()?; // unrolled outside the time, as `bound` does
            let t = Instant::now();
            let v = milp.with_timeout(timeout).verify(&property)?;
            ours.verify_seconds = Some(t.elapsed().as_secs_f64());
            ours.verdict = Some(verdict_name(&v).to_string());
        }
        if cmd.solve.contains(&Solve::Bab) {
            let t = Instant::now();
            let r = q
                .clone()
                .using(Method::Bab)
                .with_timeout(timeout)
                .verify_report(&property)?;
            ours.bab = Some(BabRun {
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
            });
        }
        if cmd.output_format == OutputFormat::Text {
            let b = ours.bounds.as_ref();
            let bab = ours.bab.as_ref();
            writeln!(
                out,
                "{:>5} {:>5} {:>9.6} {:>8} {:>8} {:>10} {:>10} {:>6} {:>9} {:>10} {:>9} {:>10} {:>6} {:>8} {:>5}",
                ours.kept,
                ours.class,
                ours.radius,
                opt(b, |b| b.binaries.to_string()),
                opt(b, |b| b.tightening_lps.to_string()),
                opt(b, |b| format!("{:.3}", b.lp_seconds)),
                opt(b, |b| format!("{:.3}", b.milp_seconds)),
                opt(b, |b| b.milp_exact.to_string()),
                opt(ours.verdict.as_deref(), str::to_string),
                opt(ours.verify_seconds, |s| format!("{s:.3}")),
                opt(bab, |r| r.verdict.clone()),
                opt(bab, |r| format!("{:.3}", r.seconds)),
                opt(bab, |r| r.decided_by.to_string()),
                opt(bab, |r| r.domains.to_string()),
                opt(bab, |r| r.max_depth.to_string()),
            )?;
        }
        let box_path = cmd.out.join(format!("mlp-k{k}.box.json"));
        let b = BoxFile {
            lower: &input.lower,
            upper: &input.upper,
        };
        std::fs::write(&box_path, serde_json::to_string(&b)?)
            .with_context(|| format!("cannot write {}", box_path.display()))?;
        let file = DenseFile {
            model: path.clone(),
            input_box: box_path,
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
