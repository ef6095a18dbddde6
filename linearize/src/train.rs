//! The training loops: pretraining, SNL linearization (Algorithm 1) and fine-tuning, with
//! per-epoch checkpoints (one atomic file), a JSON-lines log and exact resume.
//!
//! A run lives in one folder: `checkpoint.safetensors` (weights, masks, optimizer state and
//! the run state as JSON, written atomically after every epoch), `log.jsonl` (one line per
//! epoch), `best.safetensors` (the best fine-tune checkpoint on the validation split, an snl
//! model file) and, when done, `model.safetensors` (the result, an snl model file).
use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use indicatif::{ProgressBar, ProgressStyle};
use serde::{Deserialize, Serialize};
use tch::{Device, Kind, Tensor};

use crate::arch::ArchConfig;
use crate::data::{self, Dataset, Splits};
use crate::graph::SnlNet;
use crate::optim::{OptimKind, Optimizer, Schedule};
use crate::snl::{ce_loss, kd_loss, LambdaSchedule};

/// Errors of a run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TrainError {
    /// File-system trouble with the run folder.
    #[error("{}: {source}", path.display())]
    Io {
        /// The path.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// A checkpoint that cannot be resumed.
    #[error("{}: cannot resume: {reason}", path.display())]
    Checkpoint {
        /// The checkpoint.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// libtorch failed.
    #[error("libtorch: {0}")]
    Torch(#[from] tch::TchError),
    /// The model file could not be written or read.
    #[error(transparent)]
    Model(#[from] snl_theory::Error),
    /// The loss became NaN or infinite.
    #[error("training diverged in {phase:?} epoch {epoch} (loss {loss}); lower the learning rate (the last good checkpoint is kept)")]
    Diverged {
        /// Phase.
        phase: Phase,
        /// Epoch (1-based).
        epoch: usize,
        /// The loss.
        loss: f64,
    },
    /// A model file that the linearizer cannot rebuild.
    #[error("{}: {reason}", path.display())]
    Incompatible {
        /// The model file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
}

/// `Result` with [`TrainError`].
pub type Result<T> = std::result::Result<T, TrainError>;

/// Metadata key holding the [`ArchConfig`] JSON in model files written by `snl`.
pub const ARCH_KEY: &str = "snl.arch";

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
    fn schedule(&self) -> Schedule {
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

/// The phase a run is in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// Supervised training from scratch.
    Pretrain,
    /// Algorithm 1: masks and weights under CE + KD + λ‖c‖₁.
    Linearize,
    /// Binary masks frozen; SGD with CE + KD.
    Finetune,
    /// Finished.
    Done,
}

/// The resumable state of a run (stored inside the checkpoint).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RunState {
    /// The network.
    pub arch: ArchConfig,
    /// Current phase.
    pub phase: Phase,
    /// Epochs finished in the current phase.
    pub epoch: usize,
    /// Seed of the run.
    pub seed: u64,
    /// Pretraining hyper-parameters (pretrain runs).
    pub pretrain: Option<SgdConfig>,
    /// Linearization hyper-parameters (linearize runs).
    pub linearize: Option<LinearizeConfig>,
    /// The teacher's model file (linearize runs).
    pub teacher: Option<PathBuf>,
    /// λ schedule state.
    pub lambda: Option<LambdaSchedule>,
    /// Best validation accuracy of the fine-tune phase.
    pub best_val: Option<f64>,
    /// Kept ReLUs when the masks were binarized.
    pub kept_at_binarize: Option<i64>,
    /// Linearization epochs run (set when the masks are binarized).
    pub linearize_epochs: usize,
}

/// One line of `log.jsonl`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct EpochLog {
    /// Phase.
    pub phase: Phase,
    /// Epoch within the phase (0-based).
    pub epoch: usize,
    /// Mean training loss.
    pub loss: f64,
    /// Training accuracy (on the augmented batches).
    pub train_acc: f64,
    /// Validation accuracy (`null` without a validation split).
    pub val_acc: Option<f64>,
    /// Kept ReLUs (`c > ε`).
    pub kept: i64,
    /// All ReLUs.
    pub total: i64,
    /// λ used in this epoch (linearization).
    pub lambda: Option<f64>,
    /// Learning rate used.
    pub lr: f64,
    /// Seconds.
    pub seconds: f64,
}

/// Top-1 accuracy of `net` on `data` (eval mode).
pub fn accuracy(net: &SnlNet, data: &Dataset, device: Device) -> f64 {
    if data.is_empty() {
        return f64::NAN;
    }
    let correct: i64 = tch::no_grad(|| {
        data.batches_in_order(512, device)
            .map(|(x, y)| {
                let pred = net.forward_t(&x, false).argmax(-1, false);
                pred.eq_tensor(&y).sum(Kind::Int64).int64_value(&[])
            })
            .sum()
    });
    correct as f64 / data.len() as f64
}

/// Where a run writes.
#[derive(Clone, Debug)]
pub struct RunDir {
    /// The folder.
    pub dir: PathBuf,
}

impl RunDir {
    /// Creates the folder if needed.
    pub fn create(dir: &Path) -> Result<Self> {
        std::fs::create_dir_all(dir).map_err(|source| TrainError::Io {
            path: dir.to_path_buf(),
            source,
        })?;
        Ok(Self {
            dir: dir.to_path_buf(),
        })
    }

    /// The checkpoint file.
    pub fn checkpoint(&self) -> PathBuf {
        self.dir.join("checkpoint.safetensors")
    }

    /// The final model file.
    pub fn model(&self) -> PathBuf {
        self.dir.join("model.safetensors")
    }

    /// The best-on-validation model file.
    pub fn best(&self) -> PathBuf {
        self.dir.join("best.safetensors")
    }

    /// The per-epoch log.
    pub fn log(&self) -> PathBuf {
        self.dir.join("log.jsonl")
    }

    fn append_log(&self, line: &EpochLog) -> Result<()> {
        let p = self.log();
        let io = |source| TrainError::Io {
            path: p.clone(),
            source,
        };
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&p)
            .map_err(io)?;
        writeln!(f, "{}", serde_json::to_string(line).expect("log line")).map_err(io)
    }

    /// Writes weights, masks, optimizer state and the run state into one file, atomically.
    fn save_checkpoint(&self, net: &SnlNet, opt: &Optimizer, state: &RunState) -> Result<()> {
        let mut named: Vec<(String, Tensor)> = net
            .vs
            .variables()
            .into_iter()
            .map(|(k, v)| (format!("net.{k}"), v))
            .collect();
        named.extend(opt.state("opt"));
        let json = serde_json::to_vec(state).expect("run state");
        named.push(("state".into(), Tensor::from_slice(&json)));
        let target = self.checkpoint();
        let tmp = self.dir.join(".checkpoint.safetensors.tmp");
        let cpu: Vec<(String, Tensor)> = named
            .into_iter()
            .map(|(k, t)| (k, t.detach().to_device(Device::Cpu).contiguous()))
            .collect();
        Tensor::write_safetensors(&cpu, &tmp)?;
        std::fs::rename(&tmp, &target).map_err(|source| TrainError::Io {
            path: target.clone(),
            source,
        })
    }
}

/// Reads a checkpoint: the run state and the named tensors.
pub fn read_checkpoint(path: &Path) -> Result<(RunState, HashMap<String, Tensor>)> {
    let bad = |reason: String| TrainError::Checkpoint {
        path: path.to_path_buf(),
        reason,
    };
    if !path.exists() {
        return Err(bad("no checkpoint here (start without --resume)".into()));
    }
    let named: HashMap<String, Tensor> = Tensor::read_safetensors(path)
        .map_err(|e| bad(format!("unreadable ({e})")))?
        .into_iter()
        .collect();
    let json = named
        .get("state")
        .ok_or_else(|| bad("no run state inside".into()))?;
    let bytes = Vec::<u8>::try_from(json).map_err(|e| bad(e.to_string()))?;
    let state: RunState =
        serde_json::from_slice(&bytes).map_err(|e| bad(format!("bad run state: {e}")))?;
    Ok((state, named))
}

/// Copies `net.*` tensors of a checkpoint into the network's variables.
pub fn load_vars(net: &mut SnlNet, named: &HashMap<String, Tensor>, path: &Path) -> Result<()> {
    let mut vars = net.vs.variables();
    tch::no_grad(|| {
        for (k, v) in vars.iter_mut() {
            match named.get(&format!("net.{k}")) {
                Some(t) if t.size() == v.size() => v.copy_(t),
                _ => {
                    return Err(TrainError::Checkpoint {
                        path: path.to_path_buf(),
                        reason: format!("variable {k} missing or of another shape"),
                    })
                }
            }
        }
        Ok(())
    })
}

/// Writes the network as an snl model file with its architecture and `extra` metadata.
pub fn save_model(
    net: &SnlNet,
    arch: &ArchConfig,
    eps: f64,
    extra: &[(&str, String)],
    path: &Path,
) -> Result<()> {
    let mut info: BTreeMap<String, String> = SnlNet::ir_info();
    info.insert(ARCH_KEY.into(), serde_json::to_string(arch).expect("arch"));
    for (k, v) in extra {
        info.insert((*k).to_string(), v.clone());
    }
    snl_theory::model_file::save_with_info(&net.to_ir(eps), &info, path)?;
    Ok(())
}

/// A model file written by [`save_model`], parsed: its IR, architecture and metadata.
pub struct ModelFile {
    /// Where it was read from.
    pub path: PathBuf,
    /// The network (weights and binary masks).
    pub ir: snl_theory::Network,
    /// The architecture to rebuild it with.
    pub arch: ArchConfig,
    /// The free-form metadata.
    pub info: BTreeMap<String, String>,
}

impl ModelFile {
    /// Reads and checks the file (no libtorch network is built).
    pub fn read(path: &Path) -> Result<Self> {
        let (ir, info) = snl_theory::model_file::load_with_info(path)?;
        let arch: ArchConfig = serde_json::from_str(info.get(ARCH_KEY).ok_or_else(|| {
            incompatible(
                path,
                format!(
                    "no '{ARCH_KEY}' metadata: not written by `snl` (snl-verify still reads it)"
                ),
            )
        })?)
        .map_err(|e| incompatible(path, format!("bad '{ARCH_KEY}' metadata: {e}")))?;
        Ok(Self {
            path: path.to_path_buf(),
            ir,
            arch,
            info,
        })
    }

    /// A libtorch network with this file's weights and masks (masks trainable, c ∈ {0, 1}).
    pub fn build(&self, device: Device) -> Result<SnlNet> {
        let mut net = self.arch.build(device);
        net.load_ir(&self.ir)
            .map_err(|reason| incompatible(&self.path, reason))?;
        Ok(net)
    }
}

fn incompatible(path: &Path, reason: String) -> TrainError {
    TrainError::Incompatible {
        path: path.to_path_buf(),
        reason,
    }
}

/// Reads a model file written by [`save_model`] and rebuilds its network.
pub fn load_model(
    path: &Path,
    device: Device,
) -> Result<(SnlNet, ArchConfig, BTreeMap<String, String>)> {
    let file = ModelFile::read(path)?;
    let net = file.build(device)?;
    Ok((net, file.arch, file.info))
}

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
struct Epoch {
    /// The phase (for the divergence error).
    phase: Phase,
    /// 0-based epoch within the phase.
    index: usize,
    /// Progress-bar prefix, e.g. `pretrain 2/3`.
    label: String,
    /// Shown after loss and accuracy, e.g. kept ReLUs and λ.
    status: String,
    batch: usize,
    lr: f64,
    seed: u64,
}

/// One pass over the training split under a progress bar, then the validation accuracy
/// (`None` without a validation split); `loss_of(logits, x, y)` gives the loss. A NaN or
/// infinite loss stops the pass at once with [`TrainError::Diverged`], before the caller
/// writes anything. Returns `(mean loss, train accuracy, validation accuracy)`.
fn train_epoch(
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

/// Restores the optimizer state saved in a checkpoint.
fn restore_optimizer(
    opt: &mut Optimizer,
    named: &HashMap<String, Tensor>,
    run: &RunDir,
) -> Result<()> {
    if opt.load_state("opt", named) {
        Ok(())
    } else {
        Err(TrainError::Checkpoint {
            path: run.checkpoint(),
            reason: "optimizer state missing".into(),
        })
    }
}

/// Appends the epoch to `log.jsonl` and prints its summary line.
fn log_epoch(run: &RunDir, line: &EpochLog) -> Result<()> {
    run.append_log(line)?;
    eprintln!("{}", summary(line));
    Ok(())
}

fn n_batches(d: &Dataset, batch: usize) -> usize {
    d.len().div_ceil(batch)
}

/// Pretrains `arch` from scratch (SGD, CE), checkpointing every epoch; writes
/// `model.safetensors` at the end. With `resume`, continues from the run's checkpoint.
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
    let (weights, _) = net.weights_and_masks();
    let kind = OptimKind::Sgd {
        momentum: cfg.momentum,
        weight_decay: cfg.weight_decay,
    };
    let mut opt = Optimizer::new(kind, weights);
    let mut state = RunState {
        arch: arch.clone(),
        phase: Phase::Pretrain,
        epoch: 0,
        seed,
        pretrain: Some(cfg.clone()),
        linearize: None,
        teacher: None,
        lambda: None,
        best_val: None,
        kept_at_binarize: None,
        linearize_epochs: 0,
    };
    if resume {
        let (s, named) = read_checkpoint(&run.checkpoint())?;
        if s.arch != *arch || s.pretrain.as_ref() != Some(cfg) || s.seed != seed {
            return Err(TrainError::Checkpoint {
                path: run.checkpoint(),
                reason: "it was made with other arguments (architecture, hyper-parameters or seed)"
                    .into(),
            });
        }
        load_vars(&mut net, &named, &run.checkpoint())?;
        restore_optimizer(&mut opt, &named, run)?;
        state = s;
        eprintln!("resuming pretraining after epoch {}", state.epoch);
    }
    let schedule = cfg.schedule();
    let total = net.total_relus();
    while state.epoch < cfg.epochs {
        let e = state.epoch;
        let t0 = Instant::now();
        let lr = schedule.lr(cfg.lr, e);
        let (loss, train_acc, val) = train_epoch(
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
            },
            &|logits, _, y| ce_loss(logits, y),
        )?;
        state.epoch += 1;
        run.save_checkpoint(&net, &opt, &state)?;
        let line = EpochLog {
            phase: Phase::Pretrain,
            epoch: e,
            loss,
            train_acc,
            val_acc: val,
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
        0.5,
        &[
            ("test_accuracy", format!("{test:.4}")),
            ("stage", "pretrained".into()),
        ],
        &run.model(),
    )?;
    Ok((net, test))
}

/// One line per epoch for people.
pub fn summary(l: &EpochLog) -> String {
    let mut s = format!(
        "{:<9} epoch {:>3}  loss {:.4}  train {:.2}%",
        format!("{:?}", l.phase).to_lowercase(),
        l.epoch + 1,
        l.loss,
        100.0 * l.train_acc
    );
    if let Some(v) = l.val_acc {
        s += &format!("  val {:.2}%", 100.0 * v);
    }
    s += &format!("  ReLUs {}/{}", l.kept, l.total);
    if let Some(lam) = l.lambda {
        s += &format!("  λ {lam:.3e}");
    }
    s += &format!("  lr {:.2e}  {:.1}s", l.lr, l.seconds);
    s
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
            net.binarize(0.5); // c is already 0/1: freeze it
        }
        state = s;
        named = n;
        eprintln!("resuming {:?} after epoch {}", state.phase, state.epoch);
    }
    let total = net.total_relus();
    let teacher_test = accuracy(&teacher, &splits.test, device);
    let t = cfg.temperature;
    let kd = |logits: &Tensor, x: &Tensor| {
        let tl = tch::no_grad(|| teacher.forward_t(x, false));
        kd_loss(logits, &tl, t)
    };

    // --- Linearization -------------------------------------------------------------
    if state.phase == Phase::Linearize {
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
        if resume {
            restore_optimizer(&mut opt, &named, run)?;
        }
        let mut kept = net.kept_relus(cfg.eps);
        while kept > cfg.budget && state.epoch < cfg.max_epochs {
            let e = state.epoch;
            let t0 = Instant::now();
            let lambda = state.lambda.as_ref().expect("λ state").lambda;
            let (loss, train_acc, val) = train_epoch(
                &net,
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
                    seed: data::epoch_seed(seed, e as u64),
                },
                &|logits, x, y| ce_loss(logits, y) + kd(logits, x) + net.mask_l1() * lambda,
            )?;
            kept = net.kept_relus(cfg.eps);
            state.lambda.as_mut().expect("λ state").update(e, kept);
            state.epoch += 1;
            run.save_checkpoint(&net, &opt, &state)?;
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
        if kept > cfg.budget {
            // Not reached: keep the state reached, binarized, and say so.
            net.binarize(cfg.eps);
            let test = accuracy(&net, &splits.test, device);
            save_model(
                &net,
                &arch,
                0.5,
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
                layers: net.relu_layers(0.5),
                teacher_test,
                binarized_test: test,
                final_test: test,
                best_val: None,
                linearize_epochs: state.epoch,
            });
        }
        net.binarize(cfg.eps);
        state.kept_at_binarize = Some(net.kept_relus(0.5));
        state.linearize_epochs = state.epoch;
        state.phase = Phase::Finetune;
        state.epoch = 0;
        named.clear();
    }
    let binarized_test = accuracy(&net, &splits.test, device);
    eprintln!(
        "binarized: {} of {} ReLUs kept, test accuracy {:.2}% before fine-tuning",
        net.kept_relus(0.5),
        total,
        100.0 * binarized_test
    );

    // --- Fine-tuning ---------------------------------------------------------------
    let ft = &cfg.finetune;
    let (weights, _) = net.weights_and_masks();
    let mut opt = Optimizer::new(
        OptimKind::Sgd {
            momentum: ft.momentum,
            weight_decay: ft.weight_decay,
        },
        weights,
    );
    if !named.is_empty() {
        restore_optimizer(&mut opt, &named, run)?;
    }
    let schedule = ft.schedule();
    let kept = net.kept_relus(0.5);
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
                seed: data::epoch_seed(seed ^ 0xF1, e as u64),
            },
            &|logits, x, y| ce_loss(logits, y) + kd(logits, x),
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
                &arch,
                0.5,
                &[("stage", "fine-tune best on validation".into())],
                &run.best(),
            )?;
        }
        state.epoch += 1;
        run.save_checkpoint(&net, &opt, &state)?;
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
    // the selected checkpoint, tested once
    let (best, _, _) = if run.best().exists() {
        load_model(&run.best(), device)?
    } else {
        (net, arch.clone(), BTreeMap::new())
    };
    let mut best = best;
    best.binarize(0.5);
    let final_test = accuracy(&best, &splits.test, device);
    save_model(
        &best,
        &arch,
        0.5,
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
        kept: best.kept_relus(0.5),
        total,
        layers: best.relu_layers(0.5),
        teacher_test,
        binarized_test,
        final_test,
        best_val: state.best_val,
        linearize_epochs: state.linearize_epochs,
    })
}
