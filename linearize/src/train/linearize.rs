//! Algorithm 1 from a pretrained model file, phase by phase: [`linearize`] starts or
//! resumes the run, [`mask_phase`] trains weights and masks under `CE + KD + λ‖c‖₁` until
//! the kept count reaches the budget, the masks are binarized, and
//! [`finetune`](super::finetune()) trains the weights with the masks frozen.
use std::collections::HashMap;
use std::path::Path;
use std::time::Instant;

use serde::{Deserialize, Serialize};
use tch::{Device, Tensor};

use super::epoch::{train_epoch, Epoch, Teacher};
use super::run::{log_epoch, restore_optimizer};
use super::{
    accuracy, finetune, load_vars, read_checkpoint, save_model, EpochLog, ModelFile, Phase, Result,
    RunDir, RunState, SgdConfig, TrainError, BINARY_THRESHOLD,
};
use crate::data::{self, Splits};
use crate::graph::SnlNet;
use crate::optim::{OptimKind, Optimizer};
use crate::snl::{ce_loss, LambdaSchedule};

/// Hyper-parameters of Algorithm 1.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LinearizeConfig {
    /// Absolute ReLU budget.
    pub budget: i64,
    /// λ₀.
    pub lambda0: f64,
    /// Threshold ε: a unit is kept when `c > ε`.
    pub eps: f64,
    /// Adam learning rate (weights and masks).
    pub lr: f64,
    /// Batch size.
    pub batch: usize,
    /// Give up after this many epochs.
    pub max_epochs: usize,
    /// KD temperature.
    pub temperature: f64,
    /// The fine-tune phase after binarization.
    pub finetune: SgdConfig,
}

/// What a linearization run ended with.
#[derive(Clone, Debug, Serialize)]
pub struct LinearizeOutcome {
    /// Whether the budget was reached.
    pub budget_reached: bool,
    /// Kept ReLUs at the end.
    pub kept: i64,
    /// All ReLUs.
    pub total: i64,
    /// Per ReLU layer `(units, kept)`.
    pub layers: Vec<(i64, i64)>,
    /// Test accuracy of the teacher.
    pub teacher_test: f64,
    /// Test accuracy right after binarization, before fine-tuning.
    pub binarized_test: f64,
    /// Test accuracy of the final model (best fine-tune epoch on validation).
    pub final_test: f64,
    /// Best validation accuracy during fine-tuning.
    pub best_val: Option<f64>,
    /// Linearization epochs.
    pub linearize_epochs: usize,
}

