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

/// Area of a `ports`-ported SRAM relative to a single-ported one: every port adds a wordline
/// and a bitline pair to each cell, growing it in both dimensions, so area goes with ports²
/// (Rixner et al., "Register Organization for Media Processing", HPCA 2000). For one or two
/// ports this is an upper bound (an 8T dual-port cell is well under 4× a 6T one).
pub fn port_area_factor(ports: u64) -> f64 {
    let p = ports.max(1) as f64;
    p * p
}

pub fn node_area_scale(node_nm: f64) -> f64 {
    (node_nm / 28.0) * (node_nm / 28.0)
}

/// mm² per data pin of an off-package parallel DRAM interface (DDR, LPDDR, GDDR; PHY, I/O and
/// controller): TPU v1's two DDR3 ports are 3 % of its ≤ 331 mm² die each (Jouppi et al., ISCA 2017,
/// Fig. 2) for 2 × 64 data pins at 2,133 MT/s (34 GB/s). Pads, drivers and ESD set this area, not
/// the logic node, so it is not scaled with `technology_nm` (an assumption, optimistic neither way).
pub const PARALLEL_DRAM_MM2_PER_PIN: f64 = 2.0 * 0.03 * 331.0 / 128.0;
/// HBM PHY and controller per data pin: 10.45 mm² PHY + 5.707 mm² controller per 1,024-bit HBM2e
/// interface at 7 nm (LLMCompass, Zhang et al., ISCA 2024, Table II). Used at every node: the PHY
/// is analog and barely shrinks, and scaling the controller by the ideal (N/7)² rule would make a
/// 16 nm HBM2 controller 30 mm², more than GP100's die shot allows.
pub const HBM_MM2_PER_PIN: f64 = (10.45 + 5.707) / 1024.0;

/// The silicon cost of an off-chip memory interface: as many data pins as the bandwidth needs at
/// the technology's per-pin rate, each with its PHY and controller share.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct MemoryInterface {
    /// The technology class the estimate used (`ddr4`, `hbm3`, ...).
    pub class: &'static str,
    /// Per-pin data rate in Gb/s (the JEDEC top speed grade of the class).
    pub gbit_per_pin: f64,
    /// Data pins the bandwidth needs.
    pub pins: f64,
    pub mm2: f64,
    /// The technology name was not recognised: a DDR4-class interface was assumed.
    pub assumed: bool,
}

/// Per-pin rates (Gb/s, JEDEC top speed grades: DDR3-2133, DDR4-3200, DDR5-6400, LPDDR4X-4266,
/// LPDDR5-6400, LPDDR5X-8533, GDDR5 8, GDDR6 16, GDDR6X 21 (Micron), HBM 1, HBM2 2, HBM2E 3.2,
/// HBM3 6.4, HBM3E 9.6) and whether the class is an in-package wide (HBM) interface.
const CLASSES: [(&str, f64, bool); 15] = [
    ("ddr3", 2.133, false),
    ("ddr4", 3.2, false),
    ("ddr5", 6.4, false),
    ("lpddr4", 4.266, false),
    ("lpddr5x", 8.533, false),
    ("lpddr5", 6.4, false),
    ("gddr5", 8.0, false),
    ("gddr6x", 21.0, false),
    ("gddr6", 16.0, false),
    ("hbm3e", 9.6, true),
    ("hbm3", 6.4, true),
    ("hbm2e", 3.2, true),
    ("hbm2", 2.0, true),
    ("hbm", 1.0, true),
    ("lpddr", 4.266, false),
];

/// Interface area for `technology` (matched by prefix, case-insensitive: `lpddr4x` is LPDDR4,
/// `HBM2E` is HBM2E) at `bandwidth_gb_s`.
pub fn memory_interface(technology: &str, bandwidth_gb_s: f64) -> MemoryInterface {
    let t = technology.trim().to_ascii_lowercase();
    let found = CLASSES.iter().find(|(name, _, _)| t.starts_with(name));
    let (class, rate, hbm) = found.copied().unwrap_or(("ddr4", 3.2, false));
    let per_pin = if hbm {
        HBM_MM2_PER_PIN
    } else {
        PARALLEL_DRAM_MM2_PER_PIN
    };
    let pins = bandwidth_gb_s * 8.0 / rate;
    MemoryInterface {
        class,
        gbit_per_pin: rate,
        pins,
        mm2: pins * per_pin,
        assumed: found.is_none(),
    }
}

/// Area by component in mm²; `total` is their sum.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Area {
    pub compute_mm2: f64,
    pub sram_mm2: f64,
    pub vector_mm2: f64,
    /// Off-chip memory interface (PHYs and controllers); 0 for a host link, whose serial PHY is
    /// not estimated.
    pub memory_interface_mm2: f64,
    /// The rest of the die when `area_mm2.chip` gives the whole (I/O, control, memory
    /// interfaces): the chip less the estimated components.
    pub other_mm2: f64,
    pub total_mm2: f64,
}

/// Components an `area_mm2:` section may name (systolic kinds): each overrides its estimate;
/// `chip` gives the whole die, the difference reported as `other_mm2` (a die is never smaller
/// than its components: growing one past it grows the die).
pub const AREA_KEYS: [&str; 5] = ["compute", "sram", "vector", "memory_interface", "chip"];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tpu_v1_ddr3_ports_are_six_percent_of_the_die() {
        // The calibration point itself: 34 GB/s of DDR3 is two 64-bit DDR3-2133 ports.
        let m = memory_interface("ddr3", 34.0);
        assert!((m.pins - 127.5).abs() < 0.1, "{m:?}");
        assert!((m.mm2 / 331.0 - 0.06).abs() < 0.001, "{m:?}");
        assert!(!m.assumed);
    }

    #[test]
    fn an_hbm2e_stack_costs_what_llmcompass_measured_at_7nm() {
        // 1,024 pins at 3.2 Gb/s = 409.6 GB/s: PHY 10.45 + controller 5.707 mm².
        let m = memory_interface("HBM2E", 409.6);
        assert_eq!(m.class, "hbm2e");
        assert!((m.pins - 1024.0).abs() < 1e-9);
        assert!((m.mm2 - (10.45 + 5.707)).abs() < 1e-9, "{m:?}");
    }

    #[test]
    fn area_grows_with_bandwidth_and_unknown_names_are_flagged() {
        let a = memory_interface("lpddr4x", 25.6);
        let b = memory_interface("lpddr4x", 51.2);
        assert_eq!(a.class, "lpddr4");
        assert!((b.mm2 / a.mm2 - 2.0).abs() < 1e-9);
        // HBM moves a byte for far less area than a DDR bus does.
        assert!(memory_interface("hbm3", 800.0).mm2 < memory_interface("ddr5", 800.0).mm2 / 5.0);
        let u = memory_interface("optane", 10.0);
        assert!(u.assumed && u.class == "ddr4");
    }
}
