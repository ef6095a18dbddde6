//! Datasets: Fashion-MNIST / MNIST (IDX), CIFAR-10 / CIFAR-100 (binary), Tiny-ImageNet (folder
//! of JPEGs), a seeded synthetic generator and point clouds ([`points`]: train = validation
//! = test = the points), split into train / val / test.
//!
//! Shapes and values: [`Dataset::images`] is `(n, c, h, w)` `f32` in `[0, 1]` (byte / 255) and
//! [`Dataset::labels`] is `(n,)` `i64` in `0..num_classes`. Normalization is *not* applied to the
//! stored images: call [`Splits::normalize`] per batch, `x' = (x - mean[c]) / std[c]`, so that an
//! exported model can carry the same affine map as its first layer.
//!
//! Splits: the validation set is carved from the training files with a seeded shuffle
//! ([`DataSpec::seed`], [`DataSpec::val_fraction`]); the test set is the dataset's own test files
//! (Tiny-ImageNet: its `val/` folder).
//!
//! ```no_run
//! use snl_linearize::data::{load, DataSpec, Source};
//! let spec = DataSpec { source: Source::FashionMnist, ..DataSpec::default() };
//! let splits = load(&spec)?;
//! for (x, y) in splits.train.batches(128, 0, tch::Device::Cpu) {
//!     let _x = splits.normalize(&x); // (128, 1, 28, 28), zero mean, unit std per channel
//!     let _ = y;
//! }
//! # Ok::<(), snl_linearize::data::DataError>(())
//! ```
use std::path::{Path, PathBuf};

use clap::ValueEnum;
use tch::{Device, Kind, Tensor};

pub mod augment;
pub mod cifar;
pub mod idx;
pub mod points;
pub mod rng;
pub mod synthetic;
pub mod tiny_imagenet;

#[cfg(test)]
mod test_util;

pub use augment::{augment, random_crop, random_hflip};
pub use rng::{epoch_seed, SeededRng};
pub use synthetic::SyntheticConfig;

/// Why a dataset cannot be loaded. Every variant names the file it is about.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DataError {
    /// A required file or folder does not exist.
    #[error("{}: not found (expected {expected})", path.display())]
    NotFound {
        /// The path that was looked for.
        path: PathBuf,
        /// What should be there.
        expected: String,
    },
    /// Reading (or gunzipping) failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file being read.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// An IDX file starts with the wrong magic number.
    #[error("{}: bad IDX magic {found:#010x} (expected {expected:#010x} for {what})", path.display())]
    BadMagic {
        /// The IDX file.
        path: PathBuf,
        /// The first four bytes, big-endian.
        found: u32,
        /// The magic number for `what`.
        expected: u32,
        /// `"images"` or `"labels"`.
        what: &'static str,
    },
    /// An IDX file's payload does not match its header's dimensions.
    #[error("{}: IDX {what} payload is {got} bytes but the header dims {dims:?} need {expected}", path.display())]
    IdxSize {
        /// The IDX file.
        path: PathBuf,
        /// `"images"` or `"labels"`.
        what: &'static str,
        /// The dimensions in the header.
        dims: Vec<usize>,
        /// Payload bytes the header implies.
        expected: usize,
        /// Payload bytes present.
        got: usize,
    },
    /// A fixed-record binary file (CIFAR) has a size that is not a whole number of records.
    #[error("{}: {format} file size {size} is not a multiple of the {record}-byte record", path.display())]
    RecordSize {
        /// The binary file.
        path: PathBuf,
        /// `"CIFAR-10"` or `"CIFAR-100"`.
        format: &'static str,
        /// File size in bytes.
        size: u64,
        /// Record size in bytes.
        record: usize,
    },
    /// A label is not below the number of classes.
    #[error("{}: label {label} of example {index} is out of range (expected < {classes} classes)", path.display())]
    LabelOutOfRange {
        /// The file holding the label.
        path: PathBuf,
        /// Example index within that file.
        index: usize,
        /// The label found.
        label: u64,
        /// The number of classes.
        classes: usize,
    },
    /// An image file and its label file disagree on the example count.
    #[error("{} holds {images} images but {} holds {labels} labels", images_path.display(), labels_path.display())]
    CountMismatch {
        /// The images file.
        images_path: PathBuf,
        /// The labels file.
        labels_path: PathBuf,
        /// Images in it.
        images: usize,
        /// Labels in it.
        labels: usize,
    },
    /// Test images have a different shape from the training images.
    #[error("{}: images are {got:?} (expected {expected:?} like the training set)", path.display())]
    ShapeMismatch {
        /// The file with the odd shape.
        path: PathBuf,
        /// `(c, h, w)` of the training set.
        expected: [usize; 3],
        /// `(c, h, w)` found.
        got: [usize; 3],
    },
    /// An image has the wrong width or height.
    #[error("{}: image is {width}x{height} (expected {expected_width}x{expected_height})", path.display())]
    ImageSize {
        /// The image file.
        path: PathBuf,
        /// Its width.
        width: u32,
        /// Its height.
        height: u32,
        /// The required width.
        expected_width: u32,
        /// The required height.
        expected_height: u32,
    },
    /// An image file cannot be decoded.
    #[error("{}: cannot decode image: {source}", path.display())]
    Decode {
        /// The image file.
        path: PathBuf,
        /// The decoder's error.
        #[source]
        source: image::ImageError,
    },
    /// Tiny-ImageNet `val_annotations.txt` names a wnid missing from `wnids.txt`.
    #[error("{}:{line}: unknown wnid {wnid:?} (not listed in wnids.txt)", path.display())]
    UnknownWnid {
        /// The annotations file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// The wnid found.
        wnid: String,
    },
    /// A text index file has a line that cannot be parsed.
    #[error("{}:{line}: malformed line {content:?} (expected {expected})", path.display())]
    Malformed {
        /// The text file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// The line.
        content: String,
        /// What a line should look like.
        expected: &'static str,
    },
    /// A file or folder holds no examples.
    #[error("{}: empty (expected {expected})", path.display())]
    Empty {
        /// The file or folder.
        path: PathBuf,
        /// What it should hold.
        expected: String,
    },
    /// A points file holds examples that are not points (`inputs` must be `[n, d]` or
    /// `[n, d, 1, 1]`).
    #[error("{}: examples are {shape:?} (expected points: inputs [n, d] or [n, d, 1, 1])", path.display())]
    PointsShape {
        /// The file.
        path: PathBuf,
        /// One example's shape found.
        shape: Vec<usize>,
    },
    /// A points (test-set) file cannot be read or is malformed; the error names the file.
    #[error(transparent)]
    Samples(snl_theory::Error),
    /// A [`DataSpec`] or [`SyntheticConfig`] field is out of range.
    #[error("invalid data spec: {field} = {value} (expected {expected})")]
    InvalidSpec {
        /// The field name.
        field: &'static str,
        /// Its value.
        value: String,
        /// The allowed range.
        expected: &'static str,
    },
}