/// Algorithm 1 from a pretrained model file: linearize to the budget, binarize, fine-tune
/// with KD, keep the best validation checkpoint; writes `model.safetensors`.
pub fn linearize(
    run: &RunDir,
    teacher_path: &Path,
    cfg: &LinearizeConfig,
    splits: &Splits,
    seed: u64,
    device: Device,
    resume: bool,
) -> Result<LinearizeOutcome> {
    tch::manual_seed(seed as i64);
    // one read of the pretrained file: the frozen teacher and the student start equal
    let file = ModelFile::read(teacher_path)?;
    let (teacher, mut net, arch) = (file.build(device)?, file.build(device)?, file.arch);
    for m in net.relus_mut() {
        // every mask starts at 1 (the paper's initialisation)
        tch::no_grad(|| {
            let _ = m.c.fill_(1.0);
        });
    }
    let mut state = RunState {
        arch: arch.clone(),
        phase: Phase::Linearize,
        epoch: 0,
        seed,
        pretrain: None,
        linearize: Some(cfg.clone()),
        teacher: Some(teacher_path.to_path_buf()),
        lambda: Some(LambdaSchedule::new(cfg.lambda0)),
        best_val: None,
        kept_at_binarize: None,
        linearize_epochs: 0,
    };
    let mut named = HashMap::new();
    if resume {
        let (s, n) = read_checkpoint(&run.checkpoint())?;
        if s.arch != arch
            || s.linearize.as_ref() != Some(cfg)
            || s.seed != seed
            || s.teacher.as_deref() != Some(teacher_path)
        {
            return Err(TrainError::Checkpoint {
                path: run.checkpoint(),
                reason:
                    "it was made with other arguments (model, budget, hyper-parameters or seed)"
                        .into(),
            });
        }
        load_vars(&mut net, &n, &run.checkpoint())?;
        if s.phase != Phase::Linearize {
            net.binarize(BINARY_THRESHOLD); // c is already 0/1: freeze it
        }
        state = s;
        named = n;
        eprintln!("resuming {:?} after epoch {}", state.phase, state.epoch);
    }
    let total = net.total_relus();
    let teacher_test = accuracy(&teacher, &splits.test, device);
    let teacher = Teacher::new(teacher, cfg.temperature);

    if state.phase == Phase::Linearize {
        let resumed = (!named.is_empty()).then_some(&named);
        let kept = mask_phase(
            &net, &teacher, run, cfg, splits, &mut state, resumed, device,
        )?;
        if kept > cfg.budget {
            // Not reached: keep the state reached, binarized, and say so.
            net.binarize(cfg.eps);
            let test = accuracy(&net, &splits.test, device);
            save_model(
                &net,
                &arch,
                BINARY_THRESHOLD,
                &[
                    ("stage", "linearized (budget NOT reached)".into()),
                    ("test_accuracy", format!("{test:.4}")),
                ],
                &run.model(),
            )?;
            return Ok(LinearizeOutcome {
                budget_reached: false,
                kept,
                total,
                layers: net.relu_layers(BINARY_THRESHOLD),
                teacher_test,
                binarized_test: test,
                final_test: test,
                best_val: None,
                linearize_epochs: state.epoch,
            });
        }
        net.binarize(cfg.eps);
        state.kept_at_binarize = Some(net.kept_relus(BINARY_THRESHOLD));
        state.linearize_epochs = state.epoch;
        state.phase = Phase::Finetune;
        state.epoch = 0;
        named.clear();
    }
    let binarized_test = accuracy(&net, &splits.test, device);
    eprintln!(
        "binarized: {} of {} ReLUs kept, test accuracy {:.2}% before fine-tuning",
        net.kept_relus(BINARY_THRESHOLD),
        total,
        100.0 * binarized_test
    );
    let resumed = (!named.is_empty()).then_some(&named);
    let best = finetune(
        net,
        &teacher,
        run,
        &arch,
        &cfg.finetune,
        splits,
        &mut state,
        resumed,
        device,
    )?;
    let final_test = accuracy(&best, &splits.test, device);
    save_model(
        &best,
        &arch,
        BINARY_THRESHOLD,
        &[
            ("stage", "linearized + fine-tuned".into()),
            ("test_accuracy", format!("{final_test:.4}")),
            ("relu_budget", cfg.budget.to_string()),
        ],
        &run.model(),
    )?;
    state.phase = Phase::Done;
    Ok(LinearizeOutcome {
        budget_reached: true,
        kept: best.kept_relus(BINARY_THRESHOLD),
        total,
        layers: best.relu_layers(BINARY_THRESHOLD),
        teacher_test,
        binarized_test,
        final_test,
        best_val: state.best_val,
        linearize_epochs: state.linearize_epochs,
    })
}

/// The mask phase of Algorithm 1: Adam on weights and masks under `CE + KD + λ‖c‖₁`, the
/// λ schedule after every epoch, until `kept ≤ budget` or `max_epochs`. Checkpoints and logs
/// every epoch; returns the kept count (`c > ε`) at the end.
#[allow(clippy::too_many_arguments)]
fn mask_phase(
    net: &SnlNet,
    teacher: &Teacher,
    run: &RunDir,
    cfg: &LinearizeConfig,
    splits: &Splits,
    state: &mut RunState,
    resumed: Option<&HashMap<String, Tensor>>,
    device: Device,
) -> Result<i64> {
    let (mut weights, masks) = net.weights_and_masks();
    weights.extend(masks);
    let mut opt = Optimizer::new(
        OptimKind::Adam {
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.0,
        },
        weights,
    );
    if let Some(named) = resumed {
        restore_optimizer(&mut opt, named, run)?;
    }
    let total = net.total_relus();
    let mut kept = net.kept_relus(cfg.eps);
    while kept > cfg.budget && state.epoch < cfg.max_epochs {
        let e = state.epoch;
        let t0 = Instant::now();
        let lambda = state.lambda.as_ref().expect("λ state").lambda;
        let (loss, train_acc, val) = train_epoch(
            net,
            &mut opt,
            splits,
            device,
            Epoch {
                phase: Phase::Linearize,
                index: e,
                label: format!(
                    "linearize {}/≤{} (budget {})",
                    e + 1,
                    cfg.max_epochs,
                    cfg.budget
                ),
                status: format!("ReLUs {kept}/{total}  λ {lambda:.2e}"),
                batch: cfg.batch,
                lr: cfg.lr,
                seed: data::epoch_seed(state.seed, e as u64),
            },
            &|logits, x, y| ce_loss(logits, y) + teacher.kd(logits, x) + net.mask_l1() * lambda,
        )?;
        kept = net.kept_relus(cfg.eps);
        state.lambda.as_mut().expect("λ state").update(e, kept);
        state.epoch += 1;
        run.save_checkpoint(net, &opt, state)?;
        let line = EpochLog {
            phase: Phase::Linearize,
            epoch: e,
            loss,
            train_acc,
            val_acc: val,
            kept,
            total,
            lambda: Some(lambda),
            lr: cfg.lr,
            seconds: t0.elapsed().as_secs_f64(),
        };
        log_epoch(run, &line)?;
    }
    Ok(kept)
}
