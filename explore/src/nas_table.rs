//! Per-op cost tables for NAS search spaces, in the formats NAS tools read:
//! OFA latency-LUT YAML (one file per resolution, `{count, mean, var}` in ms), HW-NAS-Bench-style
//! JSON (`{"<device>_latency": {key: ms}, "<device>_energy": {key: mJ}}`), a DyNAS-T-style CSV of
//! whole subnets, and a rich Parquet table (schema in `docs/nas-tables.md`).

use std::fmt::Write as _;
use std::path::Path;

use polars::prelude::*;
use rayon::prelude::*;
use vchip_hwmodels::{Boundary, CostOptions, HardwareModel};
use vchip_workloads::nas::{OfaOp, OfaSubnet};
use vchip_workloads::precision::PrecisionPolicy;
use vchip_workloads::Trace;

use crate::run_sweep::write_atomic;
use crate::ExploreError;
use vchip_sim::{simulate, SimTotals};

pub const SCHEMA_VERSION: u32 = 1;

#[derive(Clone, Debug)]
pub struct OpRow {
    pub resolution: u64,
    pub op: OfaOp,
    pub totals: SimTotals,
    pub bound: String,
    pub params: u64,
    pub weight_bytes: u64,
    pub act_in_bytes: u64,
    pub act_out_bytes: u64,
    pub w_bits: u64,
    pub a_bits: u64,
    /// Microcontrollers: the op's SRAM (its arena with scratch, plus persistent state) and the
    /// flash of its parameters.
    pub mcu_memory: McuMemory,
}

/// (SRAM, flash) bytes on a microcontroller.
pub type McuMemory = Option<(u64, u64)>;

/// (SRAM, flash) bytes of an MCU run: an op's or network's arena with persistent state, and its
/// parameters' flash (a whole network: `peak_sram_bytes` and `flash_bytes` with runtime and code).
fn mcu_memory(r: &vchip_sim::SimResult, whole_network: bool) -> McuMemory {
    r.mcu.as_ref().map(|m| {
        if whole_network {
            (m.peak_sram_bytes, m.flash_bytes)
        } else {
            (
                m.activation_ram_bytes
                    .saturating_add(m.persistent_ram_bytes),
                m.weights_flash_bytes,
            )
        }
    })
}

/// Applies the hardware's (or the user's) precision and simulates.
fn cost(
    trace: &mut Trace,
    hw: &dyn HardwareModel,
    precision: Option<&PrecisionPolicy>,
    opts: &CostOptions,
    boundary: Boundary,
) -> Result<(SimTotals, String, McuMemory), ExploreError> {
    if let Some(p) = precision {
        p.apply(trace);
    }
    let opts = &CostOptions { boundary, ..*opts };
    let r = simulate(trace, hw, opts)?;
    let memory = mcu_memory(&r, boundary == Boundary::Network);
    // The op's bound is the bound of its longest layer.
    let bound = r
        .layers
        .iter()
        .max_by_key(|l| l.cost.cycles)
        .map_or("-".to_string(), |l| l.cost.bound.label().to_string());
    Ok((r.totals, bound, memory))
}

