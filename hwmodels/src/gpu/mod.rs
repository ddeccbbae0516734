//! The GPU kind (`kind: gpu`): kernels on the whole-graph schedule. Element-wise work that
//! follows a GEMM rides its epilogue (bias, activation, RoPE, residual add), as inference
//! engines fuse it, and the Q, K and V projections run as one GEMM; each remaining step is one
//! kernel, costed from its shape (`kernels.rs`) plus a GPU-side gap per kernel; with eager
//! launches the GPU also waits for the host whenever a kernel is shorter than a launch, with CUDA
//! graphs only the gap remains. Tensor-parallel all-reduces cross the interconnect as a ring.

pub mod kernels;
pub mod launch;

use vchip_workloads::graph::{is_view, Graph};
use vchip_workloads::{MoveKind, Op, OpKind, Trace};

use crate::area::Area;
use crate::error::HwError;
use crate::model::*;
use crate::plan::fuse::{fuse_epilogues, is_matrix, merge_qkv_projections, MATRIX_EPILOGUES};
use crate::schedule::{materialised, Level, Schedule, Step, StepKind};
use crate::spec::gpu::GpuSpec;
use crate::spec::HardwareSpec;
use kernels::{Gpu, KernelTime};

pub const LEVEL_L2: &str = "l2";
pub const LEVEL_HBM: &str = "hbm";
pub const LEVEL_LINK: &str = "interconnect";

pub struct GpuModel {
    spec: HardwareSpec,
    gpu: GpuSpec,
    hbm_bytes_per_s: f64,
    hbm_capacity: u64,
    clock: f64,
}

/// MACs a kernel executes: a causal FlashAttention skips the masked blocks above the diagonal
/// (on average the cached prefix plus half the new tokens are attended).
fn executed_macs(op: &Op) -> u64 {
    match op.kind {
        OpKind::Attention {
            q_len,
            kv_len,
            causal: true,
            ..
        } if q_len > 1 && kv_len > 0 => {
            let q = q_len.min(kv_len) as f64;
            let seen = (kv_len as f64 - q) + (q + 1.0) / 2.0;
            (op.macs as f64 * seen / kv_len as f64).round() as u64
        }
        _ => op.macs,
    }
}

impl GpuModel {
    pub fn new(spec: HardwareSpec) -> Result<Self, HwError> {
        let gpu = spec.gpu.clone().ok_or_else(|| HwError::Invalid {
            file: spec.name.clone(),
            key: "gpu".into(),
            msg: "`kind: gpu` needs a `gpu:` section".into(),
        })?;
        let dram = spec.dram_or_err()?;
        let hbm_bytes_per_s = dram.bandwidth_gb_s.0 * 1e9;
        let hbm_capacity = (dram.capacity_gib.0 * (1u64 << 30) as f64).min(u64::MAX as f64) as u64;
        let clock = spec.clock_hz();
        Ok(GpuModel {
            spec,
            gpu,
            hbm_bytes_per_s,
            hbm_capacity,
            clock,
        })
    }

