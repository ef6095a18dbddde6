//! VNN-LIB, the SMT-LIB subset of VNN-COMP: the reader of the whole grammar the benchmarks use
//! ([`read`], [`parse`]) and the writer of robustness queries on an exported ONNX graph
//! ([`write()`]).
mod reader;
mod writer;

pub use reader::{parse, read};
pub use writer::write;
