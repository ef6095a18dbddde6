//! Files in and out: snl's own model file, sample sets, and the field's formats.
//!
//! * [`model_file`]: the safetensors model file (the hand-off between `snl` and `snl-verify`;
//!   `docs/model-format.md`).
//! * [`samples`]: sample sets (images with labels) as safetensors.
//! * [`onnx`]: ONNX import (the VNN-COMP benchmarks, `torch.onnx.export`) and export.
//! * [`vnnlib`]: VNN-LIB properties, read ([`vnnlib::read`]) and written ([`vnnlib::write()`]).
pub mod model_file;
pub mod onnx;
pub mod samples;
mod st_file;
pub mod vnnlib;
