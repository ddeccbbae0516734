//! The `vchip` command line.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand};
use vchip::report::{self, Format};

mod table_cmd;
use vchip_hwmodels::{Compat, CostOptions, Fusion};
use vchip_workloads::{hf::LlmPhase, precision::PrecisionPolicy, zoo, TraceOptions};

#[derive(Parser)]
#[command(
    name = "vchip",
    version,
    about = "Hardware simulator and co-design modeling tool"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Print a network's operator trace: shapes, dtypes, MACs, parameters, bytes.
    Trace {
        #[command(flatten)]
        model: ModelArgs,
        #[command(flatten)]
        out: OutArgs,
    },
    /// List the built-in models.
    Zoo,
    /// Simulate a network on a hardware model: per-layer cycles, stalls, traffic, energy.
    Simulate {
        #[command(flatten)]
        model: ModelArgs,
        /// Hardware preset name (see `vchip hw list`), a YAML file, or a SCALE-Sim .cfg file.
        #[arg(long)]
        hw: String,
        #[command(flatten)]
        engine: EngineArgs,
        /// Draw a roofline (one point per step against each off-chip level and the compute peak)
        /// as SVG.
        #[arg(long, value_name = "SVG")]
        plot: Option<PathBuf>,
        #[command(flatten)]
        out: OutArgs,
    },
    /// Sweep hardware parameters over one or more models, in parallel; resumable and shardable.
    Sweep {
        /// Zoo names or model files.
        #[arg(required = true)]
        models: Vec<String>,
        #[command(flatten)]
        trace: TraceArgs,
        /// Base hardware: preset, YAML file or SCALE-Sim .cfg.
        #[arg(long)]
        hw: String,
        /// KEY=VALUES: a numeric YAML key and its values: `32,64,128`, `16..128:16`, `16..256:x2`.
        #[arg(long = "set", required = true)]
        set: Vec<String>,
        /// grid, random:N or lhs:N (Latin hypercube).
        #[arg(long, default_value = "grid")]
        sample: String,
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Objectives of the Pareto front: latency, energy, area, edp, power (comma-separated).
        #[arg(long)]
        pareto: Option<String>,
        /// Draw the front over the first two objectives as SVG.
        #[arg(long)]
        plot: Option<PathBuf>,
        /// Evaluate slice i of N (0-based), e.g. 0/4; merge the parts later with `vchip merge`.
        #[arg(long)]
        shard: Option<String>,
        /// Directory for part files (default: OUTPUT.parts).
        #[arg(long)]
        parts: Option<PathBuf>,
        /// Result table: .parquet (default) or .csv.
        #[arg(short = 'o', long = "output", default_value = "sweep.parquet")]
        output: PathBuf,
        #[command(flatten)]
        engine: EngineArgs,
    },
    /// Per-op cost tables of a NAS search space for a device (OFA LUT YAML, HW-NAS-Bench JSON,
    /// DyNAS-T CSV, rich Parquet).
    Table(table_cmd::TableArgs),
    /// Join the part files of a (sharded) sweep into one table.
    Merge {
        /// The parts directory.
        parts: PathBuf,
        #[arg(long)]
        pareto: Option<String>,
        #[arg(long)]
        plot: Option<PathBuf>,
        #[arg(short = 'o', long = "output", default_value = "sweep.parquet")]
        output: PathBuf,
    },
    /// Time real kernels on this machine and report how far the models' predictions are.
    Validate {
        /// cpu (the host) or gpu (through wgpu).
        #[arg(long, default_value = "cpu")]
        device: String,
        /// A smaller kernel set and shorter timing (well under a minute).
        #[arg(long)]
        quick: bool,
        /// Report directory (report.md, report.json, scatter.svg, host-cpu.yaml,
        /// measurements.json).
        #[arg(short = 'o', long = "output", default_value = "report")]
        output: PathBuf,
        /// CPU only: calibrate and predict from the measurements.json of an earlier run instead
        /// of timing again (same vchip version and --quick setting).
        #[arg(long, value_name = "MEASUREMENTS_JSON")]
        from: Option<PathBuf>,
    },
    /// Hardware presets.
    Hw {
        #[command(subcommand)]
        cmd: HwCmd,
    },
}

