//! Roofline of a simulation: one point per step under the compute and bandwidth roofs.

use std::path::Path;

use anyhow::Result;
use plotters::coord::Shift;
use plotters::prelude::*;

use super::{save, tick_label, Figure, Tip};

struct Roofline<'a> {
    r: &'a vchip_sim::SimResult,
    offchip: Vec<&'a vchip_hwmodels::Level>,
    points: Vec<(f64, f64, bool, String)>,
    on_chip_only: usize,
    peak_flops: f64,
}

/// Roofline of a simulation: one point per step (operational intensity against its off-chip
/// traffic, achieved FLOP/s), under the compute roof and each off-chip level's bandwidth roof.
/// Steps with no off-chip traffic have no finite intensity and are counted in the caption.
/// Returns false (and writes nothing) when no step moves off-chip data and computes.
pub fn roofline_plot(path: &Path, r: &vchip_sim::SimResult, peak_flops: f64) -> Result<bool> {
    let offchip: Vec<&vchip_hwmodels::Level> = r.levels.iter().filter(|l| !l.on_chip).collect();
    let mut points: Vec<(f64, f64, bool, String)> = Vec::new();
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
            format!(
                "step {}: {} ({} {})",
                s.index,
                s.ops.join(" + "),
                s.op_type,
                s.detail
            ),
        ));
    }
    if points.is_empty() {
        return Ok(false);
    }
    save(
        path,
        &Roofline {
            r,
            offchip,
            points,
            on_chip_only,
            peak_flops,
        },
    )?;
    Ok(true)
}

impl Figure for Roofline<'_> {
    fn size(&self) -> (u32, u32) {
        (820, 620)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<Vec<Tip>>
    where
        DB::ErrorType: 'static,
    {
        let Roofline {
            r,
            offchip,
            points,
            on_chip_only,
            peak_flops,
        } = self;
        let (peak_flops, on_chip_only) = (*peak_flops, *on_chip_only);
        let mut tips = Vec::new();
        let xlo = points.iter().map(|p| p.0).fold(f64::INFINITY, f64::min) / 3.0;
        let xhi = points.iter().map(|p| p.0).fold(0.0, f64::max) * 3.0;
        let ylo = points.iter().map(|p| p.1).fold(f64::INFINITY, f64::min) / 3.0;
        let yhi = peak_flops.max(points.iter().map(|p| p.1).fold(0.0, f64::max)) * 2.0;
        root.fill(&WHITE)?;
        let mut caption = format!("Roofline: {} on {}", r.model, r.hardware);
        if on_chip_only > 0 {
            caption.push_str(&format!(" ({on_chip_only} steps all on chip, not shown)"));
        }
        let mut chart = ChartBuilder::on(root)
            .caption(caption, ("sans-serif", 18))
            .margin(15)
            .x_label_area_size(45)
            .y_label_area_size(70)
            .build_cartesian_2d((xlo..xhi).log_scale(), (ylo..yhi).log_scale())?;
        chart
            .configure_mesh()
            .x_desc("operational intensity (FLOP per off-chip byte)")
            .y_desc("achieved performance (FLOP/s)")
            .x_label_formatter(&|v| tick_label(*v))
            .y_label_formatter(&|v| tick_label(*v))
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
            for p in points.iter().filter(|p| p.2 == bound) {
                tips.push(Tip {
                    at: chart.backend_coord(&(p.0, p.1)),
                    text: format!(
                        "{}: {} FLOP/byte, {} FLOP/s",
                        p.3,
                        tick_label(p.0),
                        tick_label(p.1)
                    ),
                    layer: ("vchip-steps", label.to_string()),
                });
            }
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::LowerRight)
            .background_style(WHITE)
            .border_style(BLACK)
            .draw()?;
        Ok(tips)
    }
}
