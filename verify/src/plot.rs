//! The plot of `snl-verify theorem`: accuracy (ceiling / n) against the kept ReLUs `B`, one
//! colour per number of points `n`, as SVG or PNG, labelled in DejaVu Sans.
use std::path::Path;

use anyhow::{bail, Context};

use crate::theorem::Row;

fn register_font() -> anyhow::Result<()> {
    let path = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf";
    let bytes = std::fs::read(path).with_context(|| {
        format!("cannot read the font {path} (Debian package fonts-dejavu-core)")
    })?;
    let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
    plotters::style::register_font("sans-serif", plotters::style::FontStyle::Normal, bytes)
        .map_err(|_| anyhow::anyhow!("cannot register the font {path}"))
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
}
