//! `snl-verify cost --model M [--protocol crypten|delphi|all] [--encoding gathered|masked]
//! [--no-fold]`: a private-inference cost model of the ONNX graph `snl export --format onnx`
//! writes for the same options. Per deployed layer — each ReLU layer and each `Conv`/`Gemm`
//! left after the exporter's folds ([`snl_theory::io::onnx::deployed`]) — bytes and rounds
//! from per-element constants; totals for the ReLU part, the linear part and both.
//!
//! The model, its per-element constants and their sources: [`crate::cost`].
use std::io::Write;
use std::path::PathBuf;

use anyhow::bail;
use clap::{Args, ValueEnum};
use serde::Serialize;
use snl_theory::io::onnx::Encoding;

use crate::args::EncodingArg;
use crate::cli::{ExitStatus, OutputFormat};
use crate::cost::{self, Constants, Kind, LayerCost, Link, ProtocolCost, CRYPTEN, DELPHI};

/// Which protocol(s).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ProtocolArg {
    /// Both.
    #[default]
    All,
    /// CrypTen 0.4.1, 2 parties, encrypted model and input.
    Crypten,
    /// Delphi-style: HE-preprocessed linear layers, garbled-circuit ReLUs.
    Delphi,
}

/// Arguments of `cost`.
#[derive(Debug, Args)]
#[command(after_help = crate::cli::EXIT_CODES)]
pub struct CostCommand {
    /// The model: an snl model file (`.safetensors`) or an ONNX network (`.onnx`,
    /// `.onnx.gz`; docs/onnx.md, "Import").
    #[arg(long)]
    pub model: PathBuf,
    /// The protocol(s) to price.
    #[arg(long, value_enum, default_value_t)]
    pub protocol: ProtocolArg,
    /// The ONNX encoding deployed: `gathered` compares kept units only, `masked` every unit
    /// (`split` is refused: the cost model was measured on the other two).
    #[arg(long, value_enum, default_value_t)]
    pub encoding: EncodingArg,
    /// Price the graph of `snl export --no-fold`: batch norms and dense layers as they are.
    #[arg(long)]
    pub no_fold: bool,
    /// Round-trip time between the parties, milliseconds.
    #[arg(long, default_value_t = 1.0)]
    pub rtt_ms: f64,
    /// Bandwidth, megabits per second.
    #[arg(long, default_value_t = 1000.0)]
    pub bandwidth_mbps: f64,
    /// `text` or `json`.
    #[arg(long, value_enum, default_value_t)]
    pub output_format: OutputFormat,
}

/// Refuses bad arguments.
fn check(cmd: &CostCommand) -> anyhow::Result<()> {
    if !(cmd.rtt_ms.is_finite() && cmd.rtt_ms >= 0.0) {
        bail!("--rtt-ms must be a number >= 0, got {}", cmd.rtt_ms);
    }
    if !(cmd.bandwidth_mbps.is_finite() && cmd.bandwidth_mbps > 0.0) {
        bail!(
            "--bandwidth-mbps must be positive, got {}",
            cmd.bandwidth_mbps
        );
    }
    if Encoding::from(cmd.encoding) == Encoding::Split {
        // its per-part Gemms and Adds are not in the CrypTen measurements the model rests on
        bail!("--encoding split: the cost model covers the gathered and masked encodings only");
    }
    Ok(())
}

/// Runs `cost`.
pub fn run(cmd: CostCommand) -> anyhow::Result<ExitStatus> {
    check(&cmd)?;
    let protocols: Vec<&Constants> = match cmd.protocol {
        ProtocolArg::All => vec![&CRYPTEN, &DELPHI],
        ProtocolArg::Crypten => vec![&CRYPTEN],
        ProtocolArg::Delphi => vec![&DELPHI],
    };
    let link = Link {
        rtt_ms: cmd.rtt_ms,
        bandwidth_mbps: cmd.bandwidth_mbps,
    };
    let r = cost::report(
        &cmd.model,
        cmd.encoding.into(),
        !cmd.no_fold,
        &protocols,
        link,
    )?;
    let mut out = std::io::stdout().lock();
    if cmd.output_format == OutputFormat::Json {
        writeln!(out, "{}", serde_json::to_string_pretty(&r)?)?;
        return Ok(ExitStatus::Success);
    }
    writeln!(
        out,
        "model {}: {} of {} ReLUs kept, {} encoding, {}, RTT {} ms, {} Mbit/s",
        r.model.display(),
        r.relu_kept,
        r.relu_total,
        r.encoding,
        if r.fold { "folded" } else { "not folded" },
        r.rtt_ms,
        r.bandwidth_mbps
    )?;
    for p in &r.protocols {
        print_protocol(&mut out, p)?;
    }
    Ok(ExitStatus::Success)
}

/// One protocol's table, totals and times.
fn print_protocol(out: &mut impl Write, p: &ProtocolCost) -> anyhow::Result<()> {
    let c = &p.constants;
    writeln!(out, "\n{}", c.protocol)?;
    writeln!(out, "  ReLU:   {}", c.relu_source)?;
    writeln!(out, "  linear: {}", c.linear_source)?;
    writeln!(
        out,
        "  {:>5} {:>6} {:>9} {:>9} {:>13} {:>9} {:>14} {:>12} {:>6}",
        "node",
        "op",
        "input",
        "weights",
        "kept/total",
        "compared",
        "online B/party",
        "offline B",
        "rounds"
    )?;
    for l in &p.layers {
        print_layer(out, l)?;
    }
    for (name, part) in [
        ("ReLU", &p.relu),
        ("linear", &p.linear),
        ("total", &p.total),
    ] {
        writeln!(
            out,
            "  {:<7} online {:>12.0} B/party, {:>4} rounds; offline {:.0} B",
            name, part.online_bytes, part.rounds, part.offline_bytes
        )?;
    }
    if c.protocol == DELPHI.protocol {
        writeln!(
            out,
            "  (offline HE preprocessing of the linear layers is not modelled)"
        )?;
    }
    writeln!(
        out,
        "  time: {:.4} s online, {:.4} s offline",
        p.online_seconds, p.offline_seconds
    )?;
    writeln!(
        out,
        "  all ReLUs kept: ReLU part {:.0} B/party, {} rounds -> {:.2}x fewer ReLU bytes",
        p.all_kept_relu_online_bytes, p.all_kept_relu_rounds, p.relu_bytes_reduction
    )?;
    Ok(())
}

/// One row of a protocol's table.
fn print_layer(out: &mut impl Write, l: &LayerCost) -> anyhow::Result<()> {
    let g = &l.layer;
    let (op, kt, cmp) = match g.kind {
        Kind::Relu => (
            "relu",
            format!("{}/{}", g.relu_kept, g.relu_total),
            g.compared.to_string(),
        ),
        Kind::Conv => ("conv", "-".into(), "-".into()),
        Kind::Gemm => ("gemm", "-".into(), "-".into()),
        Kind::Output => ("output", "-".into(), "-".into()),
    };
    writeln!(
        out,
        "  {:>5} {:>6} {:>9} {:>9} {:>13} {:>9} {:>14.0} {:>12.0} {:>6}",
        g.node,
        op,
        g.input_elements,
        g.weight_elements,
        kt,
        cmp,
        l.online_bytes,
        l.offline_bytes,
        if l.rounds == 0.0 {
            "-".to_string()
        } else {
            format!("{}", l.rounds)
        }
    )?;
    Ok(())
}
