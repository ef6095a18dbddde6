//! `snl-verify regions`: exact linear regions of a model on a small input box, or exact
//! affine pieces along a segment for models of any input size, next to T1's bound
//! ([`crate::regions`]).
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use clap::Args;
use snl_theory::numel;
use snl_theory::regions::{MAX_INPUT_DIM, MAX_KEPT};

use crate::args::{parse_numbers, RegionArgs};
use crate::cli::{ExitStatus, OutputFormat};
use crate::regions::{self, RegionsReport};

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

fn read_point(p: &Path) -> anyhow::Result<Vec<f64>> {
    let text =
        std::fs::read_to_string(p).with_context(|| format!("cannot read {}", p.display()))?;
    parse_numbers(&text, p)
}

/// The two ends of the segment, each of the network's `d` inputs.
fn read_segment(from: &Path, to: &Path, d: usize) -> anyhow::Result<(Vec<f64>, Vec<f64>)> {
    let (a, b) = (read_point(from)?, read_point(to)?);
    if a.len() != d || b.len() != d {
        bail!(
            "--from has {} numbers and --to {}, the network has {d} inputs",
            a.len(),
            b.len()
        );
    }
    Ok((a, b))
}

/// Refuses a box count too large to enumerate: more than [`MAX_INPUT_DIM`] inputs, or above
/// one input more than [`MAX_KEPT`] kept ReLUs.
fn check_box(d: usize, kept: usize) -> anyhow::Result<()> {
    if d > MAX_INPUT_DIM {
        bail!(
            "the model has {d} inputs; exact region counts on a box need at most {MAX_INPUT_DIM} (use --from/--to for a segment)"
        );
    }
    if d > 1 && kept > MAX_KEPT {
        bail!(
            "{kept} kept ReLUs; exact region counts with {d} inputs take at most {MAX_KEPT} (use --from/--to for a segment)"
        );
    }
    Ok(())
}

/// Runs `regions`.
pub fn run(cmd: RegionsCommand) -> anyhow::Result<ExitStatus> {
    let net = snl_theory::load_any(&cmd.model).context("cannot read the model")?;
    let kept = net.relu_counts()?.kept;
    let d = numel(&net.input_shape);
    let report = if let (Some(from), Some(to)) = (&cmd.from, &cmd.to) {
        let (a, b) = read_segment(from, to, d)?;
        regions::along_segment(&net, &cmd.model, &a, &b)?
    } else {
        let region = cmd.region.resolve(d).context("bad input region")?.input;
        check_box(d, kept)?;
        regions::on_box(&net, &cmd.model, &region)?
    };
    let mut out = std::io::stdout().lock();
    match cmd.output_format {
        OutputFormat::Json => writeln!(out, "{}", serde_json::to_string_pretty(&report)?)?,
        OutputFormat::Text => print_text(&mut out, &report)?,
    }
    Ok(ExitStatus::Success)
}

/// The report for people.
fn print_text(out: &mut impl Write, report: &RegionsReport) -> anyhow::Result<()> {
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
                let shown: Vec<String> = bp.iter().take(20).map(|t| format!("{t:.6}")).collect();
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
    Ok(())
}
