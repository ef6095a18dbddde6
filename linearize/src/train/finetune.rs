//! Fine-tuning after binarization: the masks frozen, SGD on `CE + KD` with a cosine
//! schedule, the best epoch on the validation split kept in `best.safetensors`.
use std::collections::HashMap;
use std::time::Instant;

use tch::{Device, Tensor};

use super::epoch::{train_epoch, Epoch, Teacher};
use super::run::{log_epoch, restore_optimizer};
use super::{
    load_model, save_model, EpochLog, Phase, Result, RunDir, RunState, SgdConfig, BINARY_THRESHOLD,
};
use crate::arch::ArchConfig;
use crate::data::{self, Splits};
use crate::graph::SnlNet;
use crate::optim::{OptimKind, Optimizer};
use crate::snl::ce_loss;

/// Fine-tunes the weights of `net` (binary masks, frozen) for `ft.epochs` epochs from
/// `state.epoch`, checkpointing every epoch; returns the network of the best validation
/// epoch (the last epoch without a validation split; `net` itself without epochs).
#[allow(clippy::too_many_arguments)]
pub fn finetune(
    net: SnlNet,
    teacher: &Teacher,
    run: &RunDir,
    arch: &ArchConfig,
    ft: &SgdConfig,
    splits: &Splits,
    state: &mut RunState,
    resumed: Option<&HashMap<String, Tensor>>,
    device: Device,
) -> Result<SnlNet> {
    let (weights, _) = net.weights_and_masks();
    let mut opt = Optimizer::new(
        OptimKind::Sgd {
            momentum: ft.momentum,
            weight_decay: ft.weight_decay,
        },
        weights,
    );
    if let Some(named) = resumed {
        restore_optimizer(&mut opt, named, run)?;
    }
    let schedule = ft.schedule();
    let total = net.total_relus();
    let kept = net.kept_relus(BINARY_THRESHOLD);
    while state.epoch < ft.epochs {
        let e = state.epoch;
        let t0 = Instant::now();
        let lr = schedule.lr(ft.lr, e);
        let (loss, train_acc, val) = train_epoch(
            &net,
            &mut opt,
            splits,
            device,
            Epoch {
                phase: Phase::Finetune,
                index: e,
                label: format!("finetune {}/{}", e + 1, ft.epochs),
                status: format!("ReLUs {kept}/{total} (frozen)"),
                batch: ft.batch,
                lr,
                seed: data::epoch_seed(state.seed ^ 0xF1, e as u64),
            },
            &|logits, x, y| ce_loss(logits, y) + teacher.kd(logits, x),
        )?;
        // select on validation (not test, unlike the original code); without a
        // validation split the last epoch is kept
        let better = match (val, state.best_val) {
            (Some(v), Some(b)) => v > b,
            _ => true,
        };
        if better {
            state.best_val = val;
            save_model(
                &net,
                arch,
                BINARY_THRESHOLD,
                &[("stage", "fine-tune best on validation".into())],
                &run.best(),
            )?;
        }
        state.epoch += 1;
        run.save_checkpoint(&net, &opt, state)?;
        let line = EpochLog {
            phase: Phase::Finetune,
            epoch: e,
            loss,
            train_acc,
            val_acc: val,
            kept,
            total,
            lambda: None,
            lr,
            seconds: t0.elapsed().as_secs_f64(),
        };
        log_epoch(run, &line)?;
    }
    // the selected checkpoint
    let mut best = if run.best().exists() {
        load_model(&run.best(), device)?.0
    } else {
        net
    };
    best.binarize(BINARY_THRESHOLD);
    Ok(best)
}
