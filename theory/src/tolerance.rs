//! The one table of numeric tolerances used across snl's checks.
//!
//! | name          | atol  | rtol  | for                                                     |
//! |---------------|-------|-------|---------------------------------------------------------|
//! | `Exact`       | 0     | 0     | integer-valued or bit-exact results                      |
//! | `Close`       | 1e-9  | 1e-9  | two f64 computations of the same function (re-ordering)  |
//! | `Approximate` | 1e-5  | 1e-4  | f32 (libtorch) against the f64 reference                 |
//! | `Sound`       | 1e-6  | 0     | one-sided slack of a bound against a sampled value       |
//! | `Interior`    | 1e-9  | 0     | an LP's interior slack (or interval length) at or below atol: the cell is lower-dimensional |
//! | `Solver`      | 1e-5  | 1e-6  | an LP/MILP/SMT optimum against its re-evaluated witness  |
//!
//! `a` and `b` are close under `(atol, rtol)` when `|a − b| <= atol + rtol · |b|`.

/// A named tolerance.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tolerance {
    /// No slack.
    Exact,
    /// Two f64 computations of the same function.
    Close,
    /// f32 against f64.
    Approximate,
    /// One-sided slack of a sound bound.
    Sound,
    /// Interior slack below which a region-enumeration cell counts as lower-dimensional.
    Interior,
    /// A floating-point solver's optimum (feasibility and integrality tolerances around
    /// 1e-7 times big-M coefficients) against the f64 forward pass at its witness.
    Solver,
}

impl Tolerance {
    /// `(atol, rtol)`.
    pub const fn atol_rtol(self) -> (f64, f64) {
        match self {
            Tolerance::Exact => (0.0, 0.0),
            Tolerance::Close => (1e-9, 1e-9),
            Tolerance::Approximate => (1e-5, 1e-4),
            Tolerance::Sound => (1e-6, 0.0),
            Tolerance::Interior => (1e-9, 0.0),
            Tolerance::Solver => (1e-5, 1e-6),
        }
    }

    /// Whether `a` is within the tolerance of the reference `b`.
    pub fn close(self, a: f64, b: f64) -> bool {
        let (atol, rtol) = self.atol_rtol();
        a == b || (a - b).abs() <= atol + rtol * b.abs()
    }

    /// Whether `lower <= value` up to the one-sided slack.
    pub fn below(self, lower: f64, value: f64) -> bool {
        let (atol, rtol) = self.atol_rtol();
        lower <= value + atol + rtol * value.abs()
    }
}

/// How far outward an LP/MILP optimum from a floating-point solver (CBC) is moved before it
/// is reported as a bound: [`Tolerance::Solver`]'s `atol + rtol·|v|` (CBC's feasibility and
/// integrality tolerances, measured against re-evaluated witnesses). Without it a MILP
/// minimum came out 9e-6 above a value the network attains.
pub fn solver_pad(v: f64) -> f64 {
    let (atol, rtol) = Tolerance::Solver.atol_rtol();
    atol + rtol * v.abs()
}

/// How `got` differs from `want`: the first outlier, the outlier count and the largest
/// difference; `None` when every entry is within `tol` (lengths must match).
pub fn compare(got: &[f64], want: &[f64], tol: Tolerance) -> Option<String> {
    if got.len() != want.len() {
        return Some(format!("length {} != {}", got.len(), want.len()));
    }
    let outliers: Vec<usize> = (0..got.len())
        .filter(|&i| !tol.close(got[i], want[i]))
        .collect();
    let first = *outliers.first()?;
    let max = got
        .iter()
        .zip(want)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f64::max);
    Some(format!(
        "{} of {} entries differ beyond {tol:?}; first at {first}: {} vs {}; max diff {max:.3e}",
        outliers.len(),
        got.len(),
        got[first],
        want[first]
    ))
}

/// Panics with [`compare`]'s report when `got` is not within `tol` of `want`.
#[track_caller]
pub fn assert_close(got: &[f64], want: &[f64], tol: Tolerance, label: &str) {
    if let Some(report) = compare(got, want, tol) {
        panic!("{label}: {report}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_first_outlier_and_count() {
        let r = compare(
            &[1.0, 2.5, 3.0, 9.0],
            &[1.0, 2.0, 3.0, 4.0],
            Tolerance::Close,
        )
        .unwrap();
        assert!(r.starts_with("2 of 4 entries"), "{r}");
        assert!(r.contains("first at 1"), "{r}");
        assert!(r.contains("max diff 5.000e0"), "{r}");
        assert_eq!(compare(&[1.0], &[1.0 + 1e-12], Tolerance::Close), None);
        assert!(compare(&[1.0], &[1.0 + 1e-12], Tolerance::Exact).is_some());
    }

    #[test]
    fn sound_slack_is_one_sided() {
        assert!(Tolerance::Sound.below(1.0, 1.0 - 1e-7));
        assert!(!Tolerance::Sound.below(1.0, 1.0 - 1e-3));
        assert!(Tolerance::Sound.below(-5.0, 1.0));
    }
}
