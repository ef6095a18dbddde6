//! `snl baseline`: a non-SNL mask (random, per-layer uniform, SNIP-style saliency) at each
//! budget, fine-tuned exactly as `snl linearize` fine-tunes its binarized masks.
use std::path::PathBuf;

use anyhow::{bail, Context};
use serde_json::json;
use tch::Device;

use crate::baseline::{apply_mask, baseline_mask, Baseline};
use crate::cli::{parse_budgets, DataArgs, ExitStatus, OutputFormat, RunArgs};
use crate::data::Splits;
use crate::masked::MaskGranularity;
use crate::snl::Budget;
use crate::train::{
    finetune_file, BudgetResult, ModelFile, RunDir, SgdConfig, Teacher, BINARY_THRESHOLD, DATA_KEY,
};

/// Arguments of `baseline` (fine-tune defaults: those of `linearize`).
#[derive(Debug, clap::Args)]
pub struct BaselineCommand {
    /// The pretrained model file (from `snl train`); also the frozen KD teacher.
    #[arg(long)]
    pub model: PathBuf,
    /// Data set and split (the model's, as for `linearize`).
    #[command(flatten)]
    pub data: DataArgs,
    /// Device and seed (the seed also draws the random masks).
    #[command(flatten)]
    pub run: RunArgs,
    /// How to choose the kept ReLUs.
    #[arg(long, value_enum)]
    pub method: Baseline,
    /// Budgets, e.g. `0.2,0.1,0.05` (fractions in (0, 1) or ReLU counts); each is fine-tuned
    /// in --out/budget-<B>/.
    #[arg(long, value_parser = parse_budgets)]
    pub budgets: std::vec::Vec<Budget>,
    /// `snip`: training batches (of 128) the saliency is summed over.
    #[arg(long, default_value_t = 20)]
    pub saliency_batches: usize,
    /// Knowledge-distillation fine-tune.
    #[command(flatten)]
    pub finetune: super::FinetuneArgs,
    /// Output folder (one `budget-<B>/` run per budget).
    #[arg(long)]
    pub out: PathBuf,
    /// Continue the fine-tune runs in --out from their checkpoints.
    #[arg(long)]
    pub resume: bool,
    /// `text` or `json`.
    #[arg(long, value_enum, default_value_t)]
    pub output_format: OutputFormat,
}

/// Runs `baseline`.
pub fn run(c: BaselineCommand) -> anyhow::Result<ExitStatus> {
    c.finetune.check()?;
    if c.saliency_batches == 0 {
        bail!("--saliency-batches must be positive");
    }
    let device = c.run.setup()?;
    let file = ModelFile::read(&c.model).context("cannot use the pretrained model")?;
    if file.arch.granularity != MaskGranularity::Pixel {
        bail!("baselines choose single units: the model must have pixel masks (--mask pixel)");
    }
    let total = file.ir.relu_counts()?.total as i64;
    let mut budgets: Vec<i64> = c
        .budgets
        .iter()
        .map(|b| b.resolve(total))
        .collect::<Result<_, _>>()?;
    budgets.sort_unstable_by(|a, b| b.cmp(a));
    budgets.dedup();
    let recorded = file.data_record()?.map(|r| r.split_seed);
    let splits = c.data.load(c.run.seed, recorded)?;
    file.check_data(&splits, true)?;
    let ft = c.finetune.sgd();
    tch::manual_seed(c.run.seed as i64);
    let teacher = Teacher::new(file.build(device)?, c.finetune.temperature, &splits, device);
    let out = RunDir::create(&c.out)?;
    let mut results = Vec::new();
    for &b in &budgets {
        let sub = RunDir::create(&out.budget_dir(b))?;
        let failed = || {
            format!(
                "fine-tuning the {} mask at budget {b} failed",
                c.method.name()
            )
        };
        let mask = if c.resume && sub.snapshot().exists() {
            ModelFile::read(&sub.snapshot()).with_context(failed)?
        } else {
            make_mask(&c, &file, b, &splits, &sub, device)?
        };
        eprintln!("== {} mask, budget {b}: fine-tune", c.method.name());
        let ft_run = finetune_file(
            &sub, &mask, &teacher, &ft, &splits, c.run.seed, device, c.resume, b, None,
        );
        results.push(ft_run.with_context(failed)?);
    }
    report(&c, &ft, &results)?;
    Ok(ExitStatus::Success)
}

/// The method's mask at budget `b` on the pretrained `file`, written to `sub`'s snapshot
/// file and returned.
fn make_mask(
    c: &BaselineCommand,
    file: &ModelFile,
    b: i64,
    splits: &Splits,
    sub: &RunDir,
    device: Device,
) -> anyhow::Result<ModelFile> {
    let mut net = file.build(device)?;
    let flags = baseline_mask(
        c.method,
        &mut net,
        b,
        splits,
        c.saliency_batches,
        c.run.seed,
        device,
    );
    let mut net = file.build(device)?;
    apply_mask(&mut net, &flags);
    let mask = ModelFile::of(
        &net,
        &file.arch,
        BINARY_THRESHOLD,
        &[
            ("stage", format!("{} mask at budget {b}", c.method.name())),
            (DATA_KEY, serde_json::to_string(&splits.record)?),
        ],
        &sub.snapshot(),
    );
    mask.write()?;
    Ok(mask)
}

/// Prints the results as a table or JSON.
fn report(c: &BaselineCommand, ft: &SgdConfig, results: &[BudgetResult]) -> anyhow::Result<()> {
    match c.output_format {
        OutputFormat::Json => println!(
            "{}",
            serde_json::to_string_pretty(&json!({
                "method": c.method.name(),
                "teacher": c.model,
                "seed": c.run.seed,
                "budgets": results,
            }))?
        ),
        OutputFormat::Text => {
            println!("{} masks, fine-tuned {} epochs", c.method.name(), ft.epochs);
            println!("budget     kept   val bin   test bin  test final  model");
            for r in results {
                println!(
                    "{:>6} {:>8}   {:>6.2}%   {:>6.2}%   {:>7.2}%  {}",
                    r.budget,
                    r.kept,
                    100.0 * r.binarized_val.unwrap_or(f64::NAN),
                    100.0 * r.binarized_test,
                    100.0 * r.final_test,
                    r.model.display()
                );
            }
        }
    }
    Ok(())
}
