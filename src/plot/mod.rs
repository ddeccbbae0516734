//! Plots with plotters, headless: SVG (every point carries a `<title>` tooltip naming it) or PNG
//! (rasterised with an embedded font, so no system fonts are needed), chosen by the file name.
//! Axes read in units a person reads (`latency (ms)`, `energy (µJ)`), with tick labels of at
//! most 8 characters.

mod pareto;
mod roofline;
mod validation;

use std::path::Path;

use anyhow::{bail, Context, Result};
use plotters::coord::Shift;
use plotters::prelude::*;

pub use pareto::pareto_plot;
pub use roofline::roofline_plot;
pub use validation::{validation_plot, ValidationPoint};

/// DejaVu Sans cut to Latin-1 and a few symbols (assets/fonts/LICENSE-DejaVu.txt): the PNG
/// backend draws text with it, and both backends measure text with it.
const FONT: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans-subset.ttf");

/// A point's place on the canvas (pixels) and what its tooltip says; `layer` groups tooltips
/// in the SVG (`vchip-front` for a front's points, with the front's name in `data-model`).
pub(crate) struct Tip {
    pub at: (i32, i32),
    pub text: String,
    pub layer: (&'static str, String),
}

/// A figure that draws on any plotters backend and returns its points' tooltips.
pub(crate) trait Figure {
    fn size(&self) -> (u32, u32);
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<Vec<Tip>>
    where
        DB::ErrorType: 'static;
}

/// The plot formats a path can name; checked before any work so a long run does not end on a
/// typo.
pub fn check_path(path: &Path) -> Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        if !dir.is_dir() {
            bail!(
                "{}: the directory {} does not exist; create it first",
                path.display(),
                dir.display()
            );
        }
    }
    match extension(path).as_deref() {
        Some("svg") | Some("png") => Ok(()),
        other => bail!(
            "{}: a plot is written as .svg or .png{}; name the file with one of those",
            path.display(),
            other.map_or(String::new(), |e| format!(", not .{e}"))
        ),
    }
}

fn extension(path: &Path) -> Option<String> {
    path.extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
}

/// Renders `fig` to `path` (SVG or PNG by extension), written whole or not at all.
pub(crate) fn save(path: &Path, fig: &impl Figure) -> Result<()> {
    check_path(path)?;
    let (w, h) = fig.size();
    // Both backends measure text with the registered font (the SVG one to lay out labels).
    register_font();
    let bytes = if extension(path).as_deref() == Some("png") {
        let mut rgb = vec![0u8; w as usize * h as usize * 3];
        {
            let root = BitMapBackend::with_buffer(&mut rgb, (w, h)).into_drawing_area();
            fig.draw(&root)?;
            root.present()?;
        }
        let mut out = Vec::new();
        {
            let mut enc = png::Encoder::new(&mut out, w, h);
            enc.set_color(png::ColorType::Rgb);
            enc.set_depth(png::BitDepth::Eight);
            let mut writer = enc.write_header().context("PNG encoder")?;
            writer.write_image_data(&rgb).context("PNG encoder")?;
        }
        out
    } else {
        let mut svg = String::new();
        let tips = {
            let root = SVGBackend::with_string(&mut svg, (w, h)).into_drawing_area();
            let tips = fig.draw(&root)?;
            root.present()?;
            tips
        };
        with_tooltips(svg, &tips).into_bytes()
    };
    crate::report::write_atomic(path, &bytes)
        .with_context(|| format!("cannot write {}", path.display()))
}

fn register_font() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // The font is part of the binary; failing to parse it is a build defect the PNG tests
        // catch (text would be missing, not wrong).
        let _ = plotters::style::register_font("sans-serif", FontStyle::Normal, FONT);
    });
}

/// Adds an invisible circle with a `<title>` over every point, so hovering over a point in a
/// browser names it; grouped in `<g class=...>` layers a script (or a test) can read.
fn with_tooltips(svg: String, tips: &[Tip]) -> String {
    if tips.is_empty() {
        return svg;
    }
    let Some(end) = svg.rfind("</svg>") else {
        return svg;
    };
    let mut layers: Vec<&(&str, String)> = tips.iter().map(|t| &t.layer).collect();
    layers.sort();
    layers.dedup();
    let mut g = String::new();
    for layer in layers {
        g.push_str(&format!(
            "<g class=\"{}\" data-model=\"{}\" fill=\"#000\" fill-opacity=\"0\">\n",
            layer.0,
            xml(&layer.1)
        ));
        for t in tips.iter().filter(|t| &t.layer == layer) {
            g.push_str(&format!(
                "<circle cx=\"{}\" cy=\"{}\" r=\"5\"><title>{}</title></circle>\n",
                t.at.0,
                t.at.1,
                xml(&t.text)
            ));
        }
        g.push_str("</g>\n");
    }
    let mut out = svg;
    out.insert_str(end, &g);
    out
}

fn xml(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// How an axis reads: the quantity, its unit with an SI prefix picked for the data, and the
/// factor values are divided by.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct AxisUnit {
    /// What the axis measures (`latency`), for captions.
    pub quantity: String,
    /// The axis title with its unit (`latency (ms)`).
    pub desc: String,
    pub factor: f64,
}

