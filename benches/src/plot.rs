//! Draws one SVG per report table (plotters): for every row and reference, a horizontal bar of
//! the ratio switchyard ÷ reference with its min–max range, around a line at 1.0.
//!
//! Ratios are unit-free, so one chart fits a table whose rows mix units. The label area on the
//! left is as wide as the longest label needs (estimated from DejaVu Sans advance widths, the
//! widest common sans-serif, so narrower fonts fit too), and the chart widens with it. Drawing
//! only; never reads results files or decides what is better.

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

/// Font size of the bar and axis labels as given to plotters.
const LABEL_FONT: f64 = 12.0;
/// plotters' SVG backend writes `font-size` as the given size divided by this.
const SVG_FONT_SCALE: f64 = 1.24;
/// Width of the plotting area right of the labels, px.
const PLOT_WIDTH: u32 = 560;
/// Outer margin of the chart, px (each side).
const MARGIN: u32 = 10;
/// Room between a label and the axis (tick mark and gap), px.
const LABEL_GAP: u32 = 20;

/// Estimated advance width of `text` at `size` px in DejaVu Sans (em fractions rounded up),
/// which is at least as wide as Helvetica, Arial or Liberation Sans for the same text.
fn text_width(text: &str, size: f64) -> f64 {
    let em: f64 = text
        .chars()
        .map(|c| match c {
            ' ' | 'i' | 'j' | 'l' | '.' | ',' | ':' | ';' | '\'' | '|' | '!' | 'I' => 0.33,
            'f' | 't' | 'r' | '(' | ')' | '[' | ']' | '-' | '/' | '\\' | '`' | '"' => 0.45,
            'm' | 'W' => 1.0,
            'w' | 'M' | '%' | '+' | '=' | '<' | '>' | '×' | '÷' | '~' | '@' => 0.86,
            'A'..='Z' | '&' | '#' => 0.78,
            c if c.is_ascii() => 0.64,
            _ => 0.9,
        })
        .sum();
    em * size
}

/// Pixels the label area needs so that the longest of `labels` is not clipped.
fn label_area(labels: &[String]) -> u32 {
    let widest = labels
        .iter()
        .map(|l| text_width(l, LABEL_FONT / SVG_FONT_SCALE))
        .fold(0.0_f64, f64::max);
    widest.ceil() as u32 + LABEL_GAP
}

/// Draws the ratio chart of `section` into `path`; `Ok(false)` (and no file) when the section
/// has no comparable row.
pub fn ratio_chart(section: &Section, path: &Path) -> anyhow::Result<bool> {
    let bars = bars(section);
    if bars.is_empty() {
        return Ok(false);
    }
    let labels: Vec<String> = bars.iter().map(|b| b.label.clone()).collect();
    let label_px = label_area(&labels);
    let height = 80 + 28 * bars.len() as u32;
    let width = 2 * MARGIN + label_px + PLOT_WIDTH;
    let root = SVGBackend::new(path, (width, height)).into_drawing_area();
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
        .margin(MARGIN)
        .x_label_area_size(30)
        .y_label_area_size(label_px)
        .build_cartesian_2d(0.0..x_max, -0.5..n as f64 - 0.5)
        .map_err(draw_err)?;
    chart
        .configure_mesh()
        .disable_y_mesh()
        .y_labels(n)
        .label_style(("sans-serif", LABEL_FONT))
        .axis_desc_style(("sans-serif", LABEL_FONT))
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::{Row, Series};

    fn section(case: &str, reference: &str) -> Section {
        Section {
            title: "Userspace proxy vs HAProxy vs direct".into(),
            method: String::new(),
            rows: vec![Row {
                case: case.into(),
                metric: "connections/s".into(),
                better: Better::Higher,
                subject: Series::measured("switchyard", &[10.0, 11.0, 12.0]),
                references: vec![
                    Series::measured(reference, &[9.0, 10.0, 11.0]),
                    Series::measured("direct (no proxy)", &[20.0, 21.0]),
                ],
            }],
            notes: vec![],
        }
    }

    #[test]
    fn wider_text_is_estimated_wider() {
        assert!(text_width("mmmm", 12.0) > text_width("iiii", 12.0));
        assert!(text_width("abc", 24.0) > text_width("abc", 12.0));
        // DejaVu Sans renders "connections/s" about 88 px wide at 12 px.
        assert!(text_width("connections/s", 12.0) >= 88.0);
    }

    #[test]
    fn label_area_fits_the_longest_label() -> anyhow::Result<()> {
        let long = section(
            "one connection per request, 50 concurrent",
            "HAProxy 2.6.12-1+deb12u4",
        );
        let short = section("bulk", "HAProxy");
        let label = |s: &Section| -> Vec<String> { bars(s).into_iter().map(|b| b.label).collect() };
        let (long_labels, short_labels) = (label(&long), label(&short));
        assert_eq!(long_labels.len(), 2);
        let longest = long_labels
            .iter()
            .map(|l| text_width(l, LABEL_FONT / SVG_FONT_SCALE))
            .fold(0.0, f64::max);
        assert!(f64::from(label_area(&long_labels)) >= longest + f64::from(LABEL_GAP) - 1.0);
        assert!(label_area(&long_labels) > label_area(&short_labels));
        // The drawn chart is as wide as labels plus plot, and names every label.
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("chart.svg");
        assert!(ratio_chart(&long, &path)?);
        let svg = std::fs::read_to_string(&path)?;
        let width = 2 * MARGIN + label_area(&long_labels) + PLOT_WIDTH;
        assert!(
            svg.contains(&format!("width=\"{width}\"")),
            "chart width {width}"
        );
        for l in &long_labels {
            let escaped = l.replace('&', "&amp;");
            assert!(svg.contains(&escaped), "label {l:?} missing");
        }
        // The label font is the size the width estimate assumed.
        let font = format!("font-size=\"{}\"", LABEL_FONT / SVG_FONT_SCALE);
        assert!(svg.contains(&font), "no label drawn at {font}");
        if let Some(out) = std::env::var_os("SYBENCH_PLOT_SAMPLE") {
            std::fs::copy(&path, out)?;
        }
        Ok(())
    }
}
