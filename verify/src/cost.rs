//! The private-inference cost model of the ONNX graph `snl export --format onnx` writes
//! (`snl-verify cost` prints it). Per deployed layer — each ReLU layer and each `Conv`/`Gemm`
//! left after the exporter's folds ([`snl_theory::io::onnx::deployed`]) — bytes and rounds
//! from per-element constants; totals for the ReLU part, the linear part and both.
//!
//! "Bytes per party" = bytes a party sends plus bytes it receives (CrypTen's own
//! accounting); with two parties that is the traffic on the wire.
//!
//! | protocol | ReLU layer (`c` compared units) | `Conv`/`Gemm` (input `x`, weight `W`) | source |
//! |---|---|---|---|
//! | `crypten` | `464·c` B, 9 rounds (0 when `c = 0`) | `16·(numel x + numel W)` B, 1 round | ReLU: measured (papers/pi). Linear: CrypTen 0.4.1's Beaver product opens `ε = x − a` and `δ = W − b` in one batched `all_reduce`, logged as `2 · 8` B per element (sent + received, 8-byte ring elements); bias adds, average pooling, truncation (2 parties), public `Mul`/`MatMul` by `Constant`s, `Gather`/`Concat`/`Reshape`/`Flatten` are local |
//! | `delphi` | `1,200·c` B online, `17,000·c` B offline, `0.1 ms·c` garbling; 1 round (assumed) | online `8·numel x` B (the client's masked share of the layer input, one 41-bit field element in a `u64`), 0 extra rounds; offline HE cost **not modelled** | ReLU: Delphi (USENIX Security 2020). Linear: Delphi's code (the mc2-project/delphi repository, not ours: `protocols/src/linear_layer.rs`, `online_client_protocol`; field `near_mersenne_64`, p = 2,061,584,302,081) |
//!
//! Delphi also sends the server's share of the output (`8·numel y` B, an `output` row).
//! Everything else in the graph (average pooling, unfolded batch norms as `Mul`/`Add` by
//! constants, residual `Add`, the gathered and masked ReLU plumbing) costs nothing in
//! either protocol. Time = rounds × RTT + bytes / bandwidth (+ garbling offline), with
//! `--rtt-ms` and `--bandwidth-mbps`. Derivation and checks: docs/pi-cost.md, papers/pi.
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::Serialize;
use snl_theory::io::onnx::{self, Encoding, ReluForm};
use snl_theory::{numel, Layer, Network};

/// Per-element constants of one protocol.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct Constants {
    /// Name.
    pub protocol: &'static str,
    /// Online bytes per compared ReLU unit, per party.
    pub relu_online_bytes: f64,
    /// Offline (preprocessing) bytes per compared ReLU unit.
    pub relu_offline_bytes: f64,
    /// Offline compute seconds per compared ReLU unit (one core).
    pub relu_offline_seconds: f64,
    /// Online rounds per ReLU layer with at least one compared unit.
    pub relu_rounds_per_layer: f64,
    /// Where the ReLU numbers come from.
    pub relu_source: &'static str,
    /// Online bytes per party per element of a `Conv`/`Gemm` input.
    pub linear_bytes_per_input: f64,
    /// Online bytes per party per element of a `Conv`/`Gemm` weight.
    pub linear_bytes_per_weight: f64,
    /// Online rounds per `Conv`/`Gemm`.
    pub linear_rounds_per_layer: f64,
    /// Online bytes per element of the network's output (a final share sent back).
    pub output_bytes_per_element: f64,
    /// Where the linear numbers come from, and what is not modelled.
    pub linear_source: &'static str,
}

/// CrypTen 0.4.1, 2 parties, trusted-first-party provider, model (party 0) and input
/// (party 1) encrypted.
pub const CRYPTEN: Constants = Constants {
    protocol: "crypten",
    relu_online_bytes: 464.0,
    relu_offline_bytes: 0.0,
    relu_offline_seconds: 0.0,
    relu_rounds_per_layer: 9.0,
    relu_source: "measured: CrypTen 0.4.1, world_size 2, TFP provider (papers/pi)",
    linear_bytes_per_input: 16.0,
    linear_bytes_per_weight: 16.0,
    linear_rounds_per_layer: 1.0,
    output_bytes_per_element: 0.0,
    linear_source: "CrypTen 0.4.1 Beaver product: one batched all_reduce of x - a and W - b, \
logged as 2 x 8 B per element (CrypTen's beaver.py, communicator.py); matches every papers/pi row",
};

