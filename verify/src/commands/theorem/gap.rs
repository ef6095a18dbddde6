//! `snl-verify theorem gap --data SETS`: the certified best-accuracy curve of one hidden
//! layer against its kept ReLUs on small 2-D data sets ([`crate::gap`]).
use std::io::Write;
use std::path::PathBuf;

use anyhow::{bail, Context};
use clap::Args;

use super::opt;
use crate::cli::{ExitStatus, OutputFormat};
use crate::gap::{self, GapRow, Source};

/// Arguments of `theorem gap`.
#[derive(Debug, Args)]
pub struct GapCommand {
    /// The data sets, a comma list of `checkerboard`, `moons`, `rings` (synthetic, seed 1)
    /// and `fmnist` (two classes of a test set on their first two principal components).
    #[arg(long, value_delimiter = ',', required = true)]
    pub data: Vec<String>,
    /// Points per synthetic data set.
    #[arg(long, default_value_t = 24)]
    pub n: usize,
    /// Largest number of kept ReLUs `B` (the curve runs over `B = 0..=max_b`).
    #[arg(long, default_value_t = 4)]
    pub max_b: usize,
    /// The test set for `fmnist` (docs/inputs-format.md).
    #[arg(long)]
    pub inputs: Option<PathBuf>,
    /// The two classes of `fmnist`, labelled +1 and −1 (default: 2 and 4, pullover and coat).
    #[arg(long, value_delimiter = ',', num_args = 1, default_values_t = [2, 4])]
    pub classes: Vec<usize>,
    /// Time limit of each MILP, in seconds.
    #[arg(long, default_value_t = 60.0)]
    pub timeout: f64,
    /// Write each data set's points to `DIR/<name>.safetensors` (a test-set file,
    /// docs/inputs-format.md: inputs `[n, 2, 1, 1]`, label 1 for `y = +1`) and stop without
    /// solving, for `snl train --data points --data-dir DIR/<name>.safetensors`.
    #[arg(long, value_name = "DIR")]
    pub dump: Option<PathBuf>,
    /// `text` (a table) or `json` (an array of rows).
    #[arg(long, value_enum, default_value_t)]
    pub output_format: OutputFormat,
}

/// Runs `theorem gap`: exit 0 when every point is decided, 3 when one stayed unknown.
pub fn run(cmd: &GapCommand) -> anyhow::Result<ExitStatus> {
    if !(2..=200).contains(&cmd.n) {
        bail!("--n must be in 2..=200");
    }
    if !cmd.timeout.is_finite() || cmd.timeout <= 0.0 {
        bail!("--timeout must be positive");
    }
    let [plus, minus] = cmd.classes[..] else {
        bail!("--classes takes two classes, e.g. 2,4");
    };
    if plus == minus {
        bail!("--classes needs two different classes");
    }
    let src = Source {
        n: cmd.n,
        inputs: cmd.inputs.as_deref(),
        classes: [plus, minus],
    };
    let sets = cmd
        .data
        .iter()
        .map(|g| Ok((g.clone(), gap::points(g, &src)?)))
        .collect::<anyhow::Result<Vec<_>>>()?;
    if let Some(dir) = &cmd.dump {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        for (name, p) in &sets {
            let path = dir.join(format!("{name}.safetensors"));
            p.to_samples(name)
                .save(&path)
                .with_context(|| format!("cannot write the {name} points"))?;
            println!("{}", path.display());
        }
        return Ok(ExitStatus::Success);
    }
    let mut err = std::io::stderr().lock();
    let rows = gap::curve(&sets, cmd.max_b, cmd.timeout, |row| {
        let r = &row.result;
        // progress on stderr; a closed stderr must not stop the search
        let _ = writeln!(
            err,
            "gap: {} n={} B={} best={} found={} ({}, {} ms)",
            row.dataset,
            r.n,
            r.b,
            opt(r.best),
            r.found,
            r.status,
            r.millis
        );
    });
    print(&rows, cmd.output_format)?;
    // `found` (strict, exact) may exceed `best` (margin 1 inside the box): no contradiction
    Ok(if rows.iter().all(|r| r.result.best.is_some()) {
        ExitStatus::Success
    } else {
        ExitStatus::Unknown
    })
}

fn print(rows: &[GapRow], format: OutputFormat) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    match format {
        OutputFormat::Json => writeln!(out, "{}", serde_json::to_string_pretty(rows)?)?,
        OutputFormat::Text => {
            writeln!(
                out,
                "{:>12} {:>3} {:>2} {:>5} {:>6} {:>10} {:>8}",
                "data", "n", "B", "best", "found", "status", "ms"
            )?;
            for r in rows {
                writeln!(
                    out,
                    "{:>12} {:>3} {:>2} {:>5} {:>6} {:>10} {:>8}",
                    r.dataset,
                    r.result.n,
                    r.result.b,
                    opt(r.result.best),
                    r.result.found,
                    r.result.status,
                    r.result.millis
                )?;
            }
        }
    }
    Ok(())
}