/// Costs every distinct op of `ofa-mbv3` at each resolution.
pub fn ofa_mbv3(
    hw: &dyn HardwareModel,
    resolutions: &[u64],
    precision: Option<&PrecisionPolicy>,
    opts: &CostOptions,
) -> Result<Vec<OpRow>, ExploreError> {
    let work: Vec<(u64, OfaOp)> = resolutions
        .iter()
        .flat_map(|&r| {
            vchip_workloads::nas::space_ops(r)
                .into_iter()
                .map(move |op| (r, op))
        })
        .collect();
    work.into_par_iter()
        .map(|(r, op)| {
            let mut t = op
                .trace(1)
                .map_err(|e| ExploreError::Sweep(e.to_string()))?;
            // The stem reads the image from off chip and the logits leave it; every other op finds
            // its input and leaves its output on chip, as in the whole network.
            let boundary = Boundary::of_op(op.reads_network_input(), op.writes_network_output());
            let (totals, bound, mcu_memory) = cost(&mut t, hw, precision, opts, boundary)?;
            let tt = t.totals();
            let input = t
                .tensors
                .iter()
                .find(|x| x.role == vchip_workloads::TensorRole::Input)
                .map_or(0, |x| x.bytes());
            let last = t
                .ops
                .last()
                .and_then(|o| o.outputs.first())
                .map_or(0, |&o| t.tensor(o).bytes());
            let first_op = t.ops.iter().find(|o| !o.weights.is_empty());
            let w_bits = first_op
                .and_then(|o| o.weights.first())
                .map_or(0, |&w| t.tensor(w).dtype.bits());
            let a_bits = t.ops.first().map_or(0, |o| o.dtype.bits());
            Ok(OpRow {
                resolution: r,
                op,
                totals,
                bound,
                params: tt.params,
                weight_bytes: tt.weight_bytes,
                act_in_bytes: input,
                act_out_bytes: last,
                w_bits,
                a_bits,
                mcu_memory,
            })
        })
        .collect()
}

/// A subnet simulated as one trace: its totals, its trace, and on microcontrollers its peak SRAM
/// and flash.
pub struct CostedSubnet {
    pub totals: SimTotals,
    pub trace: Trace,
    pub mcu_memory: McuMemory,
}

/// Whole-network cost of a subnet, simulated as one trace.
pub fn subnet_latency_ms(
    net: &OfaSubnet,
    hw: &dyn HardwareModel,
    precision: Option<&PrecisionPolicy>,
    opts: &CostOptions,
) -> Result<CostedSubnet, ExploreError> {
    let mut t = net
        .trace(1)
        .map_err(|e| ExploreError::Sweep(e.to_string()))?;
    let (totals, _, mcu_memory) = cost(&mut t, hw, precision, opts, Boundary::Network)?;
    Ok(CostedSubnet {
        totals,
        trace: t,
        mcu_memory,
    })
}

/// Writes `{r}_lookup_table.yaml` files as OFA's `LatencyTable` reads them, from
/// `(resolution, key, latency in s)` entries.
pub fn write_ofa_yaml(
    space: &str,
    rows: &[(u64, String, f64)],
    dir: &Path,
) -> Result<Vec<std::path::PathBuf>, ExploreError> {
    let mut res: Vec<u64> = rows.iter().map(|r| r.0).collect();
    res.sort();
    res.dedup();
    let mut out = Vec::new();
    for r in res {
        let mut text = format!("# vchip per-op latency table for {space} at {r}x{r}: simulated, ms; count = 1 (deterministic), var = 0\n");
        for (_, key, secs) in rows.iter().filter(|x| x.0 == r) {
            // Plain decimals: YAML 1.1 loaders (PyYAML) read `1e-3` as a string, `0.001` as a float.
            let _ = writeln!(
                text,
                "{key}:\n  count: 1\n  mean: {:.12}\n  var: 0.0",
                secs * 1e3
            );
        }
        let path = dir.join(format!("{r}_lookup_table.yaml"));
        write_atomic(&path, text.as_bytes())?;
        out.push(path);
    }
    Ok(out)
}

/// HW-NAS-Bench-style JSON: `{"<device>_latency": {key: ms}, "<device>_energy": {key: mJ}}` from
/// `(key, totals)` pairs.
pub fn write_hwnasbench_json<'a>(
    rows: impl IntoIterator<Item = (String, &'a SimTotals)>,
    device: &str,
    path: &Path,
) -> Result<(), ExploreError> {
    let mut lat = serde_json::Map::new();
    let mut en = serde_json::Map::new();
    for (key, t) in rows {
        lat.insert(key.clone(), serde_json::json!(t.latency_s * 1e3));
        if let Some(j) = t.energy_j {
            en.insert(key, serde_json::json!(j * 1e3));
        }
    }
    // A kind that does not model energy has no `_energy` table (never one of zeros).
    let mut doc = serde_json::Map::new();
    doc.insert(format!("{device}_latency"), lat.into());
    if !en.is_empty() {
        doc.insert(format!("{device}_energy"), en.into());
    }
    let doc = serde_json::Value::Object(doc);
    write_atomic(
        path,
        serde_json::to_string_pretty(&doc)
            .unwrap_or_default()
            .as_bytes(),
    )
}

