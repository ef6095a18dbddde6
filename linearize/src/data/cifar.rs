//! CIFAR-10 and CIFAR-100 binary versions.
//!
//! CIFAR-10 (`data_batch_1.bin` … `data_batch_5.bin`, `test_batch.bin`): records of
//! 1 label byte + 3072 pixel bytes. CIFAR-100 (`train.bin`, `test.bin`): 1 coarse label byte +
//! 1 fine label byte + 3072 pixel bytes. Pixels are channel-major: 1024 red bytes, then 1024 green,
//! then 1024 blue, each a 32×32 image in row-major order, so record pixel
//! `c * 1024 + h * 32 + w` is image element `[c, h, w]` of the `(n, 3, 32, 32)` tensor.
use std::path::{Path, PathBuf};

use super::{find_root, read_file, DataError, Dataset, Result};

/// Pixel bytes per CIFAR image (3 × 32 × 32).
pub const PIXELS: usize = 3 * 32 * 32;

/// Which CIFAR-100 label to use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cifar100Labels {
    /// The 100 fine classes (the usual benchmark).
    Fine,
    /// The 20 coarse superclasses.
    Coarse,
}

const CIFAR10_TRAIN: [&str; 5] = [
    "data_batch_1.bin",
    "data_batch_2.bin",
    "data_batch_3.bin",
    "data_batch_4.bin",
    "data_batch_5.bin",
];
const CIFAR10_EXPECTED: &str =
    "CIFAR-10 binary files data_batch_1.bin .. data_batch_5.bin and test_batch.bin, e.g. in cifar-10-batches-bin/";
const CIFAR100_EXPECTED: &str =
    "CIFAR-100 binary files train.bin and test.bin, e.g. in cifar-100-binary/";

/// A fixed-size record layout: `label_bytes` label bytes (the one at `label_at` is used) followed
/// by [`PIXELS`] pixel bytes.
struct Format {
    name: &'static str,
    expected: &'static str,
    label_bytes: usize,
    label_at: usize,
    classes: usize,
}

/// Reads one file of `format` records, appending to `pixels` and `labels`.
fn read_records(
    path: &Path,
    format: &Format,
    pixels: &mut Vec<u8>,
    labels: &mut Vec<i64>,
) -> Result<()> {
    let Format {
        name,
        expected,
        label_bytes,
        label_at,
        classes,
    } = *format;
    let bytes = read_file(path, expected)?;
    let record = label_bytes + PIXELS;
    if bytes.is_empty() {
        return Err(DataError::Empty {
            path: path.to_path_buf(),
            expected: format!("{name} records of {record} bytes"),
        });
    }
    if bytes.len() % record != 0 {
        return Err(DataError::RecordSize {
            path: path.to_path_buf(),
            format: name,
            size: bytes.len() as u64,
            record,
        });
    }
    pixels.reserve(bytes.len() / record * PIXELS);
    for (index, rec) in bytes.chunks_exact(record).enumerate() {
        let label = rec[label_at];
        if label as usize >= classes {
            return Err(DataError::LabelOutOfRange {
                path: path.to_path_buf(),
                index,
                label: u64::from(label),
                classes,
            });
        }
        labels.push(i64::from(label));
        pixels.extend_from_slice(&rec[label_bytes..]);
    }
    Ok(())
}

fn dataset(pixels: &[u8], labels: &[i64], classes: usize) -> Dataset {
    Dataset::from_bytes(pixels, [labels.len(), 3, 32, 32], labels, classes)
}

/// Loads CIFAR-10 (train, test) from `dir` or `dir/cifar-10-batches-bin/`.
pub fn load_cifar10(dir: &Path) -> Result<(Dataset, Dataset)> {
    let root = find_root(dir, "cifar-10-batches-bin", "test_batch.bin");
    let format = Format {
        name: "CIFAR-10",
        expected: CIFAR10_EXPECTED,
        label_bytes: 1,
        label_at: 0,
        classes: 10,
    };
    let files = |names: &[&str]| -> Result<Dataset> {
        let (mut px, mut lb) = (Vec::new(), Vec::new());
        for name in names {
            let path: PathBuf = root.join(name);
            read_records(&path, &format, &mut px, &mut lb)?;
        }
        Ok(dataset(&px, &lb, 10))
    };
    let train = files(&CIFAR10_TRAIN)?;
    let test = files(&["test_batch.bin"])?;
    Ok((train, test))
}

