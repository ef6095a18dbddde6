//! `snl-verify bound --model FILE (--input-box LO:HI | --center FILE --eps E)`: ReLU
//! accounting, sound output bounds of every logit over an input box, and robustness verdicts
//! (`--property argmax=C`).
//!
//! Every method reads the network's dense form (`Network::to_dense`): convolutions, batch
//! norms and poolings are unrolled into dense matrices, each node at most
//! `snl_theory::COLLAPSE_MAX_ENTRIES` (2^26) entries, i.e. a conv whose input and output
//! sizes multiply to at most 67M (e.g. 3×32×32 → 16×32×32 is 50M: fits, but the LP then
//! has 16k rows; in practice LP/MILP are for inputs up to a few hundred values). SMT accepts
//! at most `SMT_MAX_KEPT` (64) kept ReLUs and is slow beyond toy sizes: on a 4→32→32→3 MLP
//! with 16 kept ReLUs its 6 bounds took 39 s (argmax verdict 2.4 s); use `--timeout`.
use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::Args;
use serde::Serialize;
use snl_theory::bound::{Bounded, Method, Property, Verdict};
use snl_theory::{numel, ReluCounts};

use crate::args::RegionArgs;
use crate::cli::{ExitStatus, OutputFormat};

/// Arguments of `bound`.
#[derive(Debug, Args)]
#[command(after_help = crate::cli::EXIT_CODES)]
pub struct BoundCommand {
    /// The model: an snl model file (`.safetensors`) or an ONNX network (`.onnx`,
    /// `.onnx.gz`; docs/onnx.md, "Import").
    #[arg(long)]
    pub model: PathBuf,
    /// The input region.
    #[command(flatten)]
    pub region: RegionArgs,
    /// How to bound.
    #[arg(long, value_enum, default_value_t)]
    pub method: Method,
    /// Wall-clock limit in seconds for the bounds and the verdict together (loading and
    /// unrolling the model not counted). What is unfinished then keeps a sound bound (MILP:
    /// its LP relaxation's; SMT and LP: the interval one), and the command exits 3.
    #[arg(long)]
    pub timeout: Option<f64>,
    /// A robustness property: `argmax=C` (class C is the strict argmax on the whole box).
    #[arg(long)]
    pub property: Option<Property>,
    /// `text` or `json`.
    #[arg(long, value_enum, default_value_t)]
    pub output_format: OutputFormat,
}

#[derive(Serialize)]
struct OutputRow {
    output: usize,
    lower: f64,
    upper: f64,
}

#[derive(Serialize)]
struct Report {
    model: PathBuf,
    input_dim: usize,
    relus: ReluCounts,
    /// T1: the expressiveness bound on linear regions over the whole input space.
    t1: snl_theory::expressiveness::T1Bound,
    method: Method,
    bounds: Vec<OutputRow>,
    /// The complete encoding finished on every bound: exact for smt (z3, rationals);
    /// for milp complete up to CBC's floating-point tolerances, not exact.
    exact: bool,
    unknown: Option<String>,
    unstable_kept: usize,
    tightening_lps: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    lbp: Option<snl_theory::bound::lbp::LbpStats>,
    /// Reading the model file (not counted in `--timeout`).
    load_seconds: f64,
    /// Unrolling the network into its dense form for lp/milp/smt (not counted in
    /// `--timeout`; the graph methods need none).
    dense_seconds: f64,
    bound_seconds: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    property: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    verdict: Option<Verdict>,
    #[serde(skip_serializing_if = "Option::is_none")]
    verify_seconds: Option<f64>,
}

