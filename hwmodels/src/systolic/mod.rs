//! Systolic-array accelerators (TPU-like, SCALE-Sim-like): a matrix engine of `rows × cols` MACs
//! with an os/ws/is dataflow, per-operand double-buffered SRAMs, DRAM, and a vector unit for
//! everything that is not a matrix product.

pub mod mapping;
pub mod memory;
mod whole_graph;

use vchip_workloads::{Conv2d, DType, Gemm, MoveKind, Op, OpKind, Trace};

use crate::area::{self, Area};
use crate::energy;
use crate::error::HwError;
use crate::model::*;
use crate::schedule::{Level, Schedule, Step};
use crate::spec::{Dataflow, HardwareSpec};
use mapping::{map_gemm, pipelined_cycles, scalesim_out_dim, GemmDims};
use memory::{dram_traffic, BufferBytes, WordBytes};
use whole_graph::{Extra, Io};

pub const LEVEL_SRAM: &str = "sram";
pub const LEVEL_DRAM: &str = "dram";
/// The off-chip level of a chip without memory of its own (`dram.host_link: true`).
pub const LEVEL_HOST_LINK: &str = "host-link";

pub struct SystolicModel {
    spec: HardwareSpec,
    vector: crate::spec::VectorSpec,
    buffer_specs: crate::spec::Buffers,
    rows: u64,
    cols: u64,
    dataflow: Dataflow,
    buffers: BufferBytes,
    dram_bytes_per_cycle: f64,
    /// pJ per byte: (read, write) per buffer.
    ifmap_pj: (f64, f64),
    filter_pj: (f64, f64),
    ofmap_pj: (f64, f64),
    /// SRAM bandwidth limits in bytes per cycle: per operand, or one limit for a shared buffer.
    sram_bw: SramBandwidth,
    node_scale: f64,
    static_pj_per_cycle: f64,
    dram_pj_per_bit: f64,
    /// Name of the off-chip level: DRAM, or the host link of a chip without memory.
    offchip: LevelName,
    /// `LEVEL_SRAM`, shared by every step's traffic rows.
    sram: LevelName,
    /// Costs of matrix steps already computed, by everything they depend on: a NAS search
    /// queries thousands of subnets whose layers repeat a few hundred GEMM shapes.
    matrix_memo: std::sync::Mutex<MatrixMemo>,
}

/// Everything `cost_matrix` reads: the GEMMs with their repeats, the operand widths, where the
/// operands live, the fused epilogue, the compute dtype, the compatibility mode and the
/// attention softmax's work.
#[derive(Clone, PartialEq, Eq, Hash)]
struct MatrixKey {
    gemms: smallvec::SmallVec<[(GemmDims, u64); 2]>,
    bits: [u64; 3],
    io: (bool, Option<u64>, bool, bool, bool),
    extra: [u64; 6],
    dtype: vchip_workloads::DType,
    compat: Compat,
    softmax_flops: u64,
}

type MatrixMemo = std::collections::HashMap<MatrixKey, OpCost, foldhash::fast::FixedState>;

/// Entries kept before the memo starts over (a few MB; a sweep's distinct shapes fit many times).
const MATRIX_MEMO_ENTRIES: usize = 16_384;

enum SramBandwidth {
    PerOperand([Option<f64>; 3]),
    Shared(Option<f64>),
}

