//! Predicted vs measured kernel times (log-log) with the y = x line and the ±10 % band.

use std::path::Path;

use anyhow::Result;
use plotters::coord::Shift;
use plotters::prelude::*;

use super::{save, tick_label, Figure, Tip};

/// One kernel: measured s, predicted s, its part (calibration, test, grid) and its name.
pub type ValidationPoint<'a> = (f64, f64, &'a str, &'a str);

struct Validation<'a> {
    points: &'a [ValidationPoint<'a>],
    parts: &'a [(&'a str, RGBColor)],
}

/// Parts are drawn in the order of `parts`, each with its colour; every point's tooltip names
/// its kernel and both times.
pub fn validation_plot(
    path: &Path,
    points: &[ValidationPoint],
    parts: &[(&str, RGBColor)],
) -> Result<()> {
    save(path, &Validation { points, parts })
}

impl Figure for Validation<'_> {
    fn size(&self) -> (u32, u32) {
        (760, 700)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<Vec<Tip>>
    where
        DB::ErrorType: 'static,
    {
        let pos: Vec<_> = self
            .points
            .iter()
            .filter(|p| p.0 > 0.0 && p.1 > 0.0 && p.0.is_finite() && p.1.is_finite())
            .collect();
        anyhow::ensure!(!pos.is_empty(), "nothing to plot");
        let lo = pos
            .iter()
            .map(|p| p.0.min(p.1))
            .fold(f64::INFINITY, f64::min)
            / 1.5;
        let hi = pos.iter().map(|p| p.0.max(p.1)).fold(0.0, f64::max) * 1.5;
        root.fill(&WHITE)?;
        let mut chart = ChartBuilder::on(root)
            .caption("Predicted vs measured kernel time", ("sans-serif", 20))
            .margin(15)
            .x_label_area_size(45)
            .y_label_area_size(70)
            .build_cartesian_2d((lo..hi).log_scale(), (lo..hi).log_scale())?;
        chart
            .configure_mesh()
            .x_desc("measured (s)")
            .y_desc("predicted (s)")
            .x_label_formatter(&|v| tick_label(*v))
            .y_label_formatter(&|v| tick_label(*v))
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
        let band = RGBColor(120, 120, 220);
        chart
            .draw_series(LineSeries::new(line(1.1), band))?
            .label("±10 %")
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 15, y)], band));
        chart.draw_series(LineSeries::new(line(0.9), band))?;
        let mut tips = Vec::new();
        for &(part, colour) in self.parts {
            let mine: Vec<_> = pos.iter().filter(|p| p.2 == part).collect();
            chart
                .draw_series(
                    mine.iter()
                        .map(|p| Circle::new((p.0, p.1), 3, colour.filled())),
                )?
                .label(part)
                .legend(move |(x, y)| Circle::new((x, y), 3, colour.filled()));
            for p in mine {
                tips.push(Tip {
                    at: chart.backend_coord(&(p.0, p.1)),
                    text: format!(
                        "{} ({part}): measured {} s, predicted {} s ({:+.1} %)",
                        p.3,
                        tick_label(p.0),
                        tick_label(p.1),
                        (p.1 / p.0 - 1.0) * 100.0
                    ),
                    layer: ("vchip-kernels", part.to_string()),
                });
            }
        }
        chart
            .configure_series_labels()
            .background_style(WHITE)
            .border_style(BLACK)
            .draw()?;
        Ok(tips)
    }
}
