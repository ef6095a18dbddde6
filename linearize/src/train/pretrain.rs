//! Pretraining from scratch: SGD on cross-entropy, checkpointed every epoch.
use std::time::Instant;

use serde::{Deserialize, Serialize};
use tch::Device;

use super::epoch::{never, train_epoch, Epoch};
use super::run::{log_epoch, restore_optimizer};
use super::{accuracy, save_model, EpochLog, Phase, Result, RunDir, RunState, TrainError};
use super::{load_vars, read_checkpoint, BINARY_THRESHOLD, DATA_KEY};
use crate::arch::ArchConfig;
use crate::data::{self, Splits};
use crate::graph::SnlNet;
use crate::optim::{OptimKind, Optimizer, Schedule};
use crate::snl::ce_loss;

/// Hyper-parameters of an SGD phase (pretraining or fine-tuning).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SgdConfig {
    /// Epochs.
    pub epochs: usize,
    /// Base learning rate.
    pub lr: f64,
    /// Momentum.
    pub momentum: f64,
    /// Weight decay.
    pub weight_decay: f64,
    /// Batch size.
    pub batch: usize,
    /// `cosine`, or step decay ×0.1 at these epochs when non-empty.
    pub milestones: Vec<usize>,
    /// Cosine schedule (else step/constant).
    pub cosine: bool,
}

impl SgdConfig {
    /// Whether `other` is this configuration with perhaps another number of epochs (what
    /// `--resume` may change: a run can be extended).
    pub fn same_but_epochs(&self, other: &SgdConfig) -> bool {
        let mut o = other.clone();
        o.epochs = self.epochs;
        *self == o
    }

    pub(super) fn schedule(&self) -> Schedule {
        if self.cosine {
            Schedule::Cosine {
                epochs: self.epochs,
            }
        } else if self.milestones.is_empty() {
            Schedule::Constant
        } else {
            Schedule::Step {
                milestones: self.milestones.clone(),
                gamma: 0.1,
            }
        }
    }
}

/// Pretrains `arch` from scratch (SGD, CE), checkpointing every epoch; writes
/// `model.safetensors` at the end, with the data record of `splits`. The network runs plain
/// ReLUs (the masks are neither used nor given gradients). Without `resume` the folder's
/// earlier run is removed first; with `resume`, continues from the run's checkpoint, and
/// `cfg.epochs` may exceed the planned epochs (the run is extended; a cosine schedule is
/// then stretched over the new length from the next epoch on).
pub fn pretrain(
    run: &RunDir,
    arch: &ArchConfig,
    cfg: &SgdConfig,
    splits: &Splits,
    seed: u64,
    device: Device,
    resume: bool,
) -> Result<(SnlNet, f64)> {
    tch::manual_seed(seed as i64);
    let mut net = arch.build(device);
    net.plain_relu = true;
    let (weights, _) = net.weights_and_masks();
    let kind = OptimKind::Sgd {
        momentum: cfg.momentum,
        weight_decay: cfg.weight_decay,
    };
    let mut opt = Optimizer::new(kind, weights);
    let mut state = RunState {
        pretrain: Some(cfg.clone()),
        ..RunState::new(arch, Phase::Pretrain, seed)
    };
    if resume {
        let (s, named) = read_checkpoint(&run.checkpoint())?;
        let same = s.pretrain.as_ref().is_some_and(|p| p.same_but_epochs(cfg));
        if s.arch != *arch || !same || s.seed != seed {
            return Err(TrainError::Checkpoint {
                path: run.checkpoint(),
                reason: "it was made with other arguments (architecture, hyper-parameters other than --epochs, or seed)"
                    .into(),
            });
        }
        load_vars(&mut net, &named, &run.checkpoint())?;
        restore_optimizer(&mut opt, &named, run)?;
        state = s;
        state.pretrain = Some(cfg.clone());
        eprintln!("resuming pretraining after epoch {}", state.epoch);
    } else {
        run.start_fresh()?;
    }
    let schedule = cfg.schedule();
    let total = net.total_relus();
    while state.epoch < cfg.epochs {
        let e = state.epoch;
        let t0 = Instant::now();
        let lr = schedule.lr(cfg.lr, e);
        let st = train_epoch(
            &net,
            &mut opt,
            splits,
            device,
            Epoch {
                phase: Phase::Pretrain,
                index: e,
                label: format!("pretrain {}/{}", e + 1, cfg.epochs),
                status: format!("ReLUs {total}/{total}"),
                batch: cfg.batch,
                lr,
                seed: data::epoch_seed(seed, e as u64),
                clip: None,
            },
            &|logits, _, y, _| ce_loss(logits, y),
            &mut never,
        )?;
        state.epoch += 1;
        run.save_checkpoint(&net, &opt, &state)?;
        let line = EpochLog {
            phase: Phase::Pretrain,
            epoch: e,
            loss: st.loss,
            train_acc: st.train_acc,
            val_acc: st.val,
            kept: total,
            total,
            lambda: None,
            lr,
            seconds: t0.elapsed().as_secs_f64(),
        };
        log_epoch(run, &line)?;
    }
    let test = accuracy(&net, &splits.test, device);
    save_model(
        &net,
        arch,
        BINARY_THRESHOLD,
        &[
            ("test_accuracy", format!("{test:.4}")),
            ("stage", "pretrained".into()),
            (
                DATA_KEY,
                serde_json::to_string(&splits.record).expect("data record"),
            ),
        ],
        &run.model(),
    )?;
    Ok((net, test))
}
