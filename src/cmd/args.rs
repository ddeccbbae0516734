//! Arguments shared by several subcommands, and the one loader of hardware and models.

use std::path::PathBuf;

use crate::report::{self, Format};
use crate::session::{self, HwOptions, Loaded, TraceRequest};
use anyhow::{bail, Context, Result};
use clap::Args;
use vchip_hwmodels::{Compat, CostOptions, Fusion};

#[derive(Clone, Copy, clap::ValueEnum)]
pub enum CompatArg {
    Native,
    Scalesim,
}

#[derive(Clone, Copy, clap::ValueEnum)]
pub enum FusionArg {
    On,
    Off,
}

/// Options of particular hardware kinds (microcontrollers, GPUs).
#[derive(Args, Clone, Default)]
pub struct HwArgs {
    /// Kernel library of an MCU board: `tflm` (reference kernels), `cmsis-nn`, or `vendor` (the
    /// vendor's optimised runtime, e.g. ST X-CUBE-AI); default: the board's `mcu.library`.
    #[arg(long, value_name = "LIB")]
    pub lib: Option<String>,
    /// Run on the board's Ethos-U NPU (`on`, the default where there is one) or on the core.
    #[arg(long, value_enum, value_name = "on|off")]
    pub npu: Option<FusionArg>,
    /// GPUs: launch kernels from a captured CUDA graph (`on`) or one by one from the host (`off`,
    /// the default of the presets).
    #[arg(long, value_enum, value_name = "on|off")]
    pub cuda_graphs: Option<FusionArg>,
}

impl HwArgs {
    pub fn options(&self) -> HwOptions {
        HwOptions {
            lib: self.lib.clone(),
            npu: self.npu.map(|v| matches!(v, FusionArg::On)),
            cuda_graphs: self.cuda_graphs.map(|v| matches!(v, FusionArg::On)),
        }
    }
}

#[derive(Args)]
pub struct EngineArgs {
    /// Conventions: `native` (vchip) or `scalesim` (reproduce SCALE-Sim v3 CALC mode exactly,
    /// layer by layer).
    #[arg(long, value_enum, default_value = "native")]
    pub compat: CompatArg,
    /// `on`: whole-graph schedule (BatchNorm folded, epilogues fused, activations kept on chip
    /// while they fit); `off`: every op alone, activations through off-chip memory.
    #[arg(long, value_enum, default_value = "on")]
    pub fusion: FusionArg,
}

