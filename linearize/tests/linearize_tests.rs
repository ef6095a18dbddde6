//! End-to-end properties of the linearizer against the IR's f64 reference.
use crate::common::snl;

use proptest::prelude::*;
use snl_linearize::arch::{Arch, ArchConfig, ReluConvention};
use snl_linearize::data::{self, DataSpec, Source, SyntheticConfig};
use snl_linearize::masked::MaskGranularity;
use snl_linearize::train::{self, LinearizeConfig, RunDir, SgdConfig};
use snl_theory::tolerance::{compare, Tolerance};
use tch::{Device, Kind, Tensor};

fn arch(a: Arch, shape: [i64; 3], width: f64) -> ArchConfig {
    ArchConfig {
        arch: a,
        input_shape: shape.to_vec(),
        classes: 3,
        hidden: vec![7, 5],
        granularity: MaskGranularity::Pixel,
        relus: ReluConvention::All,
        mean: vec![0.4; shape[0] as usize],
        std: vec![0.3; shape[0] as usize],
        width,
    }
}

fn set_masks(net: &mut snl_linearize::graph::SnlNet, value: f64) {
    for m in net.relus_mut() {
        tch::no_grad(|| {
            let _ = m.c.fill_(value);
        });
    }
}

/// The libtorch output (f32) and the IR output (f64) on the same inputs.
fn outputs(
    net: &snl_linearize::graph::SnlNet,
    ir: &snl_theory::Network,
    x: &Tensor,
) -> (Vec<f64>, Vec<f64>) {
    let y = tch::no_grad(|| net.forward_t(x, false)).to_kind(Kind::Double);
    let torch: Vec<f64> = Vec::try_from(&y.flatten(0, -1)).unwrap();
    let mut reference = Vec::new();
    for i in 0..x.size()[0] {
        let xi: Vec<f64> = Vec::try_from(&x.get(i).to_kind(Kind::Double).flatten(0, -1)).unwrap();
        reference.extend(ir.forward(&xi).unwrap());
    }
    (torch, reference)
}

fn arb_arch() -> impl Strategy<Value = ArchConfig> {
    prop_oneof![
        Just(arch(Arch::Mlp, [1, 4, 4], 1.0)),
        Just(arch(Arch::Cnn, [1, 8, 8], 0.25)),
        Just(arch(Arch::Resnet18, [3, 8, 8], 0.0625)),
        Just(arch(Arch::Wrn22x8, [3, 8, 8], 0.03125)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(12))]

    /// c ≡ 1: the exported IR (every ReLU kept) equals the libtorch net, which then is the
    /// plain ReLU network; c ≡ 0: the libtorch net equals the IR's collapsed affine map.
    #[test]
    fn c_one_is_the_relu_net_and_c_zero_is_the_collapsed_affine_map(
        cfg in arb_arch(),
        seed in 0i64..1000,
    ) {
        tch::set_num_threads(1);
        tch::manual_seed(seed);
        let mut net = cfg.build(Device::Cpu);
        // a few train-mode passes give the batch norms non-trivial running statistics
        for _ in 0..3 {
            let _ = tch::no_grad(|| net.forward_t(&Tensor::rand([8, cfg.input_shape[0], cfg.input_shape[1], cfg.input_shape[2]], (Kind::Float, Device::Cpu)), true));
        }
        let x = Tensor::rand([4, cfg.input_shape[0], cfg.input_shape[1], cfg.input_shape[2]], (Kind::Float, Device::Cpu));

        set_masks(&mut net, 1.0);
        let ir = net.to_ir(1e-2);
        let counts = ir.relu_counts().unwrap();
        prop_assert_eq!(counts.kept, counts.total);
        let (t, r) = outputs(&net, &ir, &x);
        let diff = compare(&t, &r, Tolerance::Approximate);
        prop_assert!(diff.is_none(), "c = 1: {}", diff.unwrap());

        set_masks(&mut net, 0.0);
        let ir = net.to_ir(1e-2);
        prop_assert_eq!(ir.relu_counts().unwrap().kept, 0);
        let collapsed = ir.collapse().unwrap();
        // flatten + one dense
        prop_assert!(collapsed.nodes.len() <= 2, "{:?}", collapsed.nodes.iter().map(|n| n.layer.kind()).collect::<Vec<_>>());
        let (t, r) = outputs(&net, &collapsed, &x);
        let diff = compare(&t, &r, Tolerance::Approximate);
        prop_assert!(diff.is_none(), "c = 0: {}", diff.unwrap());
    }
}

#[test]
fn model_file_round_trip_through_libtorch() {
    tch::set_num_threads(1);
    tch::manual_seed(3);
    let cfg = arch(Arch::Cnn, [1, 8, 8], 0.25);
    let mut net = cfg.build(Device::Cpu);
    // a mixed mask
    for (i, m) in net.relus_mut().enumerate() {
        let n = m.c.numel();
        let v: Vec<f32> = (0..n).map(|j| ((i + j) % 3 == 0) as u8 as f32).collect();
        tch::no_grad(|| {
            m.c.copy_(&Tensor::from_slice(&v).view(m.c.size().as_slice()))
        });
    }
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("m.safetensors");
    train::save_model(&net, &cfg, 0.5, &[], &p).unwrap();
    let (back, cfg_back, _) = train::load_model(&p, Device::Cpu).unwrap();
    assert_eq!(cfg_back, cfg);
    assert_eq!(back.kept_relus(0.5), net.kept_relus(0.5));
    let x = Tensor::rand([3, 1, 8, 8], (Kind::Float, Device::Cpu));
    let a = tch::no_grad(|| net.forward_t(&x, false));
    let b = tch::no_grad(|| back.forward_t(&x, false));
    assert_eq!(f64::try_from((a - b).abs().max()).unwrap(), 0.0);
}

