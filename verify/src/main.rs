//! `snl-verify`: sound facts about selectively linearized ReLU networks.
use std::io::Write;
use std::process::ExitCode;

use clap::Parser;
use snl_verify::cli::{Args, ExitStatus};

fn main() -> ExitCode {
    // Rust ignores SIGPIPE, so a print into a closed pipe (`snl-verify … | head -1`) would panic;
    // with the default action the process ends quietly, as other Unix tools do.
    // SAFETY: called first in main, before any other thread exists; sets a signal disposition.
    #[cfg(unix)]
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let args = match Args::try_parse() {
        Ok(a) => a,
        // a value our own parser rejected (`--property top1`): one line, as every other
        // bad input; clap's first line names the flag, the value and the reason
        Err(e) if e.kind() == clap::error::ErrorKind::ValueValidation => {
            let text = e.render().to_string();
            let first = text.lines().next().unwrap_or_default();
            let first = first.strip_prefix("error: ").unwrap_or(first);
            let _ = writeln!(std::io::stderr().lock(), "snl-verify: error: {first}");
            return ExitCode::from(ExitStatus::Error as u8);
        }
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
