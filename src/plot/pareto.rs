//! Pareto fronts of a sweep: one colour and one front per model (and precision); a third
//! objective as colour, never as a line; the dominated cloud thinned on large sweeps.

use std::path::Path;

use anyhow::Result;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use vchip_explore::run_sweep::PlotPoint;

use super::{axis_range, axis_unit, save, sequential, tick_label, Figure, Tip, PALETTE};

/// Most dominated points drawn; beyond it every k-th is (the front is always drawn whole).
pub const MAX_CLOUD: usize = 3000;

struct Pareto<'a> {
    points: &'a [PlotPoint],
    objectives: &'a [String],
}

/// Draws the fronts of a sweep over its first two objectives (a third, if given, colours the
/// front points) to `path` (.svg or .png).
pub fn pareto_plot(path: &Path, points: &[PlotPoint], objectives: &[String]) -> Result<()> {
    anyhow::ensure!(objectives.len() >= 2, "a Pareto plot needs two objectives");
    save(path, &Pareto { points, objectives })
}

/// Marker shapes that tell fronts apart when colour carries the third objective.
fn marker<DB: DrawingBackend, C: Clone + 'static>(
    shape: usize,
    at: C,
    style: ShapeStyle,
) -> DynElement<'static, DB, C> {
    // Six distinct glyphs: filled and hollow circles and triangles, a cross, a small dot.
    let hollow = ShapeStyle {
        filled: false,
        stroke_width: 2,
        ..style
    };
    match shape % 6 {
        0 => Circle::new(at, 5, style).into_dyn(),
        1 => TriangleMarker::new(at, 6, style).into_dyn(),
        2 => Cross::new(at, 5, style.stroke_width(2)).into_dyn(),
        3 => Circle::new(at, 5, hollow).into_dyn(),
        4 => TriangleMarker::new(at, 6, hollow).into_dyn(),
        _ => Circle::new(at, 3, style).into_dyn(),
    }
}

