//! Pretraining from scratch: SGD on cross-entropy, checkpointed every epoch.
use serde::{Deserialize, Serialize};
use tch::{Device, Tensor};

use super::epoch::{run_epochs, Epoch, EpochStats, PhaseSteps, Tally};
use super::run::restore_optimizer;
use super::{accuracy, save_model, Phase, Result, RunDir, RunState, TrainError};
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
    let mut steps = PretrainSteps {
        cfg,
        schedule: cfg.schedule(),
        total: net.total_relus(),
        seed,
    };
    run_epochs(&net, &mut opt, run, splits, device, &mut state, &mut steps)?;
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

/// Pretraining's epochs: CE under the SGD schedule, every ReLU kept.
struct PretrainSteps<'a> {
    cfg: &'a SgdConfig,
    schedule: Schedule,
    total: i64,
    seed: u64,
}

impl PhaseSteps for PretrainSteps<'_> {
    fn phase(&self) -> Phase {
        Phase::Pretrain
    }

    fn another(&self, state: &RunState) -> bool {
        state.epoch < self.cfg.epochs
    }

    fn epoch(&mut self, e: usize, _: &RunState) -> Epoch {
        Epoch {
            label: format!("pretrain {}/{}", e + 1, self.cfg.epochs),
            status: format!("ReLUs {}/{}", self.total, self.total),
            batch: self.cfg.batch,
            lr: self.schedule.lr(self.cfg.lr, e),
            seed: data::epoch_seed(self.seed, e as u64),
            clip: None,
        }
    }

    fn loss(&self, logits: &Tensor, _: &Tensor, y: &Tensor, _: &Tensor) -> Tensor {
        ce_loss(logits, y)
    }

    fn end_epoch(&mut self, _: usize, _: &EpochStats, _: &mut RunState) -> Result<Tally> {
        Ok(Tally {
            kept: self.total,
            lambda: None,
        })
    }
}
