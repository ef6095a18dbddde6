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

/// Which λ schedule the mask phase runs.
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    clap::ValueEnum,
    serde::Serialize,
    serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum LambdaRule {
    /// The paper's: `λ ← 1.1·λ` after an epoch (from the 6th) that sets no new minimum.
    #[default]
    Paper,
    /// Budget-aware: steer the kept count along a geometric path from all ReLUs to the
    /// budget in a requested number of epochs ([`LambdaSchedule::budget_aware`]).
    Budget,
}

/// How the soft masks of the mask phase become binary.
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    clap::ValueEnum,
    serde::Serialize,
    serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Binarize {
    /// The paper's: train soft masks, then `c ← 1[c > ε]` once at the end.
    #[default]
    Paper,
    /// Straight-through: every forward pass of the mask phase already uses `1[c > ε]`
    /// (the gradient reaches the soft `c`), so binarizing at the end changes nothing the
    /// network was trained with.
    Ste,
}

/// Largest factor the budget-aware rule changes λ by in one epoch (up or down). The masks
/// answer λ with a delay of a few epochs (Adam moves each `c` by at most ~lr per step), so
/// larger steps overshoot.
pub const BUDGET_RULE_MAX_STEP: f64 = 3.0;

/// Share of the requested epochs the budget-aware rule plans to need: the path ends at
/// `ceil(AIM · epochs)`, leaving the rest as slack for the masks' delayed response.
pub const BUDGET_RULE_AIM: f64 = 0.8;

/// Gain of the budget-aware rule: `λ ← λ · (count / plan)^GAIN`, clamped to
/// `[1/MAX_STEP, MAX_STEP]`.
pub const BUDGET_RULE_GAIN: f64 = 2.0;

/// SNL's λ schedule. `Paper`: after each epoch, if the kept count is not a new minimum and
/// the epoch (0-based) is at least `warmup`, `λ ← factor·λ`. `Budget`: see
/// [`LambdaSchedule::budget_aware`].
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
    /// The rule.
    #[serde(default)]
    pub rule: LambdaRule,
    /// Budget rule: all ReLUs (the path's start).
    #[serde(default)]
    pub total: i64,
    /// Budget rule: the budget (the path's end).
    #[serde(default)]
    pub budget: i64,
    /// Budget rule: epochs in which to reach the budget.
    #[serde(default)]
    pub epochs: usize,
    /// Budget rule: the count after the previous epoch.
    #[serde(default)]
    pub last: Option<i64>,
}

impl LambdaSchedule {
    /// The paper's schedule from `lambda0` (its growth factor and warm-up from
    /// [`paper`](crate::paper::paper())).
    pub fn new(lambda0: f64) -> Self {
        let paper = crate::paper::paper();
        Self {
            lambda: lambda0,
            factor: paper.lambda_growth,
            warmup: paper.lambda_warmup,
            best: None,
            rule: LambdaRule::Paper,
            total: 0,
            budget: 0,
            epochs: 0,
            last: None,
        }
    }

    /// The budget-aware schedule, re-planned every epoch: from the count `prev` before epoch
    /// `e` (0-based), the plan for the epoch is `plan(e) = prev · (budget/prev)^(1/(aim −
    /// e))`, the geometric path that reaches the budget at epoch `aim = ceil(AIM · epochs)`
    /// (one epoch once those are spent). λ is multiplied by `(count/plan)^GAIN` clamped to
    /// `[1/MAX_STEP, MAX_STEP]`: raised while the count lags behind the plan, lowered when it
    /// runs ahead — and since the plan starts from where the count is, running ahead once
    /// does not make the count climb back to an old path. An epoch without any progress
    /// (the count not below the previous one) raises λ by the full `MAX_STEP`. (The mask
    /// phase also stops within the batch that reaches the budget, so it is not overshot far.)
    pub fn budget_aware(lambda0: f64, total: i64, budget: i64, epochs: usize) -> Self {
        Self {
            rule: LambdaRule::Budget,
            total,
            budget,
            epochs: epochs.max(1),
            ..Self::new(lambda0)
        }
    }

    /// The kept count the budget rule plans for the end of `epoch` (0-based).
    pub fn plan(&self, epoch: usize) -> f64 {
        let prev = self.last.unwrap_or(self.total).max(1) as f64;
        let b = self.budget.max(1) as f64;
        let aim = (BUDGET_RULE_AIM * self.epochs as f64).ceil() as usize;
        let left = aim.saturating_sub(epoch).max(1) as f64;
        if prev <= b {
            return b;
        }
        prev * (b / prev).powf(1.0 / left)
    }

