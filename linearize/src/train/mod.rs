//! The training loops: pretraining, SNL linearization (Algorithm 1) and fine-tuning, with
//! per-epoch checkpoints (one atomic file), a JSON-lines log and exact resume.
//!
//! A run lives in one folder: `checkpoint.safetensors` (weights, masks, optimizer state and
//! the run state as JSON, written atomically after every epoch), `log.jsonl` (one line per
//! epoch), `best.safetensors` (the best fine-tune checkpoint on the validation split, an snl
//! model file) and, when done, `model.safetensors` (the result, an snl model file).
//!
//! One file per concern: [`run`] (the folder, checkpoints, log, run state), [`model_file`]
//! (snl model files), [`epoch`] (the epoch loop every phase runs, and the KD teacher),
//! [`pretrain`], [`linearize`] (Algorithm 1: the mask phase, binarization and the fine-tunes
//! it starts) and [`finetune`].
use std::path::PathBuf;

use tch::{Device, Kind};

use crate::data::Dataset;
use crate::graph::SnlNet;

mod epoch;
pub mod finetune;
pub mod linearize;
pub mod model_file;
pub mod pretrain;
pub mod run;

pub use crate::masked::BINARY_THRESHOLD;
pub use epoch::Teacher;
pub use finetune::{finetune, finetune_and_save, finetune_file, gap_points, BudgetResult};
pub use linearize::{linearize, LinearizeConfig, LinearizeOutcome};
pub use model_file::{load_model, save_model, ModelFile, Pretrained, ARCH_KEY, DATA_KEY};
pub use pretrain::{pretrain, SgdConfig};
pub use run::{load_vars, read_checkpoint, summary, EpochLog, Phase, RunDir, RunState, FILE_MODE};

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
    /// The data given are not the data the model was trained on (or split otherwise).
    #[error("{}: made with other data than given ({differences}); the validation split must be the teacher's: pass the model's data arguments (see `snl eval --output-format json`, info.\"snl.data\")", path.display())]
    DataMismatch {
        /// The model file.
        path: PathBuf,
        /// `field mine vs given`, comma-separated.
        differences: String,
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
