//! Training augmentation of the paper (as torchvision `RandomCrop(size, padding=4)` +
//! `RandomHorizontalFlip(0.5)`), per batch on `(n, c, h, w)` tensors on any device.
//!
//! Crop: pad with `pad` zeros on each side, then cut an `h × w` window at offset
//! `(dy, dx) ∈ [0, 2·pad]²` drawn per image, so
//! `out[i, c, y, x] = in[i, c, y + dy - pad, x + dx - pad]` (0 outside the image).
//! Flip: with probability `p` per image, `out[i, c, y, x] = in[i, c, y, w - 1 - x]`.
use tch::Tensor;

use super::SeededRng;

/// Zero padding of the paper's random crop.
pub const PAD: i64 = 4;
/// Probability of the paper's horizontal flip.
pub const FLIP_P: f64 = 0.5;

/// Random crop with zero padding [`PAD`] then horizontal flip with probability [`FLIP_P`].
/// The shape is kept. Panics if `x` is not 4-D.
pub fn augment(x: &Tensor, rng: &mut SeededRng) -> Tensor {
    let cropped = random_crop(x, PAD, rng);
    random_hflip(&cropped, FLIP_P, rng)
}

/// Crops every image at an offset drawn uniformly from `[0, 2·pad]²` (see [`crop_at`]).
pub fn random_crop(x: &Tensor, pad: i64, rng: &mut SeededRng) -> Tensor {
    assert!(pad >= 0, "pad must be >= 0");
    let n = x.size()[0];
    let span = 2 * pad as u64 + 1;
    let offsets: Vec<(i64, i64)> = (0..n)
        .map(|_| (rng.below(span) as i64, rng.below(span) as i64))
        .collect();
    crop_at(x, pad, &offsets)
}

/// Flips every image left-right with probability `p` (see [`flip_where`]).
pub fn random_hflip(x: &Tensor, p: f64, rng: &mut SeededRng) -> Tensor {
    let flips: Vec<bool> = (0..x.size()[0]).map(|_| rng.bernoulli(p)).collect();
    flip_where(x, &flips)
}

/// Image `i` cut from the zero-padded batch at offset `offsets[i] = (dy, dx)`, each in
/// `0..=2·pad`: `out[i, c, y, x] = in[i, c, y + dy - pad, x + dx - pad]`, 0 outside.
/// Panics if `x` is not 4-D, an offset is out of range or `offsets.len() != n`.
pub fn crop_at(x: &Tensor, pad: i64, offsets: &[(i64, i64)]) -> Tensor {
    let s = x.size();
    assert_eq!(s.len(), 4, "crop: expected (n, c, h, w), got {s:?}");
    assert_eq!(offsets.len() as i64, s[0], "crop: one offset per image");
    if s[0] == 0 || pad == 0 {
        return x.copy();
    }
    let (h, w) = (s[2], s[3]);
    let padded = x.constant_pad_nd([pad, pad, pad, pad]);
    let crops: Vec<Tensor> = offsets
        .iter()
        .enumerate()
        .map(|(i, &(dy, dx))| {
            assert!(
                (0..=2 * pad).contains(&dy) && (0..=2 * pad).contains(&dx),
                "crop offset"
            );
            padded.get(i as i64).narrow(1, dy, h).narrow(2, dx, w)
        })
        .collect();
    Tensor::stack(&crops, 0)
}

