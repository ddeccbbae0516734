//! The `gpu:` section of the hardware schema (`kind: gpu`): a GPU (or a node of identical GPUs on
//! one interconnect) as the kernel model needs it. HBM is the `dram:` section.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{Count, NonNegative, Positive};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GpuSpec {
    /// Streaming multiprocessors (compute units on AMD).
    pub sms: Count,
    /// Dense tensor-core TFLOP/s (TOP/s for integers) by dtype at the boost clock: `bf16`, `f16`,
    /// `tf32`, `fp8`, `int8`, `int4`. A dtype missing here has no tensor-core path on this GPU.
    pub tensor_tflops: BTreeMap<String, Positive>,
    /// CUDA-core (vector) FP32 TFLOP/s.
    pub fp32_tflops: Positive,
    /// Shared memory per SM, KiB.
    pub smem_kib_per_sm: Positive,
    /// Register file per SM, KiB.
    pub regs_kib_per_sm: Positive,
    /// L2 cache (Infinity Cache on AMD), MiB.
    pub l2_mib: Positive,
    /// L2 bandwidth, GB/s.
    pub l2_gb_s: Positive,
    /// Share of the HBM bandwidth streaming kernels reach (80-85 % in practice).
    pub hbm_efficiency: Positive,
    /// Share of the tensor-core peak the best GEMM main loop sustains on a full tile (the rest is
    /// the pipeline's prologue, address arithmetic and issue limits).
    pub mma_efficiency: Positive,
    /// Host-side launch cost per kernel without CUDA graphs, µs.
    pub launch_us: Positive,
    /// GPU-side cost of every kernel beyond its body, µs: the gap after the previous kernel, its
    /// own start, pipeline fill and drain. Paid under CUDA graphs and eager launches alike (where
    /// a slower host hides it behind `launch_us`). The name is the one it had when only graphs
    /// paid it.
    pub graph_launch_us: Positive,
    /// Launch kernels from a captured CUDA graph (`--cuda-graphs on`): the host's `launch_us`
    /// goes, the GPU-side `graph_launch_us` stays.
    #[serde(default)]
    pub cuda_graphs: bool,
    /// GPUs in the node (tensor parallelism splits over at most this many).
    #[serde(default = "one")]
    pub count: Count,
    /// The link between GPUs of the node (NVLink, Infinity Fabric, PCIe).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interconnect: Option<Interconnect>,
    /// The host's memory and the path from it to the GPUs (where a Composition of Experts keeps
    /// the experts HBM cannot hold).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<HostMemory>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HostMemory {
    /// Host memory of the node, GiB.
    pub capacity_gib: Positive,
    /// Host-to-GPU copy bandwidth of the whole node, GB/s (copies to the GPUs share it).
    pub gb_s: Positive,
}

fn one() -> Count {
    Count(1)
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Interconnect {
    /// Link name (nvlink3, nvlink4, pcie4, ...), informational.
    pub name: String,
    /// Bandwidth per GPU per direction, GB/s.
    pub gb_s: Positive,
    /// Latency of one step of a collective, µs.
    pub latency_us: NonNegative,
}

impl Interconnect {
    /// Seconds of a ring all-reduce of `bytes` over `group` devices: 2(N−1) steps, each moving
    /// 1/N of the data per device and paying the link latency (NCCL's ring algorithm).
    pub fn ring_all_reduce_s(&self, bytes: u64, group: u64) -> f64 {
        self.ring_transfer_s(bytes, group) + self.ring_latency_s(group)
    }

    /// The bandwidth part of [`Self::ring_all_reduce_s`]: 2(N−1)/N of the data per device.
    pub fn ring_transfer_s(&self, bytes: u64, group: u64) -> f64 {
        if group <= 1 {
            return 0.0;
        }
        let n = group as f64;
        2.0 * (n - 1.0) / n * bytes as f64 / (self.gb_s.0 * 1e9)
    }

    /// The latency part of [`Self::ring_all_reduce_s`]: 2(N−1) link latencies.
    pub fn ring_latency_s(&self, group: u64) -> f64 {
        2.0 * group.saturating_sub(1) as f64 * self.latency_us.0 * 1e-6
    }
}

impl GpuSpec {
    /// Tensor-core FLOP/s for a compute dtype (`DType::name`), if the GPU has a tensor-core path
    /// for it. f16 and bf16 share one rate on every GPU here; f32 GEMMs run on CUDA cores
    /// (frameworks do not use TF32 unless told to).
    pub fn tensor_flops(&self, dtype: &str) -> Option<f64> {
        let key = match dtype {
            "f16" | "bf16" => ["bf16", "f16"]
                .into_iter()
                .find(|k| self.tensor_tflops.contains_key(*k))?,
            "fp8-e4m3" | "fp8-e5m2" | "fp8" => "fp8",
            "f32" => return None,
            other => other,
        };
        self.tensor_tflops.get(key).map(|t| t.0 * 1e12)
    }
}
