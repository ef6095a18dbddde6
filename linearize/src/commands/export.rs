//! `snl export`: a model file (or its IR as JSON) from a model file or a run's checkpoint.
//! ONNX is not offered: the model file is the interchange format (see docs/model-format.md).
use std::path::PathBuf;

use anyhow::{bail, Context};
use clap::ValueEnum;

use crate::cli::ExitStatus;
use crate::train::{load_model, read_checkpoint, save_model, RunDir, BINARY_THRESHOLD};

/// Output format.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum ExportFormat {
    /// The snl model file (`.safetensors`, architecture and masks in the metadata).
    #[default]
    Safetensors,
    /// The IR as plain JSON (weights inline), for inspection.
    Json,
}

/// Arguments of `export`.
#[derive(Debug, clap::Args)]
pub struct ExportCommand {
    /// A model file, or a run folder (its checkpoint.safetensors is read, e.g. mid-run).
    #[arg(long)]
    pub from: PathBuf,
    /// The file to write (atomically).
    #[arg(long)]
    pub out: PathBuf,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    pub format: ExportFormat,
    /// For checkpoints: a unit is kept when its mask c > ε.
    #[arg(long, default_value_t = 1e-2)]
    pub eps: f64,
}

/// Runs `export`.
pub fn run(c: ExportCommand) -> anyhow::Result<ExitStatus> {
    let device = tch::Device::Cpu;
    let (net, arch, eps) = if c.from.is_dir() {
        let run = RunDir {
            dir: c.from.clone(),
        };
        let (state, named) = read_checkpoint(&run.checkpoint())?;
        let mut net = state.arch.build(device);
        crate::train::load_vars(&mut net, &named, &run.checkpoint())?;
        (net, state.arch, c.eps)
    } else if c.from.exists() {
        let (net, arch, _) = load_model(&c.from, device).context("cannot export")?;
        (net, arch, BINARY_THRESHOLD)
    } else {
        bail!("{}: no such model file or run folder", c.from.display());
    };
    match c.format {
        ExportFormat::Safetensors => {
            save_model(&net, &arch, eps, &[("stage", "exported".into())], &c.out)?
        }
        ExportFormat::Json => {
            let json = serde_json::to_vec_pretty(&net.to_ir(eps))?;
            snl_theory::model_file::write_atomic(&c.out, &json)
                .with_context(|| format!("cannot write {}", c.out.display()))?;
        }
    }
    let ir = net.to_ir(eps);
    let counts = ir.relu_counts()?;
    println!(
        "wrote {} ({} of {} ReLUs kept)",
        c.out.display(),
        counts.kept,
        counts.total
    );
    Ok(ExitStatus::Success)
}
