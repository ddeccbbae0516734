//! The systolic kind on the whole-graph schedule: epilogues fused into the array's output path,
//! activations kept in the activation buffer while they fit beside what else is live, convolution
//! inputs crossing off-chip memory once (im2col by address generation on chip), and the next
//! fold's stationary tile loading while the current fold computes when buffers are
//! double-buffered. `--fusion off` and `--compat scalesim` keep the layer-by-layer costs.

use vchip_workloads::graph::Graph;
use vchip_workloads::{Op, OpKind, TensorId, TensorRole};

use super::{weight_bytes_read, SystolicModel};
use crate::model::*;
use crate::plan::fuse::{fuse_epilogues, MATRIX_EPILOGUES};
use crate::plan::place::{activation_buffers_over, place_by_capacity};
use crate::schedule::{Level, LevelId, Schedule, Step, StepKind};

/// Which operands of a matrix op are already on chip.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Io {
    /// The activation operand A is in the activation buffer.
    pub a_on_chip: bool,
    /// Bytes of A as stored, where the array sees an expanded matrix (a convolution's input).
    pub a_stored_bytes: Option<u64>,
    /// B is an activation already on chip (attention's K and V, activation products).
    pub b_on_chip: bool,
    /// The result stays on chip (kept in the buffer, or consumed inside the fused step).
    pub c_on_chip: bool,
    /// The next fold's stationary tile shifts in while the current fold streams.
    pub pipelined_folds: bool,
}

/// Work a fused step adds to its anchor: the epilogue's vector operations and the traffic of its
/// other operands (a residual) and results.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Extra {
    pub vector_flops: u64,
    /// Cycles the epilogue occupies the output path: its ops are pipelined stages applied to
    /// each result on its way to the buffer, so the slowest stage sets the pace.
    pub epilogue_cycles: u64,
    pub dram_read: u64,
    pub dram_write: u64,
    pub sram_read: u64,
    pub sram_write: u64,
}

const SRAM: LevelId = 0;
const OFFCHIP: LevelId = 1;

pub(super) use crate::plan::fuse::is_matrix;

impl SystolicModel {
    pub(super) fn declared_levels(&self) -> Vec<Level> {
        let b = &self.buffer_specs;
        let specs = [&b.ifmap, &b.filter, &b.ofmap, &b.shared];
        let capacity: u64 = specs
            .iter()
            .filter_map(|x| x.as_ref())
            .map(|x| x.capacity_bytes())
            .fold(0, u64::saturating_add);
        let clock = self.spec.clock_hz();
        // Unlimited unless every buffer states its port width.
        let bw: Option<f64> = specs
            .iter()
            .filter_map(|x| x.as_ref())
            .map(|x| x.bytes_per_cycle.map(|v| v.0 * clock))
            .sum();
        vec![
            Level {
                name: super::LEVEL_SRAM.into(),
                capacity_bytes: Some(capacity),
                bytes_per_s: bw.unwrap_or(f64::INFINITY),
                on_chip: true,
            },
            Level {
                name: self.offchip.to_string(),
                capacity_bytes: self
                    .spec
                    .dram
                    .as_ref()
                    .map(|d| (d.capacity_gib.0 * (1u64 << 30) as f64).min(u64::MAX as f64) as u64),
                bytes_per_s: self.spec.dram_bytes_per_cycle() * clock,
                on_chip: false,
            },
        ]
    }

    /// Whole bytes of one operand's buffer, or its third of a shared one (the split the
    /// layer-by-layer model uses too): the activation (ifmap) buffer is where activations live
    /// (TPU v1's Unified Buffer), the filter buffer is the parameter cache.
    fn operand_capacity(&self, own: &Option<crate::spec::BufferSpec>) -> u64 {
        match (own, &self.buffer_specs.shared) {
            (Some(b), _) => b.capacity_bytes(),
            (None, Some(s)) => s.capacity_bytes() / 3,
            (None, None) => 0,
        }
    }