fn op_fields(op: &OfaOp) -> (&'static str, u64, u64, u64, bool, bool, bool) {
    // (op_type, kernel, stride, mid_c, se, hs, id_skip)
    match *op {
        OfaOp::FirstConv { .. } => ("Conv", 3, 2, 0, false, true, false),
        OfaOp::Block {
            k,
            stride,
            mid,
            se,
            hs,
            idskip,
            ..
        } => ("expanded_conv", k, stride, mid, se, hs, idskip),
        OfaOp::FinalExpand { .. } => ("Conv_1", 1, 1, 0, false, true, false),
        OfaOp::AvgPool { .. } => ("AvgPool2D", 0, 1, 0, false, false, false),
        OfaOp::FeatureMix => ("Conv_2", 1, 1, 0, false, true, false),
        OfaOp::Logits => ("Logits", 1, 1, 0, false, false, false),
    }
}

/// The rich per-op table (see docs/nas-tables.md for the columns).
pub fn rich_frame(
    rows: &[OpRow],
    device: &str,
    hw: &dyn HardwareModel,
) -> Result<DataFrame, ExploreError> {
    let pl = |e: PolarsError| ExploreError::Io(format!("table: {e}"));
    let n = rows.len();
    let spec = hw.spec();
    let s = |f: &dyn Fn(&OpRow) -> String| rows.iter().map(f).collect::<Vec<String>>();
    let u = |f: &dyn Fn(&OpRow) -> u64| rows.iter().map(f).collect::<Vec<u64>>();
    let fl = |f: &dyn Fn(&OpRow) -> f64| rows.iter().map(f).collect::<Vec<f64>>();
    let b = |f: &dyn Fn(&OpRow) -> bool| rows.iter().map(f).collect::<Vec<bool>>();
    let shape = |r: &OpRow| r.op.shape();
    let cols = vec![
        Column::new("schema_version".into(), vec![SCHEMA_VERSION; n]),
        Column::new("device_id".into(), vec![device.to_string(); n]),
        Column::new(
            "device_class".into(),
            vec![format!("{:?}", spec.kind).to_lowercase(); n],
        ),
        Column::new(
            "runtime".into(),
            vec!["vchip-layer-by-layer".to_string(); n],
        ),
        Column::new("clock_mhz".into(), vec![spec.clock_mhz.0; n]),
        Column::new(
            "mem_config".into(),
            vec![
                match &spec.dram {
                    Some(d) => format!("{} {} GB/s", d.technology, d.bandwidth_gb_s.0),
                    None => "on-chip SRAM and flash".to_string(),
                };
                n
            ],
        ),
        Column::new(
            "op_key_native".into(),
            s(&|r| format!("r{}:{}", r.resolution, r.op.ofa_key())),
        ),
        Column::new("op_key_ofa".into(), s(&|r| r.op.ofa_key())),
        Column::new("resolution".into(), u(&|r| r.resolution)),
        Column::new("op_type".into(), s(&|r| op_fields(&r.op).0.to_string())),
        Column::new("in_h".into(), u(&|r| shape(r).0)),
        Column::new("in_w".into(), u(&|r| shape(r).0)),
        Column::new("in_c".into(), u(&|r| shape(r).1)),
        Column::new("out_h".into(), u(&|r| shape(r).2)),
        Column::new("out_w".into(), u(&|r| shape(r).2)),
        Column::new("out_c".into(), u(&|r| shape(r).3)),
        Column::new("k_h".into(), u(&|r| op_fields(&r.op).1)),
        Column::new("k_w".into(), u(&|r| op_fields(&r.op).1)),
        Column::new("stride".into(), u(&|r| op_fields(&r.op).2)),
        Column::new("mid_c".into(), u(&|r| op_fields(&r.op).3)),
        Column::new("se".into(), b(&|r| op_fields(&r.op).4)),
        Column::new(
            "act".into(),
            s(&|r| {
                if op_fields(&r.op).5 {
                    "h_swish".into()
                } else {
                    "relu".into()
                }
            }),
        ),
        Column::new("id_skip".into(), b(&|r| op_fields(&r.op).6)),
        Column::new("batch".into(), vec![1u64; n]),
        Column::new("w_bits".into(), u(&|r| r.w_bits)),
        Column::new("a_bits".into(), u(&|r| r.a_bits)),
        Column::new("latency_ms_mean".into(), fl(&|r| r.totals.latency_s * 1e3)),
        Column::new("latency_ms_std".into(), vec![0.0f64; n]),
        Column::new("n_samples".into(), vec![1u64; n]),
        Column::new("cycles".into(), u(&|r| r.totals.cycles)),
        Column::new(
            "energy_mj_mean".into(),
            rows.iter()
                .map(|r| r.totals.energy_j.map(|j| j * 1e3))
                .collect::<Vec<Option<f64>>>(),
        ),
        Column::new(
            "energy_mj_std".into(),
            rows.iter()
                .map(|r| r.totals.energy_j.map(|_| 0.0))
                .collect::<Vec<Option<f64>>>(),
        ),
        Column::new("macs".into(), u(&|r| r.totals.macs)),
        Column::new("params".into(), u(&|r| r.params)),
        Column::new("weight_bytes".into(), u(&|r| r.weight_bytes)),
        Column::new("act_in_bytes".into(), u(&|r| r.act_in_bytes)),
        Column::new("act_out_bytes".into(), u(&|r| r.act_out_bytes)),
        Column::new(
            "dram_bytes".into(),
            u(&|r| r.totals.dram_read_bytes + r.totals.dram_write_bytes),
        ),
        Column::new("bound".into(), s(&|r| r.bound.clone())),
        Column::new("utilization".into(), fl(&|r| r.totals.utilization)),
        Column::new("source".into(), vec!["simulated".to_string(); n]),
        Column::new(
            "sim_version".into(),
            vec![env!("CARGO_PKG_VERSION").to_string(); n],
        ),
    ];
    let mut cols = cols;
    if rows.iter().any(|r| r.mcu_memory.is_some()) {
        cols.push(Column::new(
            "peak_sram_bytes".into(),
            rows.iter()
                .map(|r| r.mcu_memory.map(|m| m.0))
                .collect::<Vec<_>>(),
        ));
        cols.push(Column::new(
            "flash_bytes".into(),
            rows.iter()
                .map(|r| r.mcu_memory.map(|m| m.1))
                .collect::<Vec<_>>(),
        ));
    }
    DataFrame::new(n, cols).map_err(pl)
}

