//! Test sets for robustness checks: examples, labels and the input normalization a model
//! expects, in one `.safetensors` file (format in `docs/inputs-format.md`).
//!
//! | entry | what |
//! |---|---|
//! | tensor `inputs` | `[N, ...]` F32 or F64, **raw** pixels `x` (before normalization) |
//! | tensor `labels` | `[N]` I64 (also I32, U8), class indices |
//! | metadata `mean`, `std` | JSON arrays, one entry per channel `c` (dimension 1 of `inputs`): the model reads `x' = (x − mean[c]) / std[c]`; absent, it reads `x` |
//! | metadata `pixel_min`, `pixel_max` | numbers: the valid pixel range, which clips an ε-ball |
//! | other metadata | free-form ([`Samples::info`]) |
//!
//! [`Samples::ball`] is the L∞ ball of radius ε around an example, **in pixel space**,
//! clipped to the pixel range and mapped through the normalization:
//! `B = {(x − mean) / std : ‖x − xᵢ‖∞ ≤ ε, pixel_min ≤ x ≤ pixel_max}`. The map is
//! monotone per coordinate, so `B` is a box; the returned f64 box contains it (every end
//! is rounded outward), which is what a sound robustness proof needs.
//!
//! ```
//! use std::collections::BTreeMap;
//! use snl_theory::io::samples::Samples;
//!
//! // one 1×1×2 image, pixels in [0, 1], normalized by (x − 0.5) / 0.25
//! let s = Samples {
//!     shape: vec![1, 1, 2],
//!     inputs: vec![0.0, 0.75],
//!     labels: vec![3],
//!     mean: Some(vec![0.5]),
//!     std: Some(vec![0.25]),
//!     pixel_range: Some((0.0, 1.0)),
//!     info: BTreeMap::new(),
//! };
//! assert_eq!(s.normalized(0), vec![-2.0, 1.0]);
//! // pixels [0, 0.1] and [0.65, 0.85] -> [-2, -1.6] and [0.6, 1.4], rounded outward
//! let b = s.ball(0, 0.1).unwrap();
//! assert!(b.lower[0] <= -2.0 && b.upper[0] >= -1.6 && b.upper[0] < -1.6 + 1e-12);
//! assert!(b.lower[1] <= 0.6 && b.upper[1] >= 1.4);
//! ```
use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use safetensors::Dtype;

use crate::bound::InputBox;
use crate::error::BoxProblem;
use crate::io::model_file::{sorted_header, write_atomic};
use crate::io::st_file::StFile;
use crate::{numel, Error, Result, SamplesProblem};

/// Tensor holding the examples.
pub const TENSOR_INPUTS: &str = "inputs";
/// Tensor holding the labels.
pub const TENSOR_LABELS: &str = "labels";
const KEY_MEAN: &str = "mean";
const KEY_STD: &str = "std";
const KEY_PIXEL_MIN: &str = "pixel_min";
const KEY_PIXEL_MAX: &str = "pixel_max";
const RESERVED: [&str; 4] = [KEY_MEAN, KEY_STD, KEY_PIXEL_MIN, KEY_PIXEL_MAX];

/// A test set: `N` examples of one shape, their labels and the normalization the model
/// expects. [`Samples::load`] and [`Samples::save`] check that the fields agree; the
/// accessors assume they do.
#[derive(Clone, Debug, PartialEq)]
pub struct Samples {
    /// One example's shape, e.g. `[1, 28, 28]`; dimension 0 is the channel.
    pub shape: Vec<usize>,
    /// `N · numel(shape)` raw pixel values, example after example, each row-major.
    pub inputs: Vec<f64>,
    /// `N` class indices.
    pub labels: Vec<usize>,
    /// Per-channel mean of the normalization (with `std`), or `None` for none.
    pub mean: Option<Vec<f64>>,
    /// Per-channel standard deviation of the normalization (with `mean`), each `> 0`.
    pub std: Option<Vec<f64>>,
    /// The valid pixel range `(min, max)`, if any.
    pub pixel_range: Option<(f64, f64)>,
    /// Free-form metadata (`data`, `split`, `count`, ...).
    pub info: BTreeMap<String, String>,
}

