//! The published hyper-parameters of SNL (Cho et al., ICML 2022), in one place: [`paper`].
//! The command-line defaults, [`LinearizeConfig`]'s `Default`, the λ schedule, the
//! quickstart and the benchmark take their values from it.
use crate::snl::{Binarize, LambdaRule};
use crate::train::{LinearizeConfig, SgdConfig};

/// The paper's recipe: pretraining, then Algorithm 1 (mask phase, binarization, fine-tune).
#[derive(Clone, Debug, PartialEq)]
pub struct Recipe {
    /// Pretraining: SGD, lr 0.1, momentum 0.9, weight decay 5e-4, batch 256, 160 epochs,
    /// ×0.1 at epochs 80 and 120.
    pub pretrain: SgdConfig,
    /// Algorithm 1: λ₀ = 1e-5, ε = 1e-2, Adam lr 1e-3 on weights and masks, batch 128, at
    /// most 2000 epochs, KD temperature 4; the fine-tune after binarization: SGD, lr 1e-3,
    /// momentum 0.9, weight decay 5e-4, batch 128, 100 epochs, cosine schedule. The budget
    /// is the caller's (1 here).
    pub linearize: LinearizeConfig,
    /// λ ← `lambda_growth` · λ after an epoch that sets no new minimum of the kept count…
    pub lambda_growth: f64,
    /// …from this epoch on (0-based).
    pub lambda_warmup: usize,
}

/// The paper's hyper-parameters.
pub fn paper() -> Recipe {
    Recipe {
        pretrain: SgdConfig {
            epochs: 160,
            lr: 0.1,
            momentum: 0.9,
            weight_decay: 5e-4,
            batch: 256,
            milestones: vec![80, 120],
            cosine: false,
        },
        linearize: LinearizeConfig {
            budget: 1,
            lambda0: 1e-5,
            eps: 1e-2,
            lr: 1e-3,
            batch: 128,
            max_epochs: 2000,
            temperature: 4.0,
            finetune: SgdConfig {
                epochs: 100,
                lr: 1e-3,
                momentum: 0.9,
                weight_decay: 5e-4,
                batch: 128,
                milestones: Vec::new(),
                cosine: true,
            },
            lambda_rule: LambdaRule::Paper,
            target_epochs: 0,
            binarize: Binarize::Paper,
            snapshots: Vec::new(),
        },
        lambda_growth: 1.1,
        lambda_warmup: 5,
    }
}
