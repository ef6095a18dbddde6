//! `snl-verify bound --timeout S` bounds the wall-clock time of the whole command (bounds
//! and verdict; reading and unrolling the model not counted) on a network whose LP
//! tightening takes minutes, and reports sound bounds with exit 3.
//!
//! Reported: `--method lp --property argmax=9 --timeout 60` on a small Fashion-MNIST CNN
//! was still running after 13 minutes.
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use nalgebra::{DMatrix, DVector};
use snl_theory::rng::SeededRng;
use snl_theory::{Affine, Conv2d, Layer, Network, ReluMask};

/// Uniform in `[-1, 1)`.
fn uniform(rng: &mut SeededRng) -> f64 {
    rng.next_f64() * 2.0 - 1.0
}

/// A 4×4 stride-2 convolution with padding 1 (halves the side), uniform init.
fn conv(seed: &mut SeededRng, cin: usize, cout: usize) -> Layer {
    let a = (3.0 / (cin * 16) as f64).sqrt();
    Layer::Conv2d(Conv2d {
        in_channels: cin,
        out_channels: cout,
        kernel: [4, 4],
        stride: [2, 2],
        padding: [1, 1],
        weight: (0..cout * cin * 16).map(|_| a * uniform(seed)).collect(),
        bias: (0..cout).map(|_| 0.1 * uniform(seed)).collect(),
    })
}

fn dense(seed: &mut SeededRng, cin: usize, cout: usize) -> Layer {
    let a = (3.0 / cin as f64).sqrt();
    Layer::Dense(Affine::new(
        DMatrix::from_fn(cout, cin, |_, _| a * uniform(seed)),
        DVector::from_fn(cout, |_, _| 0.1 * uniform(seed)),
    ))
}

/// A random CNN on 1×16×16: conv 1→16 (16×8×8), ReLU, conv 16→32 (32×4×4), ReLU, dense
/// 512→50, ReLU, dense 50→10 (class 0 favoured), every ReLU kept; and the centre of its
/// input ball. On the
/// ball of radius 0.15 interval propagation leaves 544 + 512 + 50 units straddling 0, so
/// the LP tightening plans 2 × (512 + 50) LPs (the first layer needs none), each 0.06 to
/// 0.6 s here.
fn cnn(dir: &Path) -> (PathBuf, PathBuf) {
    let mut s = SeededRng::new(42);
    let mut net = Network::new(vec![1, 16, 16]);
    net.push(conv(&mut s, 1, 16));
    net.push(Layer::Relu(ReluMask::all_kept(16 * 8 * 8)));
    net.push(conv(&mut s, 16, 32));
    net.push(Layer::Relu(ReluMask::all_kept(32 * 4 * 4)));
    net.push(Layer::Flatten);
    net.push(dense(&mut s, 512, 50));
    net.push(Layer::Relu(ReluMask::all_kept(50)));
    let Layer::Dense(mut last) = dense(&mut s, 50, 10) else {
        unreachable!()
    };
    // class 0 wins everywhere on the ball by a wide margin (outputs vary by about 0.5 on
    // it), so no sample refutes `argmax=0`, but interval bounds are far too loose to prove it
    last.bias[0] += 3.0;
    net.push(Layer::Dense(last));
    let center: Vec<f64> = (0..256).map(|_| 0.5 + 0.5 * uniform(&mut s)).collect();
    let model = dir.join("cnn.safetensors");
    snl_theory::save(&net, &model).unwrap();
    let c = dir.join("center.json");
    std::fs::write(&c, serde_json::to_string(&center).unwrap()).unwrap();
    (model, c)
}

fn run(args: &[&str]) -> (Output, Duration) {
    let start = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_snl-verify"))
        .env_clear()
        .args(args)
        .output()
        .unwrap();
    (out, start.elapsed())
}

/// Well above `--timeout 2` plus reading and unrolling the model (under a second here),
/// far below the minutes the full tightening takes.
const LIMIT: Duration = Duration::from_secs(30);

