//! The host CPU as a hardware kind (`kind: cpu`): a roofline with a size-dependent GEMM efficiency,
//! bandwidth per cache level, and fixed per-kernel overheads.
//!
//! Its parameters come from the OS (cores, SIMD, caches: `/proc/cpuinfo`, sysfs) and from
//! microbenchmarks and a small calibration fit run by `vchip validate --device cpu`; no kernel's
//! measured time is looked up. Prediction for an op on `threads` threads:
//! - GEMM-class work (matmul, convolution lowered to im2col + GEMM): `flops / (gemm_gflops ·
//!   threads · g / (g + gemm_half_size))`, `g` the smaller of M and N, plus the im2col gather;
//!   matrix-vector products run at the reduction rate; depthwise convolutions at the stencil rate;
//! - everything else: per-element costs by class (simple, transcendental, reduction) / threads;
//! - memory: bytes moved / bandwidth of the smallest level holding the working set (DRAM: the
//!   all-core figure when several threads run);
//! - time = max(compute, memory) + overhead (+ the parallel overhead when threads > 1).

use serde::{Deserialize, Serialize};
use vchip_workloads::{Op, OpKind, Trace};

use crate::area::Area;
use crate::error::HwError;
use crate::model::*;
use crate::spec::{Count, HardwareSpec, NonNegative, Positive};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CpuSpec {
    #[serde(default)]
    pub model: String,
    pub cores: Count,
    /// Threads a kernel uses.
    pub threads: Count,
    pub simd_bits: Count,
    /// L1d, L2 (per core) and L3 (shared) capacities in KiB.
    pub caches_kib: Vec<Positive>,
    /// Single-thread read+write bandwidth from L1, L2, L3 and DRAM, GB/s (calibrated).
    pub bandwidth_gb_s: Vec<Positive>,
    /// DRAM bandwidth with all cores streaming, GB/s (calibrated).
    pub dram_all_cores_gb_s: Positive,
    /// f32 GFLOP/s per core a large GEMM reaches (calibrated).
    pub gemm_gflops: Positive,
    /// GEMM size (smaller of M and N) at which efficiency halves (calibrated).
    pub gemm_half_size: NonNegative,
    /// ns per element of simple vectorised element-wise work (add, ReLU) on one core (calibrated).
    pub simple_ns: Positive,
    /// ns per `exp` (softmax, sigmoid, SiLU) on one core (calibrated).
    pub exp_ns: Positive,
    /// ns per `tanh`/`erf` (GELU) on one core (calibrated).
    pub tanh_ns: Positive,
    /// ns per element of a sequential reduction (row sums, norms, softmax max/sum) (calibrated).
    pub reduce_ns: Positive,
    /// ns per element gathered by im2col before a convolution's GEMM, single-threaded (calibrated).
    pub gather_ns: NonNegative,
    /// ns per MAC of a direct (depthwise) convolution on one core (calibrated).
    pub stencil_ns: Positive,
    /// Fixed cost per kernel, µs (calibrated).
    pub overhead_us: NonNegative,
    /// Extra fixed cost of a multi-threaded kernel, µs (calibrated).
    pub parallel_overhead_us: NonNegative,
}

pub struct CpuModel {
    spec: HardwareSpec,
    cpu: CpuSpec,
}

impl CpuModel {
    pub fn new(spec: HardwareSpec) -> Result<Self, HwError> {
        let cpu = spec.cpu.clone().ok_or_else(|| HwError::Invalid {
            file: spec.name.clone(),
            key: "cpu".into(),
            msg: "`kind: cpu` needs a `cpu:` section".into(),
        })?;
        if cpu.bandwidth_gb_s.len() != cpu.caches_kib.len() + 1 {
            return Err(HwError::Invalid {
                file: spec.name.clone(),
                key: "cpu.bandwidth_gb_s".into(),
                msg: format!(
                    "needs one bandwidth per cache level plus DRAM ({} values)",
                    cpu.caches_kib.len() + 1
                ),
            });
        }
        Ok(CpuModel { spec, cpu })
    }

    pub fn cpu(&self) -> &CpuSpec {
        &self.cpu
    }

    /// Seconds to move `bytes` whose working set is `footprint` bytes.
    fn memory_s(&self, bytes: f64, footprint: f64) -> (f64, String) {
        let t = self.cpu.threads.0 as f64;
        let caches = &self.cpu.caches_kib;
        for (i, c) in caches.iter().enumerate() {
            // Private levels scale with threads; the last level is shared.
            let cap = c.0 * 1024.0 * if i + 1 < caches.len() { t } else { 1.0 };
            if footprint <= cap {
                return (
                    bytes / (self.cpu.bandwidth_gb_s[i].0 * 1e9 * t),
                    format!("l{}", i + 1),
                );
            }
        }
        let bw = if t > 1.0 {
            self.cpu.dram_all_cores_gb_s.0
        } else {
            self.cpu.bandwidth_gb_s[caches.len()].0
        };
        (bytes / (bw * 1e9), "dram".into())
    }

