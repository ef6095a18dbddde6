//! `snl bench`: times linearization epochs of the Fashion-MNIST CNN with the paper's
//! mask-phase hyper-parameters ([`paper`]: Adam on weights and masks, CE + KD(T=4) from a
//! frozen plain-ReLU teacher run on every batch + λ₀‖c‖₁, batch 128), with SNL's masked ReLU and with plain ReLUs (no masks, no L1): with the reference
//! kernels once per [`MaskFormula`] asked for, and with `--kernels fused` also with the fused
//! kernels (one spelling). Prints seconds and the ratios.
//! `papers/bench/run.sh` runs it back to back with the PyTorch reference
//! `papers/bench/bench_torch.py` and prints ours/PyTorch. A benchmark, not a test.
use std::time::Instant;

use anyhow::bail;
use clap::ValueEnum;
use serde_json::json;
use tch::Device;

use crate::arch::{Arch, ArchConfig, ReluConvention};
use crate::cli::{DataArgs, ExitStatus, OutputFormat, RunArgs};
use crate::data::{self, Splits};
use crate::fused::Kernels;
use crate::graph::SnlNet;
use crate::masked::MaskFormula;
use crate::optim::{OptimKind, Optimizer};
use crate::paper::paper;
use crate::snl::{ce_loss, kd_loss};

/// Arguments of `bench`.
#[derive(Debug, clap::Args)]
pub struct BenchCommand {
    /// Data set (the CNN needs 28×28 inputs).
    #[command(flatten)]
    pub data: DataArgs,
    /// Device, seed and kernels: the reference kernels are always timed (once per
    /// `--formulas` entry, then plain ReLUs); `--kernels fused` adds a masked and a plain row
    /// with the fused kernels.
    #[command(flatten)]
    pub run: RunArgs,
    /// Timed epochs per variant (the median is reported); one untimed warm-up batch first.
    #[arg(long, default_value_t = 1)]
    pub epochs: usize,
    /// Only this many batches per epoch (default: the whole training split).
    #[arg(long)]
    pub batches: Option<usize>,
    /// Masked-ReLU formulas to time, comma-separated; the first is reported as `masked_s`
    /// (default: the one training uses).
    #[arg(long, value_enum, value_delimiter = ',', default_values_t = [MaskFormula::default()])]
    pub formulas: Vec<MaskFormula>,
    /// Batch size.
    #[arg(long, default_value_t = paper().linearize.batch)]
    pub batch: usize,
    /// Torch intra-op threads (default: libtorch's, one per core).
    #[arg(long)]
    pub threads: Option<i32>,
    /// `text` or `json`.
    #[arg(long, value_enum, default_value_t)]
    pub output_format: OutputFormat,
}

fn cnn(splits: &Splits, device: Device) -> SnlNet {
    ArchConfig::for_data(Arch::Cnn, splits, ReluConvention::Paper).build(device)
}

/// Seconds of one linearization epoch (or `batches` batches).
fn epoch(
    net: &SnlNet,
    teacher: &SnlNet,
    masked: bool,
    splits: &Splits,
    c: &BenchCommand,
    device: Device,
    seed: u64,
) -> f64 {
    let (mut params, masks) = net.weights_and_masks();
    if masked {
        params.extend(masks);
    }
    let mut opt = Optimizer::new(OptimKind::adam(), params);
    opt.kernels = net.kernels;
    let limit = c.batches.unwrap_or(usize::MAX);
    let paper = paper().linearize;
    let step = |opt: &mut Optimizer, x: &tch::Tensor, y: &tch::Tensor| {
        let logits = net.forward_t(x, true);
        let t = tch::no_grad(|| teacher.forward_t(x, false));
        let mut loss = ce_loss(&logits, y) + kd_loss(&logits, &t, paper.temperature);
        if masked {
            loss += net.mask_l1() * paper.lambda0;
        }
        opt.zero_grad();
        loss.backward();
        opt.step(paper.lr);
        loss.double_value(&[])
    };
    // warm-up batch (allocator, OpenMP pool), not timed
    if let Some((x, y)) = splits.train.batches(c.batch, seed, device).next() {
        step(&mut opt, &x, &y);
    }
    let t0 = Instant::now();
    for (x, y) in splits.train.batches(c.batch, seed, device).take(limit) {
        step(&mut opt, &x, &y);
    }
    if device.is_cuda() {
        tch::Cuda::synchronize(0);
    }
    t0.elapsed().as_secs_f64()
}

