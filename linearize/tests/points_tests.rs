//! `snl --data points` end to end: the points of `snl-verify theorem gap` (the SNL
//! half of papers/theorem-gap) trained, linearized to a budget and
//! fine-tuned through the CLI.
use crate::common::snl;

use std::path::Path;

use snl_theory::nfl::dim;

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Moons with n = 16 (seed 1, as `theorem gap`) are linearly separable (the MILP proves
/// 16/16 at B = 0): a 16-unit MLP linearized by SNL to one kept ReLU keeps exactly one and
/// fits all 16 points; another file's points are refused in one line.
#[test]
fn snl_fits_the_moons_points_with_exactly_one_kept_relu() {
    let tmp = tempfile::tempdir().unwrap();
    let moons = tmp.path().join("moons.safetensors");
    dim::moons(16, 1).to_samples("moons").save(&moons).unwrap();
    let pre = tmp.path().join("pre");
    let pts = ["--data", "points", "--data-dir", s(&moons)];
    let (code, out, err) = snl(&[
        &["train"][..],
        &pts,
        &[
            "--arch",
            "mlp",
            "--hidden",
            "16",
            "--epochs",
            "200",
            "--batch",
            "16",
            "--lr",
            "0.1",
            "--weight-decay",
            "0",
            "--cosine",
            "--out",
            s(&pre),
            "--output-format",
            "json",
        ],
    ]
    .concat());
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("train 16, val 16, test 16"), "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["data"], "points:moons");
    let model = pre.join("model.safetensors");
    let lin = tmp.path().join("b1");
    let (code, out, err) = snl(&[
        &["linearize", "--model", s(&model)][..],
        &pts,
        &[
            "--budget",
            "1",
            "--lambda-schedule",
            "budget",
            "--target-epochs",
            "200",
            "--lr",
            "0.01",
            "--batch",
            "4",
            "--max-epochs",
            "3000",
            "--finetune-epochs",
            "100",
            "--finetune-lr",
            "0.01",
            "--finetune-batch",
            "16",
            "--out",
            s(&lin),
            "--output-format",
            "json",
        ],
    ]
    .concat());
    assert_eq!(code, 0, "{err}");
    let o = &serde_json::from_str::<serde_json::Value>(&out).unwrap()["outcome"];
    assert_eq!(o["budget_reached"], true);
    assert_eq!(
        (o["kept"].as_i64(), o["total"].as_i64()),
        (Some(1), Some(16))
    );
    // train = validation = test = the 16 points
    assert_eq!(o["final_test"].as_f64(), Some(1.0), "{o}");
    assert_eq!(o["best_val"].as_f64(), Some(1.0), "{o}");

    let rings = tmp.path().join("rings.safetensors");
    dim::rings(16, 1).to_samples("rings").save(&rings).unwrap();
    let (code, _, err) = snl(&[
        "eval",
        "--model",
        s(&lin.join("model.safetensors")),
        "--data",
        "points",
        "--data-dir",
        s(&rings),
        "--split",
        "val",
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("data points:moons vs points:rings"), "{err}");
    let (code, _, err) = snl(&[
        &["train"][..],
        &pts,
        &["--limit-train", "8", "--out", s(&pre)],
    ]
    .concat());
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("limit_train = 8"), "{err}");
}
