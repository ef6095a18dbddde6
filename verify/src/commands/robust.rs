//! `snl-verify robust --model FILE --inputs FILE --eps E`: certified robust accuracy over a
//! test set. For each example: misclassified (the f64 forward pass at the clean input does
//! not give the label), falsified (a counterexample in the ε-ball, re-checked with the f64
//! forward pass), verified (sound bounds prove the label is the strict argmax on the whole
//! ball) or unknown (time-out or bounds too loose). Certified accuracy = verified / count.
//!
//! The inputs file is a safetensors test set (`inputs [N, ...]` raw pixels, `labels [N]`,
//! normalization in its metadata: `docs/inputs-format.md`); `snl export-data` writes one.
//! ε is in pixel space; the ball is clipped to the pixel range and mapped through the
//! normalization with outward rounding.
use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;
use snl_theory::bound::bab::{DecidedBy, Level};
use snl_theory::bound::{Property, Verdict};
use snl_theory::io::samples::Samples;
use snl_theory::{numel, Network};

use crate::cli::{ExitStatus, OutputFormat};

/// Arguments of `robust`.
#[derive(Debug, Args)]
#[command(after_help = ROBUST_EXIT_CODES)]
pub struct RobustCommand {
    /// The model: an snl model file (`.safetensors`) or an ONNX network (`.onnx`,
    /// `.onnx.gz`; docs/onnx.md, "Import").
    #[arg(long)]
    pub model: PathBuf,
    /// The test set: a safetensors file with `inputs` and `labels` (`snl export-data`
    /// writes one; docs/inputs-format.md).
    #[arg(long)]
    pub inputs: PathBuf,
    /// L∞ radius in pixel space (e.g. 0.004 for ≈ 1/255).
    #[arg(long, allow_hyphen_values = true)]
    pub eps: f64,
    /// Verify the first N examples (default: all).
    #[arg(long)]
    pub count: Option<usize>,
    /// How far to go per example.
    #[arg(long, value_enum, default_value_t)]
    pub method: Level,
    /// Wall-clock limit per example, in seconds; an example that runs out is unknown.
    #[arg(long, default_value_t = 10.0)]
    pub timeout: f64,
    /// `text` or `json`.
    #[arg(long, value_enum, default_value_t)]
    pub output_format: OutputFormat,
}

const ROBUST_EXIT_CODES: &str = "\
Exit codes:
  0  the table was computed (whatever the verdicts)
  2  error: bad arguments, unreadable model or inputs, shapes or labels that do not fit";

/// The outcome of one example.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Proved robust.
    Verified,
    /// A re-checked counterexample exists.
    Falsified,
    /// Neither within the time limit.
    Unknown,
    /// The clean input is not classified as its label.
    Misclassified,
}

impl Status {
    fn name(self) -> &'static str {
        match self {
            Status::Verified => "verified",
            Status::Falsified => "falsified",
            Status::Unknown => "unknown",
            Status::Misclassified => "misclassified",
        }
    }
}

#[derive(Serialize)]
struct Example {
    index: usize,
    label: usize,
    predicted: usize,
    status: Status,
    /// The stage that decided (`forward` for a misclassified clean input).
    decided_by: DecidedBy,
    seconds: f64,
    /// Kept units whose pre-activation interval straddles 0 after CROWN (absent when the
    /// attack decided before any bound was computed).
    #[serde(skip_serializing_if = "Option::is_none")]
    unstable_kept: Option<usize>,
    domains: usize,
    /// Smallest sound lower bound of the margins `y_label − y_j` at the root.
    #[serde(skip_serializing_if = "Option::is_none")]
    worst_margin: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
}

#[derive(Serialize, Default)]
struct Counts {
    verified: usize,
    falsified: usize,
    unknown: usize,
    misclassified: usize,
}

