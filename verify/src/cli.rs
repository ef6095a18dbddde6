//! The `snl-verify` command line: arguments, exit statuses and dispatch. Each subcommand
//! lives in its own file under `commands/`.
use clap::{Parser, Subcommand, ValueEnum};

use crate::commands;

/// Exit statuses of `snl-verify`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum ExitStatus {
    /// The command succeeded (a property proved, bounds computed).
    Success = 0,
    /// A property was refuted (a counterexample was found and re-checked).
    Refuted = 1,
    /// Bad input or any other error: one line on stderr says what.
    Error = 2,
    /// The solver could not decide (timeout or unknown): never reported as proved.
    Unknown = 3,
}

/// How results are printed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// Tables for people.
    #[default]
    Text,
    /// One JSON document on stdout, for scripts.
    Json,
}

pub(crate) const EXIT_CODES: &str = "\
Exit codes:
  0  success: bounds computed, property proved
  1  property refuted (counterexample found and re-checked)
  2  error: bad arguments, missing or corrupt model file, unsupported layer
  3  unknown: a solver timed out or could not decide (never reported as proved)";

/// Sound facts about selectively linearized ReLU networks stored as snl model files
/// (`.safetensors` with the architecture and ReLU masks in the metadata).
#[derive(Debug, Parser)]
#[command(name = "snl-verify", version, after_help = EXIT_CODES)]
pub struct Args {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Describe a model file: layers, shapes and ReLU counts (total, kept, per layer).
    Info(commands::info::InfoCommand),
    /// Check the no-free-lunch ceiling (T2) on alternating data with an LP/MILP and an SMT
    /// encoding over a grid of (n, B), and the depth-profile ceiling on two layers; print the
    /// tables and write a plot. Exits 1 when any check contradicts a ceiling. `theorem gap`:
    /// the certified best-accuracy curve of one hidden layer on small 2-D data sets.
    Theorem(commands::theorem::TheoremCommand),
    /// Sound output bounds of every logit over an input box (interval, LP, MILP complete up to CBC's tolerances, or
    /// SMT), ReLU accounting, and robustness verdicts with `--property argmax=C`.
    Bound(commands::bound::BoundCommand),
    /// Certified robust accuracy over a test set: per example verified / falsified /
    /// unknown / misclassified in an ε-ball (pixel space), with times and unstable kept
    /// ReLUs (table, or --output-format json).
    Robust(commands::robust::RobustCommand),
    /// Exact linear regions on a small input box, or exact affine pieces along a segment,
    /// next to the T1 expressiveness bound.
    Regions(commands::regions::RegionsCommand),
    /// Benchmark (not a test): MILP time against kept ReLUs for one random MLP linearized
    /// to several budgets; writes the models and their dense JSON for the Marabou comparison.
    Bench(commands::bench::BenchCommand),
    /// Certified free linearization: replace every kept ReLU whose pre-activation keeps one
    /// sign on a domain D (sound interval + CROWN bounds) by the identity or zero, write the
    /// smaller model (equal on D) and report the ReLUs saved.
    Free(commands::free::FreeCommand),
    /// Write a robustness query as VNN-LIB (and with --onnx the ONNX graph it is about),
    /// for α-β-CROWN, Marabou and other VNN-COMP verifiers.
    Vnnlib(commands::vnnlib::VnnlibCommand),
    /// Private-inference cost model of the exported ONNX graph: per ReLU layer and per
    /// Conv/Gemm, communication, rounds and time per protocol (CrypTen: exact, checked in
    /// papers/pi; Delphi: published ReLU constants), next to all ReLUs kept.
    Cost(commands::cost::CostCommand),
    /// The VNN-COMP contract: decide an ONNX network against a VNN-LIB property within a
    /// timeout and print `unsat`, `sat` with the counterexample, `timeout`, `unknown` or
    /// `error`; `--batch instances.csv` runs a benchmark into a results CSV (resumable).
    Vnncomp(commands::vnncomp::VnncompCommand),
    /// The model's f64 forward on inputs given as JSON (for cross-checks against other
    /// executors, e.g. onnxruntime on an imported ONNX network).
    Forward(commands::forward::ForwardCommand),
}

/// Runs the parsed command.
pub fn run(args: Args) -> anyhow::Result<ExitStatus> {
    match args.command {
        Command::Info(c) => commands::info::run(c),
        Command::Theorem(c) => commands::theorem::run(c),
        Command::Bound(c) => commands::bound::run(c),
        Command::Regions(c) => commands::regions::run(c),
        Command::Robust(c) => commands::robust::run(c),
        Command::Bench(c) => commands::bench::run(c),
        Command::Free(c) => commands::free::run(c),
        Command::Vnnlib(c) => commands::vnnlib::run(c),
        Command::Cost(c) => commands::cost::run(c),
        Command::Vnncomp(c) => commands::vnncomp::run(c),
        Command::Forward(c) => commands::forward::run(c),
    }
}