/// Runs `bound`.
pub fn run(cmd: BoundCommand) -> anyhow::Result<ExitStatus> {
    let property = cmd.property;
    cmd.region.check()?;
    let timeout = match cmd.timeout {
        Some(t) if !(t.is_finite() && t > 0.0) => {
            bail!("--timeout must be positive (seconds), got {t}")
        }
        Some(t) => Some(Duration::from_secs_f64(t)),
        None => None,
    };
    let start = Instant::now();
    let net = snl_theory::load_any(&cmd.model).context("cannot read the model")?;
    let load_seconds = start.elapsed().as_secs_f64();
    let relus = net.relu_counts()?;
    let input = cmd
        .region
        .resolve(numel(&net.input_shape))
        .context("bad input region")?
        .input;
    let method = cmd.method;
    let start = Instant::now();
    let mut query = net.bound(&input)?.using(method);
    if !method.on_graph() {
        query.dense()?; // unrolled once, here, outside the timeout
    }
    let dense_seconds = start.elapsed().as_secs_f64();
    // one deadline for the bounds and the verdict
    if let Some(t) = timeout {
        query = query.with_timeout(t);
    }
    // the verdict first: with a deadline it is what the time is for; the bounds then reuse
    // its LP tightening
    let (verdict, verify_seconds) = match &property {
        Some(p) => {
            let start = Instant::now();
            let v = query
                .verify(p)
                .with_context(|| format!("{} verification failed", method.name()))?;
            (Some(v), Some(start.elapsed().as_secs_f64()))
        }
        None => (None, None),
    };
    let start = Instant::now();
    let b: Bounded = query
        .solve()
        .with_context(|| format!("{} bounds failed", method.name()))?;
    let bound_seconds = start.elapsed().as_secs_f64();
    let status = match &verdict {
        Some(Verdict::Proved) => ExitStatus::Success,
        Some(Verdict::Refuted(_)) => ExitStatus::Refuted,
        Some(Verdict::Unknown { .. }) => ExitStatus::Unknown,
        None if b.unknown.is_some() => ExitStatus::Unknown,
        None => ExitStatus::Success,
    };
    let r = Report {
        model: cmd.model.clone(),
        input_dim: input.dim(),
        t1: snl_theory::expressiveness::t1_bound(&net)?,
        relus,
        method,
        bounds: (0..b.bounds.lower.len())
            .map(|i| OutputRow {
                output: i,
                lower: b.bounds.lower[i],
                upper: b.bounds.upper[i],
            })
            .collect(),
        exact: b.exact,
        unknown: b.unknown.clone(),
        unstable_kept: b.unstable_kept,
        tightening_lps: b.tightening_lps,
        lbp: b.lbp.clone(),
        load_seconds,
        dense_seconds,
        bound_seconds,
        property: cmd.property.map(|p| p.to_string()),
        verdict,
        verify_seconds,
    };
    print(&r, cmd.output_format)?;
    Ok(status)
}

fn print(r: &Report, format: OutputFormat) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    if format == OutputFormat::Json {
        writeln!(out, "{}", serde_json::to_string_pretty(r)?)?;
        return Ok(());
    }
    writeln!(out, "model   {}", r.model.display())?;
    writeln!(out, "inputs  {}", r.input_dim)?;
    let pct = if r.relus.total == 0 {
        0.0
    } else {
        100.0 * r.relus.kept as f64 / r.relus.total as f64
    };
    writeln!(
        out,
        "ReLUs   {} kept of {} ({pct:.2}%)",
        r.relus.kept, r.relus.total
    )?;
    for l in &r.relus.layers {
        writeln!(
            out,
            "  node {:>3}  {:?}  kept {} of {}",
            l.node, l.shape, l.kept, l.total
        )?;
    }
    writeln!(
        out,
        "T1      ≤ {} linear regions on ℝ^{} (per layer), ≤ {} activation patterns",
        r.t1.layered.display(),
        r.t1.input_dim,
        r.t1.patterns.display()
    )?;
    writeln!(
        out,
        "method  {} ({}; {} kept ReLUs straddle 0{})",
        r.method.name(),
        match (r.exact, r.method.is_exact()) {
            (true, true) => "exact",
            (true, false) => "complete up to CBC's floating-point tolerances, not exact",
            (false, _) => "sound, not exact",
        },
        r.unstable_kept,
        if r.tightening_lps > 0 {
            format!(", {} tightening LPs", r.tightening_lps)
        } else {
            String::new()
        }
    )?;
    if let Some(l) = &r.lbp {
        writeln!(
            out,
            "refined {} of {} kept units that interval propagation left unstable, by back-substitution; floating-point allowance ≤ {:.1e}",
            l.refined, l.candidates, l.fp_allowance
        )?;
    }
    if let Some(u) = &r.unknown {
        writeln!(out, "unknown {u}")?;
    }
    writeln!(
        out,
        "time    {:.3} s (before it: loading {:.3} s, unrolling {:.3} s)",
        r.bound_seconds, r.load_seconds, r.dense_seconds
    )?;
    writeln!(out)?;
    writeln!(out, "{:>6}  {:>16}  {:>16}", "output", "lower", "upper")?;
    for b in &r.bounds {
        writeln!(out, "{:>6}  {:>16.9}  {:>16.9}", b.output, b.lower, b.upper)?;
    }
    if let (Some(p), Some(v)) = (&r.property, &r.verdict) {
        writeln!(out)?;
        match v {
            Verdict::Proved => writeln!(out, "property {p}: PROVED")?,
            Verdict::Refuted(c) => {
                writeln!(
                    out,
                    "property {p}: REFUTED (counterexample re-checked with the f64 forward pass)"
                )?;
                if c.input.len() <= 16 {
                    writeln!(out, "  input  {:?}", c.input)?;
                } else {
                    writeln!(
                        out,
                        "  input  {} values (--output-format json prints them)",
                        c.input.len()
                    )?;
                }
                writeln!(out, "  output {:?}", c.output)?;
            }
            Verdict::Unknown { reason } => writeln!(out, "property {p}: UNKNOWN ({reason})")?,
        }
        if let Some(s) = r.verify_seconds {
            writeln!(out, "  time  {s:.3} s")?;
        }
    }
    Ok(())
}