impl SystolicModel {
    pub fn new(spec: HardwareSpec) -> Result<Self, HwError> {
        let sys = spec.systolic.clone().ok_or_else(|| HwError::Invalid {
            file: spec.name.clone(),
            key: "systolic".into(),
            msg: "missing the `systolic:` section".into(),
        })?;
        let node_scale = energy::node_scale(spec.node_nm(), spec.voltage_v.map(|v| v.0));
        let missing_section = |key: &str| HwError::Invalid {
            file: spec.name.clone(),
            key: key.into(),
            msg: format!("`kind: systolic` needs a `{key}:` section"),
        };
        let buffer_specs = spec
            .buffers
            .clone()
            .ok_or_else(|| missing_section("buffers"))?;
        let vector = spec
            .vector
            .clone()
            .ok_or_else(|| missing_section("vector"))?;
        let dram = spec.dram_or_err()?.clone();
        let dram_pj_per_bit = dram
            .energy_pj_per_bit
            .ok_or_else(|| missing_section("dram.energy_pj_per_bit"))?
            .0;
        let bufs = &buffer_specs;
        let missing = || HwError::Invalid {
            file: spec.name.clone(),
            key: "buffers".into(),
            msg: "give either all of `ifmap`, `filter` and `ofmap`, or one `shared` buffer".into(),
        };
        // A shared buffer is split equally between the three operands.
        let (share, operand_specs) = match (&bufs.shared, &bufs.ifmap, &bufs.filter, &bufs.ofmap) {
            (Some(sh), ..) => (3, [sh, sh, sh]),
            (None, Some(i), Some(f), Some(o)) => (1, [i, f, o]),
            _ => return Err(missing()),
        };
        let half = |b: &crate::spec::BufferSpec| {
            let cap = b.capacity_bytes() / share;
            if bufs.double_buffered {
                cap / 2
            } else {
                cap
            }
        };
        let pj = |b: &crate::spec::BufferSpec| {
            let bank = b.capacity_bytes() / b.banks.map_or(1, |n| n.0).max(1);
            let default = energy::sram_pj_per_byte_45nm(bank) * node_scale;
            (
                b.read_pj_per_byte.map_or(default, |v| v.0),
                b.write_pj_per_byte.map_or(default, |v| v.0),
            )
        };
        let bw = |b: &crate::spec::BufferSpec| b.bytes_per_cycle.map(|v| v.0);
        let sram_bw = match &bufs.shared {
            Some(sh) => SramBandwidth::Shared(bw(sh)),
            None => SramBandwidth::PerOperand(operand_specs.map(bw)),
        };
        let [ifmap_spec, filter_spec, ofmap_spec] = operand_specs;
        let static_pj_per_cycle = spec.energy.static_power_w.0 / spec.clock_hz() * 1e12;
        Ok(SystolicModel {
            rows: sys.rows.0,
            cols: sys.cols.0,
            dataflow: sys.dataflow,
            buffers: BufferBytes {
                ifmap: half(ifmap_spec),
                filter: half(filter_spec),
                ofmap: half(ofmap_spec),
            },
            dram_bytes_per_cycle: spec.dram_bytes_per_cycle(),
            ifmap_pj: pj(ifmap_spec),
            filter_pj: pj(filter_spec),
            ofmap_pj: pj(ofmap_spec),
            sram_bw,
            vector,
            buffer_specs: buffer_specs.clone(),
            dram_pj_per_bit,
            node_scale,
            static_pj_per_cycle,
            offchip: LevelName::of(if dram.host_link {
                LEVEL_HOST_LINK
            } else {
                LEVEL_DRAM
            }),
            sram: LevelName::of(LEVEL_SRAM),
            matrix_memo: Default::default(),
            spec,
        })
    }

    fn mac_pj(&self, d: DType) -> f64 {
        self.spec
            .energy
            .mac_pj
            .iter()
            .find(|(k, _)| DType::parse(k) == Some(d))
            .map_or_else(|| energy::mac_pj_45nm(d) * self.node_scale, |(_, v)| v.0)
    }

    fn vector_pj(&self, d: DType) -> f64 {
        self.vector
            .energy_pj_per_op
            .map_or_else(|| self.mac_pj(d), |v| v.0)
    }

    fn dram_cycles(&self, bytes: u64) -> u64 {
        (bytes as f64 / self.dram_bytes_per_cycle)
            .ceil()
            .min(u64::MAX as f64) as u64
    }

    /// Cycles the slowest SRAM needs for the given per-operand byte counts, and its name.
    fn sram_cycles(&self, bytes: &[f64; 3]) -> (u64, &'static str) {
        let cycles = |b: f64, bw: Option<f64>| {
            bw.map_or(0, |bw| (b / bw).ceil().min(u64::MAX as f64) as u64)
        };
        match &self.sram_bw {
            SramBandwidth::Shared(bw) => (cycles(bytes.iter().sum(), *bw), "shared_sram"),
            SramBandwidth::PerOperand(bws) => {
                let names = ["ifmap_sram", "filter_sram", "ofmap_sram"];
                (0..3)
                    .map(|i| (cycles(bytes[i], bws[i]), names[i]))
                    .max_by_key(|x| x.0)
                    .unwrap_or((0, "sram"))
            }
        }
    }

