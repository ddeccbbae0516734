//! Many networks on one chip, in parallel, one row per network in the order given: NAS searches
//! cost thousands of subnets at a time and must map every row back to its subnet. A row carries
//! the position and the spec string as the caller gave them, never a name derived from the
//! trace (every OFA subnet traces to `ofa-mbv3-r224`).

use anyhow::{Context, Result};
use polars::prelude::{Column, DataFrame, PolarsResult};
use rayon::prelude::*;
use vchip_hwmodels::{HardwareModel, HardwareSpec};

use crate::session::{self, SimRequest, TraceRequest};

/// One network's result in a batch.
#[derive(Clone, Debug, PartialEq)]
pub struct BatchRow {
    /// Position in the list given.
    pub index: u64,
    /// The model as given: zoo name, file, or subnet spec.
    pub model: String,
    /// The traced network's own name.
    pub network: String,
    pub latency_s: f64,
    pub cycles: u64,
    pub energy_j: Option<f64>,
    pub power_w: Option<f64>,
    pub utilization: f64,
    pub dram_bytes: u64,
    pub macs: u64,
    pub params: u64,
    /// The largest peak of any level that declares a capacity, and whether every level fits.
    pub peak_memory_bytes: u64,
    pub fits: bool,
}

/// Traces and simulates each model on the one loaded chip in parallel (rayon); rows come back in
/// the order of `models`, whatever the thread count. The error of the first failing model in the
/// list names its position and spec.
pub fn run(
    spec: &HardwareSpec,
    hwm: &dyn HardwareModel,
    models: &[String],
    req: &TraceRequest,
    sim: &SimRequest,
) -> Result<Vec<BatchRow>> {
    session::check_tp(spec, req)?;
    // A row needs the totals, peaks and fit, not per-step rows.
    let totals_only = SimRequest {
        detail: vchip_sim::Detail::Totals,
        ..sim.clone()
    };
    models
        .par_iter()
        .enumerate()
        .map(|(i, m)| {
            let one = || -> Result<BatchRow> {
                let trace = req.load(m, spec.precision.as_deref())?;
                let params = trace.totals().params;
                let r = session::simulate(m, trace, spec, hwm, req, &totals_only)?;
                let t = &r.totals;
                Ok(BatchRow {
                    index: i as u64,
                    model: m.clone(),
                    network: r.model.clone(),
                    latency_s: t.latency_s,
                    cycles: t.cycles,
                    energy_j: t.energy_j,
                    power_w: t.average_power_w,
                    utilization: t.utilization,
                    dram_bytes: t.dram_read_bytes.saturating_add(t.dram_write_bytes),
                    macs: t.macs,
                    params,
                    peak_memory_bytes: r
                        .memory
                        .iter()
                        .filter(|m| m.capacity_bytes.is_some())
                        .map(|m| m.peak_bytes)
                        .max()
                        .unwrap_or(0),
                    fits: r.memory.iter().all(|m| m.fits) && r.mcu.as_ref().is_none_or(|m| m.fits),
                })
            };
            one().with_context(|| format!("model {i} (`{m}`)"))
        })
        .collect::<Vec<_>>()
        // Every model runs; the error reported is the first one in the list, whatever thread
        // finished first.
        .into_iter()
        .collect()
}

/// The rows as a table: `index`, `model`, `network`, then the figures.
pub fn frame(rows: &[BatchRow]) -> PolarsResult<DataFrame> {
    let num = |f: &dyn Fn(&BatchRow) -> u64| rows.iter().map(f).collect::<Vec<u64>>();
    let float = |f: &dyn Fn(&BatchRow) -> f64| rows.iter().map(f).collect::<Vec<f64>>();
    let opt = |f: &dyn Fn(&BatchRow) -> Option<f64>| rows.iter().map(f).collect::<Vec<_>>();
    let text = |f: &dyn Fn(&BatchRow) -> &str| rows.iter().map(f).collect::<Vec<&str>>();
    DataFrame::new(
        rows.len(),
        vec![
            Column::new("index".into(), num(&|r| r.index)),
            Column::new("model".into(), text(&|r| &r.model)),
            Column::new("network".into(), text(&|r| &r.network)),
            Column::new("latency_s".into(), float(&|r| r.latency_s)),
            Column::new("cycles".into(), num(&|r| r.cycles)),
            Column::new("energy_j".into(), opt(&|r| r.energy_j)),
            Column::new("power_w".into(), opt(&|r| r.power_w)),
            Column::new("utilization".into(), float(&|r| r.utilization)),
            Column::new("dram_bytes".into(), num(&|r| r.dram_bytes)),
            Column::new("macs".into(), num(&|r| r.macs)),
            Column::new("params".into(), num(&|r| r.params)),
            Column::new("peak_memory_bytes".into(), num(&|r| r.peak_memory_bytes)),
            Column::new(
                "fits".into(),
                rows.iter().map(|r| r.fits).collect::<Vec<bool>>(),
            ),
        ],
    )
}
