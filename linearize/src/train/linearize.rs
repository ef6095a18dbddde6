//! Algorithm 1 from a pretrained model file, phase by phase: [`linearize`] starts or
//! resumes the run, [`mask_phase`] trains weights and masks under `CE + KD + λ‖c‖₁` until
//! the kept count reaches the budget (snapshotting the extra budgets of `--budgets` on the
//! way: each written to `budget-<B>/snapshot.safetensors` and kept in memory), the masks are
//! binarized, and [`finetune`](super::finetune()) trains the weights with the masks frozen —
//! in this folder for the budget, in `budget-<B>/` for each snapshot.
use std::collections::HashMap;
use std::path::Path;

use serde::{Deserialize, Serialize};
use tch::{Device, Tensor};

use super::epoch::{run_epochs, Epoch, EpochStats, PhaseSteps, Tally, Teacher};
use super::run::restore_optimizer;
use super::{
    accuracy, finetune_and_save, finetune_file, gap_points, load_vars, read_checkpoint, save_model,
    BudgetResult, ModelFile, Phase, Pretrained, Result, RunDir, RunState, SgdConfig, TrainError,
    BINARY_THRESHOLD, DATA_KEY,
};
use crate::arch::ArchConfig;
use crate::data::{self, Splits};
use crate::graph::SnlNet;
use crate::optim::{OptimKind, Optimizer};
use crate::snl::{ce_loss, Binarize, LambdaRule, LambdaSchedule};

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
    /// The λ schedule.
    #[serde(default)]
    pub lambda_rule: LambdaRule,
    /// Budget rule: epochs in which to reach the budget.
    #[serde(default)]
    pub target_epochs: usize,
    /// How the masks become binary.
    #[serde(default)]
    pub binarize: Binarize,
    /// Extra budgets (each larger than `budget`): the masks are snapshotted when the kept
    /// count first reaches each, and every snapshot is fine-tuned in `budget-<B>/`.
    #[serde(default)]
    pub snapshots: Vec<i64>,
}

impl Default for LinearizeConfig {
    /// The paper's hyper-parameters ([`paper`](crate::paper::paper())), budget 1 (set it).
    fn default() -> Self {
        crate::paper::paper().linearize
    }
}

impl LinearizeConfig {
    /// Whether `other` equals this configuration up to `max_epochs` and the fine-tune
    /// epochs (what `--resume` may change: a run can be extended).
    pub fn same_but_epochs(&self, other: &LinearizeConfig) -> bool {
        let mut o = other.clone();
        o.max_epochs = self.max_epochs;
        o.finetune.epochs = self.finetune.epochs;
        *self == o
    }

    /// The λ schedule at the start of the mask phase, for a network of `total` ReLUs.
    pub fn lambda_schedule(&self, total: i64) -> LambdaSchedule {
        match self.lambda_rule {
            LambdaRule::Paper => LambdaSchedule::new(self.lambda0),
            LambdaRule::Budget => {
                LambdaSchedule::budget_aware(self.lambda0, total, self.budget, self.target_epochs)
            }
        }
    }
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
    /// Validation accuracy with the soft masks at the end of the mask phase.
    pub soft_val: Option<f64>,
    /// Validation accuracy right after binarization.
    pub binarized_val: Option<f64>,
    /// `soft_val − binarized_val`, in points.
    pub binarization_gap: Option<f64>,
    /// Test accuracy right after binarization, before fine-tuning.
    pub binarized_test: f64,
    /// Test accuracy of the final model (best fine-tune epoch on validation).
    pub final_test: f64,
    /// Best validation accuracy during fine-tuning.
    pub best_val: Option<f64>,
    /// Linearization epochs.
    pub linearize_epochs: usize,
    /// Every budget, largest first (the extra budgets of `--budgets`, then the budget).
    pub budgets: Vec<BudgetResult>,
}

