//! The no-free-lunch theorem through the public API: T1 from a model file, and the
//! two T2 encodings agreeing with each other and with the ceiling on a small grid.
use snl_theory::expressiveness::t1_bound_of_file;
use snl_theory::nfl::{self, lp, smt, Architecture, Decision};
use snl_theory::regions::{pieces_1d, zigzag_with_linearized_unit};
use std::time::Duration;

#[test]
fn t1_bound_of_a_saved_model_matches_its_exact_piece_count() {
    // 3 layers of (2 kept + 1 linearized): T1 (d = 1) is 3^3 = 27, reached on [0, 1]
    let net = zigzag_with_linearized_unit(3);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("zigzag.safetensors");
    snl_theory::save(&net, &path).unwrap();
    let bound = t1_bound_of_file(&path).unwrap();
    assert_eq!(bound.kept_per_layer, vec![2, 2, 2]);
    assert_eq!(bound.layered.exact, Some(27));
    assert_eq!(bound.patterns.exact, Some(64));
    let p = pieces_1d(&snl_theory::load(&path).unwrap(), 0.0, 1.0).unwrap();
    assert_eq!(p.pieces, 27);
}

#[test]
fn lp_and_smt_agree_with_each_other_and_the_ceiling_for_n_up_to_5() {
    let t = Duration::from_secs(30);
    for n in 2..=5 {
        for b in 0..=n - 2 {
            let lp = lp::max_classified(n, b + 1, 30.0).search.max_classified;
            let smt = nfl::search_max(n, n.div_ceil(2), |k| {
                smt::query_linear(n, b, Architecture::KeptPlusLinear, k, t)
            })
            .max_classified;
            assert_eq!(lp, smt, "n = {n}, B = {b}");
            assert_eq!(lp, Some(nfl::ceiling(n, b + 1)), "n = {n}, B = {b}");
        }
    }
    // and the refutation above the ceiling is a solver answer, not a formula
    assert_eq!(
        smt::query_linear(5, 1, Architecture::KeptPlusLinear, 5, t),
        Decision::Unsat
    );
    assert_eq!(lp::query(5, 2, 5, 30.0), Decision::Unsat);
}
