//! Results as tables (polars DataFrames): a trace's ops, a simulation's steps and layers, and a
//! batch of networks. The Python package hands them to Python through Arrow.

use polars::prelude::{Column, DataFrame, PolarsResult};
use vchip_sim::SimResult;
use vchip_workloads::Trace;

fn phase_name(p: vchip_workloads::Phase) -> String {
    format!("{p:?}").to_lowercase()
}

fn shape_text(s: &[u64]) -> String {
    s.iter().map(u64::to_string).collect::<Vec<_>>().join("x")
}

/// One row per op of the trace as imported: name, type, detail, phase, dtype, output shape,
/// MACs, parameters and bytes (the columns of `vchip trace --format csv`).
pub fn trace_frame(t: &Trace) -> PolarsResult<DataFrame> {
    let ops = &t.ops;
    let text = |f: &dyn Fn(&vchip_workloads::Op) -> String| ops.iter().map(f).collect::<Vec<_>>();
    let num = |f: &dyn Fn(&vchip_workloads::Op) -> u64| ops.iter().map(f).collect::<Vec<u64>>();
    DataFrame::new(
        ops.len(),
        vec![
            Column::new("name".into(), text(&|o| o.name.clone())),
            Column::new("type".into(), text(&|o| o.kind.type_name().to_string())),
            Column::new("detail".into(), text(&|o| o.kind.detail())),
            Column::new("phase".into(), text(&|o| phase_name(o.phase))),
            Column::new("dtype".into(), text(&|o| o.dtype.to_string())),
            Column::new(
                "output".into(),
                text(&|o| {
                    o.outputs
                        .first()
                        .map_or(String::new(), |&i| shape_text(&t.tensor(i).shape))
                }),
            ),
            Column::new("macs".into(), num(&|o| o.macs)),
            Column::new("flops".into(), num(&|o| o.flops)),
            Column::new("params".into(), num(&|o| t.op_params(o))),
            Column::new("bytes_read".into(), num(&|o| t.op_bytes_read(o))),
            Column::new("bytes_written".into(), num(&|o| t.op_bytes_written(o))),
        ],
    )
}

/// One row per step of the schedule (a fused group of ops), as `vchip simulate --format csv`
/// lists them: cycles, stalls, utilisation, off-chip traffic, energy (null for kinds without an
/// energy model) and the memory level or compute roof that bounds it.
pub fn steps_frame(r: &SimResult) -> PolarsResult<DataFrame> {
    let s = &r.steps;
    let text = |f: &dyn Fn(&vchip_sim::StepResult) -> String| s.iter().map(f).collect::<Vec<_>>();
    let num = |f: &dyn Fn(&vchip_sim::StepResult) -> u64| s.iter().map(f).collect::<Vec<u64>>();
    let traffic: Vec<(u64, u64)> = s
        .iter()
        .map(|x| vchip_sim::offchip_traffic(&x.cost, &r.levels))
        .collect();
    let energy = r.totals.energy_pj.is_some();
    DataFrame::new(
        s.len(),
        vec![
            Column::new("step".into(), num(&|x| x.index as u64)),
            Column::new("name".into(), text(&|x| x.ops[0].clone())),
            Column::new("ops".into(), text(&|x| x.ops.join(","))),
            Column::new("type".into(), text(&|x| x.op_type.to_string())),
            Column::new("detail".into(), text(&|x| x.detail.clone())),
            Column::new("phase".into(), text(&|x| phase_name(x.phase))),
            Column::new("cycles".into(), num(&|x| x.cost.cycles)),
            Column::new("compute_cycles".into(), num(&|x| x.cost.compute_cycles)),
            Column::new("stall_cycles".into(), num(&|x| x.cost.stall_cycles)),
            Column::new(
                "latency_s".into(),
                s.iter()
                    .map(|x| x.cost.cycles as f64 / r.clock_hz)
                    .collect::<Vec<f64>>(),
            ),
            Column::new(
                "utilization".into(),
                s.iter().map(|x| x.cost.utilization).collect::<Vec<f64>>(),
            ),
            Column::new("macs".into(), num(&|x| x.macs)),
            Column::new(
                "offchip_read_bytes".into(),
                traffic.iter().map(|t| t.0).collect::<Vec<u64>>(),
            ),
            Column::new(
                "offchip_write_bytes".into(),
                traffic.iter().map(|t| t.1).collect::<Vec<u64>>(),
            ),
            Column::new(
                "energy_pj".into(),
                s.iter()
                    .map(|x| energy.then(|| x.cost.energy.total()))
                    .collect::<Vec<Option<f64>>>(),
            ),
            Column::new("bound".into(), text(&|x| x.cost.bound.label().to_string())),
        ],
    )
}

/// One row per op of the trace as scheduled, with the step that runs it.
pub fn layers_frame(r: &SimResult) -> PolarsResult<DataFrame> {
    let l = &r.layers;
    let text = |f: &dyn Fn(&vchip_sim::LayerResult) -> String| l.iter().map(f).collect::<Vec<_>>();
    let num = |f: &dyn Fn(&vchip_sim::LayerResult) -> u64| l.iter().map(f).collect::<Vec<u64>>();
    let energy = r.totals.energy_pj.is_some();
    DataFrame::new(
        l.len(),
        vec![
            Column::new("name".into(), text(&|x| x.name.clone())),
            Column::new("type".into(), text(&|x| x.op_type.to_string())),
            Column::new("detail".into(), text(&|x| x.detail.clone())),
            Column::new("phase".into(), text(&|x| phase_name(x.phase))),
            Column::new("step".into(), num(&|x| x.step as u64)),
            Column::new("cycles".into(), num(&|x| x.cost.cycles)),
            Column::new("macs".into(), num(&|x| x.macs)),
            Column::new(
                "utilization".into(),
                l.iter().map(|x| x.cost.utilization).collect::<Vec<f64>>(),
            ),
            Column::new(
                "energy_pj".into(),
                l.iter()
                    .map(|x| energy.then(|| x.cost.energy.total()))
                    .collect::<Vec<Option<f64>>>(),
            ),
            Column::new("bound".into(), text(&|x| x.cost.bound.label().to_string())),
        ],
    )
}