/// `Result` with [`DataError`].
pub type Result<T> = std::result::Result<T, DataError>;

/// Which dataset to load.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, ValueEnum)]
pub enum Source {
    /// Fashion-MNIST IDX files, 1×28×28, 10 classes.
    #[default]
    #[value(name = "fashion-mnist")]
    FashionMnist,
    /// MNIST IDX files, 1×28×28, 10 classes.
    #[value(name = "mnist")]
    Mnist,
    /// CIFAR-10 binary batches, 3×32×32, 10 classes.
    #[value(name = "cifar10")]
    Cifar10,
    /// CIFAR-100 binary files with the 100 fine labels, 3×32×32.
    #[value(name = "cifar100")]
    Cifar100,
    /// CIFAR-100 binary files with the 20 coarse (superclass) labels, 3×32×32.
    #[value(name = "cifar100-coarse")]
    Cifar100Coarse,
    /// Tiny-ImageNet folder layout, 3×64×64, 200 classes; its `val/` folder is the test set.
    #[value(name = "tiny-imagenet")]
    TinyImagenet,
    /// A seeded synthetic set ([`SyntheticConfig`]) for tests and smoke runs.
    #[value(name = "synthetic")]
    Synthetic,
    /// Labelled points `[n, d]` from one file (`--data-dir FILE`, [`points`]), each a
    /// `(d, 1, 1)` input; train = validation = test = the points.
    #[value(name = "points")]
    Points,
}

impl Source {
    /// The name used on the command line and in [`Splits::name`].
    pub fn name(self) -> &'static str {
        match self {
            Source::FashionMnist => "fashion-mnist",
            Source::Mnist => "mnist",
            Source::Cifar10 => "cifar10",
            Source::Cifar100 => "cifar100",
            Source::Cifar100Coarse => "cifar100-coarse",
            Source::TinyImagenet => "tiny-imagenet",
            Source::Synthetic => "synthetic",
            Source::Points => "points",
        }
    }

    /// The folder used when [`DataSpec::dir`] is `None`. The CIFAR and Tiny-ImageNet loaders also
    /// look one level down, in the archive's own folder (`cifar-10-batches-bin/`,
    /// `cifar-100-binary/`, `tiny-imagenet-200/`).
    pub fn default_dir(self) -> PathBuf {
        PathBuf::from(match self {
            Source::FashionMnist => "/usr/share/datasets/fashion-mnist",
            Source::Mnist => "/usr/share/datasets/mnist",
            Source::Cifar10 => "data/cifar-10-batches-bin",
            Source::Cifar100 | Source::Cifar100Coarse => "data/cifar-100-binary",
            Source::TinyImagenet => "data/tiny-imagenet-200",
            Source::Synthetic => ".",
            Source::Points => "points.safetensors",
        })
    }

    /// The published per-channel `(mean, std)` of the training set; `None` for
    /// [`Source::Synthetic`] and [`Source::Points`], whose statistics are computed from
    /// their train split.
    pub fn mean_std(self) -> Option<(Vec<f32>, Vec<f32>)> {
        let (m, s): (&[f32], &[f32]) = match self {
            Source::FashionMnist => (&[0.2860], &[0.3530]),
            Source::Mnist => (&[0.1307], &[0.3081]),
            Source::Cifar10 => (&[0.4914, 0.4822, 0.4465], &[0.2470, 0.2435, 0.2616]),
            Source::Cifar100 | Source::Cifar100Coarse => {
                (&[0.5071, 0.4867, 0.4408], &[0.2675, 0.2565, 0.2761])
            }
            Source::TinyImagenet => (&[0.4802, 0.4481, 0.3975], &[0.2770, 0.2691, 0.2821]),
            Source::Synthetic | Source::Points => return None,
        };
        Some((m.to_vec(), s.to_vec()))
    }

    /// Whether random crop + flip ([`augment()`]) is on by default: yes for the 32×32 and 64×64
    /// colour sets (as in the paper), no for the 28×28 digit/clothing sets and synthetic data.
    pub fn augment_by_default(self) -> bool {
        matches!(
            self,
            Source::Cifar10 | Source::Cifar100 | Source::Cifar100Coarse | Source::TinyImagenet
        )
    }
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// What to load and how to split it.
#[derive(Clone, Debug, PartialEq)]
pub struct DataSpec {
    /// The dataset.
    pub source: Source,
    /// Its folder (for [`Source::Points`]: the file); `None` means [`Source::default_dir`].
    pub dir: Option<PathBuf>,
    /// Fraction of the (limited) training examples moved to the validation split, in `[0, 1)`.
    pub val_fraction: f64,
    /// Seed of the training-set shuffle that picks `limit_train` and the validation split.
    pub seed: u64,
    /// Keep only this many training examples (before the val split), chosen by the seeded shuffle.
    pub limit_train: Option<usize>,
    /// Keep only the first this many test examples (file order).
    pub limit_test: Option<usize>,
    /// Shape, size and seed of [`Source::Synthetic`] (ignored by the other sources).
    pub synthetic: SyntheticConfig,
}

