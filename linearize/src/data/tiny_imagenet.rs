//! Tiny-ImageNet (200 classes, 64×64 RGB JPEGs) in its distribution layout:
//!
//! ```text
//! tiny-imagenet-200/
//!   wnids.txt                      one WordNet id per line (the 200 classes)
//!   train/<wnid>/images/*.JPEG     500 training images per class
//!   val/images/*.JPEG              10 000 images, used here as the test set
//!   val/val_annotations.txt        "<file>\t<wnid>\t<x>\t<y>\t<w>\t<h>" per line
//! ```
//!
//! Class `k` is the `k`-th wnid in sorted order (the order of torchvision's `ImageFolder` over
//! `train/`). Grayscale JPEGs (a few exist) are expanded to 3 equal channels; images are
//! `(n, 3, 64, 64)` in `[0, 1]`. Decoding runs on all available cores.
use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::{find_root, io_error, read_file, DataError, Dataset, Result};

/// Image side in pixels.
pub const SIDE: u32 = 64;
/// Bytes per decoded image (3 × 64 × 64).
const IMAGE_BYTES: usize = 3 * (SIDE as usize) * (SIDE as usize);

const EXPECTED: &str = "the Tiny-ImageNet layout: wnids.txt, train/<wnid>/images/*.JPEG, \
                        val/images/*.JPEG and val/val_annotations.txt, e.g. in tiny-imagenet-200/";

/// The file lists of a Tiny-ImageNet folder, read without decoding any image.
#[derive(Clone, Debug)]
pub struct TinyImagenetIndex {
    /// The folder holding `wnids.txt`.
    pub root: PathBuf,
    /// Class names, sorted: class `k` is `wnids[k]`.
    pub wnids: Vec<String>,
    /// Training images and their classes, by class then file name.
    pub train: Vec<(PathBuf, i64)>,
    /// `val/` images (the test set) and their classes, in annotation-file order.
    pub test: Vec<(PathBuf, i64)>,
}

fn is_jpeg(p: &Path) -> bool {
    p.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("jpeg") || e.eq_ignore_ascii_case("jpg"))
}

impl TinyImagenetIndex {
    /// Lists the classes and image files under `dir` (or `dir/tiny-imagenet-200/`).
    pub fn read(dir: &Path) -> Result<Self> {
        let root = find_root(dir, "tiny-imagenet-200", "wnids.txt");
        let wnids_path = root.join("wnids.txt");
        let text = read_file(&wnids_path, EXPECTED)?;
        let mut wnids: Vec<String> = String::from_utf8_lossy(&text)
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(str::to_string)
            .collect();
        wnids.sort();
        wnids.dedup();
        if wnids.is_empty() {
            return Err(DataError::Empty {
                path: wnids_path,
                expected: "one WordNet id per line".into(),
            });
        }
        let class_of: HashMap<&str, i64> = wnids
            .iter()
            .enumerate()
            .map(|(k, w)| (w.as_str(), k as i64))
            .collect();

        let mut train = Vec::new();
        for (k, wnid) in wnids.iter().enumerate() {
            let folder = root.join("train").join(wnid).join("images");
            let entries = std::fs::read_dir(&folder).map_err(|e| io_error(&folder, e, EXPECTED))?;
            let mut files = Vec::new();
            for entry in entries {
                let path = entry.map_err(|e| io_error(&folder, e, EXPECTED))?.path();
                if is_jpeg(&path) {
                    files.push(path);
                }
            }
            files.sort();
            train.extend(files.into_iter().map(|p| (p, k as i64)));
        }
        if train.is_empty() {
            return Err(DataError::Empty {
                path: root.join("train"),
                expected: "JPEG images in train/<wnid>/images/".into(),
            });
        }

        let ann_path = root.join("val").join("val_annotations.txt");
        let ann = read_file(&ann_path, EXPECTED)?;
        let mut test = Vec::new();
        for (i, line) in String::from_utf8_lossy(&ann).lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let mut fields = line.split('\t');
            let (Some(file), Some(wnid)) = (fields.next(), fields.next()) else {
                return Err(DataError::Malformed {
                    path: ann_path,
                    line: i + 1,
                    content: line.to_string(),
                    expected: "<file>\\t<wnid>\\t<x>\\t<y>\\t<w>\\t<h>",
                });
            };
            let wnid = wnid.trim();
            let Some(&k) = class_of.get(wnid) else {
                return Err(DataError::UnknownWnid {
                    path: ann_path,
                    line: i + 1,
                    wnid: wnid.to_string(),
                });
            };
            test.push((root.join("val").join("images").join(file.trim()), k));
        }
        if test.is_empty() {
            return Err(DataError::Empty {
                path: ann_path,
                expected: "one line per val image".into(),
            });
        }
        Ok(Self {
            root,
            wnids,
            train,
            test,
        })
    }

    /// Decodes the training images at `indices` (into [`TinyImagenetIndex::train`]), in that order.
    pub fn decode_train(&self, indices: &[usize]) -> Result<Dataset> {
        decode(&self.train, indices, self.wnids.len())
    }

    /// Decodes the test (`val/`) images at `indices`, in that order.
    pub fn decode_test(&self, indices: &[usize]) -> Result<Dataset> {
        decode(&self.test, indices, self.wnids.len())
    }
}

