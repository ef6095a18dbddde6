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

    // === Bounds and verification ===
    /// An input box is malformed.
    #[error("input box: {0}")]
    InputBox(BoxProblem),
    /// A specification does not fit the network or is malformed.
    #[error("specification: {0}")]
    Spec(String),
    /// A VNN-LIB file could not be read (`line` is 1-based).
    #[error("{path}:{line}: {reason}")]
    Vnnlib {
        /// The file (or `<string>`).
        path: String,
        /// The line of the offending token.
        line: usize,
        /// What is wrong.
        reason: String,
    },
    /// The network form given to an encoding holds a layer the method does not read.
    #[error("node {node}: the {method} method does not support a {kind} layer here (expected the dense form of Network::to_dense)")]
    UnsupportedLayer {
        /// Index of the offending node.
        node: usize,
        /// The layer kind.
        kind: &'static str,
        /// The method.
        method: &'static str,
    },
    /// The network is too large for a method.
    #[error("the {method} method handles at most {limit} kept ReLUs, the network has {kept}")]
    TooManyKept {
        /// The method.
        method: &'static str,
        /// Kept ReLUs of the network.
        kept: usize,
        /// The limit.
        limit: usize,
    },
    /// A property names a class the network does not have.
    #[error("class {class} is out of range: the network has {outputs} outputs")]
    NoSuchClass {
        /// The class.
        class: usize,
        /// Number of outputs.
        outputs: usize,
    },
    /// An LP or MILP that must be feasible was reported infeasible.
    #[error("the solver reported an infeasible problem")]
    Infeasible,
    /// An LP or MILP over a bounded box was reported unbounded.
    #[error("the solver reported an unbounded problem")]
    Unbounded,
    /// A solver failed in another way.
    #[error("solver failure: {reason}")]
    Solver {
        /// The solver's message.
        reason: String,
    },

    // === Test sets (samples) ===
    /// A samples file could not be read or written.
    #[error("{}: {problem}", path.display())]
    SamplesFile {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        problem: SamplesProblem,
    },
    /// An example index past the end of a test set.
    #[error("example {index} is out of range: the test set has {count} examples")]
    NoSuchSample {
        /// The index asked for.
        index: usize,
        /// Examples in the test set.
        count: usize,
    },
    /// The test set's examples do not have the model's input shape.
    #[error("the test set's examples have shape {got:?}, the model takes {expected:?}")]
    SampleShape {
        /// The model's input shape.
        expected: Vec<usize>,
        /// One example's shape.
        got: Vec<usize>,
    },
    /// A label names a class the model does not have.
    #[error(
        "example {index} has label {label}, the model has {outputs} outputs (classes 0..{outputs})"
    )]
    LabelOutOfRange {
        /// The example.
        index: usize,
        /// Its label.
        label: usize,
        /// The model's number of outputs.
        outputs: usize,
    },

    // === Output files ===
    /// An output file (e.g. an ONNX export) could not be written.
    #[error("cannot write {}: {source}", path.display())]
    WriteFile {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
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

    // === ONNX import ===
    /// An ONNX file could not be imported: malformed, or an operation or attribute outside
    /// what `snl_theory::io::onnx::import` maps to the IR (docs/onnx.md, "Import").
    #[error("{}", onnx_message(.path.as_deref(), *.node, .name, .op, .reason))]
    Onnx {
        /// The file, when read from one.
        path: Option<PathBuf>,
        /// Index of the offending ONNX node in the graph, when one is at fault.
        node: Option<usize>,
        /// Its name (may be empty).
        name: String,
        /// Its op type (empty when no node is at fault).
        op: String,
        /// What is wrong.
        reason: String,
    },
}