impl Default for DataSpec {
    fn default() -> Self {
        Self {
            source: Source::default(),
            dir: None,
            val_fraction: 0.1,
            seed: 0,
            limit_train: None,
            limit_test: None,
            synthetic: SyntheticConfig::default(),
        }
    }
}

impl DataSpec {
    /// Checks the ranges of the fields.
    pub fn validate(&self) -> Result<()> {
        if !(self.val_fraction.is_finite() && (0.0..1.0).contains(&self.val_fraction)) {
            return Err(DataError::InvalidSpec {
                field: "val_fraction",
                value: self.val_fraction.to_string(),
                expected: "0 <= val_fraction < 1",
            });
        }
        if self.source == Source::Synthetic {
            self.synthetic.validate()?;
        }
        Ok(())
    }

    /// The folder to read: [`DataSpec::dir`] or the source's default.
    pub fn resolved_dir(&self) -> PathBuf {
        self.dir
            .clone()
            .unwrap_or_else(|| self.source.default_dir())
    }
}

/// Images and labels of one split.
#[derive(Debug)]
pub struct Dataset {
    /// `(n, c, h, w)` `f32` in `[0, 1]`, on the CPU.
    pub images: Tensor,
    /// `(n,)` `i64` in `0..num_classes`.
    pub labels: Tensor,
    /// Number of classes of the whole dataset (not only those present in this split).
    pub num_classes: usize,
}

impl Dataset {
    /// Wraps tensors. Panics if the shapes or kinds are not `(n, c, h, w)` float and `(n,)` int64.
    pub fn new(images: Tensor, labels: Tensor, num_classes: usize) -> Self {
        let is = images.size();
        let ls = labels.size();
        assert_eq!(is.len(), 4, "images must be (n, c, h, w), got {is:?}");
        assert_eq!(
            ls,
            [is[0]],
            "labels must be (n,) with n = {}, got {ls:?}",
            is[0]
        );
        assert_eq!(images.kind(), Kind::Float, "images must be f32");
        assert_eq!(labels.kind(), Kind::Int64, "labels must be int64");
        Self {
            images,
            labels,
            num_classes,
        }
    }

    /// Builds a dataset from bytes laid out `(n, c, h, w)` (pixel / 255) and labels.
    pub fn from_bytes(
        pixels: &[u8],
        shape: [usize; 4],
        labels: &[i64],
        num_classes: usize,
    ) -> Self {
        let [n, c, h, w] = shape;
        assert_eq!(
            pixels.len(),
            n * c * h * w,
            "pixel count does not match {shape:?}"
        );
        // Divide in place: one f32 copy at a time (Tiny-ImageNet's train set is 4.9 GB as f32).
        let mut images = Tensor::from_slice(pixels)
            .view([n as i64, c as i64, h as i64, w as i64])
            .to_kind(Kind::Float);
        let _ = images.g_div_scalar_(255.0);
        Self::new(images, Tensor::from_slice(labels), num_classes)
    }

    /// Number of examples.
    pub fn len(&self) -> usize {
        self.images.size()[0] as usize
    }

    /// Whether there are no examples.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// `[c, h, w]` of one image.
    pub fn image_shape(&self) -> [usize; 3] {
        let s = self.images.size();
        [s[1] as usize, s[2] as usize, s[3] as usize]
    }

    /// The examples at `indices`, in that order (a copy).
    pub fn select(&self, indices: &[usize]) -> Dataset {
        let idx: Vec<i64> = indices.iter().map(|&i| i as i64).collect();
        let idx = Tensor::from_slice(&idx);
        Dataset {
            images: self.images.index_select(0, &idx),
            labels: self.labels.index_select(0, &idx),
            num_classes: self.num_classes,
        }
    }

    /// The first `n` examples (all if fewer), sharing storage.
    pub fn take(&self, n: usize) -> Dataset {
        let n = n.min(self.len()) as i64;
        Dataset {
            images: self.images.narrow(0, 0, n),
            labels: self.labels.narrow(0, 0, n),
            num_classes: self.num_classes,
        }
    }

    /// Another handle to the same tensors (no copy).
    pub fn shallow_clone(&self) -> Dataset {
        Dataset {
            images: self.images.shallow_clone(),
            labels: self.labels.shallow_clone(),
            num_classes: self.num_classes,
        }
    }

    /// The dataset moved to `device` (a no-op handle when already there), e.g. to keep a small
    /// set on the GPU so that batching never copies across the bus.
    pub fn to_device(&self, device: Device) -> Dataset {
        Dataset {
            images: self.images.to_device(device),
            labels: self.labels.to_device(device),
            num_classes: self.num_classes,
        }
    }

    /// Examples `start..start + len`, sharing storage.
    fn range(&self, start: usize, len: usize) -> Dataset {
        Dataset {
            images: self.images.narrow(0, start as i64, len as i64),
            labels: self.labels.narrow(0, start as i64, len as i64),
            num_classes: self.num_classes,
        }
    }

