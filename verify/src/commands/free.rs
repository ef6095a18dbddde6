//! `snl-verify free --model M (--input-box … | --center FILE --eps E | --inputs FILE
//! --index I --eps E) --out M2`: certified free linearization. Every kept ReLU whose
//! pre-activation keeps one sign on the domain `D` (sound interval ∩ CROWN bounds) is
//! replaced by the affine map it computes there (identity when `≥ 0`, zero when `≤ 0`: through
//! a dense neighbour, or a `scale` node with factors 0/1 inserted after the ReLU node; see
//! `snl_theory::free`), so `M2 = M` on `D`, exactly. Writes `M2` (temporary file + rename,
//! mode 0644) after checking `M` and `M2` on `--samples` points of `D`, and reports the
//! ReLUs saved per layer.
use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::Args;
use serde::Serialize;
use snl_theory::bound::samples;
use snl_theory::free::{free_linearize, FreeReport};
use snl_theory::numel;
use snl_theory::tolerance::{compare, Tolerance};

use crate::args::RegionArgs;
use crate::cli::{ExitStatus, OutputFormat};

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

#[derive(Serialize)]
struct Report {
    model: PathBuf,
    out: PathBuf,
    domain: String,
    #[serde(flatten)]
    free: FreeReport,
    /// Samples of D compared, and the largest |M(x) − M2(x)| over them.
    samples: usize,
    max_abs_diff: f64,
    seconds: f64,
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
    let start = Instant::now();
    let (net, mut info) =
        snl_theory::load_any_with_info(&cmd.model).context("cannot read the model")?;
    let region = cmd
        .region
        .resolve(numel(&net.input_shape))
        .context("bad domain")?;
    let (d, what) = (region.input, region.what);
    let (m2, free) = free_linearize(&net, &d, deadline).context("bound propagation failed")?;
    // M2 = M on D: check it on samples before writing anything
    let mut max_abs_diff = 0.0f64;
    for (j, x) in samples(&d, cmd.samples, 11).iter().enumerate() {
        let (a, b) = (net.forward(x)?, m2.forward(x)?);
        if let Some(r) = compare(&b, &a, Tolerance::Close) {
            bail!("internal error: M2 differs from M at sample {j} of D ({r}); nothing written");
        }
        for (p, q) in a.iter().zip(&b) {
            max_abs_diff = max_abs_diff.max((p - q).abs());
        }
    }
    info.retain(|k, _| !["format", "format_version", "network"].contains(&k.as_str()));
    let mut extra = BTreeMap::new();
    extra.insert(
        "free_linearized".to_string(),
        format!(
            "on {what}: {} of {} kept ReLUs replaced exactly by snl-verify free",
            free.saved, free.kept_before
        ),
    );
    info.extend(extra);
    snl_theory::io::model_file::save_with_info(&m2, &info, &cmd.out)
        .with_context(|| format!("cannot write {}", cmd.out.display()))?;
    let r = Report {
        model: cmd.model.clone(),
        out: cmd.out.clone(),
        domain: what,
        free,
        samples: cmd.samples,
        max_abs_diff,
        seconds: start.elapsed().as_secs_f64(),
    };
    let mut out = std::io::stdout().lock();
    match cmd.output_format {
        OutputFormat::Json => writeln!(out, "{}", serde_json::to_string_pretty(&r)?)?,
        OutputFormat::Text => {
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
        }
    }
    Ok(ExitStatus::Success)
}
