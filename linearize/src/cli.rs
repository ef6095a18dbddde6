//! The `snl` command line: shared arguments, exit statuses and dispatch; each subcommand
//! lives in its own file under `commands/`.
use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};

use crate::commands;
use crate::data::{self, DataSpec, Source, Splits};
use crate::device::DeviceArg;
use crate::fused::Kernels;

/// Exit statuses of `snl`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum ExitStatus {
    /// Success.
    Success = 0,
    /// `linearize`: the budget was not reached within `--max-epochs` (the state reached is
    /// still written).
    BudgetNotReached = 1,
    /// Bad arguments, missing or corrupt data or model, or any other error.
    Error = 2,
}

/// How results are printed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// Tables for people.
    #[default]
    Text,
    /// One JSON document on stdout.
    Json,
}

const EXIT_CODES: &str = "\
Exit codes:
  0  success
  1  linearize: the ReLU budget was not reached within --max-epochs (the state reached is written)
  2  error: bad arguments, missing or corrupt data or model file, libtorch failure

Progress goes to stderr; results (tables or --output-format json) to stdout.
Torch threads: all cores by default; set OMP_NUM_THREADS to limit them.";

/// Selective Network Linearization (Cho et al., ICML 2022): pretrain a ReLU network,
/// linearize it to a ReLU budget, fine-tune, evaluate and export snl model files
/// (`.safetensors` that `snl-verify` reads).
#[derive(Debug, Parser)]
#[command(name = "snl", version, after_help = EXIT_CODES)]
pub struct Args {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Pretrain a network from scratch (SGD, momentum, weight decay, step or cosine schedule).
    Train(commands::train::TrainCommand),
    /// Algorithm 1: linearize a pretrained model to a ReLU budget, binarize, fine-tune with KD.
    Linearize(commands::linearize::LinearizeCommand),
    /// Baseline masks at each budget (random, per-layer uniform, SNIP-style saliency),
    /// fine-tuned as `linearize` fine-tunes SNL's.
    Baseline(commands::baseline::BaselineCommand),
    /// A Pareto sweep: the method × seed grid (each cell all budgets), run here or written
    /// as a Slurm job array (`--emit slurm`), merged into `sweep.json`.
    Sweep(commands::sweep::SweepCommand),
    /// Top-1 accuracy and per-layer kept ReLUs of a model file.
    Eval(commands::eval::EvalCommand),
    /// Write a model file (or its IR as JSON) from a model file or a run's checkpoint.
    Export(commands::export::ExportCommand),
    /// Write a split of a data set (raw pixels, labels) as a test-set file for
    /// `snl-verify` (docs/inputs-format.md).
    ExportData(commands::export_data::ExportDataCommand),
    /// Benchmark: time a linearization epoch of the Fashion-MNIST CNN, masked vs plain ReLU
    /// (papers/bench/run.sh compares it with a PyTorch reference).
    Bench(commands::bench::BenchCommand),
    /// The README's main job: pretrain the small CNN on Fashion-MNIST briefly, linearize it
    /// to ~10% of its ReLUs, fine-tune, and print accuracy and ReLU counts before/after.
    Quickstart(commands::quickstart::QuickstartCommand),
    /// Import a PyTorch state_dict saved as safetensors (torchvision / SNL key names, masks
    /// per ReLU) as an snl model file.
    Import(commands::import::ImportCommand),
}

/// Runs the parsed command.
pub fn run(args: Args) -> anyhow::Result<ExitStatus> {
    match args.command {
        Command::Train(c) => commands::train::run(c),
        Command::Linearize(c) => commands::linearize::run(c),
        Command::Baseline(c) => commands::baseline::run(c),
        Command::Sweep(c) => commands::sweep::run(c),
        Command::Eval(c) => commands::eval::run(c),
        Command::Export(c) => commands::export::run(c),
        Command::ExportData(c) => commands::export_data::run(c),
        Command::Quickstart(c) => commands::quickstart::run(c),
        Command::Bench(c) => commands::bench::run(c),
        Command::Import(c) => commands::import::run(c),
    }
}

