//! vchip-sim: runs an operator trace on a hardware model.
//!
//! For: the engine. It analyses the trace as a graph (with the inference rewrites), asks the model
//! for a whole-graph schedule, costs the schedule's steps (in parallel, collected in order), and
//! aggregates per-step, per-layer and whole-network results: latency, energy by component,
//! traffic per declared memory level, peak footprint per level, and the roofline of every step.
//! Not for: parsing networks or describing hardware; those live upstream in `workloads` and
//! `hwmodels`.

pub mod coe;
pub mod serving;

use rayon::prelude::*;
use serde::Serialize;
use vchip_hwmodels::{
    CostOptions, Energy, Fusion, HardwareModel, HwError, Level, LevelPeak, OpCost, StepKind,
};
use vchip_workloads::graph::{Graph, Pass, PassRecord};
use vchip_workloads::{OpKind, Phase, Trace, WorkloadError};

#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error(transparent)]
    Hw(#[from] HwError),
    #[error(transparent)]
    Workload(#[from] WorkloadError),
    /// A total does not fit 64 bits: printing a saturated figure would be wrong.
    #[error("{what} of `{model}` on `{hw}` overflows 64 bits; the model is too large to cost as one run (split it, or lower --batch/--seq)")]
    Overflow {
        what: &'static str,
        model: String,
        hw: String,
    },
    /// A model reported traffic at a level it does not declare: totals would drop it.
    #[error("hardware model `{hw}` reports traffic at level `{level}`, which it does not declare (declared: {declared}); this is a bug in the model")]
    UndeclaredLevel {
        hw: String,
        level: String,
        declared: String,
    },
}

/// One op of the trace with the cost attributed to it: a fused step's whole cost goes to its
/// anchor (the first op); the ops fused into it show zero and name the step.
#[derive(Clone, Debug, Serialize)]
pub struct LayerResult {
    pub name: String,
    pub op_type: &'static str,
    pub detail: String,
    pub phase: Phase,
    pub macs: u64,
    /// Index of the step that runs this op.
    pub step: usize,
    #[serde(flatten)]
    pub cost: OpCost,
}

/// Bytes and time of a step at one memory level.
#[derive(Clone, Debug, Serialize)]
pub struct LevelPoint {
    pub level: String,
    pub bytes: u64,
    /// Operations per byte moved at this level (the roofline's x axis).
    pub flops_per_byte: f64,
    /// Cycles to move the bytes at the level's declared bandwidth (0 when unlimited).
    pub cycles: u64,
}

/// Where a step sits against each memory level's roof and the compute roof.
#[derive(Clone, Debug, Serialize)]
pub struct Roofline {
    pub flops: u64,
    pub compute_cycles: u64,
    pub levels: Vec<LevelPoint>,
    /// The resource that sets the step's time (the model's verdict).
    pub bound: String,
    /// The step's time if its bound were lifted: the slowest of the other resources.
    pub cycles_if_unbound: u64,
}

#[derive(Clone, Debug, Serialize)]
pub struct StepResult {
    pub index: usize,
    pub kind: StepKind,
    /// Names of the step's ops, anchor first.
    pub ops: Vec<String>,
    /// The anchor's type and detail.
    pub op_type: &'static str,
    pub detail: String,
    pub phase: Phase,
    pub macs: u64,
    #[serde(flatten)]
    pub cost: OpCost,
    pub roofline: Roofline,
}

/// Traffic at one declared level over the whole run.
#[derive(Clone, Debug, Default, Serialize)]
pub struct LevelTotal {
    pub level: String,
    pub on_chip: bool,
    pub read_bytes: u64,
    pub write_bytes: u64,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct SimTotals {
    pub ops: u64,
    pub steps: u64,
    pub macs: u64,
    pub cycles: u64,
    pub compute_cycles: u64,
    pub stall_cycles: u64,
    pub latency_s: f64,
    /// Energy by component; `None` (JSON `null`) for a kind that does not model energy (CPU,
    /// GPU), never a 0 that would win a comparison.
    pub energy_pj: Option<Energy>,
    pub energy_j: Option<f64>,
    pub average_power_w: Option<f64>,
    /// Useful ops (2 per MAC) per joule, in tera-ops per watt.
    pub tops_per_watt: Option<f64>,
    /// Useful MACs / (cycles × peak MACs per cycle).
    pub utilization: f64,
    /// Bytes read from off-chip levels (every level the model declares off chip: DRAM, HBM, a
    /// host link).
    pub dram_read_bytes: u64,
    /// Bytes written to off-chip levels.
    pub dram_write_bytes: u64,
    /// Traffic per declared level, innermost first.
    pub levels: Vec<LevelTotal>,
    pub cycles_prefill: u64,
    pub cycles_decode: u64,
    /// Samples per run: the leading dimension of the network's first input (images, sequences).
    pub batch: u64,
    /// `batch / latency_s`: images or sequences per second at this batch.
    pub samples_per_s: f64,
}

#[derive(Clone, Debug, Serialize)]
pub struct SimResult {
    pub vchip_version: &'static str,
    pub model: String,
    pub hardware: String,
    pub compat: vchip_hwmodels::Compat,
    pub fusion: Fusion,
    pub clock_hz: f64,
    /// The compute roof: peak MACs per cycle in the graph's own number format.
    pub peak_macs_per_cycle: u64,
    /// Rewrites applied before scheduling (the trace as imported is what `vchip trace` shows).
    pub passes: Vec<PassRecord>,
    /// The model's memory levels.
    pub levels: Vec<Level>,
    pub steps: Vec<StepResult>,
    /// Peak bytes per level, with the tensors live at the peak.
    pub memory: Vec<LevelPeak>,
    pub layers: Vec<LayerResult>,
    pub totals: SimTotals,
    /// Silicon area by component, for kinds that estimate it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub area: Option<vchip_hwmodels::area::Area>,
    /// Microcontrollers: latency, energy, peak SRAM, flash and whether the network fits.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mcu: Option<vchip_hwmodels::mcu::McuReport>,
    /// LLM serving figures (`simulate --gen`): TTFT, TPOT, throughput, KV cache, fit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub serving: Option<serving::Serving>,
    /// How the result was made: the command line and the hardware as resolved (the front-end
    /// fills it; a library caller may leave it out).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provenance: Option<Provenance>,
}

/// The inputs a result came from, for reproducing it.
#[derive(Clone, Debug, Serialize)]
pub struct Provenance {
    /// Arguments after the program name, as given.
    pub command: Vec<String>,
    /// The hardware description after presets, files and overrides were applied.
    pub hardware: vchip_hwmodels::HardwareSpec,
}

/// The rewrites an engine run applies: all of them on the whole-graph path, none layer by layer
/// (so `--fusion off` and `--compat scalesim` cost the trace as imported).
pub fn passes_for(opts: &CostOptions) -> &'static [Pass] {
    if opts.whole_graph() {
        &Pass::ALL
    } else {
        &[]
    }
}

/// Analyses `trace` for a run under `opts`. Sweeps call it once per model.
pub fn prepare(trace: &Trace, opts: &CostOptions) -> Result<Graph, SimError> {
    prepare_owned(trace.clone(), opts)
}

/// [`prepare`] of a trace the caller no longer needs (no copy of it).
pub fn prepare_owned(trace: Trace, opts: &CostOptions) -> Result<Graph, SimError> {
    Ok(Graph::with_passes(trace, passes_for(opts))?)
}

/// How much of a result to build: everything, or the totals, memory peaks and the MCU report
/// only (a batch of NAS candidates needs no per-step rows, and building them is half the time
/// of a small network).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Detail {
    #[default]
    Full,
    Totals,
}

