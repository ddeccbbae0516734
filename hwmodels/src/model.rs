//! The one trait every hardware model implements, and the cost record it returns per op.

use serde::Serialize;
use vchip_workloads::graph::Graph;
use vchip_workloads::{Op, Trace};

use crate::error::HwError;
use crate::schedule::{Level, Schedule, Step};
use crate::spec::HardwareSpec;

/// Modelling conventions to follow.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Compat {
    /// vchip's own semantics: standard convolution output sizes and the finite-buffer stall model.
    #[default]
    Native,
    /// Reproduce SCALE-Sim v3 (CALC mode) exactly: its output-size rounding, its 0-based final cycle
    /// index and its SRAM access counts; no bandwidth stalls.
    Scalesim,
}

/// Whether models may fuse ops and keep tensors on chip across steps.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Fusion {
    /// Whole-graph scheduling: inference rewrites, epilogue fusion, on-chip activations.
    #[default]
    On,
    /// Layer by layer: every op alone, every activation through off-chip memory (the behaviour
    /// before the whole-graph engine, kept for comparison).
    Off,
}

#[derive(Clone, Copy, Debug, Default)]
pub struct CostOptions {
    pub compat: Compat,
    pub fusion: Fusion,
    /// Where the trace sits in a larger network (NAS tables cost one block at a time).
    pub boundary: Boundary,
}

/// Where a costed trace's inputs come from and its outputs go. A block inside a network finds its
/// input in, and leaves its output in, on-chip buffers where they fit, as in the whole network's
/// schedule; then a table's entries add up to the whole network's cost.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Boundary {
    /// A whole network: inputs arrive through, outputs leave through, off-chip memory.
    #[default]
    Network,
    /// The first block (the stem): its input is the network's, its output stays on chip.
    FirstBlock,
    /// A block in the middle: input and output on chip.
    Block,
    /// The last block (the classifier): input on chip, output leaves the chip.
    LastBlock,
}

impl Boundary {
    pub fn inputs_on_chip(self) -> bool {
        matches!(self, Boundary::Block | Boundary::LastBlock)
    }

    pub fn outputs_on_chip(self) -> bool {
        matches!(self, Boundary::Block | Boundary::FirstBlock)
    }

    /// The boundary of a search-space op that reads the network's input (the stem) and/or writes
    /// its output (the classifier).
    pub fn of_op(reads_network_input: bool, writes_network_output: bool) -> Boundary {
        match (reads_network_input, writes_network_output) {
            (true, true) => Boundary::Network,
            (true, false) => Boundary::FirstBlock,
            (false, true) => Boundary::LastBlock,
            (false, false) => Boundary::Block,
        }
    }
}

impl CostOptions {
    /// Whether the whole-graph schedule applies (native conventions with fusion on).
    pub fn whole_graph(&self) -> bool {
        self.compat == Compat::Native && self.fusion == Fusion::On
    }
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

/// The bound of a step whose time is its launch (a kernel or section shorter than starting it).
pub const LAUNCH: &str = "launch";

/// A memory level's name in costs: a `&'static str`, so a step's traffic rows and bound copy a
/// pointer and touch no reference count (as an `Arc<str>`, every row cost an atomic increment
/// and decrement per step, and a name from a constant an allocation). Names the code knows wrap
/// directly ([`LevelName::of`]); names from a hardware file are interned, once per distinct name
/// for the life of the process (a few bytes each: level names are few).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct LevelName(&'static str);

impl LevelName {
    pub const fn of(name: &'static str) -> LevelName {
        LevelName(name)
    }

    pub fn as_str(&self) -> &'static str {
        self.0
    }
}

impl From<&str> for LevelName {
    fn from(name: &str) -> LevelName {
        static NAMES: std::sync::OnceLock<
            std::sync::Mutex<std::collections::HashSet<&'static str>>,
        > = std::sync::OnceLock::new();
        let names = NAMES.get_or_init(Default::default);
        // A poisoned lock only means another thread panicked mid-insert; the set is still sound.
        let mut set = names
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(&known) = set.get(name) {
            return LevelName(known);
        }
        let leaked: &'static str = Box::leak(name.to_owned().into_boxed_str());
        set.insert(leaked);
        LevelName(leaked)
    }
}

