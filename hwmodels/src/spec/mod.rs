//! The hardware description schema: one YAML format for every hardware kind.
//!
//! Common sections (clock, technology, memories, vector unit, energy) are shared by all kinds; each
//! kind adds its own section (`systolic:`, `cpu:`, `mcu:`, `gpu:`, `dataflow:`). Unknown keys are rejected, sizes must be positive, and every error
//! carries the line and column (serde-saphyr renders a source snippet).

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Deserializer, Serialize};

use crate::error::HwError;

pub mod cpu;
pub mod dataflow;
pub mod gpu;
pub mod mcu;
pub mod systolic;

pub use systolic::{BufferSpec, Buffers, SystolicSpec, VectorSpec};

/// A strictly positive, finite number.
#[derive(Clone, Copy, Debug, PartialEq, PartialOrd, Serialize)]
#[serde(transparent)]
pub struct Positive(pub f64);

impl<'de> Deserialize<'de> for Positive {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = f64::deserialize(d)?;
        if v.is_finite() && v > 0.0 {
            Ok(Positive(v))
        } else {
            Err(serde::de::Error::custom(format!(
                "must be a positive number, got {v}"
            )))
        }
    }
}

impl fmt::Display for Positive {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A strictly positive integer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct Count(pub u64);

impl<'de> Deserialize<'de> for Count {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = i128::deserialize(d)?;
        if v > 0 && v <= u32::MAX as i128 {
            Ok(Count(v as u64))
        } else {
            Err(serde::de::Error::custom(format!(
                "must be a positive integer below 2^32, got {v}"
            )))
        }
    }
}

/// A non-negative, finite number (static power may be zero).
#[derive(Clone, Copy, Debug, PartialEq, PartialOrd, Serialize, Default)]
#[serde(transparent)]
pub struct NonNegative(pub f64);