/// Schedules with fewer steps are costed on the calling thread: a step costs about a microsecond,
/// waking rayon's pool tens (a 222-step OFA subnet ran 4x slower handed out at 64 steps).
const PARALLEL_STEPS: usize = 1024;

/// Runs `trace` on `hw`: [`prepare`], then [`simulate_graph`].
pub fn simulate(
    trace: &Trace,
    hw: &dyn HardwareModel,
    opts: &CostOptions,
) -> Result<SimResult, SimError> {
    simulate_graph(&prepare(trace, opts)?, hw, opts)
}

/// Schedules and costs a prepared graph. The result is identical for any rayon thread count
/// (steps are costed independently, collected in order, and summed sequentially).
pub fn simulate_graph(
    g: &Graph,
    hw: &dyn HardwareModel,
    opts: &CostOptions,
) -> Result<SimResult, SimError> {
    simulate_graph_with(g, hw, opts, Detail::Full)
}

/// [`simulate_graph`] building only what `detail` asks for: with [`Detail::Totals`] the result's
/// `steps`, `layers` and `passes` are empty; every total, peak and fit is the same as a full run's.
pub fn simulate_graph_with(
    g: &Graph,
    hw: &dyn HardwareModel,
    opts: &CostOptions,
    detail: Detail,
) -> Result<SimResult, SimError> {
    let full = detail == Detail::Full;
    let spec = hw.spec();
    let clock = spec.clock_hz();
    let levels = hw.levels();
    let schedule = hw.schedule(g, opts)?;
    // Every op in exactly one step: the schedule is checked here, not trusted.
    let mut runs = vec![0u32; g.trace.ops.len()];
    for st in &schedule.steps {
        for o in &st.ops {
            let Some(n) = runs.get_mut(o.0 as usize) else {
                return Err(bad_schedule(
                    spec,
                    &format!("op #{}", o.0),
                    "is not in the graph",
                ));
            };
            *n += 1;
        }
        if st.ops.is_empty() {
            return Err(bad_schedule(spec, "a step", "has no ops"));
        }
    }
    if let Some(i) = runs.iter().position(|&n| n != 1) {
        let what = if runs[i] == 0 {
            "is in no step"
        } else {
            "is in several steps"
        };
        return Err(bad_schedule(spec, &g.trace.ops[i].name, what));
    }
    // Small graphs cost faster on one thread than handed out to rayon's pool, one step at a time
    // as they are summed; large ones are costed in parallel first. Either way in step order.
    let parallel: Option<Vec<OpCost>> = if schedule.steps.len() < PARALLEL_STEPS {
        None
    } else {
        Some(
            schedule
                .steps
                .par_iter()
                .map(|st| hw.cost_step(g, &schedule, st, opts))
                .collect::<Result<_, HwError>>()?,
        )
    };
    let mut parallel = parallel.map(Vec::into_iter);
    let mut energy = Energy::default();
    let mut t = SimTotals {
        levels: levels
            .iter()
            .map(|l| LevelTotal {
                level: l.name.clone(),
                on_chip: l.on_chip,
                ..LevelTotal::default()
            })
            .collect(),
        ..SimTotals::default()
    };
    let overflow = |what| SimError::Overflow {
        what,
        model: g.trace.name.clone(),
        hw: spec.name.clone(),
    };
    let mut mapped_macs = 0u64;
    let mut steps = Vec::with_capacity(if full { schedule.steps.len() } else { 0 });
    for (i, st) in schedule.steps.iter().enumerate() {
        let cost = match parallel.as_mut().and_then(Iterator::next) {
            Some(c) => c,
            None => hw.cost_step(g, &schedule, st, opts)?,
        };
        for tr in &cost.traffic {
            let Some(lt) = t.levels.iter_mut().find(|l| *l.level == *tr.level) else {
                return Err(SimError::UndeclaredLevel {
                    hw: spec.name.clone(),
                    level: tr.level.to_string(),
                    declared: levels
                        .iter()
                        .map(|l| l.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", "),
                });
            };
            lt.read_bytes = lt.read_bytes.saturating_add(tr.read_bytes);
            lt.write_bytes = lt.write_bytes.saturating_add(tr.write_bytes);
        }
        let anchor = g.op(st.ops[0]);
        let macs = st
            .ops
            .iter()
            .map(|&o| g.op(o).macs)
            .fold(0u64, u64::saturating_add);
        let flops = st
            .ops
            .iter()
            .map(|&o| g.op(o).flops)
            .fold(0u64, u64::saturating_add);
        // A step whose own count saturated, or a total that would: an error, never a wrong figure.
        if cost.cycles == u64::MAX || macs == u64::MAX {
            return Err(overflow("a step's cycle or MAC count"));
        }
        t.macs = t
            .macs
            .checked_add(macs)
            .ok_or_else(|| overflow("the MAC count"))?;
        mapped_macs = mapped_macs.saturating_add(cost.mapped_macs);
        t.cycles = t
            .cycles
            .checked_add(cost.cycles)
            .ok_or_else(|| overflow("the cycle count"))?;
        t.compute_cycles = t.compute_cycles.saturating_add(cost.compute_cycles);
        t.stall_cycles = t.stall_cycles.saturating_add(cost.stall_cycles);
        energy.add(&cost.energy);
        match anchor.phase {
            Phase::Prefill => t.cycles_prefill = t.cycles_prefill.saturating_add(cost.cycles),
            Phase::Decode => t.cycles_decode = t.cycles_decode.saturating_add(cost.cycles),
            Phase::None => {}
        }
        if !full {
            continue;
        }
        let roofline = roofline(&cost, flops, &levels, clock);
        steps.push(StepResult {
            index: i,
            kind: st.kind,
            ops: st.ops.iter().map(|&o| g.op(o).name.clone()).collect(),
            op_type: anchor.kind.type_name(),
            detail: step_detail(g, st),
            phase: anchor.phase,
            macs,
            cost,
            roofline,
        });
    }
    t.ops = g.trace.ops.len() as u64;
    t.steps = schedule.steps.len() as u64;
    for l in t.levels.iter().filter(|l| !l.on_chip) {
        t.dram_read_bytes = t.dram_read_bytes.saturating_add(l.read_bytes);
        t.dram_write_bytes = t.dram_write_bytes.saturating_add(l.write_bytes);
    }
    t.latency_s = t.cycles as f64 / clock;
    t.batch = g
        .trace
        .tensors
        .iter()
        .find(|x| x.role == vchip_workloads::TensorRole::Input)
        .and_then(|x| x.shape.first().copied())
        .unwrap_or(1);
    if t.latency_s > 0.0 {
        t.samples_per_s = t.batch as f64 / t.latency_s;
    }
    let energy_j = energy.total() * 1e-12;
    if !energy_j.is_finite() || !t.latency_s.is_finite() {
        return Err(overflow("the energy or latency"));
    }
    if hw.models_energy() {
        t.energy_pj = Some(energy);
        t.energy_j = Some(energy_j);
        t.average_power_w = Some(if t.latency_s > 0.0 {
            energy_j / t.latency_s
        } else {
            0.0
        });
        t.tops_per_watt = (energy_j > 0.0).then(|| 2.0 * t.macs as f64 / energy_j / 1e12);
    }
    if t.cycles > 0 {
        t.utilization =
            mapped_macs as f64 / (t.cycles as f64 * hw.peak_macs_per_cycle_for(g).max(1) as f64);
    }
    let mcu = hw.mcu_report(g, &schedule).map(|mut r| {
        r.latency_s = t.latency_s;
        r.energy_uj = energy_j * 1e6;
        r
    });
    let layers = if full {
        layers(g, &schedule, &steps)
    } else {
        Vec::new()
    };
    Ok(SimResult {
        vchip_version: env!("CARGO_PKG_VERSION"),
        model: g.trace.name.clone(),
        hardware: spec.name.clone(),
        compat: opts.compat,
        // What ran: SCALE-Sim conventions are layer by layer whatever --fusion says.
        fusion: if opts.whole_graph() {
            Fusion::On
        } else {
            Fusion::Off
        },
        clock_hz: clock,
        peak_macs_per_cycle: hw.peak_macs_per_cycle_for(g),
        // The rewrites are part of the full report; a totals-only run leaves them out with the
        // steps (their names are a tenth of what such a run allocates).
        passes: if full { g.passes.clone() } else { Vec::new() },
        levels,
        steps,
        memory: schedule.memory,
        layers,
        totals: t,
        area: hw.models_area().then(|| hw.area()),
        mcu,
        serving: None,
        provenance: None,
    })
}

