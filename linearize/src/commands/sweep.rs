//! `snl sweep`: the method × seed grid of a Pareto sweep (every budget of a cell comes from one
//! `snl linearize --budgets` or `snl baseline --budgets` run), run here one cell after another,
//! or written as a Slurm job array (`--emit slurm`, one array task per cell) whose results the
//! same command merges afterwards (`--merge`).
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context};
use serde_json::{json, Value};

use crate::cli::{ExitStatus, OutputFormat};

/// How the grid is run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Emit {
    /// Run every cell here, one after another, then merge.
    #[default]
    Local,
    /// Write `<out>/sweep.slurm` (an `sbatch --array` script, one task per cell) and stop.
    Slurm,
}

/// Arguments of `sweep`.
#[derive(Debug, clap::Args)]
pub struct SweepCommand {
    /// The pretrained model file (teacher of every cell).
    #[arg(long)]
    pub model: PathBuf,
    /// Methods: `snl` and any of `random`, `uniform`, `snip`.
    #[arg(long, value_delimiter = ',', default_value = "snl,random,uniform,snip")]
    pub methods: Vec<String>,
    /// Seeds.
    #[arg(long, value_delimiter = ',', default_value = "0,1")]
    pub seeds: Vec<u64>,
    /// Budgets (fractions in (0, 1) or ReLU counts), as for `linearize --budgets`.
    #[arg(long)]
    pub budgets: String,
    /// Output folder: one `<method>-<seed>/` run and `<method>-<seed>.json` per cell,
    /// `sweep.json` merged.
    #[arg(long)]
    pub out: PathBuf,
    /// `local` (run here) or `slurm` (write a job-array script).
    #[arg(long, value_enum, default_value_t)]
    pub emit: Emit,
    /// Only merge the cells' JSON files into `sweep.json` (after a Slurm array).
    #[arg(long)]
    pub merge: bool,
    /// Extra `#SBATCH` lines for `--emit slurm`, e.g. `--sbatch --gres=gpu:1`.
    #[arg(long, allow_hyphen_values = true)]
    pub sbatch: Vec<String>,
    /// Arguments passed to every cell (data, device, fine-tune), e.g.
    /// `-- --data fashion-mnist --limit-train 8000 --finetune-epochs 2`; those meant for
    /// `linearize` only go in --snl-args.
    #[arg(last = true)]
    pub common: Vec<String>,
    /// Arguments for the `snl` cells only, e.g. `--snl-args=--lambda-schedule=budget`.
    #[arg(long, allow_hyphen_values = true)]
    pub snl_args: Vec<String>,
    /// `text` or `json` (of the merged result).
    #[arg(long, value_enum, default_value_t)]
    pub output_format: OutputFormat,
}

/// One cell of the grid: its name and its `snl` command line (without the program).
pub fn cells(c: &SweepCommand) -> anyhow::Result<Vec<(String, Vec<String>)>> {
    let mut out = Vec::new();
    for m in &c.methods {
        if !["snl", "random", "uniform", "snip"].contains(&m.as_str()) {
            bail!("--methods: unknown method '{m}' (snl, random, uniform, snip)");
        }
        for s in &c.seeds {
            let name = format!("{m}-{s}");
            let dir = c.out.join(&name);
            let mut args: Vec<String> = if m == "snl" {
                vec!["linearize".into()]
            } else {
                vec!["baseline".into(), "--method".into(), m.clone()]
            };
            args.extend([
                "--model".into(),
                c.model.display().to_string(),
                "--seed".into(),
                s.to_string(),
                "--budgets".into(),
                c.budgets.clone(),
                "--out".into(),
                dir.display().to_string(),
                "--output-format".into(),
                "json".into(),
            ]);
            if m == "snl" {
                args.extend(c.snl_args.iter().cloned());
            }
            args.extend(c.common.iter().cloned());
            out.push((name, args));
        }
    }
    if out.is_empty() {
        bail!("the grid is empty (give --methods and --seeds)");
    }
    Ok(out)
}