/// Algorithm 1 from a pretrained model file: linearize to the budget, binarize, fine-tune
/// with KD, keep the best validation checkpoint; writes `model.safetensors`. The data are
/// the teacher's (checked by [`Pretrained::check`]). Without `resume`, the folder's earlier
/// run is removed first; with it, `max_epochs` and the fine-tune epochs may grow.
pub fn linearize(
    run: &RunDir,
    pretrained: &Pretrained,
    cfg: &LinearizeConfig,
    seed: u64,
    device: Device,
    resume: bool,
) -> Result<LinearizeOutcome> {
    tch::manual_seed(seed as i64);
    let (file, splits) = (pretrained.file(), pretrained.splits());
    // the frozen teacher and the student start equal
    let teacher = file.build(device)?;
    let mut net = file.build(device)?;
    for m in net.relus_mut() {
        // every mask starts at 1 (the paper's initialisation)
        tch::no_grad(|| {
            let _ = m.c.fill_(1.0);
        });
    }
    let total = net.total_relus();
    let (mut state, mut named) = start(run, &file.path, cfg, &file.arch, seed, resume, &mut net)?;
    let teacher_test = accuracy(&teacher, &splits.test, device);
    let mut lin = Linearization {
        run,
        cfg,
        arch: &file.arch,
        splits,
        teacher: Teacher::new(teacher, cfg.temperature, splits, device),
        seed,
        device,
        resume,
        total,
        teacher_test,
        snapshots: Vec::new(),
    };
    if state.phase == Phase::Linearize {
        let kept = lin.mask_phase_and_binarize(&mut net, &mut state, named.as_ref())?;
        if kept > cfg.budget {
            return lin.not_reached(&net, kept, &state);
        }
        state.kept_at_binarize = Some(net.kept_relus(BINARY_THRESHOLD));
        state.linearize_epochs = state.epoch;
        state.phase = Phase::Finetune;
        state.epoch = 0;
        named = None;
    }
    lin.finetune(net, &mut state, named.as_ref())
}

/// A linearization under way: what its steps share, and the mask snapshots taken so far.
struct Linearization<'a> {
    run: &'a RunDir,
    cfg: &'a LinearizeConfig,
    arch: &'a ArchConfig,
    splits: &'a Splits,
    teacher: Teacher,
    seed: u64,
    device: Device,
    resume: bool,
    /// All ReLUs.
    total: i64,
    /// Test accuracy of the teacher.
    teacher_test: f64,
    /// The snapshots the mask phase took in this process (those of an earlier process are
    /// read from their files).
    snapshots: Vec<Snapshot>,
}

/// A mask snapshot taken by the mask phase: the model file as written to
/// `budget-<B>/snapshot.safetensors`, and the validation accuracy with the soft masks then.
struct Snapshot {
    budget: i64,
    file: ModelFile,
    soft_val: Option<f64>,
}

/// Metadata key of a snapshot file: the validation accuracy with the soft masks.
const SOFT_VAL_KEY: &str = "soft_val_accuracy";

