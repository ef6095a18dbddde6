//! Certified free linearization (`snl-verify free`): every kept ReLU whose pre-activation
//! keeps one sign on the domain `D` is replaced by the affine map it computes there
//! (`snl_theory::free`), so `M2 = M` on `D`, exactly; [`linearize`] checks `M2` against `M`
//! on deterministic samples of `D` before writing it. The command resolves the domain and
//! prints.
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context};
use serde::Serialize;
use snl_theory::bound::{samples, InputBox};
use snl_theory::free::{free_linearize, FreeReport};
use snl_theory::tolerance::{compare, Tolerance};
use snl_theory::Network;

/// Seed of the samples of `D` on which `M` and `M2` are compared.
const SAMPLE_SEED: u64 = 11;

/// Model-file information keys the writer sets itself (not carried over from `M`).
const RESERVED_INFO: [&str; 3] = ["format", "format_version", "network"];

/// What to linearize, where, and where to write it.
#[derive(Clone, Debug)]
pub struct FreeJob<'a> {
    /// The model file `M` was read from.
    pub model: &'a Path,
    /// Where to write `M2`.
    pub out: &'a Path,
    /// The domain `D`.
    pub domain: &'a InputBox,
    /// `D` in words (written into `M2`'s information).
    pub what: String,
    /// Points of `D` on which `M` and `M2` are compared.
    pub samples: usize,
    /// When the CROWN refinement stops (remaining units keep their interval bounds).
    pub deadline: Option<Instant>,
}

/// The outcome of [`linearize`].
#[derive(Clone, Debug, Serialize)]
pub struct FreeRun {
    /// The model file of `M`.
    pub model: PathBuf,
    /// The model file of `M2`.
    pub out: PathBuf,
    /// `D` in words.
    pub domain: String,
    /// The ReLUs replaced, per layer.
    #[serde(flatten)]
    pub free: FreeReport,
    /// Samples of D compared.
    pub samples: usize,
    /// The largest |M(x) − M2(x)| over the samples.
    pub max_abs_diff: f64,
    /// Wall time.
    pub seconds: f64,
}

/// Linearizes `net` (with its model-file `info`) for free on the job's domain, checks
/// `M2 = M` on the samples and writes `M2` with `info` and a `free_linearized` entry.
/// Nothing is written when the check fails.
pub fn linearize(
    net: &Network,
    mut info: BTreeMap<String, String>,
    job: FreeJob<'_>,
) -> anyhow::Result<FreeRun> {
    let start = Instant::now();
    let (m2, free) =
        free_linearize(net, job.domain, job.deadline).context("bound propagation failed")?;
    let max_abs_diff = max_difference(net, &m2, job.domain, job.samples)?;
    info.retain(|k, _| !RESERVED_INFO.contains(&k.as_str()));
    info.insert(
        "free_linearized".to_string(),
        format!(
            "on {}: {} of {} kept ReLUs replaced exactly by snl-verify free",
            job.what, free.saved, free.kept_before
        ),
    );
    snl_theory::io::model_file::save_with_info(&m2, &info, job.out)
        .with_context(|| format!("cannot write {}", job.out.display()))?;
    Ok(FreeRun {
        model: job.model.to_path_buf(),
        out: job.out.to_path_buf(),
        domain: job.what,
        free,
        samples: job.samples,
        max_abs_diff,
        seconds: start.elapsed().as_secs_f64(),
    })
}

/// The largest |M(x) − M2(x)| over `n` samples of `d`; an error at the first sample where
/// they differ beyond the tolerance.
fn max_difference(m: &Network, m2: &Network, d: &InputBox, n: usize) -> anyhow::Result<f64> {
    let mut max_abs_diff = 0.0f64;
    for (j, x) in samples(d, n, SAMPLE_SEED).iter().enumerate() {
        let (a, b) = (m.forward(x)?, m2.forward(x)?);
        if let Some(r) = compare(&b, &a, Tolerance::Close) {
            bail!("internal error: M2 differs from M at sample {j} of D ({r}); nothing written");
        }
        for (p, q) in a.iter().zip(&b) {
            max_abs_diff = max_abs_diff.max((p - q).abs());
        }
    }
    Ok(max_abs_diff)
}
