//! `snl-verify bench --out DIR`: verification time against the number of kept ReLUs for one
//! random MLP linearized to several budgets, and the inputs of the Marabou comparison
//! (`papers/bench-verify/marabou_compare.py`). Not a test.
//!
//! For each budget `k` it writes `DIR/mlp-k{k}.safetensors` (the model, the same weights, `k`
//! hidden ReLUs kept, chosen by a seeded shuffle), `DIR/mlp-k{k}.box.json` (the input box, for
//! `bound --input-box`), `DIR/mlp-k{k}.dense.json` (the dense network, the box, the class and
//! our results, read by the Python script), and prints one table row. `--solve` picks what is
//! computed: the LP and MILP bounds (complete up to CBC's tolerances) of every logit
//! (`bounds`), the argmax verdict by the MILP (`milp`) and by branch-and-bound (`bab`, with
//! its stage and domain counts). The generator and the solves: [`crate::bench`].
use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::bail;
use clap::Args;

use crate::bench::{Bench, BenchOptions, Computations, Row};
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

fn opt<T>(v: Option<T>, f: impl FnOnce(T) -> String) -> String {
    v.map_or_else(|| "-".to_string(), f)
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

/// The library's settings from the arguments.
fn options(cmd: &BenchCommand) -> BenchOptions {
    BenchOptions {
        out: cmd.out.clone(),
        hidden: cmd.hidden.clone(),
        seed: cmd.seed,
        radius: cmd.radius,
        radius_frac: cmd.radius_frac,
        timeout: Duration::from_secs_f64(cmd.timeout),
        solve: Computations {
            bounds: cmd.solve.contains(&Solve::Bounds),
            milp: cmd.solve.contains(&Solve::Milp),
            bab: cmd.solve.contains(&Solve::Bab),
        },
    }
}

/// Runs `bench`.
pub fn run(cmd: BenchCommand) -> anyhow::Result<ExitStatus> {
    check(&cmd)?;
    let bench = Bench::new(options(&cmd))?;
    let text = cmd.output_format == OutputFormat::Text;
    let mut out = std::io::stdout().lock();
    if text {
        writeln!(
            out,
            "{:>5} {:>5} {:>9} {:>8} {:>8} {:>10} {:>10} {:>6} {:>9} {:>10} {:>9} {:>10} {:>6} {:>8} {:>5}",
            "kept", "class", "radius", "binaries", "tight.LP", "LP s", "MILP s", "exact", "milp", "verify s",
            "bab", "bab s", "by", "domains", "depth"
        )?;
    }
    let mut rows = Vec::new();
    for &k in &cmd.budgets {
        let m = bench.measure(k)?;
        if text {
            print_row(&mut out, &m.row)?;
        }
        rows.push(m.write()?);
    }
    if !text {
        writeln!(out, "{}", serde_json::to_string_pretty(&rows)?)?;
    }
    Ok(ExitStatus::Success)
}

/// One row of the text table.
fn print_row(out: &mut impl Write, row: &Row) -> anyhow::Result<()> {
    let b = row.bounds.as_ref();
    let bab = row.bab.as_ref();
    writeln!(
        out,
        "{:>5} {:>5} {:>9.6} {:>8} {:>8} {:>10} {:>10} {:>6} {:>9} {:>10} {:>9} {:>10} {:>6} {:>8} {:>5}",
        row.kept,
        row.class,
        row.radius,
        opt(b, |b| b.binaries.to_string()),
        opt(b, |b| b.tightening_lps.to_string()),
        opt(b, |b| format!("{:.3}", b.lp_seconds)),
        opt(b, |b| format!("{:.3}", b.milp_seconds)),
        opt(b, |b| b.milp_exact.to_string()),
        opt(row.verdict.as_deref(), str::to_string),
        opt(row.verify_seconds, |s| format!("{s:.3}")),
        opt(bab, |r| r.verdict.clone()),
        opt(bab, |r| format!("{:.3}", r.seconds)),
        opt(bab, |r| r.decided_by.to_string()),
        opt(bab, |r| r.domains.to_string()),
        opt(bab, |r| r.max_depth.to_string()),
    )?;
    Ok(())
}