/// `[path: ][node 7 'Conv_3' (Conv): ]reason`.
fn onnx_message(
    path: Option<&std::path::Path>,
    node: Option<usize>,
    name: &str,
    op: &str,
    reason: &str,
) -> String {
    let mut m = String::new();
    if let Some(p) = path {
        m.push_str(&format!("{}: ", p.display()));
    }
    if let Some(k) = node {
        m.push_str(&format!("node {k} "));
        if !name.is_empty() {
            m.push_str(&format!("'{name}' "));
        }
        m.push_str(&format!("({op}): "));
    }
    m.push_str(reason);
    m
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

/// What is wrong with an input box.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BoxProblem {
    /// The box has another dimension than the network input.
    #[error("the box has {got} dimensions, the network input has {expected}")]
    Dimension {
        /// Input values of the network.
        expected: usize,
        /// Dimensions of the box.
        got: usize,
    },
    /// Lower and upper bound lists differ in length.
    #[error("{lower} lower bounds but {upper} upper bounds")]
    Lengths {
        /// Lower bounds given.
        lower: usize,
        /// Upper bounds given.
        upper: usize,
    },
    /// A bound is NaN or infinite.
    #[error("bound {index} is not finite ({value})")]
    NonFinite {
        /// Input index.
        index: usize,
        /// The value.
        value: f64,
    },
    /// A lower bound exceeds its upper bound.
    #[error("bound {index}: lower {lo} > upper {hi}")]
    Order {
        /// Input index.
        index: usize,
        /// Lower bound.
        lo: f64,
        /// Upper bound.
        hi: f64,
    },
    /// The radius of a box around a center is negative or not finite.
    #[error("radius {0} must be finite and >= 0")]
    Radius(f64),
    /// The radius of a robustness ball is not a finite number > 0.
    #[error("epsilon {0} must be a finite number > 0")]
    Epsilon(f64),
}

/// What is wrong with a samples (test set) file (see `docs/inputs-format.md`).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SamplesProblem {
    /// The file does not exist.
    #[error("no such file")]
    NotFound,
    /// An I/O error while reading or writing.
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    /// Not a readable safetensors file (truncated, corrupt header, ...).
    #[error("not a valid safetensors file (truncated or corrupt?): {0}")]
    Safetensors(String),
    /// A required tensor is absent.
    #[error("no tensor '{0}' (a test set has tensors 'inputs' and 'labels')")]
    MissingTensor(&'static str),
    /// A tensor has a dtype the format does not allow.
    #[error("tensor '{name}' has dtype {dtype}, expected {allowed}")]
    Dtype {
        /// Tensor name.
        name: &'static str,
        /// Its dtype.
        dtype: String,
        /// The dtypes allowed.
        allowed: &'static str,
    },
    /// A tensor has a shape the format does not allow.
    #[error("tensor '{name}' has shape {got:?}, expected {expected}")]
    Shape {
        /// Tensor name.
        name: &'static str,
        /// Its shape.
        got: Vec<usize>,
        /// The shape required.
        expected: &'static str,
    },
    /// `inputs` and `labels` hold different numbers of examples.
    #[error("{inputs} inputs but {labels} labels")]
    CountMismatch {
        /// Examples in `inputs`.
        inputs: usize,
        /// Entries of `labels`.
        labels: usize,
    },
    /// The input values do not fill whole examples (an in-memory test set being saved).
    #[error("{got} input values for {examples} examples of shape {shape:?} (expected {expected})")]
    Length {
        /// Examples (labels).
        examples: usize,
        /// One example's shape.
        shape: Vec<usize>,
        /// Values expected.
        expected: usize,
        /// Values present.
        got: usize,
    },
    /// The file holds no examples.
    #[error("no examples")]
    Empty,
    /// An input holds NaN or infinity.
    #[error("example {index} holds a NaN or infinite value")]
    NonFinite {
        /// The example.
        index: usize,
    },
    /// A label is negative.
    #[error("example {index} has the negative label {label}")]
    NegativeLabel {
        /// The example.
        index: usize,
        /// Its label.
        label: i64,
    },
    /// A pixel lies outside the declared pixel range.
    #[error("example {index} holds {value}, outside the pixel range [{min}, {max}]")]
    OutOfRange {
        /// The example.
        index: usize,
        /// The value.
        value: f64,
        /// `pixel_min`.
        min: f64,
        /// `pixel_max`.
        max: f64,
    },
    /// A metadata entry (`mean`, `std`, `pixel_min`, `pixel_max`) is malformed.
    #[error("bad metadata '{key}': {reason}")]
    Metadata {
        /// The key.
        key: &'static str,
        /// What is wrong.
        reason: String,
    },
}

/// `Result` with this crate's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;
