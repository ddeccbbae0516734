//! Default energy figures and their technology scaling. One place for every published number.
//!
//! Sources (copied into `docs/sources.md`):
//! - Horowitz, "Computing's Energy Problem (and what we can do about it)", ISSCC 2014, 45 nm 0.9 V:
//!   int8 mult 0.2 pJ, int32 add 0.1 pJ, fp16 mult 1.1 / add 0.4 pJ, fp32 mult 3.7 / add 0.9 pJ;
//!   SRAM 64-bit access: 8 KB 10 pJ, 32 KB 20 pJ, 1 MB 100 pJ.
//! - Scaling rule (first order, per the same survey and Accelergy practice): E × (N/45) × (V/0.9)².

use vchip_workloads::DType;

/// MAC energy (multiply + accumulate) at 45 nm in pJ, from Horowitz ISSCC'14.
/// int8: 8-bit mult 0.2 + 32-bit accumulate 0.1. int4: estimated as a quarter of the int8 multiplier
/// (array multipliers scale with width²) + a 16-bit add 0.05. fp8: the fp16 multiplier scaled by
/// (mantissa 4/11)² plus an fp16 accumulate 0.4 (an estimate: Horowitz gives no fp8 figure).
pub fn mac_pj_45nm(d: DType) -> f64 {
    match d {
        DType::F32 => 3.7 + 0.9,
        DType::F16 | DType::Bf16 => 1.1 + 0.4,
        DType::Fp8E4M3 | DType::Fp8E5M2 => 1.1 * (4.0 / 11.0) * (4.0 / 11.0) + 0.4,
        DType::Int8 => 0.2 + 0.1,
        DType::Int4 => 0.05 + 0.05,
        DType::Int64 => 3.1 + 0.1,
    }
}

/// SRAM energy per byte at 45 nm for a buffer of `capacity` bytes: a 64-bit access costs
/// 10 pJ × sqrt(capacity / 8 KiB) (fits Horowitz's 8 KB 10 pJ, 32 KB 20 pJ, 1 MB 100 pJ within 13%).
pub fn sram_pj_per_byte_45nm(capacity: u64) -> f64 {
    let ratio = (capacity.max(1) as f64 / 8192.0).max(0.125);
    10.0 * ratio.sqrt() / 8.0
}

/// Multiplier applied to 45 nm energies for a node (nm) and optional supply voltage.
pub fn node_scale(node_nm: f64, voltage: Option<f64>) -> f64 {
    let v = voltage.map_or(1.0, |v| (v / 0.9) * (v / 0.9));
    node_nm / 45.0 * v
}