impl From<String> for LevelName {
    fn from(name: String) -> LevelName {
        LevelName::from(name.as_str())
    }
}

impl std::ops::Deref for LevelName {
    type Target = str;
    fn deref(&self) -> &str {
        self.0
    }
}

impl std::fmt::Display for LevelName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

impl std::fmt::Debug for LevelName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(self.0, f)
    }
}

impl Serialize for LevelName {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.0)
    }
}

/// Which resource sets an op's time.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Bound {
    Compute,
    /// A memory level (by its name in the hardware description) is the wall.
    Memory(LevelName),
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

/// A step's traffic rows: inline for the usual on-chip + off-chip pair (one allocation fewer per
/// step of every query).
pub type Traffic = smallvec::SmallVec<[LevelTraffic; 2]>;

/// Bytes moved at one memory level.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct LevelTraffic {
    pub level: LevelName,
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

/// Accesses per operand, in words (SCALE-Sim's DETAILED_ACCESS_REPORT columns).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct OperandAccesses {
    pub ifmap_reads: u64,
    pub filter_reads: u64,
    pub ofmap_writes: u64,
}

/// A matrix array's view of an op: SCALE-Sim's per-layer columns. The systolic kind fills it for
/// every op (zeros for ops off the array); kinds without an array leave it out.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct ArrayDetail {
    pub folds: u64,
    /// Mean share of PEs mapped per fold, 0..1.
    pub mapping_efficiency: f64,
    /// SCALE-Sim's "Compute Util": mean per-fold active share over its fold duration, 0..1.
    pub compute_utilization: f64,
    /// The array's reads and writes of its SRAM buffers.
    pub sram: OperandAccesses,
}

impl ArrayDetail {
    /// Adds `o`'s folds and accesses; efficiencies are weighted by folds.
    pub fn absorb(&mut self, o: &ArrayDetail) {
        let folds = self.folds.saturating_add(o.folds);
        if folds > 0 {
            let w =
                |a: f64, fa: u64, b: f64, fb: u64| (a * fa as f64 + b * fb as f64) / folds as f64;
            self.mapping_efficiency = w(
                self.mapping_efficiency,
                self.folds,
                o.mapping_efficiency,
                o.folds,
            );
            self.compute_utilization = w(
                self.compute_utilization,
                self.folds,
                o.compute_utilization,
                o.folds,
            );
        }
        self.folds = folds;
        self.sram.ifmap_reads = self.sram.ifmap_reads.saturating_add(o.sram.ifmap_reads);
        self.sram.filter_reads = self.sram.filter_reads.saturating_add(o.sram.filter_reads);
        self.sram.ofmap_writes = self.sram.ofmap_writes.saturating_add(o.sram.ofmap_writes);
    }
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
    /// Useful MACs / (cycles × PEs), 0..1.
    pub utilization: f64,
    /// The array's columns, for kinds with a matrix array.
    #[serde(flatten)]
    pub array: Option<ArrayDetail>,
    /// Traffic per memory level, outermost last.
    pub traffic: Traffic,
    pub energy: Energy,
    pub bound: Bound,
    /// What sets a pipelined section's critical path (dataflow chips): its slowest stage (an op
    /// name), or the latency of its collectives.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stage: Option<std::sync::Arc<str>>,
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
            utilization: 0.0,
            array: None,
            traffic: Traffic::new(),
            energy: Energy::default(),
            bound: Bound::None,
            stage: None,
        }
    }

    /// Bytes moved at the named level (read + write).
    pub fn level_bytes(&self, level: &str) -> u64 {
        self.traffic
            .iter()
            .filter(|t| &*t.level == level)
            .map(|t| t.read_bytes.saturating_add(t.write_bytes))
            .sum()
    }

    /// Adds `o` as work done after this one (ops of a step run one after another): cycles, MACs,
    /// accesses, traffic and energy add up; utilisation and mapping efficiency are re-weighted.
    pub fn then(&mut self, o: &OpCost, peak_macs_per_cycle: u64) {
        if o.engine == Engine::None && o.cycles == 0 && o.traffic.is_empty() {
            return;
        }
        if self.engine == Engine::None {
            self.engine = o.engine;
            self.bound = o.bound.clone();
        } else if o.cycles > self.cycles {
            self.bound = o.bound.clone();
        }
        match (&mut self.array, &o.array) {
            (Some(a), Some(b)) => a.absorb(b),
            (None, Some(b)) => self.array = Some(*b),
            _ => {}
        }
        self.compute_cycles = self.compute_cycles.saturating_add(o.compute_cycles);
        self.stall_cycles = self.stall_cycles.saturating_add(o.stall_cycles);
        self.cycles = self.cycles.saturating_add(o.cycles);
        self.memory_cycles = self.memory_cycles.saturating_add(o.memory_cycles);
        self.mapped_macs = self.mapped_macs.saturating_add(o.mapped_macs);
        for t in &o.traffic {
            match self.traffic.iter_mut().find(|x| x.level == t.level) {
                Some(x) => {
                    x.read_bytes = x.read_bytes.saturating_add(t.read_bytes);
                    x.write_bytes = x.write_bytes.saturating_add(t.write_bytes);
                }
                None => self.traffic.push(t.clone()),
            }
        }
        self.energy.add(&o.energy);
        if self.cycles > 0 {
            self.utilization =
                self.mapped_macs as f64 / (self.cycles as f64 * peak_macs_per_cycle.max(1) as f64);
        }
    }
}

