//! `snl-verify vnncomp`: the VNN-COMP contract.
//!
//! One instance: `snl-verify vnncomp --onnx M --vnnlib P --timeout S [--out FILE]` prints
//! (and writes to `--out`) the competition's result: `unsat` (the property holds: no input
//! of the VNN-LIB's boxes reaches its violation set), `sat` followed by the counterexample
//! `((X_0 v) … (Y_0 v) …)`, `timeout`, `unknown` (stopped before the timeout without a
//! decision) or `error`.
//!
//! A batch: `snl-verify vnncomp --batch instances.csv --out results.csv` runs every row
//! `onnx,vnnlib,timeout` of a benchmark's `instances.csv` (paths relative to the CSV's
//! folder; `X.onnx` falls back to `X.onnx.gz`) and appends one row per instance in the
//! competition's columns `benchmark,onnx,vnnlib,prepare time,result,run time`, flushed
//! after each instance; a rerun after a kill resumes after the last complete row.
//!
//! Times: the timeout counts from the start of the instance, loading included; `prepare
//! time` is the loading (ONNX + VNN-LIB), `run time` the whole instance, loading included.
use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use snl_theory::bound::bab::{self, Level};
use snl_theory::bound::Verdict;
use snl_theory::spec::Spec;
use snl_theory::Network;

use crate::cli::ExitStatus;

/// Arguments of `vnncomp`.
#[derive(Debug, Args)]
#[command(after_help = "\
Result words (VNN-COMP): unsat = the property holds (proved), sat = a counterexample
(re-checked in real arithmetic on the network), timeout, unknown, error.

Exit codes (one instance): 0 unsat, 1 sat, 3 timeout/unknown, 2 error (bad files: one
line on stderr; `error` is also written to --out). A batch exits 0 when every instance
ran (whatever its result) and 2 on a bad CSV.")]
pub struct VnncompCommand {
    /// The network (ONNX, `.onnx` or `.onnx.gz`; or an snl `.safetensors` model file).
    #[arg(long, required_unless_present = "batch", conflicts_with = "batch")]
    pub onnx: Option<PathBuf>,
    /// The property (VNN-LIB, `.vnnlib` or `.vnnlib.gz`).
    #[arg(long, required_unless_present = "batch", conflicts_with = "batch")]
    pub vnnlib: Option<PathBuf>,
    /// Seconds for the instance, loading included (with --batch: taken from the CSV).
    #[arg(long, conflicts_with = "batch", allow_negative_numbers = true)]
    pub timeout: Option<f64>,
    /// A benchmark's `instances.csv` (`onnx,vnnlib,timeout` per row).
    #[arg(long)]
    pub batch: Option<PathBuf>,
    /// With --batch: one timeout for every instance, the smaller of this and the CSV's.
    #[arg(long, requires = "batch", allow_negative_numbers = true)]
    pub cap: Option<f64>,
    /// With --batch: the benchmark name written in the first column (default: the CSV's
    /// folder name).
    #[arg(long, requires = "batch")]
    pub benchmark: Option<String>,
    /// With --batch: run only the first N instances.
    #[arg(long, requires = "batch")]
    pub limit: Option<usize>,
    /// With --batch: write each counterexample to DIR/<row>.txt (row = 0-based CSV row).
    #[arg(long, requires = "batch")]
    pub cex_dir: Option<PathBuf>,
    /// The result file (one instance: the result, and the counterexample after `sat`;
    /// --batch: the results CSV, resumed when it exists).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// How far to go.
    #[arg(long, value_enum, default_value_t)]
    pub level: Level,
    /// One instance: also print how it was decided (stage, domains, depth, reason) as one
    /// JSON line on stderr.
    #[arg(long, conflicts_with = "batch")]
    pub report: bool,
}

