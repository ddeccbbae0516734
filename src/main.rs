//! The `vchip` command line.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand};
use vchip::report::{self, Format};
use vchip_hwmodels::{Compat, CostOptions};
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
        /// Conventions: `native` (vchip) or `scalesim` (reproduce SCALE-Sim v3 CALC mode exactly).
        #[arg(long, value_enum, default_value = "native")]
        compat: CompatArg,
        #[command(flatten)]
        out: OutArgs,
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

#[derive(Args)]
struct ModelArgs {
    /// A zoo name (see `vchip zoo`) or a file: .onnx, .csv (SCALE-Sim topology), .json (HF config), or DSL.
    model: String,
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
    /// Loads the trace; `hw_precision` is the hardware's own number format, used when the user
    /// gives no --precision.
    fn load(&self, hw_precision: Option<&str>) -> Result<vchip_workloads::Trace> {
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
        let mut trace = vchip_workloads::load_model(&self.model, &opts)?;
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
            compat,
            out,
        } => {
            let spec = vchip_hwmodels::load_hardware(&hw)?;
            let trace = model.load(spec.precision.as_deref())?;
            let hwm = vchip_hwmodels::build_model(spec)?;
            let compat = match compat {
                CompatArg::Native => Compat::Native,
                CompatArg::Scalesim => Compat::Scalesim,
            };
            let result = vchip_sim::simulate(&trace, hwm.as_ref(), &CostOptions { compat })?;
            out.emit(&report::render_sim(&result, out.format))
        }
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