impl Linearization<'_> {
    fn val(&self, net: &SnlNet) -> Option<f64> {
        (!self.splits.val.is_empty()).then(|| accuracy(net, &self.splits.val, self.device))
    }

    /// [`mask_phase`], then the masks binarized at ε; records the validation accuracy
    /// before and after in `state` and returns the kept count.
    fn mask_phase_and_binarize(
        &mut self,
        net: &mut SnlNet,
        state: &mut RunState,
        resumed: Option<&HashMap<String, Tensor>>,
    ) -> Result<i64> {
        if self.cfg.binarize == Binarize::Ste {
            net.set_straight_through(Some(self.cfg.eps));
        }
        let (kept, snapshots) = mask_phase(self, net, state, resumed)?;
        self.snapshots = snapshots;
        state.soft_val = self.val(net);
        net.set_straight_through(None);
        net.binarize(self.cfg.eps);
        state.binarized_val = self.val(net);
        Ok(kept)
    }

    /// The budget was not reached: the state reached is written, binarized, as the model;
    /// the extra budgets that were reached are still fine-tuned.
    fn not_reached(self, net: &SnlNet, kept: i64, state: &RunState) -> Result<LinearizeOutcome> {
        let test = accuracy(net, &self.splits.test, self.device);
        save_model(
            net,
            self.arch,
            BINARY_THRESHOLD,
            &[
                ("stage", "linearized (budget NOT reached)".into()),
                ("test_accuracy", format!("{test:.4}")),
                (DATA_KEY, self.data_json()),
            ],
            &self.run.model(),
        )?;
        let (total, teacher_test) = (self.total, self.teacher_test);
        let budgets = self.finetune_snapshots()?;
        Ok(LinearizeOutcome {
            budget_reached: false,
            kept,
            total,
            layers: net.relu_layers(BINARY_THRESHOLD),
            teacher_test,
            soft_val: state.soft_val,
            binarized_val: state.binarized_val,
            binarization_gap: gap_points(state.soft_val, state.binarized_val),
            binarized_test: test,
            final_test: test,
            best_val: None,
            linearize_epochs: state.epoch,
            budgets,
        })
    }

    /// The fine-tune of the binarized masks (this folder), then of every snapshot.
    fn finetune(
        self,
        net: SnlNet,
        state: &mut RunState,
        resumed: Option<&HashMap<String, Tensor>>,
    ) -> Result<LinearizeOutcome> {
        let binarized_test = accuracy(&net, &self.splits.test, self.device);
        eprintln!(
            "binarized: {} of {} ReLUs kept; validation {} with soft masks, {} binarized; test {:.2}% before fine-tuning",
            net.kept_relus(BINARY_THRESHOLD),
            self.total,
            pct(state.soft_val),
            pct(state.binarized_val),
            100.0 * binarized_test
        );
        let this = finetune_and_save(
            net,
            &self.teacher,
            self.run,
            self.arch,
            &self.cfg.finetune,
            self.splits,
            state,
            resumed,
            self.device,
            "linearized + fine-tuned",
            self.cfg.budget,
            binarized_test,
        )?;
        state.phase = Phase::Done;
        let (total, teacher_test) = (self.total, self.teacher_test);
        let mut budgets = self.finetune_snapshots()?;
        let (kept, layers, final_test) = (this.kept, this.layers.clone(), this.final_test);
        budgets.push(this);
        Ok(LinearizeOutcome {
            budget_reached: true,
            kept,
            total,
            layers,
            teacher_test,
            soft_val: state.soft_val,
            binarized_val: state.binarized_val,
            binarization_gap: gap_points(state.soft_val, state.binarized_val),
            binarized_test,
            final_test,
            best_val: state.best_val,
            linearize_epochs: state.linearize_epochs,
            budgets,
        })
    }

    /// Fine-tunes the snapshot of every extra budget that was reached, each as a run of its
    /// own in `budget-<B>/`; largest budget first. A snapshot taken in this process is
    /// used as kept in memory; one an earlier process took (a resumed run) is read from
    /// its file.
    fn finetune_snapshots(mut self) -> Result<Vec<BudgetResult>> {
        let mut budgets = Vec::new();
        for b in sorted_snapshots(self.cfg) {
            let sub = RunDir::create(&self.run.budget_dir(b))?;
            let (mask, soft) = match self.snapshots.iter().position(|s| s.budget == b) {
                Some(i) => {
                    let s = self.snapshots.remove(i);
                    (s.file, s.soft_val)
                }
                None if sub.snapshot().exists() => {
                    let file = ModelFile::read(&sub.snapshot())?;
                    let soft = file.info.get(SOFT_VAL_KEY).and_then(|v| v.parse().ok());
                    (file, soft)
                }
                None => continue, // not reached
            };
            eprintln!("== fine-tune the snapshot at budget {b}");
            budgets.push(finetune_file(
                &sub,
                &mask,
                &self.teacher,
                &self.cfg.finetune,
                self.splits,
                self.seed,
                self.device,
                self.resume,
                b,
                soft,
            )?);
        }
        Ok(budgets)
    }

    fn data_json(&self) -> String {
        serde_json::to_string(&self.splits.record).expect("data record")
    }
}