fn quote(s: &str) -> String {
    if s.chars()
        .all(|c| c.is_ascii_alphanumeric() || "-_./,=:".contains(c))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// The Slurm job-array script for the grid (`program` is the `snl` binary).
pub fn slurm_script(c: &SweepCommand, program: &Path, cells: &[(String, Vec<String>)]) -> String {
    let mut s = String::from("#!/bin/bash\n");
    s += &format!(
        "#SBATCH --job-name=snl-sweep\n#SBATCH --array=0-{}\n",
        cells.len() - 1
    );
    s += &format!(
        "#SBATCH --output={}/slurm-%A_%a.out\n",
        quote(&c.out.display().to_string())
    );
    for l in &c.sbatch {
        s += &format!("#SBATCH {l}\n");
    }
    s += "# One array task per cell (method × seed); each writes <out>/<cell>.json.\n";
    s += "# When all tasks are done, merge with the same sweep command plus --merge.\n";
    s += "set -euo pipefail\ncells=(\n";
    for (name, _) in cells {
        s += &format!("  {name}\n");
    }
    s += ")\ncase $SLURM_ARRAY_TASK_ID in\n";
    for (i, (name, args)) in cells.iter().enumerate() {
        let cmd: Vec<String> = args.iter().map(|a| quote(a)).collect();
        let json = quote(&c.out.join(format!("{name}.json")).display().to_string());
        s += &format!(
            "  {i}) {} {} > {json}.tmp || [ $? = 1 ]; mv {json}.tmp {json} ;;\n",
            quote(&program.display().to_string()),
            cmd.join(" ")
        );
    }
    s += "esac\n";
    s
}

/// Merges the cells' JSON files: one row per method, seed and budget.
pub fn merge(out: &Path, cells: &[(String, Vec<String>)]) -> anyhow::Result<Value> {
    let mut rows = Vec::new();
    let mut missing = Vec::new();
    for (name, _) in cells {
        let p = out.join(format!("{name}.json"));
        let Ok(text) = std::fs::read_to_string(&p) else {
            missing.push(name.clone());
            continue;
        };
        let v: Value =
            serde_json::from_str(&text).with_context(|| format!("{}: not JSON", p.display()))?;
        let budgets = v
            .pointer("/outcome/budgets")
            .or_else(|| v.get("budgets"))
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let (method, seed) = name.rsplit_once('-').expect("cell name");
        for mut b in budgets {
            b["method"] = json!(method);
            b["seed"] = json!(seed.parse::<u64>().unwrap_or(0));
            rows.push(b);
        }
    }
    if !missing.is_empty() {
        bail!(
            "{} of {} cells have no result yet: {}",
            missing.len(),
            cells.len(),
            missing.join(", ")
        );
    }
    Ok(json!({ "rows": rows }))
}

/// Runs `sweep`.
pub fn run(c: SweepCommand) -> anyhow::Result<ExitStatus> {
    let grid = cells(&c)?;
    let program = std::env::current_exe().context("cannot find the snl binary")?;
    std::fs::create_dir_all(&c.out)
        .with_context(|| format!("cannot create {}", c.out.display()))?;
    if c.emit == Emit::Slurm && !c.merge {
        let path = c.out.join("sweep.slurm");
        std::fs::write(&path, slurm_script(&c, &program, &grid))
            .with_context(|| format!("cannot write {}", path.display()))?;
        println!(
            "wrote {} ({} array tasks); submit with `sbatch {}`, then rerun this command with --merge",
            path.display(),
            grid.len(),
            path.display()
        );
        return Ok(ExitStatus::Success);
    }
    if !c.merge {
        for (i, (name, args)) in grid.iter().enumerate() {
            let json = c.out.join(format!("{name}.json"));
            if json.exists() {
                eprintln!("sweep {}/{}: {name} done before", i + 1, grid.len());
                continue;
            }
            eprintln!("sweep {}/{}: {name}", i + 1, grid.len());
            let out = Command::new(&program)
                .args(args)
                .stderr(std::process::Stdio::inherit())
                .output()
                .with_context(|| format!("cannot run {}", program.display()))?;
            match out.status.code() {
                Some(0) | Some(1) => std::fs::write(&json, &out.stdout)
                    .with_context(|| format!("cannot write {}", json.display()))?,
                _ => bail!("cell {name} failed ({})", out.status),
            }
        }
    }
    let merged = merge(&c.out, &grid)?;
    let path = c.out.join("sweep.json");
    std::fs::write(&path, serde_json::to_vec_pretty(&merged)?)
        .with_context(|| format!("cannot write {}", path.display()))?;
    match c.output_format {
        OutputFormat::Json => println!("{}", serde_json::to_string_pretty(&merged)?),
        OutputFormat::Text => {
            println!("method    seed   budget     kept  final test");
            for r in merged["rows"].as_array().into_iter().flatten() {
                println!(
                    "{:<8} {:>5} {:>8} {:>8}  {:>9.2}%",
                    r["method"].as_str().unwrap_or(""),
                    r["seed"],
                    r["budget"],
                    r["kept"],
                    100.0 * r["final_test"].as_f64().unwrap_or(f64::NAN)
                );
            }
            println!("merged: {}", path.display());
        }
    }
    Ok(ExitStatus::Success)
}
