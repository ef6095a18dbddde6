//! A seeded synthetic image set that a small network can learn.
//!
//! Class `k` has a prototype image: per channel `c`, a plane wave
//! `p_k[c, h, w] = 0.5 + b_kc + 0.3 sin(2π (f_x w / W + f_y h / H) + φ_kc)` with integer
//! frequencies `f_x, f_y ∈ {0, 1, 2}` (not both 0), phase `φ_kc ∈ [0, 2π)` and offset
//! `b_kc ∈ [-0.1, 0.1]` drawn from the seed. An example of class `k` is
//! `clamp(p_k + noise · N(0, 1), 0, 1)` with independent noise per pixel. Labels cycle
//! `0, 1, …, classes - 1` so every class is equally frequent.
use std::f64::consts::TAU;

use super::{DataError, Dataset, Result, SeededRng};

/// Shape, size and seed of the synthetic set.
#[derive(Clone, Debug, PartialEq)]
pub struct SyntheticConfig {
    /// Channels `c`.
    pub channels: usize,
    /// Height `h`.
    pub height: usize,
    /// Width `w`.
    pub width: usize,
    /// Training examples (before the val split).
    pub train: usize,
    /// Test examples.
    pub test: usize,
    /// Number of classes.
    pub classes: usize,
    /// Standard deviation of the per-pixel Gaussian noise.
    pub noise: f32,
    /// Seed of the prototypes and the examples (the split uses [`super::DataSpec::seed`]).
    pub seed: u64,
}

impl Default for SyntheticConfig {
    /// 3×32×32, 10 classes, 2048 train and 512 test examples, noise 0.15, seed 0.
    fn default() -> Self {
        Self {
            channels: 3,
            height: 32,
            width: 32,
            train: 2048,
            test: 512,
            classes: 10,
            noise: 0.15,
            seed: 0,
        }
    }
}

impl SyntheticConfig {
    /// Checks that the sizes are positive and the noise finite and non-negative.
    pub fn validate(&self) -> Result<()> {
        let positive = [
            ("synthetic.channels", self.channels),
            ("synthetic.height", self.height),
            ("synthetic.width", self.width),
            ("synthetic.train", self.train),
            ("synthetic.classes", self.classes),
        ];
        for (field, v) in positive {
            if v == 0 {
                return Err(DataError::InvalidSpec {
                    field,
                    value: "0".into(),
                    expected: ">= 1",
                });
            }
        }
        if !(self.noise.is_finite() && self.noise >= 0.0) {
            return Err(DataError::InvalidSpec {
                field: "synthetic.noise",
                value: self.noise.to_string(),
                expected: "finite and >= 0",
            });
        }
        Ok(())
    }
}

/// The class prototypes, `classes × (c·h·w)` values (before clamping).
pub fn prototypes(cfg: &SyntheticConfig) -> Vec<Vec<f32>> {
    let mut rng = SeededRng::new(cfg.seed);
    let (c, h, w) = (cfg.channels, cfg.height, cfg.width);
    (0..cfg.classes)
        .map(|_| {
            let mut p = Vec::with_capacity(c * h * w);
            for _ in 0..c {
                let (fx, fy) = loop {
                    let f = (rng.below(3), rng.below(3));
                    if f != (0, 0) {
                        break f;
                    }
                };
                let phase = TAU * rng.next_f64();
                let offset = 0.2 * rng.next_f64() - 0.1;
                for y in 0..h {
                    for x in 0..w {
                        let t = fx as f64 * x as f64 / w as f64 + fy as f64 * y as f64 / h as f64;
                        p.push((0.5 + offset + 0.3 * (TAU * t + phase).sin()) as f32);
                    }
                }
            }
            p
        })
        .collect()
}

fn sample(cfg: &SyntheticConfig, protos: &[Vec<f32>], n: usize, seed: u64) -> Dataset {
    let mut rng = SeededRng::new(seed);
    let d = cfg.channels * cfg.height * cfg.width;
    let mut pixels = Vec::with_capacity(n * d);
    let mut labels = Vec::with_capacity(n);
    for i in 0..n {
        let k = i % cfg.classes;
        labels.push(k as i64);
        for &v in &protos[k] {
            let x = f64::from(v) + f64::from(cfg.noise) * rng.normal();
            pixels.push(x.clamp(0.0, 1.0) as f32);
        }
    }
    let shape = [
        n as i64,
        cfg.channels as i64,
        cfg.height as i64,
        cfg.width as i64,
    ];
    Dataset::new(
        tch::Tensor::from_slice(&pixels).view(shape),
        tch::Tensor::from_slice(&labels),
        cfg.classes,
    )
}

