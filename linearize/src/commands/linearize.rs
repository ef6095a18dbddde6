//! `snl linearize`: SNL's Algorithm 1 on a pretrained model file.
use std::path::PathBuf;

use anyhow::{bail, Context};
use serde_json::json;

use crate::cli::{parse_budgets, DataArgs, ExitStatus, OutputFormat, RunArgs};
use crate::commands::train::{non_negative, positive};
use crate::paper::paper;
use crate::snl::{Binarize, Budget, LambdaRule};
use crate::train::{linearize, LinearizeConfig, LinearizeOutcome, ModelFile, Pretrained, RunDir};

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
    /// ReLU budget: keep at most this many ReLUs (0 linearizes every ReLU).
    #[arg(long, required_unless_present_any = ["budget_fraction", "budgets"], conflicts_with_all = ["budget_fraction", "budgets"])]
    pub budget: Option<i64>,
    /// ReLU budget as a fraction of all ReLUs (0 < F < 1).
    #[arg(long, conflicts_with = "budgets")]
    pub budget_fraction: Option<f64>,
    /// Several budgets from one linearization, e.g. `0.2,0.1,0.05,0.02,0.01,0.005`
    /// (fractions in (0, 1) or ReLU counts): the masks are snapshotted when the kept count
    /// first reaches each budget and every snapshot is fine-tuned (the smallest in --out,
    /// the others in --out/budget-<B>/).
    #[arg(long, value_parser = parse_budgets)]
    pub budgets: Option<std::vec::Vec<Budget>>,
    /// λ schedule: `paper` (×1.1 on a stall) or `budget` (reach the budget in about
    /// --target-epochs epochs, λ steered by the kept count's path).
    #[arg(long, value_enum, default_value_t)]
    pub lambda_schedule: LambdaRule,
    /// `--lambda-schedule budget`: epochs in which to reach the budget.
    #[arg(long, default_value_t = 20)]
    pub target_epochs: usize,
    /// How soft masks become binary: `paper` (once, at the end) or `ste` (straight-through:
    /// the mask phase already runs with the binary masks).
    #[arg(long, value_enum, default_value_t)]
    pub binarize: Binarize,
    /// Initial L1 weight λ₀ on the masks.
    #[arg(long, default_value_t = paper().linearize.lambda0)]
    pub lambda0: f64,
    /// A unit is kept when its mask c > ε.
    #[arg(long, default_value_t = paper().linearize.eps)]
    pub eps: f64,
    /// Adam learning rate of weights and masks.
    #[arg(long, default_value_t = paper().linearize.lr)]
    pub lr: f64,
    /// Batch size of linearization.
    #[arg(long, default_value_t = paper().linearize.batch)]
    pub batch: usize,
    /// Give up when the budget is not reached after this many epochs.
    #[arg(long, default_value_t = paper().linearize.max_epochs)]
    pub max_epochs: usize,
    /// Knowledge-distillation fine-tune.
    #[command(flatten)]
    pub finetune: super::FinetuneArgs,
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
    positive("lambda0", c.lambda0)?;
    positive("lr", c.lr)?;
    non_negative("eps", c.eps)?;
    c.finetune.check()?;
    if c.batch == 0 || c.max_epochs == 0 || c.target_epochs == 0 {
        bail!("--batch, --max-epochs and --target-epochs must be positive");
    }
    let device = c.run.setup()?;
    // the budget is checked against the file's ReLU count before any data is loaded
    let file = ModelFile::read(&c.model).context("cannot use the pretrained model")?;
    let total = file.ir.relu_counts()?.total as i64;
    let arch = file.arch.clone();
    let mut budgets: Vec<i64> = match (c.budget, c.budget_fraction, &c.budgets) {
        (Some(b), _, _) => vec![Budget::Count(b).resolve(total)?],
        (None, Some(f), _) => vec![Budget::Fraction(f).resolve(total)?],
        (None, None, Some(list)) => list
            .iter()
            .map(|b| b.resolve(total))
            .collect::<Result<_, _>>()?,
        (None, None, None) => bail!("give --budget N, --budget-fraction F or --budgets A,B,…"),
    };
    budgets.sort_unstable();
    budgets.dedup();
    let budget = budgets[0];
    let recorded = file.data_record()?.map(|r| r.split_seed);
    let splits = c.data.load(c.run.seed, recorded)?;
    let pretrained = Pretrained::check(&file, &splits)?;
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
        temperature: c.finetune.temperature,
        finetune: c.finetune.sgd(),
        lambda_rule: c.lambda_schedule,
        target_epochs: c.target_epochs,
        binarize: c.binarize,
        snapshots: budgets[1..].to_vec(),
    };
    let run = RunDir::create(&c.out)?;
    let o = linearize(&run, &pretrained, &cfg, c.run.seed, device, c.resume)
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
            if let (Some(s), Some(b)) = (o.soft_val, o.binarized_val) {
                println!(
                    "validation: {:.2}% with the mask phase's masks, {:.2}% binarized (gap {:.2} points)",
                    100.0 * s,
                    100.0 * b,
                    100.0 * (s - b)
                );
            }
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
            if o.budgets.len() > 1 {
                println!("budget     kept   val soft  val bin   test bin  test final  model");
                for b in &o.budgets {
                    let p = |v: Option<f64>| {
                        v.map_or("    n/a".into(), |v| format!("{:>6.2}%", 100.0 * v))
                    };
                    println!(
                        "{:>6} {:>8}   {}  {}   {:>6.2}%   {:>7.2}%  {}",
                        b.budget,
                        b.kept,
                        p(b.soft_val),
                        p(b.binarized_val),
                        100.0 * b.binarized_test,
                        100.0 * b.final_test,
                        b.model.display()
                    );
                }
            }
            println!("model: {}", run.model().display());
        }
    }
    Ok(())
}