/// One trait for every hardware kind: systolic arrays and CPUs today; GPUs, dataflow chips and
/// MCUs add their own implementations behind the same interface.
///
/// The engine asks the model for a [`Schedule`] of the whole graph (which ops run together, where
/// each tensor lives), then for the cost of each step. A kind that needs nothing more than per-op
/// costs implements [`HardwareModel::cost_op`] only: the default schedule runs layer by layer and
/// the default step cost is its ops' costs in sequence.
pub trait HardwareModel: Send + Sync {
    fn spec(&self) -> &HardwareSpec;

    /// Costs one op alone, its operands and results in the outermost memory level (layer-by-layer
    /// execution). Ops are independent, so callers may cost them in parallel.
    fn cost_op(&self, trace: &Trace, op: &Op, opts: &CostOptions) -> Result<OpCost, HwError>;

    /// Peak MACs per cycle of the matrix engine.
    fn peak_macs_per_cycle(&self) -> u64;

    /// Peak MACs per cycle for `g`'s number formats (utilisation's denominator): a GPU's fp8 or
    /// int8 tensor-core rate for a graph in that format. Default: [`Self::peak_macs_per_cycle`].
    fn peak_macs_per_cycle_for(&self, _g: &Graph) -> u64 {
        self.peak_macs_per_cycle()
    }

    /// The memory levels, innermost first. `LevelTraffic::level` names one of them; totals count
    /// off-chip traffic by this declaration.
    fn levels(&self) -> Vec<Level>;

    /// The whole-graph schedule. Default: layer by layer, everything in the outermost level.
    fn schedule(&self, g: &Graph, _opts: &CostOptions) -> Result<Schedule, HwError> {
        Ok(Schedule::layer_by_layer(g, &self.levels()))
    }

    /// Cost of one step of `s`. Default: its ops one after another, each costed alone.
    fn cost_step(
        &self,
        g: &Graph,
        _s: &Schedule,
        step: &Step,
        opts: &CostOptions,
    ) -> Result<OpCost, HwError> {
        cost_in_sequence(self, g, step, opts)
    }

    /// Estimated silicon area; components named in the YAML's `area_mm2` override the estimate.
    fn area(&self) -> crate::area::Area;

    /// Whether costs carry energy (a kind that does not model it reports zeros, which must never
    /// win a Pareto front on energy).
    fn models_energy(&self) -> bool {
        true
    }

    /// Whether `area()` is an estimate (false: it reports zeros).
    fn models_area(&self) -> bool {
        true
    }

    /// Figures the model derives from its description (`vchip hw show --derived`): name (with its
    /// unit) and value. Default: [`derived_common`].
    fn derived(&self) -> Vec<(String, f64)> {
        derived_common(self)
    }

