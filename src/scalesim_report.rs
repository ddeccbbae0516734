//! SCALE-Sim's report files (`COMPUTE_REPORT.csv`, `BANDWIDTH_REPORT.csv`,
//! `DETAILED_ACCESS_REPORT.csv`, SCALE-Sim v3 layouts) from a systolic simulation, so scripts
//! written for SCALE-Sim read vchip's results unchanged.
//!
//! One row per layer that runs on the array (what a SCALE-Sim topology lists), `LayerID` from 0.
//! Under `--compat scalesim` the cycle, utilisation and SRAM columns are SCALE-Sim's own figures
//! (`sim/tests/scalesim_parity.rs` holds them equal on every stored report). The DRAM columns
//! are vchip's memory model (SCALE-Sim replays a cycle-level trace for them); a DRAM bandwidth
//! is words over the layer's cycles. Columns vchip does not compute, SCALE-Sim's prefetch cycles
//! and its per-buffer start and stop cycles, are left empty rather than filled with a guess.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::{bail, Context, Result};
use vchip_sim::SimResult;

const COMPUTE_HEADER: &str = "LayerID, Total Cycles (incl. prefetch), Total Cycles, Stall Cycles, Overall Util %, Mapping Efficiency %, Compute Util %,";
const BANDWIDTH_HEADER: &str = "LayerID, Avg IFMAP SRAM BW, Avg FILTER SRAM BW, Avg OFMAP SRAM BW, Avg IFMAP DRAM BW, Avg FILTER DRAM BW, Avg OFMAP DRAM BW,";
const ACCESS_HEADER: &str = "LayerID, SRAM IFMAP Start Cycle, SRAM IFMAP Stop Cycle, SRAM IFMAP Reads, SRAM Filter Start Cycle, SRAM Filter Stop Cycle, SRAM Filter Reads, SRAM OFMAP Start Cycle, SRAM OFMAP Stop Cycle, SRAM OFMAP Writes, DRAM IFMAP Start Cycle, DRAM IFMAP Stop Cycle, DRAM IFMAP Reads, DRAM Filter Start Cycle, DRAM Filter Stop Cycle, DRAM Filter Reads, DRAM OFMAP Start Cycle, DRAM OFMAP Stop Cycle, DRAM OFMAP Writes,";

/// A float as Python prints it (SCALE-Sim writes `100.0`, Rust `100`).
fn py(v: f64) -> String {
    if v.is_finite() && v.fract() == 0.0 && v.abs() < 1e16 {
        format!("{v:.1}")
    } else {
        format!("{v}")
    }
}

/// The three reports' contents, in SCALE-Sim's order of files.
pub fn render(r: &SimResult) -> Result<[(&'static str, String); 3]> {
    let array_layers: Vec<_> = r
        .layers
        .iter()
        .filter_map(|l| l.cost.array.filter(|a| a.folds > 0).map(|a| (l, a)))
        .collect();
    if array_layers.is_empty() {
        bail!(
            "--report-dir writes SCALE-Sim's per-layer array reports; no layer of `{}` runs on a systolic array of `{}` (use a `kind: systolic` preset, YAML or .cfg)",
            r.model,
            r.hardware
        );
    }
    let (mut compute, mut bandwidth, mut access) = (
        format!("{COMPUTE_HEADER}\n"),
        format!("{BANDWIDTH_HEADER}\n"),
        format!("{ACCESS_HEADER}\n"),
    );
    for (id, (l, a)) in array_layers.iter().enumerate() {
        let c = &l.cost;
        let cycles = c.cycles.max(1) as f64;
        let _ = writeln!(
            compute,
            "{id}, , {}, {}, {}, {}, {},",
            c.cycles,
            c.stall_cycles,
            py(c.utilization * 100.0),
            py(a.mapping_efficiency * 100.0),
            py(a.compute_utilization * 100.0)
        );
        let _ = writeln!(
            bandwidth,
            "{id}, {}, {}, {}, {}, {}, {},",
            py(a.sram.ifmap_reads as f64 / cycles),
            py(a.sram.filter_reads as f64 / cycles),
            py(a.sram.ofmap_writes as f64 / cycles),
            py(a.dram.ifmap_reads as f64 / cycles),
            py(a.dram.filter_reads as f64 / cycles),
            py(a.dram.ofmap_writes as f64 / cycles)
        );
        let _ = writeln!(
            access,
            "{id}, , , {}, , , {}, , , {}, , , {}, , , {}, , , {},",
            a.sram.ifmap_reads,
            a.sram.filter_reads,
            a.sram.ofmap_writes,
            a.dram.ifmap_reads,
            a.dram.filter_reads,
            a.dram.ofmap_writes
        );
    }
    Ok([
        ("COMPUTE_REPORT.csv", compute),
        ("BANDWIDTH_REPORT.csv", bandwidth),
        ("DETAILED_ACCESS_REPORT.csv", access),
    ])
}

/// Writes the rendered reports into `dir` (created if absent), each file whole or not at all.
pub fn write(dir: &Path, files: [(&str, String); 3]) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    for (name, text) in files {
        let path = dir.join(name);
        crate::report::write_atomic(&path, text.as_bytes())
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(())
}