    fn kernels(&self) -> Gpu<'_> {
        Gpu {
            g: &self.gpu,
            hbm_bytes_per_s: self.hbm_bytes_per_s,
        }
    }

    /// Peak FLOP/s for an op's compute dtype: tensor cores where the GPU has a path for it, CUDA
    /// cores for f32; anything else is an error naming what the GPU supports.
    fn peak(&self, op: &Op) -> Result<f64, HwError> {
        let name = op.dtype.name();
        if let Some(f) = self.gpu.tensor_flops(name) {
            return Ok(f);
        }
        if name == "f32" {
            return Ok(self.gpu.fp32_tflops.0 * 1e12);
        }
        Err(HwError::Op {
            op: op.name.clone(),
            msg: format!(
                "`{}` has no tensor-core path for {name} (it lists: {}); choose a --precision it supports",
                self.spec.name,
                self.gpu
                    .tensor_tflops
                    .keys()
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        })
    }

    /// One kernel's time and traffic; `hot`: its activation input was just written (in L2).
    fn kernel(
        &self,
        trace: &Trace,
        op: &Op,
    ) -> Result<(KernelTime, Option<&'static str>), HwError> {
        let k = self.kernels();
        let elem = op.dtype.bits() as f64 / 8.0;
        let weight_elem = op
            .weights
            .iter()
            .map(|&w| trace.tensor(w))
            .max_by_key(|t| t.numel())
            .map_or(elem, |t| t.dtype.bits() as f64 / 8.0);
        Ok(match op.kind {
            OpKind::MatMul(g) => {
                let b_elem = if op.weights.is_empty() {
                    elem
                } else {
                    weight_elem
                };
                (
                    k.gemm(
                        g.batch,
                        g.m,
                        g.n,
                        g.k,
                        elem,
                        b_elem,
                        elem,
                        self.peak(op)?,
                        true,
                    ),
                    None,
                )
            }
            OpKind::Conv2d(c) => {
                let cin_g = c.c_in / c.groups.max(1);
                let cout_g = c.c_out / c.groups.max(1);
                if cin_g == 1 && cout_g == 1 {
                    // Depthwise: a CUDA-core stencil, bound by its activations.
                    let bytes = trace
                        .op_activation_bytes_read(op)
                        .saturating_add(trace.op_bytes_written(op));
                    let mut t = k.stream(bytes, true);
                    let compute = 2.0 * op.macs as f64 / (self.gpu.fp32_tflops.0 * 1e12);
                    t.compute_s = compute;
                    t.seconds = t.seconds.max(compute);
                    (t, None)
                } else {
                    // Implicit GEMM: M = output pixels, N = output channels, K = Cin·kh·kw.
                    let m = c.batch * c.h_out * c.w_out;
                    let t = k.gemm(
                        c.groups,
                        m,
                        cout_g,
                        cin_g * c.kh * c.kw,
                        elem,
                        weight_elem,
                        elem,
                        self.peak(op)?,
                        true,
                    );
                    (t, None)
                }
            }
            OpKind::Attention {
                batch,
                heads,
                kv_heads,
                q_len,
                kv_len,
                head_dim,
                causal,
            } => {
                if q_len <= 1 {
                    // The cache as stored (an fp8 cache reads one byte per element whatever the
                    // attention math runs in); Q and O at the op's precision.
                    let kv: u64 = op
                        .inputs
                        .iter()
                        .skip(1)
                        .map(|&t| trace.tensor(t).bytes())
                        .sum();
                    let kv = if kv > 0 {
                        kv
                    } else {
                        (2.0 * (batch * kv_heads * kv_len * head_dim) as f64 * elem) as u64
                    };
                    let qo = 2 * batch * heads * head_dim;
                    (k.decode_attention(kv, (qo as f64 * elem) as u64), None)
                } else {
                    (
                        k.flash_attention(
                            batch,
                            heads,
                            kv_heads,
                            q_len,
                            kv_len,
                            head_dim,
                            causal,
                            elem,
                            self.peak(op)?,
                        ),
                        None,
                    )
                }
            }
            OpKind::DataMovement {
                kind: MoveKind::AllReduce { group },
                ..
            } => {
                if group > self.gpu.count.0 {
                    return Err(HwError::Op {
                        op: op.name.clone(),
                        msg: format!(
                            "tensor parallelism over {group} GPUs, but `{}` has {} (gpu.count); use a node preset such as dgx-a100 or dgx-h100, or a smaller --tp",
                            self.spec.name, self.gpu.count.0
                        ),
                    });
                }
                let bytes = trace.op_bytes_written(op);
                (self.all_reduce(bytes, group), Some(LEVEL_LINK))
            }
            OpKind::Embedding { .. } => {
                // A gather reads the rows it looks up, not the whole table.
                let bytes = trace
                    .op_activation_bytes_read(op)
                    .saturating_add(trace.op_bytes_written(op).saturating_mul(2));
                (k.stream(bytes, false), None)
            }
            _ => {
                let bytes = trace
                    .op_activation_bytes_read(op)
                    .saturating_add(trace.op_weight_bytes(op))
                    .saturating_add(trace.op_bytes_written(op));
                (k.stream(bytes, true), None)
            }
        })
    }

    /// Horizontally fused projections (Q, K, V): one GEMM over the concatenated weights.
    fn sibling_gemm(&self, trace: &Trace, gemms: &[&Op]) -> Result<KernelTime, HwError> {
        let mut n = 0u64;
        let (mut weight_bytes, mut weight_elems) = (0u64, 0u64);
        let (mut batch, mut m, mut k) = (1, 0, 0);
        for op in gemms {
            let OpKind::MatMul(g) = op.kind else {
                return Err(HwError::Op {
                    op: op.name.clone(),
                    msg: "only matrix products fuse side by side".into(),
                });
            };
            (batch, m, k) = (g.batch, g.m, g.k);
            n = n.saturating_add(g.n);
            for &w in &op.weights {
                let w = trace.tensor(w);
                if w.shape.len() == 2 {
                    weight_bytes = weight_bytes.saturating_add(w.bytes());
                    weight_elems = weight_elems.saturating_add(w.numel());
                }
            }
        }
        let first = gemms[0];
        let elem = first.dtype.bits() as f64 / 8.0;
        let b_elem = if weight_elems > 0 {
            weight_bytes as f64 / weight_elems as f64
        } else {
            elem
        };
        Ok(self
            .kernels()
            .gemm(batch, m, n, k, elem, b_elem, elem, self.peak(first)?, true))
    }

    /// Ring all-reduce over `group` GPUs on the node's interconnect.
    fn all_reduce(&self, bytes: u64, group: u64) -> KernelTime {
        KernelTime {
            seconds: self
                .gpu
                .interconnect
                .as_ref()
                .map_or(0.0, |l| l.ring_all_reduce_s(bytes, group)),
            compute_s: 0.0,
            hbm_bytes: 0,
            l2_bytes: 0,
        }
    }

    fn cost_kernel_ops(&self, trace: &Trace, ops: &[&Op]) -> Result<OpCost, HwError> {
        let Some(anchor) = ops.first() else {
            return Ok(OpCost::zero());
        };
        if is_view(anchor) {
            return Ok(OpCost::zero());
        }
        let matrices: Vec<&Op> = ops.iter().copied().filter(|o| is_matrix(o)).collect();
        let (mut t, link) = if matrices.len() > 1 {
            (self.sibling_gemm(trace, &matrices)?, None)
        } else {
            self.kernel(trace, anchor)?
        };
        // Fused epilogue ops read their other operands (a residual) on the way out; what an
        // earlier op of the step produced never left the SM.
        let made_here = |t: &vchip_workloads::TensorId| ops.iter().any(|o| o.outputs.contains(t));
        for op in ops[1..].iter().filter(|o| !is_matrix(o)) {
            let extra: u64 = op
                .inputs
                .iter()
                .filter(|i| !made_here(i))
                .map(|&i| trace.tensor(i).bytes())
                .sum();
            let s = self.kernels().stream(extra, true);
            t.seconds += s.seconds;
            t.hbm_bytes = t.hbm_bytes.saturating_add(s.hbm_bytes);
            t.l2_bytes = t.l2_bytes.saturating_add(s.l2_bytes);
        }
        // Every kernel pays the GPU-side gap (the previous kernel's drain, its own start and
        // pipeline fill) on top of its body. Eager launches overlap with the previous kernel: the
        // GPU waits for the host only when the host's launch takes longer than that.
        let gap = self.gpu.graph_launch_us.0 * 1e-6;
        let on_gpu = t.seconds + gap;
        let (seconds, launch_bound) = if self.gpu.cuda_graphs {
            (on_gpu, gap > t.seconds)
        } else {
            let launch = self.gpu.launch_us.0 * 1e-6;
            (on_gpu.max(launch), launch > on_gpu)
        };
        let cycles = (seconds * self.clock).round() as u64;
        let compute_cycles = ((t.compute_s * self.clock).round() as u64).min(cycles);
        let macs: u64 = ops.iter().map(|o| executed_macs(o)).sum();
        let (hbm_traffic, link_traffic) = if link.is_some() {
            (0, trace.op_bytes_written(anchor))
        } else {
            (t.hbm_bytes, 0)
        };
        let bound = if launch_bound {
            Bound::Memory(LevelName::of(LAUNCH))
        } else if link.is_some() {
            Bound::Memory(LevelName::of(LEVEL_LINK))
        } else if t.compute_s >= t.seconds * 0.999 {
            Bound::Compute
        } else if t.hbm_bytes as f64 / (self.hbm_bytes_per_s * self.gpu.hbm_efficiency.0)
            >= t.l2_bytes as f64 / (self.gpu.l2_gb_s.0 * 1e9)
        {
            Bound::Memory(LevelName::of(LEVEL_HBM))
        } else {
            Bound::Memory(LevelName::of(LEVEL_L2))
        };
        // Of the HBM bytes, the step's results as written (kernel times count both directions):
        // each op's output that is not consumed inside the step (a fused projection has three).
        let hbm_written = ops
            .iter()
            .filter(|o| {
                o.outputs
                    .iter()
                    .all(|t| !ops.iter().any(|c| c.inputs.contains(t)))
            })
            .map(|o| trace.op_bytes_written(o))
            .fold(0u64, u64::saturating_add)
            .min(hbm_traffic);
        let mut traffic: crate::model::Traffic = smallvec::smallvec![
            LevelTraffic {
                level: LevelName::of(LEVEL_L2),
                read_bytes: t.l2_bytes,
                write_bytes: 0,
            },
            LevelTraffic {
                level: LevelName::of(LEVEL_HBM),
                read_bytes: hbm_traffic - hbm_written,
                write_bytes: hbm_written,
            },
        ];
        if link_traffic > 0 {
            traffic.push(LevelTraffic {
                level: LevelName::of(LEVEL_LINK),
                read_bytes: 0,
                write_bytes: link_traffic,
            });
        }
        Ok(OpCost {
            engine: if macs > 0 {
                Engine::Matrix
            } else {
                Engine::Vector
            },
            compute_cycles,
            stall_cycles: cycles - compute_cycles,
            cycles,
            memory_cycles: cycles - compute_cycles,
            mapped_macs: macs,
            // Against the peak of the anchor's own number format.
            utilization: if cycles > 0 {
                let peak = self.peak(anchor).unwrap_or(1.0) / 2.0 / self.clock;
                macs as f64 / (cycles as f64 * peak.max(1.0))
            } else {
                0.0
            },
            array: None,
            traffic,
            energy: Energy::default(),
            bound,
            stage: None,
        })
    }
}