/// Image `i` mirrored left-right where `flips[i]`, unchanged otherwise.
/// Panics if `x` is not 4-D or `flips.len() != n`.
pub fn flip_where(x: &Tensor, flips: &[bool]) -> Tensor {
    let s = x.size();
    assert_eq!(s.len(), 4, "flip: expected (n, c, h, w), got {s:?}");
    assert_eq!(flips.len() as i64, s[0], "flip: one flag per image");
    let mask = Tensor::from_slice(flips)
        .view([s[0], 1, 1, 1])
        .to_device(x.device());
    x.flip([3]).where_self(&mask, x)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::test_util::{one_thread, values};
    use tch::Kind;

    /// A batch whose pixels are all distinct and positive (so zero fill is recognisable).
    fn batch(n: i64, c: i64, h: i64, w: i64) -> Tensor {
        (Tensor::arange(n * c * h * w, (Kind::Float, tch::Device::Cpu)) + 1.0).view([n, c, h, w])
    }

    /// Slow reference of one crop (+ optional flip) of image `img` `(c, h, w)`.
    fn reference(
        img: &[f32],
        [c, h, w]: [i64; 3],
        pad: i64,
        dy: i64,
        dx: i64,
        flip: bool,
    ) -> Vec<f32> {
        let mut out = Vec::new();
        for ch in 0..c {
            for y in 0..h {
                for x in 0..w {
                    let x = if flip { w - 1 - x } else { x };
                    let (sy, sx) = (y + dy - pad, x + dx - pad);
                    let inside = (0..h).contains(&sy) && (0..w).contains(&sx);
                    out.push(if inside {
                        img[((ch * h + sy) * w + sx) as usize]
                    } else {
                        0.0
                    });
                }
            }
        }
        out
    }

    #[test]
    fn crop_at_is_a_shifted_window_with_zero_fill() {
        one_thread();
        let x = batch(3, 2, 5, 6);
        let offsets = [(0, 0), (4, 1), (2, 2)];
        let y = crop_at(&x, 2, &offsets);
        assert_eq!(y.size(), [3, 2, 5, 6]);
        for (i, &(dy, dx)) in offsets.iter().enumerate() {
            let img = values(&x.get(i as i64));
            assert_eq!(
                values(&y.get(i as i64)),
                reference(&img, [2, 5, 6], 2, dy, dx, false),
                "image {i}"
            );
        }
        // Offset (pad, pad) is the identity; (0, 0) puts zeros in the first 2 rows and columns.
        assert_eq!(values(&y.get(2)), values(&x.get(2)));
        assert_eq!(y.double_value(&[0, 1, 1, 4]), 0.0);
        assert_eq!(y.double_value(&[0, 1, 2, 2]), x.double_value(&[0, 1, 0, 0]));
    }

    #[test]
    fn forced_flip_mirrors_and_p_zero_keeps() {
        one_thread();
        let x = batch(4, 3, 4, 5);
        let mut rng = SeededRng::new(0);
        let flipped = random_hflip(&x, 1.0, &mut rng);
        for i in 0..4 {
            for (c, y, col) in [(0, 0, 0), (2, 3, 1), (1, 2, 4)] {
                assert_eq!(
                    flipped.double_value(&[i, c, y, col]),
                    x.double_value(&[i, c, y, 4 - col])
                );
            }
        }
        assert_eq!(values(&random_hflip(&x, 0.0, &mut rng)), values(&x));
        let some = flip_where(&x, &[true, false, false, true]);
        assert_eq!(values(&some.get(1)), values(&x.get(1)));
        assert_eq!(values(&some.get(3)), values(&x.get(3).flip([2])));
    }

    #[test]
    fn augment_keeps_shape_and_every_image_is_a_crop_or_its_mirror() {
        one_thread();
        let (n, c, h, w) = (64, 3, 10, 12);
        let x = batch(n, c, h, w);
        let mut rng = SeededRng::new(5);
        let y = augment(&x, &mut rng);
        assert_eq!(y.size(), x.size());
        let (mut flips, mut shifted) = (0, 0);
        for i in 0..n {
            let img = values(&x.get(i));
            let out = values(&y.get(i));
            let hit = (0..=2 * PAD)
                .flat_map(|dy| (0..=2 * PAD).flat_map(move |dx| [(dy, dx, false), (dy, dx, true)]))
                .find(|&(dy, dx, f)| reference(&img, [c, h, w], PAD, dy, dx, f) == out);
            let (dy, dx, f) =
                hit.unwrap_or_else(|| panic!("image {i} is no crop/flip of its input"));
            flips += usize::from(f);
            shifted += usize::from((dy, dx) != (PAD, PAD));
        }
        // 64 fair coins: 5 sigma is 20 either side of 32. A centred crop has chance 1/81.
        assert!((12..=52).contains(&flips), "{flips} flips");
        assert!(shifted >= 50, "{shifted} shifted");
        // The same seed replays the same augmentation; another seed does not.
        assert_eq!(values(&augment(&x, &mut SeededRng::new(5))), values(&y));
        assert_ne!(values(&augment(&x, &mut SeededRng::new(6))), values(&y));
    }

    #[test]
    fn augment_of_an_empty_batch_is_empty() {
        let x = batch(0, 3, 8, 8);
        assert_eq!(augment(&x, &mut SeededRng::new(1)).size(), [0, 3, 8, 8]);
    }
}