fn file_error(path: &Path, problem: SamplesProblem) -> Error {
    Error::SamplesFile {
        path: path.to_path_buf(),
        problem,
    }
}

fn metadata(key: &'static str, reason: impl Into<String>) -> SamplesProblem {
    SamplesProblem::Metadata {
        key,
        reason: reason.into(),
    }
}

impl Samples {
    /// Number of examples.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether there are no examples.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Values per example: `numel(shape)`.
    pub fn example_len(&self) -> usize {
        numel(&self.shape)
    }

    /// Example `i`'s raw pixels (row-major). Panics if `i >= len()`.
    pub fn input(&self, i: usize) -> &[f64] {
        let n = self.example_len();
        &self.inputs[i * n..(i + 1) * n]
    }

    /// Example `i` as the model reads it: `(x − mean[c]) / std[c]` per channel `c`, or the
    /// raw pixels when there is no normalization. Panics if `i >= len()`.
    pub fn normalized(&self, i: usize) -> Vec<f64> {
        let x = self.input(i);
        match (&self.mean, &self.std) {
            (Some(mean), Some(std)) => {
                let per = self.per_channel();
                x.iter()
                    .enumerate()
                    .map(|(j, &v)| (v - mean[j / per]) / std[j / per])
                    .collect()
            }
            _ => x.to_vec(),
        }
    }

    /// Values per channel: `numel(shape[1..])`.
    fn per_channel(&self) -> usize {
        numel(self.shape.get(1..).unwrap_or(&[])).max(1)
    }

    /// The L∞ ball of radius `eps` around example `i` in pixel space, intersected with the
    /// pixel range, in the model's input space (see the module doc). Every end is rounded
    /// outward, so the box contains the exact image of every point of the ball.
    ///
    /// Errors: `eps` not a finite number `> 0` ([`BoxProblem::Epsilon`]), `i` out of range
    /// ([`Error::NoSuchSample`]).
    pub fn ball(&self, i: usize, eps: f64) -> Result<InputBox> {
        if !(eps.is_finite() && eps > 0.0) {
            return Err(Error::InputBox(BoxProblem::Epsilon(eps)));
        }
        if i >= self.len() {
            return Err(Error::NoSuchSample {
                index: i,
                count: self.len(),
            });
        }
        let per = self.per_channel();
        let x = self.input(i);
        let mut lower = Vec::with_capacity(x.len());
        let mut upper = Vec::with_capacity(x.len());
        for (j, &v) in x.iter().enumerate() {
            // A rounded-to-nearest result r of an exact real t has
            // r.next_down() <= t <= r.next_up(): one step out per operation is sound.
            let mut lo = (v - eps).next_down();
            let mut hi = (v + eps).next_up();
            if let Some((min, max)) = self.pixel_range {
                // clipping by exact numbers is exact
                lo = lo.max(min);
                hi = hi.min(max);
            }
            if let (Some(mean), Some(std)) = (&self.mean, &self.std) {
                // (t − m) / s is increasing in t (s > 0): bracket the difference, then the
                // quotient of each bracket end
                let (m, s) = (mean[j / per], std[j / per]);
                lo = ((lo - m).next_down() / s).next_down();
                hi = ((hi - m).next_up() / s).next_up();
            }
            lower.push(lo);
            upper.push(hi);
        }
        InputBox::new(lower, upper)
    }