/// One instance's answer.
#[derive(Clone, Debug, PartialEq)]
pub enum Answer {
    /// The property holds.
    Unsat,
    /// A counterexample: inputs and outputs.
    Sat(Vec<f64>, Vec<f64>),
    /// The timeout passed.
    Timeout,
    /// Stopped without a decision before the timeout.
    Unknown,
    /// The instance could not be run (bad file, unsupported operation).
    Error(String),
}

impl Answer {
    /// The result word.
    pub fn word(&self) -> &'static str {
        match self {
            Answer::Unsat => "unsat",
            Answer::Sat(..) => "sat",
            Answer::Timeout => "timeout",
            Answer::Unknown => "unknown",
            Answer::Error(_) => "error",
        }
    }

    /// The competition's result text: the word, and after `sat` the assignment.
    pub fn text(&self) -> String {
        let mut s = format!("{}\n", self.word());
        if let Answer::Sat(x, y) = self {
            // `{:e}`-free shortest round-trip decimals: each value reads back exactly
            let vals: Vec<String> = x
                .iter()
                .enumerate()
                .map(|(i, v)| format!("(X_{i} {v:?})"))
                .chain(y.iter().enumerate().map(|(j, v)| format!("(Y_{j} {v:?})")))
                .collect();
            s.push('(');
            s.push_str(&vals.join("\n "));
            s.push_str(")\n");
        }
        s
    }
}

/// Reads a network: ONNX by its suffix, else an snl model file.
pub fn load_net(path: &Path) -> anyhow::Result<Network> {
    Ok(snl_theory::io::onnx::load_any(path)?)
}

/// Loads and decides one instance under a deadline `timeout` from `start`; returns the
/// answer and the loading time.
pub fn run_instance(
    onnx: &Path,
    vnnlib: &Path,
    start: Instant,
    timeout: Duration,
    level: Level,
) -> (Answer, Duration) {
    let (answer, prepare, _) = run_instance_report(onnx, vnnlib, start, timeout, level);
    (answer, prepare)
}

/// [`run_instance`] with the verifier's report (`None` when loading failed).
pub fn run_instance_report(
    onnx: &Path,
    vnnlib: &Path,
    start: Instant,
    timeout: Duration,
    level: Level,
) -> (Answer, Duration, Option<bab::SpecReport>) {
    let deadline = start + timeout;
    let loaded = (|| -> anyhow::Result<(Network, Spec)> {
        // the loader's errors name the file already
        let net = load_net(onnx)?;
        let spec = snl_theory::io::vnnlib::read(vnnlib)?;
        Ok((net, spec))
    })();
    let prepare = start.elapsed();
    let (net, spec) = match loaded {
        Ok(v) => v,
        Err(e) => return (Answer::Error(format!("{e:#}")), prepare, None),
    };
    // a panic is a bug of ours: the instance is an `error`, and a batch goes on with the next
    let verified = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        net.verify_spec(&spec, level, Some(deadline))
    }));
    let verified = match verified {
        Ok(v) => v,
        Err(p) => {
            let what = p
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| p.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".to_string());
            return (
                Answer::Error(format!("internal error (a bug, please report): {what}")),
                prepare,
                None,
            );
        }
    };
    let (answer, report) = match verified {
        Ok(r) => (
            match r.verdict.clone() {
                Verdict::Proved => Answer::Unsat,
                Verdict::Refuted(c) => Answer::Sat(c.input, c.output),
                Verdict::Unknown { .. } if Instant::now() >= deadline => Answer::Timeout,
                Verdict::Unknown { .. } => Answer::Unknown,
            },
            Some(r),
        ),
        Err(e) => (Answer::Error(e.to_string()), None),
    };
    // a decision reached after the deadline does not count (the competition's rule)
    let answer = match answer {
        Answer::Unsat | Answer::Sat(..) if Instant::now() > deadline => Answer::Timeout,
        a => a,
    };
    (answer, prepare, report)
}

