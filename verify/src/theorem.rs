//! The no-free-lunch grid of `snl-verify theorem`: for each `n` points and `B` kept ReLUs,
//! the MILP over the CPWL parameterization and z3 over the network, each searching for the
//! largest number of points it proves achievable, next to the ceiling T2 states; the
//! two-layer rows check the depth-profile ceiling (T4); [`contradictions`] lists every way
//! the rows disagree with the ceilings. The command runs the direct (nonlinear) queries in
//! child processes and prints.
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use serde::Serialize;
use snl_theory::nfl::{self, depth, lp, smt, Architecture, Decision};

/// The limits of the grid's queries.
#[derive(Clone, Copy, Debug)]
pub struct GridOptions {
    /// Seconds per solver query (LP: per MILP; SMT: per "≥ K" query).
    pub timeout: f64,
    /// Seconds per direct query; 0 skips them.
    pub direct_timeout: f64,
}

/// How direct queries are answered: `(n, B, architecture, K)` to `sat`, `unsat` or
/// `unknown` (architecture: `linear` or `two_layer:B2`).
pub type Direct<'a> = dyn FnMut(usize, usize, &str, usize) -> anyhow::Result<String> + 'a;

/// One grid instance.
#[derive(Clone, Debug, Serialize)]
pub struct Row {
    /// Number of points.
    pub n: usize,
    /// Kept ReLUs.
    pub b: usize,
    /// Pieces `P = B + 1`.
    pub pieces: usize,
    /// T2's ceiling `min(n, ⌈(n + P)/2⌉)`.
    pub ceiling: usize,
    /// Largest `K` the MILP proved with `K + 1` refuted; `null` when unknown.
    pub lp: Option<usize>,
    /// Largest `K` z3 (linear encoding, `B` kept + 1 linearized) proved with `K + 1` refuted.
    pub smt: Option<usize>,
    /// MILP time.
    pub lp_ms: u128,
    /// z3 time (all queries of the search).
    pub smt_ms: u128,
    /// The ceiling for width `B`, all kept: `min(n, ⌈(n + B)/2⌉)` for `B ≤ 2`, else as `ceiling`.
    pub ceiling_all_kept: usize,
    /// z3's answer for width `B`, all kept.
    pub smt_all_kept: Option<usize>,
    /// Its time.
    pub smt_all_kept_ms: u128,
    /// The direct encoding at `K = ceiling`: `sat`, `unsat`, `unknown` or `skipped`.
    pub direct_at_ceiling: String,
    /// The direct encoding at `K = ceiling + 1` (`n/a` when the ceiling is `n`).
    pub direct_above: String,
    /// Time of both direct queries.
    pub direct_ms: u128,
}

fn decision_word<W>(d: &Decision<W>) -> String {
    match d {
        Decision::Sat(_) => "sat".into(),
        Decision::Unsat => "unsat".into(),
        Decision::Unknown { .. } => "unknown".into(),
    }
}

/// The answer of one direct query `N,B,ARCH,K` (ARCH: `linear`, `all_kept` or
/// `two_layer:B2`), with no time limit of its own: the caller runs it in a process it can
/// kill (z3 4.8.12's nonlinear solver may ignore interrupts).
pub fn answer_direct(spec: &str) -> anyhow::Result<String> {
    let parts: Vec<&str> = spec.split(',').collect();
    let [n, b, arch, k] = parts.as_slice() else {
        bail!("--direct-instance wants N,B,ARCH,K");
    };
    let (n, b, k): (usize, usize, usize) = (n.parse()?, b.parse()?, k.parse()?);
    let long = Duration::from_secs(3600);
    let word = match *arch {
        "linear" => decision_word(&smt::query_direct(
            n,
            b,
            Architecture::KeptPlusLinear,
            k,
            long,
        )),
        "all_kept" => decision_word(&smt::query_direct(n, b, Architecture::AllKept, k, long)),
        other => match other.strip_prefix("two_layer:") {
            Some(b2) => decision_word(&smt::query_direct_two_layer(n, b, b2.parse()?, k, long)),
            None => bail!("unknown architecture {other}"),
        },
    };
    Ok(word)
}