/// Delphi-style: garbled-circuit ReLU (figures from Delphi) and
/// HE-preprocessed linear layers (online message from Delphi's code).
pub const DELPHI: Constants = Constants {
    protocol: "delphi",
    relu_online_bytes: 1200.0,
    relu_offline_bytes: 17000.0,
    relu_offline_seconds: 1e-4,
    relu_rounds_per_layer: 1.0,
    relu_source: "Delphi (Mishra et al., USENIX Security 2020): GC ReLU ~17 KB offline, \
~1.2 KB online, ~0.1 ms garbling; 1 online round per layer assumed",
    linear_bytes_per_input: 8.0,
    linear_bytes_per_weight: 0.0,
    linear_rounds_per_layer: 0.0,
    output_bytes_per_element: 8.0,
    linear_source: "Delphi code (mc2-project/delphi protocols/src/linear_layer.rs): the client \
sends its share of each Conv/FC input, one 41-bit field element per value in a u64; \
offline HE cost not modelled",
};

/// What a deployed layer is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// A ReLU layer of the model file (possibly vanished).
    Relu,
    /// An ONNX `Conv`.
    Conv,
    /// An ONNX `Gemm`.
    Gemm,
    /// The network's output (a final share, Delphi).
    Output,
}

/// One layer of the deployed graph, protocol-free.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct GraphLayer {
    /// Model-file node it comes from (for `output`: the last node).
    pub node: usize,
    /// Kind.
    pub kind: Kind,
    /// Elements of its input (ReLU: units; output: output elements).
    pub input_elements: usize,
    /// Elements of its weight (`Conv`/`Gemm`), else 0.
    pub weight_elements: usize,
    /// ReLU units (ReLU layers), else 0.
    pub relu_total: usize,
    /// Kept ReLU units, else 0.
    pub relu_kept: usize,
    /// Units the graph's `Relu` nodes compare (0: the layer vanished), else 0.
    pub compared: usize,
}

/// The layers of the graph `snl export --format onnx --encoding E [--no-fold]` writes, in
/// model-file node order: one row per ReLU layer of the model file (with what the export's
/// summary says it compares), one per `Conv`/`Gemm` after the folds, and the output.
pub fn graph_layers(
    net: &Network,
    encoding: Encoding,
    fold: bool,
) -> snl_theory::Result<Vec<GraphLayer>> {
    let (simple, origin, relu_layers) = onnx::deployed(net, encoding, fold)?;
    let shapes = simple.shapes()?;
    let mut rows = Vec::new();
    for (k, node) in simple.nodes.iter().enumerate() {
        let (kind, weight_elements) = match &node.layer {
            Layer::Dense(a) => (Kind::Gemm, a.weight.len()),
            Layer::Conv2d(c) => (Kind::Conv, c.weight.len()),
            _ => continue,
        };
        rows.push(GraphLayer {
            node: origin[k],
            kind,
            input_elements: numel(&shapes[node.inputs[0]]),
            weight_elements,
            relu_total: 0,
            relu_kept: 0,
            compared: 0,
        });
    }
    // the ReLU layers exactly as the exporter writes them (plain, gathered, masked, vanished)
    for l in &relu_layers {
        rows.push(GraphLayer {
            node: l.node,
            kind: Kind::Relu,
            input_elements: l.total,
            weight_elements: 0,
            relu_total: l.total,
            relu_kept: l.kept,
            compared: if l.form == ReluForm::Vanished {
                0
            } else {
                l.relu_elements
            },
        });
    }
    rows.sort_by_key(|r| (r.node, r.kind != Kind::Relu));
    rows.push(GraphLayer {
        node: net.nodes.len().saturating_sub(1),
        kind: Kind::Output,
        input_elements: numel(shapes.last().expect("shapes holds the input")),
        weight_elements: 0,
        relu_total: 0,
        relu_kept: 0,
        compared: 0,
    });
    Ok(rows)
}