    /// Mini-batches in a random order fixed by `seed` (use [`epoch_seed`] for a new order per
    /// epoch), moved to `device`; the last batch is smaller when `batch_size` does not divide the
    /// length. Panics if `batch_size == 0`.
    pub fn batches(&self, batch_size: usize, seed: u64, device: Device) -> Batches<'_> {
        assert!(batch_size > 0, "batch_size must be positive");
        let order = self.batch_order(seed);
        Batches {
            data: self,
            order: Some(order),
            pos: 0,
            batch_size,
            device,
        }
    }

    /// The example order [`Dataset::batches`] uses for `seed`: batch `k` holds
    /// `order[k·b .. (k+1)·b]`.
    pub fn batch_order(&self, seed: u64) -> Vec<i64> {
        SeededRng::new(seed)
            .permutation(self.len())
            .into_iter()
            .map(|i| i as i64)
            .collect()
    }

    /// Mini-batches in file order (for evaluation), moved to `device`; the last one may be
    /// smaller. Panics if `batch_size == 0`.
    pub fn batches_in_order(&self, batch_size: usize, device: Device) -> Batches<'_> {
        assert!(batch_size > 0, "batch_size must be positive");
        Batches {
            data: self,
            order: None,
            pos: 0,
            batch_size,
            device,
        }
    }
}

/// Iterator of `(images (b, c, h, w) f32, labels (b,) i64)` over a [`Dataset`]; see
/// [`Dataset::batches`] and [`Dataset::batches_in_order`].
#[derive(Debug)]
pub struct Batches<'a> {
    data: &'a Dataset,
    order: Option<Vec<i64>>,
    pos: usize,
    batch_size: usize,
    device: Device,
}

impl Iterator for Batches<'_> {
    type Item = (Tensor, Tensor);

    fn next(&mut self) -> Option<Self::Item> {
        let n = self.data.len();
        if self.pos >= n {
            return None;
        }
        let end = (self.pos + self.batch_size).min(n);
        let (x, y) = match &self.order {
            Some(order) => {
                let idx = Tensor::from_slice(&order[self.pos..end]);
                (
                    self.data.images.index_select(0, &idx),
                    self.data.labels.index_select(0, &idx),
                )
            }
            None => {
                let b = self.data.range(self.pos, end - self.pos);
                (b.images, b.labels)
            }
        };
        self.pos = end;
        Some((x.to_device(self.device), y.to_device(self.device)))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = self
            .data
            .len()
            .saturating_sub(self.pos)
            .div_ceil(self.batch_size);
        (left, Some(left))
    }
}

impl ExactSizeIterator for Batches<'_> {}

/// Where a model's training data came from: the data set, how its validation split was
/// carved, and the input normalization. `snl train` stores it in the model file
/// (`snl.data`), so that `linearize` and `eval` can refuse data that differ — above all a
/// validation split that overlaps the teacher's training examples.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct DataRecord {
    /// [`Source::name`].
    pub source: String,
    /// Seed of the shuffle that picks `limit_train` and the validation split.
    pub split_seed: u64,
    /// [`DataSpec::val_fraction`].
    pub val_fraction: f64,
    /// [`DataSpec::limit_train`].
    pub limit_train: Option<usize>,
    /// Examples in the training split.
    pub train: usize,
    /// Examples in the validation split.
    pub val: usize,
    /// Per-channel normalization mean.
    pub mean: Vec<f32>,
    /// Per-channel normalization standard deviation.
    pub std: Vec<f32>,
}

/// One way given data cannot stand in for a model's data ([`DataRecord::differences`]).
#[derive(Clone, Debug, PartialEq)]
pub enum Difference {
    /// Another data set (`mine`, `given`).
    Data(String, String),
    /// Another split seed.
    SplitSeed(u64, u64),
    /// Other normalization constants (`mean/std`, formatted).
    Normalization(String, String),
    /// A larger validation split (`mine`, `given`): it holds examples the model trained on.
    Validation(usize, usize),
}

impl Difference {
    /// Whether the difference is in the data itself (data set or normalization), not in
    /// how it was split.
    pub fn is_data(&self) -> bool {
        matches!(self, Difference::Data(..) | Difference::Normalization(..))
    }
}

impl std::fmt::Display for Difference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Difference::Data(a, b) => write!(f, "data {a} vs {b}"),
            Difference::SplitSeed(a, b) => write!(f, "split seed {a} vs {b}"),
            Difference::Normalization(a, b) => write!(f, "normalization {a} vs {b}"),
            Difference::Validation(a, b) => write!(
                f,
                "validation examples {a} vs {b} (a larger validation split holds examples the model trained on)"
            ),
        }
    }
}

impl DataRecord {
    /// Why `other` (data given now) cannot stand in for this record (the model's data)
    /// (empty when it can). The data set, the split seed and (for data sets with published
    /// constants) the normalization must be equal. The validation split is always the first
    /// `val` examples of the seed's shuffle, so a smaller one (a smaller `--limit-train` or
    /// `--val-fraction`) lies inside the model's and is accepted; a larger one would hold
    /// examples the model was trained on.
    pub fn differences(&self, other: &DataRecord) -> Vec<Difference> {
        let mut d = Vec::new();
        if self.source != other.source {
            d.push(Difference::Data(self.source.clone(), other.source.clone()));
        }
        if self.split_seed != other.split_seed {
            d.push(Difference::SplitSeed(self.split_seed, other.split_seed));
        }
        // synthetic data are normalized with their own train split's statistics, which
        // change with the split; the model file carries the constants it was trained with
        if self.source != Source::Synthetic.name() {
            let (mine, given) = (
                format!("{:?}/{:?}", self.mean, self.std),
                format!("{:?}/{:?}", other.mean, other.std),
            );
            if mine != given {
                d.push(Difference::Normalization(mine, given));
            }
        }
        if other.val > self.val {
            d.push(Difference::Validation(self.val, other.val));
        }
        d
    }
}

