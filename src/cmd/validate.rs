//! `vchip validate`: times real kernels on this machine and reports the models' error.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::Args;

#[derive(Args)]
pub struct ValidateArgs {
    /// cpu (the host) or gpu (through wgpu).
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// A smaller kernel set and shorter timing (well under a minute).
    #[arg(long)]
    pub quick: bool,
    /// Report directory (report.md, report.json, scatter.svg and .png, host-cpu.yaml,
    /// measurements.json).
    #[arg(short = 'o', long = "output", default_value = "report")]
    pub output: PathBuf,
    /// CPU only: calibrate and predict from the measurements.json of an earlier run instead
    /// of timing again (same vchip version and --quick setting).
    #[arg(long, value_name = "MEASUREMENTS_JSON")]
    pub from: Option<PathBuf>,
}

pub fn run(a: ValidateArgs) -> Result<()> {
    let ValidateArgs {
        device,
        quick,
        output,
        from,
    } = a;
    if device == "cpu" || device == "gpu" {
        writable_dir(&output)?;
    }
    match device.as_str() {
        "cpu" => {
            let progress = |line: &str| eprintln!("{line}");
            let m = match &from {
                Some(path) => {
                    let text = std::fs::read_to_string(path)
                        .with_context(|| format!("cannot read {}", path.display()))?;
                    let m: vchip_validate::run::CpuMeasurements = serde_json::from_str(&text)
                        .with_context(|| {
                            format!(
                            "{}: not the measurements.json of a `vchip validate --device cpu` run",
                            path.display()
                        )
                        })?;
                    if m.quick != quick {
                        bail!(
                            "{} holds a{} run: {} --quick to match",
                            path.display(),
                            if m.quick { " --quick" } else { " full" },
                            if m.quick { "add" } else { "drop" }
                        );
                    }
                    m
                }
                None => vchip_validate::run::measure_cpu(quick, &progress)?,
            };
            let r = vchip_validate::calibrate::calibrate(&m, &progress).with_context(
                || match &from {
                    Some(p) => format!("calibrating from {}", p.display()),
                    None => "calibrating".to_string(),
                },
            )?;
            crate::validation_report::write(&r, &m, &output)?;
            print!("{}", crate::validation_report::summary(&r));
            println!(
                "report: {}/report.md (calibrated host model: {}/host-cpu.yaml)",
                output.display(),
                output.display()
            );
            Ok(())
        }
        "gpu" if from.is_some() => {
            bail!("--from re-analyses CPU measurements only: drop it for --device gpu")
        }
        "gpu" => {
            let r = vchip_validate::gpu::run_gpu(quick, &|line| eprintln!("{line}"))?;
            crate::validation_report::write_gpu(&r, &output)?;
            println!(
                "adapter {} ({}): fidelity {}",
                r.adapter, r.device_type, r.fidelity
            );
            println!("report: {}/gpu-report.md", output.display());
            let wrong: Vec<&str> = r
                .kernels
                .iter()
                .filter(|k| !k.correct)
                .map(|k| k.name.as_str())
                .collect();
            if !wrong.is_empty() {
                bail!("GPU kernels gave wrong results: {}", wrong.join(", "));
            }
            Ok(())
        }
        other => bail!("--device `{other}`: use cpu or gpu"),
    }
}

/// Checks, before minutes of timing, that the report directory can be created and written: a run
/// that timed every kernel and then could not write lost its measurements.
fn writable_dir(dir: &std::path::Path) -> Result<()> {
    std::fs::create_dir_all(dir)
        .with_context(|| format!("cannot create the report directory {}", dir.display()))?;
    let probe = dir.join(format!(".vchip-write-test-{}", std::process::id()));
    std::fs::write(&probe, b"")
        .with_context(|| format!("cannot write into the report directory {}", dir.display()))?;
    let _ = std::fs::remove_file(&probe);
    Ok(())
}
