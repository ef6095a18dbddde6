//! Point clouds: `n` labelled points in `R^d` from one test-set file
//! (`docs/inputs-format.md`: tensor `inputs` `[n, d]` or `[n, d, 1, 1]` F32/F64, tensor
//! `labels` `[n]`), such as
//! `snl-verify theorem gap --dump DIR` writes for the data sets of the certified
//! best-accuracy curve (`papers/theorem-gap`).
//!
//! **The task is to fit the points.** The theorem is about the best accuracy a network
//! reaches *on these points*, so the training, validation and test splits are all the same
//! `n` points, in file order: `--val-fraction` is not used, and `--limit-train` /
//! `--limit-test` are refused (they would drop points).
//!
//! Shapes: point `i` becomes the image `x_i` of shape `(d, 1, 1)` (one channel per
//! coordinate), so the per-channel normalization is per coordinate:
//! `x' = (x − mean) / std` with the points' own mean and (population) standard deviation,
//! like the synthetic set. An affine map of the input does not change which functions one
//! hidden layer can represent, so the normalization does not move the optimum. The values
//! are read as f64 and trained in f32.
//!
//! The data set's name is `points:<file stem>` (e.g. `points:moons`): a model file records
//! it, and `linearize` / `eval` refuse another file's points.
use std::path::Path;

use tch::Tensor;

use super::{channel_mean_std, DataError, DataRecord, DataSpec, Dataset, Result, Splits};

/// What a points file must hold, for error messages.
pub const EXPECTED: &str = "a points file: tensors inputs [n, d] (or [n, d, 1, 1]) and labels [n] (snl-verify theorem gap --dump)";

/// Reads the points of `path` as a dataset of `(d, 1, 1)` images; the number of classes is
/// the largest label + 1, at least 2.
pub fn load_points(path: &Path) -> Result<Dataset> {
    if !path.is_file() {
        return Err(DataError::NotFound {
            path: path.to_path_buf(),
            expected: EXPECTED.into(),
        });
    }
    let s = snl_theory::io::samples::Samples::load(path).map_err(DataError::Samples)?;
    if s.shape.is_empty() || s.shape.len() > 3 || s.shape[1..].iter().any(|&k| k != 1) {
        return Err(DataError::PointsShape {
            path: path.to_path_buf(),
            shape: s.shape.clone(),
        });
    }
    let (n, d) = (s.len() as i64, s.shape[0] as i64);
    let values: Vec<f32> = s.inputs.iter().map(|&v| v as f32).collect();
    let labels: Vec<i64> = s.labels.iter().map(|&l| l as i64).collect();
    let classes = s.labels.iter().max().map_or(2, |&m| (m + 1).max(2));
    Ok(Dataset::new(
        Tensor::from_slice(&values).view([n, d, 1, 1]),
        Tensor::from_slice(&labels),
        classes,
    ))
}

