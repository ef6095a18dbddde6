//! Helpers shared by the CLI tests: run the binary, expect a one-line error.
#![allow(dead_code)] // each test binary uses its own subset
use std::process::{Command, Output};

/// Runs `snl-verify` with a clean environment.
pub fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_snl-verify"))
        .env_clear()
        .args(args)
        .output()
        .unwrap()
}

/// Asserts exit 2 with exactly one stderr line containing `needle`.
#[track_caller]
pub fn expect_error(args: &[&str], needle: &str) {
    let out = run(args);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{args:?}: stderr {err}");
    assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
    assert!(err.contains(needle), "{args:?}: '{needle}' not in {err}");
}