/// Each call returns in about 2.6 s here. Before the fix the first one took 74 s (the 20
/// final LPs ignored the deadline), and with a property verify then started the tightening
/// again under a fresh deadline (on a 784-input CNN: 7 min 20 s for `--timeout 2`).
/// Without `--timeout` the call takes 480 s here (1124 tightening LPs, then the 20 final
/// ones): `without_a_timeout_it_takes_minutes`.
#[test]
fn lp_timeout_bounds_the_wall_clock_and_exits_3() {
    let dir = tempfile::tempdir().unwrap();
    let (model, center) = cnn(dir.path());
    let base = [
        "bound",
        "--model",
        model.to_str().unwrap(),
        "--center",
        center.to_str().unwrap(),
        "--eps",
        "0.15",
        "--method",
        "lp",
        "--timeout",
        "2",
    ];
    // bounds only: unknown (exit 3), the sound bounds reached, and why
    let (out, took) = run(&[&base[..], &["--output-format", "json"]].concat());
    assert!(took < LIMIT, "took {took:?}");
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let why = v["unknown"].as_str().unwrap();
    assert!(
        why.starts_with("timeout: ") && why.contains("tightening LPs done"),
        "{why}"
    );
    assert_eq!(v["exact"], false);
    let rows = v["bounds"].as_array().unwrap();
    assert_eq!(rows.len(), 10);
    // the bounds contain the output at the centre
    let net = snl_theory::load(&model).unwrap();
    let text = std::fs::read_to_string(&center).unwrap();
    let x: Vec<f64> = serde_json::from_str(&text).unwrap();
    let y = net.forward(&x).unwrap();
    for (i, r) in rows.iter().enumerate() {
        let (lo, hi) = (r["lower"].as_f64().unwrap(), r["upper"].as_f64().unwrap());
        assert!(lo <= y[i] && y[i] <= hi, "output {i}: {y:?} not in {r}");
    }
    // with a property: the same deadline covers the verdict too
    let (out, took) = run(&[&base[..], &["--property", "argmax=0"]].concat());
    assert!(took < LIMIT, "took {took:?}");
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("unknown timeout: "), "{text}");
    assert!(text.contains(": UNKNOWN (timeout: "), "{text}");
    for i in 0..10 {
        assert!(text.contains(&format!("\n{i:>6}  ")), "no row {i}: {text}");
    }
}

/// The claim above, for checking by hand (`cargo test -p snl-verify --test cli timeout_cli --
/// --ignored`): the same call without `--timeout` runs for minutes.
#[test]
#[ignore = "takes minutes by design"]
fn without_a_timeout_it_takes_minutes() {
    let dir = tempfile::tempdir().unwrap();
    let (model, center) = cnn(dir.path());
    let (out, took) = run(&[
        "bound",
        "--model",
        model.to_str().unwrap(),
        "--center",
        center.to_str().unwrap(),
        "--eps",
        "0.15",
        "--method",
        "lp",
    ]);
    eprintln!("{}", String::from_utf8_lossy(&out.stdout));
    eprintln!("took {took:?}");
    assert!(took > Duration::from_secs(60), "took {took:?}");
}

/// A random MLP 4→32→32→3 with 8 kept ReLUs per layer (16 in all, the rest linearized):
/// small enough for `--method smt` (at most 64 kept), slow enough that its bisection does
/// not finish in 2 s: without `--timeout` its SMT bounds were still running after 15 min
/// here (stopped by hand); with `--timeout 2` they return 0.1-0.3 s late.
fn mlp(dir: &Path) -> PathBuf {
    let mut s = SeededRng::new(7);
    let mut net = Network::new(vec![4]);
    let kept = |n: usize| ReluMask::from_bools(&(0..n).map(|i| i % 4 == 0).collect::<Vec<_>>());
    net.push(dense(&mut s, 4, 32));
    net.push(Layer::Relu(kept(32)));
    net.push(dense(&mut s, 32, 32));
    net.push(Layer::Relu(kept(32)));
    net.push(dense(&mut s, 32, 3));
    let model = dir.join("mlp.safetensors");
    snl_theory::save(&net, &model).unwrap();
    model
}

/// z3's own timeout can deadlock (4.8.12), so a watchdog interrupts it: the SMT bounds stop
/// at the deadline too.
#[test]
fn smt_timeout_bounds_the_wall_clock_and_exits_3() {
    let dir = tempfile::tempdir().unwrap();
    let model = mlp(dir.path());
    let (out, took) = run(&[
        "bound",
        "--model",
        model.to_str().unwrap(),
        "--input-box",
        "-1:1",
        "--method",
        "smt",
        "--timeout",
        "2",
        "--output-format",
        "json",
    ]);
    assert!(took < LIMIT, "took {took:?}");
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["exact"], false);
    assert!(v["unknown"].as_str().unwrap().contains("timeout"), "{v}");
}