impl Figure for Pareto<'_> {
    fn size(&self) -> (u32, u32) {
        (900, 640)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<Vec<Tip>>
    where
        DB::ErrorType: 'static,
    {
        let (xo, yo) = (&self.objectives[0], &self.objectives[1]);
        let zo = self.objectives.get(2);
        let usable: Vec<&PlotPoint> = self
            .points
            .iter()
            .filter(|p| p.x.is_finite() && p.y.is_finite())
            .collect();
        anyhow::ensure!(
            !usable.is_empty(),
            "nothing to plot: no {xo}/{yo} values (a kind that does not model one leaves it empty)"
        );
        let max =
            |f: &dyn Fn(&PlotPoint) -> f64| usable.iter().map(|p| f(p).abs()).fold(0.0, f64::max);
        let (xu, yu) = (axis_unit(xo, max(&|p| p.x)), axis_unit(yo, max(&|p| p.y)));
        // Axes span what is drawn: the fronts and the (thinned) dominated cloud.
        let dominated: Vec<&&PlotPoint> = usable.iter().filter(|p| !p.pareto).collect();
        let stride = dominated.len().div_ceil(MAX_CLOUD).max(1);
        let cloud: Vec<&&PlotPoint> = dominated.iter().step_by(stride).copied().collect();
        let drawn = || {
            usable
                .iter()
                .filter(|p| p.pareto)
                .chain(cloud.iter().copied())
        };
        let xr = axis_range(drawn().map(|p| p.x / xu.factor));
        let yr = axis_range(drawn().map(|p| p.y / yu.factor));
        let (Some(xr), Some(yr)) = (xr, yr) else {
            anyhow::bail!("nothing to plot");
        };
        let mut groups: Vec<&str> = usable.iter().map(|p| p.group.as_str()).collect();
        groups.sort();
        groups.dedup();
        let colour_of = |g: &str| {
            let i = groups.iter().position(|x| *x == g).unwrap_or(0);
            (i, PALETTE[i % PALETTE.len()])
        };
        // The third objective's range, for its colour scale.
        let z = zo.map(|zo| {
            let zs: Vec<f64> = usable
                .iter()
                .filter(|p| p.pareto)
                .filter_map(|p| p.z)
                .filter(|v| v.is_finite())
                .collect();
            let lo = zs.iter().copied().fold(f64::INFINITY, f64::min);
            let hi = zs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            (axis_unit(zo, hi.abs().max(lo.abs())), lo, hi)
        });
        root.fill(&WHITE)?;
        let (plot_area, bar_area) = if z.is_some() {
            let (a, b) = root.split_horizontally(self.size().0 - 120);
            (a, Some(b))
        } else {
            (root.clone(), None)
        };
        // Axes spanning decades are drawn on log10 of the values (ticks label the values).
        let (xl, yl) = (xr.2, yr.2);
        let tx = move |v: f64| if xl { v.log10() } else { v };
        let ty = move |v: f64| if yl { v.log10() } else { v };
        let mut chart = ChartBuilder::on(&plot_area)
            .caption(
                {
                    let name = |o: &str| axis_unit(o, 1.0).quantity;
                    let mut c = format!("Pareto fronts: {} vs {}", name(yo), name(xo));
                    if let Some(zo) = zo {
                        c.push_str(&format!(", colour: {}", name(zo)));
                    }
                    if stride > 1 {
                        c.push_str(&format!(
                            " ({} of {} dominated points shown)",
                            cloud.len(),
                            dominated.len()
                        ));
                    }
                    c
                },
                ("sans-serif", 18),
            )
            .margin(15)
            .x_label_area_size(45)
            .y_label_area_size(70)
            .build_cartesian_2d(tx(xr.0)..tx(xr.1), ty(yr.0)..ty(yr.1))?;
        let xfmt = move |v: &f64| if xl { String::new() } else { tick_label(*v) };
        let yfmt = move |v: &f64| if yl { String::new() } else { tick_label(*v) };
        let mut mesh = chart.configure_mesh();
        mesh.x_desc(if xl {
            format!("{} (log scale)", xu.desc)
        } else {
            xu.desc.clone()
        })
        .y_desc(if yl {
            format!("{} (log scale)", yu.desc)
        } else {
            yu.desc.clone()
        })
        // Log axes label their own ticks below; plotters' would sit at round exponents.
        .x_labels(if xl { 0 } else { 8 })
        .y_labels(if yl { 0 } else { 8 })
        .x_label_formatter(&xfmt)
        .y_label_formatter(&yfmt);
        if xl {
            mesh.disable_x_mesh();
        }
        if yl {
            mesh.disable_y_mesh();
        }
        mesh.draw()?;
        // Log axes get ticks at 1-2-5 multiples of powers of ten, drawn here (plotters would put
        // them at round exponents, which read as 0.000316).
        let grid = RGBColor(220, 220, 220);
        let (x0, x1) = (tx(xr.0), tx(xr.1));
        let (y0, y1) = (ty(yr.0), ty(yr.1));
        let font = ("sans-serif", 13).into_font();
        if xl {
            for t in log_ticks(xr.0, xr.1) {
                chart.draw_series(LineSeries::new([(t.log10(), y0), (t.log10(), y1)], grid))?;
                let (px, py) = chart.backend_coord(&(t.log10(), y0));
                plot_area.draw(&Text::new(
                    tick_label(t),
                    (px, py + 6),
                    font.color(&BLACK).pos(Pos::new(HPos::Center, VPos::Top)),
                ))?;
            }
        }
        if yl {
            for t in log_ticks(yr.0, yr.1) {
                chart.draw_series(LineSeries::new([(x0, t.log10()), (x1, t.log10())], grid))?;
                let (px, py) = chart.backend_coord(&(x0, t.log10()));
                plot_area.draw(&Text::new(
                    tick_label(t),
                    (px - 6, py),
                    font.color(&BLACK).pos(Pos::new(HPos::Right, VPos::Center)),
                ))?;
            }
        }
        let at = |p: &PlotPoint| (tx(p.x / xu.factor), ty(p.y / yu.factor));
        let mut tips = Vec::new();
        let describe = |p: &PlotPoint| {
            let mut t = format!(
                "{}: {} | {}={} {}={}",
                p.group,
                p.config,
                xo,
                tick_label(p.x),
                yo,
                tick_label(p.y)
            );
            if let (Some(zo), Some(v)) = (zo, p.z) {
                t.push_str(&format!(" {zo}={}", tick_label(v)));
            }
            t
        };
        // The dominated cloud first, faint, in its front's colour.
        // With a third objective colour is that objective's: the cloud is grey.
        let cloud_colour = |g: &str| {
            if z.is_some() {
                RGBColor(150, 150, 150).mix(0.35)
            } else {
                colour_of(g).1.mix(0.25)
            }
        };
        if z.is_some() && !cloud.is_empty() {
            chart
                .draw_series(std::iter::empty::<Circle<(f64, f64), i32>>())?
                .label("dominated (any front)")
                .legend(|(x, y)| Circle::new((x, y), 3, RGBColor(150, 150, 150).filled()));
        }
        for p in &cloud {
            let c = cloud_colour(&p.group);
            chart.draw_series(std::iter::once(Circle::new(at(p), 2, c.filled())))?;
            tips.push(Tip {
                at: chart.backend_coord(&at(p)),
                text: describe(p),
                layer: ("vchip-cloud", p.group.clone()),
            });
        }
        for g in &groups {
            let (i, c) = colour_of(g);
            let mut front: Vec<&&PlotPoint> = usable
                .iter()
                .filter(|p| p.pareto && p.group == *g)
                .collect();
            front.sort_by(|a, b| a.x.total_cmp(&b.x).then(a.y.total_cmp(&b.y)));
            let label = format!("{g}: front of {}", front.len());
            match &z {
                None => {
                    chart
                        .draw_series(LineSeries::new(
                            front.iter().map(|p| at(p)),
                            c.stroke_width(2),
                        ))?
                        .label(label)
                        .legend(move |(x, y)| {
                            PathElement::new(vec![(x - 6, y), (x + 14, y)], c.stroke_width(2))
                        });
                    chart.draw_series(front.iter().map(|p| Circle::new(at(p), 4, c.filled())))?;
                }
                Some((_, lo, hi)) => {
                    // No line: a 3-objective front is a surface, and its 2-D projection is
                    // not ordered along either axis. Shape tells fronts apart; colour is z.
                    let span = (hi - lo).max(f64::MIN_POSITIVE);
                    chart
                        .draw_series(front.iter().map(|p| {
                            let t = p.z.map_or(0.0, |v| (v - lo) / span);
                            marker(i, at(p), sequential(t).filled())
                        }))?
                        .label(label)
                        .legend(move |(x, y)| marker(i, (x, y), BLACK.filled()));
                }
            }
            for p in &front {
                tips.push(Tip {
                    at: chart.backend_coord(&at(p)),
                    text: describe(p),
                    layer: ("vchip-front", p.group.clone()),
                });
            }
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .draw()?;
        if let (Some((zu, lo, hi)), Some(bar)) = (&z, &bar_area) {
            colour_bar(bar, zu, *lo, *hi)?;
        }
        Ok(tips)
    }
}

/// The third objective's scale: a vertical bar of the sequential colours with five labels.
fn colour_bar<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    unit: &super::AxisUnit,
    lo: f64,
    hi: f64,
) -> Result<()>
where
    DB::ErrorType: 'static,
{
    let (top, bottom, left) = (80i32, 520i32, 10i32);
    let steps = 50;
    for k in 0..steps {
        let y0 = bottom - (bottom - top) * (k + 1) / steps;
        let y1 = bottom - (bottom - top) * k / steps;
        area.draw(&Rectangle::new(
            [(left, y0), (left + 22, y1)],
            sequential(k as f64 / (steps - 1) as f64).filled(),
        ))?;
    }
    area.draw(&Rectangle::new(
        [(left, top), (left + 22, bottom)],
        BLACK.stroke_width(1),
    ))?;
    let style = ("sans-serif", 13).into_font();
    area.draw(&Text::new(
        unit.desc.clone(),
        (left - 4, top - 24),
        style.clone(),
    ))?;
    if lo.is_finite()
        && hi.is_finite()
        && tick_label(lo / unit.factor) == tick_label(hi / unit.factor)
    {
        // One value throughout: one label, not five equal ones.
        area.draw(&Text::new(
            format!("{} (all)", tick_label(lo / unit.factor)),
            (left + 28, (top + bottom) / 2 - 6),
            style.clone(),
        ))?;
    } else if lo.is_finite() && hi.is_finite() {
        for k in 0..=4 {
            let v = lo + (hi - lo) * k as f64 / 4.0;
            let y = bottom - (bottom - top) * k / 4;
            area.draw(&Text::new(
                tick_label(v / unit.factor),
                (left + 28, y - 6),
                style.clone(),
            ))?;
        }
    }
    Ok(())
}

