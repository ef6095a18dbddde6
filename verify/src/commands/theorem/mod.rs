//! `snl-verify theorem`: the no-free-lunch ceiling (T2) checked on a grid of alternating
//! data sets by two independent encodings, with a plot.
//!
//! For every `n` in `--min-n..=--max-n` and every `B` in `0..=n − 2`: the MILP over the CPWL
//! parameterization with `P = B + 1` pieces (`lp`), and z3 over the one-hidden-layer network
//! with `B` kept ReLUs plus one linearized unit (`smt`, linear encoding), each searching for
//! the largest `K` it proves achievable with `K + 1` refuted, without using the formula.
//! Also: z3 on the width-`B` all-kept network (one sign change lower for `B ≤ 2`), and the
//! direct nonlinear encoding at `K = ceiling` and `K = ceiling + 1`, run in a child process
//! that is killed at `--direct-timeout` (z3 4.8.12's nonlinear solver may ignore interrupts).
//! Two-layer rows check the depth-profile ceiling (T4) for `(B_1, B_2)` up to `(2, 2)`: the MILP
//! over CPWL functions with `(B_1 + 1)(B_2 + 1)` pieces, the exact composed-zigzag
//! construction, and the direct two-layer encoding at and above the ceiling.
//!
//! Exit status: 0 when every search is decided and agrees; **1 when anything contradicts the
//! ceiling** (a search settling elsewhere, a re-checked direct `sat` above the ceiling or
//! `unsat` at it, a two-layer MILP or construction off it), with one
//! `theorem: contradiction: …` line each on stderr; 3 when a search stayed unknown.
//! `theorem gap` computes the certified best-accuracy curve in the plane instead
//! ([`gap`], `snl_theory::nfl::dim`).
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::Args;
use serde::Serialize;

use crate::cli::{ExitStatus, OutputFormat};
use crate::plot;
use crate::theorem::{self, GridOptions, Row, TwoLayerRow};

pub mod gap;

/// The subcommands of `theorem`.
#[derive(Debug, clap::Subcommand)]
pub enum TheoremSub {
    /// The certified best-accuracy curve of one hidden layer against its kept ReLUs on
    /// small 2-D data sets: one MILP per point, every solver network re-checked exactly.
    Gap(gap::GapCommand),
}

/// Arguments of `theorem`.
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct TheoremCommand {
    /// `theorem gap`: the certified best-accuracy curve instead of the grid.
    #[command(subcommand)]
    pub sub: Option<TheoremSub>,
    /// Largest number of points.
    #[arg(long, default_value_t = 8)]
    pub max_n: usize,
    /// Smallest number of points.
    #[arg(long, default_value_t = 2)]
    pub min_n: usize,
    /// Time limit per solver query, in seconds (LP: per MILP; SMT: per "≥ K" query).
    #[arg(long, default_value_t = 60.0)]
    pub timeout: f64,
    /// Hard time limit of each direct (nonlinear) query, in seconds; 0 skips them (the
    /// two-layer rows then carry only the MILP and the exact construction).
    #[arg(long, default_value_t = 5.0)]
    pub direct_timeout: f64,
    /// `text` (tables) or `json` (`{"one_layer": [rows], "two_layer": [rows]}`).
    #[arg(long, value_enum, default_value_t)]
    pub output_format: OutputFormat,
    /// Where to write the plot (`.svg` or `.png`). Its labels use the `.ttf` file the
    /// environment variable SNL_FONT names, else DejaVuSans.ttf from the usual font folders
    /// (/usr/share/fonts/truetype/dejavu/: Debian package fonts-dejavu-core).
    #[arg(long, default_value = "papers/theorem/ceiling.svg")]
    pub plot: PathBuf,
    /// Do not write the plot.
    #[arg(long)]
    pub no_plot: bool,
    /// Internal: run one direct query `N,B,ARCH,K` and print its answer (child process).
    #[arg(long, hide = true)]
    pub direct_instance: Option<String>,
    /// Deprecated spelling of `theorem gap --data` (kept working, with a notice).
    #[arg(long, value_delimiter = ',', hide = true)]
    pub gap: Vec<String>,
    /// Deprecated: `theorem gap --n`.
    #[arg(long, default_value_t = 24, hide = true)]
    pub gap_n: usize,
    /// Deprecated: `theorem gap --max-b`.
    #[arg(long, default_value_t = 4, hide = true)]
    pub gap_max_b: usize,
    /// Deprecated: `theorem gap --inputs`.
    #[arg(long, hide = true)]
    pub gap_inputs: Option<PathBuf>,
    /// Deprecated: `theorem gap --dump`.
    #[arg(long, value_name = "DIR", requires = "gap", hide = true)]
    pub gap_dump: Option<PathBuf>,
    /// Testing only: answer every direct query with this word (`sat`, `unsat`, `unknown`)
    /// instead of running z3, to exercise the contradiction check.
    #[arg(long, hide = true)]
    pub direct_stub: Option<String>,
}

