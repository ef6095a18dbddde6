//! One module per subcommand.
pub mod baseline;
pub mod bench;
pub mod eval;
pub mod export;
pub mod export_data;
pub mod import;
pub mod linearize;
pub mod quickstart;
pub mod sweep;
pub mod train;

use crate::paper::paper;
use crate::train::SgdConfig;

/// The knowledge-distillation fine-tune options that `linearize` and `baseline` share.
#[derive(clap::Args, Clone, Debug)]
pub struct FinetuneArgs {
    /// Knowledge-distillation temperature T.
    #[arg(long, default_value_t = paper().linearize.temperature)]
    pub temperature: f64,
    /// Fine-tune epochs (after binarization, for `linearize`).
    #[arg(long, default_value_t = paper().linearize.finetune.epochs)]
    pub finetune_epochs: usize,
    /// Fine-tune SGD learning rate (cosine schedule).
    #[arg(long, default_value_t = paper().linearize.finetune.lr)]
    pub finetune_lr: f64,
    /// Fine-tune SGD momentum.
    #[arg(long, default_value_t = paper().linearize.finetune.momentum)]
    pub finetune_momentum: f64,
    /// Fine-tune weight decay.
    #[arg(long, default_value_t = paper().linearize.finetune.weight_decay)]
    pub finetune_weight_decay: f64,
    /// Fine-tune batch size.
    #[arg(long, default_value_t = paper().linearize.finetune.batch)]
    pub finetune_batch: usize,
}

impl FinetuneArgs {
    /// One-line errors for values out of range.
    pub fn check(&self) -> anyhow::Result<()> {
        train::positive("temperature", self.temperature)?;
        train::positive("finetune-lr", self.finetune_lr)?;
        train::non_negative("finetune-momentum", self.finetune_momentum)?;
        train::non_negative("finetune-weight-decay", self.finetune_weight_decay)?;
        if self.finetune_batch == 0 {
            anyhow::bail!("--finetune-batch must be positive");
        }
        Ok(())
    }

    /// The fine-tune's SGD (the paper's schedule: cosine, no milestones).
    pub fn sgd(&self) -> SgdConfig {
        SgdConfig {
            epochs: self.finetune_epochs,
            lr: self.finetune_lr,
            momentum: self.finetune_momentum,
            weight_decay: self.finetune_weight_decay,
            batch: self.finetune_batch,
            ..paper().linearize.finetune
        }
    }
}