/// Tick values for a log axis over lo..hi: 1-2-5 multiples of powers of ten, thinned to powers
/// of ten on wide ranges and densified on narrow ones.
fn log_ticks(lo: f64, hi: f64) -> Vec<f64> {
    let pick = |mults: &[f64]| -> Vec<f64> {
        let mut out = Vec::new();
        let mut e = lo.log10().floor() as i32;
        while 10f64.powi(e) <= hi * 1.0001 && out.len() < 200 {
            for m in mults {
                let v = m * 10f64.powi(e);
                if v >= lo * 0.9999 && v <= hi * 1.0001 {
                    out.push(v);
                }
            }
            e += 1;
        }
        out
    };
    let ticks = pick(&[1.0, 2.0, 5.0]);
    if ticks.len() > 10 {
        let decades = pick(&[1.0]);
        let step = decades.len().div_ceil(8).max(1);
        return decades.into_iter().step_by(step).collect();
    }
    if ticks.len() < 3 {
        return pick(&[1.0, 1.5, 2.0, 3.0, 5.0, 7.0]);
    }
    ticks
}

#[cfg(test)]
mod tests {
    use super::log_ticks;

    #[test]
    fn log_ticks_are_round_values() {
        assert_eq!(
            log_ticks(0.8e-3, 1.2e-1),
            vec![1e-3, 2e-3, 5e-3, 1e-2, 2e-2, 5e-2, 1e-1]
        );
        assert!(log_ticks(1e-9, 1e3).len() <= 8);
        assert!(log_ticks(1.1, 4.0).len() >= 3);
    }
}
