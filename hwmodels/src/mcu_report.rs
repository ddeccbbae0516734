//! What an MCU run reports beside the engine's totals (kept apart from the model so the trait can
//! name it without importing the model).

use serde::Serialize;

use crate::spec::mcu::Planner;

/// The `mcu` section of `simulate`'s JSON: ST model-zoo quantities plus where the peak is.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct McuReport {
    pub board: String,
    pub core: &'static str,
    pub library: &'static str,
    pub planner: Planner,
    /// The NPU the layers ran on, if any.
    pub npu: Option<String>,
    pub clock_mhz: f64,
    /// Board power while running (mW).
    pub power_mw: f64,
    pub latency_s: f64,
    pub energy_uj: f64,
    /// The planned tensor arena: activations and kernel scratch (TFLM's "head").
    pub activation_ram_bytes: u64,
    /// Of which kernel scratch at the peak.
    pub scratch_bytes_at_peak: u64,
    /// Persistent arena allocations (TFLM's "tail": tensor and node structs, per-channel
    /// requantisation parameters).
    pub persistent_ram_bytes: u64,
    /// RAM outside the arena (stack, runtime state).
    pub runtime_ram_bytes: u64,
    /// Activation + persistent + runtime RAM.
    pub peak_sram_bytes: u64,
    pub sram_bytes: u64,
    pub largest_region: String,
    pub largest_region_bytes: u64,
    /// int8 weights and, per output channel, an int32 bias and an int32 scale.
    pub weights_flash_bytes: u64,
    /// The model description (flatbuffer or generated tables).
    pub model_flash_bytes: u64,
    /// Runtime and the kernels linked in.
    pub code_flash_bytes: u64,
    pub flash_bytes: u64,
    pub flash_capacity_bytes: u64,
    pub sram_fits: bool,
    pub flash_fits: bool,
    pub fits: bool,
    /// Schedule step at which the arena's live bytes peak, and what is live then (largest first).
    pub peak_step: usize,
    pub live_at_peak: Vec<String>,
    pub kernels: Vec<&'static str>,
}
