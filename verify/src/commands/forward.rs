//! `snl-verify forward --model FILE --inputs-json FILE`: the IR's f64 forward on given
//! inputs, for cross-checks against other executors (papers/vnncomp/onnx_check.py runs it
//! next to onnxruntime on imported ONNX networks).
use std::io::Write;
use std::path::PathBuf;

use anyhow::{bail, Context};
use clap::Args;
use serde::Serialize;
use snl_theory::numel;

use crate::cli::{ExitStatus, OutputFormat};

/// Arguments of `forward`.
#[derive(Debug, Args)]
pub struct ForwardCommand {
    /// The model: an snl model file (`.safetensors`) or an ONNX network (`.onnx`,
    /// `.onnx.gz`; docs/onnx.md, "Import").
    #[arg(long)]
    pub model: PathBuf,
    /// A JSON array of inputs, each a flat array of numbers (row-major, the model's input
    /// shape without the batch dimension).
    #[arg(long)]
    pub inputs_json: PathBuf,
    /// `text` (one line of outputs per input) or `json` (`{"outputs": [[..], ..]}`).
    #[arg(long, value_enum, default_value_t)]
    pub output_format: OutputFormat,
}

#[derive(Serialize)]
struct Report {
    input_shape: Vec<usize>,
    outputs: Vec<Vec<f64>>,
}

/// Runs `forward`.
pub fn run(cmd: ForwardCommand) -> anyhow::Result<ExitStatus> {
    let net = snl_theory::load_any(&cmd.model).context("cannot read the model")?;
    let text = std::fs::read_to_string(&cmd.inputs_json)
        .with_context(|| format!("cannot read {}", cmd.inputs_json.display()))?;
    let inputs: Vec<Vec<f64>> = serde_json::from_str(&text).with_context(|| {
        format!(
            "{}: expected a JSON array of arrays of numbers",
            cmd.inputs_json.display()
        )
    })?;
    let n = numel(&net.input_shape);
    let mut outputs = Vec::with_capacity(inputs.len());
    for (i, x) in inputs.iter().enumerate() {
        if x.len() != n {
            bail!(
                "input {i} has {} values, the model takes {n} (shape {:?})",
                x.len(),
                net.input_shape
            );
        }
        outputs.push(net.forward(x)?);
    }
    let r = Report {
        input_shape: net.input_shape.clone(),
        outputs,
    };
    let mut out = std::io::stdout().lock();
    match cmd.output_format {
        OutputFormat::Json => writeln!(out, "{}", serde_json::to_string(&r)?)?,
        OutputFormat::Text => {
            for y in &r.outputs {
                let s: Vec<String> = y.iter().map(|v| format!("{v:e}")).collect();
                writeln!(out, "{}", s.join(" "))?;
            }
        }
    }
    Ok(ExitStatus::Success)
}
