//! IDX files (LeCun's MNIST format, also Fashion-MNIST), raw or gzipped.
//!
//! Layout, all integers big-endian: magic `0x00000803` (unsigned bytes, 3 dims) for images or
//! `0x00000801` (1 dim) for labels, then one `u32` per dimension (`n, rows, cols` or `n`), then
//! the `u8` payload in row-major order. Images become `(n, 1, rows, cols)`.
use std::io::Read;
use std::path::{Path, PathBuf};

use super::{io_error, read_file, DataError, Dataset, Result, Source};

/// Magic number of an IDX file of unsigned-byte images (3 dimensions).
pub const IMAGES_MAGIC: u32 = 0x0000_0803;
/// Magic number of an IDX file of unsigned-byte labels (1 dimension).
pub const LABELS_MAGIC: u32 = 0x0000_0801;

/// Number of classes of MNIST and Fashion-MNIST.
pub const IDX_CLASSES: usize = 10;

/// The four files, without the optional `.gz`.
const FILES: [&str; 4] = [
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
];

fn expected_files(source: Source) -> String {
    let name = match source {
        Source::Mnist => "MNIST",
        _ => "Fashion-MNIST",
    };
    let list: Vec<String> = FILES.iter().map(|f| format!("{f}[.gz]")).collect();
    format!("{name} IDX files: {}", list.join(", "))
}

/// `dir/stem.gz` if it exists, else `dir/stem` if it exists, else [`DataError::NotFound`] naming
/// the `.gz` path.
fn locate(dir: &Path, stem: &str, expected: &str) -> Result<PathBuf> {
    let gz = dir.join(format!("{stem}.gz"));
    let raw = dir.join(stem);
    if gz.is_file() {
        Ok(gz)
    } else if raw.is_file() {
        Ok(raw)
    } else {
        Err(DataError::NotFound {
            path: gz,
            expected: expected.to_string(),
        })
    }
}

/// The bytes of `path`, gunzipped when its name ends in `.gz`.
fn read_maybe_gz(path: &Path, expected: &str) -> Result<Vec<u8>> {
    let bytes = read_file(path, expected)?;
    if path.extension().is_some_and(|e| e == "gz") {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&bytes[..])
            .read_to_end(&mut out)
            .map_err(|e| io_error(path, e, expected))?;
        Ok(out)
    } else {
        Ok(bytes)
    }
}

/// Parses the header of an IDX buffer with `ndims` dimensions; returns the dims and the payload.
fn parse<'a>(
    path: &Path,
    bytes: &'a [u8],
    magic: u32,
    what: &'static str,
) -> Result<(Vec<usize>, &'a [u8])> {
    let ndims = (magic & 0xff) as usize;
    let be = |i: usize| u32::from_be_bytes([bytes[i], bytes[i + 1], bytes[i + 2], bytes[i + 3]]);
    if bytes.len() < 4 || be(0) != magic {
        let found = if bytes.len() >= 4 { be(0) } else { 0 };
        return Err(DataError::BadMagic {
            path: path.to_path_buf(),
            found,
            expected: magic,
            what,
        });
    }
    let header = 4 + 4 * ndims;
    if bytes.len() < header {
        return Err(DataError::IdxSize {
            path: path.to_path_buf(),
            what,
            dims: vec![],
            expected: header,
            got: bytes.len(),
        });
    }
    let dims: Vec<usize> = (0..ndims).map(|d| be(4 + 4 * d) as usize).collect();
    let payload = &bytes[header..];
    let expected: usize = dims.iter().product();
    if payload.len() != expected {
        return Err(DataError::IdxSize {
            path: path.to_path_buf(),
            what,
            dims,
            expected,
            got: payload.len(),
        });
    }
    Ok((dims, payload))
}

/// Reads an IDX image file: `(pixels row-major, [n, rows, cols])`.
pub fn read_images(path: &Path) -> Result<(Vec<u8>, [usize; 3])> {
    let bytes = read_maybe_gz(path, "an IDX image file")?;
    let (dims, payload) = parse(path, &bytes, IMAGES_MAGIC, "images")?;
    Ok((payload.to_vec(), [dims[0], dims[1], dims[2]]))
}