/// Decodes one JPEG file into `out` (`3 × 64 × 64` bytes, channel-major).
pub fn decode_into(path: &Path, out: &mut [u8]) -> Result<()> {
    let bytes = read_file(path, "a 64x64 JPEG listed by the Tiny-ImageNet layout")?;
    let img = image::load_from_memory_with_format(&bytes, image::ImageFormat::Jpeg).map_err(
        |source| DataError::Decode {
            path: path.to_path_buf(),
            source,
        },
    )?;
    if img.width() != SIDE || img.height() != SIDE {
        return Err(DataError::ImageSize {
            path: path.to_path_buf(),
            width: img.width(),
            height: img.height(),
            expected_width: SIDE,
            expected_height: SIDE,
        });
    }
    let rgb = img.to_rgb8();
    let plane = (SIDE * SIDE) as usize;
    // HWC (interleaved RGB) -> CHW.
    for (i, px) in rgb.as_raw().chunks_exact(3).enumerate() {
        out[i] = px[0];
        out[plane + i] = px[1];
        out[2 * plane + i] = px[2];
    }
    Ok(())
}

fn decode(files: &[(PathBuf, i64)], indices: &[usize], classes: usize) -> Result<Dataset> {
    let n = indices.len();
    let mut pixels = vec![0u8; n * IMAGE_BYTES];
    let labels: Vec<i64> = indices.iter().map(|&i| files[i].1).collect();
    let threads = std::thread::available_parallelism()
        .map_or(1, |t| t.get())
        .clamp(1, 16);
    let per_thread = n.div_ceil(threads).max(1);
    std::thread::scope(|s| {
        let handles: Vec<_> = pixels
            .chunks_mut(per_thread * IMAGE_BYTES)
            .zip(indices.chunks(per_thread))
            .map(|(out, idx)| {
                s.spawn(move || {
                    for (o, &i) in out.chunks_exact_mut(IMAGE_BYTES).zip(idx) {
                        decode_into(&files[i].0, o)?;
                    }
                    Ok(())
                })
            })
            .collect();
        handles
            .into_iter()
            .try_for_each(|h| h.join().expect("JPEG decoding thread panicked"))
    })?;
    Ok(Dataset::from_bytes(
        &pixels,
        [n, 3, SIDE as usize, SIDE as usize],
        &labels,
        classes,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::test_util::{ints, one_thread, values, write_gray_jpeg, write_jpeg};

    /// Colour of training image `i` of class `k` (solid, so JPEG keeps it within a few levels).
    fn colour(k: usize, i: usize) -> [u8; 3] {
        [
            (40 + 100 * k) as u8,
            (60 + 40 * i) as u8,
            (200 - 100 * k) as u8,
        ]
    }

    /// A tree with wnids `n02` and `n01` (listed unsorted), 3 training images each, and 3 val
    /// images (n01, n02, n01).
    fn write_tree(root: &Path) {
        std::fs::create_dir_all(root).unwrap();
        std::fs::write(root.join("wnids.txt"), "n02\nn01\n\n").unwrap();
        for (k, wnid) in ["n01", "n02"].iter().enumerate() {
            for i in 0..3 {
                let p = root.join(format!("train/{wnid}/images/{wnid}_{i}.JPEG"));
                write_jpeg(&p, 64, 64, |_, _| colour(k, i));
            }
            // Not a JPEG: ignored.
            std::fs::write(root.join(format!("train/{wnid}/{wnid}_boxes.txt")), "x").unwrap();
        }
        let mut ann = String::new();
        for (j, (k, wnid)) in [(0, "n01"), (1, "n02"), (0, "n01")].iter().enumerate() {
            write_jpeg(
                &root.join(format!("val/images/val_{j}.JPEG")),
                64,
                64,
                |_, _| colour(*k, j),
            );
            ann.push_str(&format!("val_{j}.JPEG\t{wnid}\t0\t1\t60\t62\n"));
        }
        std::fs::write(root.join("val/val_annotations.txt"), ann).unwrap();
    }

    fn close(got: f64, want: u8) -> bool {
        (got * 255.0 - f64::from(want)).abs() <= 3.0
    }

    #[test]
    fn tiny_imagenet_tree_decodes_to_chw_with_sorted_wnid_classes() {
        one_thread();
        let tmp = tempfile::tempdir().unwrap();
        write_tree(&tmp.path().join("tiny-imagenet-200"));
        let index = TinyImagenetIndex::read(tmp.path()).unwrap();
        assert_eq!(index.wnids, ["n01", "n02"]);
        assert_eq!(index.train.len(), 6);
        let train = index.decode_train(&[0, 1, 2, 3, 4, 5]).unwrap();
        assert_eq!(train.images.size(), [6, 3, 64, 64]);
        assert_eq!(train.num_classes, 2);
        assert_eq!(ints(&train.labels), [0, 0, 0, 1, 1, 1]);
        for n in 0..6 {
            let want = colour(n / 3, n % 3);
            for c in 0..3 {
                for (y, x) in [(0, 0), (17, 50), (63, 63)] {
                    let got = train.images.double_value(&[n as i64, c, y, x]);
                    assert!(
                        close(got, want[c as usize]),
                        "image {n} [{c},{y},{x}] = {got}, want {want:?}"
                    );
                }
            }
        }
        // Picking a subset decodes just those, in the given order.
        let sub = index.decode_train(&[4, 1]).unwrap();
        assert_eq!(ints(&sub.labels), [1, 0]);
        assert_eq!(values(&sub.images.get(0)), values(&train.images.get(4)));
        let test = index.decode_test(&[0, 1, 2]).unwrap();
        assert_eq!(ints(&test.labels), [0, 1, 0]);
        assert!(close(
            test.images.double_value(&[1, 0, 9, 9]),
            colour(1, 1)[0]
        ));
        assert!(close(
            test.images.double_value(&[2, 1, 9, 9]),
            colour(0, 2)[1]
        ));
    }

    #[test]
    fn tiny_imagenet_grayscale_jpeg_becomes_three_equal_channels() {
        one_thread();
        let tmp = tempfile::tempdir().unwrap();
        let p = tmp.path().join("g.JPEG");
        write_gray_jpeg(&p, 64, 123);
        let mut out = vec![0u8; IMAGE_BYTES];
        decode_into(&p, &mut out).unwrap();
        let plane = 64 * 64;
        assert!(
            out.iter().all(|&v| v.abs_diff(123) <= 2),
            "gray value drifted"
        );
        assert_eq!(out[..plane], out[plane..2 * plane]);
        assert_eq!(out[..plane], out[2 * plane..]);
    }

    #[test]
    fn tiny_imagenet_layout_errors_name_the_path() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        let msg = TinyImagenetIndex::read(root).unwrap_err().to_string();
        assert_eq!(
            msg,
            format!(
                "{}: not found (expected {EXPECTED})",
                root.join("wnids.txt").display()
            )
        );

        write_tree(root);
        std::fs::write(root.join("wnids.txt"), "\n  \n").unwrap();
        assert!(matches!(
            TinyImagenetIndex::read(root),
            Err(DataError::Empty { .. })
        ));

        std::fs::write(root.join("wnids.txt"), "n01\nn02\nn03\n").unwrap();
        let msg = TinyImagenetIndex::read(root).unwrap_err().to_string();
        assert!(
            msg.starts_with(&format!(
                "{}: not found",
                root.join("train/n03/images").display()
            )),
            "{msg}"
        );

        std::fs::write(root.join("wnids.txt"), "n01\n").unwrap();
        let ann = root.join("val/val_annotations.txt");
        assert_eq!(
            TinyImagenetIndex::read(root).unwrap_err().to_string(),
            format!(
                "{}:2: unknown wnid \"n02\" (not listed in wnids.txt)",
                ann.display()
            )
        );

        std::fs::write(root.join("wnids.txt"), "n01\nn02\n").unwrap();
        std::fs::write(&ann, "val_0.JPEG\tn01\t0\t0\t1\t1\nval_1.JPEG n02\n").unwrap();
        assert!(matches!(
            TinyImagenetIndex::read(root),
            Err(DataError::Malformed { line: 2, .. })
        ));
        std::fs::remove_file(&ann).unwrap();
        assert!(
            matches!(TinyImagenetIndex::read(root), Err(DataError::NotFound { path, .. }) if path == ann)
        );
    }

    #[test]
    fn tiny_imagenet_image_errors_name_the_file() {
        one_thread();
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        write_tree(root);
        let small = root.join("train/n02/images/n02_1.JPEG");
        write_jpeg(&small, 32, 64, |_, _| [1, 2, 3]);
        let index = TinyImagenetIndex::read(root).unwrap();
        assert!(index.decode_train(&[0, 1, 2, 3]).is_ok());
        assert_eq!(
            index.decode_train(&[0, 4]).unwrap_err().to_string(),
            format!("{}: image is 32x64 (expected 64x64)", small.display())
        );
        std::fs::write(&small, b"\xff\xd8 not really a jpeg").unwrap();
        let msg = index.decode_train(&[4]).unwrap_err().to_string();
        assert!(
            msg.starts_with(&format!("{}: cannot decode image: ", small.display())),
            "{msg}"
        );
        std::fs::remove_file(root.join("val/images/val_2.JPEG")).unwrap();
        let msg = index.decode_test(&[0, 1, 2]).unwrap_err().to_string();
        assert!(
            msg.starts_with(&format!(
                "{}: not found",
                root.join("val/images/val_2.JPEG").display()
            )),
            "{msg}"
        );
    }
}
