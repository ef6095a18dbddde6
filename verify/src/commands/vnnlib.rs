//! `snl-verify vnnlib --model M (--center FILE --eps E | --inputs FILE --index I --eps E |
//! --input-box LO:HI|FILE) --property argmax=C --out q.vnnlib [--onnx net.onnx]`: a robustness query in VNN-LIB
//! for α-β-CROWN, Marabou and other VNN-COMP verifiers, optionally with the ONNX graph it
//! is about.
//!
//! The box is exactly the one `snl-verify bound` checks with the same arguments: `--center`
//! is a point in the model's input space and `--eps` a radius there; with `--inputs` the
//! ball is around the example in pixel space, clipped to the pixel range and normalized as
//! the file says (every end rounded outward). For snl models node 0 normalizes, so the
//! model's input space is raw pixels, and that is also the ONNX input (`snl export
//! --format onnx` and `--onnx` here write the same graph).
use std::io::Write;
use std::path::PathBuf;

use anyhow::{bail, Context};
use clap::Args;
use serde::Serialize;
use snl_theory::bound::Property;
use snl_theory::io::onnx::{export, Encoding};
use snl_theory::io::vnnlib;
use snl_theory::numel;

use crate::args::{EncodingArg, RegionArgs};
use crate::cli::{ExitStatus, OutputFormat};

/// Arguments of `vnnlib`.
#[derive(Debug, Args)]
#[command(after_help = crate::cli::EXIT_CODES)]
pub struct VnnlibCommand {
    /// The model: an snl model file (`.safetensors`) or an ONNX network (`.onnx`,
    /// `.onnx.gz`; docs/onnx.md, "Import").
    #[arg(long)]
    pub model: PathBuf,
    /// The input region, exactly as `bound` reads it.
    #[command(flatten)]
    pub region: RegionArgs,
    /// `argmax=C`: output C strictly above every other output on the whole box. Default
    /// with `--inputs`: the example's label.
    #[arg(long)]
    pub property: Option<Property>,
    /// The VNN-LIB file to write (atomically).
    #[arg(long)]
    pub out: PathBuf,
    /// Also write the model as ONNX here (atomically), the graph the query is about.
    #[arg(long)]
    pub onnx: Option<PathBuf>,
    /// The ONNX encoding for `--onnx`.
    #[arg(long, value_enum, default_value_t, requires = "onnx")]
    pub encoding: EncodingArg,
    /// `text` or `json`.
    #[arg(long, value_enum, default_value_t)]
    pub output_format: OutputFormat,
}

#[derive(Serialize)]
struct Report {
    model: PathBuf,
    vnnlib: PathBuf,
    onnx: Option<PathBuf>,
    encoding: Option<Encoding>,
    inputs: usize,
    outputs: usize,
    class: usize,
    eps: Option<f64>,
    /// argmax of the f64 forward at the ball's centre (model space).
    center_prediction: usize,
    box_lower_min: f64,
    box_upper_max: f64,
}

/// Runs `vnnlib`.
pub fn run(cmd: VnnlibCommand) -> anyhow::Result<ExitStatus> {
    cmd.region.check()?;
    let net = snl_theory::load_any(&cmd.model).context("cannot read the model")?;
    let dim = numel(&net.input_shape);
    let outputs = numel(&net.output_shape()?);
    let region = cmd.region.resolve(dim).context("bad input region")?;
    let input = region.input;
    let (center, label) = match region.example {
        Some((label, center)) => (center, Some(label)),
        None => (input.center(), None),
    };
    let property = match (&cmd.property, label) {
        (Some(p), _) => *p,
        (None, Some(class)) => Property::Argmax { class },
        (None, None) => bail!("give --property argmax=C (or --inputs, whose label is used)"),
    };
    let Property::Argmax { class } = property;
    let y = net.forward(&center)?;
    let center_prediction = (0..y.len())
        .max_by(|&a, &b| y[a].total_cmp(&y[b]))
        .unwrap_or(0);
    let region = match (cmd.region.eps, cmd.region.inputs.is_some()) {
        (Some(e), true) => {
            format!("L-inf ball, eps {e} in pixel space, clipped and normalized as the inputs file says")
        }
        (Some(e), false) => format!("L-inf ball, eps {e} in the model's input space"),
        (None, _) => "the given input box".to_string(),
    };
    let comment = vec![
        format!("snl-verify vnnlib: model {}", cmd.model.display()),
        format!("{region}, property argmax = {class}"),
        "X_i: the ONNX input [1, ...] flattened row-major, in the model's input space".into(),
        "the file asserts the violation: unsat = property proved".into(),
    ];
    let text = vnnlib::write(&input, &property, outputs, &comment)?;
    let mut encoding = None;
    if let Some(o) = &cmd.onnx {
        let e = export(&net, cmd.encoding.into()).context("cannot export to ONNX")?;
        e.save(o)?;
        encoding = Some(e.summary.encoding);
    }
    snl_theory::io::model_file::write_atomic(&cmd.out, text.as_bytes())
        .with_context(|| format!("cannot write {}", cmd.out.display()))?;
    let r = Report {
        model: cmd.model.clone(),
        vnnlib: cmd.out.clone(),
        onnx: cmd.onnx.clone(),
        encoding,
        inputs: dim,
        outputs,
        class,
        eps: cmd.region.eps,
        center_prediction,
        box_lower_min: input.lower.iter().copied().fold(f64::INFINITY, f64::min),
        box_upper_max: input
            .upper
            .iter()
            .copied()
            .fold(f64::NEG_INFINITY, f64::max),
    };
    let mut out = std::io::stdout().lock();
    match cmd.output_format {
        OutputFormat::Json => writeln!(out, "{}", serde_json::to_string_pretty(&r)?)?,
        OutputFormat::Text => {
            writeln!(
                out,
                "wrote {} ({} inputs in [{}, {}], {} outputs, violation of argmax = {class})",
                r.vnnlib.display(),
                r.inputs,
                r.box_lower_min,
                r.box_upper_max,
                r.outputs
            )?;
            if let Some(o) = &r.onnx {
                writeln!(
                    out,
                    "wrote {} ({} encoding)",
                    o.display(),
                    Encoding::from(cmd.encoding)
                )?;
            }
            writeln!(
                out,
                "centre predicted {center_prediction}{}",
                if center_prediction == class {
                    ""
                } else {
                    " (not the property's class: the query is falsified at the centre)"
                }
            )?;
        }
    }
    Ok(ExitStatus::Success)
}
