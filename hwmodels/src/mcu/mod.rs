//! The MCU kind (`kind: mcu`): int8 networks on Cortex-M boards, with the kernel library as part
//! of the hardware (`mcu.library`, `--lib`), TFLM's memory planner for the SRAM arena, weights
//! in flash (its wait states on every weight read the cache does not catch), energy as board
//! power × time, and optionally an Ethos-U NPU costed the way Arm's Vela estimates it.

pub mod kernels;
pub mod memory;
pub mod npu;

use vchip_workloads::graph::{is_view, Graph};
use vchip_workloads::{DType, NormKind, Op, OpKind, Trace};

use crate::area::Area;
use crate::error::HwError;
pub use crate::mcu_report::McuReport;
use crate::model::*;
use crate::plan::fuse::{fuse_epilogues, FusionRules};
use crate::schedule::{materialised, Level, Schedule, Step};
use crate::spec::mcu::McuSpec;
use crate::spec::HardwareSpec;
use kernels::{core_speed, Kernel, LibProfile, HELIUM_MAC_SPEEDUP};

pub const LEVEL_SRAM: &str = "sram";
pub const LEVEL_FLASH: &str = "flash";

pub struct McuModel {
    spec: HardwareSpec,
    mcu: McuSpec,
    profile: LibProfile,
    speed: f64,
    /// Picojoules per cycle of board power.
    pj_per_cycle: f64,
}

/// TFLite fuses these into the kernel before them (`fused_activation_function`): a clamp in the
/// requantisation, no kernel of their own. BatchNorm is folded offline.
fn is_fused_activation(op: &Op) -> bool {
    use vchip_workloads::EltOp;
    matches!(
        op.kind,
        OpKind::Elementwise {
            op: EltOp::Relu | EltOp::Relu6,
            ..
        } | OpKind::Norm {
            kind: NormKind::Batch,
            ..
        }
    )
}

fn is_kernel(op: &Op) -> bool {
    !is_view(op)
}

const FUSION: FusionRules = FusionRules {
    anchor: is_kernel,
    epilogue: is_fused_activation,
};

impl McuModel {
    pub fn new(spec: HardwareSpec) -> Result<Self, HwError> {
        let lib = spec
            .mcu
            .as_ref()
            .map(|m| m.library)
            .ok_or_else(|| missing(&spec))?;
        Self::with_profile(spec, *kernels::profile(lib))
    }

    /// A model with an explicit library profile (calibration fits one).
    pub fn with_profile(spec: HardwareSpec, profile: LibProfile) -> Result<Self, HwError> {
        let mcu = spec.mcu.clone().ok_or_else(|| missing(&spec))?;
        let speed = core_speed(mcu.core);
        // mW/MHz is nJ per cycle: 1e3 pJ.
        let pj_per_cycle = mcu.power_mw_per_mhz.0 * 1e3;
        Ok(McuModel {
            spec,
            mcu,
            profile,
            speed,
            pj_per_cycle,
        })
    }

    /// MAC loops run on Helium: a Cortex-M55 with a library that has MVE kernels.
    fn helium(&self) -> bool {
        self.profile.helium && self.mcu.core == crate::spec::mcu::Core::CortexM55
    }

    fn npu(&self) -> Option<&crate::spec::mcu::NpuSpec> {
        self.mcu.npu.as_ref().filter(|_| self.mcu.use_npu)
    }

    fn steps(&self, g: &Graph, opts: &CostOptions) -> Vec<Step> {
        if opts.fusion == Fusion::Off {
            return Schedule::layer_by_layer(g, &[]).steps;
        }
        fuse_epilogues(g, &FUSION)
    }

    /// (core cycles, flash stall cycles, flash bytes read) of one kernel on the core; `matrix` is
    /// its weight matrix's bytes.
    fn core_cycles(&self, k: &Kernel, matrix: u64) -> (u64, u64, u64) {
        if *k == Kernel::View {
            return (0, 0, 0);
        }
        let p = &self.profile;
        let (mut mac_units, other_units) = k.units(p);
        if self.helium() {
            mac_units /= HELIUM_MAC_SPEEDUP;
        }
        let compute = ((mac_units + other_units) * p.scale + p.per_op) / self.speed;
        let reads = k.weight_reads(matrix, p);
        let f = &self.mcu.flash;
        let per_byte = f.wait_states.0 / f.line_bytes.0 as f64;
        // The first read of every weight byte waits; re-reads hit while the layer's weights fit
        // the data cache.
        let cached = (matrix as f64) <= f.data_cache_kib.0 * 1024.0;
        let missed = if cached { matrix } else { reads };
        let stall = missed as f64 * per_byte;
        (compute.round() as u64, stall.round() as u64, reads)
    }
}

fn missing(spec: &HardwareSpec) -> HwError {
    HwError::Invalid {
        file: spec.name.clone(),
        key: "mcu".into(),
        msg: "`kind: mcu` needs an `mcu:` section".into(),
    }
}

impl HardwareModel for McuModel {
    fn spec(&self) -> &HardwareSpec {
        &self.spec
    }

    fn cost_op(&self, trace: &Trace, op: &Op, _opts: &CostOptions) -> Result<OpCost, HwError> {
        Ok(self.cost_one(trace, &[], op))
    }

    fn peak_macs_per_cycle(&self) -> u64 {
        if let Some(n) = self.npu() {
            // In board-clock cycles: an NPU clocked apart does its MACs at its own rate.
            let ratio = n.clock_mhz.map_or(1.0, |c| c.0 / self.spec.clock_mhz.0);
            return ((n.macs_per_cycle.0 as f64 * ratio).round() as u64).max(1);
        }
        // SMLAD: two 16-bit MACs per cycle; Helium about eight int8 MACs.
        if self.helium() {
            8
        } else {
            2
        }
    }