fn tiny_splits() -> data::Splits {
    data::load(&DataSpec {
        source: Source::Synthetic,
        val_fraction: 0.2,
        synthetic: SyntheticConfig {
            channels: 1,
            height: 8,
            width: 8,
            train: 160,
            test: 40,
            classes: 3,
            ..Default::default()
        },
        ..Default::default()
    })
    .unwrap()
}

/// The small MLP the run tests train, normalized like `splits`.
fn tiny_mlp(splits: &data::Splits) -> ArchConfig {
    let mut cfg = arch(Arch::Mlp, [1, 8, 8], 1.0);
    cfg.mean = splits.mean.clone();
    cfg.std = splits.std.clone();
    cfg
}

fn checkpoint_tensors(run: &RunDir) -> Vec<(String, Vec<f64>)> {
    let (_, named) = train::read_checkpoint(&run.checkpoint()).unwrap();
    let mut v: Vec<(String, Vec<f64>)> = named
        .into_iter()
        .filter(|(k, _)| k != "state")
        .map(|(k, t)| {
            (
                k,
                Vec::<f64>::try_from(&t.to_kind(Kind::Double).flatten(0, -1)).unwrap(),
            )
        })
        .collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

/// A run stopped after epoch k and resumed ends bit-identical to an uninterrupted run
/// (weights, masks, optimizer state), through pretraining, linearization and fine-tuning.
#[test]
fn resume_after_any_epoch_is_exact() {
    tch::set_num_threads(1);
    let splits = tiny_splits();
    let cfg = tiny_mlp(&splits);
    let sgd = |epochs| SgdConfig {
        epochs,
        lr: 0.05,
        momentum: 0.9,
        weight_decay: 5e-4,
        batch: 32,
        milestones: vec![],
        cosine: true,
    };
    let dir = tempfile::tempdir().unwrap();
    let full = RunDir::create(&dir.path().join("full")).unwrap();
    train::pretrain(&full, &cfg, &sgd(3), &splits, 7, Device::Cpu, false).unwrap();
    // "killed" after 1 epoch: a 1-epoch run leaves the checkpoint a killed 3-epoch run would
    let part = RunDir::create(&dir.path().join("part")).unwrap();
    let short = sgd(1);
    train::pretrain(&part, &cfg, &short, &splits, 7, Device::Cpu, false).unwrap();
    // rewrite its state to say "3 epochs planned", as the killed run's would
    let (mut state, _) = train::read_checkpoint(&part.checkpoint()).unwrap();
    state.pretrain = Some(sgd(3));
    rewrite_state(&part, &state);
    train::pretrain(&part, &cfg, &sgd(3), &splits, 7, Device::Cpu, true).unwrap();
    assert_eq!(checkpoint_tensors(&full), checkpoint_tensors(&part));

    // linearize + fine-tune, resumed in the fine-tune phase
    let lin = LinearizeConfig {
        budget: 6,
        lambda0: 5e-2,
        eps: 1e-2,
        lr: 1e-2,
        batch: 32,
        max_epochs: 30,
        temperature: 4.0,
        finetune: sgd(2),
        ..Default::default()
    };
    let a = RunDir::create(&dir.path().join("lin-a")).unwrap();
    let oa = linearize(&a, &full.model(), &lin, &splits, 1, false).unwrap();
    assert!(oa.budget_reached, "{oa:?}");
    assert!(oa.kept <= 6);
    let b = RunDir::create(&dir.path().join("lin-b")).unwrap();
    let mut lin1 = lin.clone();
    lin1.finetune = sgd(1);
    linearize(&b, &full.model(), &lin1, &splits, 1, false).unwrap();
    let (mut state, _) = train::read_checkpoint(&b.checkpoint()).unwrap();
    state.linearize = Some(lin.clone());
    rewrite_state(&b, &state);
    let ob = linearize(&b, &full.model(), &lin, &splits, 1, true).unwrap();
    assert_eq!(checkpoint_tensors(&a), checkpoint_tensors(&b));
    assert_eq!(oa.final_test, ob.final_test);
}

/// [`train::linearize`] on the CPU from the model file `model`, checked against `splits`.
fn linearize(
    run: &RunDir,
    model: &std::path::Path,
    cfg: &LinearizeConfig,
    splits: &data::Splits,
    seed: u64,
    resume: bool,
) -> train::Result<train::LinearizeOutcome> {
    let file = train::ModelFile::read(model)?;
    let pretrained = train::Pretrained::check(&file, splits)?;
    train::linearize(run, &pretrained, cfg, seed, Device::Cpu, resume)
}

fn rewrite_state(run: &RunDir, state: &train::RunState) {
    let (_, named) = train::read_checkpoint(&run.checkpoint()).unwrap();
    let mut v: Vec<(String, Tensor)> = named.into_iter().filter(|(k, _)| k != "state").collect();
    v.push((
        "state".into(),
        Tensor::from_slice(&serde_json::to_vec(state).unwrap()),
    ));
    Tensor::write_safetensors(&v, run.checkpoint()).unwrap();
}

#[test]
fn budget_not_reached_keeps_the_state_and_says_so() {
    tch::set_num_threads(1);
    let splits = tiny_splits();
    let cfg = tiny_mlp(&splits);
    let dir = tempfile::tempdir().unwrap();
    let pre = RunDir::create(&dir.path().join("pre")).unwrap();
    let sgd = SgdConfig {
        epochs: 1,
        lr: 0.05,
        momentum: 0.9,
        weight_decay: 0.0,
        batch: 32,
        milestones: vec![],
        cosine: false,
    };
    train::pretrain(&pre, &cfg, &sgd, &splits, 0, Device::Cpu, false).unwrap();
    let lin = LinearizeConfig {
        budget: 1,
        lambda0: 1e-9,
        eps: 1e-2,
        lr: 1e-4,
        batch: 32,
        max_epochs: 2,
        temperature: 4.0,
        finetune: sgd,
        ..Default::default()
    };
    let run = RunDir::create(&dir.path().join("lin")).unwrap();
    let o = linearize(&run, &pre.model(), &lin, &splits, 0, false).unwrap();
    assert!(!o.budget_reached);
    assert_eq!(o.linearize_epochs, 2);
    assert!(run.model().exists());
    let lines = std::fs::read_to_string(run.log()).unwrap().lines().count();
    assert_eq!(lines, 2);
}

#[test]
fn divergence_stops_with_a_typed_error_and_keeps_the_last_good_checkpoint() {
    tch::set_num_threads(1);
    let splits = tiny_splits();
    let cfg = tiny_mlp(&splits);
    let dir = tempfile::tempdir().unwrap();
    let run = RunDir::create(&dir.path().join("pre")).unwrap();
    // an absurd learning rate overflows within an epoch or two
    let sgd = SgdConfig {
        epochs: 5,
        lr: 1e30,
        momentum: 0.9,
        weight_decay: 0.0,
        batch: 32,
        milestones: vec![],
        cosine: false,
    };
    let err = train::pretrain(&run, &cfg, &sgd, &splits, 0, Device::Cpu, false).unwrap_err();
    assert!(matches!(err, train::TrainError::Diverged { .. }), "{err}");
    assert!(!run.model().exists());
    if run.checkpoint().exists() {
        // whatever was checkpointed holds finite numbers
        for (_, v) in checkpoint_tensors(&run) {
            assert!(v.iter().all(|x| x.is_finite()));
        }
    }
}

#[test]
fn export_data_writes_a_test_set_the_verifier_reads_as_the_loader_normalizes_it() {
    tch::set_num_threads(1);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("syn.safetensors");
    let f = file.to_str().unwrap();
    let (code, stdout, stderr) = snl(&[
        "export-data",
        "--data",
        "synthetic",
        "--split",
        "test",
        "--first",
        "5",
        "--count",
        "7",
        "--with-normalization",
        "--out",
        f,
    ]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.starts_with(&format!("wrote {f} (7 examples")),
        "{stdout}"
    );
    let s = snl_theory::io::samples::Samples::load(&file).unwrap();
    // the same split as `eval` with the default seed and validation fraction
    let splits = data::load(&DataSpec {
        source: Source::Synthetic,
        ..Default::default()
    })
    .unwrap();
    assert_eq!((s.len(), s.shape.clone()), (7, vec![3, 32, 32]));
    assert_eq!(s.pixel_range, Some((0.0, 1.0)));
    assert_eq!(s.info["split"], "test");
    let images = splits.test.images.narrow(0, 5, 7);
    let normalized = splits.normalize(&images);
    let labels: Vec<i64> = Vec::try_from(&splits.test.labels.narrow(0, 5, 7)).unwrap();
    s.check_model(&[3, 32, 32], splits.num_classes()).unwrap();
    for (i, &label) in labels.iter().enumerate() {
        assert_eq!(s.labels[i] as i64, label);
        let raw: Vec<f32> = Vec::try_from(&images.get(i as i64).flatten(0, -1)).unwrap();
        let raw: Vec<f64> = raw.into_iter().map(f64::from).collect();
        assert_eq!(
            s.input(i),
            &raw[..],
            "raw pixels of example {i} are kept exactly"
        );
        let want: Vec<f32> = Vec::try_from(&normalized.get(i as i64).flatten(0, -1)).unwrap();
        let want: Vec<f64> = want.into_iter().map(f64::from).collect();
        if let Some(d) = compare(&s.normalized(i), &want, Tolerance::Approximate) {
            panic!("example {i}: f64 normalization vs libtorch's: {d}");
        }
    }

    // by default no mean/std: snl's model files normalize in node 0 and read raw pixels
    let (code, _, stderr) = snl(&[
        "export-data",
        "--data",
        "synthetic",
        "--count",
        "2",
        "--out",
        f,
    ]);
    assert_eq!(code, 0, "{stderr}");
    let s = snl_theory::io::samples::Samples::load(&file).unwrap();
    assert_eq!((s.mean.clone(), s.std.clone()), (None, None));
    assert_eq!(s.normalized(1), s.input(1));
    assert!(s.info.contains_key("data_mean"));

    // user mistakes: one line on stderr, exit 2, no file written
    let none = dir.path().join("none.safetensors");
    let n = none.to_str().unwrap();
    for args in [
        &[
            "export-data",
            "--data",
            "synthetic",
            "--count",
            "0",
            "--out",
            n,
        ][..],
        &[
            "export-data",
            "--data",
            "synthetic",
            "--first",
            "512",
            "--out",
            n,
        ],
        &[
            "export-data",
            "--data",
            "synthetic",
            "--first",
            "510",
            "--count",
            "3",
            "--out",
            n,
        ],
        &[
            "export-data",
            "--data",
            "fashion-mnist",
            "--data-dir",
            "/nonexistent",
            "--out",
            n,
        ],
        &[
            "export-data",
            "--data",
            "synthetic",
            "--out",
            "/nonexistent/x.safetensors",
        ],
    ] {
        let (code, _, stderr) = snl(args);
        assert_eq!(code, 2, "{args:?}: {stderr}");
        let errors: Vec<&str> = stderr
            .lines()
            .filter(|l| l.starts_with("snl: error"))
            .collect();
        assert_eq!(errors.len(), 1, "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        assert!(!none.exists(), "{args:?}");
    }
}

/// `snl export --format onnx` writes exactly what `snl_theory::io::onnx` makes of the model
/// file's IR, in both encodings; `--encoding` without `--format onnx` is an error.
#[test]
fn export_onnx_writes_the_theory_exporters_graph() {
    tch::set_num_threads(1);
    tch::manual_seed(4);
    let cfg = arch(Arch::Cnn, [1, 8, 8], 0.25);
    let mut net = cfg.build(Device::Cpu);
    // layer 0 partial, layer 1 fully linearized, layer 2 partial
    for (i, m) in net.relus_mut().enumerate() {
        let n = m.c.numel();
        let v: Vec<f32> = (0..n)
            .map(|j| (i != 1 && (i + j) % 4 == 0) as u8 as f32)
            .collect();
        tch::no_grad(|| {
            m.c.copy_(&Tensor::from_slice(&v).view(m.c.size().as_slice()))
        });
    }
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("m.safetensors");
    train::save_model(&net, &cfg, 0.5, &[], &model).unwrap();
    let ir = snl_theory::load(&model).unwrap();
    let kept = ir.relu_counts().unwrap().kept;
    for (enc, e) in [
        ("gathered", snl_theory::io::onnx::Encoding::Gathered),
        ("masked", snl_theory::io::onnx::Encoding::Masked),
    ] {
        let out = dir.path().join(format!("m-{enc}.onnx"));
        let (code, stdout, stderr) = snl(&[
            "export",
            "--from",
            model.to_str().unwrap(),
            "--format",
            "onnx",
            "--encoding",
            enc,
            "--out",
            out.to_str().unwrap(),
        ]);
        assert_eq!(code, 0, "{stderr}");
        let want = snl_theory::io::onnx::export(&ir, e).unwrap();
        assert_eq!(std::fs::read(&out).unwrap(), want.to_bytes(), "{enc}");
        if enc == "gathered" {
            assert_eq!(want.summary.relu_elements, kept);
            assert!(
                stdout.contains(&format!("Relu on {kept} elements")),
                "{stdout}"
            );
            assert!(stdout.contains("1 of 3 ReLU layers vanished"), "{stdout}");
        }
    }
    let (code, _, stderr) = snl(&[
        "export",
        "--from",
        model.to_str().unwrap(),
        "--encoding",
        "masked",
        "--out",
        dir.path().join("x.safetensors").to_str().unwrap(),
    ]);
    assert_eq!(code, 2);
    assert!(stderr.contains("--format onnx"), "{stderr}");
    assert!(!dir.path().join("x.safetensors").exists());
}

/// A model file made in memory ([`train::ModelFile::of`]) is the file written and read
/// back: the same IR, architecture and metadata, and the bytes `save_model` writes (the
/// mask snapshots of `--budgets` are fine-tuned from memory).
#[test]
fn a_model_file_in_memory_is_the_file_read_back() {
    tch::set_num_threads(1);
    tch::manual_seed(3);
    let dir = tempfile::tempdir().unwrap();
    let archs = [
        arch(Arch::Cnn, [1, 8, 8], 0.25),
        arch(Arch::Resnet18, [3, 8, 8], 0.0625),
    ];
    for (k, cfg) in archs.into_iter().enumerate() {
        let mut net = cfg.build(Device::Cpu);
        for m in net.relus_mut() {
            let v: Vec<f32> = (0..m.c.numel()).map(|j| (j % 5) as f32 * 0.005).collect();
            tch::no_grad(|| {
                m.c.copy_(&Tensor::from_slice(&v).view(m.c.size().as_slice()))
            });
        }
        let extra = [("stage", "test".to_string())];
        let path = dir.path().join(format!("made-{k}.safetensors"));
        let made = train::ModelFile::of(&net, &cfg, 1e-2, &extra, &path);
        made.write().unwrap();
        let read = train::ModelFile::read(&path).unwrap();
        assert!(made.ir == read.ir, "{:?}", cfg.arch);
        assert_eq!((&made.arch, &made.info), (&read.arch, &read.info));
        let saved = dir.path().join(format!("saved-{k}.safetensors"));
        train::save_model(&net, &cfg, 1e-2, &extra, &saved).unwrap();
        assert_eq!(
            std::fs::read(&path).unwrap(),
            std::fs::read(&saved).unwrap()
        );
    }
}

fn constant_sgd(epochs: usize) -> SgdConfig {
    SgdConfig {
        epochs,
        lr: 0.05,
        momentum: 0.9,
        weight_decay: 5e-4,
        batch: 32,
        milestones: vec![],
        cosine: false,
    }
}

fn tiny_lin(budget: i64, finetune_epochs: usize) -> LinearizeConfig {
    LinearizeConfig {
        budget,
        lambda0: 5e-2,
        lr: 1e-2,
        batch: 32,
        max_epochs: 30,
        finetune: constant_sgd(finetune_epochs),
        ..Default::default()
    }
}

/// `--resume` with more epochs than planned extends the run, and ends where a run planned
/// that long from the start ends (constant learning rate, so the plans agree).
#[test]
fn resume_extends_a_run_to_more_epochs() {
    tch::set_num_threads(1);
    let splits = tiny_splits();
    let cfg = tiny_mlp(&splits);
    let dir = tempfile::tempdir().unwrap();
    let two = RunDir::create(&dir.path().join("two")).unwrap();
    train::pretrain(&two, &cfg, &constant_sgd(2), &splits, 3, Device::Cpu, false).unwrap();
    let ext = RunDir::create(&dir.path().join("ext")).unwrap();
    train::pretrain(&ext, &cfg, &constant_sgd(1), &splits, 3, Device::Cpu, false).unwrap();
    train::pretrain(&ext, &cfg, &constant_sgd(2), &splits, 3, Device::Cpu, true).unwrap();
    assert_eq!(checkpoint_tensors(&two), checkpoint_tensors(&ext));
    // other hyper-parameters than the epochs are still refused
    let mut other = constant_sgd(3);
    other.lr = 0.1;
    let err = train::pretrain(&ext, &cfg, &other, &splits, 3, Device::Cpu, true).unwrap_err();
    assert!(matches!(err, train::TrainError::Checkpoint { .. }), "{err}");

    // the fine-tune phase of a linearization, extended from 1 to 2 epochs
    let a = RunDir::create(&dir.path().join("lin-a")).unwrap();
    let oa = linearize(&a, &two.model(), &tiny_lin(6, 2), &splits, 1, false).unwrap();
    let b = RunDir::create(&dir.path().join("lin-b")).unwrap();
    linearize(&b, &two.model(), &tiny_lin(6, 1), &splits, 1, false).unwrap();
    let ob = linearize(&b, &two.model(), &tiny_lin(6, 2), &splits, 1, true).unwrap();
    assert_eq!(checkpoint_tensors(&a), checkpoint_tensors(&b));
    assert_eq!(oa.final_test, ob.final_test);
}

/// A fresh run into a used folder starts clean: no stale `best.safetensors` is picked up
/// with `--finetune-epochs 0`, and the log holds only the new run's lines.
#[test]
fn a_fresh_run_into_a_used_folder_leaves_nothing_of_the_old_one() {
    tch::set_num_threads(1);
    let splits = tiny_splits();
    let cfg = tiny_mlp(&splits);
    let dir = tempfile::tempdir().unwrap();
    let pre = RunDir::create(&dir.path().join("pre")).unwrap();
    train::pretrain(&pre, &cfg, &constant_sgd(1), &splits, 0, Device::Cpu, false).unwrap();
    train::pretrain(&pre, &cfg, &constant_sgd(1), &splits, 0, Device::Cpu, false).unwrap();
    let lines = |r: &RunDir| std::fs::read_to_string(r.log()).unwrap().lines().count();
    assert_eq!(lines(&pre), 1);
    let run = RunDir::create(&dir.path().join("lin")).unwrap();
    let first = linearize(&run, &pre.model(), &tiny_lin(6, 2), &splits, 0, false).unwrap();
    assert!(run.best().exists());
    let second = linearize(&run, &pre.model(), &tiny_lin(6, 0), &splits, 0, false).unwrap();
    assert!(
        !run.best().exists(),
        "the first run's best.safetensors is gone"
    );
    assert_eq!(lines(&run), second.linearize_epochs);
    // with no fine-tune epoch the result is the binarized network itself
    assert_eq!(second.final_test, second.binarized_test);
    assert!(first.linearize_epochs > 0);
}

/// The model file records its data and split; linearizing on another split is refused.
#[test]
fn linearize_refuses_a_split_other_than_the_teachers() {
    tch::set_num_threads(1);
    let splits = tiny_splits();
    let cfg = tiny_mlp(&splits);
    let dir = tempfile::tempdir().unwrap();
    let pre = RunDir::create(&dir.path().join("pre")).unwrap();
    train::pretrain(&pre, &cfg, &constant_sgd(1), &splits, 0, Device::Cpu, false).unwrap();
    let file = train::ModelFile::read(&pre.model()).unwrap();
    assert_eq!(file.data_record().unwrap(), Some(splits.record.clone()));
    let mut spec = DataSpec {
        source: Source::Synthetic,
        val_fraction: 0.2,
        seed: 1,
        synthetic: SyntheticConfig {
            channels: 1,
            height: 8,
            width: 8,
            train: 160,
            test: 40,
            classes: 3,
            ..Default::default()
        },
        ..Default::default()
    };
    let other = data::load(&spec).unwrap();
    let run = RunDir::create(&dir.path().join("lin")).unwrap();
    let err = linearize(&run, &pre.model(), &tiny_lin(6, 0), &other, 0, false).unwrap_err();
    assert!(
        matches!(err, train::TrainError::DataMismatch { .. }),
        "{err}"
    );
    assert!(err.to_string().contains("split seed 0 vs 1"), "{err}");
    assert!(!err.to_string().contains('\n'));
    spec.seed = 0;
    spec.val_fraction = 0.3;
    let mut other = data::load(&spec).unwrap();
    // (synthetic data are normalized with their train split's statistics: make those equal)
    other.record.mean = splits.record.mean.clone();
    other.record.std = splits.record.std.clone();
    let err = file.check_data(&other, true).unwrap_err().to_string();
    assert!(err.contains("validation examples 32 vs 48"), "{err}");
    // the test set does not depend on the split, only on the data set
    assert!(file.check_data(&other, false).is_ok());
    other.record.source = "mnist".into();
    assert!(file.check_data(&other, false).is_err());
    // a subset of the training data (smaller validation split, inside the teacher's) is fine
    spec.val_fraction = 0.2;
    spec.limit_train = Some(80);
    let subset = data::load(&spec).unwrap();
    assert!(file.check_data(&subset, true).is_ok());
}

/// Model files and checkpoints are readable by all (0644), not the temporary file's 0600.
#[cfg(unix)]
#[test]
fn run_files_are_written_0644() {
    use std::os::unix::fs::PermissionsExt;
    tch::set_num_threads(1);
    let splits = tiny_splits();
    let cfg = tiny_mlp(&splits);
    let dir = tempfile::tempdir().unwrap();
    let pre = RunDir::create(&dir.path().join("pre")).unwrap();
    train::pretrain(&pre, &cfg, &constant_sgd(1), &splits, 0, Device::Cpu, false).unwrap();
    for p in [pre.model(), pre.checkpoint()] {
        let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, train::FILE_MODE, "{}", p.display());
    }
}

/// The cached teacher logits are the teacher's forward pass on the same examples.
#[test]
fn cached_teacher_logits_equal_the_forward_pass() {
    tch::set_num_threads(1);
    tch::manual_seed(0);
    let splits = tiny_splits();
    assert!(!splits.augment);
    let cfg = tiny_mlp(&splits);
    let teacher = train::Teacher::new(cfg.build(Device::Cpu), 4.0, &splits, Device::Cpu);
    assert!(teacher.is_cached());
    let (x, _) = splits.train.batches(32, 5, Device::Cpu).next().unwrap();
    let idx = Tensor::from_slice(&splits.train.batch_order(5)[..32]);
    let cached = teacher.logits(&x, &idx);
    let fresh = tch::no_grad(|| teacher.net().forward_t(&x, false));
    let d = f64::try_from((cached - fresh).abs().max()).unwrap();
    assert!(d < 1e-5, "max diff {d}");
}

/// `--budgets`: one linearization, a snapshot per extra budget, each fine-tuned.
#[test]
fn several_budgets_from_one_linearization() {
    tch::set_num_threads(1);
    let splits = tiny_splits();
    let cfg = tiny_mlp(&splits);
    let dir = tempfile::tempdir().unwrap();
    let pre = RunDir::create(&dir.path().join("pre")).unwrap();
    train::pretrain(&pre, &cfg, &constant_sgd(1), &splits, 0, Device::Cpu, false).unwrap();
    let mut lin = tiny_lin(6, 1);
    lin.snapshots = vec![40, 20];
    lin.lambda_rule = snl_linearize::snl::LambdaRule::Budget;
    lin.target_epochs = 10;
    let run = RunDir::create(&dir.path().join("lin")).unwrap();
    let o = linearize(&run, &pre.model(), &lin, &splits, 0, false).unwrap();
    assert!(o.budget_reached, "{o:?}");
    let budgets: Vec<i64> = o.budgets.iter().map(|b| b.budget).collect();
    assert_eq!(budgets, vec![40, 20, 6]);
    for b in &o.budgets {
        assert!(b.kept <= b.budget, "{b:?}");
        assert!(b.model.exists());
        assert!(b.binarization_gap.is_some());
    }
    // the masks shrink with the budget
    assert!(o.budgets[0].kept >= o.budgets[1].kept && o.budgets[1].kept >= o.budgets[2].kept);
    assert!(run.budget_dir(40).join("snapshot.safetensors").exists());
}

/// `eval` refuses, in one line and with exit 2, a validation split other than the model's.
#[test]
fn eval_refuses_another_split_in_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("pre");
    let o = out.to_str().unwrap();
    let common = [
        "--data",
        "synthetic",
        "--limit-train",
        "64",
        "--limit-test",
        "16",
    ];
    let mut train_args = vec![
        "train", "--arch", "mlp", "--hidden", "8", "--epochs", "1", "--out", o,
    ];
    train_args.extend(common);
    let (code, _, stderr) = snl(&train_args);
    assert_eq!(code, 0, "{stderr}");
    let model = out.join("model.safetensors");
    let m = model.to_str().unwrap();
    let mut ok = vec!["eval", "--model", m, "--split", "val"];
    ok.extend(common);
    let (code, stdout, stderr) = snl(&ok);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("top-1"), "{stdout}");
    let mut bad = ok.clone();
    bad.extend(["--split-seed", "5"]);
    let (code, _, stderr) = snl(&bad);
    assert_eq!(code, 2, "{stderr}");
    let errors: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("snl: error"))
        .collect();
    assert_eq!(errors.len(), 1, "{stderr}");
    assert!(errors[0].contains("made with other data"), "{stderr}");
    assert!(errors[0].contains("split seed 0 vs 5"), "{stderr}");
}

