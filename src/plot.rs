//! Pareto-front plots (SVG, headless) with plotters.

use std::path::Path;

use anyhow::{Context, Result};
use plotters::prelude::*;

/// Scatter of all points (grey) and the Pareto front (red) over two objectives, log-log axes.
pub fn pareto_svg(
    path: &Path,
    points: &[(f64, f64, bool)],
    x_label: &str,
    y_label: &str,
) -> Result<()> {
    let finite: Vec<_> = points
        .iter()
        .filter(|p| p.0 > 0.0 && p.1 > 0.0 && p.0.is_finite() && p.1.is_finite())
        .collect();
    anyhow::ensure!(
        !finite.is_empty(),
        "nothing to plot: no positive {x_label}/{y_label} values"
    );
    let range = |f: &dyn Fn(&&(f64, f64, bool)) -> f64| {
        let lo = finite.iter().map(f).fold(f64::INFINITY, f64::min);
        let hi = finite.iter().map(f).fold(0.0, f64::max);
        (lo / 1.2)..(hi * 1.2)
    };
    let (xr, yr) = (range(&|p| p.0), range(&|p| p.1));
    let tmp = path.with_extension("svg.tmp");
    {
        let root = SVGBackend::new(&tmp, (800, 600)).into_drawing_area();
        root.fill(&WHITE)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(
                format!("Pareto front: {y_label} vs {x_label}"),
                ("sans-serif", 20),
            )
            .margin(15)
            .x_label_area_size(45)
            .y_label_area_size(70)
            .build_cartesian_2d(xr.log_scale(), yr.log_scale())?;
        chart
            .configure_mesh()
            .x_desc(x_label)
            .y_desc(y_label)
            .draw()?;
        chart
            .draw_series(
                finite
                    .iter()
                    .filter(|p| !p.2)
                    .map(|p| Circle::new((p.0, p.1), 2, RGBColor(150, 150, 150).filled())),
            )?
            .label("design point")
            .legend(|(x, y)| Circle::new((x, y), 3, RGBColor(150, 150, 150).filled()));
        let mut front: Vec<(f64, f64)> =
            finite.iter().filter(|p| p.2).map(|p| (p.0, p.1)).collect();
        front.sort_by(|a, b| a.0.total_cmp(&b.0));
        chart.draw_series(LineSeries::new(front.clone(), RED))?;
        chart
            .draw_series(
                front
                    .iter()
                    .map(|&(x, y)| Circle::new((x, y), 4, RED.filled())),
            )?
            .label("Pareto-optimal")
            .legend(|(x, y)| Circle::new((x, y), 4, RED.filled()));
        chart
            .configure_series_labels()
            .background_style(WHITE)
            .border_style(BLACK)
            .draw()?;
        root.present()?;
    }
    std::fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))
}

/// Predicted vs measured scatter (log-log) with the y = x line and the ±10 % band.
/// `points` are (measured s, predicted s, part); parts are drawn in the order of `parts`, each
/// with its colour.
pub fn validation_svg(
    path: &Path,
    points: &[(f64, f64, &str)],
    parts: &[(&str, RGBColor)],
) -> Result<()> {
    let pos: Vec<_> = points.iter().filter(|p| p.0 > 0.0 && p.1 > 0.0).collect();
    anyhow::ensure!(!pos.is_empty(), "nothing to plot");
    let lo = pos
        .iter()
        .map(|p| p.0.min(p.1))
        .fold(f64::INFINITY, f64::min)
        / 1.5;
    let hi = pos.iter().map(|p| p.0.max(p.1)).fold(0.0, f64::max) * 1.5;
    let tmp = path.with_extension("svg.tmp");
    {
        let root = SVGBackend::new(&tmp, (760, 700)).into_drawing_area();
        root.fill(&WHITE)?;
        let mut chart = ChartBuilder::on(&root)
            .caption("Predicted vs measured kernel time", ("sans-serif", 20))
            .margin(15)
            .x_label_area_size(45)
            .y_label_area_size(70)
            .build_cartesian_2d((lo..hi).log_scale(), (lo..hi).log_scale())?;
        chart
            .configure_mesh()
            .x_desc("measured (s)")
            .y_desc("predicted (s)")
            .draw()?;
        let line = |f: f64| {
            (0..=50).map(move |i| {
                let x = lo * (hi / lo).powf(i as f64 / 50.0);
                (x, x * f)
            })
        };
        chart
            .draw_series(LineSeries::new(line(1.0), BLACK))?
            .label("y = x")
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 15, y)], BLACK));
        chart
            .draw_series(LineSeries::new(line(1.1), RGBColor(120, 120, 220)))?
            .label("±10 %")
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 15, y)], RGBColor(120, 120, 220)));
        chart.draw_series(LineSeries::new(line(0.9), RGBColor(120, 120, 220)))?;
        for &(part, colour) in parts {
            chart
                .draw_series(
                    pos.iter()
                        .filter(|p| p.2 == part)
                        .map(|p| Circle::new((p.0, p.1), 3, colour.filled())),
                )?
                .label(part)
                .legend(move |(x, y)| Circle::new((x, y), 3, colour.filled()));
        }
        chart
            .configure_series_labels()
            .background_style(WHITE)
            .border_style(BLACK)
            .draw()?;
        root.present()?;
    }
    std::fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))
}

