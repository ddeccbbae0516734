//! Arguments shared by several subcommands, and the one loader of hardware and models.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::Args;
use vchip::report::{self, Format};
use vchip_hwmodels::spec::mcu::Library;
use vchip_hwmodels::{Compat, CostOptions, Fusion, HardwareModel, HardwareSpec};
use vchip_workloads::{hf::LlmPhase, precision::PrecisionPolicy, Trace, TraceOptions};

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
    /// Applies the options to `spec`; an error if they do not apply to it.
    pub fn apply(&self, spec: &mut HardwareSpec) -> Result<()> {
        let name = spec.name.clone();
        if let Some(v) = self.cuda_graphs {
            let Some(g) = spec.gpu.as_mut() else {
                bail!("--cuda-graphs applies to GPUs (`kind: gpu`); `{name}` is not one (see `vchip hw list`)");
            };
            g.cuda_graphs = matches!(v, FusionArg::On);
        }
        if self.lib.is_none() && self.npu.is_none() {
            return Ok(());
        }
        let Some(m) = spec.mcu.as_mut() else {
            bail!("--lib and --npu apply to microcontroller hardware (`kind: mcu`); `{name}` is not one (see `vchip hw list`)");
        };
        if let Some(l) = &self.lib {
            m.library = Library::parse(l).with_context(|| {
                format!("--lib `{l}`: unknown kernel library; use tflm, cmsis-nn or vendor")
            })?;
        }
        match self.npu {
            Some(FusionArg::On) if m.npu.is_none() => {
                bail!("--npu on: `{name}` has no NPU (boards with one: corstone-300-u55); drop --npu or pick such a board")
            }
            Some(v) => m.use_npu = matches!(v, FusionArg::On),
            None => {}
        }
        Ok(())
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
    /// Loads the trace; `hw_precision` is the hardware's own number format, used when the user
    /// gives no --precision.
    pub fn load(&self, model: &str, hw_precision: Option<&str>) -> Result<vchip_workloads::Trace> {
        if self.batch == 0 {
            bail!("--batch must be at least 1");
        }
        if self.seq == Some(0) || self.context == Some(0) {
            bail!("--seq and --context must be at least 1");
        }
        let phase_name = self.phase.as_deref().unwrap_or("both");
        let phase = LlmPhase::parse(phase_name)
            .with_context(|| format!("--phase `{phase_name}`: use prefill, decode or both"))?;
        self.warn_inapplicable(model);
        let mut dims = Vec::new();
        for d in &self.dims {
            let parsed = d.split_once('=').and_then(|(k, v)| {
                let v = v.trim().parse::<u64>().ok().filter(|v| *v >= 1)?;
                Some((k.trim().to_string(), v))
            });
            match parsed {
                Some(kv) if dims.iter().any(|(k, _): &(String, u64)| *k == kv.0) => {
                    bail!("--dim {}: given twice; give each dimension once", kv.0)
                }
                Some(kv) if !kv.0.is_empty() => dims.push(kv),
                _ => bail!("--dim `{d}`: write NAME=N with N >= 1, e.g. --dim batch=8"),
            }
        }
        if !dims.is_empty() && !model.to_ascii_lowercase().ends_with(".onnx") {
            bail!("--dim names symbolic dimensions of an ONNX file's inputs; `{model}` is not one (use --batch/--seq)");
        }
        let opts = TraceOptions {
            batch: self.batch,
            seq: self.seq,
            context: self.context,
            llm_phase: phase,
            allow_unknown: self.allow_unknown,
            tp: self.tp,
            expert_load: self.expert_load.clone(),
            dims,
        };
        let mut trace = vchip_workloads::load_model(model, &opts)?;
        if let Some(p) = self.precision.as_deref().or(hw_precision) {
            PrecisionPolicy::parse(p)?.apply(&mut trace);
        }
        Ok(trace)
    }
}

/// Whether `model` has a sequence length (`--seq` applies) and is an LLM (`--context`, `--phase`
/// apply): LLM configs; DSL models that use `seq`; ONNX files (their dynamic dimensions).
fn model_dims(model: &str) -> (bool, bool) {
    use vchip_workloads::zoo::{self, Source};
    if let Some(e) = zoo::find(model) {
        return match e.source {
            Source::HfConfig(_) => (true, true),
            Source::Dsl(src) => (src.contains("seq"), false),
        };
    }
    let lower = model.to_ascii_lowercase();
    if lower.ends_with(".json") {
        (true, true)
    } else if lower.ends_with(".onnx") {
        (true, false)
    } else if lower.ends_with(".csv") || lower.starts_with("ofa-") {
        (false, false)
    } else {
        let seq = std::fs::read_to_string(model).is_ok_and(|t| t.contains("seq"));
        (seq, false)
    }
}

impl TraceArgs {
    /// Warns about options the model has no use for (they would pass silently otherwise).
    fn warn_inapplicable(&self, model: &str) {
        let (has_seq, llm) = model_dims(model);
        let mut unused = Vec::new();
        if self.seq.is_some() && !has_seq {
            unused.push("--seq/--prompt");
        }
        if self.context.is_some() && !llm {
            unused.push("--context");
        }
        if self.phase.is_some() && !llm {
            unused.push("--phase");
        }
        if !unused.is_empty() {
            eprintln!(
                "warning: {} do(es) not apply to `{model}` (it has no sequence or LLM phases); ignored",
                unused.join(", ")
            );
        }
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

/// Everything a costing command needs, loaded the one way every command loads it: the hardware
/// (preset, YAML or .cfg), its model, and each network traced with the user's precision or else
/// the hardware's own.
pub struct Loaded {
    pub spec: HardwareSpec,
    pub model: Box<dyn HardwareModel>,
    pub traces: Vec<Trace>,
}

pub fn load(hw: &str, models: &[String], trace: &TraceArgs, mcu: &HwArgs) -> Result<Loaded> {
    let mut spec = vchip_hwmodels::load_hardware(hw)?;
    mcu.apply(&mut spec)?;
    if trace.tp > 1 && spec.kind != vchip_hwmodels::spec::HwKind::Gpu {
        bail!(
            "--tp splits an LLM over GPUs; `{}` is not a GPU (kind: gpu presets: a100-sxm-80gb, h100-sxm, dgx-a100, dgx-h100, ...)",
            spec.name
        );
    }
    let traces = models
        .iter()
        .map(|m| trace.load(m, spec.precision.as_deref()))
        .collect::<Result<Vec<_>>>()?;
    let model = vchip_hwmodels::build_model(spec.clone())?;
    Ok(Loaded {
        spec,
        model,
        traces,
    })
}
