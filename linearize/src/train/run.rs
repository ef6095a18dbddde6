//! The run folder: checkpoint (weights, masks, optimizer state, run state), `log.jsonl`,
//! and the resumable [`RunState`].
use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use tch::{Device, Tensor};

use super::{LinearizeConfig, Result, SgdConfig, TrainError};
use crate::arch::ArchConfig;
use crate::graph::SnlNet;
use crate::optim::Optimizer;
use crate::snl::LambdaSchedule;

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
    /// Fine-tune hyper-parameters (runs that fine-tune a mask file: snapshots, baselines).
    #[serde(default)]
    pub finetune: Option<SgdConfig>,
    /// Validation accuracy with the soft masks at the end of the mask phase.
    #[serde(default)]
    pub soft_val: Option<f64>,
    /// Validation accuracy right after binarization.
    #[serde(default)]
    pub binarized_val: Option<f64>,
}

impl RunState {
    /// A state at epoch 0 of `phase`, every optional part empty.
    pub fn new(arch: &ArchConfig, phase: Phase, seed: u64) -> Self {
        Self {
            arch: arch.clone(),
            phase,
            epoch: 0,
            seed,
            pretrain: None,
            linearize: None,
            teacher: None,
            lambda: None,
            best_val: None,
            kept_at_binarize: None,
            linearize_epochs: 0,
            finetune: None,
            soft_val: None,
            binarized_val: None,
        }
    }
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

    /// The sub-run of an extra budget (`--budgets`): `budget-<B>/`.
    pub fn budget_dir(&self, budget: i64) -> PathBuf {
        self.dir.join(format!("budget-{budget}"))
    }

    /// The mask snapshot a sub-run starts from (soft masks binarized at ε, weights as they
    /// were when the kept count crossed the budget).
    pub fn snapshot(&self) -> PathBuf {
        self.dir.join("snapshot.safetensors")
    }

    /// The per-epoch log.
    pub fn log(&self) -> PathBuf {
        self.dir.join("log.jsonl")
    }

    /// Starts a fresh run here: removes the files an earlier run left (checkpoint, log,
    /// best and final model), so nothing of it is appended to or picked up; says what it
    /// removed on stderr.
    pub fn start_fresh(&self) -> Result<()> {
        let mut removed = Vec::new();
        for p in [self.checkpoint(), self.log(), self.best(), self.model()] {
            if p.exists() {
                std::fs::remove_file(&p).map_err(|source| TrainError::Io {
                    path: p.clone(),
                    source,
                })?;
                removed.push(
                    p.file_name()
                        .unwrap_or_default()
                        .to_string_lossy()
                        .into_owned(),
                );
            }
        }
        if !removed.is_empty() {
            eprintln!(
                "fresh run in {}: removed the earlier run's {} (use --resume to continue it)",
                self.dir.display(),
                removed.join(", ")
            );
        }
        Ok(())
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
    pub(super) fn save_checkpoint(
        &self,
        net: &SnlNet,
        opt: &Optimizer,
        state: &RunState,
    ) -> Result<()> {
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
        publish(&tmp)?;
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

/// Restores the optimizer state saved in a checkpoint.
pub(super) fn restore_optimizer(
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
pub(super) fn log_epoch(run: &RunDir, line: &EpochLog) -> Result<()> {
    run.append_log(line)?;
    eprintln!("{}", summary(line));
    Ok(())
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

/// Mode of every file a run writes: readable by all, like any other output (the temporary
/// files they are written through are 0600).
pub const FILE_MODE: u32 = 0o644;

/// Gives a written file [`FILE_MODE`].
pub(super) fn publish(path: &Path) -> Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(FILE_MODE)).map_err(
            |source| TrainError::Io {
                path: path.to_path_buf(),
                source,
            },
        )?;
    }
    Ok(())
}
