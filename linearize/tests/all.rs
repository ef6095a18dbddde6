//! snl-linearize's integration tests: one test binary, one module per area.
mod common;
mod import_tests;
mod linearize_tests;
mod points_tests;