    /// The GEMMs an op maps to, `(dims, repeats)`, under the chosen conventions.
    fn gemms(&self, op: &Op, compat: Compat) -> smallvec::SmallVec<[(GemmDims, u64); 2]> {
        match (&op.kind, compat) {
            (OpKind::Conv2d(c), Compat::Scalesim) => {
                let Conv2d {
                    batch,
                    c_in,
                    c_out,
                    groups,
                    ..
                } = *c;
                let eff = |k: u64, d: u64| d * (k - 1) + 1;
                let e = scalesim_out_dim(c.h_in + 2 * c.pad_h, eff(c.kh, c.dil_h), c.stride_h);
                let f = scalesim_out_dim(c.w_in + 2 * c.pad_w, eff(c.kw, c.dil_w), c.stride_w);
                smallvec::smallvec![(
                    GemmDims {
                        m: batch * e * f,
                        n: c_out / groups,
                        k: c.kh * c.kw * (c_in / groups),
                    },
                    groups,
                )]
            }
            (kind, _) => kind
                .gemms()
                .into_iter()
                .map(|(Gemm { m, n, k, .. }, reps)| (GemmDims { m, n, k }, reps))
                .collect(),
        }
    }

    /// A matrix op. `io` says which operands are already on chip (whole-graph schedules; all off
    /// chip layer by layer) and `extra` adds a fused step's epilogue work, which runs in the
    /// output path while the array computes.
    fn cost_matrix(
        &self,
        trace: &Trace,
        op: &Op,
        opts: &CostOptions,
        io: &Io,
        extra: &Extra,
    ) -> OpCost {
        let compat = opts.compat;
        let bits = |t: Option<&vchip_workloads::TensorId>| t.map(|&t| trace.tensor(t).dtype.bits());
        let a_bits = bits(op.inputs.first()).unwrap_or(8);
        let key = MatrixKey {
            gemms: self.gemms(op, compat),
            bits: [
                a_bits,
                bits(op.weights.first().or(op.inputs.get(1))).unwrap_or(a_bits),
                bits(op.outputs.first()).unwrap_or(8),
            ],
            io: (
                io.a_on_chip,
                io.a_stored_bytes,
                io.b_on_chip,
                io.c_on_chip,
                io.pipelined_folds,
            ),
            extra: [
                extra.vector_flops,
                extra.epilogue_cycles,
                extra.dram_read,
                extra.dram_write,
                extra.sram_read,
                extra.sram_write,
            ],
            dtype: op.dtype,
            compat,
            softmax_flops: softmax_flops(op),
        };
        // A poisoned lock only means another thread panicked mid-insert: recompute.
        if let Some(hit) = self
            .matrix_memo
            .lock()
            .ok()
            .and_then(|m| m.get(&key).cloned())
        {
            return hit;
        }
        let cost = self.cost_matrix_uncached(op, &key, io, extra);
        if let Ok(mut memo) = self.matrix_memo.lock() {
            if memo.len() >= MATRIX_MEMO_ENTRIES {
                memo.clear();
            }
            memo.insert(key, cost.clone());
        }
        cost
    }