/// Train, validation and test splits plus the normalization constants.
#[derive(Debug)]
pub struct Splits {
    /// Training examples (what is left of the training files after `val` and `limit_train`).
    pub train: Dataset,
    /// Validation examples carved from the training files (may be empty).
    pub val: Dataset,
    /// Test examples (Tiny-ImageNet: its `val/` folder).
    pub test: Dataset,
    /// The source's name, e.g. `"cifar100"`.
    pub name: String,
    /// Per-channel mean used by [`Splits::normalize`].
    pub mean: Vec<f32>,
    /// Per-channel standard deviation used by [`Splits::normalize`].
    pub std: Vec<f32>,
    /// Whether training should use [`augment()`] by default ([`Source::augment_by_default`]).
    pub augment: bool,
    /// How these splits were made (stored in model files).
    pub record: DataRecord,
}

impl Splits {
    /// `(x - mean[c]) / std[c]` for a batch `x` of shape `(b, c, h, w)`, on `x`'s device.
    /// Panics if `c` differs from the number of channels.
    pub fn normalize(&self, x: &Tensor) -> Tensor {
        let c = self.mean.len() as i64;
        let s = x.size();
        assert!(
            s.len() == 4 && s[1] == c,
            "normalize: expected (b, {c}, h, w), got {s:?}"
        );
        let opts = (x.kind(), x.device());
        let mean = Tensor::from_slice(&self.mean)
            .view([1, c, 1, 1])
            .to_kind(opts.0)
            .to_device(opts.1);
        let std = Tensor::from_slice(&self.std)
            .view([1, c, 1, 1])
            .to_kind(opts.0)
            .to_device(opts.1);
        (x - mean) / std
    }

    /// `[c, h, w]` of one input image.
    pub fn input_shape(&self) -> [usize; 3] {
        self.train.image_shape()
    }

    /// Number of classes.
    pub fn num_classes(&self) -> usize {
        self.train.num_classes
    }
}

/// Loads `spec.source` from `spec.dir` (or its default folder) and splits it.
pub fn load(spec: &DataSpec) -> Result<Splits> {
    spec.validate()?;
    let dir = spec.resolved_dir();
    let (train, test) = match spec.source {
        Source::FashionMnist | Source::Mnist => {
            let (full, test) = idx::load_idx(&dir, spec.source)?;
            (full.select(&train_order(full.len(), spec)), test)
        }
        Source::Cifar10 => {
            let (full, test) = cifar::load_cifar10(&dir)?;
            (full.select(&train_order(full.len(), spec)), test)
        }
        Source::Cifar100 | Source::Cifar100Coarse => {
            let labels = if spec.source == Source::Cifar100 {
                cifar::Cifar100Labels::Fine
            } else {
                cifar::Cifar100Labels::Coarse
            };
            let (full, test) = cifar::load_cifar100(&dir, labels)?;
            (full.select(&train_order(full.len(), spec)), test)
        }
        Source::TinyImagenet => {
            // Decode only the examples that are kept: list the files, pick, then decode.
            let index = tiny_imagenet::TinyImagenetIndex::read(&dir)?;
            let order = train_order(index.train.len(), spec);
            let train = index.decode_train(&order)?;
            let test_n = spec.limit_test.unwrap_or(usize::MAX).min(index.test.len());
            let test = index.decode_test(&(0..test_n).collect::<Vec<_>>())?;
            (train, test)
        }
        Source::Synthetic => {
            let (full, test) = synthetic::generate(&spec.synthetic)?;
            (full.select(&train_order(full.len(), spec)), test)
        }
        // train = validation = test = the points: no split
        Source::Points => return points::load_splits(spec),
    };
    let test = match spec.limit_test {
        Some(n) => test.take(n),
        None => test,
    };
    // `train` is already shuffled: the first `k` examples become the validation split.
    let n = train.len();
    let k = val_count(n, spec.val_fraction);
    let val = train.range(0, k);
    let train = train.range(k, n - k);
    let (mean, std) = match spec.source.mean_std() {
        Some(ms) => ms,
        None => channel_mean_std(&train.images),
    };
    let record = DataRecord {
        source: spec.source.name().to_string(),
        split_seed: spec.seed,
        val_fraction: spec.val_fraction,
        limit_train: spec.limit_train,
        train: train.len(),
        val: val.len(),
        mean: mean.clone(),
        std: std.clone(),
    };
    Ok(Splits {
        train,
        val,
        test,
        name: spec.source.name().to_string(),
        mean,
        std,
        augment: spec.source.augment_by_default(),
        record,
    })
}

/// The training indices kept, in shuffled order: a permutation of `0..n` fixed by `spec.seed`,
/// cut to `spec.limit_train`.
fn train_order(n: usize, spec: &DataSpec) -> Vec<usize> {
    let mut order = SeededRng::new(spec.seed).permutation(n);
    if let Some(limit) = spec.limit_train {
        order.truncate(limit);
    }
    order
}

/// Size of the validation split: `round(n * fraction)`, at most `n - 1` so that training keeps at
/// least one example (when `n > 0`).
fn val_count(n: usize, fraction: f64) -> usize {
    let k = (n as f64 * fraction).round() as usize;
    k.min(n.saturating_sub(1))
}