fn pct(v: Option<f64>) -> String {
    v.map_or("n/a".into(), |v| format!("{:.2}%", 100.0 * v))
}

/// The extra budgets, largest first, without the final budget.
fn sorted_snapshots(cfg: &LinearizeConfig) -> Vec<i64> {
    let mut b: Vec<i64> = cfg
        .snapshots
        .iter()
        .copied()
        .filter(|&b| b > cfg.budget)
        .collect();
    b.sort_unstable_by(|x, y| y.cmp(x));
    b.dedup();
    b
}

/// The run state at the start: fresh (the folder's earlier run removed), or read from the
/// checkpoint, whose arguments must match up to the epochs.
fn start(
    run: &RunDir,
    teacher_path: &Path,
    cfg: &LinearizeConfig,
    arch: &ArchConfig,
    seed: u64,
    resume: bool,
    net: &mut SnlNet,
) -> Result<(RunState, Option<HashMap<String, Tensor>>)> {
    if !resume {
        run.start_fresh()?;
        for b in &cfg.snapshots {
            let d = run.budget_dir(*b);
            if d.exists() {
                std::fs::remove_dir_all(&d).map_err(|source| TrainError::Io { path: d, source })?;
            }
        }
        let state = RunState {
            linearize: Some(cfg.clone()),
            teacher: Some(teacher_path.to_path_buf()),
            lambda: Some(cfg.lambda_schedule(net.total_relus())),
            ..RunState::new(arch, Phase::Linearize, seed)
        };
        return Ok((state, None));
    }
    let (mut s, n) = read_checkpoint(&run.checkpoint())?;
    let same = s.linearize.as_ref().is_some_and(|l| l.same_but_epochs(cfg));
    if s.arch != *arch || !same || s.seed != seed || s.teacher.as_deref() != Some(teacher_path) {
        return Err(TrainError::Checkpoint {
            path: run.checkpoint(),
            reason: "it was made with other arguments (model, budget, hyper-parameters other than --max-epochs/--finetune-epochs, or seed)".into(),
        });
    }
    load_vars(net, &n, &run.checkpoint())?;
    if s.phase != Phase::Linearize {
        net.binarize(BINARY_THRESHOLD); // c is already 0/1: freeze it
    }
    s.linearize = Some(cfg.clone());
    eprintln!("resuming {:?} after epoch {}", s.phase, s.epoch);
    Ok((s, Some(n)))
}

/// The mask phase of Algorithm 1: Adam on weights and masks under `CE + KD + λ‖c‖₁`, the
/// λ schedule after every epoch, until `kept ≤ budget` or `max_epochs`. The paper's rule
/// checks the budget after each epoch; the budget rule after every step (so it stops
/// within a batch of the budget). Extra budgets are snapshotted after the step that
/// reaches them. Checkpoints and logs every epoch; returns the kept count (`c > ε`) and
/// the snapshots taken.
fn mask_phase(
    lin: &Linearization,
    net: &SnlNet,
    state: &mut RunState,
    resumed: Option<&HashMap<String, Tensor>>,
) -> Result<(i64, Vec<Snapshot>)> {
    let (run, cfg) = (lin.run, lin.cfg);
    let (mut weights, masks) = net.weights_and_masks();
    weights.extend(masks);
    let mut opt = Optimizer::new(OptimKind::adam(), weights);
    if let Some(named) = resumed {
        restore_optimizer(&mut opt, named, run)?;
    }
    let mut steps = MaskSteps {
        lin,
        net,
        // snapshots not yet taken (a resumed run keeps those on disk)
        pending: sorted_snapshots(cfg)
            .into_iter()
            .filter(|&b| !run.budget_dir(b).join("snapshot.safetensors").exists())
            .collect(),
        taken: Vec::new(),
        stop_within_epoch: cfg.lambda_rule == LambdaRule::Budget,
        data_json: lin.data_json(),
        kept: net.kept_relus(cfg.eps),
        lambda: 0.0,
    };
    run_epochs(
        net, &mut opt, run, lin.splits, lin.device, state, &mut steps,
    )?;
    Ok((steps.kept, steps.taken))
}