/// DyNAS-T-style CSV for whole subnets. Accuracy is not something a simulator knows: the
/// `Top-1 Acc (%)` column is left empty for the user's own measurements or predictor.
/// On microcontrollers two more columns give each subnet's peak SRAM and flash in bytes, for
/// MCUNet-style searches that filter by memory.
pub fn write_dynast_csv(
    nets: &[(OfaSubnet, SimTotals, u64, McuMemory)],
    path: &Path,
) -> Result<(), ExploreError> {
    let mcu = nets.iter().any(|n| n.3.is_some());
    let mut text =
        String::from("Sub-network,Date,Model Parameters,Latency (ms),MACs,Top-1 Acc (%)");
    if mcu {
        text.push_str(",Peak SRAM (B),Flash (B)");
    }
    text.push('\n');
    for (net, t, params, memory) in nets {
        let _ = write!(
            text,
            "\"{}\",simulated,{},{},{},",
            net.arch_dict(),
            params,
            t.latency_s * 1e3,
            t.macs
        );
        if let Some((sram, flash)) = memory {
            let _ = write!(text, ",{sram},{flash}");
        }
        text.push('\n');
    }
    write_atomic(path, text.as_bytes())
}

/// `n` random subnets (uniform per choice), deterministic for a seed.
pub fn random_subnets(n: usize, seed: u64, resolutions: &[u64]) -> Vec<OfaSubnet> {
    use vchip_workloads::nas::{DEPTHS, EXPANDS, KERNELS};
    let mut rng = crate::sweep::SplitMix(seed);
    (0..n)
        .map(|_| {
            let mut net = OfaSubnet::max(resolutions[rng.below(resolutions.len())]);
            for d in net.d.iter_mut() {
                *d = DEPTHS[rng.below(3)];
            }
            for k in net.ks.iter_mut() {
                *k = KERNELS[rng.below(3)];
            }
            for e in net.e.iter_mut() {
                *e = EXPANDS[rng.below(3)];
            }
            net
        })
        .collect()
}

