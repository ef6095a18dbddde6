//! Workspace integration tests: one binary, one module per area.
mod theorem;
