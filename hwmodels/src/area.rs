//! Silicon area estimates, calibrated on a published floor plan and scaled by node and dtype.
//!
//! Calibration: Google TPU v1 (Jouppi et al., ISCA 2017, Section 2 and its floor plan): die ≤ 331 mm²
//! at 28 nm; the 256×256 int8 Matrix Multiply Unit takes 24 % of it and the 24 MiB Unified Buffer 29 %.
//! That gives 0.24 × 331 / 65,536 = 1,212 µm² per int8 PE (MAC, operand registers, wiring) and
//! 0.29 × 331 / 24 = 4.0 mm² per MiB of SRAM at 28 nm. Other dtypes scale by the multiplier + adder
//! areas of Horowitz ISSCC'14 (int8 282 + 137 µm², fp16 1,640 + 1,360, fp32 7,700 + 4,184; int4 and fp8
//! estimated). Other nodes scale with (node / 28)², the ideal area rule; real shrinks are worse below
//! 16 nm, so treat sub-16 nm estimates as optimistic.

use serde::Serialize;
use vchip_workloads::DType;

/// µm² per int8 PE at 28 nm (TPU v1 floor plan).
pub const PE_INT8_UM2_28NM: f64 = 0.24 * 331.0e6 / 65_536.0;
/// mm² per MiB of SRAM at 28 nm (TPU v1 floor plan).
pub const SRAM_MM2_PER_MIB_28NM: f64 = 0.29 * 331.0 / 24.0;

/// Area of a MAC of this dtype relative to int8 (Horowitz ISSCC'14 multiplier + adder areas).
pub fn pe_area_ratio(d: DType) -> f64 {
    let int8 = 282.0 + 137.0;
    let a = match d {
        DType::Int4 => 282.0 / 4.0 + 67.0,
        DType::Int8 => int8,
        DType::Fp8E4M3 | DType::Fp8E5M2 => 1640.0 * (4.0 / 11.0) * (4.0 / 11.0) + 1360.0 / 2.0,
        DType::F16 | DType::Bf16 => 1640.0 + 1360.0,
        DType::F32 | DType::Int64 => 7700.0 + 4184.0,
    };
    a / int8
}

pub fn node_area_scale(node_nm: f64) -> f64 {
    (node_nm / 28.0) * (node_nm / 28.0)
}

/// Area by component in mm²; `total` is their sum.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Area {
    pub compute_mm2: f64,
    pub sram_mm2: f64,
    pub vector_mm2: f64,
    /// The rest of the die when `area_mm2.chip` gives the whole (I/O, control, memory
    /// interfaces): the chip less the estimated components.
    pub other_mm2: f64,
    pub total_mm2: f64,
}

/// Components an `area_mm2:` section may name (systolic kinds): each overrides its estimate;
/// `chip` gives the whole die, the difference reported as `other_mm2` (a die is never smaller
/// than its components: growing one past it grows the die).
pub const AREA_KEYS: [&str; 4] = ["compute", "sram", "vector", "chip"];
