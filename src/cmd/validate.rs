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
    /// Calibrate and predict from an earlier run instead of timing again: a CPU run's
    /// measurements.json (same vchip version and --quick setting) or a GPU run's gpu-report.json.
    #[arg(long, value_name = "RECORDING_JSON")]
    pub from: Option<PathBuf>,
    /// GPU only: the GPU description (preset or YAML file) that predicts the kernels; by
    /// default the preset the adapter's name matches.
    #[arg(long, value_name = "PRESET_OR_FILE")]
    pub hw: Option<String>,
}

pub fn run(a: ValidateArgs) -> Result<()> {
    let ValidateArgs {
        device,
        quick,
        output,
        from,
        hw,
    } = a;
    if hw.is_some() && device != "gpu" {
        bail!("--hw names the GPU description for --device gpu: drop it for --device {device}");
    }
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
        "gpu" => {
            if from.is_some() && quick {
                bail!("--quick chooses the kernels a GPU run times; a recording (--from) holds its own: drop --quick");
            }
            let mut r = match &from {
                Some(path) => {
                    let text = std::fs::read_to_string(path)
                        .with_context(|| format!("cannot read {}", path.display()))?;
                    serde_json::from_str::<vchip_validate::gpu::GpuReport>(&text).with_context(
                        || {
                            format!(
                                "{}: not the gpu-report.json of a `vchip validate --device gpu` run",
                                path.display()
                            )
                        },
                    )?
                }
                None => vchip_validate::gpu::run_gpu(quick, &|line| eprintln!("{line}"))?,
            };
            vchip_validate::gpu_fit::analyse(&mut r, hw.as_deref())
                .with_context(|| format!("predicting the GPU kernels on adapter {}", r.adapter))?;
            crate::validation_report::write_gpu(&r, &output)?;
            println!(
                "adapter {} ({}): fidelity {}",
                r.adapter, r.device_type, r.fidelity
            );
            if let Some(f) = r.fit.as_ref().filter(|f| f.test.kernels > 0) {
                println!(
                    "test part: {} kernels, MAPE {:.1} %, within ±10 % {:.0} %, Spearman {:.3}",
                    f.test.kernels, f.test.mape_pct, f.test.within_10_pct, f.test.spearman
                );
            }
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
