//! The plot of `snl-verify theorem`: accuracy (ceiling / n) against the kept ReLUs `B`, one
//! colour per number of points `n`, as SVG or PNG. Its labels use DejaVu Sans, found by
//! [`find_font`]: the file the environment variable [`FONT_ENV`] (`SNL_FONT`) names, else
//! the first of [`FONT_PATHS`] that exists.
use std::ffi::OsStr;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};

use crate::theorem::Row;

/// The environment variable that names the font file (a `.ttf`) the plot's labels use.
pub const FONT_ENV: &str = "SNL_FONT";

/// Where DejaVu Sans is looked for when [`FONT_ENV`] is unset, in this order: the path of
/// Debian's and Ubuntu's `fonts-dejavu-core`, then folders other systems' packages and a
/// manual install use.
pub const FONT_PATHS: [&str; 6] = [
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu-sans-fonts/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
    "/usr/local/share/fonts/dejavu/DejaVuSans.ttf",
    "/usr/local/share/fonts/DejaVuSans.ttf",
];

/// The font file: `env` (the value of [`FONT_ENV`]) when it is set and not empty, else the
/// first of `candidates` that is a file. A set `env` that names no file is an error (the
/// candidates are not tried); when no candidate exists, the error names each of them.
pub fn find_font(env: Option<&OsStr>, candidates: &[&Path]) -> anyhow::Result<PathBuf> {
    if let Some(p) = env.filter(|p| !p.is_empty()) {
        let p = PathBuf::from(p);
        if !p.is_file() {
            bail!("{FONT_ENV}={}: no such file", p.display());
        }
        return Ok(p);
    }
    if let Some(p) = candidates.iter().find(|p| p.is_file()) {
        return Ok(p.to_path_buf());
    }
    let tried: Vec<String> = candidates.iter().map(|p| p.display().to_string()).collect();
    bail!(
        "no font for the plot: {FONT_ENV} is unset and none of {} exists (install the Debian \
         package fonts-dejavu-core, set {FONT_ENV} to a .ttf file, or pass --no-plot)",
        tried.join(", ")
    )
}

/// Registers the font [`find_font`] finds (from the environment and [`FONT_PATHS`]) as
/// `sans-serif`.
fn register_font() -> anyhow::Result<()> {
    let env = std::env::var_os(FONT_ENV);
    let candidates: Vec<&Path> = FONT_PATHS.iter().map(Path::new).collect();
    let path = find_font(env.as_deref(), &candidates)?;
    let bytes =
        std::fs::read(&path).with_context(|| format!("cannot read the font {}", path.display()))?;
    let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
    plotters::style::register_font("sans-serif", plotters::style::FontStyle::Normal, bytes)
        .map_err(|_| anyhow::anyhow!("cannot register the font {}", path.display()))
}

/// Draws accuracy (ceiling / n) against B for each n: the theoretical curve as a line, the
/// LP results as circles and the SMT results as crosses. Returns a one-line description.
pub fn plot(rows: &[Row], path: &Path) -> anyhow::Result<String> {
    use plotters::prelude::*;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    register_font()?;
    let max_b = rows.iter().map(|r| r.b).max().unwrap_or(0) as f64;
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
    match ext {
        "svg" => draw(
            SVGBackend::new(path, (900, 600)).into_drawing_area(),
            rows,
            max_b,
        )?,
        "png" => draw(
            BitMapBackend::new(path, (900, 600)).into_drawing_area(),
            rows,
            max_b,
        )?,
        other => bail!("--plot must end in .svg or .png, got '{other}'"),
    }
    Ok(format!(
        "{} (lines: ceiling; circles: LP; crosses: SMT)",
        path.display()
    ))
}