/// Which data set and how to split it.
#[derive(Clone, Debug, clap::Args)]
pub struct DataArgs {
    /// The data set. `points`: labelled points `[n, d]` from the file --data-dir (as
    /// `snl-verify theorem gap --dump` writes them), to be fitted: train, validation and
    /// test are all the same n points.
    #[arg(long, value_enum, default_value_t = Source::FashionMnist)]
    pub data: Source,
    /// Its folder (default: /usr/share/datasets/fashion-mnist for Fashion-MNIST,
    /// /usr/share/datasets/mnist, data/cifar-10-batches-bin, data/cifar-100-binary,
    /// data/tiny-imagenet-200); for `points`, the points file.
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Fraction of the training set held out for validation (seeded; not used by `points`,
    /// whose validation split is the points themselves).
    #[arg(long, default_value_t = 0.1)]
    pub val_fraction: f64,
    /// Seed of the train/validation split and of the --limit-train choice. `train`: --seed
    /// by default. `linearize`/`eval`: the split the model file records by default (the
    /// teacher's validation split), else --seed.
    #[arg(long)]
    pub split_seed: Option<u64>,
    /// Use only this many training examples (seeded choice), for quick runs.
    #[arg(long)]
    pub limit_train: Option<usize>,
    /// Use only the first this many test examples.
    #[arg(long)]
    pub limit_test: Option<usize>,
    /// Random-crop (pad 4) + horizontal-flip augmentation: default on for CIFAR and
    /// Tiny-ImageNet, off for 28×28 data.
    #[arg(long)]
    pub augment: Option<bool>,
}

impl DataArgs {
    /// Loads the splits: split by `--split-seed`, else by the model's recorded split seed
    /// (`recorded`), else by `seed`.
    pub fn load(&self, seed: u64, recorded: Option<u64>) -> anyhow::Result<Splits> {
        let spec = DataSpec {
            source: self.data,
            dir: self.data_dir.clone(),
            val_fraction: self.val_fraction,
            seed: self.split_seed.or(recorded).unwrap_or(seed),
            limit_train: self.limit_train,
            limit_test: self.limit_test,
            ..Default::default()
        };
        let mut splits = data::load(&spec).context("cannot load the data")?;
        if let Some(a) = self.augment {
            splits.augment = a;
        }
        eprintln!(
            "data: {} — train {}, val {}, test {}, {} classes, input {:?}",
            splits.name,
            splits.train.len(),
            splits.val.len(),
            splits.test.len(),
            splits.num_classes(),
            splits.input_shape()
        );
        Ok(splits)
    }
}

/// Device and seed.
#[derive(Clone, Debug, clap::Args)]
pub struct RunArgs {
    /// `cpu`, `cuda` or `auto` (the GPU when libtorch sees one).
    #[arg(long, value_enum, default_value_t)]
    pub device: DeviceArg,
    /// Seed of weights, data split, batch order and augmentation.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// `reference`: libtorch's kernels, with which every published number here was
    /// trained; `fused`: snl's fused CPU kernels (masked ReLU + 2×2 pool in one pass each
    /// way, ATen's fused Adam), the same functions with other rounding, faster
    /// (papers/bench). On CUDA the masked ReLU keeps the reference kernels.
    #[arg(long, value_enum, default_value_t)]
    pub kernels: Kernels,
}

impl RunArgs {
    /// The device, after making [`RunArgs::kernels`] the process's kernels.
    pub fn setup(&self) -> Result<tch::Device, crate::device::DeviceError> {
        Kernels::set_current(self.kernels);
        self.device.resolve()
    }
}

/// Parses a comma-separated list of budgets: counts (≥ 0; 0 linearizes every ReLU) or
/// fractions (in (0, 1)).
pub fn parse_budgets(s: &str) -> Result<Vec<crate::snl::Budget>, String> {
    s.split(',')
        .map(|p| {
            let v: f64 = p
                .trim()
                .parse()
                .map_err(|_| format!("'{p}' is not a number"))?;
            if v >= 0.0 && v.fract() == 0.0 {
                Ok(crate::snl::Budget::Count(v as i64))
            } else if v > 0.0 && v < 1.0 {
                Ok(crate::snl::Budget::Fraction(v))
            } else {
                Err(format!(
                    "'{p}' is neither a ReLU count (a whole number ≥ 0) nor a fraction in (0, 1)"
                ))
            }
        })
        .collect()
}

/// Parses a comma-separated list of positive integers.
pub fn parse_list(s: &str) -> Result<Vec<usize>, String> {
    if s.trim().is_empty() {
        return Ok(Vec::new());
    }
    s.split(',')
        .map(|p| {
            p.trim()
                .parse::<usize>()
                .map_err(|_| format!("'{p}' is not a non-negative integer"))
        })
        .collect()
}
