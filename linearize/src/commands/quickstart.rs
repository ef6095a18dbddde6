//! `snl quickstart`: the README's main job, end to end on Fashion-MNIST in minutes on 2 CPU
//! cores: pretrain the small CNN briefly, linearize to ~10% of its ReLUs, fine-tune with KD.
//!
//! It starts from the paper's hyper-parameters ([`paper`]) and departs from them to fit in
//! minutes, and says so: λ₀ = 1e-3 instead of 1e-5 (with 1e-5 a 10% budget is hundreds of
//! epochs away), a few epochs per phase instead of 160/100, and a shorter pretraining
//! recipe (lr 0.05, batch 128, cosine schedule instead of 0.1, 256 and steps).
use std::path::PathBuf;

use anyhow::Context;

use crate::arch::{Arch, ArchConfig, ReluConvention};
use crate::cli::{DataArgs, ExitStatus, OutputFormat, RunArgs};
use crate::commands::linearize::report;
use crate::paper::paper;
use crate::snl::Budget;
use crate::train::{
    linearize, pretrain, LinearizeConfig, ModelFile, Pretrained, RunDir, SgdConfig,
};

/// Pretraining learning rate (the paper's 0.1 is for 160 epochs of batch 256).
const PRETRAIN_LR: f64 = 0.05;

/// Pretraining batch size.
const PRETRAIN_BATCH: usize = 128;

/// Arguments of `quickstart`.
#[derive(Debug, clap::Args)]
pub struct QuickstartCommand {
    /// Data set (default: Fashion-MNIST from Debian's dataset-fashion-mnist).
    #[command(flatten)]
    pub data: DataArgs,
    /// Device and seed.
    #[command(flatten)]
    pub run: RunArgs,
    /// Folder for the two runs (`pretrain/`, `linearize/`).
    #[arg(long, default_value = "runs/quickstart")]
    pub out: PathBuf,
    /// Pretraining epochs.
    #[arg(long, default_value_t = 3)]
    pub pretrain_epochs: usize,
    /// ReLU budget as a fraction of the CNN's 18,944 ReLUs.
    #[arg(long, default_value_t = 0.1)]
    pub budget_fraction: f64,
    /// λ₀ (the paper's 1e-5 needs hundreds of epochs here).
    #[arg(long, default_value_t = 1e-3)]
    pub lambda0: f64,
    /// Upper limit on linearization epochs.
    #[arg(long, default_value_t = 20)]
    pub max_epochs: usize,
    /// Fine-tune epochs.
    #[arg(long, default_value_t = 3)]
    pub finetune_epochs: usize,
    /// Fine-tune learning rate (cosine; the paper's 1e-3 — 1e-2 diverges here).
    #[arg(long, default_value_t = paper().linearize.finetune.lr)]
    pub finetune_lr: f64,
    /// `text` or `json`.
    #[arg(long, value_enum, default_value_t)]
    pub output_format: OutputFormat,
}

/// Runs `quickstart`.
pub fn run(c: QuickstartCommand) -> anyhow::Result<ExitStatus> {
    // check everything before minutes of pretraining
    if !(c.budget_fraction > 0.0 && c.budget_fraction < 1.0) {
        anyhow::bail!(
            "--budget-fraction must be in (0, 1), got {}",
            c.budget_fraction
        );
    }
    if c.pretrain_epochs == 0 || c.max_epochs == 0 {
        anyhow::bail!("--pretrain-epochs and --max-epochs must be positive");
    }
    crate::commands::train::positive("lambda0", c.lambda0)?;
    crate::commands::train::positive("finetune-lr", c.finetune_lr)?;
    let device = c.run.setup()?;
    let seed = c.run.seed;
    let splits = c.data.load(seed, None)?;
    let arch = ArchConfig::for_data(Arch::Cnn, &splits, ReluConvention::Paper);
    let pre = RunDir::create(&c.out.join("pretrain"))?;
    let paper = paper();
    let pre_cfg = SgdConfig {
        epochs: c.pretrain_epochs,
        lr: PRETRAIN_LR,
        batch: PRETRAIN_BATCH,
        milestones: Vec::new(),
        cosine: true,
        ..paper.pretrain
    };
    eprintln!("== 1/2 pretrain the CNN ({} epochs)", c.pretrain_epochs);
    let (net, _) = pretrain(&pre, &arch, &pre_cfg, &splits, seed, device, false)
        .context("pretraining failed")?;
    let budget = Budget::Fraction(c.budget_fraction).resolve(net.total_relus())?;
    drop(net);
    let cfg = LinearizeConfig {
        budget,
        lambda0: c.lambda0,
        max_epochs: c.max_epochs,
        finetune: SgdConfig {
            epochs: c.finetune_epochs,
            lr: c.finetune_lr,
            ..paper.linearize.finetune
        },
        ..paper.linearize
    };
    eprintln!(
        "== 2/2 linearize to {budget} ReLUs, binarize, fine-tune ({} epochs)",
        c.finetune_epochs
    );
    let lin = RunDir::create(&c.out.join("linearize"))?;
    let file = ModelFile::read(&pre.model()).context("linearization failed")?;
    let pretrained = Pretrained::check(&file, &splits).context("linearization failed")?;
    let o =
        linearize(&lin, &pretrained, &cfg, seed, device, false).context("linearization failed")?;
    report(&o, budget, &lin, c.output_format)?;
    if !o.budget_reached {
        eprintln!(
            "snl: budget {budget} not reached in {} epochs",
            o.linearize_epochs
        );
        return Ok(ExitStatus::BudgetNotReached);
    }
    Ok(ExitStatus::Success)
}