/// Every baseline keeps exactly the budget; `uniform` keeps the same fraction per layer;
/// `snip` keeps the units of largest saliency.
#[test]
fn baseline_masks_keep_the_budget() {
    use snl_linearize::baseline::{apply_mask, baseline_mask, snip_saliency, Baseline};
    tch::set_num_threads(1);
    let splits = tiny_splits();
    let cfg = tiny_mlp(&splits);
    let dir = tempfile::tempdir().unwrap();
    let pre = RunDir::create(&dir.path().join("pre")).unwrap();
    let (mut net, _) =
        train::pretrain(&pre, &cfg, &constant_sgd(1), &splits, 0, Device::Cpu, false).unwrap();
    let units: Vec<i64> = net.relus().map(|m| m.units()).collect();
    for method in [Baseline::Random, Baseline::Uniform, Baseline::Snip] {
        let flags = baseline_mask(method, &mut net, 5, &splits, 2, 0, Device::Cpu);
        let kept: usize = flags.iter().flatten().filter(|&&k| k).count();
        assert_eq!(kept, 5, "{method:?}");
        let mut m = cfg.build(Device::Cpu);
        apply_mask(&mut m, &flags);
        assert_eq!(m.kept_relus(0.5), 5);
        if method == Baseline::Uniform {
            let per: Vec<usize> = flags
                .iter()
                .map(|f| f.iter().filter(|&&k| k).count())
                .collect();
            let want = snl_linearize::baseline::uniform_quotas(&units, 5);
            assert_eq!(per, want.iter().map(|&q| q as usize).collect::<Vec<_>>());
        }
        if method == Baseline::Snip {
            let sal = snip_saliency(&mut net, &splits, 2, 0, Device::Cpu);
            let kept_min = sal
                .iter()
                .flatten()
                .zip(flags.iter().flatten())
                .filter(|(_, &k)| k)
                .map(|(s, _)| *s)
                .fold(f64::INFINITY, f64::min);
            let dropped_max = sal
                .iter()
                .flatten()
                .zip(flags.iter().flatten())
                .filter(|(_, &k)| !k)
                .map(|(s, _)| *s)
                .fold(0.0, f64::max);
            assert!(kept_min >= dropped_max, "{kept_min} < {dropped_max}");
        }
    }
}

