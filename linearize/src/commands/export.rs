//! `snl export`: a model file, its IR as JSON, or an ONNX graph, from a model file or a run's
//! checkpoint. The ONNX writer is `snl_theory::io::onnx` (no libtorch): `--encoding gathered`
//! (default) compares only the kept units (Relu elements = kept ReLUs; layers with no kept
//! unit vanish), `--encoding masked` writes `x − m ⊙ min(x, 0)` on every unit
//! (see docs/onnx.md).
use std::path::PathBuf;

use anyhow::{bail, Context};
use clap::ValueEnum;

use crate::cli::ExitStatus;
use crate::train::{load_model, read_checkpoint, save_model, RunDir, BINARY_THRESHOLD};

/// Output format.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum ExportFormat {
    /// The snl model file (`.safetensors`, architecture and masks in the metadata).
    #[default]
    Safetensors,
    /// The IR as plain JSON (weights inline), for inspection.
    Json,
    /// ONNX (opset 13), in the encoding `--encoding` chooses; input = raw pixels `[1, C, H, W]`.
    Onnx,
}

/// How `--format onnx` writes a partially linearized ReLU layer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum OnnxEncoding {
    /// Gather the kept units, Relu on them only (what private inference needs).
    #[default]
    Gathered,
    /// `x − m ⊙ min(x, 0)` with a constant mask on every unit (plaintext runtimes, verifiers).
    Masked,
    /// Dense layer before the ReLU as two Gemms (kept, linear units), Relu on the kept part
    /// only, the next dense layer reading both (MLPs; Relu elements = kept ReLUs; read by
    /// Marabou and onnx2pytorch).
    Split,
}

impl From<OnnxEncoding> for snl_theory::io::onnx::Encoding {
    fn from(e: OnnxEncoding) -> Self {
        match e {
            OnnxEncoding::Gathered => Self::Gathered,
            OnnxEncoding::Masked => Self::Masked,
            OnnxEncoding::Split => Self::Split,
        }
    }
}

/// Arguments of `export`.
#[derive(Debug, clap::Args)]
pub struct ExportCommand {
    /// A model file, or a run folder (its checkpoint.safetensors is read, e.g. mid-run).
    #[arg(long)]
    pub from: PathBuf,
    /// The file to write (atomically).
    #[arg(long)]
    pub out: PathBuf,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    pub format: ExportFormat,
    /// With `--format onnx`: how partially linearized ReLU layers are written.
    #[arg(long, value_enum, default_value_t)]
    pub encoding: OnnxEncoding,
    /// With `--format onnx`: write batch norms and dense layers as they are instead of
    /// folding them into the layer before (to compare linear costs like for like).
    #[arg(long)]
    pub no_fold: bool,
    /// For checkpoints: a unit is kept when its mask c > ε.
    #[arg(long, default_value_t = crate::paper::paper().linearize.eps)]
    pub eps: f64,
}

/// Runs `export`.
pub fn run(c: ExportCommand) -> anyhow::Result<ExitStatus> {
    let device = tch::Device::Cpu;
    let (net, arch, eps) = if c.from.is_dir() {
        let run = RunDir {
            dir: c.from.clone(),
        };
        let (state, named) = read_checkpoint(&run.checkpoint())?;
        let mut net = state.arch.build(device);
        crate::train::load_vars(&mut net, &named, &run.checkpoint())?;
        (net, state.arch, c.eps)
    } else if c.from.exists() {
        let (net, arch, _) = load_model(&c.from, device).context("cannot export")?;
        (net, arch, BINARY_THRESHOLD)
    } else {
        bail!("{}: no such model file or run folder", c.from.display());
    };
    if (c.encoding != OnnxEncoding::default() || c.no_fold) && c.format != ExportFormat::Onnx {
        bail!("--encoding and --no-fold apply to --format onnx only");
    }
    match c.format {
        ExportFormat::Safetensors => {
            save_model(&net, &arch, eps, &[("stage", "exported".into())], &c.out)?
        }
        ExportFormat::Json => {
            let json = serde_json::to_vec_pretty(&net.to_ir(eps))?;
            snl_theory::io::model_file::write_atomic(&c.out, &json)
                .with_context(|| format!("cannot write {}", c.out.display()))?;
        }
        ExportFormat::Onnx => {
            let e =
                snl_theory::io::onnx::export_with(&net.to_ir(eps), c.encoding.into(), !c.no_fold)
                    .context("cannot export to ONNX")?;
            e.save(&c.out)?;
            let s = &e.summary;
            let vanished = s
                .layers
                .iter()
                .filter(|l| l.form == snl_theory::io::onnx::ReluForm::Vanished)
                .count();
            println!(
                "onnx {}: {} nodes, Relu on {} elements, {} of {} ReLU layers vanished, \
                 {} batch norms and {} dense layers folded; input {:?}, output {:?}",
                s.encoding,
                s.onnx_nodes,
                s.relu_elements,
                vanished,
                s.layers.len(),
                s.folded_batch_norms,
                s.folded_dense,
                s.input_shape,
                s.output_shape
            );
        }
    }
    let ir = net.to_ir(eps);
    let counts = ir.relu_counts()?;
    println!(
        "wrote {} ({} of {} ReLUs kept)",
        c.out.display(),
        counts.kept,
        counts.total
    );
    Ok(ExitStatus::Success)
}
