//! `snl-verify`: sound facts about selectively linearized ReLU networks.
use std::io::Write;
use std::process::ExitCode;

use clap::Parser;
use snl_verify::cli::{Args, ExitStatus};

fn main() -> ExitCode {
    let args = match Args::try_parse() {
        Ok(a) => a,
        Err(e) => {
            let _ = e.print();
            // --help and --version are successes; every parse error is a user error (2).
            return if e.use_stderr() {
                ExitCode::from(ExitStatus::Error as u8)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    match snl_verify::cli::run(args) {
        Ok(status) => ExitCode::from(status as u8),
        Err(err) => {
            // A closed pipe (`snl-verify ... | head`) is not a failure.
            if err.chain().any(|c| {
                c.downcast_ref::<std::io::Error>()
                    .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
            }) {
                return ExitCode::SUCCESS;
            }
            // One line: the context chain joined by ": ".
            let _ = writeln!(std::io::stderr().lock(), "snl-verify: error: {err:#}");
            ExitCode::from(ExitStatus::Error as u8)
        }
    }
}