/// The data options of [`tiny_teacher`]'s training run.
const TINY_DATA: [&str; 6] = [
    "--data",
    "synthetic",
    "--limit-train",
    "64",
    "--limit-test",
    "16",
];

/// Trains a one-epoch 8-unit MLP on [`TINY_DATA`] into `dir/pre`; returns its model file.
fn tiny_teacher(dir: &std::path::Path) -> std::path::PathBuf {
    let pre = dir.join("pre");
    let mut a = vec![
        "train",
        "--arch",
        "mlp",
        "--hidden",
        "8",
        "--epochs",
        "1",
        "--out",
        pre.to_str().unwrap(),
    ];
    a.extend(TINY_DATA);
    let (code, _, stderr) = snl(&a);
    assert_eq!(code, 0, "{stderr}");
    pre.join("model.safetensors")
}

/// `snl baseline` fine-tunes one mask per budget and reports each in JSON.
#[test]
fn baseline_command_fine_tunes_each_budget() {
    let dir = tempfile::tempdir().unwrap();
    let common = TINY_DATA;
    let model = tiny_teacher(dir.path());
    let out = dir.path().join("random");
    let mut b = vec![
        "baseline",
        "--model",
        model.to_str().unwrap(),
        "--method",
        "random",
        "--budgets",
        "6,3",
        "--finetune-epochs",
        "1",
        "--out",
        out.to_str().unwrap(),
        "--output-format",
        "json",
    ];
    b.extend(common);
    let (code, stdout, stderr) = snl(&b);
    assert_eq!(code, 0, "{stderr}");
    let v: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let budgets = v["budgets"].as_array().unwrap();
    assert_eq!(budgets.len(), 2);
    for (r, want) in budgets.iter().zip([6, 3]) {
        assert_eq!(r["budget"], want);
        assert_eq!(r["kept"], want);
        assert!(out
            .join(format!("budget-{want}/model.safetensors"))
            .exists());
    }
    // a budget of all ReLUs or more is one line, exit 2
    let mut c = b.clone();
    c[6] = "100000";
    let (code, _, stderr) = snl(&c);
    assert_eq!(code, 2, "{stderr}");
    assert_eq!(
        stderr
            .lines()
            .filter(|l| l.starts_with("snl: error"))
            .count(),
        1,
        "{stderr}"
    );
}