/// The axis of a sweep column (`latency_s`, `energy_j`, `area_mm2`, `edp`, `power_w`, or any
/// other name, read as is) over values up to `max`.
pub(crate) fn axis_unit(column: &str, max: f64) -> AxisUnit {
    let (quantity, unit, prefixed) = match column {
        "latency_s" => ("latency", "s", true),
        "energy_j" => ("energy", "J", true),
        "power_w" => ("average power", "W", true),
        "edp" => ("energy × delay", "J·s", true),
        "area_mm2" => ("area", "mm²", false),
        other => (other, "", false),
    };
    if !prefixed {
        return AxisUnit {
            quantity: quantity.to_string(),
            desc: if unit.is_empty() {
                quantity.to_string()
            } else {
                format!("{quantity} ({unit})")
            },
            factor: 1.0,
        };
    }
    const PREFIXES: [(f64, &str); 7] = [
        (1e3, "k"),
        (1.0, ""),
        (1e-3, "m"),
        (1e-6, "µ"),
        (1e-9, "n"),
        (1e-12, "p"),
        (1e-15, "f"),
    ];
    let (factor, prefix) = PREFIXES
        .iter()
        .copied()
        .find(|(f, _)| max >= *f)
        .unwrap_or(PREFIXES[PREFIXES.len() - 1]);
    AxisUnit {
        quantity: quantity.to_string(),
        desc: format!("{quantity} ({prefix}{unit})"),
        factor,
    }
}

/// A tick label of at most 8 characters: three significant digits, trailing zeros dropped,
/// exponent form outside 0.001–99,999 (`0.0025`, `120`, `1.5e-7`; never `0.009000000000000001`).
pub(crate) fn tick_label(v: f64) -> String {
    if !v.is_finite() {
        return String::new();
    }
    let a = v.abs();
    if a < 1e-300 {
        return "0".into();
    }
    let trim = |s: String| -> String {
        if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            s
        }
    };
    if (1e-3..99_999.5).contains(&a) {
        let decimals = (2 - a.log10().floor() as i32).clamp(0, 5) as usize;
        trim(format!("{v:.decimals$}"))
    } else {
        let s = format!("{v:.1e}");
        match s.split_once('e') {
            Some((m, e)) => format!("{}e{e}", trim(m.to_string())),
            None => s,
        }
    }
}

/// Axis range over `values` (already scaled): log when they span more than a factor of 20 and
/// are all positive; a range too narrow to label is widened around its middle.
pub(crate) fn axis_range(values: impl Iterator<Item = f64>) -> Option<(f64, f64, bool)> {
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for v in values.filter(|v| v.is_finite()) {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    if lo > hi {
        return None;
    }
    if lo > 0.0 && hi / lo > 20.0 {
        return Some((lo / 1.3, hi * 1.3, true));
    }
    let mid = (lo + hi) / 2.0;
    let half = ((hi - lo) / 2.0).max(mid.abs() * 0.05).max(1e-12) * 1.15;
    let lo = if lo >= 0.0 {
        (mid - half).max(0.0)
    } else {
        mid - half
    };
    Some((lo, mid + half, false))
}

/// Ten well-separated colours (the Tableau 10 palette), one per front.
pub(crate) const PALETTE: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

/// A sequential colour for t in 0..=1 (viridis, five stops, linear between them).
pub(crate) fn sequential(t: f64) -> RGBColor {
    const STOPS: [(f64, f64, f64); 5] = [
        (68.0, 1.0, 84.0),
        (59.0, 82.0, 139.0),
        (33.0, 145.0, 140.0),
        (94.0, 201.0, 98.0),
        (253.0, 231.0, 37.0),
    ];
    let t = if t.is_finite() {
        t.clamp(0.0, 1.0)
    } else {
        0.0
    } * 4.0;
    let i = (t.floor() as usize).min(3);
    let f = t - i as f64;
    let (a, b) = (STOPS[i], STOPS[i + 1]);
    let mix = |x: f64, y: f64| (x + (y - x) * f).round() as u8;
    RGBColor(mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tick_labels_are_short_and_round() {
        for (v, want) in [
            (0.009000000000000001, "0.009"),
            (9.999999999999999e-6, "1e-5"),
            (120.0, "120"),
            (0.25, "0.25"),
            (1234.5678, "1235"),
            (-0.00123, "-0.00123"),
            (1.5e-7, "1.5e-7"),
            (2.0e9, "2e9"),
            (0.0, "0"),
        ] {
            assert_eq!(tick_label(v), want, "{v}");
        }
        let mut v = 1e-18;
        while v < 1e18 {
            for s in [v, -v, v * 1.2345678, v * 9.99999] {
                assert!(
                    tick_label(s).chars().count() <= 8,
                    "{s} -> {}",
                    tick_label(s)
                );
            }
            v *= 3.7;
        }
    }

    #[test]
    fn units_follow_the_data() {
        assert_eq!(axis_unit("latency_s", 0.0042).desc, "latency (ms)");
        assert_eq!(axis_unit("latency_s", 0.0042).factor, 1e-3);
        assert_eq!(axis_unit("energy_j", 3e-7).desc, "energy (nJ)");
        assert_eq!(axis_unit("area_mm2", 300.0).desc, "area (mm²)");
        assert_eq!(axis_unit("power_w", 40.0).desc, "average power (W)");
    }

    #[test]
    fn ranges_are_log_only_over_wide_positive_data() {
        assert!(axis_range([1.0, 100.0].into_iter()).unwrap().2);
        let (lo, hi, log) = axis_range([5.0, 5.0].into_iter()).unwrap();
        assert!(!log && lo < 5.0 && hi > 5.0);
        assert!(axis_range([f64::NAN].into_iter()).is_none());
    }

    #[test]
    fn tooltips_are_escaped_and_grouped() {
        let svg = "<svg></svg>".to_string();
        let tips = [Tip {
            at: (1, 2),
            text: "a<b & \"c\"".into(),
            layer: ("vchip-front", "m".into()),
        }];
        let out = with_tooltips(svg, &tips);
        assert!(out.contains("<title>a&lt;b &amp; &quot;c&quot;</title>"));
        assert!(out.contains("class=\"vchip-front\" data-model=\"m\""));
        assert!(out.ends_with("</svg>"));
    }
}