/// The command-line name of a value (`addcmul`, …).
fn value_name(v: impl ValueEnum) -> String {
    v.to_possible_value()
        .map_or_else(String::new, |v| v.get_name().to_string())
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

/// Runs `bench`.
pub fn run(c: BenchCommand) -> anyhow::Result<ExitStatus> {
    if c.epochs == 0 || c.batch == 0 || c.batches == Some(0) {
        bail!("--epochs, --batch and --batches must be positive");
    }
    if let Some(t) = c.threads {
        if t <= 0 {
            bail!("--threads must be positive");
        }
        tch::set_num_threads(t);
    }
    let device = c.run.device.resolve()?;
    let splits = c.data.load(c.run.seed, None)?;
    if splits.input_shape()[1..] != [28, 28] {
        bail!("the benchmark CNN takes 28×28 inputs; use --data fashion-mnist or mnist");
    }
    if c.formulas.is_empty() {
        bail!("--formulas needs at least one formula");
    }
    let seed = data::epoch_seed(c.run.seed, 0);
    // (row name, masked formula or None for plain ReLUs, kernels): the reference kernels'
    // masked rows and plain row, then the fused kernels' two rows
    let reference = Kernels::Reference;
    let mut variants: Vec<(String, Option<MaskFormula>, Kernels)> = c
        .formulas
        .iter()
        .map(|&f| (value_name(f), Some(f), reference))
        .collect();
    variants.push(("plain".into(), None, reference));
    if c.run.kernels == Kernels::Fused {
        variants.push(("fused".into(), Some(MaskFormula::default()), Kernels::Fused));
        variants.push(("fused-plain".into(), None, Kernels::Fused));
    }
    let mut times = vec![Vec::new(); variants.len()];
    for _ in 0..c.epochs {
        for ((_, formula, kernels), out) in variants.iter().zip(&mut times) {
            // every timed epoch starts from the same freshly seeded student and teacher
            tch::manual_seed(c.run.seed as i64);
            let mut net = cnn(&splits, device);
            let mut teacher = cnn(&splits, device);
            teacher.plain_relu = true; // as training's `Teacher` does
            teacher.kernels = *kernels;
            net.kernels = *kernels;
            match formula {
                Some(f) => net.relus_mut().for_each(|m| m.formula = *f),
                None => net.plain_relu = true,
            }
            out.push(epoch(
                &net,
                &teacher,
                formula.is_some(),
                &splits,
                &c,
                device,
                seed,
            ));
        }
    }
    let times: Vec<f64> = times.into_iter().map(median).collect();
    // the headline: the first masked row and the reference kernels' plain row after them
    let (m, p) = (times[0], times[c.formulas.len()]);
    let rows: serde_json::Map<String, serde_json::Value> = variants
        .iter()
        .zip(&times)
        .map(|((n, _, _), s)| (n.clone(), json!(s)))
        .collect();
    let batches = c
        .batches
        .unwrap_or(usize::MAX)
        .min(splits.train.len().div_ceil(c.batch));
    let threads = tch::get_num_threads();
    match c.output_format {
        OutputFormat::Json => println!(
            "{}",
            serde_json::to_string(&json!({
                "model": "cnn", "data": splits.name, "batch": c.batch, "batches": batches,
                "threads": threads, "device": format!("{device:?}"),
                "headline": variants[0].0,
                "default_formula": value_name(MaskFormula::default()),
                "masked_s": m, "plain_s": p, "masked_over_plain": m / p, "rows": rows,
            }))?
        ),
        OutputFormat::Text => {
            println!(
                "CNN linearization epoch, {} batches of {}, {threads} threads, {device:?}",
                batches, c.batch
            );
            for ((n, f, _), s) in variants.iter().zip(&times) {
                let what = if f.is_some() { "masked ReLU" } else { "ReLU" };
                println!("{what:<12} {n:<12} {s:>8.2} s");
            }
            println!("masked/plain ({})  {:>8.3}", variants[0].0, m / p);
        }
    }
    Ok(ExitStatus::Success)
}
