//! The epoch loop every phase shares ([`run_epochs`]: one pass over the training split,
//! then the checkpoint and the log line), and the frozen KD [`Teacher`].
use std::time::Instant;

use indicatif::{ProgressBar, ProgressStyle};
use tch::{Device, Kind, Tensor};

use super::run::log_epoch;
use super::{accuracy, EpochLog, Phase, Result, RunDir, RunState, TrainError};
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

/// What one epoch of a phase runs with.
pub(super) struct Epoch {
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

/// What an epoch's log line records besides the loss and accuracies.
pub(super) struct Tally {
    /// Kept ReLUs after the epoch.
    pub(super) kept: i64,
    /// λ used in the epoch (the mask phase).
    pub(super) lambda: Option<f64>,
}

/// One training phase as [`run_epochs`] drives it: which epochs run, with what settings
/// and loss, and what happens after each step and each epoch.
pub(super) trait PhaseSteps {
    /// The phase (log lines, the divergence error).
    fn phase(&self) -> Phase;
    /// Whether epoch `state.epoch` runs.
    fn another(&self, state: &RunState) -> bool;
    /// The settings of epoch `e` (0-based).
    fn epoch(&mut self, e: usize, state: &RunState) -> Epoch;
    /// The loss of a batch: `logits` of `x`, labels `y`, `idx` the batch's example indices
    /// in the training split (on the device).
    fn loss(&self, logits: &Tensor, x: &Tensor, y: &Tensor, idx: &Tensor) -> Tensor;
    /// Runs after every optimizer step; `Ok(true)` ends the epoch early.
    fn after_step(&mut self) -> Result<bool> {
        Ok(false)
    }
    /// Runs after epoch `e`'s pass and validation, before the checkpoint: updates `state`
    /// and says what the log line records.
    fn end_epoch(&mut self, e: usize, stats: &EpochStats, state: &mut RunState) -> Result<Tally>;
}

/// The epochs of one phase, from `state.epoch` while `steps` asks for another: a pass over
/// the training split ([`train_epoch`]), `steps.end_epoch`, then `state.epoch` advanced,
/// the checkpoint written and the epoch logged.
pub(super) fn run_epochs(
    net: &SnlNet,
    opt: &mut Optimizer,
    run: &RunDir,
    splits: &Splits,
    device: Device,
    state: &mut RunState,
    steps: &mut dyn PhaseSteps,
) -> Result<()> {
    let total = net.total_relus();
    while steps.another(state) {
        let e = state.epoch;
        let t0 = Instant::now();
        let ep = steps.epoch(e, state);
        let lr = ep.lr;
        let st = train_epoch(net, opt, splits, device, e, ep, steps)?;
        let tally = steps.end_epoch(e, &st, state)?;
        state.epoch += 1;
        run.save_checkpoint(net, opt, state)?;
        let line = EpochLog {
            phase: steps.phase(),
            epoch: e,
            loss: st.loss,
            train_acc: st.train_acc,
            val_acc: st.val,
            kept: tally.kept,
            total,
            lambda: tally.lambda,
            lr,
            seconds: t0.elapsed().as_secs_f64(),
        };
        log_epoch(run, &line)?;
    }
    Ok(())
}

/// One pass over the training split under a progress bar (epoch `index`, 0-based), then the
/// validation accuracy (`None` without a validation split). After every optimizer step
/// `steps.after_step()` may stop the epoch early. A NaN or infinite loss stops the pass at
/// once with [`TrainError::Diverged`], before the caller writes anything.
fn train_epoch(
    net: &SnlNet,
    opt: &mut Optimizer,
    splits: &Splits,
    device: Device,
    index: usize,
    ep: Epoch,
    steps: &mut dyn PhaseSteps,
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
        let loss = steps.loss(&logits, &x, &y, &idx);
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
                phase: steps.phase(),
                epoch: index + 1,
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
        if steps.after_step()? {
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
