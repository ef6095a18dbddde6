//! `snl linearize`: SNL's Algorithm 1 on a pretrained model file.
use std::path::PathBuf;

use anyhow::{bail, Context};
use serde_json::json;

use crate::cli::{DataArgs, ExitStatus, OutputFormat, RunArgs};
use crate::commands::train::{non_negative, positive};
use crate::snl::Budget;
use crate::train::{linearize, LinearizeConfig, LinearizeOutcome, ModelFile, RunDir, SgdConfig};

/// Arguments of `linearize` (defaults: the paper's hyper-parameters).
#[derive(Debug, clap::Args)]
pub struct LinearizeCommand {
    /// The pretrained model file (from `snl train`); also the frozen KD teacher.
    #[arg(long)]
    pub model: PathBuf,
    /// Data set and split (the one the model was trained on).
    #[command(flatten)]
    pub data: DataArgs,
    /// Device and seed.
    #[command(flatten)]
    pub run: RunArgs,
    /// ReLU budget: keep at most this many ReLUs.
    #[arg(
        long,
        required_unless_present = "budget_fraction",
        conflicts_with = "budget_fraction"
    )]
    pub budget: Option<i64>,
    /// ReLU budget as a fraction of all ReLUs (0 < F < 1).
    #[arg(long)]
    pub budget_fraction: Option<f64>,
    /// Initial L1 weight λ₀ on the masks.
    #[arg(long, default_value_t = 1e-5)]
    pub lambda0: f64,
    /// A unit is kept when its mask c > ε.
    #[arg(long, default_value_t = 1e-2)]
    pub eps: f64,
    /// Adam learning rate of weights and masks.
    #[arg(long, default_value_t = 1e-3)]
    pub lr: f64,
    /// Batch size of linearization.
    #[arg(long, default_value_t = 128)]
    pub batch: usize,
    /// Give up when the budget is not reached after this many epochs.
    #[arg(long, default_value_t = 2000)]
    pub max_epochs: usize,
    /// Knowledge-distillation temperature T.
    #[arg(long, default_value_t = 4.0)]
    pub temperature: f64,
    /// Fine-tune epochs after binarization.
    #[arg(long, default_value_t = 100)]
    pub finetune_epochs: usize,
    /// Fine-tune SGD learning rate (cosine schedule).
    #[arg(long, default_value_t = 1e-3)]
    pub finetune_lr: f64,
    /// Fine-tune SGD momentum.
    #[arg(long, default_value_t = 0.9)]
    pub finetune_momentum: f64,
    /// Fine-tune weight decay.
    #[arg(long, default_value_t = 5e-4)]
    pub finetune_weight_decay: f64,
    /// Fine-tune batch size.
    #[arg(long, default_value_t = 128)]
    pub finetune_batch: usize,
    /// Run folder (checkpoint, log.jsonl, best.safetensors, model.safetensors).
    #[arg(long)]
    pub out: PathBuf,
    /// Continue the run in --out from its last checkpoint.
    #[arg(long)]
    pub resume: bool,
    /// `text` or `json`.
    #[arg(long, value_enum, default_value_t)]
    pub output_format: OutputFormat,
}

/// Runs `linearize`.
pub fn run(c: LinearizeCommand) -> anyhow::Result<ExitStatus> {
    for (n, v) in [
        ("lambda0", c.lambda0),
        ("lr", c.lr),
        ("temperature", c.temperature),
        ("finetune-lr", c.finetune_lr),
    ] {
        positive(n, v)?;
    }
    for (n, v) in [
        ("eps", c.eps),
        ("finetune-momentum", c.finetune_momentum),
        ("finetune-weight-decay", c.finetune_weight_decay),
    ] {
        non_negative(n, v)?;
    }
    if c.batch == 0 || c.finetune_batch == 0 || c.max_epochs == 0 {
        bail!("--batch, --finetune-batch and --max-epochs must be positive");
    }
    let device = c.run.device.resolve()?;
    // the budget is checked against the file's ReLU count before any data is loaded
    let file = ModelFile::read(&c.model).context("cannot use the pretrained model")?;
    let total = file.ir.relu_counts()?.total as i64;
    let arch = file.arch;
    let budget = match (c.budget, c.budget_fraction) {
        (Some(b), _) => Budget::Count(b),
        (None, Some(f)) => Budget::Fraction(f),
        (None, None) => bail!("give --budget N or --budget-fraction F"),
    }
    .resolve(total)?;
    let splits = c.data.load(c.run.seed)?;
    let shape: Vec<i64> = splits.input_shape().iter().map(|&d| d as i64).collect();
    if shape != arch.input_shape || splits.num_classes() as i64 != arch.classes {
        bail!(
            "{}: the model takes {:?} inputs and {} classes, the data has {:?} and {} (wrong --data?)",
            c.model.display(),
            arch.input_shape,
            arch.classes,
            shape,
            splits.num_classes()
        );
    }
    let cfg = LinearizeConfig {
        budget,
        lambda0: c.lambda0,
        eps: c.eps,
        lr: c.lr,
        batch: c.batch,
        max_epochs: c.max_epochs,
        temperature: c.temperature,
        finetune: SgdConfig {
            epochs: c.finetune_epochs,
            lr: c.finetune_lr,
            momentum: c.finetune_momentum,
            weight_decay: c.finetune_weight_decay,
            batch: c.finetune_batch,
            milestones: Vec::new(),
            cosine: true,
        },
    };
    let run = RunDir::create(&c.out)?;
    let o = linearize(&run, &c.model, &cfg, &splits, c.run.seed, device, c.resume)
        .context("linearization failed")?;
    report(&o, budget, &run, c.output_format)?;
    if !o.budget_reached {
        eprintln!(
            "snl: budget {budget} not reached in {} epochs ({} ReLUs kept); the state reached is in {} — raise --max-epochs or --lambda0",
            o.linearize_epochs,
            o.kept,
            run.model().display()
        );
        return Ok(ExitStatus::BudgetNotReached);
    }
    Ok(ExitStatus::Success)
}

/// Prints the outcome as a table or JSON.
pub fn report(
    o: &LinearizeOutcome,
    budget: i64,
    run: &RunDir,
    format: OutputFormat,
) -> anyhow::Result<()> {
    match format {
        OutputFormat::Json => println!(
            "{}",
            serde_json::to_string_pretty(&json!({
                "model": run.model(),
                "budget": budget,
                "outcome": o,
            }))?
        ),
        OutputFormat::Text => {
            println!("                        test accuracy   ReLUs kept");
            println!(
                "teacher (pretrained)    {:>12.2}%   {} / {}",
                100.0 * o.teacher_test,
                o.total,
                o.total
            );
            println!(
                "binarized (no finetune) {:>12.2}%   {} / {} ({:.2}%)",
                100.0 * o.binarized_test,
                o.kept,
                o.total,
                100.0 * o.kept as f64 / o.total as f64
            );
            println!(
                "final (best val epoch)  {:>12.2}%   budget {budget}",
                100.0 * o.final_test
            );
            println!(
                "per ReLU layer (units → kept): {}",
                o.layers
                    .iter()
                    .map(|(u, k)| format!("{u}→{k}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            println!("model: {}", run.model().display());
        }
    }
    Ok(())
}
