//! # snl-theory
//!
//! The plain, serde-serializable network IR shared by every snl crate, its files, and the
//! analyses that run on it. The crate has three rooms:
//!
//! | room | modules | what it holds |
//! |---|---|---|
//! | **the IR** | [`ir`] ([`ir::network`], [`ir::mask`]) | the graph of layers with masked ReLUs, shapes, the f64 interpreter, lowering passes |
//! | **files** | [`io`] ([`io::model_file`], [`io::samples`], [`io::onnx`], [`io::vnnlib`]) | snl's model file and sample sets, ONNX and VNN-LIB in and out |
//! | **analyses** | [`spec`], [`bound`], [`regions`], [`free`], [`nfl`], [`expressiveness`] | what is asked of a network (specifications) and what is proved about it: sound output bounds and verdicts (interval, CROWN, α-CROWN, branch-and-bound; LP/MILP through good_lp/CBC with feature `lp`, exact SMT through z3 with feature `smt`), linear-region counts, stable-unit linearization, the no-free-lunch theorem and its checks |
//!
//! Beside them: [`tolerance`], the one table of numeric tolerances, [`rng`], the one seeded
//! generator with the named seeds, and the crate's typed [`Error`]. The IR's core types are re-exported here ([`Network`], [`Layer`], …), as are
//! the model file's [`load`]/[`save`] and ONNX's [`load_any`] (either format by extension).
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

// the IR
pub mod ir;
// files
pub mod io;
// analyses
pub mod bound;
pub mod expressiveness;
pub mod free;
pub mod nfl;
pub mod regions;
pub mod spec;
// shared
mod error;
pub mod rng;
pub mod tolerance;

pub use error::{BoxProblem, Error, ModelFileProblem, Result, SamplesProblem};
pub use io::model_file::{load, save, FORMAT_VERSION};
pub use io::onnx::{load_any, load_any_with_info};
pub use ir::mask::ReluMask;
pub use ir::network::{
    numel, Affine, AvgPool2d, BatchNorm, Conv2d, Layer, LayerReluCount, Network, Node, ReluCounts,
    COLLAPSE_MAX_ENTRIES,
};
pub use ir::value::ValueId;