    /// [`Self::cost_matrix`] computed: `key` carries the GEMMs, operand widths and mode.
    fn cost_matrix_uncached(&self, op: &Op, key: &MatrixKey, io: &Io, extra: &Extra) -> OpCost {
        let compat = key.compat;
        let word = |bits: u64| bits as f64 / 8.0;
        let [a_bytes, b_bytes, c_bytes] = key.bits.map(word);
        let words = WordBytes {
            a: a_bytes,
            b: b_bytes,
            c: c_bytes,
        };
        let mut cost = OpCost::zero();
        cost.engine = Engine::Matrix;
        let mut array = ArrayDetail::default();
        let (mut dram_rd, mut dram_wr, mut prologue) = (extra.dram_read, extra.dram_write, 0u64);
        let mut weighted_map = 0.0;
        let mut weighted_util = 0.0;
        let mut sram_pj = 0.0;
        // Bytes each buffer moves (array side plus DRAM fills and drains), for bandwidth limits.
        let mut sram_bytes = [0.0f64; 3];
        for &(g, reps) in &key.gemms {
            let m = map_gemm(g, self.rows, self.cols, self.dataflow);
            let cycles = match compat {
                // SCALE-Sim reports the 0-based index of the last cycle.
                Compat::Scalesim => m.cycles.saturating_sub(1),
                Compat::Native if io.pipelined_folds => {
                    pipelined_cycles(&m, self.rows, self.cols, self.dataflow)
                }
                Compat::Native => m.cycles,
            };
            let ofmap_writes = match compat {
                Compat::Scalesim => m.ofmap_writes_scalesim,
                Compat::Native => m.ofmap_writes,
            };
            cost.compute_cycles = cost
                .compute_cycles
                .saturating_add(cycles.saturating_mul(reps));
            array.folds = array.folds.saturating_add(m.folds.saturating_mul(reps));
            let macs =
                g.m.saturating_mul(g.n)
                    .saturating_mul(g.k)
                    .saturating_mul(reps);
            cost.mapped_macs = cost.mapped_macs.saturating_add(macs);
            weighted_map += m.mapping_efficiency * (m.folds * reps) as f64;
            weighted_util += m.compute_utilization * (m.folds * reps) as f64;
            let s = OperandAccesses {
                ifmap_reads: m.ifmap_reads.saturating_mul(reps),
                filter_reads: m.filter_reads.saturating_mul(reps),
                ofmap_writes: ofmap_writes.saturating_mul(reps),
            };
            array.sram.ifmap_reads = array.sram.ifmap_reads.saturating_add(s.ifmap_reads);
            array.sram.filter_reads = array.sram.filter_reads.saturating_add(s.filter_reads);
            array.sram.ofmap_writes = array.sram.ofmap_writes.saturating_add(s.ofmap_writes);
            let mut t = dram_traffic(
                g,
                &m,
                self.dataflow,
                self.rows,
                self.cols,
                self.buffers,
                words,
                // The stored input, unless the array reads less of it (a strided 1x1
                // convolution skips pixels: its M×K matrix is smaller than the tensor).
                io.a_stored_bytes.map(|b| {
                    b.div_ceil(reps.max(1))
                        .min((g.m.saturating_mul(g.k) as f64 * a_bytes).ceil() as u64)
                }),
            );
            if io.a_on_chip {
                t.ifmap_read = 0;
            }
            if io.b_on_chip {
                t.filter_read = 0;
            }
            if io.c_on_chip {
                // The final results stay in the buffer; spilled partial sums still round-trip.
                let c = (g.m.saturating_mul(g.n) as f64 * c_bytes).ceil() as u64;
                t.ofmap_write = t.ofmap_write.saturating_sub(c);
            }
            dram_rd = dram_rd.saturating_add(t.reads().saturating_mul(reps));
            dram_wr = dram_wr.saturating_add(t.writes().saturating_mul(reps));
            prologue = prologue.max(t.prologue);
            let r = reps as f64;
            sram_bytes[0] += s.ifmap_reads as f64 * a_bytes + r * t.ifmap_read as f64;
            sram_bytes[1] += s.filter_reads as f64 * b_bytes + r * t.filter_read as f64;
            sram_bytes[2] +=
                s.ofmap_writes as f64 * c_bytes + r * (t.ofmap_write + t.ofmap_read) as f64;
            // Array-side accesses, then DRAM fills written into and drains read out of the buffers.
            sram_pj += s.ifmap_reads as f64 * a_bytes * self.ifmap_pj.0
                + s.filter_reads as f64 * b_bytes * self.filter_pj.0
                + s.ofmap_writes as f64 * c_bytes * self.ofmap_pj.1
                + reps as f64
                    * (t.ifmap_read as f64 * self.ifmap_pj.1
                        + t.filter_read as f64 * self.filter_pj.1
                        + t.ofmap_read as f64 * self.ofmap_pj.1
                        + t.ofmap_write as f64 * self.ofmap_pj.0);
        }
        if array.folds > 0 {
            array.mapping_efficiency = weighted_map / array.folds as f64;
            array.compute_utilization = weighted_util / array.folds as f64;
        }
        let dram_bytes = dram_rd.saturating_add(dram_wr);
        let dram_cycles = self.dram_cycles(dram_bytes);
        cost.memory_cycles = dram_cycles;
        sram_bytes[0] += extra.sram_read as f64;
        sram_bytes[2] += extra.sram_write as f64;
        let (sram_cycles, sram_level) = self.sram_cycles(&sram_bytes);
        // Fused epilogue work runs on the vector unit in the output path, beside the array.
        let epilogue_cycles = extra.epilogue_cycles;
        if compat == Compat::Native {
            let total = cost
                .compute_cycles
                .max(epilogue_cycles)
                .max(dram_cycles)
                .max(sram_cycles)
                .saturating_add(self.dram_cycles(prologue));
            cost.stall_cycles = total - cost.compute_cycles.max(epilogue_cycles);
            cost.compute_cycles = cost.compute_cycles.max(epilogue_cycles);
        }
        // Softmax inside attention runs on the vector unit after the products.
        let vec_flops = key.softmax_flops;
        let vec_cycles = vec_flops.div_ceil(self.vector.lanes.0);
        cost.compute_cycles = cost.compute_cycles.saturating_add(vec_cycles);
        cost.cycles = cost.compute_cycles.saturating_add(cost.stall_cycles);
        cost.bound = if compat == Compat::Scalesim
            || (dram_cycles <= cost.compute_cycles && sram_cycles <= cost.compute_cycles)
        {
            Bound::Compute
        } else if dram_cycles >= sram_cycles {
            Bound::Memory(self.offchip)
        } else {
            Bound::Memory(LevelName::of(sram_level))
        };
        let pes = (self.rows * self.cols) as f64;
        if cost.cycles > 0 {
            cost.utilization = cost.mapped_macs as f64 / (cost.cycles as f64 * pes);
        }
        let sram_rd = ((array.sram.ifmap_reads as f64 * a_bytes
            + array.sram.filter_reads as f64 * b_bytes) as u64)
            .saturating_add(extra.sram_read);
        let sram_wr =
            ((array.sram.ofmap_writes as f64 * c_bytes) as u64).saturating_add(extra.sram_write);
        cost.array = Some(array);
        cost.traffic = smallvec::smallvec![
            LevelTraffic {
                level: self.sram,
                read_bytes: sram_rd,
                write_bytes: sram_wr,
            },
            LevelTraffic {
                level: self.offchip,
                read_bytes: dram_rd,
                write_bytes: dram_wr,
            },
        ];
        sram_pj +=
            extra.sram_read as f64 * self.ifmap_pj.0 + extra.sram_write as f64 * self.ifmap_pj.1;
        cost.energy = Energy {
            mac_pj: cost.mapped_macs as f64 * self.mac_pj(op.dtype),
            vector_pj: (vec_flops.saturating_add(extra.vector_flops)) as f64
                * self.vector_pj(op.dtype),
            sram_pj,
            dram_pj: dram_bytes as f64 * 8.0 * self.dram_pj_per_bit,
            static_pj: cost.cycles as f64 * self.static_pj_per_cycle,
        };
        cost
    }