/// Runs the command.
pub fn run(cmd: VnncompCommand) -> anyhow::Result<ExitStatus> {
    if let Some(csv) = &cmd.batch {
        let out = cmd
            .out
            .as_deref()
            .context("--batch needs --out FILE (the results CSV)")?;
        return batch(&cmd, csv, out);
    }
    let (onnx, vnnlib) = (
        with_gz(cmd.onnx.as_deref().expect("clap: required")),
        with_gz(cmd.vnnlib.as_deref().expect("clap: required")),
    );
    let (onnx, vnnlib) = (onnx.as_path(), vnnlib.as_path());
    let timeout = cmd.timeout.unwrap_or(f64::INFINITY);
    let timeout = seconds(timeout, "--timeout")?;
    let start = Instant::now();
    let (answer, _, report) = run_instance_report(onnx, vnnlib, start, timeout, cmd.level);
    if let (true, Some(r)) = (cmd.report, &report) {
        let regions: Vec<serde_json::Value> = r
            .regions
            .iter()
            .map(|g| {
                serde_json::json!({
                    "decided_by": g.decided_by,
                    "domains": g.domains,
                    "max_depth": g.max_depth,
                    "unstable_kept": g.stats.unstable_kept,
                    "verdict": match &g.verdict {
                        Verdict::Proved => "proved".to_string(),
                        Verdict::Refuted(_) => "refuted".to_string(),
                        Verdict::Unknown { reason } => format!("unknown: {reason}"),
                    },
                })
            })
            .collect();
        let j = serde_json::json!({
            "result": answer.word(),
            "seconds": start.elapsed().as_secs_f64(),
            "regions": regions,
        });
        eprintln!("{j}");
    }
    let text = answer.text();
    print!("{text}");
    if let Some(out) = &cmd.out {
        snl_theory::io::model_file::write_atomic(out, text.as_bytes())
            .with_context(|| format!("cannot write {}", out.display()))?;
    }
    Ok(match answer {
        Answer::Unsat => ExitStatus::Success,
        Answer::Sat(..) => ExitStatus::Refuted,
        Answer::Timeout | Answer::Unknown => ExitStatus::Unknown,
        Answer::Error(e) => bail!("{e}"),
    })
}

/// A non-negative number of seconds (infinity: no limit, about a century).
fn seconds(s: f64, flag: &str) -> anyhow::Result<Duration> {
    if s.is_nan() || s <= 0.0 {
        bail!("{flag} must be a positive number of seconds, got {s}");
    }
    Ok(Duration::from_secs_f64(s.min(3.15e9)))
}

/// One row of `instances.csv`.
struct Row {
    onnx: String,
    vnnlib: String,
    timeout: f64,
}

fn read_instances(csv: &Path) -> anyhow::Result<Vec<Row>> {
    let text =
        std::fs::read_to_string(csv).with_context(|| format!("cannot read {}", csv.display()))?;
    let mut rows = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let f: Vec<&str> = line.split(',').map(str::trim).collect();
        let bad = || {
            format!(
                "{}:{}: expected `onnx,vnnlib,timeout`",
                csv.display(),
                i + 1
            )
        };
        if f.len() != 3 {
            bail!("{}", bad());
        }
        let timeout: f64 = f[2].parse().with_context(bad)?;
        if timeout.is_nan() || timeout <= 0.0 {
            bail!("{}: the timeout must be positive", bad());
        }
        rows.push(Row {
            onnx: f[0].to_string(),
            vnnlib: f[1].to_string(),
            timeout,
        });
    }
    Ok(rows)
}

/// `dir/p`, or `dir/p.gz` when only that exists.
fn resolve(dir: &Path, p: &str) -> PathBuf {
    with_gz(&dir.join(p))
}

/// `path`, or `path.gz` when only that exists (instances.csv names `X.onnx`, benchmark
/// folders ship `X.onnx.gz`).
fn with_gz(path: &Path) -> PathBuf {
    if !path.exists() {
        let mut gz = path.as_os_str().to_owned();
        gz.push(".gz");
        let gz = PathBuf::from(gz);
        if gz.exists() {
            return gz;
        }
    }
    path.to_path_buf()
}

