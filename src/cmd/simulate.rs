//! `vchip simulate`: one network on one chip, step by step.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;
use vchip::report;

use super::args::{load, EngineArgs, McuArgs, ModelArgs, OutArgs};

#[derive(Args)]
pub struct SimulateArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    /// Hardware preset name (see `vchip hw list`), a YAML file, or a SCALE-Sim .cfg file.
    #[arg(long)]
    pub hw: String,
    #[command(flatten)]
    pub engine: EngineArgs,
    #[command(flatten)]
    pub mcu: McuArgs,
    /// A microcontroller network that does not fit the board's SRAM or flash is an error; with
    /// this flag it is reported (`mcu.fits: false`) instead.
    #[arg(long)]
    pub allow_no_fit: bool,
    /// Draw a roofline (one point per step against each off-chip level and the compute peak)
    /// as SVG.
    #[arg(long, value_name = "SVG")]
    pub plot: Option<PathBuf>,
    #[command(flatten)]
    pub out: OutArgs,
}

pub fn run(a: SimulateArgs) -> Result<()> {
    let SimulateArgs {
        model,
        hw,
        engine,
        mcu,
        allow_no_fit,
        plot,
        out,
    } = a;
    let loaded = load(&hw, std::slice::from_ref(&model.model), &model.trace, &mcu)?;
    let hwm = loaded.model;
    let trace = &loaded.traces[0];
    let result = vchip_sim::simulate(trace, hwm.as_ref(), &engine.opts())?;
    if let Some(m) = result.mcu.as_ref().filter(|m| !m.fits && !allow_no_fit) {
        anyhow::bail!("{}", report::mcu_no_fit(&result.model, m));
    }
    out.emit(&report::render_sim(&result, out.format))?;
    if let Some(path) = &plot {
        let peak_flops = 2.0 * hwm.peak_macs_per_cycle() as f64 * result.clock_hz;
        let drawn = vchip::plot::roofline_svg(path, &result, peak_flops)
            .with_context(|| format!("cannot write {}", path.display()))?;
        if !drawn {
            eprintln!(
                "warning: --plot: no roofline drawn, no step of {} moves off-chip data (everything stays on chip)",
                result.model
            );
        }
    }
    Ok(())
}
