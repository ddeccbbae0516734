//! The dataflow kind (`kind: dataflow`): reconfigurable dataflow chips of the SambaNova SN40L
//! class. The schedule cuts the graph into sections (`plan.rs`); inside a section every op is a
//! stage with its share of the compute units, and tiles stream from stage to stage through PMU
//! buffers, so a section takes as long as its slowest resource: the slowest stage (plus the fill
//! and drain of the pipeline and the latency of its collectives), a memory tier, the on-chip
//! network or the socket links. Weights and tensors between sections live in the tier placement
//! gave them. `--fusion off` is the unfused baseline of the SN40L paper (Prabhakar et al., MICRO
//! 2024, §VI-A): one kernel per op, launched by host software, every tensor in HBM.

pub mod plan;

use vchip_workloads::graph::{is_view, Graph};
use vchip_workloads::{MoveKind, Op, OpKind, Trace};

use crate::area::Area;
use crate::energy::{mac_pj_45nm, node_scale};
use crate::error::HwError;
use crate::model::*;
use crate::schedule::{Level, Schedule, Step, StepKind};
use crate::spec::dataflow::DataflowSpec;
use crate::spec::HardwareSpec;

pub use crate::spec::dataflow::{LEVEL_LINK, LEVEL_NOC, LEVEL_SRAM};

pub struct DataflowModel {
    spec: HardwareSpec,
    d: DataflowSpec,
    clock: f64,
    /// sram, the tiers in order, noc, link (when there are several sockets).
    levels: Vec<Level>,
    /// `levels`' names as costs carry them (interned once here, not per section).
    level_names: Vec<LevelName>,
    /// Energy multiplier of 45 nm figures at this node.
    scale: f64,
}

/// Index of the first off-chip tier in [`DataflowModel::levels`] (SRAM is 0).
const FIRST_TIER: usize = 1;

impl DataflowModel {
    pub fn new(spec: HardwareSpec) -> Result<Self, HwError> {
        let d = spec.dataflow.clone().ok_or_else(|| HwError::Invalid {
            file: spec.name.clone(),
            key: "dataflow".into(),
            msg: "`kind: dataflow` needs a `dataflow:` section".into(),
        })?;
        let clock = spec.clock_hz();
        let mut levels = vec![Level {
            name: LEVEL_SRAM.into(),
            capacity_bytes: Some(d.sram_bytes()),
            bytes_per_s: d.pmus.0 as f64 * d.pmu_bytes_per_cycle.0 * clock,
            on_chip: true,
        }];
        for t in &d.tiers {
            levels.push(Level {
                name: t.name.clone(),
                capacity_bytes: Some((t.capacity_gib.0 * (1u64 << 30) as f64) as u64),
                // Declared at what streaming sustains, as levels are (the roofline's roof).
                bytes_per_s: t.bandwidth_gb_s.0 * 1e9 * t.efficiency.0,
                on_chip: false,
            });
        }
        levels.push(Level {
            name: LEVEL_NOC.into(),
            capacity_bytes: None,
            bytes_per_s: d.noc_gb_s.0 * 1e9,
            on_chip: true,
        });
        if let Some(l) = &d.socket_link {
            levels.push(Level {
                name: LEVEL_LINK.into(),
                capacity_bytes: None,
                bytes_per_s: l.gb_s.0 * 1e9,
                on_chip: false,
            });
        }
        let scale = node_scale(spec.node_nm(), spec.voltage_v.map(|v| v.0));
        let level_names = levels.iter().map(|l| l.name.as_str().into()).collect();
        Ok(DataflowModel {
            level_names,
            spec,
            d,
            clock,
            levels,
            scale,
        })
    }

    fn noc_level(&self) -> usize {
        FIRST_TIER + self.d.tiers.len()
    }

    fn link_level(&self) -> Option<usize> {
        self.d.socket_link.as_ref().map(|_| self.noc_level() + 1)
    }

    fn pmu_bytes(&self) -> u64 {
        (self.d.pmu_kib.0 * 1024.0) as u64
    }

    /// Energy per byte moved at level `l`, pJ.
    fn pj_per_byte(&self, l: usize) -> f64 {
        if l == 0 {
            return 8.0 * self.d.sram_pj_per_bit.0;
        }
        l.checked_sub(FIRST_TIER)
            .and_then(|i| self.d.tiers.get(i))
            .map_or(0.0, |t| 8.0 * t.energy_pj_per_bit.0)
    }

    fn mac_pj(&self, op: &Op) -> f64 {
        match self.spec.energy.mac_pj.get(op.dtype.name()) {
            Some(v) => v.0,
            None => mac_pj_45nm(op.dtype) * self.scale,
        }
    }

