//! `snl-verify theorem` exits non-zero when a cross-check contradicts the ceiling.
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

/// `theorem gap` writes the curve; the old spelling `theorem --gap` gives the same rows with
/// a one-line deprecation notice; bad data sets and classes are one line, exit 2.
#[test]
fn theorem_gap_and_its_deprecated_spelling() {
    use crate::common::{expect_error, run};
    let new = run(&[
        "theorem",
        "gap",
        "--data",
        "moons",
        "--n",
        "6",
        "--max-b",
        "1",
        "--timeout",
        "20",
        "--output-format",
        "json",
    ]);
    let err = String::from_utf8_lossy(&new.stderr);
    assert_eq!(new.status.code(), Some(0), "{err}");
    assert!(!err.contains("deprecated"), "{err}");
    let rows: serde_json::Value = serde_json::from_slice(&new.stdout).unwrap();
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(
        (rows[0]["dataset"].as_str(), rows[1]["b"].as_u64()),
        (Some("moons"), Some(1))
    );
    let old = run(&[
        "theorem",
        "--gap",
        "moons",
        "--gap-n",
        "6",
        "--gap-max-b",
        "1",
        "--timeout",
        "20",
        "--output-format",
        "json",
    ]);
    let old_err = String::from_utf8_lossy(&old.stderr);
    assert_eq!(old.status.code(), Some(0), "{old_err}");
    let notice: Vec<&str> = old_err
        .lines()
        .filter(|l| l.contains("deprecated"))
        .collect();
    assert_eq!(notice.len(), 1, "{old_err}");
    assert!(notice[0].contains("theorem gap"), "{old_err}");
    let old_rows: serde_json::Value = serde_json::from_slice(&old.stdout).unwrap();
    // the same searches (times aside)
    for (a, b) in rows.iter().zip(old_rows.as_array().unwrap()) {
        for key in ["dataset", "n", "b", "best", "found", "status"] {
            assert_eq!(a[key], b[key], "{key}");
        }
    }
    expect_error(
        &["theorem", "gap", "--data", "mnist"],
        "unknown data set 'mnist'",
    );
    expect_error(&["theorem", "gap", "--data", "fmnist"], "needs --inputs");
    expect_error(
        &["theorem", "gap", "--data", "moons", "--classes", "2,2"],
        "two different classes",
    );
    expect_error(
        &["theorem", "gap", "--data", "moons", "--classes", "2"],
        "two classes",
    );
}
