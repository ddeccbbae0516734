//! vchip-hwmodels: hardware descriptions and the cost models behind one trait.
//!
//! For: the YAML schema ([`spec`]), embedded presets, SCALE-Sim `.cfg` import, the
//! [`HardwareModel`] trait and its implementations (systolic arrays today), energy defaults.
//! Not for: reading network files. Models see only the operator trace.

pub mod area;
pub mod cpu;
pub mod dataflow;
pub mod energy;
pub mod error;
pub mod gpu;
pub mod mcu;
pub mod mcu_report;
pub mod model;
pub mod plan;
pub mod presets;
pub mod scalesim_cfg;
pub mod schedule;
pub mod spec;
pub mod systolic;

pub use error::HwError;
pub use model::*;
pub use schedule::{Level, LevelPeak, Schedule, Step, StepKind};
pub use spec::HardwareSpec;

use std::path::Path;

/// Loads hardware by preset name or file path (`.yaml`/`.yml`, or a SCALE-Sim `.cfg`).
pub fn load_hardware(spec: &str) -> Result<HardwareSpec, HwError> {
    if let Some(p) = presets::find(spec) {
        return HardwareSpec::from_yaml(&format!("preset:{}", p.name), p.yaml);
    }
    let path = Path::new(spec);
    if !path.exists() {
        let hint = vchip_workloads::suggest(spec, presets::PRESETS.iter().map(|p| p.name))
            .map_or(String::new(), |s| format!(". Did you mean `{s}`?"));
        return Err(HwError::UnknownHardware(spec.to_string(), hint));
    }
    let text = std::fs::read_to_string(path).map_err(|source| HwError::Io {
        path: spec.to_string(),
        source,
    })?;
    match path.extension().and_then(|e| e.to_str()) {
        Some("cfg") => scalesim_cfg::parse_cfg(spec, &text),
        _ => HardwareSpec::from_yaml(spec, &text),
    }
}

/// Builds the model for a hardware description.
pub fn build_model(spec: HardwareSpec) -> Result<Box<dyn HardwareModel>, HwError> {
    match spec.kind {
        crate::spec::HwKind::Systolic => Ok(Box::new(crate::systolic::SystolicModel::new(spec)?)),
        crate::spec::HwKind::Cpu => Ok(Box::new(crate::cpu::CpuModel::new(spec)?)),
        crate::spec::HwKind::Mcu => Ok(Box::new(crate::mcu::McuModel::new(spec)?)),
        crate::spec::HwKind::Gpu => Ok(Box::new(crate::gpu::GpuModel::new(spec)?)),
        crate::spec::HwKind::Dataflow => Ok(Box::new(crate::dataflow::DataflowModel::new(spec)?)),
    }
}