/// The step's shape: its anchor's, or for side-by-side GEMMs (fused Q/K/V) the one product they
/// run as, their output widths added.
fn step_detail(g: &Graph, st: &vchip_hwmodels::Step) -> String {
    if st.kind != StepKind::Fused {
        return g.op(st.ops[0]).kind.detail();
    }
    let gemms: Vec<vchip_workloads::Gemm> = st
        .ops
        .iter()
        .filter_map(|&o| match g.op(o).kind {
            OpKind::MatMul(m) => Some(m),
            _ => None,
        })
        .collect();
    match gemms.as_slice() {
        [first, _, ..] => OpKind::MatMul(vchip_workloads::Gemm {
            n: gemms.iter().map(|m| m.n).fold(0, u64::saturating_add),
            ..*first
        })
        .detail(),
        _ => g.op(st.ops[0]).kind.detail(),
    }
}

/// One row per op in the trace's order: the anchor of a step carries the step's cost, an op fused
/// into it none of its own (its kind's detail still shown). The schedule was checked: every op
/// is in exactly one step.
fn layers(
    g: &Graph,
    schedule: &vchip_hwmodels::Schedule,
    steps: &[StepResult],
) -> Vec<LayerResult> {
    let mut place = vec![(0usize, false); g.trace.ops.len()];
    for (i, st) in schedule.steps.iter().enumerate() {
        for (j, &o) in st.ops.iter().enumerate() {
            place[o.0 as usize] = (i, j == 0);
        }
    }
    g.trace
        .ops
        .iter()
        .zip(place)
        .map(|(op, (i, anchor))| {
            let step = &steps[i];
            LayerResult {
                name: op.name.clone(),
                op_type: op.kind.type_name(),
                // The anchor's detail is the step's: copied, not formatted again.
                detail: if anchor {
                    step.detail.clone()
                } else {
                    op.kind.detail()
                },
                phase: op.phase,
                macs: op.macs,
                step: i,
                cost: if anchor {
                    step.cost.clone()
                } else {
                    OpCost {
                        array: step.cost.array.map(|_| Default::default()),
                        ..OpCost::zero()
                    }
                },
            }
        })
        .collect()
}

