//! The certified best-accuracy curve (`snl-verify theorem gap`): for small 2-D data sets and
//! each number of kept ReLUs `B` of one hidden layer, the best accuracy any such network
//! reaches, by one MILP per point with every solver network re-checked in exact arithmetic
//! (`snl_theory::nfl::dim`). This module builds the data sets and runs the searches; the
//! command parses and prints.
use std::path::Path;

use anyhow::{bail, Context};
use serde::Serialize;
use snl_theory::nfl::dim;

/// The data sets `theorem gap` knows.
pub const DATA_SETS: &str = "checkerboard, moons, rings, fmnist";

/// The generators' seed for the synthetic data sets.
pub const SEED: u64 = 1;

/// Which data: the synthetic sets take `n` points; `fmnist` takes the test-set examples of
/// two classes (`classes[0]` labelled +1, `classes[1]` −1) projected on their first two
/// principal components.
pub struct Source<'a> {
    /// Points per synthetic data set.
    pub n: usize,
    /// The test set for `fmnist`.
    pub inputs: Option<&'a Path>,
    /// The two classes of `fmnist`.
    pub classes: [usize; 2],
}

/// The points of data set `name`.
pub fn points(name: &str, src: &Source<'_>) -> anyhow::Result<dim::Points> {
    Ok(match name {
        "checkerboard" => dim::checkerboard(src.n, SEED),
        "moons" => dim::moons(src.n, SEED),
        "rings" => dim::rings(src.n, SEED),
        "fmnist" => {
            let path = src
                .inputs
                .context("the data set fmnist needs --inputs FILE (a test set)")?;
            let s = snl_theory::io::samples::Samples::load(path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            let [plus, minus] = src.classes;
            let mut xs = Vec::new();
            let mut ys = Vec::new();
            for i in 0..s.len() {
                let l = s.labels[i];
                if l == plus || l == minus {
                    xs.push(s.input(i).to_vec());
                    ys.push(if l == plus { 1 } else { -1 });
                }
            }
            if xs.len() < 3 {
                bail!(
                    "{}: fewer than 3 examples of classes {plus} and {minus}",
                    path.display()
                );
            }
            dim::pca2(&xs, ys)
        }
        other => bail!("unknown data set '{other}' ({DATA_SETS})"),
    })
}

/// One point of the curve: a data set, `B`, and the search's result.
#[derive(Serialize)]
pub struct GapRow {
    /// The data set.
    pub dataset: String,
    /// The search (`n`, `b`, `best`, `found`, `status`, `millis`).
    #[serde(flatten)]
    pub result: dim::DimResult,
}

/// The curve of each data set for `B = 0..=max_b`, one MILP per point with `timeout`
/// seconds; `progress` is told of each row as it is done.
pub fn curve(
    sets: &[(String, dim::Points)],
    max_b: usize,
    timeout: f64,
    mut progress: impl FnMut(&GapRow),
) -> Vec<GapRow> {
    let mut rows = Vec::new();
    for (name, p) in sets {
        for b in 0..=max_b {
            let row = GapRow {
                dataset: name.clone(),
                result: dim::max_classified(p, b, timeout),
            };
            progress(&row);
            rows.push(row);
        }
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_sets_are_built_and_unknown_ones_refused() {
        let src = Source {
            n: 8,
            inputs: None,
            classes: [2, 4],
        };
        for name in ["checkerboard", "moons", "rings"] {
            assert_eq!(points(name, &src).unwrap().x.len(), 8, "{name}");
        }
        let e = points("fmnist", &src).unwrap_err().to_string();
        assert!(e.contains("needs --inputs"), "{e}");
        let e = points("mnist", &src).unwrap_err().to_string();
        assert!(e.contains("unknown data set 'mnist'"), "{e}");
    }

    #[test]
    fn the_curve_has_one_row_per_set_and_budget() {
        let src = Source {
            n: 6,
            inputs: None,
            classes: [2, 4],
        };
        let sets = vec![("moons".to_string(), points("moons", &src).unwrap())];
        let mut seen = 0;
        let rows = curve(&sets, 1, 10.0, |_| seen += 1);
        assert_eq!((rows.len(), seen), (2, 2));
        assert_eq!((rows[0].result.b, rows[1].result.b), (0, 1));
        // one more kept ReLU never lowers the best accuracy
        assert!(rows[1].result.best >= rows[0].result.best);
    }
}