    /// Cycles one PCU needs for `op`, and the MACs it maps (0 for vector work).
    fn pcu_cycles(&self, trace: &Trace, op: &Op) -> (f64, u64) {
        let (lanes, stages) = (self.d.pcu_lanes.0 as f64, self.d.pcu_stages.0 as f64);
        // A PCU as an output-stationary systolic array: rows of the product along its stages,
        // columns along its lanes; a partial last tile leaves units idle.
        let fill = |x: u64, width: f64| {
            let x = x.max(1) as f64;
            x / ((x / width).ceil() * width)
        };
        let matrix = |m: u64, n: u64| {
            let eff = fill(m, stages) * fill(n, lanes);
            (op.macs as f64 / (lanes * stages * eff), op.macs)
        };
        match op.kind {
            OpKind::MatMul(g) => matrix(g.m, g.n),
            OpKind::Conv2d(c)
                if c.c_in / c.groups.max(1) == 1 && c.c_out / c.groups.max(1) == 1 =>
            {
                // Depthwise: a stencil on the SIMD lanes.
                (op.macs as f64 / lanes, 0)
            }
            OpKind::Conv2d(c) => matrix(c.batch * c.h_out * c.w_out, c.c_out / c.groups.max(1)),
            OpKind::Attention {
                q_len, head_dim, ..
            } => matrix(q_len, head_dim),
            OpKind::DataMovement {
                kind: MoveKind::AllReduce { .. },
                ..
            } => (0.0, 0),
            _ => {
                // SIMD: one element per lane per cycle, up to `stages` chained operations each.
                let numel = |ts: &[vchip_workloads::TensorId]| -> u64 {
                    ts.iter().map(|&t| trace.tensor(t).numel()).sum()
                };
                let elems = numel(&op.inputs).max(numel(&op.outputs)) as f64;
                ((elems / lanes).max(op.flops as f64 / (lanes * stages)), 0)
            }
        }
    }