    /// Predicted seconds for an op, with the level that bounds it.
    pub fn predict_s(&self, trace: &Trace, op: &Op) -> (f64, Bound) {
        let t = self.cpu.threads.0 as f64;
        let bytes_r = trace.op_bytes_read(op) as f64;
        let bytes_w = trace.op_bytes_written(op) as f64;
        let footprint = bytes_r + bytes_w;
        let mut extra = 0.0;
        let c = &self.cpu;
        let per = |n: u64, ns: f64| n as f64 * ns * 1e-9 / t;
        let compute = match op.kind {
            OpKind::DataMovement {
                kind: vchip_workloads::MoveKind::Reshape,
                ..
            } => return (0.0, Bound::None),
            OpKind::Conv2d(cv) if cv.groups > 1 => per(op.macs, c.stencil_ns.0),
            OpKind::Conv2d(_) | OpKind::MatMul(_) | OpKind::Attention { .. } => {
                let mut s = 0.0;
                for (g, reps) in op.kind.gemms() {
                    // Packing and edge tiles dominate when any dimension is small.
                    let size = g.m.min(g.n) as f64;
                    let eff = size / (size + c.gemm_half_size.0);
                    let mut gemm = reps as f64 * 2.0 * (g.m * g.n * g.k) as f64
                        / (c.gemm_gflops.0 * 1e9 * t * eff);
                    if g.m == 1 || g.n == 1 {
                        // A matrix-vector product is a chain of dot products: reduction-bound.
                        gemm = gemm.max(per(reps * g.m * g.n * g.k, c.reduce_ns.0));
                    }
                    s += gemm;
                    if let OpKind::Conv2d(cv) = op.kind {
                        if cv.kh * cv.kw > 1 || cv.stride_h > 1 {
                            // im2col gathers the M×K patch matrix on one thread before the GEMM.
                            extra += (g.m * g.k) as f64 * c.gather_ns.0 * 1e-9;
                        }
                    }
                }
                if let OpKind::Attention {
                    batch,
                    heads,
                    q_len,
                    kv_len,
                    ..
                } = op.kind
                {
                    let n = batch * heads * q_len * kv_len;
                    s += per(n, c.exp_ns.0 + 2.0 * c.reduce_ns.0 + c.simple_ns.0);
                }
                s
            }
            OpKind::Elementwise { op: e, elems } => {
                use vchip_workloads::EltOp::*;
                match e {
                    Gelu | Tanh | Erf => per(elems, c.tanh_ns.0),
                    Silu | Sigmoid | Exp => per(elems, c.exp_ns.0),
                    _ => per(elems, c.simple_ns.0),
                }
            }
            OpKind::Softmax { rows, cols } => per(
                rows * cols,
                c.exp_ns.0 + 2.0 * c.reduce_ns.0 + c.simple_ns.0,
            ),
            OpKind::Reduce { elems_in, .. } => per(elems_in, c.reduce_ns.0),
            OpKind::Norm { elems, .. } => per(elems, 2.0 * c.reduce_ns.0 + 2.0 * c.simple_ns.0),
            OpKind::Pool {
                batch,
                channels,
                h_out,
                w_out,
                kh,
                kw,
                ..
            } => per(batch * channels * h_out * w_out * kh * kw, c.simple_ns.0),
            OpKind::Embedding { .. } | OpKind::DataMovement { .. } => 0.0,
        };
        let (mem, level) = self.memory_s(bytes_r + bytes_w, footprint);
        let mut fixed = self.cpu.overhead_us.0 * 1e-6;
        if t > 1.0 {
            fixed += self.cpu.parallel_overhead_us.0 * 1e-6;
        }
        let bound = if compute >= mem {
            Bound::Compute
        } else {
            Bound::Memory(level)
        };
        (compute.max(mem) + extra + fixed, bound)
    }
}

impl HardwareModel for CpuModel {
    fn spec(&self) -> &HardwareSpec {
        &self.spec
    }

    fn cost_op(&self, trace: &Trace, op: &Op, _opts: &CostOptions) -> Result<OpCost, HwError> {
        let (secs, bound) = self.predict_s(trace, op);
        let mut c = OpCost::zero();
        c.engine = if matches!(
            op.kind,
            OpKind::Conv2d(_) | OpKind::MatMul(_) | OpKind::Attention { .. }
        ) {
            Engine::Matrix
        } else {
            Engine::Vector
        };
        c.cycles = (secs * self.spec.clock_hz()).round() as u64;
        c.compute_cycles = c.cycles;
        c.mapped_macs = op.macs;
        c.traffic = vec![LevelTraffic {
            level: "memory".into(),
            read_bytes: trace.op_bytes_read(op),
            write_bytes: trace.op_bytes_written(op),
        }];
        c.bound = bound;
        Ok(c)
    }

    fn peak_macs_per_cycle(&self) -> u64 {
        let per_core = self.cpu.gemm_gflops.0 * 1e9 / 2.0 / self.spec.clock_hz();
        (per_core * self.cpu.threads.0 as f64).round().max(1.0) as u64
    }

    fn memory_levels(&self) -> Vec<String> {
        let mut v: Vec<String> = (1..=self.cpu.caches_kib.len())
            .map(|i| format!("l{i}"))
            .collect();
        v.push("dram".into());
        v
    }

    fn area(&self) -> Area {
        Area::default()
    }
}
