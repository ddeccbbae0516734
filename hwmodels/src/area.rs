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
    /// Data pins the bandwidth needs, in whole channels (or HBM stacks).
    pub pins: f64,
    pub mm2: f64,
}

/// Per-pin rates (Gb/s, JEDEC top speed grades: DDR3-2133, DDR4-3200, DDR5-6400, LPDDR4X-4266,
/// LPDDR5-6400, LPDDR5X-8533, GDDR5 8, GDDR6 16, GDDR6X 21 (Micron), HBM 1, HBM2 2, HBM2E 3.2,
/// HBM3 6.4, HBM3E 9.6), whether the class is an in-package wide (HBM) interface, and the data
/// width an interface is built in (JEDEC channel widths: a 64-bit DDR3/DDR4 channel, a 32-bit
/// DDR5 subchannel, a 16-bit LPDDR channel, a 32-bit GDDR device, a 1,024-bit HBM stack).
const CLASSES: [(&str, f64, bool, u32); 15] = [
    ("ddr3", 2.133, false, 64),
    ("ddr4", 3.2, false, 64),
    ("ddr5", 6.4, false, 32),
    ("lpddr4", 4.266, false, 16),
    ("lpddr5x", 8.533, false, 16),
    ("lpddr5", 6.4, false, 16),
    ("gddr5", 8.0, false, 32),
    ("gddr6x", 21.0, false, 32),
    ("gddr6", 16.0, false, 32),
    ("hbm3e", 9.6, true, 1024),
    ("hbm3", 6.4, true, 1024),
    ("hbm2e", 3.2, true, 1024),
    ("hbm2", 2.0, true, 1024),
    ("hbm", 1.0, true, 1024),
    ("lpddr", 4.266, false, 16),
];

fn class_of(technology: &str) -> Option<(&'static str, f64, bool, u32)> {
    let t = technology.trim().to_ascii_lowercase();
    CLASSES
        .iter()
        .copied()
        .find(|(name, ..)| t.starts_with(name))
}

/// Whether `technology` names a memory interface vchip can cost (by prefix: `lpddr4x` is LPDDR4).
pub fn technology_known(technology: &str) -> bool {
    class_of(technology).is_some()
}

/// The technology names vchip costs, for messages.
pub fn technology_names() -> Vec<&'static str> {
    let mut v: Vec<&str> = CLASSES.iter().map(|c| c.0).collect();
    v.sort();
    v
}

/// Interface area for `technology` (matched by prefix, case-insensitive: `lpddr4x` is LPDDR4,
/// `HBM2E` is HBM2E) at `bandwidth_gb_s`; `None` for a technology vchip cannot cost (the schema
/// refuses those on the kinds that model area).
pub fn memory_interface(technology: &str, bandwidth_gb_s: f64) -> Option<MemoryInterface> {
    let (class, rate, hbm, width) = class_of(technology)?;
    let per_pin = if hbm {
        HBM_MM2_PER_PIN
    } else {
        PARALLEL_DRAM_MM2_PER_PIN
    };
    // Interfaces come in whole channels (or stacks): 34 GB/s of DDR3 is two 64-bit channels.
    let width = f64::from(width);
    let pins = (bandwidth_gb_s * 8.0 / rate / width).ceil() * width;
    Some(MemoryInterface {
        class,
        gbit_per_pin: rate,
        pins,
        mm2: pins * per_pin,
    })
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
    /// The rest of the die (I/O, control, unlabelled area): `area_mm2.other`, or the chip less
    /// the components when `area_mm2.chip` gives the whole; 0 when neither is given.
    pub other_mm2: f64,
    pub total_mm2: f64,
}

/// Components an `area_mm2:` section may name (systolic kinds): each overrides its estimate;
/// `other` adds the rest of the die (kept as components grow in a sweep); `chip` instead pins
/// the whole die, the difference reported as `other_mm2` (a die is never smaller than its
/// components: growing one past it grows the die).
pub const AREA_KEYS: [&str; 6] = [
    "compute",
    "sram",
    "vector",
    "memory_interface",
    "other",
    "chip",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tpu_v1_ddr3_ports_are_six_percent_of_the_die() {
        // The calibration point itself: 34 GB/s of DDR3 is two 64-bit DDR3-2133 ports.
        let m = memory_interface("ddr3", 34.0).unwrap();
        assert_eq!(m.pins, 128.0, "{m:?}");
        assert!((m.mm2 / 331.0 - 0.06).abs() < 1e-12, "{m:?}");
    }

    #[test]
    fn an_hbm2e_stack_costs_what_llmcompass_measured_at_7nm() {
        // 1,024 pins at 3.2 Gb/s = 409.6 GB/s: PHY 10.45 + controller 5.707 mm².
        let m = memory_interface("HBM2E", 409.6).unwrap();
        assert_eq!(m.class, "hbm2e");
        assert!((m.pins - 1024.0).abs() < 1e-9);
        assert!((m.mm2 - (10.45 + 5.707)).abs() < 1e-9, "{m:?}");
    }

    #[test]
    fn area_grows_with_bandwidth_and_unknown_names_are_not_costed() {
        // Four and eight 16-bit LPDDR4X-4266 channels.
        let a = memory_interface("lpddr4x", 4.266 * 64.0 / 8.0).unwrap();
        let b = memory_interface("lpddr4x", 4.266 * 128.0 / 8.0).unwrap();
        assert_eq!(a.class, "lpddr4");
        assert!((b.mm2 / a.mm2 - 2.0).abs() < 1e-9);
        // Whole channels and stacks: a little HBM3 bandwidth still takes a stack's PHY.
        assert_eq!(memory_interface("lpddr4", 10.0).unwrap().pins, 32.0);
        assert_eq!(memory_interface("hbm3", 256.0).unwrap().pins, 1024.0);
        assert_eq!(memory_interface("hbm3", 819.3).unwrap().pins, 2048.0);
        // HBM moves a byte for far less area than a DDR bus does.
        assert!(
            memory_interface("hbm3", 800.0).unwrap().mm2
                < memory_interface("ddr5", 800.0).unwrap().mm2 / 5.0
        );
        assert!(memory_interface("optane", 10.0).is_none());
    }
}
