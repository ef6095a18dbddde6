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
    /// Clip the gradients' global norm to this before each step.
    pub(super) clip: Option<f64>,
}

/// `(mean loss, train accuracy, validation accuracy)` of one epoch.
pub(super) struct EpochStats {
    pub(super) loss: f64,
    pub(super) train_acc: f64,
    pub(super) val: Option<f64>,
}

/// The loss of a batch: `loss_of(logits, x, y, idx)`, `idx` the batch's example indices in
/// the training split (on the device).
pub(super) type LossFn<'a> = &'a dyn Fn(&Tensor, &Tensor, &Tensor, &Tensor) -> Tensor;

/// One pass over the training split under a progress bar, then the validation accuracy
/// (`None` without a validation split). After every optimizer step `after_step()` may stop
/// the epoch early (`Ok(true)`). A NaN or infinite loss stops the pass at once with
/// [`TrainError::Diverged`], before the caller writes anything.
pub(super) fn train_epoch(
    net: &SnlNet,
    opt: &mut Optimizer,
    splits: &Splits,
    device: Device,
    ep: Epoch,
    loss_of: LossFn,
    after_step: &mut dyn FnMut() -> Result<bool>,
) -> Result<EpochStats> {
    let pb = progress(n_batches(&splits.train, ep.batch), ep.label);
    let mut rng = data::SeededRng::new(ep.seed ^ snl_theory::rng::seeds::AUGMENT);
    let (mut loss_sum, mut correct, mut seen) = (0.0, 0i64, 0usize);
    let order = splits.train.batch_order(ep.seed);
    let batches_iter = splits.train.batches(ep.batch, ep.seed, device);
    for ((x, y), idx) in batches_iter.zip(order.chunks(ep.batch)) {
        let idx = Tensor::from_slice(idx).to_device(device);
        let x = if splits.augment {
            data::augment(&x, &mut rng)
        } else {
            x
        };
        let logits = net.forward_t(&x, true);
        let loss = loss_of(&logits, &x, &y, &idx);
        opt.zero_grad();
        loss.backward();
        if let Some(max) = ep.clip {
            opt.clip_grad_norm(max);
        }
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
        if after_step()? {
            break;
        }
    }
    pb.finish_and_clear();
    let val = (!splits.val.is_empty()).then(|| accuracy(net, &splits.val, device));
    Ok(EpochStats {
        loss: loss_sum / seen.max(1) as f64,
        train_acc: correct as f64 / seen.max(1) as f64,
        val,
    })
}

/// An `after_step` that never stops the epoch.
pub(super) fn never() -> Result<bool> {
    Ok(false)
}

fn n_batches(d: &Dataset, batch: usize) -> usize {
    d.len().div_ceil(batch)
}

/// The frozen teacher of knowledge distillation: plain ReLUs (no mask arithmetic, no mask
/// gradients), its temperature, and — when the training batches are not augmented — its
/// logits on the whole training split, computed once.
pub struct Teacher {
    net: SnlNet,
    temperature: f64,
    cache: Option<Tensor>,
}

impl Teacher {
    /// The teacher in eval mode; caches its training-split logits when `splits.augment` is
    /// off (the inputs of every epoch are then the same examples).
    pub fn new(mut net: SnlNet, temperature: f64, splits: &Splits, device: Device) -> Self {
        net.plain_relu = true;
        let cache = (!splits.augment && !splits.train.is_empty()).then(|| {
            tch::no_grad(|| {
                let parts: Vec<Tensor> = splits
                    .train
                    .batches_in_order(512, device)
                    .map(|(x, _)| net.forward_t(&x, false))
                    .collect();
                Tensor::cat(&parts, 0)
            })
        });
        Self {
            net,
            temperature,
            cache,
        }
    }

    /// The teacher network.
    pub fn net(&self) -> &SnlNet {
        &self.net
    }

    /// Whether the logits are cached.
    pub fn is_cached(&self) -> bool {
        self.cache.is_some()
    }

    /// The teacher's logits on batch `x`, whose training-split indices are `idx`.
    pub fn logits(&self, x: &Tensor, idx: &Tensor) -> Tensor {
        match &self.cache {
            Some(c) => c.index_select(0, idx),
            None => tch::no_grad(|| self.net.forward_t(x, false)),
        }
    }

    /// `KD_T(student logits, teacher(x))`.
    pub fn kd(&self, logits: &Tensor, x: &Tensor, idx: &Tensor) -> Tensor {
        crate::snl::kd_loss(logits, &self.logits(x, idx), self.temperature)
    }
}