/// One row of the one-layer grid: `n` points, `B` kept ReLUs; `direct` answers the direct
/// (nonlinear) queries as `(n, B, architecture, K) → sat | unsat | unknown`.
pub fn instance(
    opts: &GridOptions,
    n: usize,
    b: usize,
    direct: &mut Direct<'_>,
) -> anyhow::Result<Row> {
    let timeout = Duration::from_secs_f64(opts.timeout);
    let pieces = b + 1;
    let ceiling = nfl::ceiling(n, pieces);
    let start = n.div_ceil(2);
    let lp = lp::max_classified(n, pieces, opts.timeout);
    let s = nfl::search_max(n, start, |k| {
        smt::query_linear(n, b, Architecture::KeptPlusLinear, k, timeout)
    });
    let s_all = nfl::search_max(n, start, |k| {
        smt::query_linear(n, b, Architecture::AllKept, k, timeout)
    });
    let t0 = Instant::now();
    let (direct_at_ceiling, direct_above) = if opts.direct_timeout > 0.0 {
        let at = direct(n, b, "linear", ceiling)?;
        let above = if ceiling < n {
            direct(n, b, "linear", ceiling + 1)?
        } else {
            "n/a".to_string()
        };
        (at, above)
    } else {
        ("skipped".to_string(), "skipped".to_string())
    };
    Ok(Row {
        n,
        b,
        pieces,
        ceiling,
        lp: lp.search.max_classified,
        smt: s.max_classified,
        lp_ms: lp.search.millis,
        smt_ms: s.millis,
        ceiling_all_kept: Architecture::AllKept.ceiling(n, b),
        smt_all_kept: s_all.max_classified,
        smt_all_kept_ms: s_all.millis,
        direct_at_ceiling,
        direct_above,
        direct_ms: t0.elapsed().as_millis(),
    })
}

/// The one-layer rows for `n` in `min_n..=max_n` and `B` in `0..=n − 2` ([`instance`]; `direct`
/// as there), each handed to `each` as soon as it is computed.
pub fn one_layer_rows(
    opts: &GridOptions,
    min_n: usize,
    max_n: usize,
    direct: &mut Direct<'_>,
    mut each: impl FnMut(&Row) -> anyhow::Result<()>,
) -> anyhow::Result<Vec<Row>> {
    let mut rows = Vec::new();
    for n in min_n..=max_n {
        for b in 0..=n - 2 {
            let r = instance(opts, n, b, direct)?;
            each(&r)?;
            rows.push(r);
        }
    }
    Ok(rows)
}

/// One instance of the depth-2 profile result: two hidden layers with `B_1` and `B_2` kept
/// units, each layer also carrying one linearized unit.
#[derive(Clone, Debug, Serialize)]
pub struct TwoLayerRow {
    /// Number of points.
    pub n: usize,
    /// Kept units in the first hidden layer.
    pub b1: usize,
    /// Kept units in the second hidden layer.
    pub b2: usize,
    /// T1's bound on the pieces: `(B_1 + 1)(B_2 + 1)`.
    pub pieces_bound: usize,
    /// The depth-profile ceiling `min(n, ⌈(n + (B_1 + 1)(B_2 + 1))/2⌉)`.
    pub ceiling: usize,
    /// The one-layer ceiling with the same total `B_1 + B_2` of kept units.
    pub one_layer_ceiling: usize,
    /// The MILP's maximum over CPWL functions with `(B_1 + 1)(B_2 + 1)` pieces (an upper
    /// bound for the two-layer nets by T1), searched without the formula.
    pub lp: Option<usize>,
    /// Points the composed-zigzag construction classifies, evaluated exactly.
    pub construction: usize,
    /// The direct encoding at `K = ceiling`.
    pub direct_at_ceiling: String,
    /// The direct encoding at `K = ceiling + 1` (`n/a` when the ceiling is `n`).
    pub direct_above: String,
    /// Time of both direct queries.
    pub direct_ms: u128,
}

/// The depth-2 profiles reported.
pub const TWO_LAYER_PROFILES: [(usize, usize); 4] = [(1, 1), (1, 2), (2, 1), (2, 2)];

/// The two-layer rows for `n` in `max(min_n, 3)..=max_n`, every profile of
/// [`TWO_LAYER_PROFILES`] (`direct` as in [`instance`]).
pub fn two_layer_rows(
    opts: &GridOptions,
    min_n: usize,
    max_n: usize,
    direct: &mut Direct<'_>,
) -> anyhow::Result<Vec<TwoLayerRow>> {
    let mut rows = Vec::new();
    for n in min_n.max(3)..=max_n {
        for (b1, b2) in TWO_LAYER_PROFILES {
            let profile = [b1, b2];
            let pieces_bound = depth::pieces_bound(&profile);
            let ceiling = depth::depth_ceiling(n, &profile);
            let witness = depth::exact_chain(&depth::zigzag_witness(&profile))
                .context("the zigzag witness is a dense chain")?;
            let lp = lp::max_classified(n, pieces_bound, opts.timeout);
            let t0 = Instant::now();
            let (at, above) = if opts.direct_timeout > 0.0 {
                let arch = format!("two_layer:{b2}");
                let at = direct(n, b1, &arch, ceiling)?;
                let above = if ceiling < n {
                    direct(n, b1, &arch, ceiling + 1)?
                } else {
                    "n/a".to_string()
                };
                (at, above)
            } else {
                ("skipped".to_string(), "skipped".to_string())
            };
            rows.push(TwoLayerRow {
                n,
                b1,
                b2,
                pieces_bound,
                ceiling,
                one_layer_ceiling: nfl::ceiling(n, b1 + b2 + 1),
                lp: lp.search.max_classified,
                construction: witness.classified(n).len(),
                direct_at_ceiling: at,
                direct_above: above,
                direct_ms: t0.elapsed().as_millis(),
            });
        }
    }
    Ok(rows)
}