    pub(super) fn whole_graph_schedule(&self, g: &Graph, opts: &CostOptions) -> Schedule {
        let levels = self.declared_levels();
        if !opts.whole_graph() {
            return Schedule::layer_by_layer(g, &levels);
        }
        let steps = fuse_epilogues(g, &MATRIX_EPILOGUES);
        let n_t = g.trace.tensors.len();
        // A storage root escapes when any tensor aliasing it is a network output.
        let mut escapes = vec![false; n_t];
        for t in 0..n_t {
            if g.is_output(TensorId(t as u32)) {
                escapes[g.storage[t].0 as usize] = true;
            }
        }
        // Network inputs arrive through off-chip memory, outputs leave through it, and KV caches
        // persist there between decode steps; everything else produced on chip may stay. A block
        // of a larger network keeps its inputs and outputs on chip too, where they fit.
        let (inputs_on_chip, outputs_on_chip) = (
            opts.boundary.inputs_on_chip(),
            opts.boundary.outputs_on_chip(),
        );
        let spans = crate::schedule::step_spans(g, &steps);
        let mat = crate::schedule::materialised(g, &steps);
        let candidates: Vec<(TensorId, crate::plan::arena::Buffer)> =
            activation_buffers_over(g, &spans, &mat)
                .into_iter()
                .filter(|(t, _)| {
                    let i = t.0 as usize;
                    match g.trace.tensors[i].role {
                        TensorRole::Activation if g.producer[i].is_some() => {
                            !escapes[i] || outputs_on_chip
                        }
                        TensorRole::Input => inputs_on_chip,
                        _ => false,
                    }
                })
                .collect();
        let bufs: Vec<_> = candidates.iter().map(|c| c.1).collect();
        let placed = place_by_capacity(
            &bufs,
            &[Some(self.operand_capacity(&self.buffer_specs.ifmap)), None],
            steps.len(),
        );
        let mut home: Vec<Option<LevelId>> = mat.iter().map(|&m| m.then_some(OFFCHIP)).collect();
        for ((t, _), &l) in candidates.iter().zip(&placed.level) {
            if l == 0 {
                home[t.0 as usize] = Some(SRAM);
            }
        }
        let mut cached = 0u64;
        if self.buffer_specs.weight_cache {
            // Parameters in the order ops first read them, while the cache has room.
            let mut room = self.operand_capacity(&self.buffer_specs.filter);
            for &o in &g.order {
                for &w in &g.op(o).weights {
                    let bytes = g.trace.tensor(w).bytes();
                    let i = w.0 as usize;
                    if home[i] == Some(OFFCHIP) && bytes <= room {
                        room -= bytes;
                        cached += bytes;
                        home[i] = Some(SRAM);
                    }
                }
            }
        }
        // The buffer holds the activation arena and, beside it, the cached weights.
        Schedule::with_peaks_over(
            g,
            steps,
            &spans,
            home,
            &levels,
            &[Some(placed.arena[0].saturating_add(cached)), None],
        )
    }