    /// Costs a step: a section of stages (one op alone in the unfused baseline). `placed`: the
    /// graph, its schedule and the step's ops, sorted; without it every tensor is in the first
    /// tier and nothing comes from another stage.
    fn cost_ops(
        &self,
        trace: &Trace,
        stages: &[&Op],
        placed: Option<(&Graph, &Schedule, &[vchip_workloads::OpId])>,
        fused: bool,
    ) -> Result<OpCost, HwError> {
        if stages.is_empty() {
            return Ok(OpCost::zero());
        }
        let mut bytes = vec![(0u64, 0u64); self.levels.len()];
        let noc = self.noc_level();
        let add = |bytes: &mut Vec<(u64, u64)>, l: usize, r: u64, w: u64| {
            bytes[l].0 = bytes[l].0.saturating_add(r);
            bytes[l].1 = bytes[l].1.saturating_add(w);
        };
        let home = |t: vchip_workloads::TensorId| {
            placed.map_or(FIRST_TIER, |(g, s, _)| s.home_of(g, t).unwrap_or(0))
        };
        // Made by a stage of this section (its root's producer is one of the step's ops).
        let made_inside = |t: vchip_workloads::TensorId| {
            placed.is_some_and(|(g, _, ops)| {
                let root = g.storage[t.0 as usize].0 as usize;
                g.producer[root].is_some_and(|p| ops.binary_search(&p).is_ok())
            })
        };
        // Read by this section's stages only.
        let kept_inside = |t: vchip_workloads::TensorId| {
            placed.is_some_and(|(g, _, ops)| {
                let readers = &g.consumers[g.storage[t.0 as usize].0 as usize];
                !readers.is_empty() && readers.iter().all(|c| ops.binary_search(c).is_ok())
            })
        };
        let mut work = Vec::with_capacity(stages.len());
        let (mut macs, mut mac_pj, mut vector_pj) = (0u64, 0.0f64, 0.0f64);
        let (mut link_s, mut collective_latency_s, mut collectives) = (0.0f64, 0.0f64, 0u64);
        for op in stages {
            for &w in &op.weights {
                add(&mut bytes, home(w), trace.tensor(w).bytes(), 0);
            }
            for &t in &op.inputs {
                let b = trace.tensor(t).bytes();
                if made_inside(t) {
                    // From the stage that made it: its PMU buffers over the network.
                    add(&mut bytes, 0, b, 0);
                    add(&mut bytes, noc, b, 0);
                } else {
                    add(&mut bytes, home(t), b, 0);
                }
            }
            for &t in &op.outputs {
                let b = trace.tensor(t).bytes();
                let level = if kept_inside(t) { 0 } else { home(t) };
                add(&mut bytes, level, 0, b);
            }
            if let OpKind::DataMovement {
                kind: MoveKind::AllReduce { group },
                ..
            } = op.kind
            {
                if group > self.d.sockets.0 {
                    return Err(HwError::Op {
                        op: op.name.clone(),
                        msg: format!(
                            "tensor parallelism over {group} sockets, but `{}` has {} (dataflow.sockets); use a node preset such as sn40l-8, or a smaller --tp",
                            self.spec.name, self.d.sockets.0
                        ),
                    });
                }
                if let (Some(l), Some(link)) = (self.link_level(), &self.d.socket_link) {
                    let b = trace.op_bytes_written(op);
                    add(&mut bytes, l, 0, b);
                    link_s += link.ring_transfer_s(b, group);
                    collective_latency_s += link.ring_latency_s(group);
                    collectives += 1;
                }
            }
            let (cycles, mapped) = self.pcu_cycles(trace, op);
            macs = macs.saturating_add(mapped);
            mac_pj += mapped as f64 * self.mac_pj(op);
            if mapped == 0 {
                // An element-wise operation: about an fp32 add (Horowitz, 0.9 pJ at 45 nm).
                vector_pj += op.flops as f64 * 0.9 * self.scale;
            }
            let out_elems: u64 = op.outputs.iter().map(|&t| trace.tensor(t).numel()).sum();
            work.push((cycles, out_elems.div_ceil(self.d.pcu_lanes.0).max(1)));
        }
        // Units to stages in proportion to their work (at least one each): balanced stages.
        let pcus = self.d.pcus.0 as f64;
        let total: f64 = work.iter().map(|w| w.0).sum();
        let spare = (pcus - work.len() as f64).max(0.0);
        let mut bottleneck = (0.0f64, 0usize);
        let mut fill = 0.0f64;
        for (i, &(cycles, tiles)) in work.iter().enumerate() {
            let units = if total > 0.0 {
                1.0 + (spare * cycles / total).floor()
            } else {
                1.0
            };
            let t = cycles / units;
            if t > bottleneck.0 {
                bottleneck = (t, i);
            }
            // The first tile passes every stage before the last leaves the pipeline.
            fill += t / tiles as f64 + self.d.stage_latency_cycles.0;
        }
        // The pipeline's critical path: the slowest stage, fill and drain, the collectives'
        // latency (a tile waits for each all-reduce).
        let pipeline_s = (bottleneck.0 + fill) / self.clock;
        let compute_s = pipeline_s + collective_latency_s;
        // Every resource's time; the slowest sets the section's.
        let level_s = |l: usize, (r, w): (u64, u64)| {
            if Some(l) == self.link_level() {
                link_s
            } else {
                r.saturating_add(w) as f64 / self.levels[l].bytes_per_s
            }
        };
        let mut slowest = (compute_s, None::<usize>);
        for (l, &rw) in bytes.iter().enumerate() {
            let t = level_s(l, rw);
            if t > slowest.0 {
                slowest = (t, Some(l));
            }
        }
        let launch_s = if fused {
            self.d.orchestrated_launch_us.0
        } else {
            self.d.host_launch_us.0
        } * 1e-6;
        let seconds = slowest.0 + launch_s;
        let cycles = (seconds * self.clock).round() as u64;
        let compute_cycles = ((compute_s * self.clock).round() as u64).min(cycles);
        let memory_s = bytes
            .iter()
            .enumerate()
            .filter(|(l, _)| !self.levels[*l].on_chip)
            .map(|(l, &rw)| level_s(l, rw))
            .fold(0.0, f64::max);
        let bound = if launch_s > slowest.0 {
            Bound::Memory(LevelName::of(LAUNCH))
        } else {
            match slowest.1 {
                None => Bound::Compute,
                Some(l) => Bound::Memory(self.level_names[l]),
            }
        };
        let (mut sram_pj, mut dram_pj) = (0.0, 0.0);
        for (l, &(r, w)) in bytes.iter().enumerate() {
            let e = r.saturating_add(w) as f64 * self.pj_per_byte(l);
            if self.levels[l].on_chip {
                sram_pj += e;
            } else {
                dram_pj += e;
            }
        }
        let peak = self.peak_macs_per_cycle() as f64;
        Ok(OpCost {
            engine: if macs > 0 {
                Engine::Matrix
            } else {
                Engine::Vector
            },
            compute_cycles,
            stall_cycles: cycles - compute_cycles,
            cycles,
            memory_cycles: (memory_s * self.clock).round() as u64,
            mapped_macs: macs,
            utilization: if cycles > 0 {
                macs as f64 / (cycles as f64 * peak)
            } else {
                0.0
            },
            array: None,
            traffic: bytes
                .iter()
                .enumerate()
                .filter(|(_, &(r, w))| r > 0 || w > 0)
                .map(|(l, &(r, w))| LevelTraffic {
                    level: self.level_names[l],
                    read_bytes: r,
                    write_bytes: w,
                })
                .collect(),
            energy: Energy {
                mac_pj,
                vector_pj,
                sram_pj,
                dram_pj,
                static_pj: self.spec.energy.static_power_w.0 * seconds * 1e12,
            },
            bound,
            // What sets the critical path: the collectives' latency where it outweighs the
            // stages, else the slowest stage.
            stage: if collective_latency_s > pipeline_s {
                Some(format!("all-reduce latency ({collectives} collectives)").into())
            } else {
                (stages.len() > 1).then(|| stages[bottleneck.1].name.as_str().into())
            },
        })
    }
}

