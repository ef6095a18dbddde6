//! Workspace integration tests: one binary, one module per area.
mod common;
mod ir;
mod model_file;
mod onnx;
mod theorem;
