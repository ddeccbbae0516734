//! The `mcu:` section of the hardware schema (`kind: mcu`): a microcontroller board, its core,
//! memories, power, the kernel library it runs, and an optional Ethos-U NPU.

use serde::{Deserialize, Serialize};

use super::{Count, NonNegative, Positive};

/// The CPU core. Decides the scalar throughput relative to a Cortex-M4 and the SIMD MAC rate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Hash)]
#[serde(rename_all = "kebab-case")]
pub enum Core {
    /// Cortex-M4 with FPU: 3-stage pipeline, SMLAD (two 16-bit MACs per cycle).
    #[serde(alias = "cortex-m4", alias = "m4", alias = "m4f")]
    CortexM4f,
    /// Cortex-M7: 6-stage dual-issue pipeline, SMLAD, L1 caches.
    #[serde(alias = "m7")]
    CortexM7,
    /// Cortex-M33 with the DSP extension: 3-stage pipeline, SMLAD.
    #[serde(alias = "m33")]
    CortexM33,
    /// Cortex-M55 with Helium (MVE): about 8 int8 MACs per cycle in vector loops.
    #[serde(alias = "m55")]
    CortexM55,
}

impl Core {
    pub fn name(self) -> &'static str {
        match self {
            Core::CortexM4f => "cortex-m4f",
            Core::CortexM7 => "cortex-m7",
            Core::CortexM33 => "cortex-m33",
            Core::CortexM55 => "cortex-m55",
        }
    }
}

/// The kernel library the network is compiled against: the same board differs about 3× between
/// them (MLPerf Tiny v0.5/v1.0 on the Nucleo-L4R5ZI).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Hash)]
#[serde(rename_all = "kebab-case")]
pub enum Library {
    /// TensorFlow Lite Micro's reference kernels (portable C, no SIMD).
    Tflm,
    /// Arm CMSIS-NN kernels (SMLAD on M4/M7/M33, Helium on M55).
    #[serde(alias = "cmsis")]
    CmsisNn,
    /// The silicon vendor's optimised runtime (ST X-CUBE-AI on STM32).
    Vendor,
}

impl Library {
    pub fn name(self) -> &'static str {
        match self {
            Library::Tflm => "tflm",
            Library::CmsisNn => "cmsis-nn",
            Library::Vendor => "vendor",
        }
    }

    pub fn parse(s: &str) -> Option<Library> {
        match s.to_ascii_lowercase().as_str() {
            "tflm" => Some(Library::Tflm),
            "cmsis-nn" | "cmsis" | "cmsisnn" => Some(Library::CmsisNn),
            "vendor" => Some(Library::Vendor),
            _ => None,
        }
    }

    pub const ALL: [Library; 3] = [Library::Tflm, Library::CmsisNn, Library::Vendor];
}

/// One SRAM region (TCM, AXI SRAM, ...). The tensor arena is one array in one region.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SramRegion {
    /// Region name (dtcm, axi-sram, ...), shown in reports.
    pub name: String,
    /// Capacity in KiB.
    pub size_kib: Positive,
    /// Wait states per access from the core (0 for SRAM on the core's bus at full speed).
    #[serde(default)]
    pub wait_states: NonNegative,
}

/// The on-chip flash the weights and code live in.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FlashSpec {
    /// Capacity in KiB.
    pub size_kib: Positive,
    /// Wait states at this board's clock (reference manual's table for the voltage range).
    pub wait_states: NonNegative,
    /// Bytes one flash read returns (the flash word: 8 on STM32L4, 16 or 32 on STM32F7/H7).
    pub line_bytes: Count,
    /// Data cache the core reads weights through (0: only a prefetch buffer). A layer's weights
    /// re-read while they fit it hit; the first read of every byte always waits.
    #[serde(default)]
    pub data_cache_kib: NonNegative,
}

/// An Arm Ethos-U microNPU beside the core (Ethos-U55/U65).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NpuSpec {
    /// `ethos-u55` or `ethos-u65`.
    pub name: String,
    /// int8 MACs per cycle: 32, 64, 128 or 256.
    pub macs_per_cycle: Count,
    /// NPU clock; the board's `clock_mhz` when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clock_mhz: Option<Positive>,
    /// Bandwidth the NPU reads and writes activations in SRAM at, GB/s.
    pub sram_gb_s: Positive,
    /// Bandwidth the NPU reads weights from flash at, GB/s.
    pub flash_gb_s: Positive,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct McuSpec {
    /// `cortex-m4f`, `cortex-m7`, `cortex-m33` or `cortex-m55`.
    pub core: Core,
    /// The library used when `--lib` does not name one.
    pub library: Library,
    /// SRAM regions; the arena goes into the largest.
    pub sram: Vec<SramRegion>,
    /// The on-chip flash (size, wait states, word width, data cache).
    pub flash: FlashSpec,
    /// Board power while running inference, per MHz of clock (mW/MHz; power = this × clock,
    /// energy = power × time, so a clock sweep keeps the energy per cycle).
    pub power_mw_per_mhz: Positive,
    /// Run the network's layers on this NPU (`--npu` chooses it when the board has one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub npu: Option<NpuSpec>,
    /// Use the NPU (when there is one). `--npu off` runs on the core.
    #[serde(default = "yes")]
    pub use_npu: bool,
    /// Memory planner: `tflm` (greedy by size, TFLM's `GreedyMemoryPlanner`) or `tinyengine`
    /// (the same, with depthwise convolutions writing over their input).
    #[serde(default)]
    pub planner: Planner,
}

fn yes() -> bool {
    true
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default, Hash)]
#[serde(rename_all = "kebab-case")]
pub enum Planner {
    #[default]
    Tflm,
    #[serde(alias = "tiny-engine")]
    Tinyengine,
}

impl Planner {
    pub fn name(self) -> &'static str {
        match self {
            Planner::Tflm => "tflm",
            Planner::Tinyengine => "tinyengine",
        }
    }
}

impl McuSpec {
    pub fn largest_region(&self) -> Option<&SramRegion> {
        self.sram
            .iter()
            .max_by(|a, b| a.size_kib.0.total_cmp(&b.size_kib.0))
    }

    pub fn sram_bytes(&self) -> u64 {
        self.sram
            .iter()
            .map(|r| (r.size_kib.0 * 1024.0) as u64)
            .fold(0, u64::saturating_add)
    }

    pub fn flash_bytes(&self) -> u64 {
        (self.flash.size_kib.0 * 1024.0) as u64
    }
}