impl HardwareModel for DataflowModel {
    fn spec(&self) -> &HardwareSpec {
        &self.spec
    }

    /// An op alone, launched by the host, its tensors in the first tier.
    fn cost_op(&self, trace: &Trace, op: &Op, opts: &CostOptions) -> Result<OpCost, HwError> {
        refuse_scalesim(&self.spec, opts, "dataflow chips")?;
        self.cost_ops(trace, &[op], None, false)
    }

    fn peak_macs_per_cycle(&self) -> u64 {
        self.d.macs_per_cycle()
    }

    fn levels(&self) -> Vec<Level> {
        self.levels.clone()
    }

    fn schedule(&self, g: &Graph, opts: &CostOptions) -> Result<Schedule, HwError> {
        refuse_scalesim(&self.spec, opts, "dataflow chips")?;
        let capacities: Vec<Option<u64>> = self.levels.iter().map(|l| l.capacity_bytes).collect();
        let (steps, first_level, capacities, buffers) = if opts.fusion == Fusion::Off {
            // The paper's baseline: every tensor in HBM (the next tier when it is full).
            (plan::one_op_per_step(g), FIRST_TIER, capacities, 0)
        } else {
            // The PMUs the largest section leaves free hold data across sections.
            let (steps, busiest) =
                plan::sections(g, self.d.pcus.0, self.d.pmus.0, self.pmu_bytes());
            let buffers = busiest.min(self.d.pmus.0).saturating_mul(self.pmu_bytes());
            let mut caps = capacities;
            caps[0] = Some(self.d.sram_bytes().saturating_sub(buffers));
            (steps, 0, caps, buffers)
        };
        // Only tiers hold tensors (never the network or the links).
        let mut caps = capacities;
        caps.truncate(FIRST_TIER + self.d.tiers.len());
        let home = plan::place(g, &steps, &caps, first_level, (FIRST_TIER, opts.boundary));
        let mut s = Schedule::with_peaks(g, steps, home, &self.levels, &[]);
        // The SRAM holds the largest section's stage buffers beside what lives there.
        if let Some(m) = s.memory.first_mut().filter(|_| buffers > 0) {
            let arena = m.peak_bytes.saturating_add(buffers);
            m.arena_bytes = Some(arena);
            m.fits = m.capacity_bytes.is_none_or(|c| arena <= c);
        }
        Ok(s)
    }

    fn cost_step(
        &self,
        g: &Graph,
        s: &Schedule,
        step: &Step,
        _opts: &CostOptions,
    ) -> Result<OpCost, HwError> {
        if step.kind == StepKind::View {
            return Ok(OpCost::zero());
        }
        let stages: Vec<&Op> = step
            .ops
            .iter()
            .map(|&o| g.op(o))
            .filter(|o| !is_view(o))
            .collect();
        let mut ops = step.ops.to_vec();
        ops.sort_unstable();
        self.cost_ops(
            &g.trace,
            &stages,
            Some((g, s, &ops)),
            step.kind == StepKind::Section,
        )
    }

    /// Sections hold many layers, and the slowest resource of each sets its time.
    fn layers_cost_alike(&self) -> bool {
        false
    }

    fn area(&self) -> Area {
        Area::default()
    }

    fn models_area(&self) -> bool {
        false
    }

    fn derived(&self) -> Vec<(String, f64)> {
        let mut v = derived_common(self);
        v.push(("sockets".into(), self.d.sockets.0 as f64));
        v.push((
            "node_peak_tflops".into(),
            2.0 * self.d.macs_per_cycle() as f64 * self.clock * self.d.sockets.0 as f64 / 1e12,
        ));
        for t in &self.d.tiers {
            v.push((
                format!("node_{}_capacity_gib", t.name),
                t.capacity_gib.0 * self.d.sockets.0 as f64,
            ));
            v.push((
                format!("node_{}_peak_bandwidth_gb_s", t.name),
                t.bandwidth_gb_s.0 * self.d.sockets.0 as f64,
            ));
        }
        v
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_name_the_model_gives_its_own_is_reserved_for_tiers() {
        use crate::spec::dataflow::RESERVED_NAMES;
        for name in [
            super::LEVEL_SRAM,
            super::LEVEL_NOC,
            super::LEVEL_LINK,
            crate::model::LAUNCH,
        ] {
            assert!(RESERVED_NAMES.contains(&name), "{name}");
        }
    }
}
