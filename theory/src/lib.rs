//! # snl-theory
//!
//! The plain, serde-serializable network IR shared by every snl crate, the model file, the
//! one tolerance table, sound output bounds and robustness verdicts over input boxes
//! ([`bound`]: interval, triangle LP and big-M MILP through good_lp/CBC with feature `lp`,
//! exact z3 with feature `smt`), and (with the no-free-lunch issue) the expressiveness theory.
//!
//! A [`Network`] is an input shape and an ordered graph of layers: dense, conv2d,
//! batch-norm, flatten/reshape, residual add, average pooling, elementwise scale, and
//! **masked ReLU**, which keeps the non-linearity on some units and replaces it by the
//! identity on the others.
//!
//! ```
//! use nalgebra::{DMatrix, DVector};
//! use snl_theory::{Affine, Layer, Network, ReluMask};
//!
//! // y = relu_kept(x0) + x1 where only unit 0 keeps its ReLU
//! let mut net = Network::new(vec![2]);
//! net.push(Layer::Relu(ReluMask::from_bools(&[true, false])));
//! net.push(Layer::Dense(Affine::new(
//!     DMatrix::from_row_slice(1, 2, &[1.0, 1.0]),
//!     DVector::from_element(1, 0.0),
//! )));
//! assert_eq!(net.forward(&[-3.0, -2.0]).unwrap(), vec![-2.0]);
//! let counts = net.relu_counts().unwrap();
//! assert_eq!((counts.total, counts.kept), (2, 1));
//! ```
//!
//! Other crates: `snl-linearize` (training on libtorch, writes model files), `snl-verify`
//! (sound bounds and region counts on model files, no libtorch).
#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod bound;
mod error;
pub mod expressiveness;
pub mod free;
mod mask;
pub mod model_file;
mod network;
pub mod nfl;
pub mod onnx;
pub mod regions;
pub mod samples;
pub mod spec;
mod st_file;
pub mod tolerance;

pub use error::{BoxProblem, Error, ModelFileProblem, Result, SamplesProblem};
pub use mask::ReluMask;
pub use model_file::{load, save, FORMAT_VERSION};
pub use network::{
    numel, Affine, AvgPool2d, BatchNorm, Conv2d, Layer, LayerReluCount, Network, Node, ReluCounts,
    COLLAPSE_MAX_ENTRIES,
};
pub use onnx::{load_any, load_any_with_info};
