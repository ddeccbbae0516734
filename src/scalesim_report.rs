//! SCALE-Sim's report files (`COMPUTE_REPORT.csv`, `BANDWIDTH_REPORT.csv`,
//! `DETAILED_ACCESS_REPORT.csv`, SCALE-Sim v3 layouts) from a systolic simulation, so scripts
//! written for SCALE-Sim read vchip's results unchanged.
//!
//! One row per layer that runs on the array (what a SCALE-Sim topology lists), `LayerID` from 0;
//! `LAYERS.csv` beside them maps each `LayerID` to vchip's layer name and schedule step, and lists
//! the steps off the array (pooling, element-wise) that the reports leave out. Under
//! `--compat scalesim` the cycle, utilisation and SRAM columns are SCALE-Sim's own figures
//! (`sim/tests/scalesim_parity.rs` holds them equal on every stored report). What vchip does not
//! compute the SCALE-Sim way is written `nan` (Python's `float()` and pandas read it as
//! not-a-number): the prefetch-inclusive cycles, every start and stop cycle, and the DRAM columns,
//! which SCALE-Sim takes from a replayed cycle-level trace (vchip's own off-chip traffic per step is
//! in `simulate --format json`, `steps[].traffic`).

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

/// A CSV field, quoted when it holds a comma or a quote.
fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// The three reports' contents, in SCALE-Sim's order of files, then the layer map.
pub fn render(r: &SimResult) -> Result<[(&'static str, String); 4]> {
    if !r
        .layers
        .iter()
        .any(|l| l.cost.array.is_some_and(|a| a.folds > 0))
    {
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
    let mut layers = String::from("LayerID,step,name,op_type,cycles\n");
    let mut id = 0usize;
    for l in &r.layers {
        let Some(a) = l.cost.array.filter(|a| a.folds > 0) else {
            let _ = writeln!(
                layers,
                ",{},{},{},{}",
                l.step,
                csv_field(&l.name),
                l.op_type,
                l.cost.cycles
            );
            continue;
        };
        let c = &l.cost;
        let cycles = c.cycles.max(1) as f64;
        let _ = writeln!(
            compute,
            "{id}, nan, {}, {}, {}, {}, {},",
            c.cycles,
            c.stall_cycles,
            py(c.utilization * 100.0),
            py(a.mapping_efficiency * 100.0),
            py(a.compute_utilization * 100.0)
        );
        let _ = writeln!(
            bandwidth,
            "{id}, {}, {}, {}, nan, nan, nan,",
            py(a.sram.ifmap_reads as f64 / cycles),
            py(a.sram.filter_reads as f64 / cycles),
            py(a.sram.ofmap_writes as f64 / cycles)
        );
        let _ = writeln!(
            access,
            "{id}, nan, nan, {}, nan, nan, {}, nan, nan, {}, nan, nan, nan, nan, nan, nan, nan, nan, nan,",
            a.sram.ifmap_reads, a.sram.filter_reads, a.sram.ofmap_writes
        );
        let _ = writeln!(
            layers,
            "{id},{},{},{},{}",
            l.step,
            csv_field(&l.name),
            l.op_type,
            c.cycles
        );
        id += 1;
    }
    Ok([
        ("COMPUTE_REPORT.csv", compute),
        ("BANDWIDTH_REPORT.csv", bandwidth),
        ("DETAILED_ACCESS_REPORT.csv", access),
        ("LAYERS.csv", layers),
    ])
}

/// Writes the rendered reports into `dir` (created if absent), each file whole or not at all.
pub fn write(dir: &Path, files: [(&str, String); 4]) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    for (name, text) in files {
        let path = dir.join(name);
        crate::report::write_atomic(&path, text.as_bytes())
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(())
}
