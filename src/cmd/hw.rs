//! `vchip hw`: the embedded hardware presets.

use crate::report::Format;
use anyhow::{Context, Result};
use clap::Subcommand;

use super::args::OutArgs;

#[derive(Subcommand)]
pub enum HwCmd {
    /// List the embedded presets.
    ///
    /// Examples: `vchip hw list`, `vchip hw list --format json | jq '.[].name'`
    List {
        /// `table` (default) or `json`: an array of {name, kind, description}.
        #[arg(long, value_enum, default_value = "table")]
        format: Format,
    },
    /// Print a hardware description as YAML, ready to edit and pass back with --hw FILE: a preset
    /// verbatim (with its sources), or a YAML / SCALE-Sim .cfg file as vchip reads it.
    ///
    /// Examples: `vchip hw show tpu-v1 > my.yaml`, `vchip hw show scale.cfg`,
    /// `vchip hw show tpu-v1 --derived`
    Show {
        name: String,
        /// Also print what the model derives from the description (peak rate, levels,
        /// ridge point, area, per-access energies) as YAML comments, so the output still
        /// loads with --hw.
        #[arg(long)]
        derived: bool,
    },
}

pub fn run(cmd: HwCmd) -> Result<()> {
    match cmd {
        HwCmd::List { format } => {
            let mut rows = Vec::new();
            for p in vchip_hwmodels::presets::PRESETS {
                let spec = vchip_hwmodels::HardwareSpec::from_yaml(p.name, p.yaml)?;
                rows.push((
                    p.name,
                    format!("{:?}", spec.kind).to_lowercase(),
                    spec.description,
                ));
            }
            let text = match format {
                Format::Json => {
                    let v: Vec<serde_json::Value> = rows
                        .iter()
                        .map(
                            |(n, k, d)| serde_json::json!({"name": n, "kind": k, "description": d}),
                        )
                        .collect();
                    serde_json::to_string_pretty(&v)? + "\n"
                }
                _ => rows
                    .iter()
                    .map(|(n, k, d)| format!("{n:<18} {k:<9} {d}\n"))
                    .collect(),
            };
            OutArgs::stdout().emit(&text)
        }
        HwCmd::Show { name, derived } => {
            let with_derived = |text: String| -> Result<String> {
                if !derived {
                    return Ok(text);
                }
                let model = vchip_hwmodels::build_model(vchip_hwmodels::load_hardware(&name)?)?;
                let mut out = text;
                if !out.ends_with('\n') {
                    out.push('\n');
                }
                out.push_str("# derived by vchip from the description above (not an input):\n");
                for (k, v) in model.derived() {
                    out.push_str(&format!("#   {k}: {}\n", short_number(v)));
                }
                Ok(out)
            };
            if let Some(p) = vchip_hwmodels::presets::find(&name) {
                return OutArgs::stdout().emit(&with_derived(p.yaml.to_string())?);
            }
            if std::path::Path::new(&name).exists() {
                // Checked as --hw would check it, then printed as vchip resolved it.
                let spec = vchip_hwmodels::load_hardware(&name)?;
                return OutArgs::stdout().emit(&with_derived(spec.to_yaml())?);
            }
            let hint = vchip_workloads::suggest(
                &name,
                vchip_hwmodels::presets::PRESETS.iter().map(|p| p.name),
            )
            .map_or(String::new(), |s| format!("; did you mean `{s}`?"));
            Err(anyhow::anyhow!(
                "unknown preset `{name}` (see `vchip hw list`){hint}"
            ))
            .context("hw show: give a preset name or a .yaml/.cfg file")
        }
    }
}

/// A figure with four significant digits, without trailing zeros or exponent noise.
fn short_number(v: f64) -> String {
    if v == 0.0 || !v.is_finite() {
        return format!("{v}");
    }
    let digits = (3 - v.abs().log10().floor() as i32).clamp(0, 12) as usize;
    let s = format!("{v:.digits$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}