#[derive(Serialize)]
struct Report {
    model: PathBuf,
    inputs: PathBuf,
    eps: f64,
    method: &'static str,
    timeout_per_example: f64,
    count: usize,
    kept_relus: usize,
    total_relus: usize,
    clean_accuracy: f64,
    certified_accuracy: f64,
    counts: Counts,
    total_seconds: f64,
    mean_unstable_kept: Option<f64>,
    examples: Vec<Example>,
}

fn argmax(y: &[f64]) -> usize {
    y.iter()
        .enumerate()
        .max_by(|a, b| a.1.total_cmp(b.1))
        .map_or(0, |(i, _)| i)
}

/// Runs `robust`.
pub fn run(cmd: RobustCommand) -> anyhow::Result<ExitStatus> {
    check_args(&cmd)?;
    let net = snl_theory::load_any(&cmd.model).context("cannot read the model")?;
    let relus = net.relu_counts()?;
    let outputs = numel(&net.output_shape()?);
    let samples = Samples::load(&cmd.inputs).context("cannot read the inputs")?;
    samples
        .check_model(&net.input_shape, outputs)
        .with_context(|| format!("{} does not fit the model", cmd.inputs.display()))?;
    let n = cmd.count.unwrap_or(samples.len()).min(samples.len());
    let bar = ProgressBar::new(n as u64);
    bar.set_style(
        ProgressStyle::with_template(
            "robust {bar:30} {pos}/{len}  {msg}  [{elapsed_precise} < {eta_precise}]",
        )
        .expect("a valid template"),
    );
    let start = Instant::now();
    let mut counts = Counts::default();
    let mut examples = Vec::with_capacity(n);
    for i in 0..n {
        let ex = example(&cmd, &net, &samples, i)?;
        match ex.status {
            Status::Verified => counts.verified += 1,
            Status::Falsified => counts.falsified += 1,
            Status::Unknown => counts.unknown += 1,
            Status::Misclassified => counts.misclassified += 1,
        }
        examples.push(ex);
        bar.set_message(format!(
            "verified {}  falsified {}  unknown {}  misclassified {}",
            counts.verified, counts.falsified, counts.unknown, counts.misclassified
        ));
        bar.inc(1);
    }
    bar.finish_and_clear();
    let unstable: Vec<usize> = examples.iter().filter_map(|e| e.unstable_kept).collect();
    let report = Report {
        model: cmd.model.clone(),
        inputs: cmd.inputs.clone(),
        eps: cmd.eps,
        method: cmd.method.name(),
        timeout_per_example: cmd.timeout,
        count: n,
        kept_relus: relus.kept,
        total_relus: relus.total,
        clean_accuracy: (n - counts.misclassified) as f64 / n as f64,
        certified_accuracy: counts.verified as f64 / n as f64,
        total_seconds: start.elapsed().as_secs_f64(),
        mean_unstable_kept: (!unstable.is_empty())
            .then(|| unstable.iter().sum::<usize>() as f64 / unstable.len() as f64),
        counts,
        examples,
    };
    print(&report, cmd.output_format)?;
    Ok(ExitStatus::Success)
}

/// The one-line errors for arguments out of range.
fn check_args(cmd: &RobustCommand) -> anyhow::Result<()> {
    if !(cmd.eps.is_finite() && cmd.eps > 0.0) {
        bail!("--eps must be a positive number, got {}", cmd.eps);
    }
    if !(cmd.timeout.is_finite() && cmd.timeout > 0.0) {
        bail!("--timeout must be positive (seconds), got {}", cmd.timeout);
    }
    if cmd.count == Some(0) {
        bail!("--count must be at least 1");
    }
    Ok(())
}

