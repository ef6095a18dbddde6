//! Fine-tuning after binarization: the masks frozen, SGD on `CE + KD` with a cosine
//! schedule, the best epoch on the validation split kept in `best.safetensors`.
//! [`finetune`] runs the epochs (`epoch::run_epochs` with `FinetuneSteps`); [`finetune_file`]
//! runs it as a run of its own on a mask file (the snapshots of `--budgets` and the
//! baselines).
use std::collections::HashMap;
use std::path::PathBuf;

use serde::Serialize;
use tch::{Device, Tensor};

use super::epoch::{run_epochs, Epoch, EpochStats, PhaseSteps, Tally, Teacher};
use super::run::restore_optimizer;
use super::{
    accuracy, load_model, load_vars, read_checkpoint, save_model, ModelFile, Phase, Result, RunDir,
    RunState, SgdConfig, TrainError, BINARY_THRESHOLD, DATA_KEY,
};
use crate::arch::ArchConfig;
use crate::data::{self, Splits};
use crate::graph::SnlNet;
use crate::optim::{OptimKind, Optimizer, Schedule};
use crate::snl::ce_loss;

/// Global gradient-norm limit of every fine-tune step (all methods alike). A good mask's
/// gradients stay far below it; a poor one (a random 20% mask starts at ~25% accuracy) makes
/// SGD at the paper's lr 1e-3 diverge to NaN within an epoch without it.
pub const FINETUNE_GRAD_CLIP: f64 = 5.0;

/// Fine-tunes the weights of `net` (binary masks, frozen) for `ft.epochs` epochs from
/// `state.epoch`, checkpointing every epoch; returns the network of the best validation
/// epoch (the last epoch without a validation split; `net` itself without epochs — a
/// `best.safetensors` is only read when this run wrote it).
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
    let mut steps = FinetuneSteps {
        net: &net,
        teacher,
        run,
        arch,
        ft,
        schedule: ft.schedule(),
        kept: net.kept_relus(BINARY_THRESHOLD),
        total: net.total_relus(),
        data: serde_json::to_string(&splits.record).expect("data record"),
    };
    run_epochs(&net, &mut opt, run, splits, device, state, &mut steps)?;
    // the selected checkpoint (a fresh run removed any earlier run's best.safetensors)
    let mut best = if state.epoch > 0 && run.best().exists() {
        load_model(&run.best(), device)?.0
    } else {
        net
    };
    best.binarize(BINARY_THRESHOLD);
    Ok(best)
}

/// The fine-tune's epochs: CE + KD under the cosine schedule, the masks frozen; the best
/// epoch on validation written to `best.safetensors`.
struct FinetuneSteps<'a> {
    net: &'a SnlNet,
    teacher: &'a Teacher,
    run: &'a RunDir,
    arch: &'a ArchConfig,
    ft: &'a SgdConfig,
    schedule: Schedule,
    kept: i64,
    total: i64,
    /// The data record's JSON, for `best.safetensors`.
    data: String,
}

impl PhaseSteps for FinetuneSteps<'_> {
    fn phase(&self) -> Phase {
        Phase::Finetune
    }

    fn another(&self, state: &RunState) -> bool {
        state.epoch < self.ft.epochs
    }

    fn epoch(&mut self, e: usize, state: &RunState) -> Epoch {
        Epoch {
            label: format!("finetune {}/{}", e + 1, self.ft.epochs),
            status: format!("ReLUs {}/{} (frozen)", self.kept, self.total),
            batch: self.ft.batch,
            lr: self.schedule.lr(self.ft.lr, e),
            seed: data::epoch_seed(state.seed ^ 0xF1, e as u64),
            clip: Some(FINETUNE_GRAD_CLIP),
        }
    }

    fn loss(&self, logits: &Tensor, x: &Tensor, y: &Tensor, idx: &Tensor) -> Tensor {
        ce_loss(logits, y) + self.teacher.kd(logits, x, idx)
    }

    /// Selects on validation (not on test); without a validation split the last epoch is
    /// kept.
    fn end_epoch(&mut self, _: usize, st: &EpochStats, state: &mut RunState) -> Result<Tally> {
        let better = match (st.val, state.best_val) {
            (Some(v), Some(b)) => v > b,
            _ => true,
        };
        if better {
            state.best_val = st.val;
            save_model(
                self.net,
                self.arch,
                BINARY_THRESHOLD,
                &[
                    ("stage", "fine-tune best on validation".into()),
                    (DATA_KEY, self.data.clone()),
                ],
                &self.run.best(),
            )?;
        }
        Ok(Tally {
            kept: self.kept,
            lambda: None,
        })
    }
}