    fn levels(&self) -> Vec<Level> {
        let clock = self.spec.clock_hz();
        let region = self
            .mcu
            .largest_region()
            .map(|r| ((r.size_kib.0 * 1024.0) as u64, r.wait_states.0));
        let f = &self.mcu.flash;
        vec![
            Level {
                name: LEVEL_SRAM.into(),
                capacity_bytes: region.map(|r| r.0),
                // One 32-bit access per cycle plus wait states.
                bytes_per_s: 4.0 * clock / (1.0 + region.map_or(0.0, |r| r.1)),
                on_chip: true,
            },
            Level {
                name: LEVEL_FLASH.into(),
                capacity_bytes: Some(self.mcu.flash_bytes()),
                bytes_per_s: f.line_bytes.0 as f64 * clock / (1.0 + f.wait_states.0),
                on_chip: true,
            },
        ]
    }

    fn schedule(&self, g: &Graph, opts: &CostOptions) -> Result<Schedule, HwError> {
        refuse_scalesim(&self.spec, opts, "microcontrollers")?;
        // Kernel libraries run int8 networks: another precision would size memory for a network
        // the board cannot run.
        if let Some(op) = g
            .trace
            .ops
            .iter()
            .find(|o| o.macs > 0 && o.dtype != DType::Int8)
        {
            return Err(HwError::Op {
                op: op.name.clone(),
                msg: format!(
                    "runs at {}, but MCU kernel libraries run int8 networks; use --precision int8 (the default of `kind: mcu`)",
                    op.dtype
                ),
            });
        }
        let steps = self.steps(g, opts);
        let mat = materialised(g, &steps);
        let home = g
            .trace
            .tensors
            .iter()
            .enumerate()
            .map(|(t, tensor)| {
                use vchip_workloads::TensorRole::*;
                match tensor.role {
                    Weight | Constant => Some(1),
                    _ => mat[t].then_some(0),
                }
            })
            .collect();
        let report = self.report(g, &steps);
        let arena = report.peak_sram_bytes;
        Ok(Schedule::with_peaks(
            g,
            steps,
            home,
            &self.levels(),
            &[Some(arena), Some(report.flash_bytes)],
        ))
    }

    fn cost_step(
        &self,
        g: &Graph,
        _s: &Schedule,
        step: &Step,
        _opts: &CostOptions,
    ) -> Result<OpCost, HwError> {
        let mut total = OpCost::zero();
        for &o in &step.ops {
            if o != step.ops[0] && is_fused_activation(g.op(o)) {
                continue;
            }
            let c = self.cost_one(&g.trace, &g.folded_away, g.op(o));
            total.then(&c, self.peak_macs_per_cycle());
        }
        Ok(total)
    }

    fn area(&self) -> Area {
        Area::default()
    }

    fn models_area(&self) -> bool {
        false
    }

    fn mcu_report(&self, g: &Graph, s: &Schedule) -> Option<McuReport> {
        Some(self.report(g, &s.steps))
    }
}

impl McuModel {
    /// The memory report, before latency and energy are known.
    pub fn report(&self, g: &Graph, steps: &[Step]) -> McuReport {
        let mut r = memory::plan(g, steps, &self.mcu, &self.profile, &self.spec.name);
        r.clock_mhz = self.spec.clock_mhz.0;
        r.power_mw = self.mcu.power_mw_per_mhz.0 * self.spec.clock_mhz.0;
        r.npu = self.npu().map(|n| n.name.clone());
        r
    }

    /// Cost of one kernel. `folded` marks parameters the graph passes folded away.
    fn cost_one(&self, trace: &Trace, folded: &[bool], op: &Op) -> OpCost {
        let k = Kernel::of(op);
        if k == Kernel::View {
            return OpCost::zero();
        }
        let act_read = trace.op_activation_bytes_read(op);
        let act_write = trace.op_bytes_written(op);
        let matrix = memory::matrix_bytes(trace, folded, op);
        let (compute, stall, flash_read) = match self.npu() {
            Some(n) if !matches!(k, Kernel::Copy { .. }) => npu::cycles(
                n,
                &k,
                op,
                matrix,
                act_read.saturating_add(act_write),
                self.spec.clock_mhz.0,
            ),
            _ => self.core_cycles(&k, matrix),
        };
        let cycles = compute.saturating_add(stall);
        let macs = k.macs();
        OpCost {
            engine: if macs > 0 {
                Engine::Matrix
            } else {
                Engine::Vector
            },
            compute_cycles: compute,
            stall_cycles: stall,
            cycles,
            memory_cycles: stall,
            mapped_macs: macs,
            utilization: if cycles > 0 {
                macs as f64 / (cycles as f64 * self.peak_macs_per_cycle() as f64)
            } else {
                0.0
            },
            array: None,
            traffic: smallvec::smallvec![
                LevelTraffic {
                    level: LevelName::of(LEVEL_SRAM),
                    read_bytes: act_read,
                    write_bytes: act_write,
                },
                LevelTraffic {
                    level: LevelName::of(LEVEL_FLASH),
                    read_bytes: flash_read,
                    write_bytes: 0,
                },
            ],
            energy: Energy {
                static_pj: cycles as f64 * self.pj_per_cycle,
                ..Energy::default()
            },
            bound: if stall > compute {
                Bound::Memory(LevelName::of(LEVEL_FLASH))
            } else {
                Bound::Compute
            },
            stage: None,
        }
    }
}
