//! vchip-sim: runs an operator trace on a hardware model.
//!
//! For: costing every op (in parallel, deterministically ordered) and aggregating per-layer and
//! whole-network results (latency, energy by component, traffic, bound).
//! Not for: parsing networks or describing hardware; those live upstream in `workloads` and
//! `hwmodels`.

use rayon::prelude::*;
use serde::Serialize;
use vchip_hwmodels::{CostOptions, Energy, HardwareModel, HwError, OpCost};
use vchip_workloads::{Phase, Trace};

pub mod nas_table;
pub mod run_sweep;
pub mod sweep;

#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error(transparent)]
    Hw(#[from] HwError),
    #[error("{0}")]
    Sweep(String),
    #[error("{0}")]
    Io(String),
}

#[derive(Clone, Debug, Serialize)]
pub struct LayerResult {
    pub name: String,
    pub op_type: &'static str,
    pub detail: String,
    pub phase: Phase,
    pub macs: u64,
    #[serde(flatten)]
    pub cost: OpCost,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct SimTotals {
    pub ops: u64,
    pub macs: u64,
    pub cycles: u64,
    pub compute_cycles: u64,
    pub stall_cycles: u64,
    pub latency_s: f64,
    pub energy_pj: Energy,
    pub energy_j: f64,
    pub average_power_w: f64,
    /// Useful ops (2 per MAC) per joule, in tera-ops per watt.
    pub tops_per_watt: f64,
    /// Useful MACs / (cycles × peak MACs per cycle).
    pub utilization: f64,
    pub dram_read_bytes: u64,
    pub dram_write_bytes: u64,
    pub cycles_prefill: u64,
    pub cycles_decode: u64,
}

#[derive(Clone, Debug, Serialize)]
pub struct SimResult {
    pub model: String,
    pub hardware: String,
    pub compat: vchip_hwmodels::Compat,
    pub clock_hz: f64,
    pub layers: Vec<LayerResult>,
    pub totals: SimTotals,
}

/// Costs every op of `trace` on `hw`. Layer-by-layer execution: latency is the sum of op latencies.
/// The result is identical for any rayon thread count (ops are costed independently, collected in
/// trace order, and summed sequentially).
pub fn simulate(
    trace: &Trace,
    hw: &dyn HardwareModel,
    opts: &CostOptions,
) -> Result<SimResult, SimError> {
    let layers: Vec<LayerResult> = trace
        .ops
        .par_iter()
        .map(|op| {
            let cost = hw.cost_op(trace, op, opts)?;
            Ok(LayerResult {
                name: op.name.clone(),
                op_type: op.kind.type_name(),
                detail: op.kind.detail(),
                phase: op.phase,
                macs: op.macs,
                cost,
            })
        })
        .collect::<Result<_, HwError>>()?;
    let spec = hw.spec();
    let clock = spec.clock_hz();
    let mut t = SimTotals::default();
    let mut mapped_macs = 0u64;
    for l in &layers {
        t.ops += 1;
        t.macs = t.macs.saturating_add(l.macs);
        mapped_macs = mapped_macs.saturating_add(l.cost.mapped_macs);
        t.cycles = t.cycles.saturating_add(l.cost.cycles);
        t.compute_cycles = t.compute_cycles.saturating_add(l.cost.compute_cycles);
        t.stall_cycles = t.stall_cycles.saturating_add(l.cost.stall_cycles);
        t.energy_pj.add(&l.cost.energy);
        for tr in l.cost.traffic.iter().filter(|tr| tr.level == "dram") {
            t.dram_read_bytes = t.dram_read_bytes.saturating_add(tr.read_bytes);
            t.dram_write_bytes = t.dram_write_bytes.saturating_add(tr.write_bytes);
        }
        match l.phase {
            Phase::Prefill => t.cycles_prefill = t.cycles_prefill.saturating_add(l.cost.cycles),
            Phase::Decode => t.cycles_decode = t.cycles_decode.saturating_add(l.cost.cycles),
            Phase::None => {}
        }
    }
    t.latency_s = t.cycles as f64 / clock;
    t.energy_j = t.energy_pj.total() * 1e-12;
    if t.latency_s > 0.0 {
        t.average_power_w = t.energy_j / t.latency_s;
    }
    if t.energy_j > 0.0 {
        t.tops_per_watt = 2.0 * t.macs as f64 / t.energy_j / 1e12;
    }
    if t.cycles > 0 {
        t.utilization = mapped_macs as f64 / (t.cycles as f64 * hw.peak_macs_per_cycle() as f64);
    }
    Ok(SimResult {
        model: trace.name.clone(),
        hardware: spec.name.clone(),
        compat: opts.compat,
        clock_hz: clock,
        layers,
        totals: t,
    })
}