    /// Checks that the examples fit a model with input shape `input_shape` and `outputs`
    /// classes: [`Error::SampleShape`] when one example's shape differs,
    /// [`Error::LabelOutOfRange`] for the first label `>= outputs`.
    pub fn check_model(&self, input_shape: &[usize], outputs: usize) -> Result<()> {
        if self.shape != input_shape {
            return Err(Error::SampleShape {
                expected: input_shape.to_vec(),
                got: self.shape.clone(),
            });
        }
        if let Some((index, &label)) = self.labels.iter().enumerate().find(|(_, &l)| l >= outputs) {
            return Err(Error::LabelOutOfRange {
                index,
                label,
                outputs,
            });
        }
        Ok(())
    }

    /// Checks that the fields agree: whole examples, finite pixels inside the pixel range,
    /// one positive std and a finite mean per channel.
    fn validate(&self) -> std::result::Result<(), SamplesProblem> {
        let n = self.len();
        if n == 0 {
            return Err(SamplesProblem::Empty);
        }
        let per = self.example_len();
        if self.shape.is_empty() || per == 0 || self.inputs.len() != n * per {
            return Err(SamplesProblem::Length {
                examples: n,
                shape: self.shape.clone(),
                expected: n * per,
                got: self.inputs.len(),
            });
        }
        if let Some(j) = self.inputs.iter().position(|v| !v.is_finite()) {
            return Err(SamplesProblem::NonFinite { index: j / per });
        }
        let channels = self.shape[0];
        match (&self.mean, &self.std) {
            (None, None) => {}
            (Some(_), None) => return Err(metadata(KEY_STD, "mean is given, std is not")),
            (None, Some(_)) => return Err(metadata(KEY_MEAN, "std is given, mean is not")),
            (Some(mean), Some(std)) => {
                for (key, v) in [(KEY_MEAN, mean), (KEY_STD, std)] {
                    if v.len() != channels {
                        return Err(metadata(
                            key,
                            format!(
                                "{} entries, the inputs have {channels} channels (dimension 1)",
                                v.len()
                            ),
                        ));
                    }
                }
                if let Some(m) = mean.iter().find(|m| !m.is_finite()) {
                    return Err(metadata(KEY_MEAN, format!("{m} is not finite")));
                }
                if let Some(s) = std.iter().find(|s| !(s.is_finite() && **s > 0.0)) {
                    return Err(metadata(KEY_STD, format!("{s} is not a finite number > 0")));
                }
            }
        }
        if let Some((min, max)) = self.pixel_range {
            if !(min.is_finite() && max.is_finite() && min < max) {
                return Err(metadata(
                    KEY_PIXEL_MIN,
                    format!("the pixel range [{min}, {max}] needs finite ends, min < max"),
                ));
            }
            if let Some(j) = self.inputs.iter().position(|&v| v < min || v > max) {
                return Err(SamplesProblem::OutOfRange {
                    index: j / per,
                    value: self.inputs[j],
                    min,
                    max,
                });
            }
        }
        Ok(())
    }

