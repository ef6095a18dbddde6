//! # snl-linearize
//!
//! Selective Network Linearization (Cho et al., ICML 2022) on libtorch through `tch`:
//! pretrain, linearize to a ReLU budget, fine-tune, evaluate and export snl model files.
//! The only snl crate that links libtorch.
//!
//! Other crates: `snl-theory` (the IR and the model file), `snl-verify` (sound bounds).
#![deny(missing_docs)]

pub mod arch;
pub mod baseline;
pub mod cli;
pub mod commands;
pub mod data;
pub mod device;
pub mod fused;
pub mod graph;
pub mod import;
pub mod masked;
pub mod optim;
pub mod paper;
pub mod snl;
pub mod train;
