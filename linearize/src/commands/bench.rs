//! `snl bench`: times linearization epochs of the Fashion-MNIST CNN (Adam on weights and
//! masks, CE + KD(T=4) from a frozen plain-ReLU teacher run on every batch + λ‖c‖₁, batch
//! 128), with SNL's masked ReLU (once per [`MaskFormula`] asked for; the first is the
//! headline) and with plain ReLUs (no masks, no L1), and prints seconds and their ratio.
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
use crate::graph::SnlNet;
use crate::masked::MaskFormula;
use crate::optim::{OptimKind, Optimizer};
use crate::snl::{ce_loss, kd_loss};

/// Arguments of `bench`.
#[derive(Debug, clap::Args)]
pub struct BenchCommand {
    /// Data set (the CNN needs 28×28 inputs).
    #[command(flatten)]
    pub data: DataArgs,
    /// Device and seed.
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
    #[arg(long, default_value_t = 128)]
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
    let limit = c.batches.unwrap_or(usize::MAX);
    let step = |opt: &mut Optimizer, x: &tch::Tensor, y: &tch::Tensor| {
        let logits = net.forward_t(x, true);
        let t = tch::no_grad(|| teacher.forward_t(x, false));
        let mut loss = ce_loss(&logits, y) + kd_loss(&logits, &t, 4.0);
        if masked {
            loss += net.mask_l1() * 1e-5;
        }
        opt.zero_grad();
        loss.backward();
        opt.step(1e-3);
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
    // one timing list per masked formula, then plain ReLU last
    let variants: Vec<Option<MaskFormula>> =
        c.formulas.iter().copied().map(Some).chain([None]).collect();
    let mut times = vec![Vec::new(); variants.len()];
    for _ in 0..c.epochs {
        for (variant, out) in variants.iter().zip(&mut times) {
            // every timed epoch starts from the same freshly seeded student and teacher
            tch::manual_seed(c.run.seed as i64);
            let mut net = cnn(&splits, device);
            let mut teacher = cnn(&splits, device);
            teacher.plain_relu = true; // as training's `Teacher` does
            match variant {
                Some(f) => net.relus_mut().for_each(|m| m.formula = *f),
                None => net.plain_relu = true,
            }
            out.push(epoch(
                &net,
                &teacher,
                variant.is_some(),
                &splits,
                &c,
                device,
                seed,
            ));
        }
    }
    let times: Vec<f64> = times.into_iter().map(median).collect();
    let (m, p) = (times[0], times[times.len() - 1]);
    let name = |f: &MaskFormula| {
        f.to_possible_value()
            .map_or_else(|| format!("{f:?}"), |v| v.get_name().to_string())
    };
    let per_formula: serde_json::Map<String, serde_json::Value> = c
        .formulas
        .iter()
        .zip(&times)
        .map(|(f, s)| (name(f), json!(s)))
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
                "formula": name(&c.formulas[0]),
                "default_formula": name(&MaskFormula::default()), "masked_s": m, "plain_s": p,
                "masked_over_plain": m / p, "formulas": per_formula,
            }))?
        ),
        OutputFormat::Text => {
            println!(
                "CNN linearization epoch, {} batches of {}, {threads} threads, {device:?}",
                batches, c.batch
            );
            for (f, s) in c.formulas.iter().zip(&times) {
                println!("masked ReLU ({:<8}) {s:>8.2} s", name(f));
            }
            println!("plain ReLU            {p:>8.2} s");
            println!("masked/plain          {:>8.3}", m / p);
        }
    }
    Ok(ExitStatus::Success)
}
