//! Exact linear regions of a model on a small input box, or its exact affine pieces along a
//! segment (any input size), next to T1's bound: what `snl-verify regions` reports. The
//! command reads the model and the points, checks the sizes and prints.
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use serde::Serialize;
use snl_theory::bound::InputBox;
use snl_theory::expressiveness::{t1_bound_for, T1Bound};
use snl_theory::regions::{self, Oracle};
use snl_theory::{Network, ReluCounts};

/// The regions (box) or pieces (segment) of one model.
#[derive(Clone, Debug, Serialize)]
pub struct RegionsReport {
    /// The model file.
    pub model: PathBuf,
    /// `box` or `segment`.
    pub mode: &'static str,
    /// The model's ReLUs.
    pub relus: ReluCounts,
    /// Regions (box) or cells (segment) found.
    pub regions: usize,
    /// Maximal affine pieces (segment only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pieces: Option<usize>,
    /// Breakpoints as segment parameters t ∈ (0, 1) (segment only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub breakpoints: Option<Vec<f64>>,
    /// T1 for the dimension counted in (the box's, or 1 along a segment).
    pub t1: T1Bound,
    /// Interior tests (exact interval or Fourier–Motzkin checks).
    pub tests: usize,
    /// Wall time of the count.
    pub seconds: f64,
}

/// The affine pieces of `net` (read from `model`) along the segment from `a` to `b`, both
/// of its input size.
pub fn along_segment(
    net: &Network,
    model: &Path,
    a: &[f64],
    b: &[f64],
) -> anyhow::Result<RegionsReport> {
    let start = Instant::now();
    let relus = net.relu_counts()?;
    let line = regions::restrict_to_segment(net, a, b)?;
    let p = regions::pieces_1d(&line, 0.0, 1.0).context("piece enumeration failed")?;
    Ok(RegionsReport {
        model: model.to_path_buf(),
        mode: "segment",
        relus,
        regions: p.cells,
        pieces: Some(p.pieces),
        breakpoints: Some(p.breakpoints.clone()),
        t1: t1_bound_for(net, 1)?,
        tests: p.cells,
        seconds: start.elapsed().as_secs_f64(),
    })
}

/// The linear regions of `net` (read from `model`) on `region`, in exact rational
/// arithmetic: interval tests with one input, Fourier–Motzkin elimination with two or three
/// (the caller keeps to [`regions::MAX_INPUT_DIM`] inputs and, above one input,
/// [`regions::MAX_KEPT`] kept ReLUs).
pub fn on_box(net: &Network, model: &Path, region: &InputBox) -> anyhow::Result<RegionsReport> {
    let start = Instant::now();
    let relus = net.relu_counts()?;
    let d = region.dim();
    let oracle = if d == 1 {
        Oracle::Interval
    } else {
        Oracle::Elimination
    };
    let rc = regions::count_regions(net, &region.lower, &region.upper, oracle)
        .context("region enumeration failed")?;
    Ok(RegionsReport {
        model: model.to_path_buf(),
        mode: "box",
        relus,
        regions: rc.cells.len(),
        pieces: None,
        breakpoints: None,
        t1: t1_bound_for(net, d)?,
        tests: rc.tests,
        seconds: start.elapsed().as_secs_f64(),
    })
}
