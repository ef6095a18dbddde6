//! `snl import`: a PyTorch checkpoint saved as safetensors
//! (`safetensors.torch.save_file(model.state_dict(), f)`) → an snl model file. Key names:
//! docs/import.md; the mapping is `crate::import`. Or, with `--onnx`, an ONNX network
//! (`.onnx`, `.onnx.gz`) through `snl_theory::io::onnx::import` (docs/onnx.md, "Import"), every
//! ReLU kept except a layer in snl's masked encoding, which keeps its mask.
use std::path::PathBuf;

use anyhow::Context;

use crate::arch::{Arch, ReluConvention};
use crate::cli::{ExitStatus, OutputFormat};
use crate::import::{import, ImportOptions};
use crate::train::save_model;

const AFTER: &str = "\
Accepted key names (docs/import.md):
  resnet18  torchvision: conv1, bn1, layerS.B.{conv1,bn1,conv2,bn2}, layerS.B.downsample.{0,1}, fc;
            CIFAR-ResNet: layerS.B.shortcut.{0,1}, linear; or snl's own names (stem.conv, …)
  wrn22x8   conv1, blockS.layer.B.{bn1,conv1,bn2,conv2,convShortcut}, bn1, fc; or snl's names
  cnn       conv1, conv2, fc1, fc2        mlp  fc0, fc1, …, out
  masks     <relu>.c or <relu>.mask per ReLU (e.g. layer1.0.relu1.c, relu.c for the stem),
            shape [1, C, H, W] or [C, H, W]; unit kept when c > --eps; absent = all kept
Widths, classes and MLP hidden sizes are read from the tensors; *.num_batches_tracked is
ignored; any other unused key is an error.

With --onnx FILE (.onnx or .onnx.gz) instead of --state-dict/--arch: the ONNX ops of
docs/onnx.md, section Import; an unsupported op is named with its node.

Exit codes: 0 written; 2 bad input (a missing or mis-shaped key is named), nothing written.";

/// Arguments of `import`.
#[derive(Debug, clap::Args)]
#[command(after_help = AFTER)]
pub struct ImportCommand {
    /// The checkpoint: a safetensors file of a PyTorch `state_dict` (floating-point tensors).
    #[arg(long, required_unless_present = "onnx")]
    pub state_dict: Option<PathBuf>,
    /// An ONNX network (`.onnx`, or gzip-compressed `.onnx.gz`) to import instead of a
    /// checkpoint: the ops of docs/onnx.md ("Import"), every ReLU kept (a layer in snl's
    /// masked encoding keeps its mask).
    #[arg(long, conflicts_with_all = ["state_dict", "arch", "input_shape", "mean", "std"])]
    pub onnx: Option<PathBuf>,
    /// The architecture it was trained as.
    #[arg(long, value_enum, required_unless_present = "onnx")]
    pub arch: Option<Arch>,
    /// ReLU convention of the checkpoint: `paper` (ResNet-18 without the stem ReLU, WRN
    /// without the last, as the official SNL code built them) or `all`.
    #[arg(long, value_enum, default_value_t)]
    pub relus: ReluConvention,
    /// The model file to write (atomically).
    #[arg(long)]
    pub out: PathBuf,
    /// Input shape C,H,W (default 3,32,32 for resnet18/wrn22x8, 1,28,28 for cnn/mlp).
    #[arg(long, value_name = "C,H,W")]
    pub input_shape: Option<String>,
    /// Per-channel input mean the checkpoint expects subtracted (baked into the model, which
    /// then takes raw [0, 1] pixels like snl's own models); default 0.
    #[arg(long, value_delimiter = ',')]
    pub mean: Option<Vec<f32>>,
    /// Per-channel input std (default 1).
    #[arg(long, value_delimiter = ',')]
    pub std: Option<Vec<f32>>,
    /// A ReLU unit is kept when its mask c > ε (the paper's ε; 0/1 masks are unaffected).
    #[arg(long, default_value_t = crate::paper::paper().linearize.eps)]
    pub eps: f64,
    /// Summary format.
    #[arg(long, value_enum, default_value_t)]
    pub output_format: OutputFormat,
}

/// The command-line spelling of a value.
fn name(v: impl clap::ValueEnum) -> String {
    v.to_possible_value()
        .map(|p| p.get_name().to_string())
        .unwrap_or_default()
}

