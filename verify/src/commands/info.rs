//! `snl-verify info --model FILE`: the architecture and ReLU accounting of a model file.
use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use serde::Serialize;
use snl_theory::{Network, ReluCounts, ValueId};

use crate::cli::{ExitStatus, OutputFormat};

/// Arguments of `info`.
#[derive(Debug, Args)]
pub struct InfoCommand {
    /// The model: an snl model file (`.safetensors`) or an ONNX network (`.onnx`,
    /// `.onnx.gz`; docs/onnx.md, "Import").
    #[arg(long)]
    pub model: PathBuf,
    /// `text` (a table) or `json`.
    #[arg(long, value_enum, default_value_t)]
    pub output_format: OutputFormat,
}

#[derive(Serialize)]
struct LayerRow {
    node: usize,
    op: &'static str,
    inputs: Vec<ValueId>,
    output_shape: Vec<usize>,
}

#[derive(Serialize)]
struct Report {
    model: PathBuf,
    input_shape: Vec<usize>,
    output_shape: Vec<usize>,
    layers: Vec<LayerRow>,
    relus: ReluCounts,
}

fn report(net: &Network, model: PathBuf) -> anyhow::Result<Report> {
    let shapes = net.shapes()?;
    Ok(Report {
        model,
        input_shape: net.input_shape.clone(),
        output_shape: shapes.last().cloned().unwrap_or_default(),
        layers: net
            .nodes
            .iter()
            .enumerate()
            .map(|(k, n)| LayerRow {
                node: k,
                op: n.layer.kind(),
                inputs: n.inputs.clone(),
                output_shape: shapes[k + 1].clone(),
            })
            .collect(),
        relus: net.relu_counts()?,
    })
}

/// Runs `info`.
pub fn run(cmd: InfoCommand) -> anyhow::Result<ExitStatus> {
    let net = snl_theory::load_any(&cmd.model).context("cannot read the model")?;
    let r = report(&net, cmd.model)?;
    let mut out = std::io::stdout().lock();
    match cmd.output_format {
        OutputFormat::Json => writeln!(out, "{}", serde_json::to_string_pretty(&r)?)?,
        OutputFormat::Text => {
            writeln!(out, "model        {}", r.model.display())?;
            writeln!(out, "input shape  {:?}", r.input_shape)?;
            writeln!(out, "output shape {:?}", r.output_shape)?;
            writeln!(out)?;
            writeln!(
                out,
                "{:>5}  {:<11} {:<10} {:<16} {:>10} {:>10}",
                "node", "op", "inputs", "output shape", "relus", "kept"
            )?;
            for l in &r.layers {
                let (total, kept) = r
                    .relus
                    .layers
                    .iter()
                    .find(|c| c.node == l.node)
                    .map(|c| (c.total.to_string(), c.kept.to_string()))
                    .unwrap_or_default();
                writeln!(
                    out,
                    "{:>5}  {:<11} {:<10} {:<16} {:>10} {:>10}",
                    l.node,
                    l.op,
                    format!("{:?}", l.inputs),
                    format!("{:?}", l.output_shape),
                    total,
                    kept
                )?;
            }
            let pct = if r.relus.total == 0 {
                0.0
            } else {
                100.0 * r.relus.kept as f64 / r.relus.total as f64
            };
            writeln!(out)?;
            writeln!(
                out,
                "ReLUs: {} kept of {} ({pct:.2}%), {} layers",
                r.relus.kept,
                r.relus.total,
                r.relus.layers.len()
            )?;
        }
    }
    Ok(ExitStatus::Success)
}