    /// Reads a samples file.
    pub fn load(path: impl AsRef<Path>) -> Result<Samples> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|e| {
            let p = if e.kind() == std::io::ErrorKind::NotFound {
                SamplesProblem::NotFound
            } else {
                SamplesProblem::Io(e)
            };
            file_error(path, p)
        })?;
        from_bytes(&bytes).map_err(|p| file_error(path, p))
    }

    /// Writes the test set to `path` (atomically, mode 0644 on Unix). `inputs` are stored as
    /// F32 when every value is an f32 (as a data loader's images are), else as F64, so the
    /// file reads back exactly.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        self.validate().map_err(|p| file_error(path, p))?;
        let mut shape = vec![self.len()];
        shape.extend_from_slice(&self.shape);
        let all_f32 = self.inputs.iter().all(|&v| f64::from(v as f32) == v);
        let (dtype, inputs): (Dtype, Vec<u8>) = if all_f32 {
            let b = self.inputs.iter().flat_map(|&v| (v as f32).to_le_bytes());
            (Dtype::F32, b.collect())
        } else {
            let b = self.inputs.iter().flat_map(|v| v.to_le_bytes());
            (Dtype::F64, b.collect())
        };
        let labels: Vec<u8> = self
            .labels
            .iter()
            .flat_map(|&l| i64::try_from(l).unwrap_or(i64::MAX).to_le_bytes())
            .collect();
        let views = [
            (
                TENSOR_INPUTS,
                safetensors::tensor::TensorView::new(dtype, shape, &inputs)
                    .expect("shape and data length agree"),
            ),
            (
                TENSOR_LABELS,
                safetensors::tensor::TensorView::new(Dtype::I64, vec![self.len()], &labels)
                    .expect("shape and data length agree"),
            ),
        ];
        let mut meta: HashMap<String, String> = self
            .info
            .iter()
            .filter(|(k, _)| !RESERVED.contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        if let (Some(mean), Some(std)) = (&self.mean, &self.std) {
            meta.insert(KEY_MEAN.into(), json(mean));
            meta.insert(KEY_STD.into(), json(std));
        }
        if let Some((min, max)) = self.pixel_range {
            meta.insert(KEY_PIXEL_MIN.into(), json(&min));
            meta.insert(KEY_PIXEL_MAX.into(), json(&max));
        }
        let buf = safetensors::serialize(views, Some(meta))
            .map_err(|e| file_error(path, SamplesProblem::Safetensors(e.to_string())))?;
        write_atomic(path, &sorted_header(buf)).map_err(|e| file_error(path, e.into()))
    }
}

/// JSON of the (finite, checked) numbers written to the metadata.
fn json<T: serde::Serialize + ?Sized>(v: &T) -> String {
    serde_json::to_string(v).expect("finite numbers serialize")
}

/// Reads a samples file's bytes: the two tensors, the normalization and the pixel range
/// from the metadata (the other entries become `info`), checked by [`Samples::validate`].
fn from_bytes(bytes: &[u8]) -> std::result::Result<Samples, SamplesProblem> {
    let st = StFile::parse(bytes).map_err(|e| SamplesProblem::Safetensors(e.to_string()))?;
    let (x_shape, inputs) = read_inputs(&st)?;
    let (count, raw) = read_labels(&st)?;
    if x_shape[0] != count {
        return Err(SamplesProblem::CountMismatch {
            inputs: x_shape[0],
            labels: count,
        });
    }
    let labels = raw
        .iter()
        .enumerate()
        .map(|(index, &label)| {
            usize::try_from(label).map_err(|_| SamplesProblem::NegativeLabel { index, label })
        })
        .collect::<std::result::Result<Vec<usize>, _>>()?;
    let mut meta = st.metadata();
    let mean = per_channel(KEY_MEAN, meta.remove(KEY_MEAN))?;
    let std = per_channel(KEY_STD, meta.remove(KEY_STD))?;
    let pixel_range = pixel_range(&mut meta)?;
    let samples = Samples {
        shape: x_shape[1..].to_vec(),
        inputs,
        labels,
        mean,
        std,
        pixel_range,
        info: meta.into_iter().collect(),
    };
    samples.validate()?;
    Ok(samples)
}

/// The `inputs` tensor: its shape `[N, ...]` (at least 2 dimensions) and its F32 or F64
/// values.
fn read_inputs(st: &StFile<'_>) -> std::result::Result<(Vec<usize>, Vec<f64>), SamplesProblem> {
    let x = st
        .tensor(TENSOR_INPUTS)
        .ok_or(SamplesProblem::MissingTensor(TENSOR_INPUTS))?;
    if x.shape.len() < 2 {
        return Err(SamplesProblem::Shape {
            name: TENSOR_INPUTS,
            got: x.shape.to_vec(),
            expected: "[N, ...] with at least 2 dimensions",
        });
    }
    let inputs = x.floats().ok_or_else(|| SamplesProblem::Dtype {
        name: TENSOR_INPUTS,
        dtype: format!("{:?}", x.dtype),
        allowed: "F32 or F64",
    })?;
    Ok((x.shape.to_vec(), inputs))
}

