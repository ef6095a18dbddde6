//! `snl-verify free --model M (--input-box … | --center FILE --eps E | --inputs FILE
//! --index I --eps E) --out M2`: certified free linearization. Every kept ReLU whose
//! pre-activation keeps one sign on the domain `D` (sound interval ∩ CROWN bounds) is
//! replaced by the affine map it computes there (identity when `≥ 0`, zero when `≤ 0`: through
//! a dense neighbour, or a `scale` node with factors 0/1 inserted after the ReLU node; see
//! `snl_theory::free`), so `M2 = M` on `D`, exactly. Writes `M2` (temporary file + rename,
//! mode 0644) after checking `M` and `M2` on `--samples` points of `D`, and reports the
//! ReLUs saved per layer. The linearization, the check and the write: [`crate::free`].
use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::Args;
use snl_theory::numel;

use crate::args::RegionArgs;
use crate::cli::{ExitStatus, OutputFormat};
use crate::free::{self, FreeJob, FreeRun};

/// Arguments of `free`.
#[derive(Debug, Args)]
pub struct FreeCommand {
    /// The model: an snl model file (`.safetensors`) or an ONNX network (`.onnx`,
    /// `.onnx.gz`; docs/onnx.md, "Import").
    #[arg(long)]
    pub model: PathBuf,
    /// The domain D.
    #[command(flatten)]
    pub region: RegionArgs,
    /// Where to write the smaller model.
    #[arg(long)]
    pub out: PathBuf,
    /// Time limit of the CROWN refinement, in seconds (after it, remaining units keep their
    /// interval bounds: fewer are freed, the result stays exact on D).
    #[arg(long)]
    pub timeout: Option<f64>,
    /// Points of D (deterministic) on which M and M2 are compared before M2 is written.
    #[arg(long, default_value_t = 200)]
    pub samples: usize,
    /// `text` (a table) or `json`.
    #[arg(long, value_enum, default_value_t)]
    pub output_format: OutputFormat,
}

/// Runs `free`.
pub fn run(cmd: FreeCommand) -> anyhow::Result<ExitStatus> {
    cmd.region.check()?;
    let deadline = match cmd.timeout {
        Some(t) if !(t.is_finite() && t > 0.0) => {
            bail!("--timeout must be positive (seconds), got {t}")
        }
        Some(t) => Some(Instant::now() + Duration::from_secs_f64(t)),
        None => None,
    };
    let (net, info) =
        snl_theory::load_any_with_info(&cmd.model).context("cannot read the model")?;
    let region = cmd
        .region
        .resolve(numel(&net.input_shape))
        .context("bad domain")?;
    let job = FreeJob {
        model: &cmd.model,
        out: &cmd.out,
        domain: &region.input,
        what: region.what,
        samples: cmd.samples,
        deadline,
    };
    let r = free::linearize(&net, info, job)?;
    let mut out = std::io::stdout().lock();
    match cmd.output_format {
        OutputFormat::Json => writeln!(out, "{}", serde_json::to_string_pretty(&r)?)?,
        OutputFormat::Text => print_text(&mut out, &r)?,
    }
    Ok(ExitStatus::Success)
}

/// The per-layer table and the summary.
fn print_text(out: &mut impl Write, r: &FreeRun) -> anyhow::Result<()> {
    writeln!(out, "model   {}", r.model.display())?;
    writeln!(out, "domain  {}", r.domain)?;
    writeln!(
        out,
        "{:>5} {:>7} {:>7} {:>7} {:>7} {:>9} {:>13} {:>9}",
        "node", "units", "kept", "active", "zeroed", "by scale", "unstable", "kept now"
    )?;
    for l in &r.free.layers {
        writeln!(
            out,
            "{:>5} {:>7} {:>7} {:>7} {:>7} {:>9} {:>13} {:>9}",
            l.node,
            l.units,
            l.kept_before,
            l.active,
            l.inactive_zeroed,
            l.zeroed_by_scale,
            l.unstable,
            l.kept_after
        )?;
    }
    writeln!(
        out,
        "saved   {} of {} kept ReLUs ({} -> {}){}",
        r.free.saved,
        r.free.kept_before,
        r.free.kept_before,
        r.free.kept_after,
        if r.free.timed_out {
            " (CROWN stopped at --timeout: interval bounds for the rest)"
        } else {
            ""
        }
    )?;
    if r.free.scale_nodes > 0 {
        writeln!(
            out,
            "scale   {} scale node(s) inserted (factor 0 at the units zeroed by scale)",
            r.free.scale_nodes
        )?;
    }
    writeln!(
        out,
        "check   M2 = M on {} samples of D (max |diff| {:.3e})",
        r.samples, r.max_abs_diff
    )?;
    writeln!(out, "wrote   {}", r.out.display())?;
    Ok(())
}
