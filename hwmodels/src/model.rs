//! The one trait every hardware model implements, and the cost record it returns per op.

use serde::Serialize;
use vchip_workloads::{Op, Trace};

use crate::error::HwError;
use crate::spec::HardwareSpec;

/// Modelling conventions to follow.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Compat {
    /// vchip's own semantics: standard convolution output sizes and the finite-buffer stall model.
    #[default]
    Native,
    /// Reproduce SCALE-Sim v3 (CALC mode) exactly: its output-size rounding, its 0-based final cycle
    /// index and its SRAM access counts; no bandwidth stalls.
    Scalesim,
}

#[derive(Clone, Copy, Debug, Default)]
pub struct CostOptions {
    pub compat: Compat,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Engine {
    /// The matrix engine (systolic array, tensor cores).
    Matrix,
    /// The vector/SIMD unit.
    Vector,
    /// Costs nothing (a reshape is metadata only).
    None,
}

/// Which resource sets an op's time.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Bound {
    Compute,
    /// A memory level (by its name in the hardware description) is the wall.
    Memory(String),
    None,
}

impl Bound {
    pub fn label(&self) -> &str {
        match self {
            Bound::Compute => "compute",
            Bound::Memory(m) => m,
            Bound::None => "-",
        }
    }
}

/// Bytes moved at one memory level.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct LevelTraffic {
    pub level: String,
    pub read_bytes: u64,
    pub write_bytes: u64,
}

/// Energy by component, in picojoules. `total()` is their sum, by construction.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct Energy {
    pub mac_pj: f64,
    pub vector_pj: f64,
    pub sram_pj: f64,
    pub dram_pj: f64,
    pub static_pj: f64,
}

impl Energy {
    pub fn total(&self) -> f64 {
        self.mac_pj + self.vector_pj + self.sram_pj + self.dram_pj + self.static_pj
    }

    pub fn add(&mut self, o: &Energy) {
        self.mac_pj += o.mac_pj;
        self.vector_pj += o.vector_pj;
        self.sram_pj += o.sram_pj;
        self.dram_pj += o.dram_pj;
        self.static_pj += o.static_pj;
    }
}

/// SRAM accesses by the compute array, in words (SCALE-Sim's DETAILED_ACCESS_REPORT columns).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct SramAccesses {
    pub ifmap_reads: u64,
    pub filter_reads: u64,
    pub ofmap_writes: u64,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct OpCost {
    pub engine: Engine,
    /// Cycles the engine computes.
    pub compute_cycles: u64,
    /// Cycles spent waiting for memory beyond compute.
    pub stall_cycles: u64,
    /// `compute_cycles + stall_cycles`.
    pub cycles: u64,
    /// Cycles to move the op's off-chip traffic at full bandwidth (overlaps compute when
    /// double-buffered; the larger of the two sets `cycles`).
    pub memory_cycles: u64,
    /// MACs executed on the matrix engine (the mapped GEMMs; may differ slightly from the trace's
    /// MACs in SCALE-Sim compat mode, whose output sizes round up).
    pub mapped_macs: u64,
    pub folds: u64,
    /// Useful MACs / (cycles × PEs), 0..1.
    pub utilization: f64,
    /// Mean share of PEs mapped per fold, 0..1.
    pub mapping_efficiency: f64,
    /// SCALE-Sim's "Compute Util": mean per-fold active share over its fold duration, 0..1.
    pub compute_utilization: f64,
    pub sram: SramAccesses,
    /// Traffic per memory level, outermost last.
    pub traffic: Vec<LevelTraffic>,
    pub energy: Energy,
    pub bound: Bound,
}

impl OpCost {
    pub fn zero() -> Self {
        OpCost {
            engine: Engine::None,
            compute_cycles: 0,
            stall_cycles: 0,
            cycles: 0,
            memory_cycles: 0,
            mapped_macs: 0,
            folds: 0,
            utilization: 0.0,
            mapping_efficiency: 0.0,
            compute_utilization: 0.0,
            sram: SramAccesses::default(),
            traffic: Vec::new(),
            energy: Energy::default(),
            bound: Bound::None,
        }
    }

    /// Bytes moved at the named level (read + write).
    pub fn level_bytes(&self, level: &str) -> u64 {
        self.traffic
            .iter()
            .filter(|t| t.level == level)
            .map(|t| t.read_bytes.saturating_add(t.write_bytes))
            .sum()
    }
}

/// One trait for every hardware kind: systolic arrays today; GPUs, dataflow chips and MCUs add
/// their own implementations behind the same interface.
pub trait HardwareModel: Send + Sync {
    fn spec(&self) -> &HardwareSpec;

    /// Costs one op of a trace. Ops are independent (layer-by-layer execution), so callers may
    /// cost them in parallel.
    fn cost_op(&self, trace: &Trace, op: &Op, opts: &CostOptions) -> Result<OpCost, HwError>;

    /// Peak MACs per cycle of the matrix engine.
    fn peak_macs_per_cycle(&self) -> u64;

    /// Names of the memory levels, innermost first (as used in `LevelTraffic::level`).
    fn memory_levels(&self) -> Vec<String>;

    /// Estimated silicon area; components named in the YAML's `area_mm2` override the estimate.
    fn area(&self) -> crate::area::Area;
}

/// Builds the model for a hardware description.
pub fn build_model(spec: HardwareSpec) -> Result<Box<dyn HardwareModel>, HwError> {
    match spec.kind {
        crate::spec::HwKind::Systolic => Ok(Box::new(crate::systolic::SystolicModel::new(spec)?)),
        crate::spec::HwKind::Cpu => Ok(Box::new(crate::cpu::CpuModel::new(spec)?)),
        other => Err(HwError::Invalid {
            file: spec.name.clone(),
            key: "kind".into(),
            msg: format!("hardware kind `{other:?}` has no model yet"),
        }),
    }
}