/// The complete rows of an earlier run's results CSV (a torn last line is dropped and the
/// file rewritten without it).
fn done_rows(out: &Path) -> anyhow::Result<usize> {
    if !out.exists() {
        return Ok(0);
    }
    let text =
        std::fs::read_to_string(out).with_context(|| format!("cannot read {}", out.display()))?;
    let complete = match text.rfind('\n') {
        Some(i) => &text[..=i],
        None => "",
    };
    if complete.len() != text.len() {
        snl_theory::io::model_file::write_atomic(out, complete.as_bytes())?;
    }
    Ok(complete.lines().filter(|l| !l.trim().is_empty()).count())
}

fn batch(cmd: &VnncompCommand, csv: &Path, out: &Path) -> anyhow::Result<ExitStatus> {
    let rows = read_instances(csv)?;
    let dir = csv.parent().unwrap_or(Path::new("."));
    let bench = match &cmd.benchmark {
        Some(b) => b.clone(),
        None => std::fs::canonicalize(dir)
            .ok()
            .and_then(|d| d.file_name().map(|n| n.to_string_lossy().into_owned()))
            .unwrap_or_else(|| "benchmark".to_string()),
    };
    if let Some(c) = cmd.cap {
        seconds(c, "--cap")?;
    }
    let n = cmd.limit.unwrap_or(rows.len()).min(rows.len());
    let done = done_rows(out)?;
    if done > n {
        bail!(
            "{} already holds {done} rows, more than the {n} instances to run: is it another benchmark's?",
            out.display()
        );
    }
    if let Some(d) = &cmd.cex_dir {
        std::fs::create_dir_all(d).with_context(|| format!("cannot create {}", d.display()))?;
    }
    let mut file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(out)
        .with_context(|| format!("cannot open {}", out.display()))?;
    let bar = ProgressBar::new(n as u64);
    bar.set_style(
        ProgressStyle::with_template(
            "vnncomp {bar:30} {pos}/{len}  {msg}  [{elapsed_precise} < {eta_precise}]",
        )
        .expect("a valid template"),
    );
    bar.set_position(done as u64);
    if done > 0 {
        bar.println(format!(
            "resuming after {done} instances already in {}",
            out.display()
        ));
    }
    let mut counts = std::collections::BTreeMap::<&str, usize>::new();
    for (i, row) in rows.iter().enumerate().take(n).skip(done) {
        let timeout = cmd.cap.map_or(row.timeout, |c| c.min(row.timeout));
        let onnx = resolve(dir, &row.onnx);
        let vnnlib = resolve(dir, &row.vnnlib);
        let start = Instant::now();
        let (answer, prepare) = run_instance(
            &onnx,
            &vnnlib,
            start,
            Duration::from_secs_f64(timeout),
            cmd.level,
        );
        let total = start.elapsed();
        if let (Some(d), Answer::Sat(..)) = (&cmd.cex_dir, &answer) {
            let p = d.join(format!("{i}.txt"));
            snl_theory::io::model_file::write_atomic(&p, answer.text().as_bytes())
                .with_context(|| format!("cannot write {}", p.display()))?;
        }
        if let Answer::Error(e) = &answer {
            bar.println(format!(
                "row {i} ({}, {}): error: {e}",
                row.onnx, row.vnnlib
            ));
        }
        // one write per row, then flushed: a kill leaves at most a torn last line
        let line = format!(
            "{bench},{},{},{:.6},{},{:.6}\n",
            row.onnx,
            row.vnnlib,
            prepare.as_secs_f64(),
            answer.word(),
            total.as_secs_f64()
        );
        file.write_all(line.as_bytes())?;
        file.sync_data()?;
        *counts.entry(answer.word()).or_default() += 1;
        bar.inc(1);
        bar.set_message(
            counts
                .iter()
                .map(|(k, v)| format!("{k} {v}"))
                .collect::<Vec<_>>()
                .join(", "),
        );
    }
    bar.finish();
    Ok(ExitStatus::Success)
}