/// Reads an IDX label file, checking every label is below `classes`.
pub fn read_labels(path: &Path, classes: usize) -> Result<Vec<i64>> {
    let bytes = read_maybe_gz(path, "an IDX label file")?;
    let (_, payload) = parse(path, &bytes, LABELS_MAGIC, "labels")?;
    payload
        .iter()
        .enumerate()
        .map(|(index, &l)| {
            if (l as usize) < classes {
                Ok(i64::from(l))
            } else {
                Err(DataError::LabelOutOfRange {
                    path: path.to_path_buf(),
                    index,
                    label: u64::from(l),
                    classes,
                })
            }
        })
        .collect()
}

/// Loads one split (`prefix` = `"train"` or `"t10k"`) from `dir`.
fn load_split(dir: &Path, prefix: &str, expected: &str) -> Result<(Dataset, PathBuf)> {
    let images_path = locate(dir, &format!("{prefix}-images-idx3-ubyte"), expected)?;
    let labels_path = locate(dir, &format!("{prefix}-labels-idx1-ubyte"), expected)?;
    let (pixels, [n, h, w]) = read_images(&images_path)?;
    let labels = read_labels(&labels_path, IDX_CLASSES)?;
    if labels.len() != n {
        return Err(DataError::CountMismatch {
            images_path,
            labels_path,
            images: n,
            labels: labels.len(),
        });
    }
    Ok((
        Dataset::from_bytes(&pixels, [n, 1, h, w], &labels, IDX_CLASSES),
        images_path,
    ))
}