/// The `labels` tensor: its length `N` and its integer values.
fn read_labels(st: &StFile<'_>) -> std::result::Result<(usize, Vec<i64>), SamplesProblem> {
    let y = st
        .tensor(TENSOR_LABELS)
        .ok_or(SamplesProblem::MissingTensor(TENSOR_LABELS))?;
    if y.shape.len() != 1 {
        return Err(SamplesProblem::Shape {
            name: TENSOR_LABELS,
            got: y.shape.to_vec(),
            expected: "[N]",
        });
    }
    let raw = y.ints().ok_or_else(|| SamplesProblem::Dtype {
        name: TENSOR_LABELS,
        dtype: format!("{:?}", y.dtype),
        allowed: "I64, I32 or U8",
    })?;
    Ok((y.shape[0], raw))
}

/// The metadata entry `key` (`v`, if given) as a JSON array of numbers.
fn per_channel(
    key: &'static str,
    v: Option<String>,
) -> std::result::Result<Option<Vec<f64>>, SamplesProblem> {
    v.map(|s| {
        serde_json::from_str::<Vec<f64>>(&s).map_err(|e| {
            metadata(
                key,
                format!("expected a JSON array of numbers, one per channel ({e})"),
            )
        })
    })
    .transpose()
}

/// The metadata entry `key` (`v`, if given) as a number.
fn number(
    key: &'static str,
    v: Option<String>,
) -> std::result::Result<Option<f64>, SamplesProblem> {
    v.map(|s| {
        serde_json::from_str::<f64>(s.trim())
            .map_err(|e| metadata(key, format!("expected a number ({e})")))
    })
    .transpose()
}