    /// Whether each layer of a repeated stack costs the same wherever it sits, so a network's cost
    /// is affine in its layer count (LLM serving costs one and two layers and extends them).
    /// False for kinds whose schedule groups layers together (a dataflow chip's sections).
    fn layers_cost_alike(&self) -> bool {
        true
    }

    /// Microcontrollers' memory report (arena, flash, fits); `None` for other kinds.
    fn mcu_report(&self, _g: &Graph, _s: &Schedule) -> Option<crate::mcu_report::McuReport> {
        None
    }
}

/// What every kind derives alike: peak compute, each memory level's capacity and bandwidth, the
/// ridge point against the off-chip level, and the area where the kind estimates one.
pub fn derived_common<M: HardwareModel + ?Sized>(m: &M) -> Vec<(String, f64)> {
    let clock = m.spec().clock_hz();
    let peak = m.peak_macs_per_cycle() as f64;
    let ops_per_s = 2.0 * peak * clock;
    let mut v = vec![
        ("peak_macs_per_cycle".to_string(), peak),
        ("peak_tops".to_string(), ops_per_s / 1e12),
    ];
    let levels = m.levels();
    for l in &levels {
        if let Some(c) = l.capacity_bytes {
            v.push((
                format!("{}.capacity_mib", l.name),
                c as f64 / (1u64 << 20) as f64,
            ));
        }
        if l.bytes_per_s.is_finite() {
            v.push((format!("{}.bandwidth_gb_s", l.name), l.bytes_per_s / 1e9));
        }
    }
    // Operations per byte at which the off-chip level stops being the wall (the roofline's ridge).
    if let Some(off) = levels
        .iter()
        .find(|l| !l.on_chip && l.bytes_per_s.is_finite())
    {
        v.push((
            format!("ridge_ops_per_{}_byte", off.name),
            ops_per_s / off.bytes_per_s,
        ));
    }
    if m.models_area() {
        let a = m.area();
        for (k, x) in [
            ("compute", a.compute_mm2),
            ("sram", a.sram_mm2),
            ("vector", a.vector_mm2),
            ("memory_interface", a.memory_interface_mm2),
            ("other", a.other_mm2),
            ("total", a.total_mm2),
        ] {
            v.push((format!("area_mm2.{k}"), x));
        }
    }
    v
}

/// Refuses SCALE-Sim conventions on a kind they do not describe (`what`: "GPUs", ...).
pub fn refuse_scalesim(spec: &HardwareSpec, opts: &CostOptions, what: &str) -> Result<(), HwError> {
    if opts.compat == Compat::Scalesim {
        return Err(HwError::Invalid {
            file: spec.name.clone(),
            key: "kind".into(),
            msg: format!(
                "--compat scalesim reproduces SCALE-Sim's systolic arrays; it does not apply to {what} (drop it)"
            ),
        });
    }
    Ok(())
}

/// A step's ops one after another, each costed alone: the default step cost, and what kinds with
/// their own step costs fall back to layer by layer.
pub fn cost_in_sequence<M: HardwareModel + ?Sized>(
    model: &M,
    g: &Graph,
    step: &Step,
    opts: &CostOptions,
) -> Result<OpCost, HwError> {
    let mut total = OpCost::zero();
    for &o in &step.ops {
        let c = model.cost_op(&g.trace, g.op(o), opts)?;
        if step.ops.len() == 1 {
            return Ok(c);
        }
        total.then(&c, model.peak_macs_per_cycle());
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::LevelName;

    #[test]
    fn level_names_intern_once_and_compare_by_text() {
        let a = LevelName::from(String::from("hbm-tier-under-test"));
        let b = LevelName::from("hbm-tier-under-test");
        // One leaked copy per distinct name, whichever way it arrives.
        assert!(std::ptr::eq(a.as_str(), b.as_str()));
        assert_eq!(a, b);
        assert_eq!(LevelName::of("dram"), LevelName::from("dram".to_string()));
        assert_ne!(a, LevelName::of("dram"));
        assert_eq!(&*a, "hbm-tier-under-test");
        assert_eq!(
            format!("{a} {a:?}"),
            "hbm-tier-under-test \"hbm-tier-under-test\""
        );
    }
}
