//! What the command line and the Python package share: hardware and networks loaded the one way,
//! and a network simulated with the command line's checks (memory fit, LLM serving), so both
//! front-ends give the same numbers and the same error messages.

use anyhow::{bail, Context, Result};
use vchip_hwmodels::spec::mcu::Library;
use vchip_hwmodels::{CostOptions, HardwareModel, HardwareSpec};
use vchip_sim::SimResult;
use vchip_workloads::graph::Pass;
use vchip_workloads::{hf::LlmPhase, precision::PrecisionPolicy, Trace, TraceOptions};

/// How to trace a network: the options of `vchip trace`/`simulate` that shape the trace.
#[derive(Clone, Debug)]
pub struct TraceRequest {
    pub batch: u64,
    /// Sequence length (encoders) or prompt length (LLM prefill).
    pub seq: Option<u64>,
    /// Tokens already cached for an LLM decode step (default: `seq`).
    pub context: Option<u64>,
    /// `prefill`, `decode` or `both` (default).
    pub phase: Option<String>,
    /// Precision policy (`int8`, `w4a16`, `int8;*fc*=f32`); default: the hardware's own.
    pub precision: Option<String>,
    /// Cost ONNX ops vchip does not know at zero instead of failing.
    pub allow_unknown: bool,
    /// Tensor parallelism for LLMs (one GPU's Megatron share).
    pub tp: u64,
    /// MoE routing: `balanced`, `zipf:S` or one share per expert.
    pub expert_load: Option<String>,
    /// MoE: experts placed whole over the `tp` GPUs instead of split.
    pub expert_parallel: bool,
    /// ONNX symbolic dimensions, `NAME=N` each.
    pub dims: Vec<String>,
}

impl Default for TraceRequest {
    fn default() -> Self {
        TraceRequest {
            batch: 1,
            seq: None,
            context: None,
            phase: None,
            precision: None,
            allow_unknown: false,
            tp: 1,
            expert_load: None,
            expert_parallel: false,
            dims: Vec::new(),
        }
    }
}

impl TraceRequest {
    /// Loads the trace; `hw_precision` is the hardware's own number format, used when the request
    /// names no precision.
    pub fn load(&self, model: &str, hw_precision: Option<&str>) -> Result<Trace> {
        self.load_with(model, hw_precision, None)
    }

    /// [`Self::load`] for a query that reads totals only: a search-space model comes with empty
    /// op and tensor names (`vchip_workloads::load_model_unnamed`), which a report then lacks,
    /// unless the precision names ops ([`Self::loads_unnamed`]). `passes` are those the graph
    /// will get (`vchip_sim::passes_for`): a BatchNorm fold among them is done as it is built.
    pub fn load_unnamed(
        &self,
        model: &str,
        hw_precision: Option<&str>,
        passes: &[Pass],
    ) -> Result<Trace> {
        let unnamed = self.loads_unnamed(model, hw_precision);
        self.load_with(model, hw_precision, unnamed.then_some(passes))
    }

    /// Whether [`Self::load_unnamed`] gives `model` empty names: a search-space model whose
    /// precision has no per-op rules (a rule matches op names, so it needs them).
    pub fn loads_unnamed(&self, model: &str, hw_precision: Option<&str>) -> bool {
        vchip_workloads::drops_names(model)
            && self
                .precision
                .as_deref()
                .or(hw_precision)
                .is_none_or(|p| PrecisionPolicy::parse(p).is_ok_and(|p| p.overrides.is_empty()))
    }

    /// `unnamed`: the passes of an unnamed load, `None` for a named one.
    fn load_with(
        &self,
        model: &str,
        hw_precision: Option<&str>,
        unnamed: Option<&[Pass]>,
    ) -> Result<Trace> {
        if self.batch == 0 {
            bail!("--batch must be at least 1");
        }
        if self.seq == Some(0) || self.context == Some(0) {
            bail!("--seq and --context must be at least 1");
        }
        if self.tp == 0 {
            bail!("--tp must be at least 1");
        }
        let phase_name = self.phase.as_deref().unwrap_or("both");
        let phase = LlmPhase::parse(phase_name)
            .with_context(|| format!("--phase `{phase_name}`: use prefill, decode or both"))?;
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
            expert_parallel: self.expert_parallel,
            dims,
        };
        let mut trace = match unnamed {
            None => vchip_workloads::load_model(model, &opts)?,
            Some(passes) => vchip_workloads::load_model_unnamed(model, &opts, passes)?,
        };
        if let Some(p) = self.precision.as_deref().or(hw_precision) {
            PrecisionPolicy::parse(p)?.apply(&mut trace);
        }
        Ok(trace)
    }

    /// The options the model has no use for (they would pass silently otherwise), as one warning.
    pub fn inapplicable(&self, model: &str) -> Option<String> {
        if self.seq.is_none() && self.context.is_none() && self.phase.is_none() {
            return None;
        }
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
        (!unused.is_empty()).then(|| {
            format!(
                "{} do(es) not apply to `{model}` (it has no sequence or LLM phases); ignored",
                unused.join(", ")
            )
        })
    }
}