impl<'de> Deserialize<'de> for NonNegative {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = f64::deserialize(d)?;
        if v.is_finite() && v >= 0.0 {
            Ok(NonNegative(v))
        } else {
            Err(serde::de::Error::custom(format!(
                "must be zero or positive, got {v}"
            )))
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HwKind {
    Systolic,
    Gpu,
    Dataflow,
    Mcu,
    Cpu,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Hash)]
#[serde(rename_all = "lowercase")]
pub enum Dataflow {
    /// Output stationary.
    Os,
    /// Weight stationary.
    Ws,
    /// Input stationary.
    Is,
}

impl Dataflow {
    pub fn name(self) -> &'static str {
        match self {
            Dataflow::Os => "os",
            Dataflow::Ws => "ws",
            Dataflow::Is => "is",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HardwareSpec {
    /// Name shown in reports and `hw list`.
    pub name: String,
    /// Which model costs it: `systolic`, `cpu`, `mcu`, `gpu` or `dataflow`.
    pub kind: HwKind,
    /// One line for `hw list`.
    #[serde(default)]
    pub description: String,
    /// Core clock in MHz; cycles convert to seconds at this rate.
    pub clock_mhz: Positive,
    /// Process node in nm; energy and area defaults are scaled to it (45 nm, Horowitz's node, when
    /// absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub technology_nm: Option<Positive>,
    /// Supply voltage; when set, default energies also scale by (V/0.9)².
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub voltage_v: Option<Positive>,
    /// Precision policy applied to traces that do not set one (`int8`, `bf16`, `w4a8`, ...): the
    /// number format the chip computes in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub precision: Option<String>,
    /// The array (`kind: systolic`): rows, cols, dataflow.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub systolic: Option<SystolicSpec>,
    /// The host CPU (`kind: cpu`), measured and calibrated by `vchip validate`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu: Option<cpu::CpuSpec>,
    /// A GPU or a node of GPUs (`kind: gpu`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gpu: Option<gpu::GpuSpec>,
    /// A microcontroller board (`kind: mcu`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mcu: Option<mcu::McuSpec>,
    /// A reconfigurable dataflow chip or node (`kind: dataflow`): compute and memory units,
    /// memory tiers, sockets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dataflow: Option<dataflow::DataflowSpec>,
    /// On-chip buffers of accelerators (required for `kind: systolic`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub buffers: Option<Buffers>,
    /// Off-chip memory (required by every kind but `mcu`, whose memories are its SRAM and flash,
    /// and `dataflow`, whose tiers are listed in its own section).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dram: Option<DramSpec>,
    /// The vector unit of accelerators (required for `kind: systolic`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vector: Option<VectorSpec>,
    /// MAC energies and static power (systolic kinds).
    #[serde(default)]
    pub energy: EnergySpec,
    /// Areas in mm² overriding the estimates (systolic kinds): `compute`, `sram`, `vector`,
    /// `memory_interface`; `other` (the rest of the die, added to the components and kept as they
    /// grow) or `chip` (the whole die; what the components leave is reported as the rest).
    #[serde(default)]
    pub area_mm2: BTreeMap<String, NonNegative>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DramSpec {
    /// Technology (ddr3, ddr4, ddr5, lpddr4, lpddr5, lpddr5x, gddr5, gddr6, gddr6x, hbm, hbm2,
    /// hbm2e, hbm3, hbm3e; matched by prefix): sets the per-pin rate and channel width, hence the
    /// data pins and the interface area (`area::memory_interface`). Systolic kinds require a known
    /// one unless `host_link` is set; other kinds keep it as a label.
    #[serde(default)]
    pub technology: String,
    /// Capacity in GiB; the memory report checks peaks against it.
    pub capacity_gib: Positive,
    /// Sustained bandwidth in GB/s (10^9 bytes per second).
    pub bandwidth_gb_s: Positive,
    /// Access energy; required by models that report energy (systolic).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub energy_pj_per_bit: Option<Positive>,
    /// The chip has no memory of its own: this section describes the host link (USB, PCIe) it
    /// reads weights and spilled activations over, reported as level `host-link`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub host_link: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct EnergySpec {
    /// MAC energy in pJ by dtype name (`int8`, `f16`, ...), at this chip's node. Missing dtypes use
    /// Horowitz 45 nm figures scaled to `technology_nm`.
    #[serde(default)]
    pub mac_pj: BTreeMap<String, Positive>,
    /// Leakage and clock-tree power while running, in watts.
    #[serde(default)]
    pub static_power_w: NonNegative,
}

impl HardwareSpec {
    /// Parses YAML text. `file` names the source in messages.
    pub fn from_yaml(file: &str, text: &str) -> Result<Self, HwError> {
        let spec: HardwareSpec = serde_saphyr::from_str(text).map_err(|e| HwError::Yaml {
            file: file.to_string(),
            msg: e
                .to_string()
                .trim_start_matches("error: ")
                .replace("<input>", file),
        })?;
        spec.validate(file)?;
        let mut spec = spec;
        // MCU kernel libraries run int8 networks: that is the board's number format.
        if spec.kind == HwKind::Mcu && spec.precision.is_none() {
            spec.precision = Some("int8".into());
        }
        Ok(spec)
    }

    /// Cross-field checks that types alone cannot express.
    pub fn validate(&self, file: &str) -> Result<(), HwError> {
        let invalid = |key: &str, msg: String| HwError::Invalid {
            file: file.to_string(),
            key: key.to_string(),
            msg,
        };
        // Physical ranges: a value outside them is a typo or a unit mix-up, and would print numbers
        // that mean nothing (a 1e308 MHz clock makes every network take 0 s).
        let ranges: [(&str, f64, f64, &str); 6] = [
            (
                "clock_mhz",
                self.clock_mhz.0,
                100_000.0,
                "MHz (100 GHz at most)",
            ),
            (
                "dram.bandwidth_gb_s",
                self.dram.as_ref().map_or(1.0, |d| d.bandwidth_gb_s.0),
                1e6,
                "GB/s (1 PB/s at most)",
            ),
            (
                "dram.capacity_gib",
                self.dram.as_ref().map_or(1.0, |d| d.capacity_gib.0),
                1e9,
                "GiB (an exbibyte at most)",
            ),
            (
                "technology_nm",
                self.technology_nm.map_or(45.0, |v| v.0),
                1e4,
                "nm (10 um at most)",
            ),
            (
                "voltage_v",
                self.voltage_v.map_or(1.0, |v| v.0),
                100.0,
                "V (100 V at most)",
            ),
            (
                "energy.static_power_w",
                self.energy.static_power_w.0,
                1e6,
                "W (a megawatt at most)",
            ),
        ];
        for (key, v, max, unit) in ranges {
            if v > max {
                return Err(invalid(key, format!("{v} is out of range: give {unit}")));
            }
        }
        if let Some(b) = &self.buffers {
            for (name, buf) in [
                ("ifmap", &b.ifmap),
                ("filter", &b.filter),
                ("ofmap", &b.ofmap),
                ("shared", &b.shared),
            ] {
                if buf.as_ref().is_some_and(|x| x.capacity_kib.0 > 1e9) {
                    return Err(invalid(
                        &format!("buffers.{name}.capacity_kib"),
                        "is out of range: give KiB (a tebibyte at most)".into(),
                    ));
                }
            }
        }
        // A section of another kind would be silently ignored: name it instead.
        let sections: [(&str, bool, &[HwKind]); 7] = [
            ("systolic", self.systolic.is_some(), &[HwKind::Systolic]),
            ("buffers", self.buffers.is_some(), &[HwKind::Systolic]),
            ("vector", self.vector.is_some(), &[HwKind::Systolic]),
            ("cpu", self.cpu.is_some(), &[HwKind::Cpu]),
            ("mcu", self.mcu.is_some(), &[HwKind::Mcu]),
            ("gpu", self.gpu.is_some(), &[HwKind::Gpu]),
            ("dataflow", self.dataflow.is_some(), &[HwKind::Dataflow]),
        ];
        for (key, present, kinds) in sections {
            if present && !kinds.contains(&self.kind) {
                return Err(invalid(
                    key,
                    format!(
                        "`{key}:` describes `kind: {}` hardware, not `kind: {}`; remove the section or change the kind",
                        format!("{:?}", kinds[0]).to_lowercase(),
                        format!("{:?}", self.kind).to_lowercase()
                    ),
                ));
            }
        }
        if self.kind == HwKind::Mcu {
            for (key, present) in [
                ("dram", self.dram.is_some()),
                ("technology_nm", self.technology_nm.is_some()),
                ("voltage_v", self.voltage_v.is_some()),
                ("energy", self.energy != EnergySpec::default()),
                ("area_mm2", !self.area_mm2.is_empty()),
            ] {
                if present {
                    return Err(invalid(
                        key,
                        "is not used by `kind: mcu` (its memories are `mcu.sram` and `mcu.flash`, its energy `mcu.power_mw_per_mhz`); remove it".into(),
                    ));
                }
            }
        }
        if self.kind == HwKind::Dataflow && self.dram.is_some() {
            return Err(invalid(
                "dram",
                "`kind: dataflow` lists its memories under `dataflow.tiers` (hbm, ddr, ...); move the `dram:` figures there".into(),
            ));
        }
        if !matches!(self.kind, HwKind::Mcu | HwKind::Dataflow) && self.dram.is_none() {
            return Err(invalid(
                "dram",
                "this kind needs a `dram:` section (technology, capacity_gib, bandwidth_gb_s)"
                    .into(),
            ));
        }
        match self.kind {
            HwKind::Systolic => {
                if self.systolic.is_none() {
                    return Err(invalid(
                        "systolic",
                        "`kind: systolic` needs a `systolic:` section with rows, cols and dataflow"
                            .into(),
                    ));
                }
                if self.buffers.is_none() || self.vector.is_none() {
                    return Err(invalid(
                        "buffers",
                        "`kind: systolic` needs `buffers:` and `vector:` sections".into(),
                    ));
                }
                if self
                    .dram
                    .as_ref()
                    .is_some_and(|d| d.energy_pj_per_bit.is_none())
                {
                    return Err(invalid(
                        "dram.energy_pj_per_bit",
                        "`kind: systolic` reports energy and needs the DRAM energy per bit".into(),
                    ));
                }
            }
            HwKind::Cpu => {
                if self.cpu.is_none() {
                    return Err(invalid("cpu", "`kind: cpu` needs a `cpu:` section (run `vchip validate --device cpu` to measure one)".into()));
                }
            }
            HwKind::Mcu => self.validate_mcu(file)?,
            HwKind::Gpu => {
                let Some(g) = &self.gpu else {
                    return Err(invalid("gpu", "`kind: gpu` needs a `gpu:` section (sms, tensor_tflops, fp32_tflops, l2_mib, ...)".into()));
                };
                for (k, v) in &g.tensor_tflops {
                    if !["bf16", "f16", "tf32", "fp8", "int8", "int4"].contains(&k.as_str()) {
                        return Err(invalid(
                            &format!("gpu.tensor_tflops.{k}"),
                            "not a tensor-core dtype; use bf16, f16, tf32, fp8, int8, int4".into(),
                        ));
                    }
                    if v.0 > 1e6 {
                        return Err(invalid(
                            &format!("gpu.tensor_tflops.{k}"),
                            "is out of range: give TFLOP/s (1e6 at most)".into(),
                        ));
                    }
                }
                for (key, v) in [
                    ("gpu.hbm_efficiency", g.hbm_efficiency.0),
                    ("gpu.mma_efficiency", g.mma_efficiency.0),
                ] {
                    if v > 1.0 {
                        return Err(invalid(
                            key,
                            format!("{v} is a share of the peak: give 0 to 1"),
                        ));
                    }
                }
                if g.count.0 > 1 && g.interconnect.is_none() {
                    return Err(invalid(
                        "gpu.interconnect",
                        format!("{} GPUs need the link between them: add `interconnect: {{ name, gb_s, latency_us }}`", g.count.0),
                    ));
                }
                if g.sms.0 > 100_000 || g.count.0 > 100_000 {
                    return Err(invalid(
                        "gpu",
                        "sms and count are out of range (100,000 at most)".into(),
                    ));
                }
            }
            HwKind::Dataflow => {
                let Some(d) = &self.dataflow else {
                    return Err(invalid(
                        "dataflow",
                        "`kind: dataflow` needs a `dataflow:` section (pcus, pmus, tiers, ...)"
                            .into(),
                    ));
                };
                d.check().map_err(|(key, msg)| invalid(&key, msg))?;
                if self.clock_mhz.0 < 1.0 {
                    return Err(invalid(
                        "clock_mhz",
                        format!(
                            "{} MHz is not a dataflow chip's clock (1 MHz at least)",
                            self.clock_mhz.0
                        ),
                    ));
                }
            }
        }
        if !self.area_mm2.is_empty() && self.kind != HwKind::Systolic {
            return Err(invalid(
                "area_mm2",
                format!(
                    "area is modelled for `kind: systolic` only; remove `area_mm2` from this `{}` description",
                    format!("{:?}", self.kind).to_lowercase()
                ),
            ));
        }
        for k in self.area_mm2.keys() {
            if !crate::area::AREA_KEYS.contains(&k.as_str()) {
                return Err(invalid(
                    &format!("area_mm2.{k}"),
                    format!(
                        "`{k}` is not an area component; use {}",
                        crate::area::AREA_KEYS.join(", ")
                    ),
                ));
            }
        }
        if self.area_mm2.contains_key("chip") && self.area_mm2.contains_key("other") {
            return Err(invalid(
                "area_mm2",
                "give `chip` (a fixed die; components grow into what they leave) or `other` (the rest of the die, kept while components grow), not both".into(),
            ));
        }
        if self.kind == HwKind::Systolic {
            if let Some(d) = self.dram.as_ref().filter(|d| !d.host_link) {
                if d.technology.trim().is_empty() {
                    return Err(invalid(
                        "dram.technology",
                        format!(
                            "missing: name the memory technology (one of {}); it sets the interface's pins and area",
                            crate::area::technology_names().join(", ")
                        ),
                    ));
                }
                if !crate::area::technology_known(&d.technology) {
                    return Err(invalid(
                        "dram.technology",
                        format!(
                            "`{}` is not a memory technology vchip can cost (it sets the interface's pins and area); use one of {} (or `host_link: true` for a chip without memory of its own)",
                            d.technology,
                            crate::area::technology_names().join(", ")
                        ),
                    ));
                }
            }
        }
        let Some(b) = &self.buffers else {
            return Ok(());
        };
        let per_operand = [&b.ifmap, &b.filter, &b.ofmap]
            .iter()
            .filter(|x| x.is_some())
            .count();
        match (per_operand, b.shared.is_some()) {
            (3, false) | (0, true) => {}
            _ => {
                return Err(invalid(
                    "buffers",
                    "give either all of `ifmap`, `filter` and `ofmap`, or one `shared` buffer"
                        .into(),
                ))
            }
        }
        for (k, _) in self.energy.mac_pj.iter() {
            if vchip_workloads::DType::parse(k).is_none() {
                return Err(invalid(
                    &format!("energy.mac_pj.{k}"),
                    format!("`{k}` is not a dtype (use f32, f16, bf16, fp8, fp8-e5m2, int8, int4)"),
                ));
            }
        }
        Ok(())
    }

    /// The process node in nm (45 nm when the description gives none).
    pub fn node_nm(&self) -> f64 {
        self.technology_nm.map_or(45.0, |p| p.0)
    }

    pub fn clock_hz(&self) -> f64 {
        self.clock_mhz.0 * 1e6
    }

    /// DRAM bytes per clock cycle (0 without DRAM).
    pub fn dram_bytes_per_cycle(&self) -> f64 {
        self.dram
            .as_ref()
            .map_or(0.0, |d| d.bandwidth_gb_s.0 * 1e9 / self.clock_hz())
    }

    /// The DRAM section, for kinds whose validation requires one.
    pub fn dram_or_err(&self) -> Result<&DramSpec, HwError> {
        self.dram.as_ref().ok_or_else(|| HwError::Invalid {
            file: self.name.clone(),
            key: "dram".into(),
            msg: "this kind needs a `dram:` section".into(),
        })
    }

    fn validate_mcu(&self, file: &str) -> Result<(), HwError> {
        let invalid = |key: &str, msg: String| HwError::Invalid {
            file: file.to_string(),
            key: key.to_string(),
            msg,
        };
        let Some(m) = &self.mcu else {
            return Err(invalid(
                "mcu",
                "`kind: mcu` needs an `mcu:` section (core, library, sram, flash, power_mw_per_mhz)"
                    .into(),
            ));
        };
        if m.sram.is_empty() {
            return Err(invalid(
                "mcu.sram",
                "list at least one SRAM region (`- { name: sram1, size_kib: 256 }`)".into(),
            ));
        }
        if !(0.032..=2000.0).contains(&self.clock_mhz.0) {
            return Err(invalid(
                "clock_mhz",
                format!(
                    "{} MHz is not a microcontroller clock (32 kHz to 2 GHz)",
                    self.clock_mhz.0
                ),
            ));
        }
        if let Some(p) = &self.precision {
            if vchip_workloads::DType::parse(p) != Some(vchip_workloads::DType::Int8) {
                return Err(invalid(
                    "precision",
                    format!(
                        "`{p}`: MCU kernel libraries run int8 networks; use int8 or leave it out"
                    ),
                ));
            }
        }
        for (i, r) in m.sram.iter().enumerate() {
            if !(1.0..=1e6).contains(&r.size_kib.0) || r.wait_states.0 > 64.0 {
                return Err(invalid(
                    &format!("mcu.sram[{i}]"),
                    "is out of range: size_kib from 1 to 1e6 (a GiB), wait_states up to 64".into(),
                ));
            }
        }
        if !(1.0..=1e6).contains(&m.flash.size_kib.0)
            || m.flash.wait_states.0 > 64.0
            || m.flash.line_bytes.0 > 1024
            || m.flash.data_cache_kib.0 > 1e4
        {
            return Err(invalid(
                "mcu.flash",
                "is out of range: size_kib from 1 to 1e6, wait_states up to 64, line_bytes up to 1024, data_cache_kib up to 1e4".into(),
            ));
        }
        if m.power_mw_per_mhz.0 * self.clock_mhz.0 > 1e5 {
            return Err(invalid(
                "mcu.power_mw_per_mhz",
                "is out of range: give mW per MHz (100 W at the clock at most)".into(),
            ));
        }
        if let Some(n) = &m.npu {
            let allowed: &[u64] = match n.name.as_str() {
                "ethos-u55" => &[32, 64, 128, 256],
                "ethos-u65" => &[256, 512],
                other => {
                    return Err(invalid(
                        "mcu.npu.name",
                        format!("`{other}`: vchip models ethos-u55 and ethos-u65"),
                    ))
                }
            };
            if !allowed.contains(&n.macs_per_cycle.0) {
                return Err(invalid(
                    "mcu.npu.macs_per_cycle",
                    format!(
                        "{} is not an {} configuration ({allowed:?})",
                        n.macs_per_cycle.0, n.name
                    ),
                ));
            }
            let clock = n.clock_mhz.map_or(self.clock_mhz.0, |c| c.0);
            if !(1.0..=10_000.0).contains(&clock)
                || !(1e-3..=1e4).contains(&n.sram_gb_s.0)
                || !(1e-3..=1e4).contains(&n.flash_gb_s.0)
            {
                return Err(invalid(
                    "mcu.npu",
                    "is out of range: clock_mhz from 1 to 10,000, sram_gb_s and flash_gb_s from 0.001 to 10,000".into(),
                ));
            }
        }
        Ok(())
    }

    pub fn to_yaml(&self) -> String {
        serde_saphyr::to_string(self).unwrap_or_default()
    }
}
