//! `snl-verify cost --model M [--protocol crypten|delphi|all] [--encoding gathered|masked]`:
//! a private-inference cost model. Per ReLU layer, the comparisons a protocol evaluates
//! (kept units with the gathered ONNX encoding; every unit with the masked one, which keeps
//! a comparison on linearized units too) times published per-ReLU constants, next to the
//! same network with every ReLU kept.
//!
//! Constants (sources and caveats in docs/pi-cost.md):
//!
//! | protocol | per ReLU | per ReLU layer | source |
//! |---|---|---|---|
//! | `crypten` | 464 B per party (online) | 9 rounds | measured here: CrypTen 0.4.1, 2 parties, trusted-first-party provider (papers/pi) |
//! | `delphi` | 17,000 B offline + 1,200 B online, 0.1 ms garbling (offline, 1 core) | 1 online round (assumed) | Delphi (Mishra et al., USENIX Security 2020), garbled-circuit ReLU, figures as quoted in issue 10 |
//!
//! Time = rounds × RTT + bytes / bandwidth (+ garbling for Delphi offline), with `--rtt-ms`
//! and `--bandwidth-mbps`. Linear layers are not modelled (CrypTen: papers/pi measures
//! them as the fully linearized network's cost; Delphi: online cost negligible, offline
//! HE cost not modelled).
use std::io::Write;
use std::path::PathBuf;

use anyhow::{bail, Context};
use clap::{Args, ValueEnum};
use serde::Serialize;

use crate::cli::{ExitStatus, OutputFormat};
use crate::commands::vnnlib::EncodingArg;

/// Which protocol(s).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ProtocolArg {
    /// Both.
    #[default]
    All,
    /// CrypTen 0.4.1, 2 parties (measured constants).
    Crypten,
    /// Delphi-style garbled-circuit ReLUs.
    Delphi,
}

/// Per-ReLU constants of one protocol.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct Constants {
    /// Name.
    pub protocol: &'static str,
    /// Online bytes per compared unit, per party.
    pub online_bytes_per_relu: f64,
    /// Offline (preprocessing) bytes per compared unit.
    pub offline_bytes_per_relu: f64,
    /// Offline compute seconds per compared unit (one core).
    pub offline_seconds_per_relu: f64,
    /// Online rounds per ReLU layer with at least one compared unit.
    pub rounds_per_relu_layer: f64,
    /// Where the numbers come from.
    pub source: &'static str,
}

/// CrypTen 0.4.1, 2 parties, trusted-first-party provider: measured in papers/pi.
pub const CRYPTEN: Constants = Constants {
    protocol: "crypten",
    online_bytes_per_relu: 464.0,
    offline_bytes_per_relu: 0.0,
    offline_seconds_per_relu: 0.0,
    rounds_per_relu_layer: 9.0,
    source: "measured: CrypTen 0.4.1, world_size 2, TFP provider (papers/pi)",
};

/// Delphi-style garbled-circuit ReLU (figures as quoted in issue 10, from Delphi).
pub const DELPHI: Constants = Constants {
    protocol: "delphi",
    online_bytes_per_relu: 1200.0,
    offline_bytes_per_relu: 17000.0,
    offline_seconds_per_relu: 1e-4,
    rounds_per_relu_layer: 1.0,
    source: "Delphi (Mishra et al., USENIX Security 2020): GC ReLU ~17 KB offline, ~1.2 KB online, ~0.1 ms garbling; 1 online round per layer assumed",
};