    /// Element-wise, pooling, normalization, softmax, embedding and data movement: the vector unit
    /// computes while operands stream from and to DRAM (layer-by-layer execution).
    fn cost_vector(&self, trace: &Trace, op: &Op) -> OpCost {
        if let OpKind::DataMovement {
            kind: MoveKind::Reshape,
            ..
        } = op.kind
        {
            return OpCost::zero();
        }
        // Layer by layer: every operand comes from, and the result goes to, off-chip memory.
        let extra = Extra {
            vector_flops: op.flops,
            dram_read: trace
                .op_activation_bytes_read(op)
                .saturating_add(weight_bytes_read(trace, op, 0, |_| false)),
            dram_write: trace.op_bytes_written(op),
            ..Extra::default()
        };
        self.cost_vector_step(op, &extra)
    }
}

/// Bytes of `op`'s parameters after the first `skip` read from off chip (those `cached` does not
/// hold). A gather reads only the rows it selects, not the whole table.
fn weight_bytes_read(
    trace: &Trace,
    op: &Op,
    skip: usize,
    cached: impl Fn(vchip_workloads::TensorId) -> bool,
) -> u64 {
    match op.kind {
        OpKind::Embedding { rows, dim } => match op.weights.first() {
            Some(&w) if cached(w) => 0,
            first => {
                let bits = first.map_or(16, |&w| trace.tensor(w).dtype.bits());
                rows.saturating_mul(dim).saturating_mul(bits).div_ceil(8)
            }
        },
        _ => op
            .weights
            .iter()
            .skip(skip)
            .filter(|&&w| !cached(w))
            .map(|&w| trace.tensor(w).bytes())
            .fold(0, u64::saturating_add),
    }
}