impl HardwareModel for GpuModel {
    fn spec(&self) -> &HardwareSpec {
        &self.spec
    }

    fn cost_op(&self, trace: &Trace, op: &Op, _opts: &CostOptions) -> Result<OpCost, HwError> {
        self.cost_kernel_ops(trace, &[op])
    }

    /// bf16 tensor-core MACs per cycle (the headline peak).
    fn peak_macs_per_cycle(&self) -> u64 {
        let f = self
            .gpu
            .tensor_flops("bf16")
            .unwrap_or(self.gpu.fp32_tflops.0 * 1e12);
        (f / 2.0 / self.clock).round().max(1.0) as u64
    }

    /// The fastest rate any MAC op of `g` runs at (an fp8 graph against the fp8 peak).
    fn peak_macs_per_cycle_for(&self, g: &Graph) -> u64 {
        g.trace
            .ops
            .iter()
            .filter(|o| o.macs > 0)
            .filter_map(|o| self.peak(o).ok())
            .map(|f| (f / 2.0 / self.clock).round() as u64)
            .max()
            .unwrap_or_else(|| self.peak_macs_per_cycle())
    }

    fn levels(&self) -> Vec<Level> {
        let mut v = vec![
            Level {
                name: LEVEL_L2.into(),
                capacity_bytes: Some((self.gpu.l2_mib.0 * 1024.0 * 1024.0) as u64),
                bytes_per_s: self.gpu.l2_gb_s.0 * 1e9,
                on_chip: true,
            },
            Level {
                name: LEVEL_HBM.into(),
                capacity_bytes: Some(self.hbm_capacity),
                bytes_per_s: self.hbm_bytes_per_s,
                on_chip: false,
            },
        ];
        if let Some(l) = &self.gpu.interconnect {
            v.push(Level {
                name: LEVEL_LINK.into(),
                capacity_bytes: None,
                bytes_per_s: l.gb_s.0 * 1e9,
                on_chip: false,
            });
        }
        v
    }