    pub(super) fn cost_step_native(
        &self,
        g: &Graph,
        s: &Schedule,
        step: &Step,
        opts: &CostOptions,
    ) -> OpCost {
        if step.kind == StepKind::View {
            return OpCost::zero();
        }
        // Sets, not scans, for long chains: a fused chain can hold many thousand ops (a 100k-op
        // chain of element-wise ops took seconds with linear lookups); a scan for the usual few.
        let few = step.ops.len() <= 16;
        let members: std::collections::HashSet<_> = if few {
            Default::default()
        } else {
            step.ops.iter().copied().collect()
        };
        let in_step = |t: TensorId| {
            g.producer[t.0 as usize].is_some_and(|p| {
                if few {
                    step.ops.contains(&p)
                } else {
                    members.contains(&p)
                }
            })
        };
        let on_chip = |t: TensorId| s.home_of(g, t) == Some(SRAM);
        let anchor = g.op(step.ops[0]);
        let matrix = is_matrix(anchor);
        let mut extra = Extra::default();
        // Storage roots already counted: scanned while few (most steps read one or two).
        let mut seen_few: smallvec::SmallVec<[TensorId; 8]> = smallvec::SmallVec::new();
        let mut seen_many: std::collections::HashSet<TensorId> = Default::default();
        let mut first_sight = |root: TensorId| {
            if seen_many.is_empty() && seen_few.len() < 8 {
                if seen_few.contains(&root) {
                    return false;
                }
                seen_few.push(root);
                return true;
            }
            if seen_many.is_empty() {
                seen_many.extend(seen_few.iter().copied());
            }
            seen_many.insert(root)
        };
        for (i, &o) in step.ops.iter().enumerate() {
            let op = g.op(o);
            if matrix && i == 0 {
                for t in &op.inputs {
                    first_sight(g.storage[t.0 as usize]);
                }
                // The GEMM model streams the first weight (the matrix); a bias comes beside it.
                let bias = weight_bytes_read(&g.trace, op, 1, on_chip);
                extra.dram_read = extra.dram_read.saturating_add(bias);
                continue;
            }
            extra.vector_flops = extra.vector_flops.saturating_add(op.flops);
            extra.epilogue_cycles = extra
                .epilogue_cycles
                .max(op.flops.div_ceil(self.vector.lanes.0));
            for &t in &op.inputs {
                let root = g.storage[t.0 as usize];
                if in_step(t) || !first_sight(root) {
                    continue;
                }
                let b = g.trace.tensor(t).bytes();
                if on_chip(t) {
                    extra.sram_read = extra.sram_read.saturating_add(b);
                } else {
                    extra.dram_read = extra.dram_read.saturating_add(b);
                }
            }
            let weights = weight_bytes_read(&g.trace, op, 0, on_chip);
            extra.dram_read = extra.dram_read.saturating_add(weights);
            for &t in &op.outputs {
                let b = g.trace.tensor(t).bytes();
                match s.home_of(g, t) {
                    None => {}
                    Some(SRAM) => extra.sram_write = extra.sram_write.saturating_add(b),
                    Some(_) => extra.dram_write = extra.dram_write.saturating_add(b),
                }
            }
        }
        if matrix {
            let io = Io {
                a_on_chip: anchor.inputs.first().is_some_and(|&t| on_chip(t)),
                a_stored_bytes: match anchor.kind {
                    OpKind::Conv2d(_) => anchor.inputs.first().map(|&t| g.trace.tensor(t).bytes()),
                    _ => None,
                },
                b_on_chip: match anchor.weights.first() {
                    Some(&w) => on_chip(w),
                    None => {
                        anchor.inputs.len() > 1 && anchor.inputs[1..].iter().all(|&t| on_chip(t))
                    }
                },
                c_on_chip: anchor
                    .outputs
                    .iter()
                    .all(|&t| s.home_of(g, t) != Some(OFFCHIP)),
                pipelined_folds: self.buffer_specs.double_buffered,
            };
            return self.cost_matrix(&g.trace, anchor, opts, &io, &extra);
        }
        self.cost_vector_step(anchor, &extra)
    }

    /// A step of vector ops: the vector unit computes while operands move between the buffer and
    /// off-chip memory.
    pub(super) fn cost_vector_step(&self, anchor: &Op, e: &Extra) -> OpCost {
        let mut cost = OpCost::zero();
        cost.engine = Engine::Vector;
        cost.compute_cycles = e.vector_flops.div_ceil(self.vector.lanes.0);
        let dram = e.dram_read.saturating_add(e.dram_write);
        let dram_cycles = self.dram_cycles(dram);
        let (sram_cycles, sram_level) =
            self.sram_cycles(&[e.sram_read as f64, 0.0, e.sram_write as f64]);
        cost.memory_cycles = dram_cycles;
        cost.cycles = cost.compute_cycles.max(dram_cycles).max(sram_cycles);
        cost.stall_cycles = cost.cycles - cost.compute_cycles;
        cost.bound = if cost.cycles == cost.compute_cycles {
            Bound::Compute
        } else if dram_cycles >= sram_cycles {
            Bound::Memory(self.offchip)
        } else {
            Bound::Memory(LevelName::of(sram_level))
        };
        if e.sram_read > 0 || e.sram_write > 0 {
            cost.traffic.push(LevelTraffic {
                level: self.sram,
                read_bytes: e.sram_read,
                write_bytes: e.sram_write,
            });
        }
        cost.traffic.push(LevelTraffic {
            level: self.offchip,
            read_bytes: e.dram_read,
            write_bytes: e.dram_write,
        });
        cost.energy = Energy {
            vector_pj: e.vector_flops as f64 * self.vector_pj(anchor.dtype),
            sram_pj: e.sram_read as f64 * self.ifmap_pj.0 + e.sram_write as f64 * self.ifmap_pj.1,
            dram_pj: dram as f64 * 8.0 * self.dram_pj_per_bit,
            static_pj: cost.cycles as f64 * self.static_pj_per_cycle,
            ..Energy::default()
        };
        cost
    }
}
