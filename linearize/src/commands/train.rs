//! `snl train`: pretraining from scratch.
use std::path::PathBuf;

use anyhow::{bail, Context};
use serde_json::json;

use crate::arch::{Arch, ArchConfig, ReluConvention};
use crate::cli::{parse_list, DataArgs, ExitStatus, OutputFormat, RunArgs};
use crate::masked::MaskGranularity;
use crate::paper::paper;
use crate::train::{pretrain, RunDir, SgdConfig};

/// Arguments of `train` (defaults: the paper's pretraining recipe).
#[derive(Debug, clap::Args)]
pub struct TrainCommand {
    /// Data set and split.
    #[command(flatten)]
    pub data: DataArgs,
    /// Device and seed.
    #[command(flatten)]
    pub run: RunArgs,
    /// The architecture.
    #[arg(long, value_enum, default_value_t = Arch::Cnn)]
    pub arch: Arch,
    /// Hidden widths of the MLP, comma-separated.
    #[arg(long, default_value = "256,128", value_parser = parse_list)]
    pub hidden: std::vec::Vec<usize>,
    /// Width multiplier of the CNN/ResNet/WRN channels (1 = standard).
    #[arg(long, default_value_t = 1.0)]
    pub width: f64,
    /// ReLU convention: `paper` (ResNet-18 without the stem ReLU, WRN without the last)
    /// or `all`.
    #[arg(long, value_enum, default_value_t)]
    pub relus: ReluConvention,
    /// Mask granularity used later by `linearize`: one `c` per pixel or per channel.
    #[arg(long, value_enum, default_value_t)]
    pub mask: MaskGranularity,
    /// Epochs.
    #[arg(long, default_value_t = paper().pretrain.epochs)]
    pub epochs: usize,
    /// Base learning rate.
    #[arg(long, default_value_t = paper().pretrain.lr)]
    pub lr: f64,
    /// SGD momentum.
    #[arg(long, default_value_t = paper().pretrain.momentum)]
    pub momentum: f64,
    /// Weight decay.
    #[arg(long, default_value_t = paper().pretrain.weight_decay)]
    pub weight_decay: f64,
    /// Batch size.
    #[arg(long, default_value_t = paper().pretrain.batch)]
    pub batch: usize,
    /// Step schedule: ×0.1 at these epochs (comma-separated; empty for constant).
    #[arg(long, default_value = paper_milestones(), value_parser = parse_list)]
    pub milestones: std::vec::Vec<usize>,
    /// Cosine schedule instead of steps.
    #[arg(long)]
    pub cosine: bool,
    /// Run folder (checkpoint, log.jsonl, model.safetensors).
    #[arg(long)]
    pub out: PathBuf,
    /// Continue the run in --out from its last checkpoint.
    #[arg(long)]
    pub resume: bool,
    /// `text` or `json`.
    #[arg(long, value_enum, default_value_t)]
    pub output_format: OutputFormat,
}

/// The paper's pretraining milestones as a `--milestones` value (`80,120`).
fn paper_milestones() -> &'static str {
    static ARG: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    ARG.get_or_init(|| {
        let m: Vec<String> = paper()
            .pretrain
            .milestones
            .iter()
            .map(|e| e.to_string())
            .collect();
        m.join(",")
    })
}

/// Checks a learning-rate-like value.
pub fn positive(name: &str, v: f64) -> anyhow::Result<()> {
    if !(v.is_finite() && v > 0.0) {
        bail!("--{name} must be a positive number, got {v}");
    }
    Ok(())
}

/// Checks a non-negative value.
pub fn non_negative(name: &str, v: f64) -> anyhow::Result<()> {
    if !(v.is_finite() && v >= 0.0) {
        bail!("--{name} must be a non-negative number, got {v}");
    }
    Ok(())
}

/// Runs `train`.
pub fn run(c: TrainCommand) -> anyhow::Result<ExitStatus> {
    positive("lr", c.lr)?;
    positive("width", c.width)?;
    non_negative("momentum", c.momentum)?;
    non_negative("weight-decay", c.weight_decay)?;
    if c.epochs == 0 || c.batch == 0 {
        bail!("--epochs and --batch must be positive");
    }
    if c.arch == Arch::Mlp && c.hidden.is_empty() {
        bail!("--arch mlp needs --hidden widths, e.g. --hidden 256,128");
    }
    let device = c.run.setup()?;
    let splits = c.data.load(c.run.seed, None)?;
    let shape = splits.input_shape();
    let arch = ArchConfig {
        arch: c.arch,
        input_shape: shape.iter().map(|&d| d as i64).collect(),
        classes: splits.num_classes() as i64,
        hidden: c.hidden.iter().map(|&h| h as i64).collect(),
        granularity: c.mask,
        relus: c.relus,
        mean: splits.mean.clone(),
        std: splits.std.clone(),
        width: c.width,
    };
    let cfg = SgdConfig {
        epochs: c.epochs,
        lr: c.lr,
        momentum: c.momentum,
        weight_decay: c.weight_decay,
        batch: c.batch,
        milestones: c.milestones.clone(),
        cosine: c.cosine,
    };
    let run = RunDir::create(&c.out)?;
    let (net, test) = pretrain(&run, &arch, &cfg, &splits, c.run.seed, device, c.resume)
        .context("pretraining failed")?;
    let total = net.total_relus();
    match c.output_format {
        OutputFormat::Json => println!(
            "{}",
            serde_json::to_string_pretty(&json!({
                "model": run.model(),
                "data": splits.name,
                "arch": c.arch,
                "epochs": c.epochs,
                "test_accuracy": test,
                "relus": total,
            }))?
        ),
        OutputFormat::Text => println!(
            "pretrained {:?} on {}: test accuracy {:.2}%, {} ReLUs; model: {}",
            c.arch,
            splits.name,
            100.0 * test,
            total,
            run.model().display()
        ),
    }
    Ok(ExitStatus::Success)
}
