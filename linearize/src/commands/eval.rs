//! `snl eval`: accuracy and per-layer kept ReLUs of a model file.
use std::path::PathBuf;

use anyhow::{bail, Context};
use clap::ValueEnum;
use serde_json::json;

use crate::cli::{DataArgs, ExitStatus, OutputFormat, RunArgs};
use crate::train::{accuracy, ModelFile, BINARY_THRESHOLD};

/// Which split to evaluate on.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum Split {
    /// The test set.
    #[default]
    Test,
    /// The validation split carved from train (seeded by --seed).
    Val,
    /// The rest of the training set.
    Train,
}

/// Arguments of `eval`.
#[derive(Debug, clap::Args)]
pub struct EvalCommand {
    /// The model file (written by `snl`).
    #[arg(long)]
    pub model: PathBuf,
    /// Data set and split.
    #[command(flatten)]
    pub data: DataArgs,
    /// Device and seed.
    #[command(flatten)]
    pub run: RunArgs,
    /// The split.
    #[arg(long, value_enum, default_value_t)]
    pub split: Split,
    /// `text` or `json`.
    #[arg(long, value_enum, default_value_t)]
    pub output_format: OutputFormat,
}

/// Runs `eval`.
pub fn run(c: EvalCommand) -> anyhow::Result<ExitStatus> {
    let device = c.run.setup()?;
    let file = ModelFile::read(&c.model).context("cannot evaluate the model")?;
    let recorded = file.data_record()?.map(|r| r.split_seed);
    let mut net = file.build(device).context("cannot evaluate the model")?;
    let (arch, info) = (file.arch.clone(), file.info.clone());
    net.binarize(BINARY_THRESHOLD);
    let splits = c.data.load(c.run.seed, recorded)?;
    // the test set only needs the same data set; the validation and training splits the
    // same split too
    file.check_data(&splits, c.split != Split::Test)?;
    let shape: Vec<i64> = splits.input_shape().iter().map(|&d| d as i64).collect();
    if shape != arch.input_shape {
        bail!(
            "{}: the model takes {:?} inputs, the data has {:?}",
            c.model.display(),
            arch.input_shape,
            shape
        );
    }
    let data = match c.split {
        Split::Test => &splits.test,
        Split::Val => &splits.val,
        Split::Train => &splits.train,
    };
    if data.is_empty() {
        bail!("the {:?} split is empty", c.split);
    }
    let acc = accuracy(&net, data, device);
    let layers = net.relu_layers(BINARY_THRESHOLD);
    let (total, kept) = (net.total_relus(), net.kept_relus(BINARY_THRESHOLD));
    match c.output_format {
        OutputFormat::Json => println!(
            "{}",
            serde_json::to_string_pretty(&json!({
                "model": c.model,
                "data": splits.name,
                "split": format!("{:?}", c.split).to_lowercase(),
                "examples": data.len(),
                "top1": acc,
                "relus": {"total": total, "kept": kept,
                          "layers": layers.iter().map(|(u, k)| json!({"units": u, "kept": k})).collect::<Vec<_>>()},
                "info": info,
            }))?
        ),
        OutputFormat::Text => {
            println!("model   {}", c.model.display());
            println!(
                "data    {} ({:?} split, {} examples)",
                splits.name,
                c.split,
                data.len()
            );
            println!("top-1   {:.2}%", 100.0 * acc);
            println!();
            println!(
                "{:>5}  {:>10}  {:>10}  {:>7}",
                "relu", "units", "kept", "kept %"
            );
            for (i, (u, k)) in layers.iter().enumerate() {
                println!(
                    "{:>5}  {:>10}  {:>10}  {:>6.2}%",
                    i,
                    u,
                    k,
                    100.0 * *k as f64 / *u as f64
                );
            }
            println!(
                "{:>5}  {:>10}  {:>10}  {:>6.2}%",
                "all",
                total,
                kept,
                100.0 * kept as f64 / total as f64
            );
        }
    }
    Ok(ExitStatus::Success)
}