/// papers/pareto/cifar100-resnet18.sh (the paper's GPU protocol) runs end to end at toy size
/// on CPU: ResNet-18 at width 1/8 on synthetic CIFAR-shaped data.
#[test]
fn the_cifar100_resnet18_protocol_runs_at_toy_size() {
    let dir = tempfile::tempdir().unwrap();
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let out = std::process::Command::new("bash")
        .arg(root.join("papers/pareto/cifar100-resnet18.sh"))
        .arg("--smoke")
        .env("SNL", env!("CARGO_BIN_EXE_snl"))
        .env("RUNS", dir.path())
        .env("OMP_NUM_THREADS", "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    for m in ["random", "uniform", "snip"] {
        assert_eq!(
            stdout.lines().filter(|l| l.starts_with(m)).count(),
            4,
            "{stdout}"
        );
    }
    assert!(dir.path().join("snl-0.json").exists());
}

/// `snl sweep` runs the method × seed grid and merges it; `--emit slurm` writes a job array
/// with one task per cell; `--merge` merges what the tasks wrote.
#[test]
fn sweep_runs_the_grid_and_emits_a_slurm_array() {
    let dir = tempfile::tempdir().unwrap();
    let common = TINY_DATA;
    let model = tiny_teacher(dir.path());
    let out = dir.path().join("sweep");
    let base = vec![
        "sweep",
        "--model",
        model.to_str().unwrap(),
        "--methods",
        "random,uniform",
        "--seeds",
        "0",
        "--budgets",
        "6,3",
        "--out",
        out.to_str().unwrap(),
        "--output-format",
        "json",
    ];
    let mut slurm = base.clone();
    slurm.extend(["--emit", "slurm", "--sbatch", "--time=1:00:00"]);
    slurm.extend(["--"]);
    slurm.extend(common);
    slurm.extend(["--finetune-epochs", "1"]);
    let (code, stdout, stderr) = snl(&slurm);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("2 array tasks"), "{stdout}");
    let script = std::fs::read_to_string(out.join("sweep.slurm")).unwrap();
    assert!(script.contains("#SBATCH --array=0-1"), "{script}");
    assert!(script.contains("#SBATCH --time=1:00:00"), "{script}");
    assert!(script.contains("baseline --method uniform"), "{script}");
    // merging before the tasks ran: one line, exit 2
    let mut merge = base.clone();
    merge.push("--merge");
    let (code, _, stderr) = snl(&merge);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("2 of 2 cells have no result yet"),
        "{stderr}"
    );
    // run locally, then merge
    let mut local = base.clone();
    local.push("--");
    local.extend(common);
    local.extend(["--finetune-epochs", "1"]);
    let (code, stdout, stderr) = snl(&local);
    assert_eq!(code, 0, "{stderr}");
    let v: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(v["rows"].as_array().unwrap().len(), 4);
    let (code, _, stderr) = snl(&merge);
    assert_eq!(code, 0, "{stderr}");
    assert!(out.join("sweep.json").exists());
    let mut bad = base.clone();
    bad[4] = "pruning";
    let (code, _, stderr) = snl(&bad);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("unknown method 'pruning'"), "{stderr}");
}