    fn schedule(&self, g: &Graph, opts: &CostOptions) -> Result<Schedule, HwError> {
        refuse_scalesim(&self.spec, opts, "GPUs")?;
        if opts.fusion == Fusion::Off {
            return Ok(Schedule::layer_by_layer(g, &self.levels()));
        }
        let steps = merge_qkv_projections(g, fuse_epilogues(g, &MATRIX_EPILOGUES));
        let mat = materialised(g, &steps);
        // Everything lives in HBM; L2 is a cache, not a home.
        let home = mat.iter().map(|&m| m.then_some(1)).collect();
        Ok(Schedule::with_peaks(g, steps, home, &self.levels(), &[]))
    }

    fn cost_step(
        &self,
        g: &Graph,
        _s: &Schedule,
        step: &Step,
        _opts: &CostOptions,
    ) -> Result<OpCost, HwError> {
        if step.kind == StepKind::View {
            return Ok(OpCost::zero());
        }
        let ops: Vec<&Op> = step.ops.iter().map(|&o| g.op(o)).collect();
        self.cost_kernel_ops(&g.trace, &ops)
    }

    fn area(&self) -> Area {
        Area::default()
    }

    fn models_energy(&self) -> bool {
        false
    }

    fn models_area(&self) -> bool {
        false
    }
}