/// The softmax work inside an attention op, which runs on the vector unit after the products.
fn softmax_flops(op: &Op) -> u64 {
    match op.kind {
        OpKind::Attention {
            batch,
            heads,
            q_len,
            kv_len,
            ..
        } => batch
            .saturating_mul(heads)
            .saturating_mul(q_len)
            .saturating_mul(kv_len)
            .saturating_mul(5),
        _ => 0,
    }
}

impl HardwareModel for SystolicModel {
    fn spec(&self) -> &HardwareSpec {
        &self.spec
    }

    fn cost_op(&self, trace: &Trace, op: &Op, opts: &CostOptions) -> Result<OpCost, HwError> {
        let mut c = match op.kind {
            OpKind::Conv2d(_) | OpKind::MatMul(_) | OpKind::Attention { .. } => {
                self.cost_matrix(trace, op, opts, &Io::default(), &Extra::default())
            }
            _ => self.cost_vector(trace, op),
        };
        // Every op of an array chip has the array's columns (zeros off the array).
        c.array.get_or_insert_with(ArrayDetail::default);
        Ok(c)
    }

    fn peak_macs_per_cycle(&self) -> u64 {
        self.rows * self.cols
    }

    fn levels(&self) -> Vec<Level> {
        self.declared_levels()
    }

    fn schedule(
        &self,
        g: &vchip_workloads::graph::Graph,
        opts: &CostOptions,
    ) -> Result<Schedule, HwError> {
        Ok(self.whole_graph_schedule(g, opts))
    }

    fn cost_step(
        &self,
        g: &vchip_workloads::graph::Graph,
        s: &Schedule,
        step: &Step,
        opts: &CostOptions,
    ) -> Result<OpCost, HwError> {
        if !opts.whole_graph() {
            return cost_in_sequence(self, g, step, opts);
        }
        let mut c = self.cost_step_native(g, s, step, opts);
        c.array.get_or_insert_with(ArrayDetail::default);
        Ok(c)
    }

    /// The common figures, then the per-access energies the cost model charges (pJ; SRAM per byte
    /// from each buffer's capacity unless the YAML sets it, node-scaled).
    fn derived(&self) -> Vec<(String, f64)> {
        let mut v = crate::model::derived_common(self);
        let dtype = self
            .spec
            .precision
            .as_deref()
            .and_then(|p| vchip_workloads::precision::PrecisionPolicy::parse(p).ok())
            .map_or(DType::Int8, |p| {
                p.default.activations.max(p.default.weights)
            });
        v.push((
            format!("energy_pj.mac_{}", dtype.name()),
            self.mac_pj(dtype),
        ));
        v.push((
            format!("energy_pj.vector_op_{}", dtype.name()),
            self.vector_pj(dtype),
        ));
        for (name, (read, write)) in [
            ("ifmap", self.ifmap_pj),
            ("filter", self.filter_pj),
            ("ofmap", self.ofmap_pj),
        ] {
            v.push((format!("energy_pj.{name}_read_per_byte"), read));
            v.push((format!("energy_pj.{name}_write_per_byte"), write));
        }
        v.push((
            format!("energy_pj.{}_per_byte", self.offchip),
            8.0 * self.dram_pj_per_bit,
        ));
        v.push((
            "energy_pj.static_per_cycle".into(),
            self.static_pj_per_cycle,
        ));
        // The interface the area estimate assumed, and what the off-chip memory draws streaming at
        // full bandwidth (the access energy per bit covers the DRAM and its I/O).
        let dram = self.spec.dram.as_ref().filter(|d| !d.host_link);
        if let Some((d, m)) = dram.and_then(|d| {
            Some((
                d,
                area::memory_interface(&d.technology, d.bandwidth_gb_s.0)?,
            ))
        }) {
            v.push(("memory_interface.data_pins".into(), m.pins));
            v.push(("memory_interface.gbit_per_pin".into(), m.gbit_per_pin));
            v.push((
                "memory_interface.dram_power_at_full_bandwidth_w".into(),
                d.bandwidth_gb_s.0 * 8.0 * self.dram_pj_per_bit * 1e-3,
            ));
        }
        v
    }