/// Per-channel mean and (population) standard deviation of `(n, c, h, w)` images; a zero std
/// (constant channel) becomes 1 so that normalizing stays finite.
pub fn channel_mean_std(images: &Tensor) -> (Vec<f32>, Vec<f32>) {
    let c = images.size()[1];
    if images.numel() == 0 {
        return (vec![0.0; c as usize], vec![1.0; c as usize]);
    }
    let x = images
        .to_kind(Kind::Double)
        .transpose(0, 1)
        .reshape([c, -1]);
    let mean = x.mean_dim(1, false, Kind::Double);
    let std = x.std_dim(1, false, false);
    let mean: Vec<f64> = Vec::try_from(&mean).expect("mean to vec");
    let std: Vec<f64> = Vec::try_from(&std).expect("std to vec");
    (
        mean.into_iter().map(|m| m as f32).collect(),
        std.into_iter()
            .map(|s| if s > 0.0 { s as f32 } else { 1.0 })
            .collect(),
    )
}

/// Reads a whole file, mapping "not found" to [`DataError::NotFound`] with `expected`.
pub(crate) fn read_file(path: &Path, expected: &str) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| io_error(path, e, expected))
}

/// [`DataError::NotFound`] for a missing path, else [`DataError::Io`].
pub(crate) fn io_error(path: &Path, e: std::io::Error, expected: &str) -> DataError {
    if e.kind() == std::io::ErrorKind::NotFound {
        DataError::NotFound {
            path: path.to_path_buf(),
            expected: expected.to_string(),
        }
    } else {
        DataError::Io {
            path: path.to_path_buf(),
            source: e,
        }
    }
}

/// `dir` itself when it holds `probe`, else `dir/sub` when that holds it, else `dir`.
pub(crate) fn find_root(dir: &Path, sub: &str, probe: &str) -> PathBuf {
    if !dir.join(probe).exists() && dir.join(sub).join(probe).exists() {
        dir.join(sub)
    } else {
        dir.to_path_buf()
    }
}

#[cfg(test)]
mod tests {
    use super::test_util::{cifar_record, ints, one_thread, values, write_idx_dir};
    use super::*;

    /// Each way data differ is its own variant, printed as `what mine vs given`; only the
    /// data set and the normalization are differences in the data itself.
    #[test]
    fn data_records_differ_by_typed_differences() {
        let mine = DataRecord {
            source: "fashion-mnist".into(),
            split_seed: 0,
            val_fraction: 0.1,
            limit_train: None,
            train: 54_000,
            val: 6_000,
            mean: vec![0.5],
            std: vec![0.25],
        };
        assert!(mine.differences(&mine).is_empty());
        let given = DataRecord {
            source: "mnist".into(),
            split_seed: 3,
            val: 7_000,
            mean: vec![0.1],
            ..mine.clone()
        };
        let d = mine.differences(&given);
        assert_eq!(
            d,
            vec![
                Difference::Data("fashion-mnist".into(), "mnist".into()),
                Difference::SplitSeed(0, 3),
                Difference::Normalization("[0.5]/[0.25]".into(), "[0.1]/[0.25]".into()),
                Difference::Validation(6_000, 7_000),
            ]
        );
        assert_eq!(d[1].to_string(), "split seed 0 vs 3");
        assert_eq!(
            d.iter().map(Difference::is_data).collect::<Vec<_>>(),
            [true, false, true, false]
        );
        // a smaller validation split lies inside the model's
        let smaller = DataRecord {
            val: 10,
            ..mine.clone()
        };
        assert!(mine.differences(&smaller).is_empty());
    }

    /// Loads a 50-example IDX set whose training image `i` carries the id `i` in pixel 0.
    fn idx_spec(dir: &Path, seed: u64, val_fraction: f64) -> DataSpec {
        DataSpec {
            source: Source::Mnist,
            dir: Some(dir.to_path_buf()),
            val_fraction,
            seed,
            ..DataSpec::default()
        }
    }

    fn ids(d: &Dataset) -> Vec<i64> {
        values(&d.images.narrow(2, 0, 1).narrow(3, 0, 1).flatten(0, -1))
            .iter()
            .map(|v| (v * 255.0).round() as i64)
            .collect()
    }

    #[test]
    fn val_split_is_a_seeded_partition_of_train() {
        one_thread();
        let tmp = tempfile::tempdir().unwrap();
        write_idx_dir(tmp.path(), 50, 7, 2, 2, true);
        let s = load(&idx_spec(tmp.path(), 1, 0.1)).unwrap();
        assert_eq!((s.train.len(), s.val.len(), s.test.len()), (45, 5, 7));
        assert_eq!(s.name, "mnist");
        assert_eq!(
            (s.mean.clone(), s.std.clone()),
            (vec![0.1307], vec![0.3081])
        );
        assert!(!s.augment);
        let mut all: Vec<i64> = ids(&s.train).into_iter().chain(ids(&s.val)).collect();
        // Labels travel with their images: label = id % 10.
        let lab: Vec<i64> = ints(&s.train.labels)
            .into_iter()
            .chain(ints(&s.val.labels))
            .collect();
        assert!(all.iter().zip(&lab).all(|(i, l)| i % 10 == *l));
        all.sort_unstable();
        assert_eq!(all, (0..50).collect::<Vec<_>>());
        let same = load(&idx_spec(tmp.path(), 1, 0.1)).unwrap();
        assert_eq!(ids(&same.val), ids(&s.val));
        assert_eq!(ids(&same.train), ids(&s.train));
        let other = load(&idx_spec(tmp.path(), 2, 0.1)).unwrap();
        assert_ne!(ids(&other.val), ids(&s.val));
        // The test set is never shuffled.
        assert_eq!(ints(&s.test.labels), [0, 1, 2, 3, 4, 5, 6]);
    }

