//! Draws one SVG per report table (plotters): for every row and reference, a horizontal bar of
//! the ratio switchyard ÷ reference with its min–max range, around a line at 1.0.
//!
//! Ratios are unit-free, so one chart fits a table whose rows mix units. Drawing only; never
//! reads results files or decides what is better.

use std::path::Path;

use plotters::prelude::*;

use crate::results::{Better, Section};

/// One bar: label, median ratio, low and high ratio, whether switchyard wins.
struct Bar {
    label: String,
    ratio: f64,
    low: f64,
    high: f64,
    wins: bool,
}

fn bars(section: &Section) -> Vec<Bar> {
    let mut out = Vec::new();
    for row in &section.rows {
        for (i, reference) in row.references.iter().enumerate() {
            let (Some(s), Some(r)) = (&row.subject.summary, &reference.summary) else {
                continue;
            };
            let Some(ratio) = row.ratio(i) else { continue };
            if r.max <= 0.0 || r.min <= 0.0 {
                continue;
            }
            // The range of ratios the repetitions allow: worst subject over best reference
            // and the other way round.
            let (low, high) = (s.min / r.max, s.max / r.min);
            out.push(Bar {
                label: format!("{} {} vs {}", row.case, row.metric, reference.name),
                ratio,
                low,
                high,
                wins: row.better == Better::Higher && ratio >= 1.0
                    || row.better == Better::Lower && ratio <= 1.0,
            });
        }
    }
    out
}

/// Draws the ratio chart of `section` into `path`; `Ok(false)` (and no file) when the section
/// has no comparable row.
pub fn ratio_chart(section: &Section, path: &Path) -> anyhow::Result<bool> {
    let bars = bars(section);
    if bars.is_empty() {
        return Ok(false);
    }
    let height = 80 + 28 * bars.len() as u32;
    let root = SVGBackend::new(path, (900, height)).into_drawing_area();
    root.fill(&WHITE).map_err(draw_err)?;
    let x_max = bars
        .iter()
        .map(|b| b.high.max(b.ratio))
        .fold(1.0_f64, f64::max)
        * 1.1;
    let n = bars.len();
    let mut chart = ChartBuilder::on(&root)
        .caption(
            format!("{} — switchyard ÷ reference", section.title),
            ("sans-serif", 16),
        )
        .margin(10)
        .x_label_area_size(30)
        .y_label_area_size(330)
        .build_cartesian_2d(0.0..x_max, -0.5..n as f64 - 0.5)
        .map_err(draw_err)?;
    let labels: Vec<String> = bars.iter().map(|b| b.label.clone()).collect();
    chart
        .configure_mesh()
        .disable_y_mesh()
        .y_labels(n)
        .y_label_formatter(&|y| {
            let i = y.round().max(0.0) as usize;
            labels
                .get(n.saturating_sub(i + 1))
                .cloned()
                .unwrap_or_default()
        })
        .x_desc("ratio (bar: median, whisker: min–max)")
        .draw()
        .map_err(draw_err)?;
    for (i, bar) in bars.iter().enumerate() {
        let y = (n - i - 1) as f64;
        let colour = if bar.wins {
            GREEN.mix(0.6)
        } else {
            RED.mix(0.6)
        };
        chart
            .draw_series(std::iter::once(Rectangle::new(
                [(0.0, y - 0.3), (bar.ratio, y + 0.3)],
                colour.filled(),
            )))
            .map_err(draw_err)?;
        chart
            .draw_series(std::iter::once(PathElement::new(
                vec![(bar.low, y), (bar.high, y)],
                BLACK.stroke_width(2),
            )))
            .map_err(draw_err)?;
    }
    chart
        .draw_series(std::iter::once(PathElement::new(
            vec![(1.0, -0.5), (1.0, n as f64 - 0.5)],
            BLACK.stroke_width(1),
        )))
        .map_err(draw_err)?;
    root.present().map_err(draw_err)?;
    Ok(true)
}

fn draw_err<E: std::fmt::Debug>(e: E) -> anyhow::Error {
    anyhow::anyhow!("drawing chart: {e:?}")
}
