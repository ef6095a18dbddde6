//! `snl-verify regions`: exact linear regions of a model on a small input box, or exact
//! affine pieces along a segment for models of any input size, next to T1's bound.
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context};
use clap::Args;
use serde::Serialize;
use snl_theory::expressiveness::{t1_bound_for, T1Bound};
use snl_theory::regions::{self, Oracle, MAX_INPUT_DIM, MAX_KEPT};
use snl_theory::{numel, ReluCounts};

use crate::args::{parse_numbers, RegionArgs};
use crate::cli::{ExitStatus, OutputFormat};

/// Arguments of `regions`.
#[derive(Debug, Args)]
pub struct RegionsCommand {
    /// The model: an snl model file (`.safetensors`) or an ONNX network (`.onnx`,
    /// `.onnx.gz`; docs/onnx.md, "Import").
    #[arg(long)]
    pub model: PathBuf,
    /// Count regions on this input region (inputs ≤ 3; with 2–3 inputs at most 24 kept
    /// ReLUs).
    #[command(flatten)]
    pub region: RegionArgs,
    /// Count the affine pieces along the segment from this input (file of numbers) ...
    #[arg(long, requires = "to", conflicts_with_all = ["input_box", "center", "inputs"])]
    pub from: Option<PathBuf>,
    /// ... to this input. Any input size, any number of kept ReLUs.
    #[arg(long, requires = "from")]
    pub to: Option<PathBuf>,
    /// `text` or `json`.
    #[arg(long, value_enum, default_value_t)]
    pub output_format: OutputFormat,
}

#[derive(Serialize)]
struct Report {
    model: PathBuf,
    mode: &'static str,
    relus: ReluCounts,
    /// Regions (box) or cells (segment) found.
    regions: usize,
    /// Maximal affine pieces (segment only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pieces: Option<usize>,
    /// Breakpoints as segment parameters t ∈ (0, 1) (segment only).
    #[serde(skip_serializing_if = "Option::is_none")]
    breakpoints: Option<Vec<f64>>,
    /// T1 for the dimension counted in (the box's, or 1 along a segment).
    t1: T1Bound,
    /// Interior tests (exact interval or Fourier–Motzkin checks).
    tests: usize,
    seconds: f64,
}

fn read_point(p: &Path) -> anyhow::Result<Vec<f64>> {
    let text =
        std::fs::read_to_string(p).with_context(|| format!("cannot read {}", p.display()))?;
    parse_numbers(&text, p)
}

/// Runs `regions`.
pub fn run(cmd: RegionsCommand) -> anyhow::Result<ExitStatus> {
    let net = snl_theory::load_any(&cmd.model).context("cannot read the model")?;
    let relus = net.relu_counts()?;
    let d = numel(&net.input_shape);
    let start = Instant::now();
    let report = if let (Some(from), Some(to)) = (&cmd.from, &cmd.to) {
        let (a, b) = (read_point(from)?, read_point(to)?);
        if a.len() != d || b.len() != d {
            bail!(
                "--from has {} numbers and --to {}, the network has {d} inputs",
                a.len(),
                b.len()
            );
        }
        let line = regions::restrict_to_segment(&net, &a, &b)?;
        let p = regions::pieces_1d(&line, 0.0, 1.0).context("piece enumeration failed")?;
        Report {
            model: cmd.model.clone(),
            mode: "segment",
            relus,
            regions: p.cells,
            pieces: Some(p.pieces),
            breakpoints: Some(p.breakpoints.clone()),
            t1: t1_bound_for(&net, 1)?,
            tests: p.cells,
            seconds: start.elapsed().as_secs_f64(),
        }
    } else {
        let region = cmd.region.resolve(d).context("bad input region")?.input;
        if d > MAX_INPUT_DIM {
            bail!(
                "the model has {d} inputs; exact region counts on a box need at most {MAX_INPUT_DIM} (use --from/--to for a segment)"
            );
        }
        if d > 1 && relus.kept > MAX_KEPT {
            bail!(
                "{} kept ReLUs; exact region counts with {d} inputs take at most {MAX_KEPT} (use --from/--to for a segment)",
                relus.kept
            );
        }
        let oracle = if d == 1 {
            Oracle::Interval
        } else {
            Oracle::Elimination
        };
        let rc = regions::count_regions(&net, &region.lower, &region.upper, oracle)
            .context("region enumeration failed")?;
        Report {
            model: cmd.model.clone(),
            mode: "box",
            relus,
            regions: rc.cells.len(),
            pieces: None,
            breakpoints: None,
            t1: t1_bound_for(&net, d)?,
            tests: rc.tests,
            seconds: start.elapsed().as_secs_f64(),
        }
    };
    let mut out = std::io::stdout().lock();
    match cmd.output_format {
        OutputFormat::Json => writeln!(out, "{}", serde_json::to_string_pretty(&report)?)?,
        OutputFormat::Text => {
            writeln!(out, "model    {}", report.model.display())?;
            writeln!(
                out,
                "ReLUs    {} kept of {}",
                report.relus.kept, report.relus.total
            )?;
            match report.mode {
                "segment" => {
                    writeln!(
                        out,
                        "segment  {} affine pieces ({} activation cells) on t ∈ [0, 1]",
                        report.pieces.unwrap_or(0),
                        report.regions
                    )?;
                    if let Some(bp) = &report.breakpoints {
                        let shown: Vec<String> =
                            bp.iter().take(20).map(|t| format!("{t:.6}")).collect();
                        let more = if bp.len() > 20 {
                            format!(" … ({} in all)", bp.len())
                        } else {
                            String::new()
                        };
                        writeln!(out, "breaks   {}{more}", shown.join(" "))?;
                    }
                }
                _ => writeln!(
                    out,
                    "box      {} linear regions (exact rational arithmetic, {} interior tests)",
                    report.regions, report.tests
                )?,
            }
            writeln!(
                out,
                "T1       ≤ {} regions (per layer, d = {}), ≤ {} activation patterns",
                report.t1.layered.display(),
                report.t1.input_dim,
                report.t1.patterns.display()
            )?;
            writeln!(out, "time     {:.3} s", report.seconds)?;
        }
    }
    Ok(ExitStatus::Success)
}