/// The splits of [`super::Source::Points`]: train = validation = test = the points of
/// `spec.dir` (the file).
pub fn load_splits(spec: &DataSpec) -> Result<Splits> {
    for (field, v) in [
        ("limit_train", spec.limit_train),
        ("limit_test", spec.limit_test),
    ] {
        if let Some(v) = v {
            return Err(DataError::InvalidSpec {
                field,
                value: v.to_string(),
                expected: "unset for points (every point is fitted)",
            });
        }
    }
    let path = spec.resolved_dir();
    let all = load_points(&path)?;
    let stem = path
        .file_stem()
        .map_or_else(String::new, |s| s.to_string_lossy().into_owned());
    let name = format!("points:{stem}");
    let (mean, std) = channel_mean_std(&all.images);
    let record = DataRecord {
        source: name.clone(),
        split_seed: spec.seed,
        val_fraction: 0.0,
        limit_train: None,
        train: all.len(),
        val: all.len(),
        mean: mean.clone(),
        std: std.clone(),
    };
    Ok(Splits {
        train: all.shallow_clone(),
        val: all.shallow_clone(),
        test: all,
        name,
        mean,
        std,
        augment: false,
        record,
    })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use snl_theory::io::samples::Samples;

    use super::*;
    use crate::data::test_util::{ints, one_thread, values};
    use crate::data::{load, Source};

    fn write(path: &Path, shape: Vec<usize>, inputs: Vec<f64>, labels: Vec<usize>) {
        Samples {
            shape,
            inputs,
            labels,
            mean: None,
            std: None,
            pixel_range: None,
            info: BTreeMap::new(),
        }
        .save(path)
        .unwrap();
    }

    fn spec(path: &Path) -> DataSpec {
        DataSpec {
            source: Source::Points,
            dir: Some(path.to_path_buf()),
            ..DataSpec::default()
        }
    }

    #[test]
    fn points_are_train_val_and_test_with_per_coordinate_normalization() {
        one_thread();
        let tmp = tempfile::tempdir().unwrap();
        let p = tmp.path().join("xor.safetensors");
        // XOR on (±1, ±2): coordinate 0 has mean 0 and std 1, coordinate 1 mean 0, std 2
        write(
            &p,
            vec![2],
            vec![1.0, 2.0, -1.0, -2.0, 1.0, -2.0, -1.0, 2.0],
            vec![1, 1, 0, 0],
        );
        let s = load(&spec(&p)).unwrap();
        assert_eq!(s.name, "points:xor");
        assert_eq!(
            (s.train.len(), s.val.len(), s.test.len(), s.num_classes()),
            (4, 4, 4, 2)
        );
        assert_eq!(s.input_shape(), [2, 1, 1]);
        for d in [&s.train, &s.val, &s.test] {
            assert_eq!(
                values(&d.images),
                [1.0, 2.0, -1.0, -2.0, 1.0, -2.0, -1.0, 2.0]
            );
            assert_eq!(ints(&d.labels), [1, 1, 0, 0]);
        }
        assert_eq!(
            (s.mean.clone(), s.std.clone()),
            (vec![0.0, 0.0], vec![1.0, 2.0])
        );
        assert_eq!(
            values(&s.normalize(&s.train.images)),
            [1.0, 1.0, -1.0, -1.0, 1.0, -1.0, -1.0, 1.0]
        );
        assert!(!s.augment);
        assert_eq!((s.record.train, s.record.val), (4, 4));
        // another file's points are another data set
        let q = tmp.path().join("other.safetensors");
        write(&q, vec![2], vec![0.0, 0.0, 1.0, 1.0], vec![0, 1]);
        let o = load(&spec(&q)).unwrap();
        assert!(!s.record.differences(&o.record).is_empty());
        assert!(s.record.differences(&s.record).is_empty());
    }

    #[test]
    fn points_refuse_limits_images_and_missing_files() {
        one_thread();
        let tmp = tempfile::tempdir().unwrap();
        let p = tmp.path().join("p.safetensors");
        write(&p, vec![2], vec![0.0, 0.0, 1.0, 1.0], vec![0, 1]);
        let limited = DataSpec {
            limit_train: Some(1),
            ..spec(&p)
        };
        assert!(matches!(
            load(&limited),
            Err(DataError::InvalidSpec {
                field: "limit_train",
                ..
            })
        ));
        let img = tmp.path().join("img.safetensors");
        write(&img, vec![1, 1, 2], vec![0.0, 0.5], vec![0]);
        // [n, d, 1, 1] is read as [n, d]
        let q = tmp.path().join("q.safetensors");
        write(&q, vec![2, 1, 1], vec![0.0, 0.0, 1.0, 1.0], vec![0, 1]);
        assert_eq!(load(&spec(&q)).unwrap().input_shape(), [2, 1, 1]);
        let err = load(&spec(&img)).unwrap_err();
        assert!(
            err.to_string().ends_with(
                "examples are [1, 1, 2] (expected points: inputs [n, d] or [n, d, 1, 1])"
            ),
            "{err}"
        );
        let missing = load(&spec(&tmp.path().join("none.safetensors"))).unwrap_err();
        assert!(matches!(missing, DataError::NotFound { .. }), "{missing}");
        std::fs::write(&img, b"not a safetensors file").unwrap();
        let bad = load(&spec(&img)).unwrap_err();
        assert!(matches!(bad, DataError::Samples(_)), "{bad}");
        assert!(bad.to_string().contains("img.safetensors"), "{bad}");
    }
}