/// The result of fine-tuning one mask (one budget of `--budgets`, or a baseline).
#[derive(Clone, Debug, Serialize)]
pub struct BudgetResult {
    /// The budget asked for.
    pub budget: i64,
    /// Kept ReLUs of the binary mask.
    pub kept: i64,
    /// All ReLUs.
    pub total: i64,
    /// Per ReLU layer `(units, kept)`.
    pub layers: Vec<(i64, i64)>,
    /// Validation accuracy with the soft masks when the mask was taken (SNL only).
    pub soft_val: Option<f64>,
    /// Validation accuracy of the binary mask before fine-tuning.
    pub binarized_val: Option<f64>,
    /// `soft_val − binarized_val` in points (SNL only).
    pub binarization_gap: Option<f64>,
    /// Test accuracy of the binary mask before fine-tuning.
    pub binarized_test: f64,
    /// Best validation accuracy during fine-tuning.
    pub best_val: Option<f64>,
    /// Test accuracy of the best validation epoch (tested once).
    pub final_test: f64,
    /// The fine-tuned model file.
    pub model: PathBuf,
}

/// Points between two accuracies in [0, 1].
pub fn gap_points(soft: Option<f64>, binarized: Option<f64>) -> Option<f64> {
    Some(100.0 * (soft? - binarized?))
}

/// Fine-tunes the binary mask of `mask` (its weights as the start; refused when made with
/// other data than `splits`) as a run of its own in `run` (fresh, or resumed from its
/// checkpoint), KD from `teacher`; writes `model.safetensors` and returns the result.
/// `budget` and `soft_val` are reported as given.
#[allow(clippy::too_many_arguments)]
pub fn finetune_file(
    run: &RunDir,
    mask: &ModelFile,
    teacher: &Teacher,
    ft: &SgdConfig,
    splits: &Splits,
    seed: u64,
    device: Device,
    resume: bool,
    budget: i64,
    soft_val: Option<f64>,
) -> Result<BudgetResult> {
    mask.check_data(splits, true)?;
    let mut net = mask.build(device)?;
    net.binarize(BINARY_THRESHOLD);
    let arch = mask.arch.clone();
    let mut state = RunState {
        finetune: Some(ft.clone()),
        teacher: Some(mask.path.clone()),
        soft_val,
        ..RunState::new(&arch, Phase::Finetune, seed)
    };
    let mut named = None;
    if resume && run.checkpoint().exists() {
        let (s, n) = read_checkpoint(&run.checkpoint())?;
        let same = s.finetune.as_ref().is_some_and(|f| f.same_but_epochs(ft));
        if s.arch != arch || !same || s.seed != seed {
            return Err(TrainError::Checkpoint {
                path: run.checkpoint(),
                reason: "it was made with other arguments (fine-tune hyper-parameters other than --finetune-epochs, or seed)".into(),
            });
        }
        load_vars(&mut net, &n, &run.checkpoint())?;
        state = s;
        state.finetune = Some(ft.clone());
        named = Some(n);
    } else {
        run.start_fresh()?;
    }
    let val = |n: &SnlNet| (!splits.val.is_empty()).then(|| accuracy(n, &splits.val, device));
    // the binary mask before any fine-tune epoch: from `mask`, whatever was resumed
    let (binarized_val, binarized_test) = {
        let mut start = mask.build(device)?;
        start.binarize(BINARY_THRESHOLD);
        (val(&start), accuracy(&start, &splits.test, device))
    };
    state.binarized_val = binarized_val;
    finetune_and_save(
        net,
        teacher,
        run,
        &arch,
        ft,
        splits,
        &mut state,
        named.as_ref(),
        device,
        "mask fine-tuned",
        budget,
        binarized_test,
    )
}

/// [`finetune`], then the best epoch's model written to `run.model()` (with `stage`, its
/// test accuracy, `budget` and the data record) and reported as that budget's result; the
/// soft and binarized validation accuracies are `state`'s.
#[allow(clippy::too_many_arguments)]
pub fn finetune_and_save(
    net: SnlNet,
    teacher: &Teacher,
    run: &RunDir,
    arch: &ArchConfig,
    ft: &SgdConfig,
    splits: &Splits,
    state: &mut RunState,
    resumed: Option<&HashMap<String, Tensor>>,
    device: Device,
    stage: &str,
    budget: i64,
    binarized_test: f64,
) -> Result<BudgetResult> {
    let best = finetune(net, teacher, run, arch, ft, splits, state, resumed, device)?;
    let final_test = accuracy(&best, &splits.test, device);
    save_model(
        &best,
        arch,
        BINARY_THRESHOLD,
        &[
            ("stage", stage.into()),
            ("test_accuracy", format!("{final_test:.4}")),
            ("relu_budget", budget.to_string()),
            (
                DATA_KEY,
                serde_json::to_string(&splits.record).expect("data record"),
            ),
        ],
        &run.model(),
    )?;
    Ok(BudgetResult {
        budget,
        kept: best.kept_relus(BINARY_THRESHOLD),
        total: best.total_relus(),
        layers: best.relu_layers(BINARY_THRESHOLD),
        soft_val: state.soft_val,
        binarized_val: state.binarized_val,
        binarization_gap: gap_points(state.soft_val, state.binarized_val),
        binarized_test,
        best_val: state.best_val,
        final_test,
        model: run.model(),
    })
}
