//! `vchip hw`: the embedded hardware presets.

use anyhow::{Context, Result};
use clap::Subcommand;

#[derive(Subcommand)]
pub enum HwCmd {
    /// List the embedded presets.
    List,
    /// Print a preset as YAML (with its sources), ready to edit and pass back with --hw FILE.
    Show { name: String },
}

pub fn run(cmd: HwCmd) -> Result<()> {
    match cmd {
        HwCmd::List => {
            let mut text = String::new();
            for p in vchip_hwmodels::presets::PRESETS {
                let spec = vchip_hwmodels::HardwareSpec::from_yaml(p.name, p.yaml)?;
                text.push_str(&format!("{:<18} {}\n", p.name, spec.description));
            }
            super::args::OutArgs::stdout().emit(&text)
        }
        HwCmd::Show { name } => {
            let p = vchip_hwmodels::presets::find(&name)
                .with_context(|| format!("unknown preset `{name}` (see `vchip hw list`)"))?;
            super::args::OutArgs::stdout().emit(p.yaml)
        }
    }
}