fn draw<DB: plotters::prelude::DrawingBackend>(
    root: plotters::prelude::DrawingArea<DB, plotters::coord::Shift>,
    rows: &[Row],
    max_b: f64,
) -> anyhow::Result<()>
where
    DB::ErrorType: 'static,
{
    use plotters::prelude::*;
    {
        root.fill(&WHITE).map_err(|e| anyhow::anyhow!("{e}"))?;
        let mut chart = ChartBuilder::on(&root)
            .caption(
                "No free lunch: accuracy ceiling vs kept ReLUs (alternating data)",
                ("sans-serif", 20),
            )
            .margin(15)
            .x_label_area_size(40)
            .y_label_area_size(50)
            .build_cartesian_2d(-0.3..max_b + 0.3, 0.45..1.03)
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        chart
            .configure_mesh()
            .x_desc("B (kept ReLUs, plus one linearized unit); circles: LP, crosses: SMT")
            .x_labels(max_b as usize + 1)
            .x_label_formatter(&|v| format!("{v:.0}"))
            .y_desc("max accuracy = K / n")
            .draw()
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let ns: std::collections::BTreeSet<usize> = rows.iter().map(|r| r.n).collect();
        for (ci, &n) in ns.iter().enumerate() {
            let color = Palette99::pick(ci).to_rgba();
            let mine: Vec<&Row> = rows.iter().filter(|r| r.n == n).collect();
            chart
                .draw_series(LineSeries::new(
                    mine.iter()
                        .map(|r| (r.b as f64, r.ceiling as f64 / n as f64)),
                    color.stroke_width(2),
                ))
                .map_err(|e| anyhow::anyhow!("{e}"))?
                .label(format!("n = {n}: ceiling"))
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
                });
            chart
                .draw_series(mine.iter().filter_map(|r| {
                    r.lp.map(|k| {
                        Circle::new((r.b as f64, k as f64 / n as f64), 6, color.stroke_width(2))
                    })
                }))
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            chart
                .draw_series(mine.iter().filter_map(|r| {
                    r.smt.map(|k| {
                        Cross::new((r.b as f64, k as f64 / n as f64), 4, color.stroke_width(2))
                    })
                }))
                .map_err(|e| anyhow::anyhow!("{e}"))?;
        }
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .position(SeriesLabelPosition::LowerRight)
            .draw()
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        root.present().map_err(|e| anyhow::anyhow!("{e}"))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::theorem::{self, GridOptions};

    #[test]
    fn plots_are_written_as_svg_and_png() {
        let opts = GridOptions {
            timeout: 30.0,
            direct_timeout: 0.0,
        };
        let mut never = |_: usize, _: usize, _: &str, _: usize| -> anyhow::Result<String> {
            unreachable!("direct queries are skipped")
        };
        let rows: Vec<Row> = (0..=2)
            .map(|b| theorem::instance(&opts, 4, b, &mut never).unwrap())
            .collect();
        let dir = tempfile::tempdir().unwrap();
        let svg = dir.path().join("sub/c.svg");
        plot(&rows, &svg).unwrap();
        let text = std::fs::read_to_string(&svg).unwrap();
        assert!(text.contains("<svg") && text.contains("ceiling"));
        let png = dir.path().join("c.png");
        plot(&rows, &png).unwrap();
        let bytes = std::fs::read(&png).unwrap();
        assert_eq!(&bytes[1..4], b"PNG");
        assert!(plot(&rows, &dir.path().join("c.pdf")).is_err());
    }

    #[test]
    fn the_font_comes_from_the_variable_then_the_first_standard_place() {
        let dir = tempfile::tempdir().unwrap();
        let (mine, standard) = (dir.path().join("mine.ttf"), dir.path().join("std.ttf"));
        std::fs::write(&mine, b"font").unwrap();
        std::fs::write(&standard, b"font").unwrap();
        let missing = dir.path().join("missing.ttf");
        let places = [missing.as_path(), standard.as_path()];
        // the variable wins over every standard place
        assert_eq!(find_font(Some(mine.as_os_str()), &places).unwrap(), mine);
        // unset or empty: the first standard place that exists
        assert_eq!(find_font(None, &places).unwrap(), standard);
        assert_eq!(find_font(Some(OsStr::new("")), &places).unwrap(), standard);
        // set to a missing file: an error naming it, not a fallback
        let e = find_font(Some(missing.as_os_str()), &places).unwrap_err();
        assert!(e.to_string().contains("SNL_FONT=") && e.to_string().contains("missing.ttf"));
        // nothing anywhere: one line naming every place tried and the Debian package
        let e = find_font(None, &[missing.as_path()])
            .unwrap_err()
            .to_string();
        assert!(!e.contains('\n'), "{e}");
        assert!(
            e.contains("missing.ttf") && e.contains("fonts-dejavu-core"),
            "{e}"
        );
    }
}