    #[test]
    fn zero_val_fraction_limits_and_invalid_fractions() {
        one_thread();
        let tmp = tempfile::tempdir().unwrap();
        write_idx_dir(tmp.path(), 50, 7, 2, 2, false);
        let s = load(&idx_spec(tmp.path(), 3, 0.0)).unwrap();
        assert_eq!((s.train.len(), s.val.len()), (50, 0));
        assert_eq!(s.val.batches_in_order(4, Device::Cpu).count(), 0);
        let limited = DataSpec {
            limit_train: Some(20),
            limit_test: Some(3),
            ..idx_spec(tmp.path(), 3, 0.25)
        };
        let l = load(&limited).unwrap();
        assert_eq!((l.train.len(), l.val.len(), l.test.len()), (15, 5, 3));
        // The limited set is the first 20 of the same seeded shuffle that `s` kept whole.
        let kept: Vec<i64> = ids(&l.val).into_iter().chain(ids(&l.train)).collect();
        assert_eq!(kept, ids(&s.train)[..20]);
        assert_eq!(ints(&l.test.labels), [0, 1, 2]);
        let big = DataSpec {
            limit_train: Some(1000),
            limit_test: Some(1000),
            ..idx_spec(tmp.path(), 3, 0.0)
        };
        let b = load(&big).unwrap();
        assert_eq!((b.train.len(), b.test.len()), (50, 7));
        for f in [1.0, -0.1, f64::NAN, f64::INFINITY] {
            let err = load(&idx_spec(tmp.path(), 0, f)).unwrap_err();
            assert!(
                matches!(
                    err,
                    DataError::InvalidSpec {
                        field: "val_fraction",
                        ..
                    }
                ),
                "{f}: {err}"
            );
        }
        // A huge fraction still leaves one training example.
        let one = DataSpec {
            limit_train: Some(3),
            ..idx_spec(tmp.path(), 0, 0.99)
        };
        let o = load(&one).unwrap();
        assert_eq!((o.train.len(), o.val.len()), (1, 2));
    }

    #[test]
    fn shuffled_batches_cover_each_example_once_and_keep_the_last_partial_batch() {
        one_thread();
        let tmp = tempfile::tempdir().unwrap();
        write_idx_dir(tmp.path(), 23, 5, 2, 2, false);
        let s = load(&idx_spec(tmp.path(), 0, 0.0)).unwrap();
        let batches: Vec<(Tensor, Tensor)> = s.train.batches(5, 11, Device::Cpu).collect();
        assert_eq!(s.train.batches(5, 11, Device::Cpu).len(), 5);
        let sizes: Vec<i64> = batches.iter().map(|(x, _)| x.size()[0]).collect();
        assert_eq!(sizes, [5, 5, 5, 5, 3]);
        let mut seen = Vec::new();
        for (x, y) in &batches {
            assert_eq!(x.size()[1..], [1, 2, 2]);
            assert_eq!(x.device(), Device::Cpu);
            let id: Vec<i64> = values(&x.narrow(2, 0, 1).narrow(3, 0, 1).flatten(0, -1))
                .iter()
                .map(|v| (v * 255.0).round() as i64)
                .collect();
            assert!(
                id.iter().zip(ints(y)).all(|(i, l)| i % 10 == l),
                "labels follow images"
            );
            seen.extend(id);
        }
        let order = seen.clone();
        seen.sort_unstable();
        assert_eq!(seen, (0..23).collect::<Vec<_>>());
        let again: Vec<i64> = s
            .train
            .batches(5, 11, Device::Cpu)
            .flat_map(|(_, y)| ints(&y))
            .collect();
        let train_labels = ints(&s.train.labels);
        assert_eq!(again, order.iter().map(|i| i % 10).collect::<Vec<_>>());
        let other: Vec<i64> = s
            .train
            .batches(5, epoch_seed(11, 1), Device::Cpu)
            .flat_map(|(_, y)| ints(&y))
            .collect();
        assert_ne!(other, again);
        let in_order: Vec<i64> = s
            .test
            .batches_in_order(2, Device::Cpu)
            .flat_map(|(_, y)| ints(&y))
            .collect();
        assert_eq!(in_order, [0, 1, 2, 3, 4]);
        assert_eq!(s.test.batches_in_order(2, Device::Cpu).len(), 3);
        let all: Vec<i64> = s
            .train
            .batches_in_order(100, Device::Cpu)
            .flat_map(|(_, y)| ints(&y))
            .collect();
        assert_eq!(all, train_labels);
        let handle = s.train.shallow_clone();
        let moved = s.train.to_device(Device::Cpu);
        assert_eq!((handle.len(), moved.len(), moved.num_classes), (23, 23, 10));
        assert_eq!(values(&handle.images), values(&s.train.images));
        assert_eq!(ints(&moved.labels), train_labels);
    }

