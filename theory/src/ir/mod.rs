//! The network IR: what every snl crate hands to the others.
//!
//! * [`network`]: the graph ([`Network`](network::Network), its [`Layer`](network::Layer)s and
//!   [`Node`](network::Node)s), shape inference, the f64 interpreter, and the lowering passes
//!   (batch-norm folding, collapsing linear stretches, dense unrolling).
//! * [`value`]: [`ValueId`](value::ValueId), the value a node reads (the input or a node's
//!   output).
//! * [`mask`]: which units of a ReLU layer keep their non-linearity
//!   ([`ReluMask`](mask::ReluMask)).
pub mod mask;
pub mod network;
pub mod value;
