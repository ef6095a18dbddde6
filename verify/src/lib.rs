//! # snl-verify
//!
//! Sound facts about trained, selectively linearized ReLU networks read from snl model
//! files, without libtorch: ReLU accounting (`info`), sound output bounds and robustness
//! verdicts (`bound`, on `snl_theory::bound`), and a MILP benchmark (`bench`). The binary
//! `snl-verify` is a thin front end.
//!
//! Other crates: `snl-theory` (the IR and the model file), `snl-linearize` (training).
#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod args;
pub mod cli;
pub mod commands;
pub mod cost;
pub mod gap;