/// Loads the training and test sets of MNIST or Fashion-MNIST (`source` only picks the name in
/// messages) from `dir`.
pub fn load_idx(dir: &Path, source: Source) -> Result<(Dataset, Dataset)> {
    let expected = expected_files(source);
    let (train, _) = load_split(dir, "train", &expected)?;
    let (test, test_path) = load_split(dir, "t10k", &expected)?;
    if test.image_shape() != train.image_shape() {
        return Err(DataError::ShapeMismatch {
            path: test_path,
            expected: train.image_shape(),
            got: test.image_shape(),
        });
    }
    Ok((train, test))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::test_util::{
        idx_bytes, ints, one_thread, values, write_idx_dir, write_maybe_gz,
    };

    fn err_text(dir: &Path) -> String {
        load_idx(dir, Source::FashionMnist).unwrap_err().to_string()
    }

    #[test]
    fn idx_raw_and_gz_decode_to_the_same_exact_tensors() {
        one_thread();
        let tmp = tempfile::tempdir().unwrap();
        let (raw, gz) = (tmp.path().join("raw"), tmp.path().join("gz"));
        write_idx_dir(&raw, 5, 3, 2, 3, false);
        write_idx_dir(&gz, 5, 3, 2, 3, true);
        let (tr, te) = load_idx(&raw, Source::Mnist).unwrap();
        let (tr_gz, te_gz) = load_idx(&gz, Source::FashionMnist).unwrap();
        assert_eq!(tr.images.size(), [5, 1, 2, 3]);
        assert_eq!(te.images.size(), [3, 1, 2, 3]);
        assert_eq!(tr.num_classes, 10);
        assert_eq!(ints(&tr.labels), [0, 1, 2, 3, 4]);
        // Image 4, row 1, col 2 is pixel j = 5: (4*7 + 5*3) % 256 = 43; pixel 0 is the id 4.
        assert_eq!(
            tr.images.double_value(&[4, 0, 1, 2]),
            f64::from(43.0f32 / 255.0)
        );
        assert_eq!(
            tr.images.double_value(&[4, 0, 0, 0]),
            f64::from(4.0f32 / 255.0)
        );
        // Test image 2, row 0, col 1 is pixel j = 1: (2*7 + 3) = 17.
        assert_eq!(
            te.images.double_value(&[2, 0, 0, 1]),
            f64::from(17.0f32 / 255.0)
        );
        assert_eq!(values(&tr.images), values(&tr_gz.images));
        assert_eq!(values(&te.images), values(&te_gz.images));
        assert_eq!(ints(&te.labels), ints(&te_gz.labels));
    }

    #[test]
    fn idx_missing_files_name_the_path_and_the_expected_files() {
        let tmp = tempfile::tempdir().unwrap();
        let msg = err_text(tmp.path());
        let want = format!(
            "{}: not found (expected Fashion-MNIST IDX files: train-images-idx3-ubyte[.gz], \
             train-labels-idx1-ubyte[.gz], t10k-images-idx3-ubyte[.gz], t10k-labels-idx1-ubyte[.gz])",
            tmp.path().join("train-images-idx3-ubyte.gz").display()
        );
        assert_eq!(msg, want);
        // Only the test labels missing: that file is named.
        write_idx_dir(tmp.path(), 2, 2, 2, 2, false);
        std::fs::remove_file(tmp.path().join("t10k-labels-idx1-ubyte")).unwrap();
        let msg = load_idx(tmp.path(), Source::Mnist).unwrap_err().to_string();
        assert!(
            msg.contains("t10k-labels-idx1-ubyte.gz: not found (expected MNIST IDX files"),
            "{msg}"
        );
    }

    #[test]
    fn idx_bad_magic_is_reported_in_hex() {
        let tmp = tempfile::tempdir().unwrap();
        write_idx_dir(tmp.path(), 2, 2, 2, 2, false);
        let p = tmp.path().join("train-images-idx3-ubyte");
        std::fs::write(&p, idx_bytes(0x801, &[2, 2, 2], &[0; 8])).unwrap();
        assert_eq!(
            err_text(tmp.path()),
            format!(
                "{}: bad IDX magic 0x00000801 (expected 0x00000803 for images)",
                p.display()
            )
        );
        let p = tmp.path().join("train-labels-idx1-ubyte");
        write_idx_dir(tmp.path(), 2, 2, 2, 2, false);
        std::fs::write(&p, [0u8, 0]).unwrap();
        assert_eq!(
            err_text(tmp.path()),
            format!(
                "{}: bad IDX magic 0x00000000 (expected 0x00000801 for labels)",
                p.display()
            )
        );
    }

    #[test]
    fn idx_payload_size_must_match_the_header() {
        let tmp = tempfile::tempdir().unwrap();
        write_idx_dir(tmp.path(), 2, 2, 2, 2, true);
        let p = tmp.path().join("train-images-idx3-ubyte.gz");
        write_maybe_gz(&p, &idx_bytes(0x803, &[2, 2, 2], &[0; 7]));
        let msg = err_text(tmp.path());
        assert_eq!(
            msg,
            format!(
                "{}: IDX images payload is 7 bytes but the header dims [2, 2, 2] need 8",
                p.display()
            )
        );
        // A header cut short.
        write_maybe_gz(&p, &0x803u32.to_be_bytes());
        assert!(
            err_text(tmp.path()).contains("payload is 4 bytes"),
            "{}",
            err_text(tmp.path())
        );
    }

    #[test]
    fn idx_label_out_of_range_and_count_mismatch() {
        let tmp = tempfile::tempdir().unwrap();
        write_idx_dir(tmp.path(), 3, 2, 2, 2, false);
        let p = tmp.path().join("train-labels-idx1-ubyte");
        std::fs::write(&p, idx_bytes(0x801, &[3], &[1, 10, 2])).unwrap();
        assert_eq!(
            err_text(tmp.path()),
            format!(
                "{}: label 10 of example 1 is out of range (expected < 10 classes)",
                p.display()
            )
        );
        std::fs::write(&p, idx_bytes(0x801, &[2], &[1, 2])).unwrap();
        let msg = err_text(tmp.path());
        assert!(
            msg.ends_with(&format!(
                "holds 3 images but {} holds 2 labels",
                p.display()
            )),
            "{msg}"
        );
    }

    #[test]
    fn idx_corrupt_gzip_and_shape_mismatch_name_the_file() {
        let tmp = tempfile::tempdir().unwrap();
        write_idx_dir(tmp.path(), 2, 2, 2, 2, true);
        let p = tmp.path().join("t10k-images-idx3-ubyte.gz");
        std::fs::write(&p, b"this is not gzip").unwrap();
        let msg = err_text(tmp.path());
        assert!(msg.starts_with(&format!("{}: ", p.display())), "{msg}");
        assert!(matches!(
            load_idx(tmp.path(), Source::FashionMnist),
            Err(DataError::Io { .. })
        ));
        write_maybe_gz(&p, &idx_bytes(0x803, &[2, 3, 2], &[0; 12]));
        assert_eq!(
            err_text(tmp.path()),
            format!(
                "{}: images are [1, 3, 2] (expected [1, 2, 2] like the training set)",
                p.display()
            )
        );
    }
}