/// A distinct op across several models: its native key, how often it occurs, and its cost.
#[derive(Clone, Debug)]
pub struct DistinctOp {
    pub key: String,
    pub op_type: &'static str,
    pub models: Vec<String>,
    pub count: u64,
    pub layer: vchip_sim::LayerResult,
    /// Bytes the op moves at off-chip levels (as the hardware model declares them).
    pub offchip_bytes: u64,
}

/// The native key of an op: type, detail, input and output shapes, compute dtype.
pub fn native_key(t: &Trace, op: &vchip_workloads::Op) -> String {
    let shape = |ids: &[vchip_workloads::TensorId]| {
        ids.iter()
            .map(|&i| {
                t.tensor(i)
                    .shape
                    .iter()
                    .map(u64::to_string)
                    .collect::<Vec<_>>()
                    .join("x")
            })
            .collect::<Vec<_>>()
            .join("+")
    };
    format!(
        "{}[{}]-in:{}-out:{}-{}",
        op.kind.type_name(),
        op.kind.detail().replace(' ', "_"),
        shape(&op.inputs),
        shape(&op.outputs),
        op.dtype
    )
}

/// Every distinct op of the given traces, costed once each (ops are costed independently, so one
/// instance stands for all), in order of first appearance.
pub fn distinct_ops(
    traces: &[Trace],
    hw: &dyn HardwareModel,
    opts: &CostOptions,
) -> Result<Vec<DistinctOp>, ExploreError> {
    let mut out: Vec<DistinctOp> = Vec::new();
    let mut index = std::collections::HashMap::new();
    let levels = hw.levels();
    for t in traces {
        // Keys and costs of the ops as the engine runs them (after BatchNorm folding etc.).
        let g = vchip_sim::prepare(t, opts)?;
        let r = vchip_sim::simulate_graph(&g, hw, opts)?;
        let t = &g.trace;
        for (op, layer) in t.ops.iter().zip(r.layers) {
            let key = native_key(t, op);
            match index.get(&key) {
                Some(&i) => {
                    let d: &mut DistinctOp = &mut out[i];
                    d.count += 1;
                    if !d.models.contains(&t.name) {
                        d.models.push(t.name.clone());
                    }
                }
                None => {
                    index.insert(key.clone(), out.len());
                    out.push(DistinctOp {
                        key,
                        op_type: op.kind.type_name(),
                        models: vec![t.name.clone()],
                        count: 1,
                        offchip_bytes: vchip_sim::offchip_bytes(&layer.cost, &levels),
                        layer,
                    });
                }
            }
        }
    }
    Ok(out)
}

