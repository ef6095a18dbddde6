//! The typed error of `snl-theory`.
use std::path::PathBuf;

/// Errors of the network IR and the model file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    // === Network structure ===
    /// A layer got an input of the wrong shape.
    #[error("node {node}: expected input shape {expected:?}, got {got:?}")]
    ShapeMismatch {
        /// Index of the offending node.
        node: usize,
        /// The shape the layer needs.
        expected: Vec<usize>,
        /// The shape it was given.
        got: Vec<usize>,
    },
    /// A node is malformed (bad input reference, inconsistent parameters, ...).
    #[error("node {node}: {reason}")]
    InvalidNode {
        /// Index of the offending node.
        node: usize,
        /// What is wrong.
        reason: String,
    },
    /// The network input has the wrong length.
    #[error("input has {got} values, the network expects {expected} (shape {shape:?})")]
    InputLength {
        /// Expected number of values.
        expected: usize,
        /// Given number of values.
        got: usize,
        /// The network's input shape.
        shape: Vec<usize>,
    },
    /// An operation that needs a dense (fully unrolled) form would be too large.
    #[error("{what} would need {entries} matrix entries, more than the limit {limit}")]
    TooLarge {
        /// What was being built.
        what: &'static str,
        /// Entries needed.
        entries: usize,
        /// The limit.
        limit: usize,
    },

    // === Model file ===
    /// A model file could not be read or written.
    #[error("{}: {problem}", path.display())]
    ModelFile {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        problem: ModelFileProblem,
    },
}

/// What is wrong with a model file (see `docs/model-format.md`).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ModelFileProblem {
    /// The file does not exist.
    #[error("no such file")]
    NotFound,
    /// An I/O error while reading or writing.
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    /// Not a readable safetensors file (truncated, corrupt header, ...).
    #[error("not a valid safetensors file (truncated or corrupt?): {0}")]
    Safetensors(String),
    /// The safetensors metadata lacks a required key.
    #[error("missing metadata key '{0}': not an snl model file")]
    MissingMetadata(&'static str),
    /// The format version is not one this build reads.
    #[error("unknown format version '{found}' (this build reads version {supported})")]
    UnknownVersion {
        /// The version found in the file.
        found: String,
        /// The version this build reads.
        supported: u32,
    },
    /// The architecture JSON does not parse.
    #[error("bad architecture JSON: {0}")]
    Architecture(String),
    /// A tensor named by the architecture is not in the file.
    #[error("tensor '{0}' is named by the architecture but missing from the file")]
    MissingTensor(String),
    /// A tensor has a shape other than the architecture implies.
    #[error("tensor '{name}' has shape {got:?}, the architecture implies {expected:?}")]
    TensorShape {
        /// Tensor name.
        name: String,
        /// Implied shape.
        expected: Vec<usize>,
        /// Stored shape.
        got: Vec<usize>,
    },
    /// A tensor has a dtype other than F32 or F64.
    #[error("tensor '{name}' has dtype {dtype}, only F32 and F64 are supported")]
    Dtype {
        /// Tensor name.
        name: String,
        /// Its dtype.
        dtype: String,
    },
    /// A tensor holds NaN or infinity.
    #[error("tensor '{0}' holds a NaN or infinite value")]
    NonFinite(String),
    /// The network described by the file is inconsistent.
    #[error("inconsistent network: {0}")]
    Network(Box<Error>),
}

/// `Result` with this crate's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;