/// One deployed layer's cost under one protocol.
#[derive(Clone, Debug, Serialize)]
pub struct LayerCost {
    /// The layer.
    #[serde(flatten)]
    pub layer: GraphLayer,
    /// Online bytes per party.
    pub online_bytes: f64,
    /// Offline bytes (what the protocol's constants model).
    pub offline_bytes: f64,
    /// Online rounds.
    pub rounds: f64,
}

/// Bytes and rounds of one part (ReLU, linear) or of the whole graph.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct Part {
    /// Online bytes per party.
    pub online_bytes: f64,
    /// Online rounds.
    pub rounds: f64,
    /// Offline bytes.
    pub offline_bytes: f64,
}

impl Part {
    fn add(&mut self, l: &LayerCost) {
        self.online_bytes += l.online_bytes;
        self.rounds += l.rounds;
        self.offline_bytes += l.offline_bytes;
    }
}

/// A protocol's cost of the deployed graph.
#[derive(Clone, Debug, Serialize)]
pub struct ProtocolCost {
    /// Constants used.
    pub constants: Constants,
    /// Per deployed layer.
    pub layers: Vec<LayerCost>,
    /// ReLU layers.
    pub relu: Part,
    /// `Conv`/`Gemm` layers and the output.
    pub linear: Part,
    /// Both.
    pub total: Part,
    /// rounds × RTT + online bytes / bandwidth.
    pub online_seconds: f64,
    /// Offline bytes / bandwidth + per-ReLU offline compute.
    pub offline_seconds: f64,
    /// The ReLU part with every ReLU kept (same linear layers).
    pub all_kept_relu_online_bytes: f64,
    /// Its rounds.
    pub all_kept_relu_rounds: f64,
    /// All-kept ReLU bytes / these ReLU bytes (∞ when no ReLU is compared).
    pub relu_bytes_reduction: f64,
}

/// The cost of `layers` under `c`, with round-trip time `rtt_s` and `bytes_per_s`.
pub fn price(c: &Constants, layers: &[GraphLayer], rtt_s: f64, bytes_per_s: f64) -> ProtocolCost {
    let rows: Vec<LayerCost> = layers
        .iter()
        .map(|l| {
            let (online_bytes, offline_bytes, rounds) = match l.kind {
                Kind::Relu => (
                    c.relu_online_bytes * l.compared as f64,
                    c.relu_offline_bytes * l.compared as f64,
                    if l.compared > 0 {
                        c.relu_rounds_per_layer
                    } else {
                        0.0
                    },
                ),
                Kind::Conv | Kind::Gemm => (
                    c.linear_bytes_per_input * l.input_elements as f64
                        + c.linear_bytes_per_weight * l.weight_elements as f64,
                    0.0,
                    c.linear_rounds_per_layer,
                ),
                Kind::Output => (
                    c.output_bytes_per_element * l.input_elements as f64,
                    0.0,
                    0.0,
                ),
            };
            LayerCost {
                layer: l.clone(),
                online_bytes,
                offline_bytes,
                rounds,
            }
        })
        .collect();
    let (mut relu, mut linear) = (Part::default(), Part::default());
    for r in &rows {
        if r.layer.kind == Kind::Relu {
            relu.add(r);
        } else {
            linear.add(r);
        }
    }
    let total = Part {
        online_bytes: relu.online_bytes + linear.online_bytes,
        rounds: relu.rounds + linear.rounds,
        offline_bytes: relu.offline_bytes + linear.offline_bytes,
    };
    let relus = layers.iter().filter(|l| l.kind == Kind::Relu);
    let compared: usize = relus.clone().map(|l| l.compared).sum();
    let all_total: usize = relus.clone().map(|l| l.relu_total).sum();
    let all_kept_relu_online_bytes = c.relu_online_bytes * all_total as f64;
    let all_kept_relu_rounds =
        c.relu_rounds_per_layer * relus.filter(|l| l.relu_total > 0).count() as f64;
    ProtocolCost {
        constants: *c,
        layers: rows,
        relu,
        linear,
        total,
        online_seconds: total.rounds * rtt_s + total.online_bytes / bytes_per_s,
        offline_seconds: total.offline_bytes / bytes_per_s
            + c.relu_offline_seconds * compared as f64,
        all_kept_relu_online_bytes,
        all_kept_relu_rounds,
        relu_bytes_reduction: if relu.online_bytes > 0.0 {
            all_kept_relu_online_bytes / relu.online_bytes
        } else {
            f64::INFINITY
        },
    }
}

