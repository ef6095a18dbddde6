//! Writers of small files in the real formats, for the data tests.
use std::io::Write;
use std::path::Path;

/// Writes `bytes` to `path`, gzipped when the name ends in `.gz`.
pub fn write_maybe_gz(path: &Path, bytes: &[u8]) {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).unwrap();
    }
    if path.extension().is_some_and(|e| e == "gz") {
        let f = std::fs::File::create(path).unwrap();
        let mut enc = flate2::write::GzEncoder::new(f, flate2::Compression::fast());
        enc.write_all(bytes).unwrap();
        enc.finish().unwrap();
    } else {
        std::fs::write(path, bytes).unwrap();
    }
}

/// An IDX buffer: magic, big-endian dims, payload.
pub fn idx_bytes(magic: u32, dims: &[u32], payload: &[u8]) -> Vec<u8> {
    let mut v = magic.to_be_bytes().to_vec();
    for d in dims {
        v.extend_from_slice(&d.to_be_bytes());
    }
    v.extend_from_slice(payload);
    v
}

/// Writes the four MNIST-style files into `dir`: `n_train` / `n_test` images of `rows × cols`
/// where pixel `j` of image `i` is `(i * 7 + j * 3) % 256`, except that pixel 0 of training
/// image `i` is `i` (an id), and label `i % 10`. `gz` picks `.gz` names.
pub fn write_idx_dir(
    dir: &Path,
    n_train: usize,
    n_test: usize,
    rows: usize,
    cols: usize,
    gz: bool,
) {
    let ext = if gz { ".gz" } else { "" };
    for (prefix, n) in [("train", n_train), ("t10k", n_test)] {
        let mut px = Vec::new();
        for i in 0..n {
            for j in 0..rows * cols {
                px.push(if j == 0 && prefix == "train" {
                    i as u8
                } else {
                    ((i * 7 + j * 3) % 256) as u8
                });
            }
        }
        let labels: Vec<u8> = (0..n).map(|i| (i % 10) as u8).collect();
        write_maybe_gz(
            &dir.join(format!("{prefix}-images-idx3-ubyte{ext}")),
            &idx_bytes(0x803, &[n as u32, rows as u32, cols as u32], &px),
        );
        write_maybe_gz(
            &dir.join(format!("{prefix}-labels-idx1-ubyte{ext}")),
            &idx_bytes(0x801, &[n as u32], &labels),
        );
    }
}

/// One CIFAR record: `labels` then 3072 pixels where `[c, h, w]` holds `pixel(c, h, w)`.
pub fn cifar_record(labels: &[u8], pixel: impl Fn(usize, usize, usize) -> u8) -> Vec<u8> {
    let mut v = labels.to_vec();
    for c in 0..3 {
        for h in 0..32 {
            for w in 0..32 {
                v.push(pixel(c, h, w));
            }
        }
    }
    v
}

/// A solid-colour (or per-pixel) 64×64 JPEG at quality 100.
pub fn write_jpeg(path: &Path, width: u32, height: u32, rgb: impl Fn(u32, u32) -> [u8; 3]) {
    let mut raw = Vec::with_capacity((width * height * 3) as usize);
    for y in 0..height {
        for x in 0..width {
            raw.extend_from_slice(&rgb(x, y));
        }
    }
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let mut buf = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut buf, 100)
        .encode(&raw, width, height, image::ColorType::Rgb8)
        .unwrap();
    std::fs::write(path, buf).unwrap();
}

/// A grayscale JPEG of constant value `v`.
pub fn write_gray_jpeg(path: &Path, side: u32, v: u8) {
    let raw = vec![v; (side * side) as usize];
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let mut buf = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut buf, 100)
        .encode(&raw, side, side, image::ColorType::L8)
        .unwrap();
    std::fs::write(path, buf).unwrap();
}

/// `f32` values of a tensor.
pub fn values(t: &tch::Tensor) -> Vec<f32> {
    Vec::<f32>::try_from(&t.to_kind(tch::Kind::Float).flatten(0, -1)).unwrap()
}

/// `i64` values of a tensor.
pub fn ints(t: &tch::Tensor) -> Vec<i64> {
    Vec::<i64>::try_from(&t.to_kind(tch::Kind::Int64).flatten(0, -1)).unwrap()
}

/// One torch thread per test process (the build machine is shared).
pub fn one_thread() {
    tch::set_num_threads(1);
}
