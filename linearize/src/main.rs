//! `snl`: Selective Network Linearization on libtorch.
use std::io::Write;
use std::process::ExitCode;

use clap::Parser;
use snl_linearize::cli::{Args, ExitStatus};

fn main() -> ExitCode {
    let args = match Args::try_parse() {
        Ok(a) => a,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::from(ExitStatus::Error as u8)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    match snl_linearize::cli::run(args) {
        Ok(status) => ExitCode::from(status as u8),
        Err(err) => {
            if err.chain().any(|c| {
                c.downcast_ref::<std::io::Error>()
                    .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
            }) {
                return ExitCode::SUCCESS;
            }
            let _ = writeln!(std::io::stderr().lock(), "snl: error: {err:#}");
            ExitCode::from(ExitStatus::Error as u8)
        }
    }
}