/// Loads CIFAR-100 (train, test) with fine (100) or coarse (20) labels from `dir` or
/// `dir/cifar-100-binary/`.
pub fn load_cifar100(dir: &Path, which: Cifar100Labels) -> Result<(Dataset, Dataset)> {
    let root = find_root(dir, "cifar-100-binary", "test.bin");
    let (label_at, classes) = match which {
        Cifar100Labels::Coarse => (0, 20),
        Cifar100Labels::Fine => (1, 100),
    };
    let format = Format {
        name: "CIFAR-100",
        expected: CIFAR100_EXPECTED,
        label_bytes: 2,
        label_at,
        classes,
    };
    let file = |name: &str| -> Result<Dataset> {
        let (mut px, mut lb) = (Vec::new(), Vec::new());
        let path = root.join(name);
        read_records(&path, &format, &mut px, &mut lb)?;
        Ok(dataset(&px, &lb, classes))
    };
    Ok((file("train.bin")?, file("test.bin")?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::test_util::{cifar_record, ints, one_thread};

    /// Writes CIFAR-10 files with `per_file` records each into `dir`. Record `r` of file `f` has
    /// label `(f + r) % 10` and is zero except `[c, h, w] = [r % 3, 5, 7]` = 200 and
    /// `[0, 0, 0]` = 10 * f + r (an id).
    fn write_cifar10(dir: &Path, per_file: usize) {
        std::fs::create_dir_all(dir).unwrap();
        for (f, name) in CIFAR10_TRAIN.iter().chain(&["test_batch.bin"]).enumerate() {
            let mut bytes = Vec::new();
            for r in 0..per_file {
                bytes.extend(cifar_record(&[((f + r) % 10) as u8], |c, h, w| {
                    match (c, h, w) {
                        (0, 0, 0) => (10 * f + r) as u8,
                        (c, 5, 7) if c == r % 3 => 200,
                        _ => 0,
                    }
                }));
            }
            std::fs::write(dir.join(name), bytes).unwrap();
        }
    }

    #[test]
    fn cifar10_decodes_channel_major_records_exactly() {
        one_thread();
        let tmp = tempfile::tempdir().unwrap();
        // Written into the archive's own folder: the loader looks one level down.
        write_cifar10(&tmp.path().join("cifar-10-batches-bin"), 3);
        let (train, test) = load_cifar10(tmp.path()).unwrap();
        assert_eq!(train.images.size(), [15, 3, 32, 32]);
        assert_eq!(test.images.size(), [3, 3, 32, 32]);
        assert_eq!((train.num_classes, test.num_classes), (10, 10));
        // Files in order data_batch_1..5: example 3*f + r has label (f + r) % 10.
        let want: Vec<i64> = (0..5)
            .flat_map(|f| (0..3).map(move |r| ((f + r) % 10) as i64))
            .collect();
        assert_eq!(ints(&train.labels), want);
        assert_eq!(ints(&test.labels), [5, 6, 7]);
        for i in 0..15i64 {
            let (f, r) = (i / 3, i % 3);
            assert_eq!(
                train.images.double_value(&[i, r, 5, 7]),
                f64::from(200.0f32 / 255.0)
            );
            assert_eq!(
                train.images.double_value(&[i, 0, 0, 0]),
                f64::from((10 * f + r) as f32 / 255.0)
            );
            // Nothing else is set: the sum is exactly the two bytes.
            let sum = train.images.get(i).sum(tch::Kind::Double).double_value(&[]);
            assert!(
                (sum - (200 + 10 * f + r) as f64 / 255.0).abs() < 1e-5,
                "{i}: {sum}"
            );
        }
        // Mirror positions must be empty: [r, 7, 5] is not [r, 5, 7].
        assert_eq!(train.images.double_value(&[1, 1, 7, 5]), 0.0);
        assert_eq!(
            test.images.double_value(&[2, 2, 5, 7]),
            f64::from(200.0f32 / 255.0)
        );
    }

    #[test]
    fn cifar10_errors_name_the_file() {
        let tmp = tempfile::tempdir().unwrap();
        let msg = load_cifar10(tmp.path()).unwrap_err().to_string();
        assert_eq!(
            msg,
            format!(
                "{}: not found (expected {CIFAR10_EXPECTED})",
                tmp.path().join("data_batch_1.bin").display()
            )
        );
        write_cifar10(tmp.path(), 1);
        let p = tmp.path().join("data_batch_3.bin");
        std::fs::write(&p, vec![0u8; 1234]).unwrap();
        assert_eq!(
            load_cifar10(tmp.path()).unwrap_err().to_string(),
            format!(
                "{}: CIFAR-10 file size 1234 is not a multiple of the 3073-byte record",
                p.display()
            )
        );
        std::fs::write(&p, []).unwrap();
        assert_eq!(
            load_cifar10(tmp.path()).unwrap_err().to_string(),
            format!(
                "{}: empty (expected CIFAR-10 records of 3073 bytes)",
                p.display()
            )
        );
        let mut bytes = cifar_record(&[3], |_, _, _| 0);
        bytes.extend(cifar_record(&[10], |_, _, _| 0));
        std::fs::write(&p, bytes).unwrap();
        assert_eq!(
            load_cifar10(tmp.path()).unwrap_err().to_string(),
            format!(
                "{}: label 10 of example 1 is out of range (expected < 10 classes)",
                p.display()
            )
        );
        std::fs::write(&p, cifar_record(&[3], |_, _, _| 0)).unwrap();
        std::fs::remove_file(tmp.path().join("test_batch.bin")).unwrap();
        assert!(matches!(
            load_cifar10(tmp.path()),
            Err(DataError::NotFound { .. })
        ));
    }

    fn write_cifar100(dir: &Path, records: &[(u8, u8)]) {
        std::fs::create_dir_all(dir).unwrap();
        for name in ["train.bin", "test.bin"] {
            let mut bytes = Vec::new();
            for (r, &(coarse, fine)) in records.iter().enumerate() {
                bytes.extend(cifar_record(&[coarse, fine], |c, h, w| {
                    if (c, h, w) == (2, 31, r) {
                        255
                    } else {
                        (c * 10) as u8
                    }
                }));
            }
            std::fs::write(dir.join(name), bytes).unwrap();
        }
    }

    #[test]
    fn cifar100_fine_and_coarse_labels_and_pixels() {
        one_thread();
        let tmp = tempfile::tempdir().unwrap();
        write_cifar100(tmp.path(), &[(19, 99), (0, 3), (7, 42)]);
        let (fine, fine_test) = load_cifar100(tmp.path(), Cifar100Labels::Fine).unwrap();
        let (coarse, _) = load_cifar100(tmp.path(), Cifar100Labels::Coarse).unwrap();
        assert_eq!((fine.num_classes, coarse.num_classes), (100, 20));
        assert_eq!(ints(&fine.labels), [99, 3, 42]);
        assert_eq!(ints(&fine_test.labels), [99, 3, 42]);
        assert_eq!(ints(&coarse.labels), [19, 0, 7]);
        assert_eq!(fine.images.size(), [3, 3, 32, 32]);
        for r in 0..3i64 {
            assert_eq!(fine.images.double_value(&[r, 2, 31, r]), 1.0);
            assert_eq!(
                fine.images.double_value(&[r, 1, 31, r]),
                f64::from(10.0f32 / 255.0)
            );
            assert_eq!(
                fine.images.double_value(&[r, 2, 30, r]),
                f64::from(20.0f32 / 255.0)
            );
            assert_eq!(fine.images.double_value(&[r, 0, 0, 0]), 0.0);
        }
    }

    #[test]
    fn cifar100_errors_name_the_file() {
        let tmp = tempfile::tempdir().unwrap();
        write_cifar100(tmp.path(), &[(20, 5)]);
        let p = tmp.path().join("train.bin");
        // Coarse 20 is out of range for 20 superclasses, but fine 5 is fine.
        assert!(load_cifar100(tmp.path(), Cifar100Labels::Fine).is_ok());
        assert_eq!(
            load_cifar100(tmp.path(), Cifar100Labels::Coarse)
                .unwrap_err()
                .to_string(),
            format!(
                "{}: label 20 of example 0 is out of range (expected < 20 classes)",
                p.display()
            )
        );
        write_cifar100(tmp.path(), &[(1, 100)]);
        assert!(load_cifar100(tmp.path(), Cifar100Labels::Coarse).is_ok());
        assert!(matches!(
            load_cifar100(tmp.path(), Cifar100Labels::Fine),
            Err(DataError::LabelOutOfRange {
                label: 100,
                classes: 100,
                ..
            })
        ));
        // A CIFAR-10-sized record is not a CIFAR-100 record.
        std::fs::write(&p, vec![0u8; 3073]).unwrap();
        assert_eq!(
            load_cifar100(tmp.path(), Cifar100Labels::Fine)
                .unwrap_err()
                .to_string(),
            format!(
                "{}: CIFAR-100 file size 3073 is not a multiple of the 3074-byte record",
                p.display()
            )
        );
        std::fs::remove_file(tmp.path().join("test.bin")).unwrap();
        let msg = load_cifar100(tmp.path(), Cifar100Labels::Fine)
            .unwrap_err()
            .to_string();
        // train.bin is read first and is bad; replace it and the missing test.bin is reported.
        assert!(msg.contains("CIFAR-100 file size"), "{msg}");
        write_cifar100(&tmp.path().join("x"), &[(1, 1)]);
        std::fs::copy(tmp.path().join("x/train.bin"), &p).unwrap();
        let msg = load_cifar100(tmp.path(), Cifar100Labels::Fine)
            .unwrap_err()
            .to_string();
        assert_eq!(
            msg,
            format!(
                "{}: not found (expected {CIFAR100_EXPECTED})",
                tmp.path().join("test.bin").display()
            )
        );
    }
}
