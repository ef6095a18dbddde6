//! # snl-verify
//!
//! Sound facts about trained, selectively linearized ReLU networks read from snl model
//! files, without libtorch: ReLU accounting today; output bounds, robustness verdicts and
//! region counts as the verify issue lands. The binary `snl-verify` is a thin front end.
//!
//! Other crates: `snl-theory` (the IR and the model file), `snl-linearize` (training).
#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod cli;
pub mod commands;