#[derive(Subcommand)]
enum HwCmd {
    /// List the embedded presets.
    List,
    /// Print a preset as YAML (with its sources), ready to edit and pass back with --hw FILE.
    Show { name: String },
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum CompatArg {
    Native,
    Scalesim,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum FusionArg {
    On,
    Off,
}

#[derive(Args)]
struct EngineArgs {
    /// Conventions: `native` (vchip) or `scalesim` (reproduce SCALE-Sim v3 CALC mode exactly,
    /// layer by layer).
    #[arg(long, value_enum, default_value = "native")]
    compat: CompatArg,
    /// `on`: whole-graph schedule (BatchNorm folded, epilogues fused, activations kept on chip
    /// while they fit); `off`: every op alone, activations through off-chip memory.
    #[arg(long, value_enum, default_value = "on")]
    fusion: FusionArg,
}

impl EngineArgs {
    fn opts(&self) -> CostOptions {
        CostOptions {
            compat: self.compat.into(),
            fusion: match self.fusion {
                FusionArg::On => Fusion::On,
                FusionArg::Off => Fusion::Off,
            },
            ..CostOptions::default()
        }
    }
}

#[derive(Args)]
struct ModelArgs {
    /// A zoo name (see `vchip zoo`) or a file: .onnx, .csv (SCALE-Sim topology), .json (HF config), or DSL.
    model: String,
    #[command(flatten)]
    trace: TraceArgs,
}

#[derive(Args)]
pub(crate) struct TraceArgs {
    #[arg(long, default_value_t = 1)]
    batch: u64,
    /// Sequence length (encoders) or prompt length (LLM prefill).
    #[arg(long)]
    seq: Option<u64>,
    /// Tokens already cached for an LLM decode step (default: --seq).
    #[arg(long)]
    context: Option<u64>,
    /// LLM phase to trace: prefill, decode or both.
    #[arg(long, default_value = "both")]
    phase: String,
    /// Precision policy, e.g. `int8`, `bf16`, `w4a8`, or `int8;*fc*=f32` (per-layer overrides).
    #[arg(long)]
    precision: Option<String>,
    /// Cost ONNX ops vchip does not know at zero (with a warning) instead of failing.
    #[arg(long)]
    allow_unknown: bool,
}

#[derive(Args)]
struct OutArgs {
    #[arg(long, value_enum, default_value = "table")]
    format: Format,
    /// Write to FILE (atomically) instead of standard output.
    #[arg(short = 'o', long = "output")]
    output: Option<PathBuf>,
}

impl ModelArgs {
    fn load(&self, hw_precision: Option<&str>) -> Result<vchip_workloads::Trace> {
        self.trace.load(&self.model, hw_precision)
    }
}

impl TraceArgs {
    /// Loads the trace; `hw_precision` is the hardware's own number format, used when the user
    /// gives no --precision.
    pub(crate) fn load(
        &self,
        model: &str,
        hw_precision: Option<&str>,
    ) -> Result<vchip_workloads::Trace> {
        if self.batch == 0 {
            bail!("--batch must be at least 1");
        }
        if self.seq == Some(0) || self.context == Some(0) {
            bail!("--seq and --context must be at least 1");
        }
        let phase = LlmPhase::parse(&self.phase)
            .with_context(|| format!("--phase `{}`: use prefill, decode or both", self.phase))?;
        let opts = TraceOptions {
            batch: self.batch,
            seq: self.seq,
            context: self.context,
            llm_phase: phase,
            allow_unknown: self.allow_unknown,
        };
        let mut trace = vchip_workloads::load_model(model, &opts)?;
        if let Some(p) = self.precision.as_deref().or(hw_precision) {
            PrecisionPolicy::parse(p)?.apply(&mut trace);
        }
        Ok(trace)
    }
}

impl OutArgs {
    fn emit(&self, text: &str) -> Result<()> {
        match &self.output {
            Some(path) => report::write_atomic(path, text.as_bytes())
                .with_context(|| format!("cannot write {}", path.display())),
            None => {
                print!("{text}");
                Ok(())
            }
        }
    }
}

fn run(cli: Cli) -> Result<()> {
    match cli.cmd {
        Cmd::Trace { model, out } => {
            let trace = model.load(None)?;
            out.emit(&report::render_trace(&trace, out.format))
        }
        Cmd::Zoo => {
            for e in zoo::ZOO {
                println!("{:<22} {}", e.name, e.description);
            }
            Ok(())
        }
        Cmd::Simulate {
            model,
            hw,
            engine,
            plot,
            out,
        } => {
            let spec = vchip_hwmodels::load_hardware(&hw)?;
            let trace = model.load(spec.precision.as_deref())?;
            let hwm = vchip_hwmodels::build_model(spec)?;
            let result = vchip_sim::simulate(&trace, hwm.as_ref(), &engine.opts())?;
            if let Some(path) = &plot {
                let peak_flops = 2.0 * hwm.peak_macs_per_cycle() as f64 * result.clock_hz;
                vchip::plot::roofline_svg(path, &result, peak_flops)
                    .with_context(|| format!("cannot write {}", path.display()))?;
            }
            out.emit(&report::render_sim(&result, out.format))
        }
        Cmd::Sweep {
            models,
            trace,
            hw,
            set,
            sample,
            seed,
            pareto,
            plot,
            shard,
            parts,
            output,
            engine,
        } => {
            use vchip_explore::{run_sweep, sweep};
            // Everything is checked before any work starts.
            let base = vchip_hwmodels::load_hardware(&hw)?;
            let axes = set
                .iter()
                .map(|s| sweep::parse_axis(s))
                .collect::<Result<Vec<_>, _>>()?;
            sweep::check_axes(&base, &axes)?;
            let sampling = sweep::Sampling::parse(&sample)?;
            let shard = shard
                .as_deref()
                .map(sweep::Shard::parse)
                .transpose()?
                .unwrap_or(sweep::Shard { index: 0, count: 1 });
            let objectives = parse_objectives(pareto.as_deref())?;
            if plot.is_some() && objectives.len() < 2 {
                bail!("--plot needs at least two --pareto objectives");
            }
            let points = sweep::points(&axes, sampling, seed)?;
            let traces = models
                .iter()
                .map(|m| trace.load(m, base.precision.as_deref()))
                .collect::<Result<Vec<_>>>()?;
            let parts = parts.unwrap_or_else(|| output.with_extension("parts"));
            let manifest = run_sweep::Manifest {
                models: models.clone(),
                hardware: hw.clone(),
                base_yaml_digest: run_sweep::digest(&base.to_yaml()),
                keys: set.clone(),
                points: points.len(),
                sampling: sample.clone(),
                seed,
                engine: format!(
                    "vchip {} {:?} fusion {:?}",
                    env!("CARGO_PKG_VERSION"),
                    engine.opts().compat,
                    engine.opts().fusion
                ),
            };
            run_sweep::open_parts(&parts, &manifest)?;
            let graphs = traces
                .iter()
                .map(|t| vchip_sim::prepare(t, &engine.opts()))
                .collect::<Result<Vec<_>, _>>()?;
            let job = run_sweep::SweepJob {
                models: &graphs,
                base: &base,
                axes: &axes,
                points: &points,
                opts: engine.opts(),
            };
            let owned = points.len().div_ceil(run_sweep::CHUNK);
            let owned_points = (0..owned)
                .filter(|c| shard.owns(*c))
                .map(|c| (points.len() - c * run_sweep::CHUNK).min(run_sweep::CHUNK))
                .sum::<usize>();
            let bar = indicatif::ProgressBar::new(owned_points as u64);
            bar.set_style(
                indicatif::ProgressStyle::with_template(
                    "{bar:40} {pos}/{len} points  {per_sec}  ETA {eta}",
                )
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
            let start = std::time::Instant::now();
            run_sweep::run(&job, &parts, shard, &|done| bar.set_position(done))?;
            bar.finish_and_clear();
            let secs = start.elapsed().as_secs_f64();
            eprintln!(
                "{} points x {} model(s) in {:.2} s ({:.0} points/s)",
                owned_points,
                traces.len(),
                secs,
                owned_points as f64 / secs.max(1e-9)
            );
            if shard.count > 1 {
                eprintln!(
                    "shard {}/{} done; join all shards with `vchip merge {}`",
                    shard.index,
                    shard.count,
                    parts.display()
                );
                return Ok(());
            }
            finish_table(&parts, &objectives, plot.as_deref(), &output)
        }
        Cmd::Table(args) => table_cmd::run(args),
        Cmd::Merge {
            parts,
            pareto,
            plot,
            output,
        } => {
            let objectives = parse_objectives(pareto.as_deref())?;
            if plot.is_some() && objectives.len() < 2 {
                bail!("--plot needs at least two --pareto objectives");
            }
            finish_table(&parts, &objectives, plot.as_deref(), &output)
        }
        Cmd::Validate {
            device,
            quick,
            output,
            from,
        } => match device.as_str() {
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
                let r =
                    vchip_validate::calibrate::calibrate(&m, &progress).with_context(
                        || match &from {
                            Some(p) => format!("calibrating from {}", p.display()),
                            None => "calibrating".to_string(),
                        },
                    )?;
                vchip::validation_report::write(&r, &m, &output)?;
                print!("{}", vchip::validation_report::summary(&r));
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
                vchip::validation_report::write_gpu(&r, &output)?;
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
        },
        Cmd::Hw { cmd: HwCmd::List } => {
            for p in vchip_hwmodels::presets::PRESETS {
                let spec = vchip_hwmodels::HardwareSpec::from_yaml(p.name, p.yaml)?;
                println!("{:<16} {}", p.name, spec.description);
            }
            Ok(())
        }
        Cmd::Hw {
            cmd: HwCmd::Show { name },
        } => {
            let p = vchip_hwmodels::presets::find(&name)
                .with_context(|| format!("unknown preset `{name}` (see `vchip hw list`)"))?;
            print!("{}", p.yaml);
            Ok(())
        }
    }
}

impl From<CompatArg> for Compat {
    fn from(c: CompatArg) -> Self {
        match c {
            CompatArg::Native => Compat::Native,
            CompatArg::Scalesim => Compat::Scalesim,
        }
    }
}

/// OFA's resolutions; the default of `vchip table --resolutions`.
const DEFAULT_RESOLUTIONS: &str = "160,176,192,208,224";

fn parse_resolutions(s: &str) -> Result<Vec<u64>> {
    s.split(',')
        .map(|r| {
            r.trim()
                .parse::<u64>()
                .ok()
                .filter(|r| (32..=1024).contains(r))
        })
        .collect::<Option<Vec<_>>>()
        .with_context(|| format!("--resolutions `{s}`: comma-separated sizes from 32 to 1024"))
}

/// Maps user-facing objective names to table columns.
fn parse_objectives(s: Option<&str>) -> Result<Vec<String>> {
    let Some(s) = s else { return Ok(Vec::new()) };
    s.split(',')
        .map(|o| {
            Ok(match o.trim() {
                "latency" | "latency_s" => "latency_s",
                "energy" | "energy_j" => "energy_j",
                "area" | "area_mm2" => "area_mm2",
                "edp" => "edp",
                "power" | "power_w" => "power_w",
                other => bail!(
                    "--pareto: unknown objective `{other}`; use latency, energy, area, edp, power"
                ),
            }
            .to_string())
        })
        .collect()
}

fn finish_table(
    parts: &std::path::Path,
    objectives: &[String],
    plot: Option<&std::path::Path>,
    output: &std::path::Path,
) -> Result<()> {
    let mut df = vchip_explore::run_sweep::merge(parts, objectives)?;
    vchip_explore::run_sweep::write_table(&mut df, output)?;
    eprintln!("wrote {} rows to {}", df.height(), output.display());
    if let Some(p) = plot {
        let pts = vchip_explore::run_sweep::scatter(&df, &objectives[0], &objectives[1])?;
        vchip::plot::pareto_svg(p, &pts, &objectives[0], &objectives[1])?;
        eprintln!("wrote {}", p.display());
    }
    Ok(())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