pub fn distinct_frame(
    ops: &[DistinctOp],
    device: &str,
    clock_hz: f64,
    energy_modelled: bool,
) -> Result<DataFrame, ExploreError> {
    let pl = |e: PolarsError| ExploreError::Io(format!("table: {e}"));
    let n = ops.len();
    let ms = |d: &DistinctOp| d.layer.cost.cycles as f64 / clock_hz * 1e3;
    let cols = vec![
        Column::new("schema_version".into(), vec![SCHEMA_VERSION; n]),
        Column::new("device_id".into(), vec![device.to_string(); n]),
        Column::new(
            "op_key_native".into(),
            ops.iter().map(|d| d.key.clone()).collect::<Vec<_>>(),
        ),
        Column::new(
            "op_type".into(),
            ops.iter()
                .map(|d| d.op_type.to_string())
                .collect::<Vec<_>>(),
        ),
        Column::new(
            "models".into(),
            ops.iter().map(|d| d.models.join(",")).collect::<Vec<_>>(),
        ),
        Column::new(
            "count".into(),
            ops.iter().map(|d| d.count).collect::<Vec<_>>(),
        ),
        Column::new(
            "cycles".into(),
            ops.iter().map(|d| d.layer.cost.cycles).collect::<Vec<_>>(),
        ),
        Column::new(
            "latency_ms_mean".into(),
            ops.iter().map(ms).collect::<Vec<_>>(),
        ),
        Column::new(
            "energy_mj_mean".into(),
            // Null, never 0, for a kind that does not model energy.
            ops.iter()
                .map(|d| energy_modelled.then(|| d.layer.cost.energy.total() * 1e-9))
                .collect::<Vec<Option<f64>>>(),
        ),
        Column::new(
            "macs".into(),
            ops.iter().map(|d| d.layer.macs).collect::<Vec<_>>(),
        ),
        Column::new(
            "dram_bytes".into(),
            ops.iter().map(|d| d.offchip_bytes).collect::<Vec<_>>(),
        ),
        Column::new(
            "bound".into(),
            ops.iter()
                .map(|d| d.layer.cost.bound.label().to_string())
                .collect::<Vec<_>>(),
        ),
        Column::new(
            "utilization".into(),
            ops.iter()
                .map(|d| d.layer.cost.utilization)
                .collect::<Vec<_>>(),
        ),
        Column::new("source".into(), vec!["simulated".to_string(); n]),
        Column::new(
            "sim_version".into(),
            vec![env!("CARGO_PKG_VERSION").to_string(); n],
        ),
    ];
    DataFrame::new(n, cols).map_err(pl)
}

/// Costs each `(key, trace, boundary)` op of a search space (the boundary says where the op sits
/// in the network: `Boundary::of_op`); rows as distinct ops of the space.
pub fn keyed_ops(
    space: &str,
    ops: Vec<(String, Trace, Boundary)>,
    hw: &dyn HardwareModel,
    precision: Option<&PrecisionPolicy>,
    opts: &CostOptions,
) -> Result<Vec<(DistinctOp, SimTotals)>, ExploreError> {
    ops.into_par_iter()
        .map(|(key, mut t, boundary)| {
            if let Some(p) = precision {
                p.apply(&mut t);
            }
            let opts = &CostOptions { boundary, ..*opts };
            let r = simulate(&t, hw, opts)?;
            // The op's row: its heaviest layer's kind and bound, the whole op's totals.
            let heaviest = r
                .layers
                .iter()
                .max_by_key(|l| l.cost.cycles)
                .cloned()
                .ok_or_else(|| ExploreError::Sweep(format!("{key}: empty op")))?;
            let mut layer = heaviest.clone();
            layer.macs = r.totals.macs;
            layer.cost.cycles = r.totals.cycles;
            layer.cost.energy = r.totals.energy_pj.unwrap_or_default();
            layer.cost.traffic = r
                .totals
                .levels
                .iter()
                .map(|l| vchip_hwmodels::LevelTraffic {
                    level: l.level.as_str().into(),
                    read_bytes: l.read_bytes,
                    write_bytes: l.write_bytes,
                })
                .collect();
            layer.cost.utilization = r.totals.utilization;
            Ok((
                DistinctOp {
                    key,
                    op_type: heaviest.op_type,
                    models: vec![space.to_string()],
                    count: 1,
                    offchip_bytes: r
                        .totals
                        .dram_read_bytes
                        .saturating_add(r.totals.dram_write_bytes),
                    layer,
                },
                r.totals,
            ))
        })
        .collect()
}
