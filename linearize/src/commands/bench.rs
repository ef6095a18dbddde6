//! `snl bench`: times linearization epochs of the Fashion-MNIST CNN (Adam on weights and
//! masks, CE + KD(T=4) from a frozen teacher + λ‖c‖₁, batch 128), once with SNL's masked
//! ReLU and once with plain ReLUs (no masks, no L1), and prints seconds and their ratio.
//! `papers/bench/run.sh` runs it back to back with the PyTorch reference
//! `papers/bench/bench_torch.py` and prints ours/PyTorch. A benchmark, not a test.
use std::time::Instant;

use anyhow::bail;
use serde_json::json;
use tch::Device;

use crate::arch::{Arch, ArchConfig, ReluConvention};
use crate::cli::{DataArgs, ExitStatus, OutputFormat, RunArgs};
use crate::data::{self, Splits};
use crate::graph::SnlNet;
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
    let seed = data::epoch_seed(c.run.seed, 0);
    let mut masked = Vec::new();
    let mut plain = Vec::new();
    for _ in 0..c.epochs {
        for is_masked in [true, false] {
            // every timed epoch starts from the same freshly seeded student and teacher
            tch::manual_seed(c.run.seed as i64);
            let mut net = cnn(&splits, device);
            let teacher = cnn(&splits, device);
            net.plain_relu = !is_masked;
            let s = epoch(&net, &teacher, is_masked, &splits, &c, device, seed);
            if is_masked {
                masked.push(s)
            } else {
                plain.push(s)
            }
        }
    }
    let (m, p) = (median(masked), median(plain));
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
                "masked_s": m, "plain_s": p, "masked_over_plain": m / p,
            }))?
        ),
        OutputFormat::Text => {
            println!(
                "CNN linearization epoch, {} batches of {}, {threads} threads, {device:?}",
                batches, c.batch
            );
            println!("masked ReLU  {m:>8.2} s");
            println!("plain ReLU   {p:>8.2} s");
            println!("masked/plain {:>8.3}", m / p);
        }
    }
    Ok(ExitStatus::Success)
}