    fn area(&self) -> Area {
        let s = &self.spec;
        let node = area::node_area_scale(s.node_nm());
        let dtype = s
            .precision
            .as_deref()
            .and_then(|p| vchip_workloads::precision::PrecisionPolicy::parse(p).ok())
            .map_or(DType::Int8, |p| {
                p.default.activations.max(p.default.weights)
            });
        let pe_mm2 = area::PE_INT8_UM2_28NM * area::pe_area_ratio(dtype) * node * 1e-6;
        let b = &self.buffer_specs;
        // Port-equivalent KiB: a p-ported array costs p² of a single-ported one.
        let sram_kib: f64 = [&b.ifmap, &b.filter, &b.ofmap, &b.shared]
            .iter()
            .filter_map(|x| x.as_ref())
            .map(|x| x.capacity_kib.0 * area::port_area_factor(x.ports.map_or(1, |p| p.0)))
            .sum();
        let over = |k: &str| s.area_mm2.get(k).map(|v| v.0);
        let compute_mm2 = over("compute").unwrap_or((self.rows * self.cols) as f64 * pe_mm2);
        let sram_mm2 =
            over("sram").unwrap_or(sram_kib / 1024.0 * area::SRAM_MM2_PER_MIB_28NM * node);
        // A vector lane is costed like one PE of the same dtype.
        let vector_mm2 = over("vector").unwrap_or(self.vector.lanes.0 as f64 * pe_mm2);
        let memory_interface_mm2 = over("memory_interface").unwrap_or_else(|| {
            s.dram
                .as_ref()
                .filter(|d| !d.host_link)
                .and_then(|d| area::memory_interface(&d.technology, d.bandwidth_gb_s.0))
                .map_or(0.0, |m| m.mm2)
        });
        let parts = compute_mm2 + sram_mm2 + vector_mm2 + memory_interface_mm2;
        // A die size given whole is the total, whatever the components leave the rest of it; a
        // given rest of the die is added to the components (and stays as they grow).
        let total_mm2 = match (over("chip"), over("other")) {
            (Some(chip), _) => chip.max(parts),
            (None, Some(other)) => parts + other,
            (None, None) => parts,
        };
        Area {
            compute_mm2,
            sram_mm2,
            vector_mm2,
            memory_interface_mm2,
            other_mm2: total_mm2 - parts,
            total_mm2,
        }
    }
}

#[cfg(test)]
mod buffer_tests {
    use crate::{build_model, load_hardware};

    #[test]
    fn ports_grow_buffer_area_and_banks_cut_access_energy() {
        let base = load_hardware("systolic").unwrap();
        let derived = |spec: &crate::HardwareSpec, key: &str| -> f64 {
            build_model(spec.clone())
                .unwrap()
                .derived()
                .into_iter()
                .find(|(k, _)| k == key)
                .unwrap()
                .1
        };
        let mut dual = base.clone();
        let ifmap = dual.buffers.as_mut().unwrap().ifmap.as_mut().unwrap();
        ifmap.ports = Some(crate::spec::Count(2));
        let sram = |s: &crate::HardwareSpec| build_model(s.clone()).unwrap().area().sram_mm2;
        // The template's ifmap buffer is 1 MiB of its 2.5 MiB: dual-porting it adds 3 MiB-equivalents.
        let per_mib = sram(&base) / 2.5;
        assert!((sram(&dual) - sram(&base) - 3.0 * per_mib).abs() < 1e-9);
        let mut banked = base.clone();
        let ifmap = banked.buffers.as_mut().unwrap().ifmap.as_mut().unwrap();
        ifmap.banks = Some(crate::spec::Count(4));
        let key = "energy_pj.ifmap_read_per_byte";
        // Horowitz's fit goes with sqrt(capacity): a quarter-size bank costs half per access.
        assert!((derived(&banked, key) / derived(&base, key) - 0.5).abs() < 1e-9);
    }
}