/// The pixel range from the metadata entries `pixel_min` and `pixel_max` (both or neither),
/// taken out of `meta`.
fn pixel_range(
    meta: &mut HashMap<String, String>,
) -> std::result::Result<Option<(f64, f64)>, SamplesProblem> {
    let min = number(KEY_PIXEL_MIN, meta.remove(KEY_PIXEL_MIN))?;
    let max = number(KEY_PIXEL_MAX, meta.remove(KEY_PIXEL_MAX))?;
    match (min, max) {
        (None, None) => Ok(None),
        (Some(a), Some(b)) => Ok(Some((a, b))),
        (Some(_), None) => Err(metadata(
            KEY_PIXEL_MAX,
            "pixel_min is given, pixel_max is not",
        )),
        (None, Some(_)) => Err(metadata(
            KEY_PIXEL_MIN,
            "pixel_max is given, pixel_min is not",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use num_rational::BigRational;

    /// Two 2×1×2 images (channels 0 and 1), pixels in [0, 1].
    fn two() -> Samples {
        Samples {
            shape: vec![2, 1, 2],
            inputs: vec![0.0, 0.25, 0.5, 1.0, 0.125, 0.75, 1.0, 0.0],
            labels: vec![1, 0],
            mean: Some(vec![0.5, 0.25]),
            std: Some(vec![0.25, 0.5]),
            pixel_range: Some((0.0, 1.0)),
            info: BTreeMap::from([("data".to_string(), "by-hand".to_string())]),
        }
    }

    /// A safetensors file with the given tensors `(name, dtype, shape, bytes)` and metadata.
    fn file(tensors: &[(&str, Dtype, Vec<usize>, Vec<u8>)], meta: &[(&str, &str)]) -> Vec<u8> {
        let views: Vec<(&str, safetensors::tensor::TensorView<'_>)> = tensors
            .iter()
            .map(|(n, d, s, b)| {
                (
                    *n,
                    safetensors::tensor::TensorView::new(*d, s.clone(), b).unwrap(),
                )
            })
            .collect();
        let meta: HashMap<String, String> = meta
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        safetensors::serialize(views, Some(meta)).unwrap()
    }

    fn f32s(v: &[f32]) -> Vec<u8> {
        v.iter().flat_map(|x| x.to_le_bytes()).collect()
    }

    /// What PyTorch users write: F32 images, U8 labels, mean/std as JSON.
    fn pytorch_like() -> Vec<(&'static str, Dtype, Vec<usize>, Vec<u8>)> {
        vec![
            (
                "inputs",
                Dtype::F32,
                vec![3, 1, 2],
                f32s(&[0.0, 0.5, 1.0, 0.25, 0.75, 0.125]),
            ),
            ("labels", Dtype::U8, vec![3], vec![2, 0, 9]),
        ]
    }

    fn problem(
        tensors: &[(&str, Dtype, Vec<usize>, Vec<u8>)],
        meta: &[(&str, &str)],
    ) -> SamplesProblem {
        match from_bytes(&file(tensors, meta)) {
            Err(p) => p,
            Ok(s) => panic!("expected a problem, read {s:?}"),
        }
    }

    #[test]
    fn round_trip_is_exact_and_f32_when_possible() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("s.safetensors");
        let s = two();
        s.save(&p).unwrap();
        assert_eq!(Samples::load(&p).unwrap(), s);
        // only the target is left, world-readable
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&p).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o644);
        }
        let bytes = std::fs::read(&p).unwrap();
        let st = StFile::parse(&bytes).unwrap();
        assert_eq!(st.tensor("inputs").unwrap().dtype, Dtype::F32);
        assert_eq!(st.metadata()["mean"], "[0.5,0.25]");
        assert_eq!(st.metadata()["pixel_max"], "1.0");
        // 0.1 is not an f32: stored as F64, still exact; no normalization, no range
        let mut t = two();
        t.inputs[3] = 0.1;
        (t.mean, t.std, t.pixel_range) = (None, None, None);
        t.save(&p).unwrap();
        assert_eq!(Samples::load(&p).unwrap(), t);
        let bytes = std::fs::read(&p).unwrap();
        assert_eq!(
            StFile::parse(&bytes)
                .unwrap()
                .tensor("inputs")
                .unwrap()
                .dtype,
            Dtype::F64
        );
    }

    #[test]
    fn reads_what_pytorch_users_write() {
        let s = from_bytes(&file(
            &pytorch_like(),
            &[
                ("mean", "[0.5]"),
                ("std", "[0.25]"),
                ("pixel_min", "0"),
                ("pixel_max", "1"),
                ("split", "test"),
            ],
        ))
        .unwrap();
        assert_eq!(
            (s.len(), s.shape.clone(), s.labels.clone()),
            (3, vec![1, 2], vec![2, 0, 9])
        );
        assert_eq!(s.input(1), [1.0, 0.25]);
        // (1 − 0.5) / 0.25 = 2, (0.25 − 0.5) / 0.25 = −1
        assert_eq!(s.normalized(1), [2.0, -1.0]);
        assert_eq!(s.pixel_range, Some((0.0, 1.0)));
        assert_eq!(
            s.info,
            BTreeMap::from([("split".to_string(), "test".to_string())])
        );
        // I32 and I64 labels too
        let mut t = pytorch_like();
        t[1] = (
            "labels",
            Dtype::I32,
            vec![3],
            [2i32, 0, 9].iter().flat_map(|v| v.to_le_bytes()).collect(),
        );
        assert_eq!(from_bytes(&file(&t, &[])).unwrap().labels, [2, 0, 9]);
    }

    #[test]
    fn normalization_is_per_channel() {
        let s = two();
        // channel 0: (x − 0.5) / 0.25; channel 1: (x − 0.25) / 0.5
        assert_eq!(s.normalized(0), [-2.0, -1.0, 0.5, 1.5]);
        assert_eq!(s.normalized(1), [-1.5, 1.0, 1.5, -0.5]);
        let mut raw = two();
        (raw.mean, raw.std) = (None, None);
        assert_eq!(raw.normalized(1), raw.input(1));
    }

    #[test]
    fn each_bad_file_is_a_named_problem() {
        use SamplesProblem as P;
        let good = pytorch_like();
        assert!(matches!(
            from_bytes(b"not a safetensors file"),
            Err(P::Safetensors(_))
        ));
        assert!(matches!(
            problem(&good[1..], &[]),
            P::MissingTensor("inputs")
        ));
        assert!(matches!(
            problem(&good[..1], &[]),
            P::MissingTensor("labels")
        ));
        let with = |k: usize, t: (&'static str, Dtype, Vec<usize>, Vec<u8>)| {
            let mut v = pytorch_like();
            v[k] = t;
            v
        };
        let i64s = |v: &[i64]| v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>();
        assert!(matches!(
            problem(
                &with(0, ("inputs", Dtype::I64, vec![3, 1, 2], i64s(&[0; 6]))),
                &[]
            ),
            P::Dtype { name: "inputs", .. }
        ));
        assert!(matches!(
            problem(
                &with(1, ("labels", Dtype::F32, vec![3], f32s(&[0.0; 3]))),
                &[]
            ),
            P::Dtype { name: "labels", .. }
        ));
        assert!(matches!(
            problem(
                &with(0, ("inputs", Dtype::F32, vec![6], f32s(&[0.0; 6]))),
                &[]
            ),
            P::Shape { name: "inputs", .. }
        ));
        assert!(matches!(
            problem(&with(1, ("labels", Dtype::U8, vec![3, 1], vec![0; 3])), &[]),
            P::Shape { name: "labels", .. }
        ));
        assert!(matches!(
            problem(&with(1, ("labels", Dtype::U8, vec![2], vec![0; 2])), &[]),
            P::CountMismatch {
                inputs: 3,
                labels: 2
            }
        ));
        assert!(matches!(
            problem(
                &with(1, ("labels", Dtype::I64, vec![3], i64s(&[0, -4, 1]))),
                &[]
            ),
            P::NegativeLabel {
                index: 1,
                label: -4
            }
        ));
        assert!(matches!(
            problem(
                &with(
                    0,
                    (
                        "inputs",
                        Dtype::F32,
                        vec![3, 1, 2],
                        f32s(&[0.0, 0.0, 0.0, 0.0, f32::NAN, 0.0])
                    )
                ),
                &[]
            ),
            P::NonFinite { index: 2 }
        ));
        assert!(matches!(
            problem(
                &[
                    ("inputs", Dtype::F32, vec![0, 1, 2], vec![]),
                    ("labels", Dtype::I64, vec![0], vec![])
                ],
                &[]
            ),
            P::Empty
        ));
        for (meta, key) in [
            (&[("mean", "[0.5, 0.5]"), ("std", "[1, 1]")][..], "mean"),
            (&[("mean", "[0.5]"), ("std", "[0]")][..], "std"),
            (&[("mean", "[0.5]"), ("std", "[-1]")][..], "std"),
            (&[("mean", "[0.5]")][..], "std"),
            (&[("mean", "0.5"), ("std", "[1]")][..], "mean"),
            (&[("pixel_min", "0")][..], "pixel_max"),
            (&[("pixel_min", "1"), ("pixel_max", "0")][..], "pixel_min"),
            (
                &[("pixel_min", "zero"), ("pixel_max", "1")][..],
                "pixel_min",
            ),
        ] {
            match problem(&good, meta) {
                P::Metadata { key: k, .. } => assert_eq!(k, key, "{meta:?}"),
                other => panic!("{meta:?}: expected bad metadata, got {other:?}"),
            }
        }
        // pixel 1.0 of example 1 is above pixel_max 0.9
        assert!(matches!(
            problem(&good, &[("pixel_min", "0"), ("pixel_max", "0.9")]),
            P::OutOfRange { index: 1, .. }
        ));
        // errors name the file; a missing file is NotFound
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("bad.safetensors");
        std::fs::write(&p, file(&good[..1], &[])).unwrap();
        let e = Samples::load(&p).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!(
                "{}: no tensor 'labels' (a test set has tensors 'inputs' and 'labels')",
                p.display()
            )
        );
        assert!(matches!(
            Samples::load(dir.path().join("none")),
            Err(Error::SamplesFile {
                problem: P::NotFound,
                ..
            })
        ));
    }

    #[test]
    fn an_inconsistent_test_set_is_not_written() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("s.safetensors");
        let mut s = two();
        s.inputs.pop();
        assert!(matches!(
            s.save(&p),
            Err(Error::SamplesFile {
                problem: SamplesProblem::Length {
                    expected: 8,
                    got: 7,
                    ..
                },
                ..
            })
        ));
        let mut s = two();
        s.std = Some(vec![0.25, 0.0]);
        assert!(s.save(&p).is_err());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    fn exact(v: f64) -> BigRational {
        BigRational::from_float(v).unwrap()
    }

    #[test]
    fn the_ball_contains_the_exact_image_and_is_tight() {
        // pixel values, eps, mean and std chosen so that the f64 operations round
        let mut s = Samples {
            shape: vec![1, 1, 5],
            inputs: vec![0.0, 0.1, 0.3, 0.7, 1.0],
            labels: vec![0],
            mean: Some(vec![0.2860]),
            std: Some(vec![0.3530]),
            pixel_range: Some((0.0, 1.0)),
            info: BTreeMap::new(),
        };
        for eps in [1e-3, 0.01, 0.1, 1.0 / 3.0, 0.7] {
            let b = s.ball(0, eps).unwrap();
            let (m, sd) = (exact(0.2860), exact(0.3530));
            for (j, &x) in s.input(0).iter().enumerate() {
                // the exact clipped pixel interval, then its exact image
                let lo = (exact(x) - exact(eps)).max(exact(0.0));
                let hi = (exact(x) + exact(eps)).min(exact(1.0));
                let (ilo, ihi) = ((lo - &m) / &sd, (hi - &m) / &sd);
                assert!(exact(b.lower[j]) <= ilo, "eps {eps}, pixel {j}: lower end");
                assert!(exact(b.upper[j]) >= ihi, "eps {eps}, pixel {j}: upper end");
                // and only a few ulps wider
                let slack = exact(1e-14);
                assert!(ilo - exact(b.lower[j]) < slack && exact(b.upper[j]) - ihi < slack);
            }
        }
        // without normalization, clipping gives the pixel range's ends exactly
        (s.mean, s.std) = (None, None);
        let b = s.ball(0, 0.1).unwrap();
        assert_eq!((b.lower[0], b.upper[4]), (0.0, 1.0));
        assert!(b.lower[1] <= 0.0 && b.upper[1] >= 0.2);
        // without a pixel range, no clipping
        s.pixel_range = None;
        let b = s.ball(0, 0.1).unwrap();
        assert!(b.lower[0] <= -0.1 && b.upper[4] >= 1.1);
    }

    #[test]
    fn bad_radius_index_shape_and_labels_are_typed_errors() {
        let s = two();
        for eps in [0.0, -0.1, f64::NAN, f64::INFINITY] {
            match s.ball(0, eps) {
                Err(Error::InputBox(BoxProblem::Epsilon(e))) => {
                    assert!(e.to_bits() == eps.to_bits())
                }
                other => panic!("eps {eps}: expected an epsilon error, got {other:?}"),
            }
        }
        assert!(matches!(
            s.ball(2, 0.1),
            Err(Error::NoSuchSample { index: 2, count: 2 })
        ));
        assert!(s.check_model(&[2, 1, 2], 2).is_ok());
        assert!(matches!(
            s.check_model(&[4], 2),
            Err(Error::SampleShape { .. })
        ));
        // label 1 of example 0 needs at least 2 outputs
        assert!(matches!(
            s.check_model(&[2, 1, 2], 1),
            Err(Error::LabelOutOfRange {
                index: 0,
                label: 1,
                outputs: 1
            })
        ));
    }
}