/// Every way the rows contradict the ceiling: a search (LP, SMT, all-kept SMT) that settled
/// on another value, a direct query `unsat` at the ceiling (which the construction achieves)
/// or `sat` above it (every `sat` was re-checked in exact arithmetic, so that would refute
/// T2). Empty when nothing contradicts; unknowns are not contradictions.
pub fn contradictions(rows: &[Row], two: &[TwoLayerRow]) -> Vec<String> {
    let mut found = Vec::new();
    for r in rows {
        let at = format!("n={} B={} ceiling={}", r.n, r.b, r.ceiling);
        for (name, v, want) in [
            ("LP", r.lp, r.ceiling),
            ("SMT", r.smt, r.ceiling),
            ("all-kept SMT", r.smt_all_kept, r.ceiling_all_kept),
        ] {
            if let Some(k) = v.filter(|&k| k != want) {
                found.push(format!("{at}: {name} settled on {k}, expected {want}"));
            }
        }
        if r.direct_at_ceiling == "unsat" {
            found.push(format!("{at}: direct encoding unsat at the ceiling"));
        }
        if r.direct_above == "sat" {
            found.push(format!(
                "{at}: direct encoding sat (re-checked) above the ceiling"
            ));
        }
    }
    for r in two {
        let at = format!(
            "two layers n={} B1={} B2={} ceiling={}",
            r.n, r.b1, r.b2, r.ceiling
        );
        if let Some(k) = r.lp.filter(|&k| k != r.ceiling) {
            found.push(format!("{at}: MILP settled on {k}"));
        }
        if r.construction != r.ceiling {
            found.push(format!(
                "{at}: the construction classifies {}",
                r.construction
            ));
        }
        if r.direct_at_ceiling == "unsat" {
            found.push(format!("{at}: direct encoding unsat at the ceiling"));
        }
        if r.direct_above == "sat" {
            found.push(format!(
                "{at}: direct encoding sat (re-checked) above the ceiling"
            ));
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    // the unit-test binary cannot serve as the direct-encoding child: direct queries off
    const OPTS: GridOptions = GridOptions {
        timeout: 30.0,
        direct_timeout: 0.0,
    };

    fn skipped() -> impl FnMut(usize, usize, &str, usize) -> anyhow::Result<String> {
        |_, _, _, _| unreachable!("direct queries are skipped")
    }

    #[test]
    fn an_instance_row_has_the_documented_fields_and_agrees() {
        let r = instance(&OPTS, 5, 1, &mut skipped()).unwrap();
        // 5 points, 1 kept + 1 linearized: 2 pieces, ceiling ⌈7/2⌉ = 4
        assert_eq!((r.pieces, r.ceiling), (2, 4));
        assert_eq!(r.lp, Some(4));
        assert_eq!(r.smt, Some(4));
        // width 1, all kept: monotone, ⌈6/2⌉ = 3
        assert_eq!((r.ceiling_all_kept, r.smt_all_kept), (3, Some(3)));
        assert_eq!(r.direct_at_ceiling, "skipped");
        let v = serde_json::to_value(&r).unwrap();
        for key in [
            "n", "b", "pieces", "ceiling", "lp", "smt", "lp_ms", "smt_ms",
        ] {
            assert!(v.get(key).is_some(), "missing {key}");
        }
    }

    #[test]
    fn contradictions_are_found_and_agreement_is_clean() {
        let r = instance(&OPTS, 5, 1, &mut skipped()).unwrap();
        assert!(contradictions(std::slice::from_ref(&r), &[]).is_empty());
        let mut above = r.clone();
        above.direct_above = "sat".into();
        let mut at = r.clone();
        at.direct_at_ceiling = "unsat".into();
        let mut lp = r.clone();
        lp.lp = Some(5);
        for bad in [above, at, lp] {
            assert_eq!(contradictions(&[bad], &[]).len(), 1);
        }
        let two = two_layer_rows(&OPTS, 6, 6, &mut skipped()).unwrap();
        assert_eq!(two.len(), 4);
        // (1, 1) at n = 6: 4 pieces, ceiling 5; MILP and construction agree
        assert_eq!(
            (two[0].ceiling, two[0].lp, two[0].construction),
            (5, Some(5), 5)
        );
        assert!(contradictions(&[], &two).is_empty());
        let mut bad = two[0].clone();
        bad.direct_above = "sat".into();
        bad.construction = 4;
        assert_eq!(contradictions(&[], &[bad]).len(), 2);
    }
}
