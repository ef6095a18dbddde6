//! One pass over the training split: the loop every phase shares.
use indicatif::{ProgressBar, ProgressStyle};
use tch::{Device, Kind, Tensor};

use super::{accuracy, Phase, Result, TrainError};
use crate::data::{self, Dataset, Splits};
use crate::graph::SnlNet;
use crate::optim::Optimizer;

fn progress(len: usize, prefix: String) -> ProgressBar {
    let pb = ProgressBar::new(len as u64);
    pb.set_style(
        ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} batches, ETA {eta} | {msg}")
            .expect("template")
            .progress_chars("=> "),
    );
    pb.set_prefix(prefix);
    pb
}

/// What one training epoch runs with.
pub(super) struct Epoch {
    /// The phase (for the divergence error).
    pub(super) phase: Phase,
    /// 0-based epoch within the phase.
    pub(super) index: usize,
    /// Progress-bar prefix, e.g. `pretrain 2/3`.
    pub(super) label: String,
    /// Shown after loss and accuracy, e.g. kept ReLUs and λ.
    pub(super) status: String,
    pub(super) batch: usize,
    pub(super) lr: f64,
    pub(super) seed: u64,
}

/// One pass over the training split under a progress bar, then the validation accuracy
/// (`None` without a validation split); `loss_of(logits, x, y)` gives the loss. A NaN or
/// infinite loss stops the pass at once with [`TrainError::Diverged`], before the caller
/// writes anything. Returns `(mean loss, train accuracy, validation accuracy)`.
pub(super) fn train_epoch(
    net: &SnlNet,
    opt: &mut Optimizer,
    splits: &Splits,
    device: Device,
    ep: Epoch,
    loss_of: &dyn Fn(&Tensor, &Tensor, &Tensor) -> Tensor,
) -> Result<(f64, f64, Option<f64>)> {
    let pb = progress(n_batches(&splits.train, ep.batch), ep.label);
    let mut rng = data::SeededRng::new(ep.seed ^ 0xA5A5_5A5A);
    let (mut loss_sum, mut correct, mut seen) = (0.0, 0i64, 0usize);
    for (x, y) in splits.train.batches(ep.batch, ep.seed, device) {
        let x = if splits.augment {
            data::augment(&x, &mut rng)
        } else {
            x
        };
        let logits = net.forward_t(&x, true);
        let loss = loss_of(&logits, &x, &y);
        opt.zero_grad();
        loss.backward();
        opt.step(ep.lr);
        let n = y.size()[0] as usize;
        let l = loss.double_value(&[]);
        if !l.is_finite() {
            pb.finish_and_clear();
            return Err(TrainError::Diverged {
                phase: ep.phase,
                epoch: ep.index + 1,
                loss: l,
            });
        }
        loss_sum += l * n as f64;
        correct += logits
            .argmax(-1, false)
            .eq_tensor(&y)
            .sum(Kind::Int64)
            .int64_value(&[]);
        seen += n;
        pb.inc(1);
        pb.set_message(format!(
            "loss {:.4}  acc {:.1}%  {}",
            loss_sum / seen as f64,
            100.0 * correct as f64 / seen as f64,
            ep.status
        ));
    }
    pb.finish_and_clear();
    let val = (!splits.val.is_empty()).then(|| accuracy(net, &splits.val, device));
    Ok((
        loss_sum / seen.max(1) as f64,
        correct as f64 / seen.max(1) as f64,
        val,
    ))
}

fn n_batches(d: &Dataset, batch: usize) -> usize {
    d.len().div_ceil(batch)
}

/// The frozen teacher of knowledge distillation and its temperature.
pub struct Teacher {
    net: SnlNet,
    temperature: f64,
}

impl Teacher {
    /// A teacher evaluated in eval mode.
    pub fn new(net: SnlNet, temperature: f64) -> Self {
        Self { net, temperature }
    }

    /// `KD_T(student logits, teacher(x))`.
    pub fn kd(&self, logits: &Tensor, x: &Tensor) -> Tensor {
        let t = tch::no_grad(|| self.net.forward_t(x, false));
        crate::snl::kd_loss(logits, &t, self.temperature)
    }
}