fn bad_schedule(spec: &vchip_hwmodels::HardwareSpec, op: &str, what: &str) -> SimError {
    SimError::Hw(HwError::Op {
        op: op.to_string(),
        msg: format!(
            "{what} of the schedule of `{}`; this is a bug in its hardware model",
            spec.name
        ),
    })
}

/// Bytes `cost` reads and writes at the levels `levels` declares off chip.
pub fn offchip_traffic(cost: &OpCost, levels: &[Level]) -> (u64, u64) {
    cost.traffic
        .iter()
        .filter(|t| levels.iter().any(|l| !l.on_chip && *l.name == *t.level))
        .fold((0, 0), |(r, w), t| {
            (
                r.saturating_add(t.read_bytes),
                w.saturating_add(t.write_bytes),
            )
        })
}

/// Bytes `cost` moves at the levels `levels` declares off chip (reads + writes).
pub fn offchip_bytes(cost: &OpCost, levels: &[Level]) -> u64 {
    let (r, w) = offchip_traffic(cost, levels);
    r.saturating_add(w)
}

fn roofline(cost: &OpCost, flops: u64, levels: &[Level], clock: f64) -> Roofline {
    let points: Vec<LevelPoint> = cost
        .traffic
        .iter()
        .filter_map(|tr| {
            let l = levels.iter().find(|l| *l.name == *tr.level)?;
            let bytes = tr.read_bytes.saturating_add(tr.write_bytes);
            if bytes == 0 {
                return None;
            }
            let per_cycle = l.bytes_per_s / clock;
            let cycles = if per_cycle.is_finite() && per_cycle > 0.0 {
                (bytes as f64 / per_cycle).ceil().min(u64::MAX as f64) as u64
            } else {
                0
            };
            Some(LevelPoint {
                level: tr.level.to_string(),
                bytes,
                flops_per_byte: flops as f64 / bytes as f64,
                cycles,
            })
        })
        .collect();
    let bound = cost.bound.label().to_string();
    // A model may name the part of a level that binds (`filter_sram` within `sram`).
    let binds = |level: &str| bound == level || bound.ends_with(&format!("_{level}"));
    let others = points
        .iter()
        .filter(|p| !binds(&p.level))
        .map(|p| p.cycles)
        .chain((bound != "compute").then_some(cost.compute_cycles))
        .max()
        .unwrap_or(0);
    Roofline {
        flops,
        compute_cycles: cost.compute_cycles,
        levels: points,
        bound,
        cycles_if_unbound: others.min(cost.cycles),
    }
}