/// `--kernels fused` end to end: pretraining (plain ReLU + pool fused), the mask phase and
/// fine-tuning (masked ReLU + pool, fused Adam) of the CNN run and give a model that `eval`
/// reads; with the same seed the reference kernels land on nearly the same teacher (the
/// kernels differ in rounding only). A bad value is a one-line error.
#[test]
fn fused_kernels_train_linearize_and_fine_tune_the_cnn() {
    let dir = tempfile::tempdir().unwrap();
    let data = [
        "--data",
        "synthetic",
        "--limit-train",
        "256",
        "--limit-test",
        "128",
    ];
    let mut accuracies = Vec::new();
    for kernels in ["reference", "fused"] {
        let pre = dir.path().join(format!("pre-{kernels}"));
        let mut args = vec!["train", "--arch", "cnn", "--width", "0.25", "--epochs", "2"];
        args.extend(data);
        args.extend(["--kernels", kernels, "--output-format", "json"]);
        args.extend(["--out", pre.to_str().unwrap()]);
        let (code, stdout, stderr) = snl(&args);
        assert_eq!(code, 0, "train --kernels {kernels}: {stderr}");
        let v: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
        accuracies.push(v["test_accuracy"].as_f64().unwrap());
    }
    let gap = (accuracies[0] - accuracies[1]).abs();
    assert!(
        gap <= 0.05,
        "reference vs fused pretraining: {accuracies:?}"
    );

    let lin = dir.path().join("lin");
    let model = dir.path().join("pre-fused/model.safetensors");
    let mut args = vec!["linearize", "--model", model.to_str().unwrap()];
    args.extend(data);
    args.extend([
        "--budget-fraction",
        "0.2",
        "--lambda0",
        "1e-2",
        "--max-epochs",
        "8",
    ]);
    args.extend(["--finetune-epochs", "1", "--kernels", "fused"]);
    args.extend(["--out", lin.to_str().unwrap()]);
    let (code, _, stderr) = snl(&args);
    assert!(
        code == 0 || code == 1,
        "linearize --kernels fused: {stderr}"
    );
    let lin_model = lin.join("model.safetensors");
    let (code, stdout, stderr) = snl(&[
        "eval",
        "--model",
        lin_model.to_str().unwrap(),
        "--data",
        "synthetic",
        "--kernels",
        "fused",
    ]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.contains("top-1") && stdout.contains("kept"),
        "{stdout}"
    );

    let (code, _, stderr) = snl(&["eval", "--model", "x", "--kernels", "fastest"]);
    assert_eq!(code, 2);
    assert!(
        stderr.contains("fastest") && !stderr.contains("panicked"),
        "{stderr}"
    );
}