/// Arguments of `cost`.
#[derive(Debug, Args)]
#[command(after_help = crate::cli::EXIT_CODES)]
pub struct CostCommand {
    /// The model file (snl `.safetensors`).
    #[arg(long)]
    pub model: PathBuf,
    /// The protocol(s) to price.
    #[arg(long, value_enum, default_value_t)]
    pub protocol: ProtocolArg,
    /// The ONNX encoding deployed: `gathered` compares kept units only, `masked` every unit.
    #[arg(long, value_enum, default_value_t)]
    pub encoding: EncodingArg,
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

/// One ReLU layer's cost under one protocol.
#[derive(Clone, Debug, Serialize)]
pub struct LayerCost {
    /// Node of the model file.
    pub node: usize,
    /// Units.
    pub total: usize,
    /// Kept units.
    pub kept: usize,
    /// Units compared under the encoding.
    pub compared: usize,
    /// Online bytes per party.
    pub online_bytes: f64,
    /// Offline bytes.
    pub offline_bytes: f64,
    /// Online rounds (0: the layer vanished).
    pub rounds: f64,
}

/// A protocol's totals.
#[derive(Clone, Debug, Serialize)]
pub struct ProtocolCost {
    /// Constants used.
    pub constants: Constants,
    /// Per ReLU layer.
    pub layers: Vec<LayerCost>,
    /// Online bytes per party.
    pub online_bytes: f64,
    /// Offline bytes.
    pub offline_bytes: f64,
    /// Online rounds.
    pub rounds: f64,
    /// rounds × RTT + online bytes / bandwidth.
    pub online_seconds: f64,
    /// Offline bytes / bandwidth + per-ReLU offline compute.
    pub offline_seconds: f64,
    /// The same network with every ReLU kept.
    pub all_relu_online_bytes: f64,
    /// Its rounds.
    pub all_relu_rounds: f64,
    /// all-ReLU online bytes / these online bytes.
    pub online_bytes_reduction: f64,
}

#[derive(Serialize)]
struct Report {
    model: PathBuf,
    encoding: snl_theory::onnx::Encoding,
    relu_total: usize,
    relu_kept: usize,
    rtt_ms: f64,
    bandwidth_mbps: f64,
    protocols: Vec<ProtocolCost>,
}

/// The cost of layers `(total, kept)` under `c`; `masked` compares every unit.
pub fn price(
    c: &Constants,
    layers: &[(usize, usize, usize)],
    masked: bool,
    rtt_s: f64,
    bytes_per_s: f64,
) -> ProtocolCost {
    let rows: Vec<LayerCost> = layers
        .iter()
        .map(|&(node, total, kept)| {
            let compared = if masked { total } else { kept };
            LayerCost {
                node,
                total,
                kept,
                compared,
                online_bytes: c.online_bytes_per_relu * compared as f64,
                offline_bytes: c.offline_bytes_per_relu * compared as f64,
                rounds: if compared > 0 {
                    c.rounds_per_relu_layer
                } else {
                    0.0
                },
            }
        })
        .collect();
    let online_bytes: f64 = rows.iter().map(|r| r.online_bytes).sum();
    let offline_bytes: f64 = rows.iter().map(|r| r.offline_bytes).sum();
    let rounds: f64 = rows.iter().map(|r| r.rounds).sum();
    let compared: usize = rows.iter().map(|r| r.compared).sum();
    let all_total: usize = layers.iter().map(|l| l.1).sum();
    let all_relu_online_bytes = c.online_bytes_per_relu * all_total as f64;
    let all_relu_rounds =
        c.rounds_per_relu_layer * layers.iter().filter(|l| l.1 > 0).count() as f64;
    ProtocolCost {
        constants: *c,
        layers: rows,
        online_bytes,
        offline_bytes,
        rounds,
        online_seconds: rounds * rtt_s + online_bytes / bytes_per_s,
        offline_seconds: offline_bytes / bytes_per_s + c.offline_seconds_per_relu * compared as f64,
        all_relu_online_bytes,
        all_relu_rounds,
        online_bytes_reduction: if online_bytes > 0.0 {
            all_relu_online_bytes / online_bytes
        } else {
            f64::INFINITY
        },
    }
}

/// Runs `cost`.
pub fn run(cmd: CostCommand) -> anyhow::Result<ExitStatus> {
    if !(cmd.rtt_ms.is_finite() && cmd.rtt_ms >= 0.0) {
        bail!("--rtt-ms must be a number >= 0, got {}", cmd.rtt_ms);
    }
    if !(cmd.bandwidth_mbps.is_finite() && cmd.bandwidth_mbps > 0.0) {
        bail!(
            "--bandwidth-mbps must be positive, got {}",
            cmd.bandwidth_mbps
        );
    }
    let net = snl_theory::load(&cmd.model).context("cannot read the model")?;
    let counts = net.relu_counts()?;
    let layers: Vec<(usize, usize, usize)> = counts
        .layers
        .iter()
        .map(|l| (l.node, l.total, l.kept))
        .collect();
    let masked = cmd.encoding == EncodingArg::Masked;
    let (rtt, bps) = (cmd.rtt_ms / 1000.0, cmd.bandwidth_mbps * 1e6 / 8.0);
    let protos: Vec<&Constants> = match cmd.protocol {
        ProtocolArg::All => vec![&CRYPTEN, &DELPHI],
        ProtocolArg::Crypten => vec![&CRYPTEN],
        ProtocolArg::Delphi => vec![&DELPHI],
    };
    let r = Report {
        model: cmd.model.clone(),
        encoding: cmd.encoding.into(),
        relu_total: counts.total,
        relu_kept: counts.kept,
        rtt_ms: cmd.rtt_ms,
        bandwidth_mbps: cmd.bandwidth_mbps,
        protocols: protos
            .into_iter()
            .map(|c| price(c, &layers, masked, rtt, bps))
            .collect(),
    };
    let mut out = std::io::stdout().lock();
    if cmd.output_format == OutputFormat::Json {
        writeln!(out, "{}", serde_json::to_string_pretty(&r)?)?;
        return Ok(ExitStatus::Success);
    }
    writeln!(
        out,
        "model {}: {} of {} ReLUs kept, {:?} encoding, RTT {} ms, {} Mbit/s",
        r.model.display(),
        r.relu_kept,
        r.relu_total,
        cmd.encoding,
        r.rtt_ms,
        r.bandwidth_mbps
    )?;
    for p in &r.protocols {
        writeln!(out, "\n{} ({})", p.constants.protocol, p.constants.source)?;
        writeln!(
            out,
            "  {:>5} {:>9} {:>9} {:>9} {:>14} {:>14} {:>6}",
            "node", "total", "kept", "compared", "online B/party", "offline B", "rounds"
        )?;
        for l in &p.layers {
            writeln!(
                out,
                "  {:>5} {:>9} {:>9} {:>9} {:>14.0} {:>14.0} {:>6}",
                l.node,
                l.total,
                l.kept,
                l.compared,
                l.online_bytes,
                l.offline_bytes,
                if l.rounds == 0.0 {
                    "-".to_string()
                } else {
                    format!("{}", l.rounds)
                }
            )?;
        }
        writeln!(
            out,
            "  total: online {:.0} B/party, {} rounds, {:.4} s online; offline {:.0} B, {:.4} s",
            p.online_bytes, p.rounds, p.online_seconds, p.offline_bytes, p.offline_seconds
        )?;
        writeln!(
            out,
            "  all ReLUs kept: {:.0} B/party, {} rounds -> {:.2}x fewer ReLU bytes",
            p.all_relu_online_bytes, p.all_relu_rounds, p.online_bytes_reduction
        )?;
    }
    Ok(ExitStatus::Success)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gathered_pays_for_kept_units_and_masked_for_all() {
        // three layers: 100 units 10 kept, 50 units none kept, 20 units all kept
        let layers = [(1, 100, 10), (3, 50, 0), (5, 20, 20)];
        let g = price(&CRYPTEN, &layers, false, 0.001, 1e9);
        assert_eq!(g.online_bytes, 464.0 * 30.0);
        // the empty layer vanished: 2 layers × 9 rounds
        assert_eq!(g.rounds, 18.0);
        assert_eq!(g.all_relu_rounds, 27.0);
        assert_eq!(g.all_relu_online_bytes, 464.0 * 170.0);
        let m = price(&CRYPTEN, &layers, true, 0.001, 1e9);
        assert_eq!(m.online_bytes, m.all_relu_online_bytes);
        assert_eq!(m.online_bytes_reduction, 1.0);
        // time = 27 rounds × 1 ms + bytes / 1 GB/s
        assert!((m.online_seconds - (0.027 + 464.0 * 170.0 / 1e9)).abs() < 1e-12);
        let d = price(&DELPHI, &layers, false, 0.0, 1e9);
        assert_eq!(d.offline_bytes, 17000.0 * 30.0);
        assert!((d.offline_seconds - (17000.0 * 30.0 / 1e9 + 30.0 * 1e-4)).abs() < 1e-12);
    }
}
