//! snl-verify's integration tests (they run the binary): one test binary, one module per command or area.
mod cli_tests;
mod common;
mod free_cli;
mod info_cli;
mod onnx_cli;
mod pi_cli;
mod regions_cli;
mod robust_cli;
mod theorem_cli;
mod timeout_cli;
mod vnncomp_cli;