/// Whether `model` has a sequence length (`seq` applies) and is an LLM (`context`, `phase`
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
        // An LLM export's KV-cache dimensions take --context and --phase.
        (true, true)
    } else if lower.ends_with(".csv")
        || lower.starts_with("ofa-")
        || lower.starts_with("nasbench201:")
    {
        (false, false)
    } else {
        let seq = std::fs::read_to_string(model).is_ok_and(|t| t.contains("seq"));
        (seq, false)
    }
}

/// Options of particular hardware kinds (microcontrollers, GPUs).
#[derive(Clone, Debug, Default)]
pub struct HwOptions {
    /// An MCU board's kernel library: `tflm`, `cmsis-nn` or `vendor`.
    pub lib: Option<String>,
    /// Run on the board's Ethos-U NPU (`Some(true)`) or on the core.
    pub npu: Option<bool>,
    /// GPUs: launch kernels from a captured CUDA graph.
    pub cuda_graphs: Option<bool>,
}

impl HwOptions {
    /// Applies the options to `spec`; an error if they do not apply to it.
    pub fn apply(&self, spec: &mut HardwareSpec) -> Result<()> {
        let name = spec.name.clone();
        if let Some(v) = self.cuda_graphs {
            let Some(g) = spec.gpu.as_mut() else {
                bail!("--cuda-graphs applies to GPUs (`kind: gpu`); `{name}` is not one (see `vchip hw list`)");
            };
            g.cuda_graphs = v;
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
            Some(true) if m.npu.is_none() => {
                bail!("--npu on: `{name}` has no NPU (boards with one: corstone-300-u55); drop --npu or pick such a board")
            }
            Some(v) => m.use_npu = v,
            None => {}
        }
        Ok(())
    }
}

/// The hardware description named by `hw` (preset, YAML or .cfg) with the kind options applied.
pub fn load_spec(hw: &str, opts: &HwOptions) -> Result<HardwareSpec> {
    let mut spec = vchip_hwmodels::load_hardware(hw)?;
    opts.apply(&mut spec)?;
    Ok(spec)
}

/// [`load_spec`] with `KEY=VALUE` overrides written into the description (keys as `--set` and
/// `hw show` name them: `systolic.rows=128`, `dram.technology=hbm2`), each checked the way a
/// sweep checks its axes, and the result validated again.
pub fn load_spec_with(hw: &str, overrides: &[String], opts: &HwOptions) -> Result<HardwareSpec> {
    let base = load_spec(hw, opts)?;
    if overrides.is_empty() {
        return Ok(base);
    }
    use vchip_explore::sweep;
    let axes = overrides
        .iter()
        .map(|o| {
            let axis = sweep::parse_axis(o)?;
            if axis.values.len() != 1 {
                return Err(vchip_explore::ExploreError::Sweep(format!(
                    "`{o}`: an override sets one value; sweep several with vchip sweep --set"
                )));
            }
            Ok(axis)
        })
        .collect::<Result<Vec<_>, _>>()?;
    let bases = std::slice::from_ref(&base);
    sweep::check_axes(bases, &axes)?;
    let point: Vec<f64> = axes.iter().map(|a| a.values[0]).collect();
    Ok(sweep::apply(&base, &axes, &point)?)
}

/// Everything a costing command needs, loaded the one way every command loads it: the hardware
/// (preset, YAML or .cfg), its model, and each network traced with the user's precision or else
/// the hardware's own.
pub struct Loaded {
    pub spec: HardwareSpec,
    pub model: Box<dyn HardwareModel>,
    pub traces: Vec<Trace>,
}

