//! `snl-verify theorem` exits non-zero when a cross-check contradicts the ceiling.
//! See: issue 11, item 5 ("checks that can fail").
use std::process::Command;

fn theorem(stub: &str) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_snl-verify"))
        .env_clear()
        .args([
            "theorem",
            "--min-n",
            "3",
            "--max-n",
            "3",
            "--no-plot",
            "--output-format",
            "json",
            "--direct-stub",
            stub,
        ])
        .output()
        .unwrap()
}

#[test]
fn a_sat_above_the_ceiling_is_a_contradiction() {
    // n = 3, B = 0: ceiling 2 < 3, so "sat" at ceiling + 1 contradicts T2
    let out = theorem("sat");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("contradiction: n=3 B=0 ceiling=2: direct encoding sat"),
        "{err}"
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["one_layer"][0]["direct_above"], "sat");
}

#[test]
fn an_unsat_at_the_ceiling_is_a_contradiction() {
    let out = theorem("unsat");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("direct encoding unsat at the ceiling"),
        "{err}"
    );
}

#[test]
fn unknown_cross_checks_are_not_contradictions() {
    let out = theorem("unknown");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(!err.contains("contradiction"), "{err}");
    let out = theorem("maybe");
    assert_eq!(out.status.code(), Some(2));
}