/// Example `i`: misclassified (the clean input's label is not the strict argmax), or the
/// verdict on its ε-ball through the verifier's [`Query`](snl_theory::bound::Query) door.
fn example(
    cmd: &RobustCommand,
    net: &Network,
    samples: &Samples,
    i: usize,
) -> anyhow::Result<Example> {
    let t0 = Instant::now();
    let label = samples.labels[i];
    let x = samples.normalized(i);
    let y = net.forward(&x)?;
    let predicted = argmax(&y);
    let clean_ok = predicted == label
        && y.iter()
            .enumerate()
            .all(|(j, &v)| j == label || v < y[label]);
    if !clean_ok {
        return Ok(Example {
            index: i,
            label,
            predicted,
            status: Status::Misclassified,
            decided_by: DecidedBy::Forward,
            seconds: t0.elapsed().as_secs_f64(),
            unstable_kept: None,
            domains: 0,
            worst_margin: None,
            reason: None,
        });
    }
    let ball = samples.ball(i, cmd.eps)?;
    let r = net
        .bound(&ball)
        .and_then(|q| {
            q.using(cmd.method.method())
                .with_deadline(t0 + Duration::from_secs_f64(cmd.timeout))
                .verify_report(&Property::Argmax { class: label })
        })
        .with_context(|| format!("example {i}"))?;
    let (status, reason) = match &r.verdict {
        Verdict::Proved => (Status::Verified, None),
        Verdict::Refuted(_) => (Status::Falsified, None),
        Verdict::Unknown { reason } => (Status::Unknown, Some(reason.clone())),
    };
    let bounded = !r.margin_lower.is_empty();
    Ok(Example {
        index: i,
        label,
        predicted,
        status,
        decided_by: r.decided_by,
        seconds: t0.elapsed().as_secs_f64(),
        unstable_kept: bounded.then_some(r.stats.unstable_kept),
        domains: r.domains,
        worst_margin: bounded.then(|| r.margin_lower.iter().copied().fold(f64::INFINITY, f64::min)),
        reason,
    })
}

fn print(r: &Report, format: OutputFormat) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    if format == OutputFormat::Json {
        writeln!(out, "{}", serde_json::to_string_pretty(r)?)?;
        return Ok(());
    }
    writeln!(
        out,
        "{:>5}  {:>5}  {:>4}  {:<13}  {:<7}  {:>8}  {:>8}  {:>7}  {:>12}",
        "index", "label", "pred", "status", "by", "seconds", "unstable", "domains", "worst margin"
    )?;
    for e in &r.examples {
        writeln!(
            out,
            "{:>5}  {:>5}  {:>4}  {:<13}  {:<7}  {:>8.3}  {:>8}  {:>7}  {:>12}",
            e.index,
            e.label,
            e.predicted,
            e.status.name(),
            e.decided_by,
            e.seconds,
            e.unstable_kept.map_or("-".into(), |u| u.to_string()),
            e.domains,
            e.worst_margin.map_or("-".into(), |m| format!("{m:.4e}")),
        )?;
    }
    writeln!(out)?;
    writeln!(out, "model               {}", r.model.display())?;
    writeln!(
        out,
        "ReLUs               {} kept of {} ({:.2}%)",
        r.kept_relus,
        r.total_relus,
        100.0 * r.kept_relus as f64 / r.total_relus.max(1) as f64
    )?;
    writeln!(
        out,
        "eps                 {} (pixel space), method {}, timeout {} s per example",
        r.eps, r.method, r.timeout_per_example
    )?;
    writeln!(
        out,
        "examples            {}: verified {}, falsified {}, unknown {}, misclassified {}",
        r.count, r.counts.verified, r.counts.falsified, r.counts.unknown, r.counts.misclassified
    )?;
    writeln!(out, "clean accuracy      {:.2}%", 100.0 * r.clean_accuracy)?;
    writeln!(
        out,
        "certified accuracy  {:.2}%",
        100.0 * r.certified_accuracy
    )?;
    if let Some(u) = r.mean_unstable_kept {
        writeln!(out, "mean unstable kept  {u:.1}")?;
    }
    writeln!(out, "time                {:.2} s", r.total_seconds)?;
    Ok(())
}