/// Generates (train, test) from `cfg`; the same config always gives the same tensors.
pub fn generate(cfg: &SyntheticConfig) -> Result<(Dataset, Dataset)> {
    cfg.validate()?;
    let protos = prototypes(cfg);
    let mut seeds = SeededRng::new(cfg.seed ^ 0x5EED_DA7A);
    let (train_seed, test_seed) = (seeds.next_u64(), seeds.next_u64());
    Ok((
        sample(cfg, &protos, cfg.train, train_seed),
        sample(cfg, &protos, cfg.test, test_seed),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::test_util::{ints, one_thread, values};
    use tch::{Kind, Tensor};

    fn small() -> SyntheticConfig {
        SyntheticConfig {
            channels: 2,
            height: 6,
            width: 5,
            train: 200,
            test: 100,
            classes: 4,
            noise: 0.2,
            seed: 9,
        }
    }

    #[test]
    fn synthetic_is_deterministic_in_range_and_balanced() {
        one_thread();
        let cfg = small();
        let (a, at) = generate(&cfg).unwrap();
        let (b, _) = generate(&cfg).unwrap();
        let (c, _) = generate(&SyntheticConfig {
            seed: 10,
            ..cfg.clone()
        })
        .unwrap();
        assert_eq!(a.images.size(), [200, 2, 6, 5]);
        assert_eq!(at.images.size(), [100, 2, 6, 5]);
        assert_eq!(a.num_classes, 4);
        assert_eq!(values(&a.images), values(&b.images));
        assert_ne!(values(&a.images), values(&c.images));
        assert_ne!(
            values(&a.images.narrow(0, 0, 100)),
            values(&at.images),
            "train and test streams differ"
        );
        let v = values(&a.images);
        assert!(v.iter().all(|x| (0.0..=1.0).contains(x)));
        let labels = ints(&a.labels);
        for k in 0..4 {
            assert_eq!(labels.iter().filter(|&&l| l == k).count(), 50);
        }
    }

    #[test]
    fn synthetic_classes_are_separable_by_nearest_class_mean() {
        // A learnability check: the nearest train-class mean classifies the test set.
        one_thread();
        let cfg = SyntheticConfig {
            train: 500,
            test: 200,
            classes: 10,
            ..SyntheticConfig::default()
        };
        let (train, test) = generate(&cfg).unwrap();
        let d = 3 * 32 * 32;
        let x = train.images.view([-1, d]);
        let means: Vec<Tensor> = (0..10)
            .map(|k| {
                let idx = train.labels.eq(k).nonzero().squeeze_dim(1);
                x.index_select(0, &idx).mean_dim(0, false, Kind::Float)
            })
            .collect();
        let means = Tensor::stack(&means, 0); // (10, d)
        let xt = test.images.view([-1, d]);
        let dist = (xt.unsqueeze(1) - means.unsqueeze(0))
            .square()
            .sum_dim_intlist(2, false, Kind::Float);
        let pred = dist.argmin(1, false);
        let acc = pred
            .eq_tensor(&test.labels)
            .to_kind(Kind::Float)
            .mean(Kind::Float)
            .double_value(&[]);
        assert!(acc > 0.95, "nearest-mean accuracy {acc}");
    }

    #[test]
    fn synthetic_rejects_empty_shapes_and_bad_noise() {
        for cfg in [
            SyntheticConfig {
                channels: 0,
                ..small()
            },
            SyntheticConfig {
                classes: 0,
                ..small()
            },
            SyntheticConfig {
                train: 0,
                ..small()
            },
            SyntheticConfig {
                noise: f32::NAN,
                ..small()
            },
            SyntheticConfig {
                noise: -1.0,
                ..small()
            },
        ] {
            assert!(
                matches!(generate(&cfg), Err(DataError::InvalidSpec { .. })),
                "{cfg:?}"
            );
        }
        assert_eq!(
            generate(&SyntheticConfig {
                width: 0,
                ..small()
            })
            .unwrap_err()
            .to_string(),
            "invalid data spec: synthetic.width = 0 (expected >= 1)"
        );
    }
}