/// A model's cost under several protocols (what `snl-verify cost` prints).
#[derive(Clone, Debug, Serialize)]
pub struct CostReport {
    /// The model file.
    pub model: PathBuf,
    /// The ONNX encoding deployed.
    pub encoding: Encoding,
    /// Whether the exporter's folds are applied.
    pub fold: bool,
    /// ReLU units of the model.
    pub relu_total: usize,
    /// Kept ReLU units.
    pub relu_kept: usize,
    /// Round-trip time, milliseconds.
    pub rtt_ms: f64,
    /// Bandwidth, megabits per second.
    pub bandwidth_mbps: f64,
    /// One cost per protocol, in the order asked.
    pub protocols: Vec<ProtocolCost>,
}

/// The network between the parties.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Link {
    /// Round-trip time, milliseconds (`>= 0`).
    pub rtt_ms: f64,
    /// Bandwidth, megabits per second (`> 0`).
    pub bandwidth_mbps: f64,
}

/// Reads the model at `path` (snl model file or ONNX) and prices the graph it deploys as
/// (`encoding`, `fold`) under each of `protocols` over `link`.
pub fn report(
    path: &Path,
    encoding: Encoding,
    fold: bool,
    protocols: &[&Constants],
    link: Link,
) -> anyhow::Result<CostReport> {
    let net = snl_theory::load_any(path)
        .with_context(|| format!("cannot read the model {}", path.display()))?;
    let counts = net.relu_counts()?;
    let layers = graph_layers(&net, encoding, fold)
        .context("cannot build the ONNX graph the model deploys as")?;
    let (rtt, bps) = (link.rtt_ms / 1000.0, link.bandwidth_mbps * 1e6 / 8.0);
    Ok(CostReport {
        model: path.to_path_buf(),
        encoding,
        fold,
        relu_total: counts.total,
        relu_kept: counts.kept,
        rtt_ms: link.rtt_ms,
        bandwidth_mbps: link.bandwidth_mbps,
        protocols: protocols
            .iter()
            .map(|c| price(c, &layers, rtt, bps))
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use nalgebra::{DMatrix, DVector};
    use snl_theory::{Affine, AvgPool2d, BatchNorm, Conv2d, ReluMask};

    fn dense(r: usize, c: usize) -> Layer {
        Layer::Dense(Affine::new(
            DMatrix::from_fn(r, c, |i, j| ((i * 5 + j) as f64 * 0.3).sin()),
            DVector::from_fn(r, |i, _| i as f64 * 0.1),
        ))
    }

    /// [1,4,4] → conv 1→2 3×3 pad 1 → bn (foldable) → relu (5 of 32 kept) → avg-pool 2×2
    /// → flatten → dense 3×8 → relu (none kept) → dense 2×3.
    fn net() -> Network {
        let mut n = Network::new(vec![1, 4, 4]);
        n.push(Layer::Conv2d(Conv2d {
            in_channels: 1,
            out_channels: 2,
            kernel: [3, 3],
            stride: [1, 1],
            padding: [1, 1],
            weight: (0..18).map(|i| (i as f64 - 9.0) / 9.0).collect(),
            bias: vec![0.1, -0.1],
        }));
        n.push(Layer::BatchNorm(BatchNorm {
            gamma: vec![1.0, 2.0],
            beta: vec![0.0, 0.5],
            mean: vec![0.1, 0.2],
            var: vec![1.0, 4.0],
            eps: 1e-5,
        }));
        n.push(Layer::Relu(ReluMask::from_bools(
            &(0..32).map(|i| i % 7 == 0).collect::<Vec<_>>(),
        )));
        n.push(Layer::AvgPool2d(AvgPool2d {
            kernel: [2, 2],
            stride: [2, 2],
        }));
        n.push(Layer::Flatten);
        n.push(dense(3, 8));
        n.push(Layer::Relu(ReluMask::all_linearized(3)));
        n.push(dense(2, 3));
        n
    }

    fn bytes(p: &ProtocolCost) -> Vec<(Kind, f64, f64)> {
        p.layers
            .iter()
            .map(|l| (l.layer.kind, l.online_bytes, l.rounds))
            .collect()
    }

    #[test]
    fn crypten_prices_the_folded_gathered_graph_by_hand() {
        let n = net();
        let g = graph_layers(&n, Encoding::Gathered, true).unwrap();
        let p = price(&CRYPTEN, &g, 0.001, 1e9);
        // BN folded into the conv; the second ReLU vanished, so dense 3×8 and 2×3 fold into
        // one 2×8 Gemm. Conv: 16·(16 inputs + 18 weights) = 544 B, 1 round. ReLU: 5 kept
        // (units 0, 7, 14, 21, 28) × 464 = 2,320 B, 9 rounds. Gemm: 16·(8 + 16) = 384 B.
        assert_eq!(
            bytes(&p),
            vec![
                (Kind::Conv, 544.0, 1.0),
                (Kind::Relu, 2320.0, 9.0),
                // node 6, vanished; the folded Gemm carries node 7's index
                (Kind::Relu, 0.0, 0.0),
                (Kind::Gemm, 384.0, 1.0),
                (Kind::Output, 0.0, 0.0),
            ]
        );
        assert_eq!(p.relu.online_bytes, 2320.0);
        assert_eq!(p.linear.online_bytes, 928.0);
        assert_eq!(p.total.online_bytes, 3248.0);
        assert_eq!(p.total.rounds, 11.0);
        // every ReLU kept: (32 + 3) × 464 over 2 layers
        assert_eq!(p.all_kept_relu_online_bytes, 35.0 * 464.0);
        assert_eq!(p.all_kept_relu_rounds, 18.0);
        // time = 11 rounds × 1 ms + 3,248 B / 1 GB/s
        assert!((p.online_seconds - (0.011 + 3248.0 / 1e9)).abs() < 1e-15);
    }

    #[test]
    fn masked_and_unfolded_graphs_keep_their_layers() {
        let n = net();
        // masked: nothing vanishes, so nothing folds between the dense layers; every unit
        // is compared. Gemm 16·(8 + 24) = 512, ReLU 3 × 464 = 1,392, Gemm 16·(3 + 6) = 144.
        let m = price(
            &CRYPTEN,
            &graph_layers(&n, Encoding::Masked, true).unwrap(),
            0.0,
            1e9,
        );
        assert_eq!(
            bytes(&m),
            vec![
                (Kind::Conv, 544.0, 1.0),
                (Kind::Relu, 32.0 * 464.0, 9.0),
                (Kind::Gemm, 512.0, 1.0),
                (Kind::Relu, 1392.0, 9.0),
                (Kind::Gemm, 144.0, 1.0),
                (Kind::Output, 0.0, 0.0),
            ]
        );
        assert_eq!(m.relu_bytes_reduction, 1.0);
        // gathered, not folded: the BN stays (public Mul/Add: free), both Gemms stay
        let u = price(
            &CRYPTEN,
            &graph_layers(&n, Encoding::Gathered, false).unwrap(),
            0.0,
            1e9,
        );
        assert_eq!(u.linear.online_bytes, 544.0 + 512.0 + 144.0);
        assert_eq!(u.linear.rounds, 3.0);
        assert_eq!(u.relu.online_bytes, 2320.0);
    }

    #[test]
    fn delphi_pays_the_clients_input_share_per_linear_layer() {
        let g = graph_layers(&net(), Encoding::Gathered, true).unwrap();
        let d = price(&DELPHI, &g, 0.0, 1e9);
        // conv input 16 × 8 B, gemm input 8 × 8 B, output 2 × 8 B; ReLU 5 × 1,200 B online
        assert_eq!(d.linear.online_bytes, 128.0 + 64.0 + 16.0);
        assert_eq!(d.linear.rounds, 0.0);
        assert_eq!(d.relu.online_bytes, 6000.0);
        assert_eq!(d.relu.rounds, 1.0);
        assert_eq!(d.total.offline_bytes, 5.0 * 17000.0);
        assert!((d.offline_seconds - (5.0 * 17000.0 / 1e9 + 5.0 * 1e-4)).abs() < 1e-15);
    }
}