pub fn load(hw: &str, models: &[String], trace: &TraceRequest, opts: &HwOptions) -> Result<Loaded> {
    let spec = load_spec(hw, opts)?;
    check_tp(&spec, trace)?;
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

/// Tensor parallelism splits an LLM over GPUs or a dataflow node's sockets.
pub fn check_tp(spec: &HardwareSpec, trace: &TraceRequest) -> Result<()> {
    use vchip_hwmodels::spec::HwKind;
    if trace.tp > 1 && !matches!(spec.kind, HwKind::Gpu | HwKind::Dataflow) {
        bail!(
            "--tp splits an LLM over GPUs or sockets; `{}` is neither (kind: gpu presets: a100-sxm-80gb, h100-sxm, dgx-a100, dgx-h100, ...; kind: dataflow: sn40l-8)",
            spec.name
        );
    }
    Ok(())
}

/// How to simulate beyond the trace: the engine, LLM serving, and whether a network that does
/// not fit memory is reported rather than refused.
#[derive(Clone, Debug, Default)]
pub struct SimRequest {
    pub engine: CostOptions,
    /// LLM serving: tokens generated after the prompt (`TraceRequest::seq`, default 512).
    pub gen: Option<u64>,
    pub allow_no_fit: bool,
    /// Per-step and per-layer rows too, or the totals, peaks and fit only (batches).
    pub detail: vchip_sim::Detail,
}

/// Simulates `trace` (of the network `model` as the user named it) on the loaded hardware with
/// the command line's checks: an MCU, GPU or accelerator whose memory the network outgrows is an
/// error naming the numbers unless `allow_no_fit`; with `gen`, the LLM's serving figures.
pub fn simulate(
    model: &str,
    trace: Trace,
    spec: &HardwareSpec,
    hwm: &dyn HardwareModel,
    req: &TraceRequest,
    sim: &SimRequest,
) -> Result<SimResult> {
    let g = vchip_sim::prepare_owned(trace, &sim.engine)?;
    simulate_graph(model, &g, spec, hwm, req, sim)
}

/// [`simulate`] of a graph already analysed (`vchip_sim::prepare`).
pub fn simulate_graph(
    model: &str,
    g: &vchip_workloads::graph::Graph,
    spec: &HardwareSpec,
    hwm: &dyn HardwareModel,
    req: &TraceRequest,
    sim: &SimRequest,
) -> Result<SimResult> {
    let mut result = vchip_sim::simulate_graph_with(g, hwm, &sim.engine, sim.detail)?;
    if let Some(m) = result.mcu.as_ref().filter(|m| !m.fits && !sim.allow_no_fit) {
        bail!("{}", crate::report::mcu_no_fit(&result.model, m));
    }
    if let Some(g) = sim.gen {
        if req.context.is_some() {
            bail!("--context does not apply with --gen: serving runs every context from --prompt to --prompt + --gen");
        }
        let (name, cfg) = vchip_workloads::llm_config(model).with_context(|| {
            format!(
                "--gen applies to LLMs (a zoo LLM or a Hugging Face config.json); `{model}` is not one"
            )
        })??;
        let cfg = vchip_workloads::TraceOptions {
            tp: req.tp,
            expert_load: req.expert_load.clone(),
            expert_parallel: req.expert_parallel,
            ..Default::default()
        }
        .llm_config(cfg)?;
        let policy = req
            .precision
            .as_deref()
            .or(spec.precision.as_deref())
            .map(PrecisionPolicy::parse)
            .transpose()?;
        let prompt = req.seq.unwrap_or(512);
        let s = vchip_sim::serving::serve(
            &name,
            &cfg,
            req.batch,
            prompt,
            g,
            policy.as_ref(),
            hwm,
            &sim.engine,
        )?;
        if !s.fits && !sim.allow_no_fit {
            bail!(
                "{}",
                vchip_sim::serving::no_fit_message(&name, &spec.name, &s)
            );
        }
        result.serving = Some(s);
    } else if !sim.allow_no_fit {
        // On-chip levels spill to the next one down; the last level that declares a capacity
        // has nowhere to spill, so a network that outgrows it is refused.
        if let Some(m) = result.memory.iter().find(|m| !m.on_chip && !m.fits) {
            let fix = if spec.gpu.is_some() {
                "--tp N on a node preset, a narrower --precision, a smaller --batch/--seq".into()
            } else if let Some(d) = &spec.dataflow {
                format!(
                    "--tp N on a node preset (sn40l-8), a narrower --precision, a smaller --batch/--seq, a larger `dataflow.tiers.{}.capacity_gib`",
                    d.tiers.last().map_or("ddr", |t| t.name.as_str())
                )
            } else {
                "a narrower --precision, a smaller --batch/--seq, a larger `dram.capacity_gib`"
                    .to_string()
            };
            bail!(
                "`{}` does not fit `{}`: {} needs {:.2} GB of {:.2} GB (live at the peak: {}). Fix: {fix}, or --allow-no-fit to report it anyway",
                result.model,
                spec.name,
                m.level,
                m.peak_bytes as f64 / 1e9,
                m.capacity_bytes.unwrap_or(0) as f64 / 1e9,
                m.live_at_peak.iter().take(3).cloned().collect::<Vec<_>>().join(", ")
            );
        }
    }
    Ok(result)
}
