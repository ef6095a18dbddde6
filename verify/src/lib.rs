//! # snl-verify
//!
//! Sound facts about trained, selectively linearized ReLU networks (snl model files or
//! ONNX), without libtorch. The verification engine itself is `snl_theory::bound`; this
//! crate is what stands around it:
//!
//! * library modules, importing no CLI type: [`bench`] (the random MLPs and solves of
//!   `bench`), [`cost`] (the private-inference cost model of the exported graph), [`free`]
//!   (certified free linearization, checked and written), [`gap`] (the certified
//!   best-accuracy curve of `theorem gap`), [`plot`] (the plot of `theorem` and its font),
//!   [`regions`] (exact linear regions and pieces), [`theorem`] (the no-free-lunch grid);
//! * the command line: [`cli`] (arguments, exit statuses, dispatch), [`args`] (arguments
//!   shared by several commands: the input region, the ONNX encoding, the property), and
//!   [`commands`], one file per subcommand that parses, calls and prints.
//!
//! The binary `snl-verify` is a thin front end. Other crates: `snl-theory` (the IR, its
//! files and the analyses), `snl-linearize` (training).
#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod args;
pub mod bench;
pub mod cli;
pub mod commands;
pub mod cost;
pub mod free;
pub mod gap;
pub mod plot;
pub mod regions;
pub mod theorem;
