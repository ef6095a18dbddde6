//! SNL's pieces that are not training loops: the loss, the λ schedule and budgets.
//!
//! Loss during linearization: `CE(f(x), y) + KD_T(f(x), t(x)) + λ·Σ_layers ‖c‖₁`, with
//! `KD_T(s, t) = T² · mean_batch KL(softmax(t/T) ‖ softmax(s/T))`.
use tch::{Kind, Reduction, Tensor};

/// `T² · KL(softmax(teacher/T) ‖ softmax(student/T))`, averaged over the batch.
pub fn kd_loss(student: &Tensor, teacher: &Tensor, t: f64) -> Tensor {
    let log_s = (student / t).log_softmax(1, Kind::Float);
    let log_t = (teacher / t).log_softmax(1, Kind::Float);
    let kl = (log_t.exp() * (&log_t - log_s)).sum(Kind::Float);
    kl / student.size()[0] as f64 * (t * t)
}

/// Cross-entropy with integer labels, averaged.
pub fn ce_loss(logits: &Tensor, labels: &Tensor) -> Tensor {
    logits.cross_entropy_loss::<Tensor>(labels, None, Reduction::Mean, -100, 0.0)
}

/// SNL's λ schedule: after each epoch, if the kept count is not a new minimum and the
/// epoch (0-based) is at least `warmup`, `λ ← factor·λ`.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct LambdaSchedule {
    /// The current λ.
    pub lambda: f64,
    /// Multiplier on a stall (1.1).
    pub factor: f64,
    /// First epoch where λ may grow (5).
    pub warmup: usize,
    /// Smallest count seen so far.
    pub best: Option<i64>,
}

impl LambdaSchedule {
    /// The paper's schedule from `lambda0`.
    pub fn new(lambda0: f64) -> Self {
        Self {
            lambda: lambda0,
            factor: 1.1,
            warmup: 5,
            best: None,
        }
    }

    /// Records the count after `epoch`; returns the λ for the next epoch.
    pub fn update(&mut self, epoch: usize, count: i64) -> f64 {
        let new_min = self.best.is_none_or(|b| count < b);
        if new_min {
            self.best = Some(count);
        } else if epoch >= self.warmup {
            self.lambda *= self.factor;
        }
        self.lambda
    }
}

/// A ReLU budget: absolute or a fraction of the total.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Budget {
    /// At most this many kept ReLUs.
    Count(i64),
    /// At most this fraction of all ReLUs.
    Fraction(f64),
}

/// Why a budget is not usable.
#[derive(Debug, thiserror::Error, PartialEq)]
#[non_exhaustive]
pub enum BudgetError {
    /// Not in `(0, total)`.
    #[error("budget {budget} must be > 0 and < the network's {total} ReLUs")]
    OutOfRange {
        /// The budget as given.
        budget: String,
        /// Total ReLUs.
        total: i64,
    },
}

impl Budget {
    /// The absolute budget for a network of `total` ReLUs.
    pub fn resolve(self, total: i64) -> Result<i64, BudgetError> {
        let (b, shown) = match self {
            Budget::Count(n) => (n, n.to_string()),
            Budget::Fraction(f) if f.is_finite() => {
                ((f * total as f64).floor() as i64, format!("{f} (fraction)"))
            }
            Budget::Fraction(f) => (0, format!("{f} (fraction)")),
        };
        if b <= 0 || b >= total {
            return Err(BudgetError::OutOfRange {
                budget: shown,
                total,
            });
        }
        Ok(b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The schedule written as a closed form: λ after epoch e is
    /// λ₀ · factor^#{i ≤ e : i ≥ warmup and count_i ≥ min(count_0..count_{i−1})}.
    fn reference(lambda0: f64, counts: &[i64]) -> Vec<f64> {
        (0..counts.len())
            .map(|e| {
                let stalls = (0..=e)
                    .filter(|&i| i >= 5 && counts[i] >= *counts[..i].iter().min().unwrap())
                    .count();
                lambda0 * 1.1f64.powi(stalls as i32)
            })
            .collect()
    }

    proptest! {
        #[test]
        fn lambda_schedule_matches_its_definition(
            counts in proptest::collection::vec(0i64..50, 1..40),
            lambda0 in 1e-6f64..1e-2,
        ) {
            let mut s = LambdaSchedule::new(lambda0);
            let got: Vec<f64> = counts.iter().enumerate().map(|(e, &c)| s.update(e, c)).collect();
            let want = reference(lambda0, &counts);
            for (g, w) in got.iter().zip(&want) {
                prop_assert!((g - w).abs() <= 1e-12 * w, "{:?} vs {:?}", got, want);
            }
        }
    }

    #[test]
    fn kd_is_zero_for_equal_logits_and_positive_otherwise() {
        let a = Tensor::from_slice(&[1.0f32, 2.0, 3.0, 0.0, -1.0, 0.5]).view([2, 3]);
        assert!(kd_loss(&a, &a, 4.0).double_value(&[]).abs() < 1e-6);
        let b = Tensor::from_slice(&[3.0f32, 2.0, 1.0, 0.0, 1.0, 0.5]).view([2, 3]);
        assert!(kd_loss(&a, &b, 4.0).double_value(&[]) > 1e-3);
    }

    #[test]
    fn budgets() {
        assert_eq!(Budget::Count(10).resolve(100), Ok(10));
        assert_eq!(Budget::Fraction(0.1).resolve(18944), Ok(1894));
        assert!(Budget::Count(0).resolve(100).is_err());
        assert!(Budget::Count(100).resolve(100).is_err());
        assert!(Budget::Fraction(1.5).resolve(100).is_err());
        assert!(Budget::Fraction(f64::NAN).resolve(100).is_err());
    }
}