/// A log-axis tick: the significant digits and a power of ten (`2e9`, `1e-3`), never a long float.
fn log_tick(v: &f64) -> String {
    if *v <= 0.0 || !v.is_finite() {
        return String::new();
    }
    let exp = v.log10().floor() as i32;
    let mant = v / 10f64.powi(exp);
    let mant = (mant * 10.0).round() / 10.0;
    if (mant - 1.0).abs() < 1e-9 {
        format!("1e{exp}")
    } else {
        format!("{mant}e{exp}")
    }
}

/// Roofline of a simulation: one point per step (operational intensity against its off-chip
/// traffic, achieved FLOP/s), under the compute roof and each off-chip level's bandwidth roof.
/// Steps with no off-chip traffic have no finite intensity and are counted in the caption.
/// Returns false (and writes nothing) when no step moves off-chip data and computes.
pub fn roofline_svg(path: &Path, r: &vchip_sim::SimResult, peak_flops: f64) -> Result<bool> {
    let offchip: Vec<&vchip_hwmodels::Level> = r.levels.iter().filter(|l| !l.on_chip).collect();
    let mut points: Vec<(f64, f64, bool)> = Vec::new();
    let mut on_chip_only = 0usize;
    for s in r
        .steps
        .iter()
        .filter(|s| s.cost.cycles > 0 && s.roofline.flops > 0)
    {
        let bytes: u64 = s
            .roofline
            .levels
            .iter()
            .filter(|p| offchip.iter().any(|l| l.name == p.level))
            .map(|p| p.bytes)
            .sum();
        if bytes == 0 {
            on_chip_only += 1;
            continue;
        }
        let secs = s.cost.cycles as f64 / r.clock_hz;
        points.push((
            s.roofline.flops as f64 / bytes as f64,
            s.roofline.flops as f64 / secs,
            s.roofline.bound == "compute",
        ));
    }
    if points.is_empty() {
        return Ok(false);
    }
    let xlo = points.iter().map(|p| p.0).fold(f64::INFINITY, f64::min) / 3.0;
    let xhi = points.iter().map(|p| p.0).fold(0.0, f64::max) * 3.0;
    let ylo = points.iter().map(|p| p.1).fold(f64::INFINITY, f64::min) / 3.0;
    let yhi = peak_flops.max(points.iter().map(|p| p.1).fold(0.0, f64::max)) * 2.0;
    let tmp = path.with_extension("svg.tmp");
    {
        let root = SVGBackend::new(&tmp, (820, 620)).into_drawing_area();
        root.fill(&WHITE)?;
        let mut caption = format!("Roofline: {} on {}", r.model, r.hardware);
        if on_chip_only > 0 {
            caption.push_str(&format!(" ({on_chip_only} steps all on chip, not shown)"));
        }
        let mut chart = ChartBuilder::on(&root)
            .caption(caption, ("sans-serif", 18))
            .margin(15)
            .x_label_area_size(45)
            .y_label_area_size(70)
            .build_cartesian_2d((xlo..xhi).log_scale(), (ylo..yhi).log_scale())?;
        chart
            .configure_mesh()
            .x_desc("operational intensity (FLOP per off-chip byte)")
            .y_desc("achieved performance (FLOP/s)")
            .x_label_formatter(&log_tick)
            .y_label_formatter(&log_tick)
            .draw()?;
        // The roof's corners: the slope from the left edge to the ridge, then flat.
        let roof = |bw: f64| {
            let ridge = (peak_flops / bw).clamp(xlo, xhi);
            vec![
                (xlo, (bw * xlo).min(peak_flops)),
                (ridge, (bw * ridge).min(peak_flops)),
                (xhi, (bw * xhi).min(peak_flops)),
            ]
        };
        let colours = [
            RGBColor(40, 40, 40),
            RGBColor(90, 90, 200),
            RGBColor(0, 140, 140),
        ];
        for (i, l) in offchip.iter().enumerate() {
            let c = colours[i % colours.len()];
            chart
                .draw_series(LineSeries::new(roof(l.bytes_per_s), c.stroke_width(2)))?
                .label(format!(
                    "roof: {} {:.1} GB/s, peak {:.2} TFLOP/s",
                    l.name,
                    l.bytes_per_s / 1e9,
                    peak_flops / 1e12
                ))
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 15, y)], c));
        }
        for (bound, label, colour) in [
            (true, "step, compute-bound", RGBColor(30, 110, 220)),
            (false, "step, memory-bound", RGBColor(220, 60, 40)),
        ] {
            chart
                .draw_series(
                    points
                        .iter()
                        .filter(|p| p.2 == bound)
                        .map(|p| Circle::new((p.0, p.1), 3, colour.filled())),
                )?
                .label(label)
                .legend(move |(x, y)| Circle::new((x, y), 3, colour.filled()));
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::LowerRight)
            .background_style(WHITE)
            .border_style(BLACK)
            .draw()?;
        root.present()?;
    }
    std::fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(true)
}