/// Runs `import`.
pub fn run(c: ImportCommand) -> anyhow::Result<ExitStatus> {
    if let Some(onnx) = &c.onnx {
        return run_onnx(onnx, &c);
    }
    let (Some(state_dict), Some(arch)) = (c.state_dict.clone(), c.arch) else {
        anyhow::bail!("--state-dict and --arch are required (or --onnx FILE)");
    };
    let parsed = c
        .input_shape
        .as_deref()
        .map(crate::cli::parse_list)
        .transpose()
        .map_err(|e| anyhow::anyhow!("--input-shape: {e}"))?;
    let input_shape: Vec<i64> = match parsed {
        Some(s) if s.len() == 3 && s.iter().all(|&d| d > 0) => {
            s.iter().map(|&d| d as i64).collect()
        }
        Some(s) => anyhow::bail!("--input-shape needs three positive sizes C,H,W, got {s:?}"),
        None => match arch {
            Arch::Resnet18 | Arch::Wrn22x8 => vec![3, 32, 32],
            Arch::Cnn | Arch::Mlp => vec![1, 28, 28],
        },
    };
    let ch = input_shape[0] as usize;
    let mean = c.mean.clone().unwrap_or_else(|| vec![0.0; ch]);
    let std = c.std.clone().unwrap_or_else(|| vec![1.0; ch]);
    if std.iter().any(|&s| !(s > 0.0 && s.is_finite())) {
        anyhow::bail!("--std values must be positive");
    }
    let opts = ImportOptions {
        arch,
        relus: c.relus,
        input_shape,
        mean,
        std,
    };
    let imp = import(&state_dict, &opts)
        .with_context(|| format!("cannot import {}", state_dict.display()))?;
    save_model(
        &imp.net,
        &imp.arch,
        c.eps,
        &[
            ("stage", "imported".into()),
            ("source", state_dict.display().to_string()),
        ],
        &c.out,
    )
    .with_context(|| format!("cannot write {}", c.out.display()))?;
    let layers = imp.net.relu_layers(c.eps);
    let total: i64 = layers.iter().map(|l| l.0).sum();
    let kept: i64 = layers.iter().map(|l| l.1).sum();
    match c.output_format {
        OutputFormat::Text => println!(
            "imported {} as {} (width {}, {} classes, --relus {}): {} keys used, {} ignored, \
             masks for {} of {} ReLU layers; {kept} of {total} ReLUs kept; wrote {}",
            state_dict.display(),
            name(arch),
            imp.arch.width,
            imp.arch.classes,
            name(c.relus),
            imp.keys_used,
            imp.keys_ignored,
            imp.masks_found,
            imp.relu_layers,
            c.out.display()
        ),
        OutputFormat::Json => println!(
            "{}",
            serde_json::json!({
                "state_dict": state_dict,
                "out": c.out,
                "arch": imp.arch,
                "keys_used": imp.keys_used,
                "keys_ignored": imp.keys_ignored,
                "masks_found": imp.masks_found,
                "relu_layers": imp.relu_layers,
                "relus_total": total,
                "relus_kept": kept,
                "per_layer": layers.iter().map(|l| serde_json::json!({"units": l.0, "kept": l.1})).collect::<Vec<_>>(),
            })
        ),
    }
    Ok(ExitStatus::Success)
}

/// `snl import --onnx FILE --out M`: the ONNX network as a model file, written atomically
/// (nothing is written when the import fails).
fn run_onnx(onnx: &std::path::Path, c: &ImportCommand) -> anyhow::Result<ExitStatus> {
    let net = snl_theory::io::onnx::load(onnx).context("cannot import the ONNX network")?;
    let mut info = std::collections::BTreeMap::new();
    info.insert("stage".to_string(), "imported".to_string());
    info.insert("source".to_string(), onnx.display().to_string());
    snl_theory::io::model_file::save_with_info(&net, &info, &c.out)
        .with_context(|| format!("cannot write {}", c.out.display()))?;
    let counts = net.relu_counts()?;
    let output_shape = net.output_shape()?;
    match c.output_format {
        OutputFormat::Text => println!(
            "imported {} (ONNX): input {:?}, output {:?}, {} nodes, {} of {} ReLUs kept in {} \
             layers; wrote {}",
            onnx.display(),
            net.input_shape,
            output_shape,
            net.nodes.len(),
            counts.kept,
            counts.total,
            counts.layers.len(),
            c.out.display()
        ),
        OutputFormat::Json => println!(
            "{}",
            serde_json::json!({
                "onnx": onnx,
                "out": c.out,
                "input_shape": net.input_shape,
                "output_shape": output_shape,
                "nodes": net.nodes.len(),
                "relus_total": counts.total,
                "relus_kept": counts.kept,
                "relu_layers": counts.layers.len(),
            })
        ),
    }
    Ok(ExitStatus::Success)
}