    /// Records the count after `epoch`; returns the λ for the next epoch.
    pub fn update(&mut self, epoch: usize, count: i64) -> f64 {
        if self.rule == LambdaRule::Budget {
            let ratio = count.max(1) as f64 / self.plan(epoch);
            let stalled = count > self.budget && count >= self.last.unwrap_or(self.total);
            let step = if stalled {
                BUDGET_RULE_MAX_STEP
            } else {
                ratio
                    .powf(BUDGET_RULE_GAIN)
                    .clamp(1.0 / BUDGET_RULE_MAX_STEP, BUDGET_RULE_MAX_STEP)
            };
            self.lambda *= step;
            self.best = Some(self.best.map_or(count, |b| b.min(count)));
            self.last = Some(count);
            return self.lambda;
        }
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
    /// Not in `[0, total)` (a count) or rounds to no ReLU (a fraction).
    #[error("budget {budget} must be a count in 0..{total} or a fraction keeping at least one of the network's {total} ReLUs")]
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
        // a count of 0 linearizes every ReLU (the theorem's B = 0 row); a fraction that
        // rounds to no ReLU is refused: it is almost certainly a typo
        let (b, shown, min) = match self {
            Budget::Count(n) => (n, n.to_string(), 0),
            Budget::Fraction(f) if f.is_finite() => (
                (f * total as f64).floor() as i64,
                format!("{f} (fraction)"),
                1,
            ),
            Budget::Fraction(f) => (-1, format!("{f} (fraction)"), 1),
        };
        if b < min || b >= total {
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
    fn budget_rule_raises_lambda_behind_the_path_and_lowers_it_ahead() {
        let close = |a: f64, b: f64| (a - b).abs() <= 1e-9 * b.abs();
        // 2 epochs requested: the path aims at ceil(0.8 · 2) = 2
        let mut s = LambdaSchedule::budget_aware(1e-5, 10_000, 100, 2);
        // the plan: 10000 → 1000 in epoch 0 (two epochs left) → 100 in epoch 1
        assert!(close(s.plan(0), 1000.0));
        // 1414 kept against 1000 planned: ×1.414² = ×2
        assert!(close(
            s.update(0, 1414),
            1e-5 * (1414.0f64 / 1000.0).powi(2)
        ));
        // re-planned from 1414 with one epoch left: 100
        assert!(close(s.plan(1), 100.0));
        let l = s.lambda;
        // 1000 kept against 100: the step is clamped at ×3
        assert!(close(s.update(1, 1000), 3.0 * l));
        // the epochs are spent: the plan is the budget; 70 kept: ×0.7² = ×0.49
        assert!(close(s.plan(5), 100.0));
        assert!(close(s.update(2, 70), 3.0 * 0.49 * l));
        // far below: clamped at ×1/3
        assert!(close(s.update(3, 10), 0.49 * l));
        // below the budget the plan is the budget
        assert!(close(s.plan(3), 100.0));
        // no progress at all: the full step
        let mut s = LambdaSchedule::budget_aware(1e-5, 10_000, 100, 20);
        assert!(close(s.plan(0), 10_000.0 * 0.01f64.powf(1.0 / 16.0)));
        assert!(close(s.update(0, 10_000), 3e-5));
        assert!(close(s.update(1, 10_000), 9e-5));
    }

    #[test]
    fn a_paper_schedule_from_an_old_checkpoint_still_reads() {
        // a λ state without the rule fields is the paper's rule
        let old = r#"{"lambda":1e-5,"factor":1.1,"warmup":5,"best":null}"#;
        let s: LambdaSchedule = serde_json::from_str(old).unwrap();
        assert_eq!(s, LambdaSchedule::new(1e-5));
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
        assert_eq!(Budget::Count(0).resolve(100), Ok(0));
        assert!(Budget::Count(-1).resolve(100).is_err());
        assert!(Budget::Fraction(0.001).resolve(100).is_err());
        assert!(Budget::Count(100).resolve(100).is_err());
        assert!(Budget::Fraction(1.5).resolve(100).is_err());
        assert!(Budget::Fraction(f64::NAN).resolve(100).is_err());
    }
}