    #[test]
    fn normalize_uses_the_source_constants_or_the_synthetic_train_statistics() {
        one_thread();
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("cifar-10-batches-bin");
        std::fs::create_dir_all(&dir).unwrap();
        for name in [
            "data_batch_1.bin",
            "data_batch_2.bin",
            "data_batch_3.bin",
            "data_batch_4.bin",
            "data_batch_5.bin",
            "test_batch.bin",
        ] {
            std::fs::write(
                dir.join(name),
                cifar_record(&[1], |c, _, _| [255, 0, 51][c]),
            )
            .unwrap();
        }
        let spec = DataSpec {
            source: Source::Cifar10,
            dir: Some(tmp.path().into()),
            ..DataSpec::default()
        };
        let s = load(&spec).unwrap();
        assert!(s.augment);
        assert_eq!(
            (s.train.len(), s.val.len(), s.input_shape(), s.num_classes()),
            (4, 1, [3, 32, 32], 10)
        );
        let z = s.normalize(&s.train.images);
        // Channel 0 is 1.0: (1 - 0.4914) / 0.2470; channel 2 is 0.2: (0.2 - 0.4465) / 0.2616.
        assert!((z.double_value(&[0, 0, 3, 3]) - (1.0 - 0.4914) / 0.2470).abs() < 1e-5);
        assert!((z.double_value(&[3, 2, 0, 31]) - (0.2 - 0.4465) / 0.2616).abs() < 1e-5);

        let syn = DataSpec {
            source: Source::Synthetic,
            synthetic: SyntheticConfig {
                train: 300,
                test: 10,
                height: 8,
                width: 8,
                ..SyntheticConfig::default()
            },
            ..DataSpec::default()
        };
        let s = load(&syn).unwrap();
        assert_eq!((s.train.len(), s.val.len(), s.test.len()), (270, 30, 10));
        assert_eq!(s.mean.len(), 3);
        let z = s
            .normalize(&s.train.images)
            .transpose(0, 1)
            .reshape([3, -1]);
        let m = values(&z.mean_dim(1, false, Kind::Float));
        let sd = values(&z.std_dim(1, false, false));
        assert!(m.iter().all(|v| v.abs() < 1e-4), "{m:?}");
        assert!(sd.iter().all(|v| (v - 1.0).abs() < 1e-4), "{sd:?}");
    }

    #[test]
    fn source_names_parse_as_on_the_command_line() {
        for (name, src) in [
            ("fashion-mnist", Source::FashionMnist),
            ("mnist", Source::Mnist),
            ("cifar10", Source::Cifar10),
            ("cifar100", Source::Cifar100),
            ("cifar100-coarse", Source::Cifar100Coarse),
            ("tiny-imagenet", Source::TinyImagenet),
            ("synthetic", Source::Synthetic),
            ("points", Source::Points),
        ] {
            assert_eq!(Source::from_str(name, false).unwrap(), src);
            assert_eq!(src.to_string(), name);
            let (m, s) = src.mean_std().unwrap_or((vec![0.0; 3], vec![1.0; 3]));
            assert_eq!(m.len(), s.len());
        }
        assert_eq!(Source::value_variants().len(), 8);
    }

    #[test]
    fn tiny_imagenet_through_load_splits_and_limits() {
        one_thread();
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        std::fs::write(root.join("wnids.txt"), "b\na\n").unwrap();
        for (k, w) in ["a", "b"].iter().enumerate() {
            for i in 0..4 {
                test_util::write_jpeg(
                    &root.join(format!("train/{w}/images/{i}.JPEG")),
                    64,
                    64,
                    |_, _| [(k * 200) as u8, (i * 50) as u8, 0],
                );
            }
        }
        let mut ann = String::new();
        for j in 0..3 {
            test_util::write_jpeg(
                &root.join(format!("val/images/v{j}.JPEG")),
                64,
                64,
                |_, _| [0, 0, 0],
            );
            ann.push_str(&format!("v{j}.JPEG\t{}\t0\t0\t1\t1\n", ["b", "a", "b"][j]));
        }
        std::fs::write(root.join("val/val_annotations.txt"), ann).unwrap();
        let spec = DataSpec {
            source: Source::TinyImagenet,
            dir: Some(root.into()),
            val_fraction: 0.5,
            limit_train: Some(6),
            limit_test: Some(2),
            ..DataSpec::default()
        };
        let s = load(&spec).unwrap();
        assert_eq!(
            (s.train.len(), s.val.len(), s.test.len(), s.num_classes()),
            (3, 3, 2, 2)
        );
        assert_eq!(s.input_shape(), [3, 64, 64]);
        assert_eq!(ints(&s.test.labels), [1, 0]);
        assert_eq!(s.mean, [0.4802, 0.4481, 0.3975]);
        // Red channel 200/255 exactly marks class b (1), 0 class a (0).
        for d in [&s.train, &s.val] {
            let red = values(&d.images.select(1, 0).mean_dim(
                [1, 2].as_slice(),
                false,
                Kind::Float,
            ));
            for (r, l) in red.iter().zip(ints(&d.labels)) {
                assert!(
                    (r * 255.0 - 200.0 * l as f32).abs() < 3.0,
                    "{r} vs class {l}"
                );
            }
        }
        let again = load(&spec).unwrap();
        assert_eq!(values(&again.train.images), values(&s.train.images));
    }

    /// The real Fashion-MNIST, when installed (`apt-get install dataset-fashion-mnist`).
    #[test]
    fn real_fashion_mnist_when_installed() {
        one_thread();
        let dir = Source::FashionMnist.default_dir();
        if !dir.join("train-images-idx3-ubyte.gz").exists()
            && !dir.join("train-images-idx3-ubyte").exists()
        {
            eprintln!(
                "SKIPPED real_fashion_mnist_when_installed: {} has no Fashion-MNIST",
                dir.display()
            );
            return;
        }
        let s = load(&DataSpec {
            val_fraction: 0.0,
            ..DataSpec::default()
        })
        .unwrap();
        assert_eq!(
            (s.train.len(), s.val.len(), s.test.len()),
            (60000, 0, 10000)
        );
        assert_eq!(s.input_shape(), [1, 28, 28]);
        for d in [&s.train, &s.test] {
            assert_eq!(d.labels.min().int64_value(&[]), 0);
            assert_eq!(d.labels.max().int64_value(&[]), 9);
            assert!(
                d.images.min().double_value(&[]) >= 0.0 && d.images.max().double_value(&[]) <= 1.0
            );
        }
        // The published mean 0.2860 is the train mean.
        let mean = s.train.images.mean(Kind::Float).double_value(&[]);
        assert!((mean - 0.2860).abs() < 1e-3, "{mean}");
    }
}