/// The mask phase's epochs (see [`mask_phase`]).
struct MaskSteps<'a> {
    lin: &'a Linearization<'a>,
    net: &'a SnlNet,
    /// The extra budgets not yet snapshotted, largest first.
    pending: Vec<i64>,
    /// The snapshots taken.
    taken: Vec<Snapshot>,
    /// The budget rule checks the budget after every step.
    stop_within_epoch: bool,
    /// The data record's JSON, for the snapshots.
    data_json: String,
    /// Kept ReLUs (`c > ε`) after the last epoch.
    kept: i64,
    /// λ of the current epoch.
    lambda: f64,
}

impl MaskSteps<'_> {
    /// Snapshots every pending budget that `k` kept ReLUs reach: writes its file and keeps
    /// it.
    fn take_snapshots(&mut self, k: i64) -> Result<()> {
        while self.pending.first().is_some_and(|&b| k <= b) {
            let b = self.pending.remove(0);
            let soft_val = self.lin.val(self.net);
            let sub = RunDir::create(&self.lin.run.budget_dir(b))?;
            let file = ModelFile::of(
                self.net,
                self.lin.arch,
                self.lin.cfg.eps,
                &[
                    (
                        "stage",
                        format!("SNL mask snapshot at budget {b} ({k} kept)"),
                    ),
                    (
                        SOFT_VAL_KEY,
                        soft_val.map_or(String::new(), |v| v.to_string()),
                    ),
                    (DATA_KEY, self.data_json.clone()),
                ],
                &sub.snapshot(),
            );
            file.write()?;
            eprintln!(
                "snapshot: {k} ≤ {b} ReLUs kept → {}",
                sub.snapshot().display()
            );
            self.taken.push(Snapshot {
                budget: b,
                file,
                soft_val,
            });
        }
        Ok(())
    }
}

impl PhaseSteps for MaskSteps<'_> {
    fn phase(&self) -> Phase {
        Phase::Linearize
    }

    fn another(&self, state: &RunState) -> bool {
        self.kept > self.lin.cfg.budget && state.epoch < self.lin.cfg.max_epochs
    }

    fn epoch(&mut self, e: usize, state: &RunState) -> Epoch {
        self.lambda = state.lambda.as_ref().expect("λ state").lambda;
        let (cfg, kept, total, lambda) = (self.lin.cfg, self.kept, self.lin.total, self.lambda);
        Epoch {
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
            clip: None,
        }
    }

    fn loss(&self, logits: &Tensor, x: &Tensor, y: &Tensor, idx: &Tensor) -> Tensor {
        ce_loss(logits, y) + self.lin.teacher.kd(logits, x, idx) + self.net.mask_l1() * self.lambda
    }

    fn after_step(&mut self) -> Result<bool> {
        if self.pending.is_empty() && !self.stop_within_epoch {
            return Ok(false);
        }
        let k = self.net.kept_relus(self.lin.cfg.eps);
        self.take_snapshots(k)?;
        Ok(self.stop_within_epoch && k <= self.lin.cfg.budget)
    }

    fn end_epoch(&mut self, e: usize, _: &EpochStats, state: &mut RunState) -> Result<Tally> {
        self.kept = self.net.kept_relus(self.lin.cfg.eps);
        state.lambda.as_mut().expect("λ state").update(e, self.kept);
        Ok(Tally {
            kept: self.kept,
            lambda: Some(self.lambda),
        })
    }
}