impl EngineArgs {
    pub fn opts(&self) -> CostOptions {
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
pub struct ModelArgs {
    /// A zoo name (see `vchip zoo`) or a file: .onnx, .csv (SCALE-Sim topology), .json (HF config), or DSL.
    pub model: String,
    #[command(flatten)]
    pub trace: TraceArgs,
}

#[derive(Args)]
pub struct TraceArgs {
    #[arg(long, default_value_t = 1)]
    pub batch: u64,
    /// Sequence length (encoders) or prompt length (LLM prefill).
    #[arg(long, alias = "prompt")]
    pub seq: Option<u64>,
    /// Tokens already cached for an LLM decode step (default: --seq).
    #[arg(long)]
    pub context: Option<u64>,
    /// LLM phase to trace: prefill, decode or both (default).
    #[arg(long)]
    pub phase: Option<String>,
    /// Precision policy, e.g. `int8`, `bf16`, `w4a8`, or `int8;*fc*=f32` (per-layer overrides).
    #[arg(long)]
    pub precision: Option<String>,
    /// Cost ONNX ops vchip does not know at zero (with a warning) instead of failing.
    #[arg(long)]
    pub allow_unknown: bool,
    /// Tensor parallelism for LLMs: the trace is one GPU's Megatron share, with an all-reduce
    /// after attention and after the MLP.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=1024))]
    pub tp: u64,
    /// MoE routing: `balanced` (default), `zipf:S` (expert i gets a share ∝ 1/(i+1)^S), or one
    /// share per expert (`0.4,0.2,...`).
    #[arg(long, value_name = "LOAD")]
    pub expert_load: Option<String>,
    /// MoE with --tp N: place the experts whole, experts/N per GPU (expert parallelism), instead
    /// of splitting every expert N ways; the busiest GPU sets the pace.
    #[arg(long)]
    pub expert_parallel: bool,
    /// ONNX: the size of a symbolic input dimension, by the exporter's name (`--dim batch=8
    /// --dim sequence_length=2048`); repeatable.
    #[arg(long = "dim", value_name = "NAME=N")]
    pub dims: Vec<String>,
}

#[derive(Args)]
pub struct OutArgs {
    #[arg(long, value_enum, default_value = "table")]
    pub format: Format,
    /// Write to FILE (atomically) instead of standard output; `-` is standard output.
    #[arg(short = 'o', long = "output")]
    pub output: Option<PathBuf>,
    /// With `--format csv`: end with a `total` row.
    #[arg(long)]
    pub totals: bool,
}

impl ModelArgs {
    pub fn load(&self, hw_precision: Option<&str>) -> Result<vchip_workloads::Trace> {
        self.trace.load(&self.model, hw_precision)
    }
}

impl TraceArgs {
    pub fn request(&self) -> TraceRequest {
        TraceRequest {
            batch: self.batch,
            seq: self.seq,
            context: self.context,
            phase: self.phase.clone(),
            precision: self.precision.clone(),
            allow_unknown: self.allow_unknown,
            tp: self.tp,
            expert_load: self.expert_load.clone(),
            expert_parallel: self.expert_parallel,
            dims: self.dims.clone(),
        }
    }

    /// Loads the trace (warning about options the model has no use for); `hw_precision` is the
    /// hardware's own number format, used when the user gives no --precision.
    pub fn load(&self, model: &str, hw_precision: Option<&str>) -> Result<vchip_workloads::Trace> {
        let request = self.request();
        if let Some(w) = request.inapplicable(model) {
            eprintln!("warning: {w}");
        }
        request.load(model, hw_precision)
    }
}

impl OutArgs {
    /// Standard output in the default format.
    pub fn stdout() -> OutArgs {
        OutArgs {
            format: Format::Table,
            output: None,
            totals: false,
        }
    }

    pub fn emit(&self, text: &str) -> Result<()> {
        match &self.output {
            Some(path) => report::write_atomic(path, text.as_bytes())
                .with_context(|| format!("cannot write {}", path.display())),
            None => {
                use std::io::Write as _;
                let mut out = std::io::stdout().lock();
                match out.write_all(text.as_bytes()).and_then(|_| out.flush()) {
                    // A reader that stopped early (`| head`) is not an error of ours.
                    Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
                    r => r.context("cannot write to standard output"),
                }
            }
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
pub const DEFAULT_RESOLUTIONS: &str = "160,176,192,208,224";

pub fn parse_resolutions(s: &str) -> Result<Vec<u64>> {
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
pub fn parse_objectives(s: Option<&str>) -> Result<Vec<String>> {
    let Some(s) = s else { return Ok(Vec::new()) };
    let objectives: Vec<String> = s
        .split(',')
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
        .collect::<Result<_>>()?;
    for (i, o) in objectives.iter().enumerate() {
        if objectives[..i].contains(o) {
            bail!("--pareto: `{o}` is given twice");
        }
    }
    Ok(objectives)
}

/// Loads the hardware and the models the one way every command does (`crate::session::load`),
/// warning about options the models have no use for.
pub fn load(hw: &str, models: &[String], trace: &TraceArgs, kind: &HwArgs) -> Result<Loaded> {
    let request = trace.request();
    for m in models {
        if let Some(w) = request.inapplicable(m) {
            eprintln!("warning: {w}");
        }
    }
    session::load(hw, models, &request, &kind.options())
}
