//! `vchip simulate`: one network on one chip, step by step.

use std::path::PathBuf;

use crate::report;
use anyhow::{Context, Result};
use clap::Args;

use super::args::{load, EngineArgs, HwArgs, ModelArgs, OutArgs};

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
    pub mcu: HwArgs,
    /// A network that does not fit the hardware's memory (an MCU's SRAM or flash, a GPU's HBM, an
    /// accelerator's DRAM)
    /// is an error; with this flag it is reported (`fits: false`) instead.
    #[arg(long)]
    pub allow_no_fit: bool,
    /// LLM serving: generate this many tokens after the --prompt (--seq) tokens and report time
    /// to first token, time per output token, throughput, KV cache and fit (JSON `serving`).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=10_000_000))]
    pub gen: Option<u64>,
    /// Draw a roofline (one point per step against each off-chip level and the compute peak)
    /// as SVG (with a tooltip per step) or PNG.
    #[arg(long, value_name = "SVG|PNG")]
    pub plot: Option<PathBuf>,
    /// Also write SCALE-Sim's COMPUTE_REPORT.csv, BANDWIDTH_REPORT.csv and
    /// DETAILED_ACCESS_REPORT.csv (v3 layouts, one row per layer on the array) and LAYERS.csv
    /// (LayerID to vchip's layer and step) into DIR, for scripts written for SCALE-Sim (systolic
    /// kinds; with --compat scalesim the cycle and SRAM columns are SCALE-Sim's, the columns
    /// vchip does not compute SCALE-Sim's way read `nan`).
    #[arg(long, value_name = "DIR")]
    pub report_dir: Option<PathBuf>,
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
        gen,
        plot,
        report_dir,
        out,
    } = a;
    if let Some(p) = &plot {
        crate::plot::check_path(p)?;
    }
    if let Some(d) = report_dir.as_ref().filter(|d| d.exists() && !d.is_dir()) {
        anyhow::bail!(
            "--report-dir {}: a file is in the way; give a directory (it is created if absent)",
            d.display()
        );
    }
    let loaded = load(&hw, std::slice::from_ref(&model.model), &model.trace, &mcu)?;
    let hwm = loaded.model;
    let trace = loaded
        .traces
        .into_iter()
        .next()
        .context("no trace was loaded")?;
    let sim = crate::session::SimRequest {
        engine: engine.opts(),
        gen,
        allow_no_fit,
        detail: vchip_sim::Detail::Full,
    };
    let mut result = crate::session::simulate(
        &model.model,
        trace,
        &loaded.spec,
        hwm.as_ref(),
        &model.trace.request(),
        &sim,
    )?;
    // The inputs, not where the output goes: the same run written elsewhere is the same result.
    let mut command = Vec::new();
    let mut args = super::command_line().into_iter().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "-o" | "--output" | "--plot" => {
                args.next();
            }
            _ if a.starts_with("--output=") || a.starts_with("--plot=") => {}
            _ => command.push(a),
        }
    }
    result.provenance = Some(vchip_sim::Provenance {
        command,
        hardware: loaded.spec.clone(),
    });
    // The report files are checked (systolic, array layers) before anything is printed.
    let scalesim_files = report_dir
        .as_ref()
        .map(|_| crate::scalesim_report::render(&result))
        .transpose()?;
    out.emit(&report::render_sim_with(&result, out.format, out.totals))?;
    if let (Some(dir), Some(files)) = (&report_dir, scalesim_files) {
        crate::scalesim_report::write(dir, files)?;
    }
    if let Some(path) = &plot {
        let peak_flops = 2.0 * result.peak_macs_per_cycle as f64 * result.clock_hz;
        let drawn = crate::plot::roofline_plot(path, &result, peak_flops)
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
