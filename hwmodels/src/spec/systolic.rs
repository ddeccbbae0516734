//! The accelerator sections of the hardware schema (`kind: systolic`): the array, its on-chip
//! buffers and its vector unit.

use serde::{Deserialize, Serialize};

use super::{Count, Dataflow, Positive};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SystolicSpec {
    /// Processing-element rows.
    pub rows: Count,
    /// Processing-element columns.
    pub cols: Count,
    /// `os` (output stationary), `ws` (weight stationary) or `is` (input stationary).
    pub dataflow: Dataflow,
}

/// On-chip buffers: either one per operand (`ifmap`, `filter`, `ofmap`, as in SCALE-Sim and TPU v1)
/// or one `shared` buffer split equally between the three operands.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Buffers {
    /// Input-activation buffer (with `filter` and `ofmap`, or one `shared`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ifmap: Option<BufferSpec>,
    /// Weight buffer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter: Option<BufferSpec>,
    /// Output (accumulator) buffer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ofmap: Option<BufferSpec>,
    /// One buffer split equally between the three operands.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shared: Option<BufferSpec>,
    /// Half of each buffer computes while the other half fills (SCALE-Sim's model too).
    #[serde(default = "yes")]
    pub double_buffered: bool,
    /// The filter buffer caches parameters across inferences (the Edge TPU's "parameter data
    /// caching"): weights that fit it, in graph order, are read from it instead of off-chip memory
    /// in the steady state the whole-graph engine costs; the rest stream every inference.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub weight_cache: bool,
}

fn yes() -> bool {
    true
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BufferSpec {
    /// Capacity in KiB.
    pub capacity_kib: Positive,
    /// SRAM banks: an access reads one bank, so the default access energy is that of a
    /// `capacity / banks` array (routing between banks not counted).
    #[serde(default)]
    pub banks: Option<Count>,
    /// Ports per bank: each adds a wordline and a bitline pair to every cell, so the area grows
    /// with the square of the ports (Rixner et al., HPCA 2000; an upper bound for 8T dual-port
    /// macros). Bandwidth is `bytes_per_cycle`.
    #[serde(default)]
    pub ports: Option<Count>,
    /// Bytes the buffer can read or write per cycle (all ports together); unlimited if absent.
    #[serde(default)]
    pub bytes_per_cycle: Option<Positive>,
    /// Energy per byte read; default from Horowitz (see `energy::sram_pj_per_byte`).
    #[serde(default)]
    pub read_pj_per_byte: Option<Positive>,
    /// Write energy per byte; default from the capacity (CACTI-style fit) at the node.
    #[serde(default)]
    pub write_pj_per_byte: Option<Positive>,
}

impl BufferSpec {
    pub fn capacity_bytes(&self) -> u64 {
        (self.capacity_kib.0 * 1024.0).min(u64::MAX as f64) as u64
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VectorSpec {
    /// SIMD lanes; each does one element-wise operation per cycle.
    pub lanes: Count,
    /// Energy per lane operation; default: the op dtype's MAC energy.
    #[serde(default)]
    pub energy_pj_per_op: Option<Positive>,
}