/// Runs one direct query in a child process of this binary, killed after `limit`.
fn direct_query(
    n: usize,
    b: usize,
    arch: &str,
    k: usize,
    limit: Duration,
) -> anyhow::Result<String> {
    let exe = std::env::current_exe().context("cannot find the snl-verify binary")?;
    let mut child = Command::new(exe)
        .args([
            "theorem",
            "--direct-instance",
            &format!("{n},{b},{arch},{k}"),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .context("cannot start the direct-encoding child")?;
    let t0 = Instant::now();
    loop {
        if child.try_wait()?.is_some() {
            let mut out = String::new();
            if let Some(mut s) = child.stdout.take() {
                std::io::Read::read_to_string(&mut s, &mut out)?;
            }
            let word = out.trim();
            return Ok(if ["sat", "unsat", "unknown"].contains(&word) {
                word.to_string()
            } else {
                "unknown".to_string()
            });
        }
        if t0.elapsed() >= limit {
            child.kill()?;
            child.wait()?;
            return Ok("unknown".to_string());
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A direct query's answer: the stub when one is set, else a child process.
fn direct(
    cmd: &TheoremCommand,
    n: usize,
    b: usize,
    arch: &str,
    k: usize,
) -> anyhow::Result<String> {
    if let Some(word) = &cmd.direct_stub {
        return Ok(word.clone());
    }
    direct_query(n, b, arch, k, Duration::from_secs_f64(cmd.direct_timeout))
}

fn opt(v: Option<usize>) -> String {
    v.map_or("unknown".to_string(), |k| k.to_string())
}

/// Runs `theorem`.
pub fn run(cmd: TheoremCommand) -> anyhow::Result<ExitStatus> {
    if let Some(spec) = &cmd.direct_instance {
        println!("{}", theorem::answer_direct(spec)?);
        return Ok(ExitStatus::Success);
    }
    if let Some(TheoremSub::Gap(g)) = &cmd.sub {
        return gap::run(g);
    }
    if !cmd.gap.is_empty() {
        return deprecated_gap(&cmd);
    }
    check(&cmd)?;
    let opts = GridOptions {
        timeout: cmd.timeout,
        direct_timeout: cmd.direct_timeout,
    };
    let mut answer = |n: usize, b: usize, arch: &str, k: usize| direct(&cmd, n, b, arch, k);
    let mut err = std::io::stderr().lock();
    let rows = theorem::one_layer_rows(&opts, cmd.min_n, cmd.max_n, &mut answer, |r| {
        print_progress(&mut err, r)
    })?;
    let two = theorem::two_layer_rows(&opts, cmd.min_n, cmd.max_n, &mut answer)?;
    let plot_note = if cmd.no_plot {
        None
    } else {
        Some(
            plot::plot(&rows, &cmd.plot)
                .with_context(|| format!("cannot write {}", cmd.plot.display()))?,
        )
    };
    let mut out = std::io::stdout().lock();
    match cmd.output_format {
        OutputFormat::Json => writeln!(
            out,
            "{}",
            serde_json::to_string_pretty(&Grid {
                one_layer: &rows,
                two_layer: &two,
            })?
        )?,
        OutputFormat::Text => print_text(&mut out, &rows, &two, plot_note.as_deref())?,
    }
    let found = theorem::contradictions(&rows, &two);
    for c in &found {
        writeln!(err, "theorem: contradiction: {c}")?;
    }
    Ok(status(&rows, &found))
}

/// `theorem --gap …`: `theorem gap` with the deprecated argument names, after a notice.
fn deprecated_gap(cmd: &TheoremCommand) -> anyhow::Result<ExitStatus> {
    eprintln!("warning: `theorem --gap` is deprecated: use `theorem gap --data …` (--gap-n → --n, --gap-max-b → --max-b, --gap-inputs → --inputs, --gap-dump → --dump)");
    gap::run(&gap::GapCommand {
        data: cmd.gap.clone(),
        n: cmd.gap_n,
        max_b: cmd.gap_max_b,
        inputs: cmd.gap_inputs.clone(),
        classes: vec![2, 4],
        timeout: cmd.timeout,
        dump: cmd.gap_dump.clone(),
        output_format: cmd.output_format,
    })
}

/// Refuses bad arguments of the grid.
fn check(cmd: &TheoremCommand) -> anyhow::Result<()> {
    if cmd.min_n < 2 || cmd.max_n < cmd.min_n {
        bail!("need 2 <= --min-n <= --max-n");
    }
    if cmd.max_n > 12 {
        bail!("--max-n above 12 is not supported (the grid is exponential in the worst case)");
    }
    if !cmd.timeout.is_finite() || cmd.timeout <= 0.0 {
        bail!("--timeout must be positive");
    }
    if let Some(w) = &cmd.direct_stub {
        if !["sat", "unsat", "unknown"].contains(&w.as_str()) {
            bail!("--direct-stub must be sat, unsat or unknown, got '{w}'");
        }
    }
    let ext = cmd.plot.extension().and_then(|e| e.to_str()).unwrap_or("");
    if !cmd.no_plot && !["svg", "png"].contains(&ext) {
        bail!(
            "--plot must end in .svg or .png, got '{}'",
            cmd.plot.display()
        );
    }
    Ok(())
}

/// One progress line on stderr per one-layer row.
fn print_progress(err: &mut impl Write, r: &Row) -> anyhow::Result<()> {
    writeln!(
        err,
        "theorem: n={} B={} ceiling={} lp={} ({} ms) smt={} ({} ms) all-kept {}/{} direct {}/{}",
        r.n,
        r.b,
        r.ceiling,
        opt(r.lp),
        r.lp_ms,
        opt(r.smt),
        r.smt_ms,
        opt(r.smt_all_kept),
        r.ceiling_all_kept,
        r.direct_at_ceiling,
        r.direct_above
    )?;
    Ok(())
}

/// 1 when anything contradicts the ceilings, else 3 when a search stayed unknown, else 0.
fn status(rows: &[Row], contradictions: &[String]) -> ExitStatus {
    let known = |v: Option<usize>| v.is_some();
    if !contradictions.is_empty() {
        ExitStatus::Refuted
    } else if rows
        .iter()
        .all(|r| known(r.lp) && known(r.smt) && known(r.smt_all_kept))
    {
        ExitStatus::Success
    } else {
        ExitStatus::Unknown
    }
}

/// The tables for people: the one-layer grid, its agreement line, the two-layer rows.
fn print_text(
    out: &mut impl Write,
    rows: &[Row],
    two: &[TwoLayerRow],
    plot_note: Option<&str>,
) -> anyhow::Result<()> {
    writeln!(
        out,
        "{:>2} {:>2} {:>2} {:>7} {:>7} {:>7} {:>8} {:>8} | {:>8} {:>8} {:>8} | {:>7} {:>7} {:>8}",
        "n",
        "B",
        "P",
        "ceiling",
        "LP",
        "SMT",
        "LP ms",
        "SMT ms",
        "ceil(kB)",
        "SMT(kB)",
        "ms",
        "direct",
        "dir>c",
        "dir ms"
    )?;
    for r in rows {
        writeln!(
            out,
            "{:>2} {:>2} {:>2} {:>7} {:>7} {:>7} {:>8} {:>8} | {:>8} {:>8} {:>8} | {:>7} {:>7} {:>8}",
            r.n,
            r.b,
            r.pieces,
            r.ceiling,
            opt(r.lp),
            opt(r.smt),
            r.lp_ms,
            r.smt_ms,
            r.ceiling_all_kept,
            opt(r.smt_all_kept),
            r.smt_all_kept_ms,
            r.direct_at_ceiling,
            r.direct_above,
            r.direct_ms
        )?;
    }
    let agree = rows
        .iter()
        .filter(|r| r.lp == Some(r.ceiling) && r.smt == Some(r.ceiling))
        .count();
    writeln!(
        out,
        "\nLP and SMT both equal the ceiling on {agree} of {} instances; all-kept SMT equals its ceiling on {} of {}",
        rows.len(),
        rows.iter()
            .filter(|r| r.smt_all_kept == Some(r.ceiling_all_kept))
            .count(),
        rows.len()
    )?;
    if !two.is_empty() {
        writeln!(
            out,
            "\nTwo hidden layers (B1 and B2 kept + 1 linearized unit each): ceiling min(n, ⌈(n + (B1+1)(B2+1))/2⌉)"
        )?;
        writeln!(
            out,
            "{:>2} {:>2} {:>2} {:>7} {:>9} {:>7} {:>7} {:>9} {:>9} {:>8}",
            "n", "B1", "B2", "ceiling", "1-layer", "MILP", "constr", "direct", "dir>c", "ms"
        )?;
        for r in two {
            writeln!(
                out,
                "{:>2} {:>2} {:>2} {:>7} {:>9} {:>7} {:>7} {:>9} {:>9} {:>8}",
                r.n,
                r.b1,
                r.b2,
                r.ceiling,
                r.one_layer_ceiling,
                opt(r.lp),
                r.construction,
                r.direct_at_ceiling,
                r.direct_above,
                r.direct_ms
            )?;
        }
    }
    if let Some(note) = plot_note {
        writeln!(out, "plot: {note}")?;
    }
    Ok(())
}

/// The JSON document: the one-layer grid and the two-layer rows.
#[derive(Serialize)]
struct Grid<'a> {
    one_layer: &'a [Row],
    two_layer: &'a [TwoLayerRow],
}
